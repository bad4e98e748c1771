import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { MemoryDatastore } from 'datastore-core'
import { LevelDatastore } from 'datastore-level'
import { Key } from 'interface-datastore'
import { afterEach, describe, expect, it } from 'vitest'
import { ClusterDatastore, SlotTable } from '../../src/index.js'
import { compareVersions, decodeStored, encodeStored, isIntact, makeVersion, RECORD_FORMAT } from '../../src/replication/record.js'
import { createNode } from '../utils/cluster.js'
import type { ClusterNode } from '../utils/cluster.js'
import type { ClusterDatastoreOptions } from '../../src/index.js'
import type { Datastore } from 'interface-datastore'

/**
 * A value damaged in one owner's child store (same record header, same
 * version, other value bytes) is never served and is replaced by the good
 * copy: records carry a checksum, a damaged one counts as absent.
 */

type Node = ClusterNode

/** What repairs is the read or the round (`repair()`) a test makes: no background round, no heartbeat after the first */
const OPTIONS: ClusterDatastoreOptions = { antiEntropyInterval: 3_600_000, heartbeatInterval: 3_600_000, requestTimeout: 5000 }

/** The good value's first byte: damage sets it to ABOVE or BELOW, so the damaged copy orders above or below the good one */
const GOOD = Uint8Array.of(0x80, 1, 2, 3, 4, 5, 6, 7)
const ABOVE = 0xff
const BELOW = 0x01

let nodes: Node[] = []
let table: SlotTable
let cleanup: Array<() => Promise<void>> = []

async function replicated (child: () => Promise<Datastore> = async () => new MemoryDatastore()): Promise<Node[]> {
  const peers = await Promise.all(Array.from({ length: 3 }, async () => createNode()))
  table = SlotTable.even(peers.map(p => ({ id: p.peerId, addrs: p.getMultiaddrs() })), { epoch: 1, replicas: 3 })
  nodes = await Promise.all(peers.map(async libp2p => {
    const local = await child()
    return { libp2p, local, store: new ClusterDatastore(libp2p, local, table, OPTIONS) }
  }))
  await Promise.all(nodes.map(async n => n.store.start()))
  return nodes
}

/** The node's store again over the same child: its digests are rebuilt from what the child holds */
async function restart (node: Node): Promise<void> {
  await node.store.stop()
  node.store = new ClusterDatastore(node.libp2p, node.local, table, OPTIONS)
  await node.store.start()
}

/**
 * What a disk fault leaves: the first byte of the record's VALUE set to
 * `byte` directly in the child, header, version and checksum untouched
 */
async function damage (local: Datastore, key: Key, byte: number): Promise<Uint8Array> {
  const stored = await local.get(key)
  const { value } = decodeStored(stored)
  const damaged = stored.slice()
  damaged[stored.byteLength - value.byteLength] = byte
  await local.put(key, damaged)

  const record = decodeStored(damaged)
  expect(isIntact(key.uint8Array(), record)).toBe(false)
  return record.value
}

afterEach(async () => {
  await Promise.all(nodes.map(async n => {
    await n.store.stop()
    await n.libp2p.stop()
  }))
  nodes = []

  for (const clean of cleanup) {
    await clean()
  }

  cleanup = []
})

