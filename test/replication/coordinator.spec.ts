/**
 * The coordinator over real libp2p (TCP on 127.0.0.1): a 3-node cluster with
 * replication factor 3, single-key operations at each consistency, read
 * repair, refusal of older versions, option checks.
 */
import { Key } from 'interface-datastore'
import { expect } from 'chai'
import { afterEach, beforeEach, describe, it } from 'vitest'
import { MemoryDatastore } from 'datastore-core'
import { ClusterDatastore } from '../../src/index.js'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { ClusterBlockstore } from '../../src/index.js'
import { decodeStored, encodeStored, makeVersion } from '../../src/replication/record.js'
import { createCluster } from '../utils/cluster.js'
import type { TestCluster } from '../utils/cluster.js'

const enc = new TextEncoder()

/** The error a promise rejects with (fails when it resolves) */
async function rejection (p: Promise<unknown>): Promise<Error> {
  try {
    await p
  } catch (err: any) {
    return err
  }

  throw new Error('expected a rejection')
}
const dec = new TextDecoder()

/** The value a node's child holds for `key` (header stripped), or undefined */
async function held (cluster: TestCluster, node: number, key: Key): Promise<{ value?: string, tombstone: boolean } | undefined> {
  try {
    const stored = decodeStored(await cluster.nodes[node].local.get(key))
    return { value: stored.tombstone ? undefined : dec.decode(stored.value), tombstone: stored.tombstone }
  } catch (err: any) {
    if (err.name === 'NotFoundError') return undefined
    throw err
  }
}

