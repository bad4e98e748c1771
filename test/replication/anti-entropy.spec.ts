import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { MemoryDatastore } from 'datastore-core'
import { LevelDatastore } from 'datastore-level'
import { Key } from 'interface-datastore'
import { afterEach, describe, expect, it } from 'vitest'
import { ClusterDatastore, SlotTable, keySlot } from '../../src/index.js'
import { decodeStored, encodeStored } from '../../src/replication/record.js'
import { createNode } from '../utils/cluster.js'
import type { ClusterDatastoreOptions } from '../../src/index.js'
import type { Libp2p } from '@libp2p/interface'
import type { Datastore, Pair } from 'interface-datastore'

interface Node {
  libp2p: Libp2p
  local: Datastore
  store: ClusterDatastore
}

/** A memory store that counts its scans (queries) */
class ScanCounting extends MemoryDatastore {
  scans = 0

  override query (...args: Parameters<MemoryDatastore['query']>): ReturnType<MemoryDatastore['query']> {
    this.scans++
    return super.query(...args)
  }
}

// rounds run only when a test asks (repair()); no heartbeat after the first,
// so hints are not handed over and what converges is anti-entropy's doing
const OPTIONS: ClusterDatastoreOptions = {
  antiEntropyInterval: 3_600_000,
  heartbeatInterval: 3_600_000,
  requestTimeout: 5000
}

let nodes: Node[] = []
let table: SlotTable

let options: ClusterDatastoreOptions = OPTIONS

async function replicated (count = 3, extra: ClusterDatastoreOptions = {}, replicas = count): Promise<Node[]> {
  const peers = await Promise.all(Array.from({ length: count }, async () => createNode()))
  table = SlotTable.even(peers.map(p => ({ id: p.peerId, addrs: p.getMultiaddrs() })), { epoch: 1, replicas })
  options = { ...OPTIONS, ...extra }
  nodes = peers.map(libp2p => {
    const local = new ScanCounting()
    return { libp2p, local, store: new ClusterDatastore(libp2p, local, table, options) }
  })
  await Promise.all(nodes.map(async n => n.store.start()))
  return nodes
}

/** A node's store again on the same libp2p node, over `local` (its old child, or a wiped one) */
async function restart (node: Node, local: Datastore = node.local): Promise<void> {
  await node.store.stop()
  node.local = local
  node.store = new ClusterDatastore(node.libp2p, local, table, options)
  await node.store.start()
}

/** Every record a child holds, raw (header, version and value), outside the reserved namespace */
async function childRecords (local: Datastore): Promise<Map<string, string>> {
  const out = new Map<string, string>()

  for await (const { key, value } of local.query({})) {
    if (!key.toString().startsWith('/.cluster')) {
      out.set(key.toString(), Buffer.from(value).toString('hex'))
    }
  }

  return out
}

/** What a child's records hold (version, tombstone flag, value), whatever their stored format */
async function childContents (local: Datastore): Promise<Map<string, string>> {
  const out = new Map<string, string>()

  for (const [key, hex] of await childRecords(local)) {
    const { version, tombstone, value } = decodeStored(Buffer.from(hex, 'hex'))
    out.set(key, `${Buffer.from(version).toString('hex')} ${String(tombstone)} ${Buffer.from(value).toString('hex')}`)
  }

  return out
}

async function drain (it: AsyncIterable<unknown>): Promise<void> {
  for await (const _ of it) {
    // the side effect is what counts
  }
}

/** Wait for `condition`, polling; fails the test if it is still false after 20 s */
async function until (condition: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 20_000

  while (!(await condition())) {
    if (Date.now() > deadline) {
      throw new Error('the condition was still false after 20 s')
    }

    await new Promise(resolve => setTimeout(resolve, 50))
  }
}

function pairs (prefix: string, count: number, size: number): Pair[] {
  return Array.from({ length: count }, (_, i) => ({
    key: new Key(`/${prefix}/${i}`),
    value: Uint8Array.from({ length: size }, (_, j) => (i * 31 + j) & 0xff)
  }))
}

afterEach(async () => {
  await Promise.all(nodes.map(async n => {
    await n.store.stop()
    await n.libp2p.stop()
  }))
  nodes = []
})

