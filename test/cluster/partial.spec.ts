/**
 * A many-key write that fails part-way says exactly what was written:
 * putMany and deleteMany yield every key written and no other, and the
 * error lists the keys that were not; a batch says which owners' shares were
 * written. Nothing claims "nothing was written" unless that is true.
 */
import { MemoryDatastore } from 'datastore-core'
import { Key } from 'interface-datastore'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { PartialWriteError, keySlot } from '../../src/index.js'
import { createCluster, keyOwnedBy, localKeys } from '../utils/cluster.js'
import type { ClusterNode, TestCluster } from '../utils/cluster.js'
import type { Batch, Pair } from 'interface-datastore'
import type { AbortOptions } from '@libp2p/interface'

const enc = new TextEncoder()
const MAX = 64 * 1024

/** A child store whose batches fail when they hold a key containing "poison" */
class PoisonedDatastore extends MemoryDatastore {
  override batch (): Batch {
    const inner = super.batch()
    let poisoned = false

    return {
      put: (key, value) => {
        poisoned ||= key.toString().includes('poison')
        inner.put(key, value)
      },
      delete: (key) => {
        poisoned ||= key.toString().includes('poison')
        inner.delete(key)
      },
      commit: async (options?: AbortOptions) => {
        if (poisoned) {
          throw new Error('disk full')
        }

        await inner.commit(options)
      }
    }
  }
}

/** Read a generator to its end: what it yielded, and what it threw */
async function drain<T> (it: AsyncIterable<T>): Promise<{ yielded: T[], err: any }> {
  const yielded: T[] = []

  try {
    for await (const item of it) {
      yielded.push(item)
    }
  } catch (err) {
    return { yielded, err }
  }

  return { yielded, err: undefined }
}

