/**
 * How heliaCluster() binds to Helia: stores usable before libp2p exists,
 * the libp2p service, a table given after start, the manual bind() path,
 * restarts, and the datastore that shares only the pin set.
 */
import { generateKeyPair } from '@libp2p/crypto/keys'
import { defaultLogger } from '@libp2p/logger'
import { noise } from '@libp2p/noise'
import { tcp } from '@libp2p/tcp'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { yamux } from '@libp2p/yamux'
import { MemoryDatastore } from 'datastore-core'
import { createHelia } from 'helia'
import all from 'it-all'
import { Key } from 'interface-datastore'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { describe, expect, it } from 'vitest'
import { heliaCluster } from '../src/blockstore/helia.js'
import { SharedPinsDatastore } from '../src/blockstore/pins.js'
import { SlotTable } from '../src/index.js'
import { concatAll, createHeliaNode } from './utils/helia.js'

async function block (text: string): Promise<{ cid: CID, bytes: Uint8Array }> {
  const bytes = new TextEncoder().encode(text)
  return { cid: CID.createV1(raw.code, await sha256.digest(bytes)), bytes }
}

function loopbackLibp2p () {
  return {
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    peerDiscovery: []
  }
}

describe('heliaCluster()', () => {
  it('fails fast, not hangs, while the cluster is not up, and keeps the node\'s own keys usable', async () => {
    const cluster = heliaCluster()
    const { cid } = await block('too early')

    await expect(cluster.blockstore.has(cid)).rejects.toHaveProperty('name', 'NotStartedError')
    await expect(cluster.datastore.has(new Key('/pin/x'))).rejects.toHaveProperty('name', 'NotStartedError')
    await cluster.datastore.put(new Key('/peers/x'), new Uint8Array([1]))
    await expect(cluster.datastore.has(new Key('/peers/x'))).resolves.toBe(true)
    expect(cluster.cluster).toBeUndefined()
  })

  it('starts serving when the table arrives after Helia started, and adopts only newer tables', async () => {
    const node = await createHeliaNode()

    try {
      const { cid, bytes } = await block('after join')
      await expect(node.cluster.blockstore.put(cid, bytes)).rejects.toHaveProperty('name', 'NotStartedError')

      const table = SlotTable.even([{ id: node.helia.libp2p.peerId }], { epoch: 5 })
      await expect(node.cluster.join(table)).resolves.toBe(true)
      await node.cluster.blockstore.put(cid, bytes)
      expect(await concatAll(node.helia.blockstore.get(cid, { offline: true }))).toEqual(bytes)

      await expect(node.cluster.join(SlotTable.even([{ id: node.helia.libp2p.peerId }], { epoch: 4 }))).resolves.toBe(false)
      await expect(node.helia.libp2p.services.cluster.join(SlotTable.even([{ id: node.helia.libp2p.peerId }], { epoch: 6 }).toJSON())).resolves.toBe(true)
      expect(node.cluster.slots?.epoch).toBe(6)
      expect(node.helia.libp2p.services.cluster.cluster).toBe(node.cluster.cluster)
    } finally {
      await node.helia.stop()
    }
  })

  it('stops with Helia and serves the same local share again after a restart', async () => {
    const node = await createHeliaNode()
    const { cid, bytes } = await block('survives a restart')

    try {
      await node.cluster.join(SlotTable.even([{ id: node.helia.libp2p.peerId }], { epoch: 1 }))
      await node.helia.blockstore.put(cid, bytes)

      await node.helia.stop()
      await expect(node.cluster.blockstore.has(cid)).rejects.toHaveProperty('name', 'NotStartedError')

      await node.helia.start()
      expect(await concatAll(node.helia.blockstore.get(cid, { offline: true }))).toEqual(bytes)
    } finally {
      await node.helia.stop()
    }
  })

  it('binds by hand to a Helia node started without the service', async () => {
    const withService = await createHeliaNode()
    const byHand = heliaCluster()
    const helia = createHelia({
      blockstore: byHand.blockstore,
      datastore: byHand.datastore,
      http: { delegatedRouters: [], recursiveGateways: [] },
      libp2p: { ...loopbackLibp2p(), services: {} }
    })

    try {
      await helia.start()
      await byHand.bind(helia.libp2p)

      const table = SlotTable.even([
        { id: withService.helia.libp2p.peerId, addrs: withService.helia.libp2p.getMultiaddrs() },
        { id: helia.libp2p.peerId, addrs: helia.libp2p.getMultiaddrs() }
      ], { epoch: 1 })
      await Promise.all([withService.cluster.join(table), byHand.join(table)])

      const blocks = await Promise.all(Array.from({ length: 16 }, async (_, i) => block(`block ${i}`)))
      await all(helia.blockstore.putMany(blocks.map(({ cid, bytes }) => ({ cid, bytes }))))

      for (const { cid, bytes } of blocks) {
        expect(await concatAll(withService.helia.blockstore.get(cid, { offline: true }))).toEqual(bytes)
      }

      // both nodes hold some of them
      expect((await all(withService.local.queryKeys({ prefix: '/blocks/' }))).length).toBeGreaterThan(0)
      expect((await all(byHand.local.queryKeys({ prefix: '/blocks/' }))).length).toBeGreaterThan(0)
    } finally {
      await byHand.unbind()
      await Promise.all([helia.stop(), withService.helia.stop()])
    }
  })

  it('runs a Helia node outside the table as a client of the data nodes', async () => {
    // the data nodes must know the client's peer ID before they start serving
    const clientKey = await generateKeyPair('Ed25519')
    const clientId = peerIdFromPrivateKey(clientKey)
    const data = await Promise.all([0, 1].map(async () => {
      const cluster = heliaCluster({ options: { clients: [clientId] } })
      const helia = createHelia({
        blockstore: cluster.blockstore,
        datastore: cluster.datastore,
        http: { delegatedRouters: [], recursiveGateways: [] },
        libp2p: { ...loopbackLibp2p(), services: { cluster: cluster.service } }
      })
      await helia.start()
      return { cluster, helia }
    }))
    const client = heliaCluster()
    const helia = createHelia({
      blockstore: client.blockstore,
      datastore: client.datastore,
      http: { delegatedRouters: [], recursiveGateways: [] },
      libp2p: { ...loopbackLibp2p(), privateKey: clientKey, services: { cluster: client.service } }
    })

    try {
      await helia.start()
      const table = SlotTable.even(data.map(d => ({ id: d.helia.libp2p.peerId, addrs: d.helia.libp2p.getMultiaddrs() })), { epoch: 1 })
      await Promise.all([...data.map(async d => d.cluster.join(table)), client.join(table)])

      const blocks = await Promise.all(Array.from({ length: 8 }, async (_, i) => block(`from the client ${i}`)))
      await all(helia.blockstore.putMany(blocks))
      await all(helia.pins.add(blocks[0].cid))

      expect(await all(client.local.queryKeys({}))).toEqual([])
      for (const { cid, bytes } of blocks) {
        expect(await concatAll(data[0].helia.blockstore.get(cid, { offline: true }))).toEqual(bytes)
      }
      await expect(data[1].helia.pins.isPinned(blocks[0].cid)).resolves.toBe(true)
    } finally {
      await Promise.all([helia.stop(), ...data.map(async d => d.helia.stop())])
    }
  })

  it('refuses a second libp2p node for one heliaCluster()', () => {
    const cluster = heliaCluster()
    const components = { logger: defaultLogger() } as any
    cluster.service(components)
    expect(() => cluster.service(components)).toThrow(expect.objectContaining({ name: 'InvalidParametersError' }))
  })
})

