/**
 * The coordinator's many-key operations and its failures over real libp2p
 * (TCP on 127.0.0.1), N=3: batches, putMany, getMany, deleteMany and queries
 * at each consistency; what a caller is told when too few owners are up;
 * hints that outlive a restart of the coordinator.
 */
import { expect } from 'chai'
import { Key } from 'interface-datastore'
import { afterEach, beforeEach, describe, it } from 'vitest'
import { ClusterDatastore } from '../../src/index.js'
import { createCluster } from '../utils/cluster.js'
import type { TestCluster } from '../utils/cluster.js'
import type { Pair } from 'interface-datastore'

const enc = new TextEncoder()
const dec = new TextDecoder()

async function rejection (p: Promise<unknown>): Promise<any> {
  try {
    await p
  } catch (err: any) {
    return err
  }

  throw new Error('expected a rejection')
}

async function all<T> (source: AsyncIterable<T> | Iterable<T>): Promise<T[]> {
  const out: T[] = []

  for await (const item of source) {
    out.push(item)
  }

  return out
}

async function stopNode (cluster: TestCluster, i: number): Promise<void> {
  await cluster.nodes[i].store.stop()
  await cluster.nodes[i].libp2p.stop()
}

describe('coordinator: N=3, many keys and failures', () => {
  let cluster: TestCluster

  beforeEach(async () => {
    cluster = await createCluster({ nodes: 3, clients: 1, replicas: 3, options: { heartbeatInterval: 100, requestTimeout: 2000 } })
  })

  afterEach(async () => {
    await cluster.stop()
  })

  it('batch, putMany, getMany, deleteMany and queries at each consistency', async () => {
    const store = cluster.clients[0].store
    const batch = store.batch()

    for (let i = 0; i < 40; i++) {
      batch.put(new Key(`/b/${i}`), enc.encode(`v${i}`))
    }

    batch.delete(new Key('/b/0'))
    await batch.commit({ consistency: 'all' } as any)

    const pairs: Pair[] = Array.from({ length: 300 }, (_, i) => ({ key: new Key(`/m/${i}`), value: enc.encode(`m${i}`) }))
    // a later pair for a key wins, as in a single store
    pairs.push({ key: new Key('/m/7'), value: enc.encode('last') })
    expect(await all(store.putMany(pairs, { consistency: 'quorum' } as any))).to.have.lengthOf(301)
    expect(await all(store.deleteMany([new Key('/m/1'), new Key('/m/2')], { consistency: 'one' } as any))).to.have.lengthOf(2)

    for (const consistency of ['one', 'quorum', 'all'] as const) {
      const reader = cluster.nodes[1].store
      const got = await all(reader.getMany([new Key('/m/7'), new Key('/b/5'), new Key('/m/299')], { consistency } as any))
      expect(got.map(p => dec.decode(p.value))).to.deep.equal(['last', 'v5', 'm299'])
      expect((await rejection(all(reader.getMany([new Key('/m/3'), new Key('/m/1')], { consistency } as any)))).name).to.equal('NotFoundError')

      const keys = (await all(reader.queryKeys({ prefix: '/m' }, { consistency } as any))).map(k => k.toString())
      expect(keys).to.have.lengthOf(298)
      expect(keys).to.not.include('/m/1')
      const values = await all(reader.query({ prefix: '/b', orders: [(a, b) => a.key.toString() < b.key.toString() ? -1 : 1] }, { consistency } as any))
      expect(values).to.have.lengthOf(39)
      expect(values[0].key.toString()).to.equal('/b/1')
    }
  })

  it('with two of three owners down: quorum writes fail naming the owners, reads and queries at one go on', async () => {
    const store = cluster.nodes[0].store
    await store.put(new Key('/x/kept'), enc.encode('kept'), { consistency: 'all' })
    await stopNode(cluster, 1)
    await stopNode(cluster, 2)
    const down = [cluster.nodes[1], cluster.nodes[2]].map(n => n.libp2p.peerId.toString())

    const single = await rejection(store.put(new Key('/x/a'), enc.encode('a')))
    expect(single.name).to.equal('UnavailableError')
    expect(single.message).to.contain('needs 2 of its 3 owners')
    expect(down.some(peer => single.message.includes(peer))).to.equal(true)

    const partial = await rejection(all(store.putMany([{ key: new Key('/x/b'), value: enc.encode('b') }])))
    expect(partial.name).to.equal('PartialWriteError')
    expect(partial.failed.map((k: Key) => k.toString())).to.deep.equal(['/x/b'])

    expect((await rejection(store.get(new Key('/x/kept')))).name).to.equal('UnavailableError')
    expect(dec.decode(await store.get(new Key('/x/kept'), { consistency: 'one' }))).to.equal('kept')

    const query = await rejection(all(store.queryKeys({ prefix: '/x' })))
    expect(query.name).to.equal('UnavailableError')
    expect(query.message).to.contain('slots')
    expect((await all(store.queryKeys({ prefix: '/x' }, { consistency: 'one' } as any))).map(k => k.toString())).to.include('/x/kept')
  })

  it('hints are kept in the coordinator\'s child store and counted again after it restarts', async () => {
    await stopNode(cluster, 2)
    const [a] = cluster.nodes
    const downId = cluster.nodes[2].libp2p.peerId.toString()

    for (let i = 0; i < 10; i++) {
      await a.store.put(new Key(`/h/${i}`), enc.encode(`h${i}`))
    }

    expect(a.store.status().peers.find(p => p.peer === downId)?.hints).to.equal(10)

    // the coordinator restarts on the same child store: it still knows its hints
    await a.store.stop()
    const restarted = new ClusterDatastore(a.libp2p, a.local, cluster.table, { heartbeatInterval: 100, antiEntropyInterval: 3_600_000 })
    await restarted.start()
    a.store = restarted
    expect(restarted.status().peers.find(p => p.peer === downId)?.hints).to.equal(10)
    await restarted.stop()
  })

  it('a read-only client reads (and read-repairs nothing it may not write) but its writes are refused with UnauthorizedError', async () => {
    const reader = await createCluster({ nodes: 3, clients: 1, replicas: 3, options: { clients: [] } })

    try {
      // the data nodes allow the client read-only
      const clientId = reader.clients[0].libp2p.peerId
      const readOnly = reader.nodes.map(n => new ClusterDatastore(n.libp2p, n.local, reader.table, { clients: [{ peerId: clientId, readOnly: true }] }))

      for (const [i, n] of reader.nodes.entries()) {
        await n.store.stop()
        n.store = readOnly[i]
        await n.store.start()
      }

      const key = new Key('/ro/a')
      await reader.nodes[0].store.put(key, enc.encode('v'), { consistency: 'all' })
      // one owner lacks it: a read from the client would repair it, but may not write
      await reader.nodes[2].local.delete(key)

      const client = reader.clients[0].store
      expect(dec.decode(await client.get(key))).to.equal('v')
      expect((await rejection(client.put(new Key('/ro/b'), enc.encode('x')))).name).to.equal('UnauthorizedError')
      expect(client.status().peers.every(p => p.hints === 0)).to.equal(true)
    } finally {
      await reader.stop()
    }
  })
})
