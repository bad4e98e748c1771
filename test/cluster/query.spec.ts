import all from 'it-all'
import { Key } from 'interface-datastore'
import { MemoryDatastore } from 'datastore-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { keySlot } from '../../src/index.js'
import { createCluster } from '../utils/cluster.js'
import type { TestCluster } from '../utils/cluster.js'
import type { AbortOptions } from '@libp2p/interface'
import type { Pair, Query } from 'interface-datastore'

/** A MemoryDatastore that counts the pairs its queries have produced */
class CountingDatastore extends MemoryDatastore {
  produced = 0

  override async * query (q: Query, options?: AbortOptions): AsyncGenerator<Pair> {
    for await (const pair of super.query(q, options)) {
      this.produced++
      yield pair
    }
  }
}

const enc = new TextEncoder()
const dec = new TextDecoder()

describe('query across the cluster', () => {
  let cluster: TestCluster
  const keys = Array.from({ length: 600 }, (_, i) => `/q/${String(i).padStart(4, '0')}`)

  beforeAll(async () => {
    cluster = await createCluster({ nodes: 3, clients: 1, options: { streamWindow: 16 * 1024 } })
    for await (const _ of cluster.clients[0].store.putMany(keys.map(k => ({ key: new Key(k), value: enc.encode(k) })))) {} // eslint-disable-line no-empty
    await cluster.nodes[0].store.put(new Key('/other/x'), enc.encode('x'))
  })

  afterAll(async () => {
    await cluster?.stop()
  })

  it('pushes the prefix down and returns every matching pair exactly once', async () => {
    const got = await all(cluster.nodes[1].store.query({ prefix: '/q' }))
    expect(got.map(p => p.key.toString()).sort()).toEqual(keys)
    expect(got.every(p => dec.decode(p.value) === p.key.toString())).toBe(true)
  })

  it('applies filters, orders, offset and limit like a single store', async () => {
    const got = await all(cluster.clients[0].store.query({
      prefix: '/q',
      filters: [p => Number(p.key.toString().slice(3)) % 2 === 0],
      orders: [(a, b) => a.key.toString() < b.key.toString() ? 1 : -1],
      offset: 10,
      limit: 25
    }))
    const expected = keys.filter(k => Number(k.slice(3)) % 2 === 0).sort().reverse().slice(10, 35)
    expect(got.map(p => p.key.toString())).toEqual(expected)

    const keysOnly = await all(cluster.nodes[2].store.queryKeys({ prefix: '/q/00', orders: [(a, b) => a.toString() < b.toString() ? -1 : 1] }))
    expect(keysOnly.map(k => k.toString())).toEqual(keys.filter(k => k.startsWith('/q/00')))
  })

  it('never leaks keys of foreign slots that a child store also holds, nor duplicates them', async () => {
    // plant, in node 0's child store, copies of keys that other nodes own
    const foreign = keys.filter(k => !cluster.table.primary(keySlot(k)).equals(cluster.nodes[0].libp2p.peerId)).slice(0, 50)
    for (const k of foreign) {
      await cluster.nodes[0].local.put(new Key(k), enc.encode('stale copy'))
    }
    // and a key no owner holds, in a slot node 0 does not own
    let planted = ''
    for (let i = 0; planted === ''; i++) {
      const name = `/q/zzzz-foreign-only-${i}`
      if (!cluster.table.primary(keySlot(name)).equals(cluster.nodes[0].libp2p.peerId)) planted = name
    }
    await cluster.nodes[0].local.put(new Key(planted), enc.encode('leak'))

    const got = await all(cluster.clients[0].store.query({ prefix: '/q' }))
    const names = got.map(p => p.key.toString())
    expect(new Set(names).size).toBe(names.length)
    expect(got.filter(p => dec.decode(p.value) === 'stale copy')).toEqual([])

    expect(names).not.toContain(planted)
    expect(names.sort()).toEqual(keys)

    for (const k of foreign) {
      await cluster.nodes[0].local.delete(new Key(k))
    }
    await cluster.nodes[0].local.delete(new Key(planted))
  })

  it('streams large results to a slow reader under flow control', async () => {
    const big = Array.from({ length: 24 }, (_, i) => new Key(`/big/${i}`))
    const value = new Uint8Array(1024 * 1024).fill(7)
    for await (const _ of cluster.nodes[0].store.putMany(big.map(key => ({ key, value })))) {} // eslint-disable-line no-empty

    let count = 0
    for await (const pair of cluster.clients[0].store.query({ prefix: '/big' })) {
      expect(pair.value.byteLength).toBe(value.byteLength)
      count++
      await new Promise(resolve => setTimeout(resolve, 20))
    }
    expect(count).toBe(big.length)

    let got = 0
    for await (const pair of cluster.clients[0].store.getMany(big)) {
      expect(pair.value.byteLength).toBe(value.byteLength)
      got++
      await new Promise(resolve => setTimeout(resolve, 10))
    }
    expect(got).toBe(big.length)
    for await (const _ of cluster.nodes[0].store.deleteMany(big)) {} // eslint-disable-line no-empty
  })

  it('single answers and streamed answers share one stream without mixing', async () => {
    const store = cluster.clients[0].store
    const it = (store.query({ prefix: '/q' }) as AsyncGenerator<Pair>)[Symbol.asyncIterator]()
    let streamed = 0

    // a query in progress on every owner's stream while single gets go over the same streams
    expect((await it.next()).done).toBe(false)
    streamed++
    const gets = await Promise.all(keys.slice(0, 200).map(async k => dec.decode(await store.get(new Key(k)))))
    expect(gets).toEqual(keys.slice(0, 200))

    for (let r = await it.next(); r.done !== true; r = await it.next()) streamed++
    expect(streamed).toBe(keys.length)
  })

  it('stops owners when the reader stops early, and the streams stay usable', async () => {
    const first = await all(cluster.clients[0].store.query({ prefix: '/q', limit: 3 }))
    expect(first).toHaveLength(3)

    for (let i = 0; i < 5; i++) {
      for await (const _ of cluster.clients[0].store.queryKeys({ prefix: '/q' })) {
        break
      }
    }

    expect(await all(cluster.clients[0].store.queryKeys({ prefix: '/q' }))).toHaveLength(keys.length)
  })

  it('an owner reads ahead of a stalled reader only as far as the window allows', async () => {
    const counting = new CountingDatastore()
    const paced = await createCluster({ nodes: 2, local: i => i === 1 ? counting : new MemoryDatastore(), options: { streamWindow: 64 * 1024 } })

    try {
      const value = new Uint8Array(256 * 1024).fill(1)
      const owned: Key[] = []
      for (let i = 0; owned.length < 40; i++) {
        const key = new Key(`/paced/${i}`)
        if (paced.table.primary(keySlot(key)).equals(paced.nodes[1].libp2p.peerId)) owned.push(key)
      }
      for (const key of owned) await counting.put(key, value)

      const it = (paced.nodes[0].store.query({ prefix: '/paced' }) as AsyncGenerator<Pair>)[Symbol.asyncIterator]()
      expect((await it.next()).done).toBe(false)
      // the reader stalls; the owner may only fill the window (64 KiB: a frame or two of 256 KiB values)
      await new Promise(resolve => setTimeout(resolve, 500))
      expect(counting.produced).toBeLessThanOrEqual(4)
      expect(counting.produced).toBeGreaterThanOrEqual(1)

      let rest = 0
      for (let r = await it.next(); r.done !== true; r = await it.next()) rest++
      expect(rest + 1).toBe(owned.length)
      expect(counting.produced).toBe(owned.length)
    } finally {
      await paced.stop()
    }
  })

  it('keeps streaming when entries are smaller than their framing (credit is debited exactly)', async () => {
    // many tiny entries: an owner that estimated frame sizes instead of
    // counting them leaked credit on every frame and stalled mid-answer
    const tiny = await createCluster({ nodes: 3, options: { streamWindow: 1024, requestTimeout: 2000 } })

    try {
      const keys = Array.from({ length: 150_000 }, (_, i) => new Key(`/k/${i}`))
      for await (const _ of tiny.nodes[0].store.putMany(keys.map(key => ({ key, value: new Uint8Array(0) })))) {} // eslint-disable-line no-empty
      expect(await all(tiny.nodes[1].store.queryKeys({}))).toHaveLength(keys.length)
      expect(await all(tiny.nodes[2].store.query({ prefix: '/k' }))).toHaveLength(keys.length)
    } finally {
      await tiny.stop()
    }
  })
})
