/**
 * One of three owners (N=3) stopped and restarted, over real libp2p on TCP
 * 127.0.0.1: quorum reads and writes go on with no error while it is down,
 * the others keep hints for it, and once it is back (a new libp2p node with
 * the same key, address and child store) the hints are handed over and its
 * child store equals the others'.
 */
import { generateKeyPair } from '@libp2p/crypto/keys'
import { noise } from '@libp2p/noise'
import { tcp } from '@libp2p/tcp'
import { yamux } from '@libp2p/yamux'
import { expect } from 'chai'
import { MemoryDatastore } from 'datastore-core'
import { Key } from 'interface-datastore'
import { createLibp2p } from 'libp2p'
import { afterEach, describe, it } from 'vitest'
import { ClusterDatastore, PROTOCOL, SlotTable } from '../../src/index.js'
import { RESERVED_NAMESPACE } from '../../src/owner/keys.js'
import type { ClusterDatastoreOptions } from '../../src/index.js'
import type { Libp2p, PrivateKey } from '@libp2p/interface'
import type { Datastore } from 'interface-datastore'

const enc = new TextEncoder()
const dec = new TextDecoder()

const OPTIONS: ClusterDatastoreOptions = {
  consistency: 'quorum',
  heartbeatInterval: 100,
  suspectAfter: 3,
  // repair by hints alone here: anti-entropy has its own tests
  antiEntropyInterval: 3_600_000,
  requestTimeout: 2000
}

interface Node {
  key: PrivateKey
  listen: string
  libp2p: Libp2p
  local: Datastore
  store: ClusterDatastore
}

async function libp2pWith (key: PrivateKey, listen: string): Promise<Libp2p> {
  return createLibp2p({
    privateKey: key,
    addresses: { listen: [listen] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()]
  })
}

/** Every pair of a child store outside the reserved namespace (hints live there), as strings */
async function contents (store: Datastore): Promise<Map<string, string>> {
  const out = new Map<string, string>()

  for await (const { key, value } of store.query({})) {
    if (!key.toString().startsWith(`${RESERVED_NAMESPACE}/`)) {
      out.set(key.toString(), Buffer.from(value).toString('hex'))
    }
  }

  return out
}

async function until (what: string, check: () => boolean | Promise<boolean>, timeout = 20_000): Promise<void> {
  const end = Date.now() + timeout

  while (!(await check())) {
    if (Date.now() > end) {
      throw new Error(`timed out waiting until ${what}`)
    }

    await new Promise(resolve => setTimeout(resolve, 50))
  }
}

