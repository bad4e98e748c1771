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
import { base36 } from 'multiformats/bases/base36'
import * as cborg from 'cborg'
import { equals } from 'uint8arrays/equals'
import { describe, expect, it } from 'vitest'
import { heliaCluster } from '../src/blockstore/helia.js'
import { SharedPinsDatastore } from '../src/blockstore/pins.js'
import { SlotTable, signTable } from '../src/index.js'
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

  it('with an admin key, joins and adopts only tables signed by it', async () => {
    const admin = await generateKeyPair('Ed25519')
    const node = await createHeliaNode({ options: { adminKey: admin.publicKey } })

    try {
      const table = SlotTable.even([{ id: node.helia.libp2p.peerId }], { epoch: 1 })
      await expect(node.cluster.join(await signTable(table, admin))).resolves.toBe(true)
      await expect(node.cluster.join(table.withEpoch(2))).rejects.toHaveProperty('name', 'InvalidParametersError')
      await expect(node.cluster.join(await signTable(table.withEpoch(2), await generateKeyPair('Ed25519')))).rejects.toHaveProperty('name', 'TableSignatureError')
      expect(node.cluster.slots?.epoch).toBe(1)
      await expect(node.helia.libp2p.services.cluster.join(await signTable(table.withEpoch(3), admin))).resolves.toBe(true)
      expect(node.cluster.cluster?.signedSlots?.table.epoch).toBe(3)
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
      // libp2p started without the service (as Helia's `config: 'merge'` leaves it): the error says so
      await expect(byHand.blockstore.has((await block('unbound')).cid)).rejects.toThrow(/libp2p has not created heliaCluster\(\)\.service.*config: 'merge'/)

      await byHand.bind(helia.libp2p)
      await expect(byHand.blockstore.has((await block('no table')).cid)).rejects.toThrow(/no slot table yet/)

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
    return { own, shared, store: new SharedPinsDatastore(own, shared, undefined, { writer: 'a' }) }
  }

  /** A pin and one block it holds, with the keys Helia gives them */
  async function pinOf (text: string): Promise<{ cid: CID, pinKey: Key, blockKey: Key, block: string }> {
    const { cid } = await block(text)
    const name = base36.encode(cid.multihash.bytes)
    return { cid, pinKey: new Key(`/pin/${cid.toString(base36)}`), blockKey: new Key(`/pinned-block/${name}`), block: name }
  }

  /** What Helia's pins.add writes for a block: the record it read, with one more pin */
  function added (read: Uint8Array | undefined, cid: CID): Uint8Array {
    const record = read == null ? { pinCount: 0, pinnedBy: [] } : cborg.decode(read)
    record.pinCount++
    record.pinnedBy.push(cid.bytes)
    return cborg.encode(record)
  }

  /** What Helia's pins.rm writes for a block (its filter keeps only the removed pin) */
  function removed (read: Uint8Array, cid: CID): Uint8Array {
    const record = cborg.decode(read)
    record.pinCount--
    record.pinnedBy = record.pinnedBy.filter((c: Uint8Array) => equals(c, cid.bytes))
    return cborg.encode(record)
  }

  async function readOrNothing (store: SharedPinsDatastore, key: Key): Promise<Uint8Array | undefined> {
    return await store.has(key) ? store.get(key) : undefined
  }

  it('keeps the pin set in the shared store, each node\'s block records under the block\'s hash tag, and every other key in the node\'s own', async () => {
    const { own, shared, store } = stores()
    const pin = await pinOf('pinned')
    const value = new Uint8Array([1])

    for (const key of ['/peers/c', '/pinx', '/pin', '/version']) {
      await store.put(new Key(key), value)
    }

    await store.put(pin.blockKey, added(undefined, pin.cid))
    await store.put(pin.pinKey, cborg.encode({ depth: Infinity, metadata: {} }))

    expect((await all(shared.queryKeys({}))).map(String).sort()).toEqual([pin.pinKey.toString(), `/pinned-block/{${pin.block}}/a`])
    expect((await all(own.queryKeys({}))).map(String).sort()).toEqual(['/peers/c', '/pin', '/pinx', '/version'])
    expect(cborg.decode(await store.get(pin.blockKey))).toMatchObject({ pinCount: 1, pinnedBy: [pin.cid.bytes] })

    // the block is pinned exactly while its pin exists
    await store.delete(pin.pinKey)
    await expect(store.has(pin.blockKey)).resolves.toBe(false)
    await expect(store.get(pin.blockKey)).rejects.toHaveProperty('name', 'NotFoundError')
  })

  it('merges queries from both stores and never lists the shared store\'s other keys', async () => {
    const { own, shared, store } = stores()
    const pin = await pinOf('listed')
    const value = new Uint8Array([2])
    await store.put(pin.blockKey, added(undefined, pin.cid))
    await store.put(pin.pinKey, value)
    await shared.put(new Key('/blocks/CIQX'), value)
    await own.put(new Key('/peers/c'), value)
    await own.put(new Key('/pinx'), value)

    const keys = async (prefix?: string): Promise<string[]> => (await all(store.queryKeys({ prefix }))).map(String).sort()
    const pinKey = pin.pinKey.toString()
    const blockKey = pin.blockKey.toString()

    expect(await keys()).toEqual(['/peers/c', pinKey, blockKey, '/pinx'])
    expect(await keys('/pin')).toEqual([pinKey, blockKey, '/pinx'])
    expect(await keys('/pin/')).toEqual([pinKey])
    expect(await keys('/pinned-block/')).toEqual([blockKey])
    expect(await keys(blockKey.slice(0, 20))).toEqual([blockKey])
    expect(await keys('/peers/')).toEqual(['/peers/c'])
    expect((await all(store.query({ prefix: '/', orders: [(a, b) => a.key.toString() < b.key.toString() ? 1 : -1], limit: 2 }))).map(p => p.key.toString()))
      .toEqual(['/pinx', blockKey])
  })

  it('loses no pin when two nodes read, change and write one block\'s record at the same time', async () => {
    const shared = new MemoryDatastore()
    const a = new SharedPinsDatastore(new MemoryDatastore(), shared, undefined, { writer: 'a' })
    const b = new SharedPinsDatastore(new MemoryDatastore(), shared, undefined, { writer: 'b' })
    const pinA = await pinOf('DAG of A')
    const pinB = await pinOf('DAG of B')
    const { blockKey } = await pinOf('a block both DAGs hold')

    // Helia's pins.add on both nodes: both read, then both write
    const readByA = await readOrNothing(a, blockKey)
    const readByB = await readOrNothing(b, blockKey)
    await a.put(blockKey, added(readByA, pinA.cid))
    await b.put(blockKey, added(readByB, pinB.cid))
    await a.put(pinA.pinKey, new Uint8Array([1]))
    await b.put(pinB.pinKey, new Uint8Array([1]))

    for (const store of [a, b]) {
      const record = cborg.decode(await store.get(blockKey))
      expect(record.pinCount).toBe(2)
      expect(record.pinnedBy).toEqual(expect.arrayContaining([pinA.cid.bytes, pinB.cid.bytes]))
    }

    // A unpins: Helia deletes the pin, then writes the block's record
    await a.delete(pinA.pinKey)
    await a.put(blockKey, removed(await a.get(blockKey), pinA.cid))

    await expect(b.has(blockKey)).resolves.toBe(true)
    expect(cborg.decode(await b.get(blockKey)).pinnedBy).toEqual([pinB.cid.bytes])

    // B unpins too, deleting the record as Helia does for the last pin
    await b.delete(pinB.pinKey)
    await b.delete(blockKey)
    await expect(a.has(blockKey)).resolves.toBe(false)
    // and no node keeps a record for pins that are gone
    expect(await all(shared.queryKeys({ prefix: '/pinned-block/' }))).toEqual([])
  })

  it('releases a pin once when two nodes unpin it one after the other, both having seen it', async () => {
    const shared = new MemoryDatastore()
    const a = new SharedPinsDatastore(new MemoryDatastore(), shared, undefined, { writer: 'a' })
    const b = new SharedPinsDatastore(new MemoryDatastore(), shared, undefined, { writer: 'b' })
    const pinX = await pinOf('DAG X')
    const pinY = await pinOf('DAG Y')
    const { blockKey } = await pinOf('a block both DAGs hold')

    await a.put(blockKey, added(await readOrNothing(a, blockKey), pinX.cid))
    await a.put(pinX.pinKey, new Uint8Array([1]))
    await b.put(blockKey, added(await readOrNothing(b, blockKey), pinY.cid))
    await b.put(pinY.pinKey, new Uint8Array([1]))

    // Helia's pins.rm of X on both: each read the pin before A deleted it, then each walks
    for (const store of [a, b]) {
      await store.delete(pinX.pinKey)
      const record = removed(await store.get(blockKey), pinX.cid)

      if (cborg.decode(record).pinCount === 0) {
        await store.delete(blockKey)
      } else {
        await store.put(blockKey, record)
      }
    }

    await expect(a.has(blockKey)).resolves.toBe(true)
    expect(cborg.decode(await a.get(blockKey)).pinnedBy).toEqual([pinY.cid.bytes])
  })

  it('counts a block as pinned while its pin is being made, before Helia writes the pin itself', async () => {
    const shared = new MemoryDatastore()
    const a = new SharedPinsDatastore(new MemoryDatastore(), shared, undefined, { writer: 'a' })
    const b = new SharedPinsDatastore(new MemoryDatastore(), shared, undefined, { writer: 'b' })
    const pin = await pinOf('being pinned')

    await a.put(pin.blockKey, added(undefined, pin.cid))
    // B's GC asks now: the pin is not written yet, but the block is kept
    await expect(b.has(pin.blockKey)).resolves.toBe(true)

    await a.put(pin.pinKey, new Uint8Array([1]))
    expect((await all(shared.queryKeys({ prefix: '/pin-pending/' })))).toEqual([])
    await expect(b.has(pin.blockKey)).resolves.toBe(true)
  })
})
