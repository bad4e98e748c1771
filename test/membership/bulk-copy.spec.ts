/**
 * The bulk copy of a slot table transition: a node that gains slots takes
 * every record of them from their first old owner in one streamed
 * SLOT_ENTRIES `with_values` answer, then reconciles with the next ones.
 * Real libp2p nodes over TCP on 127.0.0.1, real memory stores.
 */

import { generateKeyPair } from '@libp2p/crypto/keys'
import { MemoryDatastore } from 'datastore-core'
import { Key } from 'interface-datastore'
import { afterEach, describe, expect, it } from 'vitest'
import { ClusterDatastore, SlotTable, keySlot, signTable } from '../../src/index.js'
import { ClusterError } from '../../src/errors.js'
import { decodeStored, encodeStored, isIntact, makeVersion, recordDigest } from '../../src/replication/record.js'
import { createNode } from '../utils/cluster.js'
import { waitFor } from '../utils/wait.js'
import type { ClusterDatastoreOptions } from '../../src/index.js'
import type { VersionedRecord } from '../../src/owner/owner.js'
import type { Libp2p, PeerId, PrivateKey } from '@libp2p/interface'

const OPTIONS: ClusterDatastoreOptions = { heartbeatInterval: 300, suspectAfter: 10, antiEntropyInterval: 3_600_000, requestTimeout: 10_000 }
const enc = (s: string): Uint8Array => new TextEncoder().encode(s)
const dec = (b: Uint8Array): string => new TextDecoder().decode(b)

interface Node {
  libp2p: Libp2p
  local: MemoryDatastore
  store: ClusterDatastore
}

interface CopyFailure {
  peer: string
  error: unknown
}

function even (epoch: number, peers: Libp2p[], replicas: number): SlotTable {
  return SlotTable.even(peers.map(p => ({ id: p.peerId, addrs: p.getMultiaddrs() })), { epoch, replicas })
}

/** A record stored straight into a child store, as the owner stores it */
async function store (local: MemoryDatastore, name: string, ms: number, writer: PeerId, value?: string): Promise<void> {
  const key = new Key(name)
  const version = makeVersion(BigInt(ms) << 16n, writer.toMultihash().bytes)
  await local.put(key, encodeStored({ version, tombstone: value == null, value: value == null ? undefined : enc(value) }, key.uint8Array()))
}

/** `value of <name>` under each of `names`, at `ms`, in the stores of the three old owners (each as its writer) */
async function storeOnOldOwners (all: Node[], names: string[], ms: number): Promise<void> {
  for (const node of all.slice(0, 3)) {
    for (const name of names) {
      await store(node.local, name, ms, node.libp2p.peerId, `value of ${name}`)
    }
  }
}

/** Names of keys (under `prefix`) whose slot `owns` says yes to */
function keysWhere (prefix: string, count: number, owns: (slot: number) => boolean): string[] {
  const out: string[] = []

  for (let i = 0; out.length < count; i++) {
    const name = `/${prefix}/k${i}`

    if (owns(keySlot(new Key(name)))) {
      out.push(name)
    }
  }

  return out
}

