import all from 'it-all'
import { MemoryDatastore } from 'datastore-core'
import { Key } from 'interface-datastore'
import { afterEach, describe, expect, it } from 'vitest'
import { ClusterDatastore, SlotTable, keySlot } from '../../src/index.js'
import { createCluster, createNode } from '../utils/cluster.js'
import type { TestCluster } from '../utils/cluster.js'
import type { AbortOptions } from '@libp2p/interface'

const enc = new TextEncoder()

/**
 * A MemoryDatastore whose reads wait until released (or aborted): a real
 * store with a slow disk, to hold requests in flight
 */
class SlowDatastore extends MemoryDatastore {
  private readonly gate: Promise<void>
  release!: () => void

  constructor () {
    super()
    this.gate = new Promise(resolve => { this.release = resolve })
  }

  override async get (key: Key, options?: AbortOptions): Promise<Uint8Array> {
    await Promise.race([this.gate, new Promise((resolve, reject) => options?.signal?.addEventListener('abort', () => { reject(options.signal?.reason) }))])
    return super.get(key, options)
  }
}

function keyOwnedBy (cluster: TestCluster, index: number, prefix: string): Key {
  const peer = cluster.nodes[index].libp2p.peerId
  for (let i = 0; ; i++) {
    const key = new Key(`${prefix}/${i}`)
    if (cluster.table.primary(keySlot(key)).equals(peer)) return key
  }
}

describe('lifecycle and failure', () => {
  let cluster: TestCluster | undefined

  afterEach(async () => {
    await cluster?.stop()
    cluster = undefined
  })

  it('fails clearly before start() and after stop()', async () => {
    const libp2p = await createNode()
    const table = SlotTable.even([{ id: libp2p.peerId, addrs: libp2p.getMultiaddrs() }])
    const store = new ClusterDatastore(libp2p, new MemoryDatastore(), table)

    try {
      await expect(store.get(new Key('/a'))).rejects.toThrow(/not started: call start\(\) first/)
      await expect(store.put(new Key('/a'), enc.encode('a'))).rejects.toHaveProperty('name', 'NotStartedError')
      await expect(all(store.putMany([{ key: new Key('/a'), value: enc.encode('a') }]))).rejects.toHaveProperty('name', 'NotStartedError')
      await expect(all(store.query({}))).rejects.toHaveProperty('name', 'NotStartedError')

      await store.start()
      await store.put(new Key('/a'), enc.encode('a'))
      await store.stop()

      await expect(store.get(new Key('/a'))).rejects.toHaveProperty('name', 'NotStartedError')
      await expect(store.batch().commit()).rejects.toHaveProperty('name', 'NotStartedError')
      expect(libp2p.getProtocols()).not.toContain('/datastore-cluster/1.0.0')
    } finally {
      await libp2p.stop()
    }
  })

  it('stop() ends requests in flight with a clear error', async () => {
    const slow = new SlowDatastore()
    cluster = await createCluster({ nodes: 2, local: i => i === 1 ? slow : new MemoryDatastore() })
    const key = keyOwnedBy(cluster, 1, '/inflight')
    await slow.put(key, enc.encode('v'))

    const pending = cluster.nodes[0].store.get(key)
    await new Promise(resolve => setTimeout(resolve, 100))
    await cluster.nodes[0].store.stop()

    await expect(pending).rejects.toThrow(/stopped while the request was in flight/)
    slow.release()
  })

  it('an owner that does not answer fails the call within requestTimeout, naming peer and slot', async () => {
    const slow = new SlowDatastore()
    cluster = await createCluster({ nodes: 2, local: i => i === 1 ? slow : new MemoryDatastore(), options: { requestTimeout: 500 } })
    const key = keyOwnedBy(cluster, 1, '/hung')
    const owner = cluster.nodes[1].libp2p.peerId.toString()

    const err = await cluster.nodes[0].store.get(key).catch(e => e)
    expect(err.name).toBe('UnavailableError')
    expect(err.peer).toBe(owner)
    expect(err.slot).toBe(keySlot(key))
    expect(err.message).toContain(owner)
    expect(err.message).toContain(`slot ${keySlot(key)}`)
    slow.release()

    // the same stream is still good for the next request
    await cluster.nodes[0].store.put(key, enc.encode('after'))
    expect(new TextDecoder().decode(await cluster.nodes[0].store.get(key))).toBe('after')
  })

  it('an owner that is down fails the call with UnavailableError, not a hang', async () => {
    cluster = await createCluster({ nodes: 3, options: { requestTimeout: 2000 } })
    const key = keyOwnedBy(cluster, 2, '/down')
    await cluster.nodes[2].store.stop()
    await cluster.nodes[2].libp2p.stop()

    const err = await cluster.nodes[0].store.put(key, enc.encode('v')).catch(e => e)
    expect(err.name).toBe('UnavailableError')
    expect(err.message).toContain(cluster.nodes[2].libp2p.peerId.toString())
    expect(err.slot).toBe(keySlot(key))

    // a query cannot be complete without that owner: it fails, naming it
    const q = await all(cluster.nodes[0].store.query({})).catch(e => e)
    expect(q).toBeInstanceOf(Error)
    expect(q.message).toContain(cluster.nodes[2].libp2p.peerId.toString())

    // the rest of the cluster keeps working
    const alive = keyOwnedBy(cluster, 1, '/alive')
    await cluster.nodes[0].store.put(alive, enc.encode('ok'))
    expect(await cluster.nodes[0].store.has(alive)).toBe(true)
  })

  it('an aborted signal ends a remote call at once', async () => {
    const slow = new SlowDatastore()
    cluster = await createCluster({ nodes: 2, local: i => i === 1 ? slow : new MemoryDatastore() })
    const key = keyOwnedBy(cluster, 1, '/abort')
    const controller = new AbortController()
    const pending = cluster.nodes[0].store.get(key, { signal: controller.signal })
    setTimeout(() => { controller.abort() }, 50)
    await expect(pending).rejects.toHaveProperty('name', 'AbortError')
    slow.release()
  })

  it('bad arguments get typed errors', async () => {
    cluster = await createCluster({ nodes: 1 })
    const { libp2p, store } = cluster.nodes[0]

    await expect(store.put('/not-a-key' as any, enc.encode('x'))).rejects.toHaveProperty('name', 'InvalidParametersError')
    await expect(store.put(new Key('/k'), 'not bytes' as any)).rejects.toThrow(/must be a Uint8Array/)
    await expect(store.get(undefined as any)).rejects.toHaveProperty('name', 'InvalidParametersError')
    expect(() => store.batch().put(new Key('/k'), 42 as any)).toThrow(/must be a Uint8Array/)

    expect(() => new ClusterDatastore({} as any, new MemoryDatastore(), cluster!.table)).toThrow(/libp2p must be a libp2p node/)
    expect(() => new ClusterDatastore(libp2p, {} as any, cluster!.table)).toThrow(/local must be an interface-datastore/)
    expect(() => new ClusterDatastore(libp2p, new MemoryDatastore(), { epoch: -1, ranges: [], peers: [] })).toThrow(/epoch must be a non-negative integer/)
    expect(() => new ClusterDatastore(libp2p, new MemoryDatastore(), cluster!.table, { requestTimeout: -5 })).toThrow(/options.requestTimeout must be an integer >= 1/)
    expect(() => new ClusterDatastore(libp2p, new MemoryDatastore(), cluster!.table, { clients: ['not-a-peer'] })).toThrow(/options.clients\[0\] is not a valid peer ID/)
  })
})