describe('coordinator: N=3, single-key operations', () => {
  let cluster: TestCluster

  beforeEach(async () => {
    cluster = await createCluster({ nodes: 3, clients: 1, replicas: 3 })
  })

  afterEach(async () => {
    await cluster.stop()
  })

  it('a put is stored on every owner, with a version, and read back from any node', async () => {
    const key = new Key('/rep/a')
    await cluster.nodes[0].store.put(key, enc.encode('one'), { consistency: 'all' })

    for (let i = 0; i < 3; i++) {
      expect(await held(cluster, i, key)).to.deep.equal({ value: 'one', tombstone: false })
      expect(dec.decode(await cluster.nodes[i].store.get(key))).to.equal('one')
      expect(await cluster.nodes[i].store.has(key)).to.equal(true)
    }

    expect(dec.decode(await cluster.clients[0].store.get(key))).to.equal('one')
  })

  it('single writes made while others are in flight take effect in the order they were made, each acknowledged', async () => {
    const store = cluster.clients[0].store
    const keys = Array.from({ length: 20 }, (_, i) => new Key(`/order/${i}`))
    const last = new Map<string, string | undefined>()
    const writes: Array<Promise<unknown>> = []

    // 400 writes in flight at once: puts and deletes of the same keys interleaved
    for (let i = 0; i < 400; i++) {
      const key = keys[(i * 7) % keys.length]

      if (i % 3 === 2) {
        writes.push(store.delete(key))
        last.set(key.toString(), undefined)
      } else {
        writes.push(store.put(key, enc.encode(`v${i}`)))
        last.set(key.toString(), `v${i}`)
      }
    }

    await Promise.all(writes)

    // the newest record among all owners is the last write made
    for (const key of keys) {
      const expected = last.get(key.toString())

      if (expected == null) {
        expect((await rejection(store.get(key, { consistency: 'all' }))).name).to.equal('NotFoundError')
      } else {
        expect(dec.decode(await store.get(key, { consistency: 'all' }))).to.equal(expected)
      }
    }
  })

  it('a single write aborted while it waits for others is rejected with the abort reason', async () => {
    const store = cluster.clients[0].store
    const first = store.put(new Key('/abort/0'), enc.encode('a'))
    const controller = new AbortController()
    const queued = store.put(new Key('/abort/1'), enc.encode('b'), { signal: controller.signal })
    controller.abort(new Error('given up'))

    expect((await rejection(queued)).message).to.equal('given up')
    await first
    expect(dec.decode(await store.get(new Key('/abort/0')))).to.equal('a')
  })

  it('a delete leaves a tombstone on the owners and reads as missing', async () => {
    const key = new Key('/rep/b')
    await cluster.clients[0].store.put(key, enc.encode('x'), { consistency: 'all' })
    await cluster.clients[0].store.delete(key, { consistency: 'all' })

    for (let i = 0; i < 3; i++) {
      expect(await held(cluster, i, key)).to.deep.equal({ value: undefined, tombstone: true })
      expect(await cluster.nodes[i].store.has(key)).to.equal(false)
      expect((await rejection(cluster.nodes[i].store.get(key))).name).to.equal('NotFoundError')
    }
  })

  it('a later write wins whichever node coordinates it', async () => {
    const key = new Key('/rep/c')

    for (let i = 0; i < 6; i++) {
      await cluster.nodes[i % 3].store.put(key, enc.encode(`v${i}`))
    }

    for (let i = 0; i < 3; i++) {
      expect(dec.decode(await cluster.nodes[i].store.get(key))).to.equal('v5')
    }
  })

  it('a quorum read repairs an owner that holds an older version before answering', async () => {
    const key = new Key('/rep/d')
    await cluster.nodes[0].store.put(key, enc.encode('old'), { consistency: 'all' })
    const oldRecord = await cluster.nodes[2].local.get(key)
    await cluster.nodes[0].store.put(key, enc.encode('new'), { consistency: 'all' })
    // node 2 loses the newer write (as if it had missed it)
    await cluster.nodes[2].local.put(key, oldRecord)
    await cluster.nodes[1].local.delete(key)

    // asked with all: the newest answer wins and the others are repaired
    expect(dec.decode(await cluster.clients[0].store.get(key, { consistency: 'all' }))).to.equal('new')
    expect(await held(cluster, 1, key)).to.deep.equal({ value: 'new', tombstone: false })
    expect(await held(cluster, 2, key)).to.deep.equal({ value: 'new', tombstone: false })
  })

  it('a quorum write is versioned above the newest version a quorum holds (a writer whose clock is behind still wins)', async () => {
    const key = new Key('/rep/e')
    const store = cluster.nodes[0].store
    // written by another node: a newer version from this node's own clock would be one of its own later writes
    await cluster.nodes[1].store.put(key, enc.encode('first'), { consistency: 'all' })
    // owners 1 and 2 hold a version a minute ahead (a writer with a fast wall clock)
    const held = decodeStored(await cluster.nodes[1].local.get(key))
    const ahead = makeVersion(BigInt(Date.now() + 60_000) << 16n, held.version.subarray(8))
    const future = encodeStored({ version: ahead, tombstone: false, value: held.value })
    await cluster.nodes[1].local.put(key, future)
    await cluster.nodes[2].local.put(key, future)

    await store.put(key, enc.encode('second'), { consistency: 'quorum' })

    // the acknowledged write is ordered after the version it raced with
    expect(dec.decode(await cluster.clients[0].store.get(key, { consistency: 'all' }))).to.equal('second')
  })

  it('writes at one succeed with owners that are the coordinator alone', async () => {
    const key = new Key('/rep/f')
    await cluster.nodes[2].store.put(key, enc.encode('v'), { consistency: 'one' })
    expect(dec.decode(await cluster.nodes[2].store.get(key, { consistency: 'one' }))).to.equal('v')
  })

  it('an invalid consistency is refused with InvalidParametersError', async () => {
    const key = new Key('/rep/g')
    expect((await rejection(cluster.nodes[0].store.put(key, enc.encode('v'), { consistency: 'most' as any }))).name).to.equal('InvalidParametersError')
    expect((await rejection(cluster.nodes[0].store.get(key, { consistency: 2 as any }))).name).to.equal('InvalidParametersError')
    expect(() => cluster.nodes[0].store.putMany([], { consistency: 'any' } as any)).to.throw().with.property('name', 'InvalidParametersError')
    expect(() => cluster.nodes[0].store.queryKeys({}, { consistency: 'any' } as any).next()).to.throw().with.property('name', 'InvalidParametersError')
    expect(() => new ClusterDatastore(cluster.nodes[0].libp2p, new MemoryDatastore(), cluster.table, { consistency: 'some' as any })).to.throw().with.property('name', 'InvalidParametersError')
  })

  it('status lists every other member as up, with no hints', async () => {
    const status = cluster.nodes[0].store.status()
    expect(status.replicas).to.equal(3)
    expect(status.consistency).to.equal('quorum')
    expect(status.peers.map(p => p.peer).sort()).to.deep.equal([cluster.nodes[1], cluster.nodes[2]].map(n => n.libp2p.peerId.toString()).sort())
    expect(status.peers.every(p => p.state === 'up' && p.hints === 0)).to.equal(true)
  })

  it('a block is read from the first owner whose copy matches its hash, and is there while one owner has it', async () => {
    const bytes = enc.encode('a block of bytes')
    const cid = CID.createV1(raw.code, await sha256.digest(bytes))
    const blocks = new ClusterBlockstore(cluster.nodes[0].store)
    await blocks.put(cid, bytes)
    const key = blocks.keyOf(cid)

    // this node's own copy (asked first) is damaged: same version, other bytes
    const stored = decodeStored(await cluster.nodes[0].local.get(key))
    await cluster.nodes[0].local.put(key, encodeStored({ version: stored.version, tombstone: false, value: enc.encode('damaged') }))
    const chunks: Uint8Array[] = []

    for await (const chunk of blocks.get(cid)) {
      chunks.push(chunk)
    }

    expect(dec.decode(chunks[0])).to.equal('a block of bytes')

    // gone from two owners: still there
    await cluster.nodes[0].local.delete(key)
    await cluster.nodes[1].local.delete(key)
    expect(await blocks.has(cid)).to.equal(true)
    expect(await blocks.has(cid, { consistency: 'all' } as any)).to.equal(true)
  })
})