describe('exact partial results of many-key writes', () => {
  let cluster: TestCluster
  let poisoned: ClusterNode

  beforeAll(async () => {
    cluster = await createCluster({
      nodes: 3,
      clients: 1,
      options: { maxMessageSize: MAX },
      local: (i) => i === 1 ? new PoisonedDatastore() : new MemoryDatastore()
    })
    poisoned = cluster.nodes[1]
  })

  afterAll(async () => {
    await cluster?.stop()
  })

  /** A key under `prefix` whose slot `node` is primary of in the first table */
  const keyOn = (node: ClusterNode, prefix: string): Key => keyOwnedBy(cluster.table, node, prefix)

  /** Every key of the cluster under `prefix`, read from the nodes' child stores */
  async function stored (prefix: string): Promise<string[]> {
    const all = await Promise.all(cluster.nodes.map(async n => localKeys(n.local)))
    return all.flat().filter(k => k.startsWith(prefix)).sort()
  }

  it('putMany with an oversized value after 4096 pairs yields the pairs it wrote', async () => {
    const pairs: Pair[] = Array.from({ length: 4100 }, (_, i) => ({ key: new Key(`/partial/big/${i}`), value: enc.encode('v') }))
    pairs.push({ key: new Key('/partial/big/oversized'), value: new Uint8Array(MAX) })

    const { yielded, err } = await drain(cluster.clients[0].store.putMany(pairs))

    expect(err?.name).toBe('TooLargeError')
    expect(err.message).not.toMatch(/nothing was written/)
    // the first chunk (4096 pairs) was sent and stored; the pairs read with the bad one were not
    expect(yielded).toHaveLength(4096)
    expect(await stored('/partial/big/')).toEqual(yielded.map(k => k.toString()).sort())
  })

  for (const via of ['a client', 'the failing owner itself', 'another member'] as const) {
    it(`putMany through ${via}: a failing owner's keys are reported, every other key is yielded`, async () => {
      const caller = via === 'a client' ? cluster.clients[0] : via === 'the failing owner itself' ? poisoned : cluster.nodes[2]
      const prefix = `/partial/put/${via.length}`
      const keys = Array.from({ length: 3 * 4096 }, (_, i) => new Key(`${prefix}/${i}`))
      // one poisoned key in the second chunk, on node 1: its share of that chunk fails
      const poison = keyOn(poisoned, `${prefix}/poison`)
      keys[4096 + 100] = poison

      const { yielded, err } = await drain(caller.store.putMany(keys.map(key => ({ key, value: enc.encode('v') }))))

      expect(err).toBeInstanceOf(PartialWriteError)
      expect(err.name).toBe('PartialWriteError')
      const failed = (err as PartialWriteError).failed.map(k => k.toString())
      expect(failed).toContain(poison.toString())
      // the failed keys are node 1's share of the second chunk, and only those
      const share = keys.slice(4096, 8192).filter(k => cluster.table.primary(keySlot(k)).equals(poisoned.libp2p.peerId))
      expect(failed.sort()).toEqual(share.map(k => k.toString()).sort())
      // yielded == written, exactly
      expect(yielded.map(k => k.toString()).sort()).toEqual(await stored(`${prefix}/`))
      expect(yielded.length + failed.length).toBe(keys.length)
      expect((err as PartialWriteError).written).toBe(yielded.length)
      expect(err.message).toContain(via === 'the failing owner itself' ? 'this node' : poisoned.libp2p.peerId.toString())
      expect(err.message).toMatch(/disk full/)
      expect(err.message).toContain(`${yielded.length} keys were written`)
      expect(err.message).not.toMatch(/nothing was written/i)
    })
  }

  it('deleteMany: a failing owner\'s keys are reported, every deleted key is yielded', async () => {
    const prefix = '/partial/del'
    const keys = Array.from({ length: 600 }, (_, i) => new Key(`${prefix}/${i}`))
    const poison = keyOn(poisoned, `${prefix}/poison`)
    // a single put is no batch: the poisoned store takes it
    await cluster.clients[0].store.put(poison, enc.encode('v'))
    await drain(cluster.clients[0].store.putMany(keys.map(key => ({ key, value: enc.encode('v') }))))

    const { yielded, err } = await drain(cluster.clients[0].store.deleteMany([...keys, poison]))

    expect(err).toBeInstanceOf(PartialWriteError)
    const failed = new Set((err as PartialWriteError).failed.map(k => k.toString()))
    expect(failed.has(poison.toString())).toBe(true)
    // every key deleted was yielded; the failed ones are still there
    const left = await stored(`${prefix}/`)
    expect(left.sort()).toEqual([...failed].sort())
    expect(yielded.length + failed.size).toBe(keys.length + 1)
  })

  it('a batch failing on one owner says which owners\' shares were written', async () => {
    const prefix = '/partial/batch'
    const batch = cluster.clients[0].store.batch()
    const keys = Array.from({ length: 300 }, (_, i) => new Key(`${prefix}/${i}`))
    const poison = keyOn(poisoned, `${prefix}/poison`)

    for (const key of [...keys, poison]) {
      batch.put(key, enc.encode('v'))
    }

    const err = await Promise.resolve(batch.commit()).then(() => undefined, (e: any) => e)

    expect(err).toBeInstanceOf(PartialWriteError)
    const failed = (err as PartialWriteError).failed.map(k => k.toString()).sort()
    const onPoisoned = [...keys, poison].filter(k => cluster.table.primary(keySlot(k)).equals(poisoned.libp2p.peerId))
    expect(failed).toEqual(onPoisoned.map(k => k.toString()).sort())
    expect((err as PartialWriteError).written).toBe(keys.length + 1 - failed.length)
    expect(await stored(`${prefix}/`)).toHaveLength(keys.length + 1 - failed.length)
    expect(err.message).toContain(poisoned.libp2p.peerId.toString())
    expect(err.message).toMatch(/disk full/)
    // the owners whose shares were written are named, with their key counts
    for (const node of cluster.nodes.filter(n => n !== poisoned)) {
      const count = [...keys, poison].filter(k => cluster.table.primary(keySlot(k)).equals(node.libp2p.peerId)).length
      expect(err.message).toContain(`${node.libp2p.peerId.toString()} (${count} keys)`)
    }

    expect(err.message).toMatch(/keys were written: the shares of /)
  })
})
