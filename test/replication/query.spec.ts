/**
 * Queries of replicated slots (N=3, quorum) over real libp2p on TCP
 * 127.0.0.1, where the owner asked for a range's values is not the one to
 * trust: it lacks records or holds older ones, or it stops in the middle of
 * sending them. The query reads keys and versions from every owner first,
 * takes the values from one owner per range, and reads the rest by key.
 */
import { MemoryDatastore } from 'datastore-core'
import { Key } from 'interface-datastore'
import all from 'it-all'
import { afterEach, describe, expect, it } from 'vitest'
import { keySlot } from '../../src/index.js'
import { createCluster } from '../utils/cluster.js'
import type { TestCluster } from '../utils/cluster.js'
import type { AbortOptions } from '@libp2p/interface'
import type { Pair, Query } from 'interface-datastore'

const enc = new TextEncoder()
const dec = new TextDecoder()
const OPTIONS = { consistency: 'quorum' as const, heartbeatInterval: 200, suspectAfter: 5, antiEntropyInterval: 3_600_000, requestTimeout: 5000 }

/**
 * A child store whose `query`, once armed, stalls on its second call (a
 * query's values, after its keys and versions) before the pair after the
 * `after`th of slots `start`..`end`, until released
 */
class StallingDatastore extends MemoryDatastore {
  private armed?: { start: number, end: number, after: number, calls: number }
  private readonly waiting: Array<() => void> = []

  arm (start: number, end: number, after: number): void {
    this.armed = { start, end, after, calls: 0 }
  }

  override async * query (q: Query, options?: AbortOptions): AsyncGenerator<Pair> {
    const armed = this.armed
    const stalls = armed != null && ++armed.calls === 2
    let inRange = 0

    for await (const pair of super.query(q, options)) {
      const slot = keySlot(pair.key)

      if (stalls && slot >= armed.start && slot <= armed.end && inRange++ === armed.after) {
        await new Promise<void>(resolve => { this.waiting.push(resolve) })
      }

      yield pair
    }
  }

  release (): void {
    this.armed = undefined
    this.waiting.splice(0).forEach(resolve => { resolve() })
  }
}

describe('replicated query: values from one owner per range, the rest read by key', () => {
  let cluster: TestCluster | undefined
  const stalling: StallingDatastore[] = []

  afterEach(async () => {
    stalling.splice(0).forEach(store => { store.release() })
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

  it('leaving early (a limit) while the owner sending the values has stalled returns at once, and the store goes on serving', async () => {
    const requestTimeout = 30_000
    cluster = await createCluster({
      nodes: 3,
      replicas: 3,
      clients: 1,
      options: { ...OPTIONS, requestTimeout },
      local: () => {
        const store = new StallingDatastore()
        stalling.push(store)
        return store
      }
    })
    const client = cluster.clients[0]
    // 40 KiB values: an answer's frame holds one or two, so what the owner read before it stalled arrives but
    // for the last one, which waits in its batch for the next
    const value = new Uint8Array(40 * 1024).fill(3)
    const keys = Array.from({ length: 300 }, (_, i) => new Key(`/q/stall${i}`))
    await all(client.store.putMany(keys.map(key => ({ key, value })), { consistency: 'all' }))

    // the owner the client asks first for the first range's values: 10 of them, then it stalls (9 arrive)
    const range = cluster.table.ranges[0]
    const source = cluster.nodes.findIndex(n => n.libp2p.peerId.equals(range.owners[0]))
    expect(keys.filter(key => keySlot(key) <= range.end).length).toBeGreaterThan(10)
    stalling[source].arm(range.start, range.end, 10)

    let timer: ReturnType<typeof setTimeout> | undefined
    const late = new Promise<'late'>(resolve => { timer = setTimeout(() => { resolve('late') }, requestTimeout / 2) })
    const result = await Promise.race([all(client.store.query({ prefix: '/q', limit: 9 })), late])
    clearTimeout(timer)

    expect(result).not.toBe('late')
    expect(result).toHaveLength(9)
    // the streams to the owners go on serving
    expect(await client.store.get(keys[0])).toEqual(value)
  }, 120_000)
})
