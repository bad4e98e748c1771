import all from 'it-all'
import { Key } from 'interface-datastore'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { keySlot } from '../../src/index.js'
import { createCluster, localKeys } from '../utils/cluster.js'
import type { TestCluster } from '../utils/cluster.js'

const enc = new TextEncoder()

describe('routing over a 3-node TCP cluster with a client', () => {
  let cluster: TestCluster

  beforeAll(async () => {
    cluster = await createCluster({ nodes: 3, clients: 1 })
  })

  afterAll(async () => {
    await cluster?.stop()
  })

  /** Which data node's local store should hold `key` */
  function ownerIndex (key: string): number {
    const owner = cluster.table.primary(keySlot(key))
    return cluster.nodes.findIndex(n => n.libp2p.peerId.equals(owner))
  }

  /** Each written key is in exactly its owner's local store, and nowhere else */
  async function expectPlacement (keys: string[]): Promise<void> {
    const stores = await Promise.all(cluster.nodes.map(async n => new Set(await localKeys(n.local))))

    for (const key of keys) {
      const owner = ownerIndex(key)
      stores.forEach((held, i) => {
        expect(held.has(key), `${key} on node ${i} (owner ${owner})`).toBe(i === owner)
      })
    }
  }

  it('single puts through every node land on the slot owner', async () => {
    const writers = [...cluster.nodes, ...cluster.clients]
    const keys = Array.from({ length: 300 }, (_, i) => `/single/${i}`)

    await Promise.all(keys.map(async (key, i) => writers[i % writers.length].store.put(new Key(key), enc.encode(key))))

    // every node owns some of them: the test means something
    expect(new Set(keys.map(ownerIndex)).size).toBe(3)
    await expectPlacement(keys)

    for (const [i, key] of keys.entries()) {
      const reader = writers[(i + 1) % writers.length].store
      expect(new TextDecoder().decode(await reader.get(new Key(key)))).toBe(key)
      expect(await reader.has(new Key(key))).toBe(true)
    }
  })

  it('putMany, getMany and deleteMany group by owner and keep input order', async () => {
    const keys = Array.from({ length: 5000 }, (_, i) => new Key(`/many/${i}`))
    const store = cluster.clients[0].store

    const stored = await all(store.putMany(keys.map(key => ({ key, value: enc.encode(key.toString()) }))))
    expect(stored.map(k => k.toString())).toEqual(keys.map(k => k.toString()))
    await expectPlacement(keys.map(k => k.toString()))

    const got = await all(cluster.nodes[2].store.getMany(keys))
    expect(got.map(p => p.key.toString())).toEqual(keys.map(k => k.toString()))
    expect(got.map(p => new TextDecoder().decode(p.value))).toEqual(keys.map(k => k.toString()))

    const deleted = await all(cluster.nodes[0].store.deleteMany(keys.slice(0, 2500)))
    expect(deleted).toHaveLength(2500)

    for (const node of cluster.nodes) {
      const held = await localKeys(node.local)
      expect(held.filter(k => k.startsWith('/many/')).every(k => Number(k.slice(6)) >= 2500)).toBe(true)
    }
  })

  it('getMany fails at the first missing key after yielding the ones before it', async () => {
    const store = cluster.nodes[0].store
    await store.put(new Key('/gm/a'), enc.encode('a'))
    await store.put(new Key('/gm/c'), enc.encode('c'))
    const seen: string[] = []

    await expect((async () => {
      for await (const pair of store.getMany([new Key('/gm/a'), new Key('/gm/missing'), new Key('/gm/c')])) {
        seen.push(pair.key.toString())
      }
    })()).rejects.toHaveProperty('name', 'NotFoundError')
    expect(seen).toEqual(['/gm/a'])
  })

  it('a batch is applied per owner and lands on the owners', async () => {
    await cluster.nodes[1].store.put(new Key('/batch/doomed'), enc.encode('x'))
    const batch = cluster.clients[0].store.batch()
    const keys = Array.from({ length: 200 }, (_, i) => `/batch/${i}`)

    for (const key of keys) {
      batch.put(new Key(key), enc.encode(key))
    }

    batch.delete(new Key('/batch/doomed'))
    await batch.commit()

    await expectPlacement(keys)
    expect(await cluster.nodes[0].store.has(new Key('/batch/doomed'))).toBe(false)
  })

  it('a client-only node stores nothing itself', async () => {
    expect(await localKeys(cluster.clients[0].local)).toEqual([])
  })

  it('a node owning no slots forwards everything', async () => {
    expect(cluster.clients[0].store.slots.isOwner(cluster.clients[0].libp2p.peerId)).toBe(false)
    expect(await cluster.clients[0].store.has(new Key('/single/1'))).toBe(true)
  })
})