describe('bulk copy of the slots a node gains in a slot table transition', () => {
  let nodes: Node[] = []
  let admin: PrivateKey
  let t1: SlotTable
  let t2: SlotTable

  afterEach(async () => {
    await Promise.all(nodes.map(async n => {
      await n.store.stop()
      await n.libp2p.stop()
    }))
    nodes = []
  })

  /**
   * Three members on t1 (R=3), a 4th node outside it, every child store
   * filled by `fill` before the nodes start; t2 spreads the slots over all
   * four. The 4th node's calls to anti-entropy's bulk copy that fail are
   * recorded.
   */
  async function setup (fill: (nodes: Node[]) => Promise<void>, extra: (i: number) => ClusterDatastoreOptions = () => ({})): Promise<{ failures: CopyFailure[] }> {
    admin = await generateKeyPair('Ed25519')
    const libp2p = await Promise.all(Array.from({ length: 4 }, async () => createNode()))
    t1 = even(1, libp2p.slice(0, 3), 3)
    t2 = even(2, libp2p, 3)
    const signed = await signTable(t1, admin)
    nodes = libp2p.map((p, i) => {
      const local = new MemoryDatastore()
      return { libp2p: p, local, store: new ClusterDatastore(p, local, signed, { ...OPTIONS, ...extra(i), adminKey: admin.publicKey }) }
    })
    await fill(nodes)
    await Promise.all(nodes.map(async n => n.store.start()))

    const failures: CopyFailure[] = []
    const antiEntropy = (nodes[3].store as any).antiEntropy
    const copy = antiEntropy.copy.bind(antiEntropy)
    antiEntropy.copy = async (peer: PeerId, slots: number[], signal: AbortSignal) => {
      try {
        await copy(peer, slots, signal)
      } catch (error) {
        failures.push({ peer: peer.toString(), error })
        throw error
      }
    }

    return { failures }
  }

  async function move (): Promise<void> {
    const signed = await signTable(t2, admin)

    for (const node of nodes) {
      node.store.updateSlotTable(signed)
    }

    await waitFor('every member to finish the move to epoch 2', () => nodes.every(n => {
      const { layout } = n.store.status()
      return layout.done && layout.epochs[0] === 2
    }))
  }

  /** What the 4th node's child holds for `name`: the value, 'tombstone', or undefined */
  async function heldBy (node: Node, name: string): Promise<string | undefined> {
    const key = new Key(name)

    if (!await node.local.has(key)) {
      return undefined
    }

    const { tombstone, value } = decodeStored(await node.local.get(key))
    return tombstone ? 'tombstone' : dec(value)
  }

  const gains = (slot: number): boolean => t2.owners(slot).some(o => o.equals(nodes[3].libp2p.peerId))

  /** A `setup` fill: `count` keys (under `prefix`) of slots the 4th node gains, on the three old owners; `names` once filled */
  function gainedKeys (prefix: string, count = 20): { fill: (all: Node[]) => Promise<void>, names: string[] } {
    const names: string[] = []

    return {
      names,
      fill: async (all) => {
        names.push(...keysWhere(prefix, count, gains))
        await storeOnOldOwners(all, names, Date.now() - 20_000)
      }
    }
  }

  it('copies values and tombstones; a newer record already held is not overwritten by the older copy', async () => {
    const now = Date.now()
    let names: { older: string[], tombstones: string[], values: string[] } = { older: [], tombstones: [], values: [] }

    const { failures } = await setup(async (all) => {
      // the tables are known once the nodes exist: pick keys of slots the 4th node gains
      const [older, tombstones, values] = [0, 1, 2].map(i => keysWhere(`bulk${i}`, 20, gains))
      names = { older, tombstones, values }

      for (const node of all.slice(0, 3)) {
        for (const name of older) {
          await store(node.local, name, now - 20_000, node.libp2p.peerId, 'old')
        }

        for (const name of tombstones) {
          await store(node.local, name, now - 10_000, node.libp2p.peerId)
        }

        for (const name of values) {
          await store(node.local, name, now - 20_000, node.libp2p.peerId, `value of ${name}`)
        }
      }

      // as a write that reached the new owner during the copy: newer than the old owners' copies
      for (const name of older) {
        await store(all[3].local, name, now - 5_000, all[3].libp2p.peerId, 'new')
      }
    })

    await move()

    expect(failures).toEqual([])
    expect(nodes[3].store.status().layout.keysCopied).toBeGreaterThan(0)

    for (const name of names.older) {
      expect(await heldBy(nodes[3], name), name).toBe('new')
    }

    for (const name of names.tombstones) {
      expect(await heldBy(nodes[3], name), name).toBe('tombstone')
    }

    for (const name of names.values) {
      expect(await heldBy(nodes[3], name), name).toBe(`value of ${name}`)
    }

    // the cluster reads the newer record, and the deleted keys stay deleted
    expect(dec(await nodes[0].store.get(new Key(names.older[0])))).toBe('new')
    await expect(nodes[0].store.get(new Key(names.tombstones[0]))).rejects.toHaveProperty('name', 'NotFoundError')
  }, 120_000)

  it('a move ends with heartbeats sent only when trackers change (none on the interval)', async () => {
    const { fill, names } = gainedKeys('quiet')
    await setup(fill, () => ({ heartbeatInterval: 3_600_000 }))

    await move()

    for (const name of names) {
      expect(await heldBy(nodes[3], name), name).toBe(`value of ${name}`)
    }
  }, 120_000)

  it('the copy carries the checksum each old owner checked; a record copied with a wrong one reads as damaged and is repaired in the move', async () => {
    const { fill, names } = gainedKeys('summed')
    await setup(fill)

    // the old owner asked first for whole slots sends one record with its checksum off by one bit
    const first = t2.ranges.flatMap(r => r.owners.some(o => o.equals(nodes[3].libp2p.peerId)) ? [r.start] : [])[0]
    const liar = (nodes.find(n => n.libp2p.peerId.equals(t1.owners(first)[0])) as Node & { store: any }).store.owner
    const records = liar.slotRecords.bind(liar)
    const bad = names[0]

    liar.slotRecords = async function * (...args: unknown[]) {
      for await (const record of records(...args) as AsyncIterable<VersionedRecord>) {
        yield dec(record.key) === bad ? { ...record, checksum: (record.checksum ?? 0n) ^ 1n } : record
      }
    }

    // what reaches the 4th node's owner, per key: the checksums it is handed
    const receiver = (nodes[3].store as any).owner
    const apply = receiver.applyRecords.bind(receiver)
    const seen = new Map<string, Array<bigint | undefined>>()

    receiver.applyRecords = async (batch: VersionedRecord[], options: unknown) => {
      for (const record of batch) {
        seen.set(dec(record.key), [...(seen.get(dec(record.key)) ?? []), record.checksum])
      }

      return apply(batch, options)
    }

    // the checksums as stored (old owners drop the slots they lose once the move is over)
    const sums = await Promise.all(names.map(async name => {
      const key = new Key(name)
      return { key, digest: recordDigest(key.uint8Array(), decodeStored(await nodes[0].local.get(key))) }
    }))

    await move()

    for (const { key, digest } of sums) {
      const name = key.toString()
      // copied with the old owner's checksum, which the 4th node did not compute again
      expect(seen.get(name)?.[0], name).toBe(name === bad ? digest ^ 1n : digest)

      // and after the move every copy is intact: the bad one was read as damaged and pulled again from the next old owner
      const held = decodeStored(await nodes[3].local.get(key))
      expect(isIntact(key.uint8Array(), held), name).toBe(true)
      expect(dec(held.value), name).toBe(`value of ${name}`)
    }

    expect(seen.get(bad)?.length).toBeGreaterThan(1)
  }, 120_000)

  const hostile: Array<[string, (notAsked: Uint8Array) => VersionedRecord]> = [
    ['a record of a slot not asked for', (notAsked) => ({ key: notAsked, value: enc('garbage'), version: makeVersion(BigInt(Date.now()) << 16n, enc('x')), tombstone: false })],
    ['a frame larger than the maximum message size', (notAsked) => ({ key: notAsked, value: new Uint8Array(3 * 1024 * 1024), version: makeVersion(BigInt(Date.now()) << 16n, enc('x')), tombstone: false })]
  ]

  it.each(hostile)('an old owner answering %s fails that copy with a typed error; the slots are copied from the others', async (_, bad) => {
    const { fill, names } = gainedKeys('bulk', 40)

    // the 4th node takes 1 MiB frames: the hostile answer of 3 MiB is more
    const { failures } = await setup(fill, i => i === 3 ? { maxMessageSize: 1024 * 1024 } : {})

    // the old owner the 4th node asks first for whole slots (the first owner of its first gained slot)
    const first = t2.ranges.flatMap(r => r.owners.some(o => o.equals(nodes[3].libp2p.peerId)) ? [r.start] : [])[0]
    const liar = nodes.find(n => n.libp2p.peerId.equals(t1.owners(first)[0]))
    expect(liar).toBeDefined()
    const notAsked = new Key(keysWhere('other', 1, slot => !gains(slot))[0]).uint8Array()
    const owner = (liar as Node & { store: any }).store.owner

    owner.slotRecords = async function * () {
      yield bad(notAsked)
    }

    await move()

    // the liar's answer failed with a typed error; the move still ended, from the other old owners
    const liarFailures = failures.filter(f => f.peer === liar?.libp2p.peerId.toString())
    expect(liarFailures.length).toBeGreaterThan(0)
    expect(liarFailures[0].error).toBeInstanceOf(ClusterError)

    for (const name of names) {
      expect(await heldBy(nodes[3], name), name).toBe(`value of ${name}`)
    }

    expect(await heldBy(nodes[3], new Key(notAsked).toString())).toBeUndefined()
  }, 120_000)
})