describe('coordinator: an owner of N=3 stopped and restarted', () => {
  const nodes: Node[] = []

  afterEach(async () => {
    await Promise.all(nodes.map(async n => {
      await n.store.stop()
      await n.libp2p.stop()
    }))
    nodes.length = 0
  })

  /**
   * Three owners (N=3) on `options`, `nodes[0..2]`, and a client outside the
   * table, `nodes[3]`: it coordinates, so every owner is remote to it
   */
  async function ownersAndClient (options: ClusterDatastoreOptions): Promise<{ table: SlotTable, client: ClusterDatastore }> {
    for (let i = 0; i < 3; i++) {
      const key = await generateKeyPair('Ed25519')
      const libp2p = await libp2pWith(key, '/ip4/127.0.0.1/tcp/0')
      nodes.push({ key, listen: libp2p.getMultiaddrs()[0].toString(), libp2p, local: new MemoryDatastore(), store: undefined as any })
    }

    const clientKey = await generateKeyPair('Ed25519')
    const clientLibp2p = await libp2pWith(clientKey, '/ip4/127.0.0.1/tcp/0')
    const table = SlotTable.even(nodes.map(n => ({ id: n.libp2p.peerId, addrs: n.libp2p.getMultiaddrs() })), { epoch: 1, replicas: 3 })
    const withClient = { ...options, clients: [clientLibp2p.peerId] } as ClusterDatastoreOptions

    for (const node of nodes) {
      node.store = new ClusterDatastore(node.libp2p, node.local, table, withClient)
      await node.store.start()
    }

    const client = new ClusterDatastore(clientLibp2p, new MemoryDatastore(), table, withClient)
    await client.start()
    nodes.push({ key: clientKey, listen: '', libp2p: clientLibp2p, local: new MemoryDatastore(), store: client })
    return { table, client }
  }

  it('quorum operations go on while it is down; hints bring it back equal to the others', async () => {
    for (let i = 0; i < 3; i++) {
      const key = await generateKeyPair('Ed25519')
      const libp2p = await libp2pWith(key, '/ip4/127.0.0.1/tcp/0')
      nodes.push({ key, listen: libp2p.getMultiaddrs()[0].toString(), libp2p, local: new MemoryDatastore(), store: undefined as any })
    }

    const table = SlotTable.even(nodes.map(n => ({ id: n.libp2p.peerId, addrs: n.libp2p.getMultiaddrs() })), { epoch: 1, replicas: 3 })

    for (const node of nodes) {
      node.store = new ClusterDatastore(node.libp2p, node.local, table, OPTIONS)
      await node.store.start()
    }

    for (let i = 0; i < 20; i++) {
      await nodes[i % 3].store.put(new Key(`/before/${i}`), enc.encode(`b${i}`))
    }

    // node 2 goes away
    const down = nodes[2]
    await down.store.stop()
    await down.libp2p.stop()

    // writes and reads through the two others never fail
    for (let i = 0; i < 30; i++) {
      await nodes[i % 2].store.put(new Key(`/during/${i}`), enc.encode(`d${i}`))
    }

    for await (const _ of nodes[0].store.putMany(Array.from({ length: 50 }, (_, i) => ({ key: new Key(`/many/${i}`), value: enc.encode(`m${i}`) })))) {
      // every key yielded was written
    }

    for (let i = 0; i < 10; i++) {
      await nodes[1].store.delete(new Key(`/before/${i}`))
    }

    for (let i = 0; i < 30; i++) {
      expect(dec.decode(await nodes[(i + 1) % 2].store.get(new Key(`/during/${i}`)))).to.equal(`d${i}`)
    }

    expect(await nodes[0].store.has(new Key('/before/3'))).to.equal(false)
    expect(dec.decode(await nodes[0].store.get(new Key('/before/13')))).to.equal('b13')
    const listed = []

    for await (const key of nodes[1].store.queryKeys({ prefix: '/many' })) {
      listed.push(key.toString())
    }

    expect(listed).to.have.lengthOf(50)

    // the detector suspects it, and the others hold every write it missed as hints
    const downId = down.libp2p.peerId.toString()
    await until('node 2 is suspected', () => nodes[0].store.status().peers.find(p => p.peer === downId)?.state === 'suspected')
    const hinted = (n: number): number => nodes[n].store.status().peers.find(p => p.peer === downId)?.hints ?? 0
    expect(hinted(0) + hinted(1)).to.be.at.least(30 + 50 + 10)

    // back with the same key, address and child store
    const libp2p = await libp2pWith(down.key, down.listen)
    const store = new ClusterDatastore(libp2p, down.local, table, OPTIONS)
    await store.start()
    nodes[2] = { ...down, libp2p, store }

    await until('the hints for node 2 are handed over', () => hinted(0) === 0 && hinted(1) === 0)
    await until('node 0 sees node 2 up', () => nodes[0].store.status().peers.find(p => p.peer === downId)?.state === 'up')

    const [a, b, c] = await Promise.all(nodes.map(async n => contents(n.local)))
    expect(c.size).to.equal(20 + 30 + 50)
    const sorted = (m: Map<string, string>): Array<[string, string]> => [...m].sort(([x], [y]) => x < y ? -1 : 1)
    expect(sorted(c)).to.deep.equal(sorted(a))
    expect(sorted(b)).to.deep.equal(sorted(a))
    // read from node 2's share alone: every write it missed is there
    expect(dec.decode(await store.get(new Key('/during/29'), { consistency: 'one' }))).to.equal('d29')
    expect(await store.has(new Key('/before/0'), { consistency: 'one' })).to.equal(false)
  })

  it('a write skips an owner wrongly suspected, and writes to it after all when an owner it counted on fails', async () => {
    // heartbeats far apart: nothing but the test decides who is suspected
    const { client } = await ownersAndClient({ ...OPTIONS, heartbeatInterval: 3_600_000 })
    const key = new Key('/suspected/k')
    await client.put(key, enc.encode('first'), { consistency: 'all' })

    // the client suspects node 1, which is up (a heartbeat lost under load); node 2 is gone and not suspected yet
    const suspected = nodes[1].libp2p.peerId
    const detector = (client as unknown as { detector: { isSuspected(peer: unknown): boolean } }).detector
    const isSuspected = detector.isSuspected.bind(detector)
    detector.isSuspected = (peer) => String(peer) === suspected.toString() || isSuspected(peer)
    await nodes[2].store.stop()
    await nodes[2].libp2p.stop()

    // node 0 and node 2 were enough for W = 2; node 2 fails: node 1 is written to after all
    await client.put(key, enc.encode('second'))
    expect(dec.decode(await nodes[1].store.get(key, { consistency: 'one' }))).to.equal('second')
    expect(dec.decode(await client.get(key))).to.equal('second')
  })

  it('an owner that accepts requests and never answers is waited for only until it is suspected', async () => {
    // a client, not an owner: its reads ask owners in table order, the silent one first for some keys;
    // requests wait far longer than the test may take: only suspicion can end the wait
    const options = { ...OPTIONS, requestTimeout: 120_000, suspectAfter: 10 }
    const { table, client } = await ownersAndClient(options)

    const keys = Array.from({ length: 12 }, (_, i) => new Key(`/silent/${i}`))

    for (const key of keys) {
      await client.put(key, enc.encode(key.toString()), { consistency: 'all' })
    }

    // node 2 comes back as a node that takes every stream and never answers
    const silent = nodes[2]
    await silent.store.stop()
    await silent.libp2p.stop()
    const mute = await libp2pWith(silent.key, silent.listen)
    await mute.handle(PROTOCOL, () => {})
    nodes[2] = { ...silent, libp2p: mute, store: new ClusterDatastore(mute, new MemoryDatastore(), table, options) }

    // read at once, before the silent node is suspected: some reads ask it first
    for (const key of keys) {
      expect(dec.decode(await client.get(key))).to.equal(key.toString())
    }

    for (const key of keys) {
      await client.put(key, enc.encode(`new ${key.toString()}`))
      expect(dec.decode(await client.get(key))).to.equal(`new ${key.toString()}`)
    }

    expect(client.status().peers.find(p => p.peer === silent.libp2p.peerId.toString())?.state).to.equal('suspected')
  })
})
