/**
 * The owner's record rules without a network: a table mixing replicated and
 * single-owner ranges, over a MemoryDatastore child.
 */
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { MemoryDatastore } from 'datastore-core'
import { Key } from 'interface-datastore'
import { beforeAll, describe, expect, it } from 'vitest'
import { keySlot } from '../../src/index.js'
import { Owner } from '../../src/owner/owner.js'
import { decodeStored, isIntact, makeVersion, recordDigest } from '../../src/replication/record.js'
import { Ownership } from '../../src/slots/ownership.js'
import { SlotTable } from '../../src/slots/table.js'
import type { VersionedRecord } from '../../src/owner/owner.js'
import type { PeerId } from '@libp2p/interface'

const enc = new TextEncoder()
const dec = new TextDecoder()
const EPOCH = 4

describe('owner records', () => {
  let self: PeerId
  let other: PeerId
  let table: SlotTable

  beforeAll(async () => {
    [self, other] = await Promise.all([0, 1].map(async () => peerIdFromPrivateKey(await generateKeyPair('Ed25519'))))
    table = SlotTable.fromRanges({
      epoch: EPOCH,
      ranges: [
        { start: 0, end: 8191, owners: [other, self] },
        { start: 8192, end: 16383, owners: [self] }
      ],
      peers: [{ id: self, addrs: [] }, { id: other, addrs: [] }]
    })
  })

  function makeOwner (child = new MemoryDatastore()): { owner: Owner, child: MemoryDatastore } {
    const ownership = new Ownership(table, self)
    return { owner: new Owner({ self, child, ownership: () => ownership }), child }
  }

  /** The first key `${prefix}/${i}` in a replicated (or single-owner) slot */
  function keyIn (replicated: boolean, prefix: string): Key {
    for (let i = 0; ; i++) {
      const key = new Key(`${prefix}/${i}`)
      if ((keySlot(key) < 8192) === replicated) return key
    }
  }

  const v = (n: number): Uint8Array => makeVersion(BigInt(n) << 16n, self.toMultihash().bytes)
  const rec = (key: Key, version: Uint8Array, value?: string): VersionedRecord =>
    ({ key: key.uint8Array(), version, tombstone: value == null, value: value == null ? undefined : enc.encode(value) })
  const opts = { epoch: EPOCH }

  /** The non-zero digests by slot: deep equality over 128 KiB arrays is slow */
  async function digests (owner: Owner): Promise<Record<number, string>> {
    const all = await owner.slotDigests(0, 16383, opts)
    const out: Record<number, string> = {}

    for (let slot = 0; slot < 16384; slot++) {
      const digest = Buffer.from(all.subarray(slot * 8, slot * 8 + 8)).toString('hex')
      if (digest !== '0000000000000000') out[slot] = digest
    }

    return out
  }

  it('answers a record query for the slots of a slot set only, with one scan, and refuses a malformed set', async () => {
    const { owner } = makeOwner()
    const keys = Array.from({ length: 200 }, (_, i) => new Key(`/set/${i}`)).filter(key => keySlot(key) < 8192)
    await owner.applyRecords(keys.map((key, i) => rec(key, v(i + 1), `v${i}`)), opts)

    // the slots of every other key, as a bitmap over the range they span
    const wanted = keys.filter((_, i) => i % 2 === 0).map(key => keySlot(key)).sort((a, b) => a - b)
    const start = wanted[0]
    const end = wanted[wanted.length - 1]
    const set = new Uint8Array(((end - start) >> 3) + 1)
    wanted.forEach(slot => { set[(slot - start) >> 3] |= 1 << ((slot - start) & 7) })

    const got: string[] = []

    for await (const record of owner.queryRecords('/set', false, opts, { start, end, set })) {
      got.push(dec.decode(record.key))
      expect(record.value).toBeDefined()
    }

    const expected = keys.filter(key => wanted.includes(keySlot(key))).map(key => key.toString())
    expect(got.sort()).toEqual(expected.sort())
    // without a set: every record
    let all = 0

    for await (const _ of owner.queryRecords('/set', true, opts)) {
      all++
    }

    expect(all).toBe(keys.length)
    // a set longer than its range needs is refused before anything is read
    expect(() => owner.queryRecords('/set', false, opts, { start: 10, end: 20, set: new Uint8Array(3) })).toThrow(/at most 2 bytes/)
    expect(() => owner.queryRecords('/set', false, opts, { start: 20, end: 10, set: new Uint8Array(1) })).toThrow()
  })

  it('keeps single-owner slots on plain values and refuses records there', async () => {
    const { owner, child } = makeOwner()
    const key = keyIn(false, '/single')

    await owner.put(key, enc.encode('plain'), opts)
    expect(dec.decode(await child.get(key))).toBe('plain')
    expect(dec.decode(await owner.get(key, opts))).toBe('plain')

    await expect(owner.applyRecords([rec(key, v(1), 'x')], opts)).rejects.toThrow(/single owner.*GET, PUT/)
    await expect(owner.getRecord(key, opts)).rejects.toThrow(/single owner/)
    expect(dec.decode(await child.get(key))).toBe('plain')
  })

  it('takes concurrent writes of one key in arrival order, refusing the older', async () => {
    const { owner } = makeOwner()
    const key = keyIn(true, '/race')
    const [first, second] = await Promise.all([
      owner.applyRecords([rec(key, v(20), 'new')], opts),
      owner.applyRecords([rec(key, v(10), 'old')], opts)
    ])

    expect(first).toEqual([undefined])
    expect(second[0]?.version).toEqual(v(20))
    expect(dec.decode((await owner.getRecord(key, opts))?.value)).toBe('new')
  })

  it('refuses a version further ahead of its wall clock than the clock allows', async () => {
    const { owner, child } = makeOwner()
    const key = keyIn(true, '/future')
    const future = makeVersion(BigInt(Date.now() + owner.clock.maxAhead + 60_000) << 16n, self.toMultihash().bytes)

    await expect(owner.applyRecords([rec(key, future, 'x')], opts)).rejects.toThrow(/ahead of this owner's wall clock/)
    expect(await child.has(key)).toBe(false)
    expect(owner.clock.current).toBeLessThan(BigInt(Date.now() + 60_000) << 16n)
  })

  it('counts only live keys of the slots it is primary of', async () => {
    const { owner } = makeOwner()
    await owner.put(keyIn(false, '/count/plain'), enc.encode('x'), opts)
    // this node is the second owner of the replicated range: not counted
    await owner.applyRecords([rec(keyIn(true, '/count/replica'), v(1), 'x')], opts)

    expect(await owner.countKeys()).toBe(1)
  })

  it('purges a tombstone only while it is still the record held at that version', async () => {
    const { owner, child } = makeOwner()
    const dead = keyIn(true, '/purge/dead')
    const revived = keyIn(true, '/purge/revived')

    await owner.applyRecords([rec(dead, v(1), 'a'), rec(revived, v(1), 'b')], opts)
    const live = await digests(owner)
    await owner.applyRecords([rec(dead, v(2)), rec(revived, v(2))], opts)
    await owner.applyRecords([rec(revived, v(3), 'back')], opts)

    const purged = await owner.purgeTombstones([
      { key: dead.uint8Array(), version: v(2), tombstone: true },
      { key: revived.uint8Array(), version: v(2), tombstone: true }
    ], opts)

    expect(purged).toBe(1)
    expect(await child.has(dead)).toBe(false)
    expect(dec.decode((await owner.getRecord(revived, opts))?.value)).toBe('back')
    // the digests forgot the purged tombstone: as if the dead key had never been written
    const fresh = makeOwner().owner
    await fresh.applyRecords([rec(revived, v(3), 'back')], opts)
    const after = await digests(owner)
    expect(after).toEqual(await digests(fresh))
    expect(after).not.toEqual(live)
  })

  it('lets other work run during a scan of its store (slot entries, record queries, digest rebuild)', async () => {
    const { owner, child } = makeOwner()
    const records: VersionedRecord[] = []

    for (let i = 0; records.length < 3000; i++) {
      const key = new Key(`/scan/${i}`)
      if (keySlot(key) < 8192) records.push(rec(key, v(1), 'x'))
    }

    await owner.applyRecords(records, opts)

    /** Turns of the event loop (macrotasks) taken while `scan` runs: none when a scan holds the loop to itself */
    async function turnsDuring (scan: () => Promise<number>): Promise<{ turns: number, seen: number }> {
      let turns = 0
      let running = true
      const tick = (): void => {
        if (!running) return
        turns++
        setImmediate(tick)
      }
      setImmediate(tick)
      const seen = await scan()
      running = false
      return { turns, seen }
    }

    const count = async (it: AsyncIterable<unknown>): Promise<number> => {
      let n = 0
      for await (const _ of it) n++
      return n
    }

    const entries = await turnsDuring(async () => count(owner.slotEntries(0, 16383, opts)))
    expect(entries.seen).toBe(3000)
    expect(entries.turns).toBeGreaterThan(1)

    const queried = await turnsDuring(async () => count(owner.queryRecords(undefined, true, opts)))
    expect(queried.seen).toBe(3000)
    expect(queried.turns).toBeGreaterThan(1)

    // a new owner over the same child rebuilds its digests with one scan, on its first replicated call
    const rebuilt = await turnsDuring(async () => { await makeOwner(child).owner.start(); return 0 })
    expect(rebuilt.turns).toBeGreaterThan(1)
  })

  it('keeps its digests right when a newer write replaces a damaged record it has not read yet', async () => {
    const { owner, child } = makeOwner()
    const key = keyIn(true, '/damaged-then-written')
    const other = keyIn(true, '/bystander')
    await owner.applyRecords([rec(key, v(1), 'first'), rec(other, v(1), 'stays')], opts)

    // one byte of the stored value flipped behind the owner's back
    const stored = await child.get(key)
    const damaged = Uint8Array.from(stored)
    damaged[damaged.byteLength - 1] ^= 0xff
    await child.put(key, damaged)

    expect(await owner.applyRecords([rec(key, v(2), 'second')], opts)).toEqual([undefined])
    expect(dec.decode((await owner.getRecord(key, opts))?.value)).toBe('second')

    const fresh = makeOwner().owner
    await fresh.applyRecords([rec(other, v(1), 'stays'), rec(key, v(2), 'second')], opts)
    expect(await digests(owner)).toEqual(await digests(fresh))
    expect(await digests(makeOwner(child).owner)).toEqual(await digests(fresh))
  })

  it('gives the checksum with the records of a bulk copy, and stores a copied record with the checksum it came with', async () => {
    const { owner: sender } = makeOwner()
    const [good, bad] = [keyIn(true, '/copied-good'), keyIn(true, '/copied-bad')]
    await sender.applyRecords([rec(good, v(1), 'good'), rec(bad, v(1), 'bad')], opts)

    const copied: VersionedRecord[] = []

    for await (const record of sender.slotRecords(0, 8191, opts)) {
      copied.push(record)
    }

    // each record comes with the checksum it is stored with: the one its content hashes to
    expect(copied.map(r => dec.decode(r.key)).sort()).toEqual([bad.toString(), good.toString()].sort())

    for (const record of copied) {
      expect(record.checksum).toBe(recordDigest(record.key, record))
    }

    // the receiver stores the checksum as sent, without hashing again: a wrong one makes the copy read as damaged
    const { owner: receiver, child } = makeOwner()
    const wrong = copied.map(r => dec.decode(r.key) === bad.toString() ? { ...r, checksum: (r.checksum ?? 0n) ^ 1n } : r)
    expect(await receiver.applyRecords(wrong, opts)).toEqual([undefined, undefined])

    const held = decodeStored(await child.get(bad))
    expect(held.checksum).toBe(recordDigest(bad.uint8Array(), rec(bad, v(1), 'bad')) ^ 1n)
    expect(isIntact(bad.uint8Array(), held)).toBe(false)
    expect(await receiver.getRecord(bad, opts)).toBeUndefined()
    expect(dec.decode((await receiver.getRecord(good, opts))?.value)).toBe('good')

    // a repair (the same record, from a pull that carries no checksum) writes an intact copy over it
    expect(await receiver.applyRecords([rec(bad, v(1), 'bad')], opts)).toEqual([undefined])
    expect(dec.decode((await receiver.getRecord(bad, opts))?.value)).toBe('bad')
    expect(isIntact(bad.uint8Array(), decodeStored(await child.get(bad)))).toBe(true)
    expect(await digests(receiver)).toEqual(await digests(sender))
  })

  it('keeps digests per write equal to those rebuilt from the child', async () => {
    const { owner, child } = makeOwner()
    let seed = 7
    const random = (n: number): number => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed % n }

    for (let round = 0; round < 300; round++) {
      const key = keyIn(true, `/random/${random(40)}`)
      const tombstone = random(4) === 0
      await owner.applyRecords([rec(key, v(random(50) + 1), tombstone ? undefined : `value ${random(3)}`)], opts)
    }

    const rebuilt = makeOwner(child).owner
    const kept = await digests(owner)
    expect(await digests(rebuilt)).toEqual(kept)
    expect(Object.keys(kept).length).toBeGreaterThan(5)
  })
})
