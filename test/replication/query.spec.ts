/**
 * Queries of replicated slots (N=3, quorum) over real libp2p on TCP
 * 127.0.0.1, where the owner asked for a range's values is not the one to
 * trust: it lacks records or holds older ones, or it stops in the middle of
 * sending them. The query reads keys and versions from every owner first,
 * takes the values from one owner per range, and reads the rest by key.
 */
import all from 'it-all'
import { Key } from 'interface-datastore'
import { afterEach, describe, expect, it } from 'vitest'
import { keySlot } from '../../src/index.js'
import { createCluster } from '../utils/cluster.js'
import type { TestCluster } from '../utils/cluster.js'

const enc = new TextEncoder()
const dec = new TextDecoder()
const OPTIONS = { consistency: 'quorum' as const, heartbeatInterval: 200, suspectAfter: 5, antiEntropyInterval: 3_600_000, requestTimeout: 5000 }

describe('replicated query: values from one owner per range, the rest read by key', () => {
  let cluster: TestCluster | undefined

  afterEach(async () => {
    await cluster?.stop()
    cluster = undefined
  })

  it('queried on the owner behind: keys it lost and values it holds older come back at their newest, and it is repaired', async () => {
    cluster = await createCluster({ nodes: 3, replicas: 3, options: OPTIONS })
    const [a, , behind] = cluster.nodes
    const keys = Array.from({ length: 300 }, (_, i) => new Key(`/q/k${i}`))
    await Promise.all(keys.map(async (key, i) => { await a.store.put(key, enc.encode(`v1-${i}`), { consistency: 'all' }) }))
    // the first version as `behind` stores it, for the keys it will hold older
    const older = new Map<string, Uint8Array>()

    for (const key of keys.filter((_, i) => i % 3 === 1)) {
      older.set(key.toString(), await behind.local.get(key))
    }

    await Promise.all(keys.map(async (key, i) => { await a.store.put(key, enc.encode(`v2-${i}`), { consistency: 'all' }) }))

    // as if its disk lost some and rolled others back: straight into its child store, no owner involved
    for (const [i, key] of keys.entries()) {
      if (i % 3 === 0) {
        await behind.local.delete(key)
      } else if (i % 3 === 1) {
        await behind.local.put(key, older.get(key.toString()) as Uint8Array)
      }
    }

    // the query's coordinator is the owner behind: it asks itself for every range's values
    const got = await all(behind.store.query({ prefix: '/q' }))
    expect(got.map(p => p.key.toString()).sort()).toEqual(keys.map(k => k.toString()).sort())
    const values = new Map(got.map(p => [p.key.toString(), dec.decode(p.value)]))
    expect(keys.map((key, i) => values.get(key.toString()) === `v2-${i}`).every(Boolean)).toBe(true)

    // the keys read by key were repaired on the way (read repair): its child store holds the newest again
    for (const [i, key] of keys.entries()) {
      if (i % 3 !== 2) {
        expect(await behind.local.get(key)).toEqual(await a.local.get(key))
      }
    }

    // keys only: every key once
    expect((await all(behind.store.queryKeys({ prefix: '/q' }))).length).toBe(keys.length)
  }, 60_000)

  it('an owner that stops while sending a range\'s values: the keys it did not send are read from the others, each key once', async () => {
    cluster = await createCluster({ nodes: 3, replicas: 3, clients: 1, options: OPTIONS })
    const client = cluster.clients[0]
    // 4 KiB values, 4,000 keys: far more than a stream's window, so the first owner is still sending when it stops
    const keys = Array.from({ length: 4000 }, (_, i) => new Key(`/q/big${i}`))
    const value = (i: number): Buffer => Buffer.alloc(4096, i & 0xff)

    for (let i = 0; i < keys.length; i += 500) {
      await Promise.all(keys.slice(i, i + 500).map(async (key, j) => { await client.store.put(key, value(i + j), { consistency: 'all' }) }))
    }

    // the client asks the first owner of the first range first (owners up, in table order)
    const first = cluster.table.ranges[0].owners[0]
    const source = cluster.nodes.find(n => n.libp2p.peerId.equals(first))
    expect(source).toBeDefined()
    const inFirstRange = keys.filter(key => keySlot(key) <= cluster!.table.ranges[0].end).length
    expect(inFirstRange).toBeGreaterThan(1000)

    const seen = new Map<string, number>()
    let stopped = false

    for await (const { key, value: got } of client.store.query({ prefix: '/q' })) {
      const i = Number(key.toString().slice('/q/big'.length))
      // (Buffer.equals: the matcher's element-wise equality costs milliseconds per 4 KiB value)
      expect(Buffer.from(got).equals(value(i)), key.toString()).toBe(true)
      seen.set(key.toString(), (seen.get(key.toString()) ?? 0) + 1)

      if (!stopped) {
        stopped = true
        await source!.store.stop()
        await source!.libp2p.stop()
      }
    }

    expect(seen.size).toBe(keys.length)
    expect([...seen.values()].every(n => n === 1)).toBe(true)
  }, 120_000)
})