describe('SharedPinsDatastore', () => {
  function stores () {
    const own = new MemoryDatastore()
    const shared = new MemoryDatastore()
    return { own, shared, store: new SharedPinsDatastore(own, shared) }
  }

  it('keeps /pin and /pinned-block in the shared store and every other key in the node\'s own', async () => {
    const { own, shared, store } = stores()
    const value = new Uint8Array([1])

    for (const key of ['/pin/a', '/pinned-block/b', '/peers/c', '/pinx', '/pin', '/version']) {
      await store.put(new Key(key), value)
    }

    expect((await all(shared.queryKeys({}))).map(String).sort()).toEqual(['/pin/a', '/pinned-block/b'])
    expect((await all(own.queryKeys({}))).map(String).sort()).toEqual(['/peers/c', '/pin', '/pinx', '/version'])
    await expect(store.get(new Key('/pin/a'))).resolves.toEqual(value)
    await store.delete(new Key('/pinned-block/b'))
    expect(await shared.has(new Key('/pinned-block/b'))).toBe(false)
  })

  it('merges queries from both stores and never lists the shared store\'s other keys', async () => {
    const { own, shared, store } = stores()
    const value = new Uint8Array([2])
    await shared.put(new Key('/pin/a'), value)
    await shared.put(new Key('/pinned-block/b'), value)
    await shared.put(new Key('/blocks/CIQX'), value)
    await own.put(new Key('/peers/c'), value)
    await own.put(new Key('/pinx'), value)

    const keys = async (prefix?: string): Promise<string[]> => (await all(store.queryKeys({ prefix }))).map(String).sort()

    expect(await keys()).toEqual(['/peers/c', '/pin/a', '/pinned-block/b', '/pinx'])
    expect(await keys('/pin')).toEqual(['/pin/a', '/pinned-block/b', '/pinx'])
    expect(await keys('/pin/')).toEqual(['/pin/a'])
    expect(await keys('/peers/')).toEqual(['/peers/c'])
    expect((await all(store.query({ prefix: '/', orders: [(a, b) => a.key.toString() < b.key.toString() ? 1 : -1], limit: 2 }))).map(p => p.key.toString()))
      .toEqual(['/pinx', '/pinned-block/b'])
  })
})