describe('damaged records', () => {
  it('are stored with a checksum (format 2) that matches', async () => {
    const [a, b, c] = await replicated()
    const key = new Key('/damage/format')
    await a.store.put(key, GOOD, { consistency: 'all' })

    for (const node of [a, b, c]) {
      const stored = await node.local.get(key)
      expect(stored[1]).toBe(RECORD_FORMAT)
      expect(isIntact(key.uint8Array(), decodeStored(stored))).toBe(true)
      expect(decodeStored(stored).value).toEqual(GOOD)
    }
  })

  for (const [name, byte] of [['above', ABOVE], ['below', BELOW]] as const) {
    it(`a quorum read on the damaged owner answers the good value and read repair rewrites it (damage ordering ${name} the good copy)`, async () => {
      const [a, , c] = await replicated()
      const key = new Key(`/damage/read/${name}`)
      await a.store.put(key, GOOD, { consistency: 'all' })
      const good = await a.local.get(key)
      const damaged = await damage(c.local, key, byte)
      expect(Math.sign(compareVersions(damaged, GOOD))).toBe(name === 'above' ? 1 : -1)

      // c asks its own owner first: its copy is damaged, so it is no answer
      expect(await c.store.get(key)).toEqual(GOOD)
      expect(await c.local.get(key)).toEqual(good)

      // the digests agree again: a round finds nothing to repair
      const before = c.store.repairStats().slotsDiffering
      await c.store.repair()
      expect(c.store.repairStats().slotsDiffering - before).toBe(0)
    })
  }

  it('a read at consistency all from another node finds the damaged owner missing and repairs it (damage ordering above)', async () => {
    const [a, , c] = await replicated()
    const key = new Key('/damage/remote')
    await a.store.put(key, GOOD, { consistency: 'all' })
    const good = await a.local.get(key)
    await damage(c.local, key, ABOVE)

    expect(await a.store.get(key, { consistency: 'all' })).toEqual(GOOD)
    expect(await c.local.get(key)).toEqual(good)
  })

  it('a read at consistency one on the node holding the damaged copy reads another owner', async () => {
    const [a, , c] = await replicated()
    const keys = [new Key('/damage/one/above'), new Key('/damage/one/below'), new Key('/damage/one/flag')]

    for (const key of keys) {
      await a.store.put(key, GOOD, { consistency: 'all' })
    }

    await damage(c.local, keys[0], ABOVE)
    await damage(c.local, keys[1], BELOW)
    // the tombstone flag set on a value: not a delete
    const stored = (await c.local.get(keys[2])).slice()
    stored[2] |= 1
    await c.local.put(keys[2], stored)

    for (const key of keys) {
      expect(await c.store.get(key, { consistency: 'one' })).toEqual(GOOD)
      expect(await c.store.has(key, { consistency: 'one' })).toBe(true)
    }

    // getMany reads through recordsOf: same rule
    const many: Array<Uint8Array | undefined> = []

    for await (const { value } of c.store.getMany(keys, { consistency: 'one' })) {
      many.push(value)
    }

    expect(many).toEqual([GOOD, GOOD, GOOD])

    for (const key of keys) {
      expect(await c.local.get(key)).toEqual(await a.local.get(key))
    }
  })

  it('queries on the damaged owner do not show the damaged copy', async () => {
    const [a, , c] = await replicated()
    const key = new Key('/damage/query/k')
    await a.store.put(key, GOOD, { consistency: 'all' })
    await damage(c.local, key, ABOVE)

    const found: Array<{ key: string, value: Uint8Array }> = []

    for await (const pair of c.store.query({ prefix: '/damage/query' }, { consistency: 'one' })) {
      found.push({ key: pair.key.toString(), value: pair.value })
    }

    expect(found).toEqual([{ key: key.toString(), value: GOOD }])
  })

  it('an anti-entropy round replaces damaged copies found at restart, whichever way the damage orders', async () => {
    const [a, b, c] = await replicated()
    const keys = [new Key('/damage/ae/above'), new Key('/damage/ae/below')]

    for (const key of keys) {
      await a.store.put(key, GOOD, { consistency: 'all' })
    }

    const good = await Promise.all(keys.map(async key => a.local.get(key)))
    await damage(c.local, keys[0], ABOVE)
    await damage(c.local, keys[1], BELOW)

    // the restart rebuilds c's digests: a damaged record counts as absent there
    await restart(c)
    const stats = await c.store.repair()
    expect(stats.slotsDiffering).toBeGreaterThan(0)

    for (const node of [a, b, c]) {
      for (const [i, key] of keys.entries()) {
        expect(await node.local.get(key)).toEqual(good[i])
      }
    }

    // converged: nothing differs any more, from any side
    for (const node of [a, b, c]) {
      const before = node.store.repairStats().slotsDiffering
      await node.store.repair()
      expect(node.store.repairStats().slotsDiffering - before).toBe(0)
    }
  })

  it('scrub() finds damage made while the node runs (no read, no restart) and repairs it from the other owners', async () => {
    const [a, b, c] = await replicated()
    const keys = [new Key('/damage/scrub/above'), new Key('/damage/scrub/below'), new Key('/damage/scrub/intact')]

    for (const key of keys) {
      await a.store.put(key, GOOD, { consistency: 'all' })
    }

    const good = await Promise.all(keys.map(async key => a.local.get(key)))
    await damage(c.local, keys[0], ABOVE)
    await damage(c.local, keys[1], BELOW)

    // c's digests still count the damaged records as held (no read touched them, no restart rebuilt the digests)
    expect(await c.local.get(keys[0])).not.toEqual(good[0])

    const found = await c.store.scrub()
    expect(found).toEqual({ checked: keys.length, damaged: 2 })

    for (const node of [a, b, c]) {
      for (const [i, key] of keys.entries()) {
        expect(await node.local.get(key)).toEqual(good[i])
      }
    }

    // nothing damaged is left
    expect(await c.store.scrub()).toEqual({ checked: keys.length, damaged: 0 })
  })

  it('stop() during a scrub of a large store ends it: the scrub rejects, nothing is left running', async () => {
    const [, , c] = await replicated()
    const version = makeVersion(BigInt(Date.now()) << 16n, c.libp2p.peerId.toMultihash().bytes)
    const batch = c.local.batch()

    // records straight into the child store: many for a scan that yields every few hundred
    for (let i = 0; i < 50_000; i++) {
      const key = new Key(`/damage/scrub/many/${i}`)
      batch.put(key, encodeStored({ version, tombstone: false, value: GOOD }, key.uint8Array()))
    }

    await batch.commit()

    const scrub = c.store.scrub()
    const settled = scrub.then(() => 'resolved', (err: Error) => err.name)
    await c.store.stop()

    expect(await settled).toBe('NotStartedError')
    // a scrub asked of a stopped store is refused, not started
    await expect(c.store.scrub()).rejects.toThrow(expect.objectContaining({ name: 'NotStartedError' }))
  })

  it('scrubs every scrubInterval while started', async () => {
    const [a, , c] = await replicated()
    const key = new Key('/damage/scrub/timer')
    await a.store.put(key, GOOD, { consistency: 'all' })
    const good = await a.local.get(key)

    await c.store.stop()
    c.store = new ClusterDatastore(c.libp2p, c.local, table, { ...OPTIONS, scrubInterval: 200 })
    await c.store.start()
    await damage(c.local, key, ABOVE)

    await expect.poll(async () => c.local.get(key), { timeout: 10_000 }).toEqual(good)
  })

  it('the intact owners repairing first (comparing with the damaged one) do not take the damage', async () => {
    const [a, b, c] = await replicated()
    const key = new Key('/damage/ae/first')
    await a.store.put(key, GOOD, { consistency: 'all' })
    const good = await a.local.get(key)
    await damage(c.local, key, ABOVE)
    await restart(c)

    // a and b compare with c first: c lacks the key, so they push theirs
    await a.store.repair()
    await b.store.repair()

    for (const node of [a, b, c]) {
      expect(await node.local.get(key)).toEqual(good)
    }
  })

  it('a damaged key takes any intact record, even an older version; the newest comes back from the other owners', async () => {
    // the chosen rule: a damaged record holds nothing (its version cannot be
    // trusted), so an older intact record is applied over it, and the newest
    // version, held by the other owners, is brought back by anti-entropy
    const [a, , c] = await replicated()
    const key = new Key('/damage/older')
    await a.store.put(key, Uint8Array.of(1), { consistency: 'all' })
    const older = decodeStored(await a.local.get(key))
    const olderRecord = { key: key.uint8Array(), value: older.value.slice(), version: older.version.slice(), tombstone: false }
    await a.store.put(key, GOOD, { consistency: 'all' })
    const newest = await a.local.get(key)
    await damage(c.local, key, ABOVE)

    const owner = (c.store as any).owner
    expect(await owner.applyRecords([olderRecord], { epoch: table.epoch })).toEqual([undefined])
    expect(decodeStored(await c.local.get(key)).value).toEqual(Uint8Array.of(1))

    await c.store.repair()
    expect(await c.local.get(key)).toEqual(newest)
  })

  it('on LevelDB: a quorum read and an anti-entropy round replace damaged values', async () => {
    const dirs: string[] = []
    cleanup.push(async () => {
      await Promise.all(dirs.map(async dir => rm(dir, { recursive: true, force: true })))
    })
    const [a, , c] = await replicated(async () => {
      const dir = await mkdtemp(join(tmpdir(), 'damage-'))
      dirs.push(dir)
      const store = new LevelDatastore(dir)
      await store.open()
      cleanup.unshift(async () => { await store.close() })
      return store
    })
    const read = new Key('/damage/level/read')
    const repaired = new Key('/damage/level/repair')

    for (const key of [read, repaired]) {
      await a.store.put(key, GOOD, { consistency: 'all' })
    }

    const good = await Promise.all([read, repaired].map(async key => a.local.get(key)))
    await damage(c.local, read, ABOVE)
    await damage(c.local, repaired, ABOVE)

    expect(await c.store.get(read, { consistency: 'one' })).toEqual(GOOD)
    expect(await c.local.get(read)).toEqual(good[0])

    await restart(c)
    await c.store.repair()
    expect(await c.local.get(repaired)).toEqual(good[1])
    expect(await a.local.get(repaired)).toEqual(good[1])
  })
})
