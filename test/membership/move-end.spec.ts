/**
 * The end of a move, seen by a reader that does not know it ended. The old
 * owners retire the old table and drop the slots they gave away; a client
 * whose heartbeats are far apart still reads by the old table. What it reads
 * from an old owner must never be "none held" for a key the owner dropped:
 * the owner refuses (MOVED, with its trackers), and the client reads the new
 * owners. Real libp2p nodes over TCP on 127.0.0.1; the old owners' child
 * stores are MemoryDatastores that can hold a read back (a slow disk), to
 * put a read in flight across the drop.
 */

import { generateKeyPair } from '@libp2p/crypto/keys'
import { noise } from '@libp2p/noise'
import { tcp } from '@libp2p/tcp'
import { yamux } from '@libp2p/yamux'
import { MemoryDatastore } from 'datastore-core'
import { Key } from 'interface-datastore'
import all from 'it-all'
import { createLibp2p } from 'libp2p'
import { fromString as uint8ArrayFromString } from 'uint8arrays/from-string'
import { toString as uint8ArrayToString } from 'uint8arrays/to-string'
import { afterEach, describe, expect, it } from 'vitest'
import { ClusterDatastore, SlotTable, signTable } from '../../src/index.js'
import { localKeys } from '../utils/cluster.js'
import { waitFor } from '../utils/wait.js'
import type { ClusterDatastoreOptions } from '../../src/index.js'
import type { SignedSlotTable } from '../../src/membership/signed-table.js'
import type { AbortOptions, Libp2p, PeerId, PrivateKey } from '@libp2p/interface'
import type { Pair, Query } from 'interface-datastore'

const OPTIONS: ClusterDatastoreOptions = { heartbeatInterval: 300, suspectAfter: 10, antiEntropyInterval: 60_000 }
const KEYS = 200

const enc = (s: string): Uint8Array => uint8ArrayFromString(s)
const dec = (b: Uint8Array): string => uint8ArrayToString(b)

/**
 * A MemoryDatastore whose reads of one key, or whose scans after some
 * entries, wait while held: the reads (and scans) that arrive while `hold`
 * is on wait until `release`; those after `stopHolding` pass
 */
class SlowDisk extends MemoryDatastore {
  private holding?: { key?: string, afterEntries?: number }
  private readonly waiting: Array<() => void> = []
  held = 0

  hold (what: { key?: string, afterEntries?: number }): void {
    this.holding = what
  }

  stopHolding (): void {
    this.holding = undefined
  }

  release (): void {
    this.stopHolding()
    this.waiting.splice(0).forEach(fn => { fn() })
  }

  private async wait (): Promise<void> {
    this.held++
    await new Promise<void>(resolve => this.waiting.push(resolve))
  }

  override async get (key: Key, options?: AbortOptions): Promise<Uint8Array> {
    if (this.holding?.key === key.toString()) {
      await this.wait()
    }

    return super.get(key, options)
  }

  override async * query (q: Query, options?: AbortOptions): AsyncGenerator<Pair> {
    const after = this.holding?.afterEntries
    let n = 0

    for await (const pair of super.query(q, options)) {
      if (after != null && n++ === after) {
        await this.wait()
      }

      yield pair
    }
  }
}

async function createNode (): Promise<Libp2p> {
  return createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionManager: { inboundConnectionThreshold: 1000 }
  })
}

function even (epoch: number, peers: Libp2p[], replicas: number, clients: PeerId[]): SlotTable {
  return SlotTable.even(peers.map(p => ({ id: p.peerId, addrs: p.getMultiaddrs() })), { epoch, replicas, clients: clients.map(id => ({ id })) })
}