describe('anti-entropy', () => {
  it('brings a replica that missed writes while stopped to equality', async () => {
    const [a, b, c] = await replicated()
    await drain(a.store.putMany(pairs('before', 200, 64)))

    await c.store.stop()
    await drain(a.store.putMany(pairs('missed', 300, 64)))
    await a.store.put(new Key('/before/7'), Uint8Array.of(7, 7, 7))
    await a.store.delete(new Key('/before/8'))
    await c.store.start()

    expect(await childRecords(c.local)).not.toEqual(await childRecords(a.local))

    const stats = await c.store.repair()
    expect(stats.recordsPulled).toBe(302)
    expect(stats.failures).toBe(0)

    const expected = await childRecords(a.local)
    expect(expected.size).toBe(500)
    expect(await childRecords(c.local)).toEqual(expected)
    expect(await childRecords(b.local)).toEqual(expected)

    // the next round finds nothing to do
    const again = await c.store.repair()
    expect(again.slotsDiffering).toBe(stats.slotsDiffering)
    expect(again.recordsPulled + again.recordsPushed).toBe(stats.recordsPulled + stats.recordsPushed)
  })

  it('repairs only the slots two owners share, when each node shares other ranges with each peer (4 nodes, N=2)', async () => {
    const all = await replicated(4, {}, 2)
    const lost = all[1]
    await lost.store.stop()
    // with N=2 a quorum is both owners: one owner down leaves writes at one
    await drain(all[0].store.putMany(pairs('four', 400, 32), { consistency: 'one' }))
    await lost.store.start()

    for (const node of all) {
      await node.store.repair()
    }

    // every key is held, at one version, by exactly its two owners
    const children = await Promise.all(all.map(async n => childRecords(n.local)))

    for (const { key } of pairs('four', 400, 32)) {
      const owners = table.ownersOfKey(key).map(id => all.findIndex(n => n.libp2p.peerId.equals(id)))
      const held = children.map(c => c.get(key.toString()))
      expect(held.filter(h => h != null)).toHaveLength(2)
      expect(held[owners[0]]).toBeDefined()
      expect(held[owners[1]]).toBe(held[owners[0]])
    }

    expect(lost.store.repairStats().failures).toBe(0)
    // the stopped node's share came from anti-entropy (no heartbeat hands hints over here)
    expect(all.reduce((sum, n) => sum + n.store.repairStats().recordsPushed + n.store.repairStats().recordsPulled, 0)).toBeGreaterThan(100)
  })

  it('refills a replica whose store was wiped, from the side of the peers that hold the data', async () => {
    const [a, b, c] = await replicated()
    await drain(a.store.putMany(pairs('k', 1000, 100)))
    await restart(c, new MemoryDatastore())
    expect((await childRecords(c.local)).size).toBe(0)

    // the peers push: the wiped node asks for nothing
    const fromA = await a.store.repair()
    expect(fromA.recordsPushed).toBe(1000)

    const expected = await childRecords(a.local)
    expect(await childRecords(c.local)).toEqual(expected)
    expect(await childRecords(b.local)).toEqual(expected)
    // every value reads back from the refilled node alone
    expect(await c.store.get(new Key('/k/999'), { consistency: 'one' })).toEqual(pairs('k', 1000, 100)[999].value)
  })

  it('refills a replica on LevelDB whose directory was wiped, and keeps it across a restart', async () => {
    const [a, , c] = await replicated()
    const dir = await mkdtemp(join(tmpdir(), 'anti-entropy-'))

    try {
      const level = new LevelDatastore(join(dir, 'c'))
      await level.open()
      await restart(c, level)
      await drain(a.store.putMany(pairs('disk', 500, 100)))
      // a write sent while a's stream to the restarted c was going stale is c's to pull
      await c.store.repair()
      expect(await childRecords(c.local)).toEqual(await childRecords(a.local))

      // the disk is lost: an empty directory in its place
      await c.store.stop()
      await level.close()
      await rm(join(dir, 'c'), { recursive: true, force: true })
      const wiped = new LevelDatastore(join(dir, 'c'))
      await wiped.open()
      await restart(c, wiped)
      expect((await childRecords(c.local)).size).toBe(0)

      expect((await c.store.repair()).recordsPulled).toBe(500)
      const expected = await childRecords(a.local)
      expect(await childRecords(c.local)).toEqual(expected)

      // what was repaired is on disk: a restart finds it and the digests agree
      await c.store.stop()
      await wiped.close()
      const reopened = new LevelDatastore(join(dir, 'c'))
      await reopened.open()
      await restart(c, reopened)
      const before = c.store.repairStats()
      const after = await c.store.repair()
      expect(after.slotsDiffering - before.slotsDiffering).toBe(0)
      expect(await childRecords(c.local)).toEqual(expected)
      await c.store.stop()
      await reopened.close()
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('runs a round by itself when a suspected peer answers again', async () => {
    const [a, b, c] = await replicated(3, { heartbeatInterval: 100, suspectAfter: 2 })
    await drain(a.store.putMany(pairs('k', 300, 100)))

    await c.store.stop()
    await until(() => a.store.status().peers.some(p => p.peer === c.libp2p.peerId.toString() && p.state === 'suspected'))
    // wiped while down: no hint covers what it held before
    await restart(c, new MemoryDatastore())

    const expected = await childRecords(a.local)
    await until(async () => (await childRecords(c.local)).size === expected.size)
    expect(await childRecords(c.local)).toEqual(expected)
    // by rounds nobody asked for: the others pushing, or the restarted node pulling (it runs rounds too)
    const moved = a.store.repairStats().recordsPushed + b.store.repairStats().recordsPushed + c.store.repairStats().recordsPulled
    expect(moved).toBeGreaterThanOrEqual(300)
  })

  it('does not resurrect a key deleted while a replica was stopped, in either order of repair', async () => {
    const [a, b, c] = await replicated()
    await a.store.put(new Key('/gone/1'), Uint8Array.of(1))
    await a.store.put(new Key('/gone/2'), Uint8Array.of(2))

    await c.store.stop()
    await a.store.delete(new Key('/gone/1'))
    await a.store.delete(new Key('/gone/2'))
    await c.store.start()

    // c still holds the values: its repair offers them first, and is answered with the tombstones
    await c.store.repair()
    await a.store.repair()
    await b.store.repair()

    for (const node of [a, b, c]) {
      for (const name of ['/gone/1', '/gone/2']) {
        await expect(node.store.get(new Key(name), { consistency: 'one' })).rejects.toHaveProperty('name', 'NotFoundError')
        const stored = decodeStored(await node.local.get(new Key(name)))
        expect(stored.tombstone).toBe(true)
      }
    }

    expect(await childRecords(c.local)).toEqual(await childRecords(a.local))
    expect(await childRecords(b.local)).toEqual(await childRecords(a.local))

    for await (const key of c.store.queryKeys({ prefix: '/gone' })) {
      expect.fail(`deleted key ${key.toString()} came back`)
    }
  })

  it('purges a tombstone only once every owner holds it', async () => {
    // no grace: only the rule "every owner holds it" keeps a tombstone
    const [a, b, c] = await replicated(3, { tombstoneGracePeriod: 0 })
    const key = new Key('/purged')
    await a.store.put(key, Uint8Array.of(1), { consistency: 'all' })

    await c.store.stop()
    await a.store.delete(key)
    await c.store.start()
    await new Promise(resolve => setTimeout(resolve, 5))

    // c still holds the value: the tombstone is sent to it, and kept everywhere
    let stats = await a.store.repair()
    expect(stats.tombstonesPurged).toBe(0)
    expect(decodeStored(await c.local.get(key)).tombstone).toBe(true)
    expect(decodeStored(await a.local.get(key)).tombstone).toBe(true)

    // now every owner holds it: each purges its own copy, none sends it back
    stats = await a.store.repair()
    expect(stats.tombstonesPurged).toBe(1)
    expect((await b.store.repair()).tombstonesPurged).toBe(1)
    expect((await c.store.repair()).tombstonesPurged).toBe(1)

    for (const node of [a, b, c]) {
      expect(await node.local.has(key)).toBe(false)
      await node.store.repair()
      expect(await node.local.has(key)).toBe(false)
      await expect(node.store.get(key, { consistency: 'all' })).rejects.toHaveProperty('name', 'NotFoundError')
    }
  })

  it('replaces a value damaged on one owner (same version, other bytes)', async () => {
    const [a, b, c] = await replicated()
    const key = new Key('/damaged')
    await a.store.put(key, Uint8Array.of(9, 9, 9, 9), { consistency: 'all' })
    const good = await a.local.get(key)
    const { version } = decodeStored(good)

    // what a disk fault leaves: the record's header intact, its value bytes
    // different; found when the node restarts and rebuilds its digests
    await c.local.put(key, encodeStored({ version, tombstone: false, value: Uint8Array.of(0, 0, 0, 1) }))
    await restart(c)

    const stats = await c.store.repair()
    expect(stats.slotsDiffering).toBeGreaterThan(0)

    for (const node of [a, b, c]) {
      expect(await node.local.get(key)).toEqual(good)
    }
  })

  it('brings owners holding one version with two contents to one copy, whichever side repairs', async () => {
    const [a, b, c] = await replicated()
    const keys = [new Key('/twice/value'), new Key('/twice/tombstone')]

    for (const key of keys) {
      await a.store.put(key, Uint8Array.of(5, 5), { consistency: 'all' })
    }

    // c's copies order above the others' (greater bytes; a tombstone above any value)
    const [value, tombstone] = await Promise.all(keys.map(async key => decodeStored(await a.local.get(key)).version))
    await c.local.put(keys[0], encodeStored({ version: value, tombstone: false, value: Uint8Array.of(7, 7, 7) }))
    await c.local.put(keys[1], encodeStored({ version: tombstone, tombstone: true }))
    await restart(c)

    // the others start the repair: they pull c's copies, c keeps them
    await a.store.repair()
    await b.store.repair()

    // c's forged copies are format 1 (no checksum: intact); the others store them as format 2
    const expected = await childContents(c.local)
    expect(decodeStored(await c.local.get(keys[1])).tombstone).toBe(true)
    expect(await childContents(a.local)).toEqual(expected)
    expect(await childContents(b.local)).toEqual(expected)
  })

  it('builds the slot digests when started, not on the first replicated write', async () => {
    const [a, b] = await replicated()
    const child = b.local as ScanCounting

    // one scan of the child store, begun by start() with no operation made
    await until(() => child.scans === 1)
    await a.store.put(new Key('/first'), Uint8Array.of(1))
    expect(await b.store.get(new Key('/first'))).toEqual(Uint8Array.of(1))
    expect(child.scans).toBe(1)
  })

  it('exchanges scattered differences with one scan of each store per span of slots, not one per slot', async () => {
    const [a, , c] = await replicated()
    await drain(a.store.putMany(pairs('base', 2000, 16), { consistency: 'all' }))

    // 300 keys in slots at least 50 apart: before, each became its own SLOT_ENTRIES and a scan of both whole stores
    const scattered: Pair[] = []
    const taken = new Set<number>()

    for (let i = 0; scattered.length < 300; i++) {
      const key = new Key(`/scattered/${i}`)
      const slot = keySlot(key)

      if (slot % 50 === 0 && !taken.has(slot)) {
        taken.add(slot)
        scattered.push({ key, value: Uint8Array.of(i & 0xff) })
      }
    }

    await c.store.stop()
    await drain(a.store.putMany(scattered))
    await c.store.start()
    await c.store.repair()
    const before = { a: (a.local as ScanCounting).scans, c: (c.local as ScanCounting).scans }

    // a second wave of the same kind, repaired by a round of its own
    await c.store.stop()
    await drain(a.store.putMany(scattered.map(p => ({ key: p.key, value: Uint8Array.of(1, 2) }))))
    await c.store.start()
    const stats = await c.store.repair()

    // 16384 / 4096 spans at most: a answers at most 4 SLOT_ENTRIES; c scans for its own entries with each of its 2 peers
    expect((a.local as ScanCounting).scans - before.a).toBeLessThanOrEqual(4)
    expect((c.local as ScanCounting).scans - before.c).toBeLessThanOrEqual(2 * 4 + 1)
    expect(stats.recordsPulled).toBeGreaterThanOrEqual(600)
    expect(await childRecords(c.local)).toEqual(await childRecords(a.local))
  })

  it('exchanges a small fraction of the data when 10 of 10,000 keys differ', async () => {
    const [a, , c] = await replicated()
    const data = pairs('bulk', 10_000, 1024)
    // on every owner before c stops: at quorum, c's share may still be in flight when putMany returns, and is cut by the stop
    await drain(a.store.putMany(data, { consistency: 'all' }))
    const dataBytes = data.reduce((sum, p) => sum + p.key.uint8Array().byteLength + p.value.byteLength, 0)

    await c.store.stop()
    await drain(a.store.putMany(data.slice(0, 10).map(p => ({ key: p.key, value: Uint8Array.of(1, 2, 3) }))))
    await c.store.start()

    const stats = await c.store.repair()
    expect(stats.recordsPulled).toBe(10)
    // 10 keys fall in at most 10 slots, compared with each of the two peers
    expect(stats.slotsDiffering).toBeLessThanOrEqual(20)
    expect(stats.slotsCompared).toBe(2 * 16384)
    // digests per group of 64 slots (2 KiB a peer), per slot in the groups that differ, then 10 records
    expect(stats.bytesSent + stats.bytesReceived).toBeLessThan(dataBytes * 0.005)
    expect(await childRecords(c.local)).toEqual(await childRecords(a.local))

    // a round that finds nothing costs the grouped digests alone
    const again = await c.store.repair()
    expect(again.slotsDiffering).toBe(stats.slotsDiffering)
    expect(again.bytesSent + again.bytesReceived - stats.bytesSent - stats.bytesReceived).toBeLessThan(2 * 3 * 1024)
  })
})