describe('reads across the end of a move, by a client that has not heard it ended', () => {
  const cleanup: Array<() => Promise<void>> = []

  afterEach(async () => {
    for (const fn of cleanup.splice(0).reverse()) {
      await fn().catch(() => {})
    }
  })

  /**
   * Two old owners (nodes 0 and 1, both owners of every slot) hand
   * everything to two new ones (nodes 2 and 3): no slot keeps an old owner,
   * so after the move the old owners hold nothing. Node 3 is not started:
   * the move waits for it. The client hears heartbeats once an hour.
   */
  async function setup (): Promise<{ old: Array<{ store: ClusterDatastore, disk: SlowDisk }>, fresh: ClusterDatastore[], startLast(): Promise<void>, client: ClusterDatastore, s2: SignedSlotTable, admin: PrivateKey }> {
    const admin = await generateKeyPair('Ed25519')
    const libp2p = await Promise.all(Array.from({ length: 5 }, async () => createNode()))
    cleanup.push(async () => { await Promise.all(libp2p.map(async p => p.stop())) })
    const clientId = libp2p[4].peerId
    const t1 = await signTable(even(1, libp2p.slice(0, 2), 2, [clientId]), admin)
    const s2 = await signTable(even(2, libp2p.slice(2, 4), 2, [clientId]), admin)
    const disks = [new SlowDisk(), new SlowDisk()]
    const make = (i: number, options: ClusterDatastoreOptions = {}): ClusterDatastore => {
      const store = new ClusterDatastore(libp2p[i], disks[i] ?? new MemoryDatastore(), t1, { ...OPTIONS, adminKey: admin.publicKey, ...options })
      cleanup.push(async () => { await store.stop() })
      return store
    }
    const stores = [0, 1, 2, 3].map(i => make(i))
    const client = make(4, { heartbeatInterval: 3_600_000 })
    await Promise.all([...stores.slice(0, 3), client].map(async s => s.start()))

    for (let i = 0; i < KEYS; i += 50) {
      await Promise.all(Array.from({ length: 50 }, async (_, j) => { await stores[0].put(new Key(`/pre/k${i + j}`), enc(`v${i + j}`)) }))
    }

    // the client hears of epoch 2 before the move ends, and from nobody that it ended
    expect(client.updateSlotTable(s2)).toBe(true)
    expect(client.status().layout.epochs).toEqual([1, 2])

    for (const store of stores.slice(0, 3)) {
      store.updateSlotTable(s2)
    }

    return {
      old: [0, 1].map(i => ({ store: stores[i], disk: disks[i] })),
      fresh: stores.slice(2),
      startLast: async () => { await stores[3].start(); stores[3].updateSlotTable(s2) },
      client,
      s2,
      admin
    }
  }

  async function moveEnded (stores: ClusterDatastore[], disks: SlowDisk[]): Promise<void> {
    await waitFor('every member to finish the move to epoch 2', () => stores.every(s => s.status().layout.done && s.status().layout.epochs[0] === 2), 60_000, 50)
    await waitFor('the old owners to drop every record', async () => (await Promise.all(disks.map(localKeys))).every(keys => keys.length === 0), 60_000, 50)
  }

  /**
   * Start `read` while both old owners' disks hold back what `hold` names,
   * wait until both are held, end the move (the old owners drop everything),
   * then let the held reads go on: what `read` gives then
   */
  async function acrossTheDrop<T> (hold: { key?: string, afterEntries?: number }, read: (client: ClusterDatastore) => Promise<T>): Promise<T> {
    const { old, fresh, startLast, client } = await setup()

    for (const { disk } of old) {
      disk.hold(hold)
    }

    const reading = read(client)
    reading.catch(() => {})
    await waitFor('both old owners to hold the read back', () => old.every(o => o.disk.held === 1), 60_000, 50)

    for (const { disk } of old) {
      disk.stopHolding()
    }

    await startLast()
    await moveEnded([...old.map(o => o.store), ...fresh], old.map(o => o.disk))

    for (const { disk } of old) {
      disk.release()
    }

    return reading
  }

  it('a query by the old table, after its owners retired it, reads the new owners instead of finding nothing', async () => {
    const { old, fresh, startLast, client } = await setup()
    await startLast()
    await moveEnded([...old.map(o => o.store), ...fresh], old.map(o => o.disk))

    // the client still reads by epoch 1: its old owners hold nothing now
    expect(client.status().layout.epochs).toEqual([1, 2])
    const pairs = await all(client.query({ prefix: '/pre' }))

    expect(pairs.length).toBe(KEYS)
    expect(new Map(pairs.map(p => [p.key.toString(), dec(p.value)]))).toEqual(new Map(Array.from({ length: KEYS }, (_, i) => [`/pre/k${i}`, `v${i}`])))
    // it learnt from the refusals that the move ended
    expect(client.status().layout.epochs).toEqual([2])
  }, 120_000)

  it('a query whose scans on the old owners are under way when they drop the slots starts over on the new owners', async () => {
    // the old owners' scans stop after 20 records
    const pairs = await acrossTheDrop({ afterEntries: 20 }, async client => all(client.query({ prefix: '/pre' })))

    expect(pairs.length).toBe(KEYS)
    expect(new Set(pairs.map(p => dec(p.value)))).toEqual(new Set(Array.from({ length: KEYS }, (_, i) => `v${i}`)))
  }, 120_000)

  it('a read let in by the old owners before they dropped its slot, finding nothing after, is refused and read from the new owners', async () => {
    // a quorum read by epoch 1: both old owners let it in and wait on their disks
    const value = await acrossTheDrop({ key: '/pre/k7' }, async client => client.get(new Key('/pre/k7')))

    expect(dec(value)).toBe('v7')
  }, 120_000)

  it('a read of many keys, one of them let in before the drop and finding nothing after, is refused and read from the new owners', async () => {
    const keys = Array.from({ length: 40 }, (_, i) => new Key(`/pre/k${i}`))
    const pairs = await acrossTheDrop({ key: keys[25].toString() }, async client => all(client.getMany(keys)))

    expect(pairs.map(p => dec(p.value))).toEqual(keys.map((_, i) => `v${i}`))
  }, 120_000)
})
