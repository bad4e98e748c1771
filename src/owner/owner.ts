import { logger } from '@libp2p/logger'
import { Key } from 'interface-datastore'
import { SLOT_COUNT } from '../constants.js'
import { HybridClock } from '../replication/clock.js'
import { compareVersions, decodeStored, encodeStored, isIntact, versionClock } from '../replication/record.js'
import { badRequest } from '../rpc/request-error.js'
import { keySlot } from '../slots/hash.js'
import { SlotDigests } from './digests.js'
import { isReserved, keyProblem } from './keys.js'
import { notOwned } from './role.js'
import { SCAN_TURN, breathing } from './scan.js'
import { Response } from '../pb/message.js'
import { RequestError } from '../rpc/request-error.js'
import { SlotWriteOrder } from './write-order.js'
import type { StoredRecord } from '../replication/record.js'
import type { Ownership } from '../slots/ownership.js'
import type { AbortOptions, Logger, PeerId } from '@libp2p/interface'
import type { Datastore, Pair } from 'interface-datastore'

export interface OwnerInit {
  self: PeerId
  /** The last record write being applied under some table epoch ended (see `applyingBefore`) */
  drained?(): void
  /** This node's share of the data */
  child: Datastore
  /** The ownership under the table in force (the newest) */
  ownership(): Ownership
  /**
   * During a slot table transition, the ownership under the old table, still
   * in force: its replicated slots are held too, and read by callers still
   * on it (writes under it are refused: see `servesRecord`)
   */
  previous?(): Ownership | undefined
  /**
   * The ownership under the last table retired: a replica request for a slot
   * held only under it is answered MOVED (the caller is still in that
   * transition), not BAD_REQUEST
   */
  retired?(): Ownership | undefined
  /**
   * The node's hybrid logical clock, shared with its coordinator; default a
   * new clock naming `self`
   */
  clock?: HybridClock
  /** Where damaged records are reported; default the `datastore-cluster:owner` logger */
  log?: Logger
}

/**
 * A versioned record of a replicated slot: a value, or a tombstone for a
 * deleted key (structurally the protocol's `Record`)
 */
export interface VersionedRecord {
  key: Uint8Array
  /** Absent for a tombstone, and in the answers of key-only queries */
  value?: Uint8Array
  /** See `makeVersion`; empty for a value stored before its slot was replicated */
  version: Uint8Array
  tombstone: boolean
  /**
   * Only with `OwnerOptions.markDamaged`: this owner's record of the key is
   * damaged (its checksum does not match), so it holds no answer for it; the
   * version is empty and there is no value
   */
  damaged?: true
  /**
   * Only in the records of a bulk copy (SLOT_ENTRIES `with_values`): the
   * checksum the sending owner stored the record with and checked before
   * sending it. `applyRecords` stores the record with it rather than hashing
   * the record again; a wrong one only makes the copy read as damaged, and
   * repaired. Whatever changes a record must not keep it.
   */
  checksum?: bigint
}

/** A record without its value, as anti-entropy compares them */
export interface SlotEntry {
  key: Uint8Array
  version: Uint8Array
  tombstone: boolean
}

/**
 * Some slots among `start`..`end`: those `set` marks (a bitmap: bit i, least
 * significant first in byte i >> 3, is slot `start + i`)
 */
export interface SlotFilter {
  start: number
  end: number
  set: Uint8Array<ArrayBuffer>
}

export interface OwnerOptions extends AbortOptions {
  /**
   * The slot table epoch the caller routed with: a local call passes the
   * epoch of the table it routed with, a remote one the epoch of its request
   */
  epoch: number
  /**
   * `getRecord` and `recordsOf` answer a damaged record with a record marked
   * `damaged` (empty version, no value) instead of undefined, so a
   * coordinator reading this node's own share knows to ask another owner
   * (over the wire a damaged record is NOT_FOUND / missing)
   */
  markDamaged?: boolean
}

const NO_VALUE = new Uint8Array(0)
/** Keys deleted per batch when a transition drops the slots given away */
const DROP_CHUNK = 1024
/** The largest DIGESTS group: 2^14 slots, the whole table */
const MAX_SLOT_GROUP = 14

/**
 * The owner's side of every operation, and the only code that touches the
 * child store. Local calls and RPC handlers both come here, so the two paths
 * apply the same rules:
 *
 * - role: a slot with one owner is read and written only on it (plain values,
 *   GET/PUT/...); anyone else refuses (MOVED or BAD_REQUEST, see `notOwned`).
 *   A replicated slot (several owners) is read and written by every owner
 *   through the record methods (`getRecord`, `applyRecords`, ...), as
 *   versioned records (`encodeStored`); its plain operations are refused, since
 *   a write to one owner without a version would never reach the others;
 * - order: writes sharing a key take effect in the order they arrived
 *   (`SlotWriteOrder`), writes on other slots run concurrently;
 * - versions: a record is applied only if newer than the one held, so an
 *   owner never silently keeps a newer value than one it acknowledged;
 * - queries answer only for the slots this node is primary of (record
 *   queries: owner of), and never show the reserved namespace
 *   (`RESERVED_NAMESPACE`) nor tombstones;
 * - damage: every record read is checked against its checksum (`isIntact`).
 *   A damaged record is treated as absent: reads, record queries and slot
 *   entries do not show it, it counts in no digest (so its slot's digest
 *   differs from intact owners' and anti-entropy repairs it), it is logged
 *   once, and any intact record of the key is applied over it whatever its
 *   version. Not "only a newer one": the damaged record's own version cannot
 *   be trusted, and keeping the rule "newer than held" would need it. An
 *   older intact record applied over a damaged newer one is no roll back
 *   that sticks: the other owners hold the newer version, and read repair
 *   and anti-entropy bring it here like to any owner that missed a write.
 *
 * Keys given to its methods are already well formed (checked by the API, or
 * by `decodeKey` for keys from the wire); the role is checked here, for every
 * key, before anything is read or written.
 */
export class Owner {
  /** The node's clock: every record seen advances it */
  readonly clock: HybridClock
  private readonly init: OwnerInit
  private readonly writes: SlotWriteOrder
  private readonly digests: SlotDigests
  /** The digests are rebuilt from the child store, once */
  private rebuilt?: Promise<void>
  /** Per ownership, 1 per slot with several owners (computed once per table) */
  private readonly replicated: WeakMap<Ownership, Uint8Array>
  /** Record writes being applied, by the caller's epoch */
  private readonly applying: Map<number, number>
  private readonly log: Logger
  /**
   * Keys whose stored record is damaged, found and logged, and whose term is
   * out of their slot's digest (they count as holding nothing); a key leaves
   * when a record is written over its damaged one
   */
  private readonly damaged: Set<string>

  constructor (init: OwnerInit) {
    this.init = init
    this.log = init.log ?? logger('datastore-cluster:owner')
    this.damaged = new Set()
    this.clock = init.clock ?? new HybridClock({ self: init.self })
    this.writes = new SlotWriteOrder()
    this.digests = new SlotDigests()
    this.replicated = new WeakMap()
    this.applying = new Map()
  }

  /**
   * Rebuild the per-slot digests with one scan of the child store. Done on
   * the first replicated operation otherwise; writes of records wait for it.
   */
  async start (options: AbortOptions = {}): Promise<void> {
    await this.digestsReady(options)
  }

  /**
   * A key from the wire: well formed, valid UTF-8, canonical and outside the
   * reserved namespace, or a BAD_REQUEST naming what is wrong
   */
  decodeKey (bytes: Uint8Array | undefined): Key {
    const problem = bytes == null ? 'a key must be a non-empty path starting with "/"' : keyProblem(bytes)

    if (problem != null) {
      throw badRequest(problem)
    }

    return new Key(bytes as Uint8Array, false)
  }

  async get (key: Key, options: OwnerOptions): Promise<Uint8Array> {
    this.serves(key, options.epoch)
    return this.init.child.get(key, options)
  }

  async has (key: Key, options: OwnerOptions): Promise<boolean> {
    this.serves(key, options.epoch)
    return this.init.child.has(key, options)
  }

  async put (key: Key, value: Uint8Array, options: OwnerOptions): Promise<void> {
    await this.writes.run([this.serves(key, options.epoch)], async () => {
      await this.init.child.put(key, value, options)
    })
  }

  async delete (key: Key, options: OwnerOptions): Promise<void> {
    await this.writes.run([this.serves(key, options.epoch)], async () => {
      await this.init.child.delete(key, options)
    })
  }

  /**
   * Puts, then deletes, as one batch of the child store — the order a single
   * store's batch applies them in, so a later put of a key wins over an
   * earlier one. Every key is checked first: one refused key writes nothing.
   */
  async batch (puts: readonly Pair[], deletes: readonly Key[], options: OwnerOptions): Promise<void> {
    const slots = new Uint16Array(puts.length + deletes.length)
    let i = 0

    for (const { key } of puts) {
      slots[i++] = this.serves(key, options.epoch)
    }

    for (const key of deletes) {
      slots[i++] = this.serves(key, options.epoch)
    }

    await this.writes.run(slots, async () => {
      const batch = this.init.child.batch()

      for (const { key, value } of puts) {
        batch.put(key, value)
      }

      for (const key of deletes) {
        batch.delete(key)
      }

      await batch.commit(options)
    })
  }

  /**
   * The values of `keys` in order, undefined for a missing key. Every key is
   * checked before anything is read.
   */
  getMany (keys: readonly Key[], options: OwnerOptions): AsyncGenerator<Uint8Array | undefined> {
    for (const key of keys) {
      this.serves(key, options.epoch)
    }

    return this.values(keys, options)
  }

  /**
   * Every pair (or key, with an empty value, when `keysOnly`) under `prefix`
   * in the slots this node is primary of, in the child store's order. Both
   * sides must route with the same table, or the caller could miss or
   * double-count slots: a caller on another epoch is refused.
   */
  query (prefix: string | undefined, keysOnly: boolean, options: OwnerOptions): AsyncGenerator<Pair> {
    const ownership = this.init.ownership()

    if (options.epoch !== ownership.table.epoch) {
      throw notOwned(undefined, options.epoch, ownership, this.init.self)
    }

    return this.pairs(ownership, prefix, keysOnly, options)
  }

  /**
   * The record held for `key` (a tombstone for a deleted key), or undefined
   * when none is held. Any owner of the key's replicated slot answers.
   */
  async getRecord (key: Key, options: OwnerOptions): Promise<VersionedRecord | undefined> {
    const bytes = key.uint8Array()
    const slot = this.servesRecord(bytes, options.epoch)
    const stored = await this.readStored(key, options)

    if (stored == null) {
      this.stillServes(bytes, options.epoch)
      return undefined
    }

    if (!this.checked(bytes, slot, stored)) {
      return options.markDamaged === true ? damagedRecord(bytes) : undefined
    }

    return toRecord(bytes, stored, false)
  }

  /**
   * The records of `keys` in order, undefined where none is held. Every key
   * is checked before anything is read.
   */
  /**
   * The versions held for `keys`, in order (undefined where none is held),
   * without values and without checking checksums: a writer's version read
   * (REPLICA_VERSIONS). A damaged record's version may be wrong, and that is
   * harmless here: a version read too high is ignored past the clock's
   * bound or only makes the write newer, and the write replaces the damaged
   * record whatever its version (see the class); one read too low is what
   * treating it as absent would give.
   */
  async versionsOf (keys: readonly Key[], options: OwnerOptions): Promise<Array<{ version: Uint8Array, tombstone: boolean } | undefined>> {
    for (const key of keys) {
      this.servesRecord(key.uint8Array(), options.epoch)
    }

    return Promise.all(keys.map(async key => {
      const stored = await this.readStored(key, options)

      if (stored == null) {
        this.stillServes(key.uint8Array(), options.epoch)
      }

      return stored == null || stored.version.byteLength === 0 ? undefined : { version: stored.version, tombstone: stored.tombstone }
    }))
  }

  recordsOf (keys: readonly Key[], options: OwnerOptions): AsyncGenerator<VersionedRecord | undefined> {
    for (const key of keys) {
      this.servesRecord(key.uint8Array(), options.epoch)
    }

    return this.heldRecords(keys, options)
  }

  /**
   * A read found nothing for `key`: it still answers for it, or it throws
   * the refusal it would give now. A move's end drops the slots given away
   * (`dropRecords`) while reads that were let in before it may still be
   * waiting on the child store; one of those finding the record gone must
   * not answer "none held", or a quorum of old owners could report an
   * acknowledged key missing. Once the old table is retired the check
   * refuses (MOVED, with this node's trackers), and the caller reads the
   * new owners instead.
   */
  private stillServes (key: Uint8Array, callerEpoch: number): void {
    this.servesRecord(key, callerEpoch)
  }

  /**
   * Apply each record whose version is newer than the one held for its key,
   * with one batch of the child store (the version is stored with the value,
   * so neither is ever written without the other). Returns, per record,
   * undefined when it was applied or its version was already held, or the
   * newer record held instead, which the caller must not count as written.
   * Records of one call apply in order, so a later record of a key is
   * compared with an earlier one. Every key is checked first: one refused key
   * writes nothing.
   *
   * A record with an empty version is a value written while its slot had a
   * single owner, copied as it is to the owners it gained since (a move that
   * raises a slot's replicas, anti-entropy, read repair): the oldest a record
   * can be, applied only where the key holds nothing, replaced by any
   * versioned write.
   */
  async applyRecords (records: readonly VersionedRecord[], options: OwnerOptions): Promise<Array<VersionedRecord | undefined>> {
    const slots = new Uint16Array(records.length)

    records.forEach((record, i) => {
      slots[i] = this.servesRecord(record.key, options.epoch, true)

      if (record.version.byteLength > 255) {
        throw badRequest(`the record of ${new Key(record.key, false).toString()} has a version of ${record.version.byteLength} bytes; a version is at most 255 bytes`)
      }

      if (!this.clock.plausible(versionClock(record.version))) {
        throw badRequest(`the record of ${new Key(record.key, false).toString()} has a version more than ${this.clock.maxAhead} ms ahead of this owner's wall clock: check the writer's clock`)
      }
    })

    for (const record of records) {
      this.clock.observe(record.version)
    }

    this.applying.set(options.epoch, (this.applying.get(options.epoch) ?? 0) + 1)

    try {
      return await this.writes.run(slots, async () => {
        await this.digestsReady(options)
        return this.applyInOrder(records, slots, options)
      })
    } finally {
      const left = (this.applying.get(options.epoch) ?? 1) - 1

      if (left === 0) {
        this.applying.delete(options.epoch)
        this.init.drained?.()
      } else {
        this.applying.set(options.epoch, left)
      }
    }
  }

  /**
   * A record write accepted under a table older than `epoch` is still being
   * applied: this node must not report `epoch` adopted yet, or a member
   * could copy a slot from it before that write landed
   */
  applyingBefore (epoch: number): boolean {
    for (const [at, count] of this.applying) {
      if (at < epoch && count > 0) {
        return true
      }
    }

    return false
  }

  /**
   * Delete the records of the replicated slots held under `retired` and held
   * under no table in force any more (a transition ended and gave them to
   * other owners), in each slot's write order. Returns how many went.
   */
  async dropRecords (retired: Ownership, options: AbortOptions = {}): Promise<number> {
    const gone = (slot: number): boolean => retired.owns(slot) && this.isReplicated(retired, slot) && !this.holdsRecords(this.init.ownership(), slot)
    const keys: Key[] = []

    for await (const key of this.init.child.queryKeys({}, options)) {
      const bytes = key.uint8Array()

      if (!isReserved(bytes) && gone(keySlot(bytes))) {
        keys.push(key)
      }
    }

    let dropped = 0

    for (let i = 0; i < keys.length; i += DROP_CHUNK) {
      const chunk = keys.slice(i, i + DROP_CHUNK)
      const slots = Uint16Array.from(chunk.map(key => keySlot(key.uint8Array())))

      dropped += await this.writes.run(slots, async () => {
        await this.digestsReady(options)
        const batch = this.init.child.batch()
        const changes: Array<{ slot: number, key: Uint8Array, held: StoredRecord }> = []

        for (let j = 0; j < chunk.length; j++) {
          // held again meanwhile (a newer table): kept
          if (!gone(slots[j])) {
            continue
          }

          const stored = await this.readStored(chunk[j], options)

          if (stored == null) {
            continue
          }

          batch.delete(chunk[j])
          changes.push({ slot: slots[j], key: chunk[j].uint8Array(), held: stored })
        }

        await batch.commit(options)

        for (const { slot, key, held } of changes) {
          if (isIntact(key, held)) {
            this.digests.update(slot, key, held, undefined)
          }

          this.damaged.delete(keyName(key))
        }

        return changes.length
      })
    }

    return dropped
  }

  /** An internal record of this node (under the reserved namespace), or undefined */
  async readInternal (key: Key, options: AbortOptions = {}): Promise<Uint8Array | undefined> {
    assertReserved(key)

    // most nodes hold none: `has` spares a NotFoundError (and a read that a slow store makes wait)
    if (!await this.init.child.has(key, options)) {
      return undefined
    }

    try {
      return await this.init.child.get(key, options)
    } catch (err: any) {
      if (err?.name !== 'NotFoundError') {
        throw err
      }
    }
  }

  /** Write (or, with no value, delete) an internal record of this node */
  async writeInternal (key: Key, value: Uint8Array | undefined, options: AbortOptions = {}): Promise<void> {
    assertReserved(key)

    if (value == null) {
      await this.init.child.delete(key, options)
    } else {
      await this.init.child.put(key, value, options)
    }
  }

  /**
   * Every record (tombstones included) under `prefix` in the replicated slots
   * this node owns in any position, in the child store's order; without
   * values when `keysOnly`; with `slots`, of those slots only (still one
   * scan). The caller must be on this node's table.
   */
  queryRecords (prefix: string | undefined, keysOnly: boolean, options: OwnerOptions, slots?: SlotFilter): AsyncGenerator<VersionedRecord> {
    if (slots != null) {
      checkSlotSet(slots.start, slots.end, slots.set)
    }

    // a move's end may drop slots of the caller's table while the scan runs: then the answer
    // ends in a refusal (MOVED) rather than done, as it may lack records of those slots
    return this.heldRecordsUnder(this.sameTable(options.epoch), prefix, keysOnly, options, slots, () => this.sameTable(options.epoch))
  }

  /**
   * The digests of slots `start`..`end`, 8 bytes big-endian each (see
   * `SlotDigests`): 0 for a slot this node holds no records of, or does not
   * own as a replicated slot. With `group` > 0, one digest per run of
   * 2^group slots (their XOR), so a caller compares groups first and asks
   * for the slots of the groups that differ. The caller must be on this
   * node's table.
   */
  async slotDigests (start: number, end: number, options: OwnerOptions, group = 0): Promise<Uint8Array> {
    checkSlotRange(start, end)

    if (!Number.isInteger(group) || group < 0 || group > MAX_SLOT_GROUP) {
      throw badRequest(`a slot group is 2^0 to 2^${MAX_SLOT_GROUP} slots, got 2^${group}`)
    }

    const ownership = this.sameTable(options.epoch)
    await this.digestsReady(options)

    return this.digests.encode(start, end, slot => this.holdsRecords(ownership, slot), group)
  }

  /**
   * Key, version and tombstone flag (no value) of every record of the
   * replicated slots `start`..`end` this node owns, with one scan of the
   * child store for the whole range: ask for ranges, not slot by slot. With
   * `slotSet`, only the slots it marks (a bitmap: bit i, least significant
   * first in byte i >> 3, is slot `start + i`), still with one scan, however
   * scattered they are.
   */
  slotEntries (start: number, end: number, options: OwnerOptions, slotSet?: Uint8Array): AsyncGenerator<SlotEntry> {
    checkSlotSet(start, end, slotSet)

    return this.entriesOf(this.sameTable(options.epoch), start, end, options, slotSet, (bytes, stored) => ({ key: bytes, version: stored.version, tombstone: stored.tombstone }))
  }

  /**
   * As `slotEntries`, with the whole records (values included, tombstones
   * as tombstones, and the checksum each is stored with, just checked): the
   * bulk copy of the slots a node gains in a slot table transition. One scan
   * of the child store.
   */
  slotRecords (start: number, end: number, options: OwnerOptions, slotSet?: Uint8Array): AsyncGenerator<VersionedRecord> {
    checkSlotSet(start, end, slotSet)

    // values make each entry costly: the requests arriving meanwhile get a turn more often
    return this.entriesOf(this.sameTable(options.epoch), start, end, options, slotSet, (bytes, stored) => copiedRecord(bytes, stored), SCAN_TURN / 8)
  }

  /**
   * Delete tombstones once every owner holds them (anti-entropy decides
   * when): each only while the record held for its key is still that
   * tombstone, at that version, so a newer write is never lost. Returns how
   * many were deleted.
   */
  async purgeTombstones (entries: readonly SlotEntry[], options: OwnerOptions): Promise<number> {
    const slots = new Uint16Array(entries.length)

    entries.forEach((entry, i) => {
      slots[i] = this.servesRecord(entry.key, options.epoch)
    })

    return this.writes.run(slots, async () => {
      await this.digestsReady(options)
      const keys: Key[] = []
      const seen = new Set<string>()
      const gone: Array<{ slot: number, key: Uint8Array, held: StoredRecord }> = []

      await Promise.all(entries.map(async (entry, i) => {
        const key = new Key(entry.key, false)
        const held = await this.read(key, options)

        if (held?.tombstone === true && compareVersions(held.version, entry.version) === 0 && !seen.has(key.toString())) {
          seen.add(key.toString())
          keys.push(key)
          gone.push({ slot: slots[i], key: entry.key, held })
        }
      }))

      if (keys.length === 0) {
        return 0
      }

      const batch = this.init.child.batch()

      for (const key of keys) {
        batch.delete(key)
      }

      await batch.commit(options)

      for (const { slot, key, held } of gone) {
        this.digests.update(slot, key, held, undefined)
      }

      return keys.length
    })
  }

  /**
   * Check every record this node holds against its checksum, as reads do
   * for the keys they touch: each damaged one found counts as absent from
   * then on (it leaves its slot's digest, so the next anti-entropy round
   * brings an intact copy from another owner). One scan of the child store,
   * giving the event loop a turn every few hundred records. Returns how many
   * records were checked and how many were found damaged.
   */
  async scrub (options: AbortOptions = {}): Promise<{ checked: number, damaged: number }> {
    await this.digestsReady(options)
    const ownership = this.init.ownership()
    const marking: Array<Promise<void>> = []
    let checked = 0
    let damaged = 0

    for await (const pair of breathing(this.init.child.query({}, options))) {
      // a child store's query need not watch the signal: a scrub of a large store ends when asked
      options.signal?.throwIfAborted()
      const bytes = pair.key.uint8Array()
      const slot = keySlot(bytes)

      if (isReserved(bytes) || !this.holdsRecords(ownership, slot)) {
        continue
      }

      checked++

      if (!isIntact(bytes, decodeStored(pair.value))) {
        damaged++
        // in the slot's write order, as any write: a record rewritten since the scan read it is judged as it is now
        marking.push(this.writes.run([slot], async () => {
          const now = await this.readStored(new Key(bytes, false), {})

          if (now != null) {
            this.recordDamage(bytes, slot, now)
          }
        }))
      }
    }

    // the damaged records left their slots' digests before the caller's repair round compares them
    await Promise.all(marking)
    return { checked, damaged }
  }

  /** How many keys this node holds as primary, under the table in force */
  async countKeys (options: AbortOptions = {}): Promise<number> {
    let count = 0

    for await (const _ of this.query(undefined, true, { ...options, epoch: this.init.ownership().table.epoch })) {
      count++
    }

    return count
  }

  /** The key's slot, or a refusal when this node must not serve it under the caller's table */
  private serves (key: Key, callerEpoch: number): number {
    const ownership = this.init.ownership()
    const slot = keySlot(key.uint8Array())

    if (ownership.table.replicas > 1 && this.isReplicated(ownership, slot)) {
      if (callerEpoch !== ownership.table.epoch || !ownership.owns(slot)) {
        throw notOwned(slot, callerEpoch, ownership, this.init.self)
      }

      throw badRequest(`slot ${slot} is replicated over ${ownership.table.owners(slot).length} owners in slot table epoch ${ownership.table.epoch}: read and write it with REPLICA_GET, REPLICA_WRITE, REPLICA_GET_MANY and REPLICA_QUERY`)
    }

    if (!ownership.isPrimary(slot)) {
      throw notOwned(slot, callerEpoch, ownership, this.init.self)
    }

    return slot
  }

  /**
   * The slot of a record's key, or a refusal when this node does not hold it
   * as a replicated slot under the caller's table. During a transition the
   * slots of both tables are held; a caller still on the old table may read
   * by it, but its writes are refused (MOVED, with the new table): a write
   * by the old table alone would miss the new owners once they copied the
   * slot.
   */
  private servesRecord (key: Uint8Array, callerEpoch: number, write = false): number {
    const ownership = this.init.ownership()
    const previous = this.init.previous?.()
    const slot = keySlot(key)

    if (previous != null && !write && callerEpoch === previous.table.epoch && previous.owns(slot) && this.isReplicated(previous, slot)) {
      return slot
    }

    if (callerEpoch === ownership.table.epoch && !ownership.owns(slot)) {
      if (previous != null && previous.owns(slot) && this.isReplicated(previous, slot)) {
        return slot
      }

      const retired = this.init.retired?.()

      if (previous == null && retired != null && retired.owns(slot) && this.isReplicated(retired, slot)) {
        // the caller still writes or reads by the retired table: MOVED carries our trackers, from which it retires it too
        throw new RequestError(Response.Status.MOVED, `slot ${slot} moved: ${this.init.self.toString()} retired slot table epoch ${retired.table.epoch} and no longer holds it`)
      }
    }

    if (!ownership.owns(slot) || callerEpoch !== ownership.table.epoch) {
      throw notOwned(slot, callerEpoch, ownership, this.init.self)
    }

    if (!this.isReplicated(ownership, slot)) {
      throw badRequest(`slot ${slot} has a single owner in slot table epoch ${ownership.table.epoch}: read and write it with GET, PUT, DELETE, BATCH, GET_MANY and QUERY`)
    }

    return slot
  }

  /** A request about many slots (digests, entries, record queries) needs the caller on this node's table */
  private sameTable (callerEpoch: number): Ownership {
    const ownership = this.init.ownership()

    // during a transition a caller on either table in force is answered: the slots of both are held
    if (callerEpoch !== ownership.table.epoch && callerEpoch !== this.init.previous?.()?.table.epoch) {
      throw notOwned(undefined, callerEpoch, ownership, this.init.self)
    }

    return ownership
  }

  /** The slot has several owners (1 per slot in `replicated`, computed once per table) */
  private isReplicated (ownership: Ownership, slot: number): boolean {
    if (ownership.table.replicas === 1) {
      return false
    }

    let replicated = this.replicated.get(ownership)

    if (replicated == null) {
      replicated = new Uint8Array(SLOT_COUNT)

      for (const range of ownership.table.ranges) {
        if (range.owners.length > 1) {
          replicated.fill(1, range.start, range.end + 1)
        }
      }

      this.replicated.set(ownership, replicated)
    }

    return replicated[slot] === 1
  }

  /**
   * This node holds the slot as one of several owners, under `ownership` or
   * the old table of a transition: its records count in digests and record
   * queries
   */
  private holdsRecords (ownership: Ownership, slot: number): boolean {
    if (ownership.owns(slot) && this.isReplicated(ownership, slot)) {
      return true
    }

    const previous = this.init.previous?.()
    return previous != null && previous.owns(slot) && this.isReplicated(previous, slot)
  }

  /**
   * The stored record of `key` before a write: asks `has` first, since most
   * writes are of new keys and a store's NotFoundError (with its stack trace)
   * cost more than the rest of the write
   */
  private async readBeforeWrite (key: Key, options: AbortOptions): Promise<StoredRecord | undefined> {
    if (await this.init.child.has(key, options)) {
      return this.readStored(key, options)
    }
  }

  /** The intact stored record of `key`, undefined when none is held or it is damaged */
  private async read (key: Key, options: AbortOptions): Promise<StoredRecord | undefined> {
    const stored = await this.readStored(key, options)
    const bytes = key.uint8Array()

    return stored == null || !this.checked(bytes, keySlot(bytes), stored) ? undefined : stored
  }

  /**
   * Whether a stored record (read outside the write order) is intact. A
   * damaged one seen for the first time is dealt with by `recordDamage`,
   * queued behind the slot's writes: by then a write may have replaced it.
   */
  private checked (key: Uint8Array, slot: number, stored: StoredRecord): boolean {
    if (isIntact(key, stored)) {
      return true
    }

    if (!this.damaged.has(keyName(key))) {
      this.writes.run([slot], async () => {
        await this.digestsReady({})
        const now = await this.readStored(new Key(key, false), {})

        if (now != null) {
          this.recordDamage(key, slot, now)
        }
      }).catch(err => {
        this.log.error('could not check the damaged record of %s - %e', keyName(key), err)
      })
    }

    return false
  }

  /**
   * In the slot's write order, digests built: a damaged record found for the
   * first time is logged, and the term it was counted with in its slot's
   * digest taken out, so the slot reads as holding nothing for the key. That
   * term is the checksum the record was written with (the damage is
   * elsewhere in the record) unless the checksum itself was hit: then the
   * slot's digest stays off until the next rebuild (the next start), and
   * anti-entropy compares its entries in vain meanwhile. Does nothing for an
   * intact record or one already counted out.
   */
  private recordDamage (key: Uint8Array, slot: number, stored: StoredRecord, counted = true): void {
    const name = keyName(key)

    if (isIntact(key, stored) || this.damaged.has(name)) {
      return
    }

    this.damaged.add(name)

    if (counted && stored.checksum != null) {
      this.digests.xor(slot, stored.checksum)
    }

    this.log.error('the record of %s (slot %d) is damaged: its checksum does not match; it counts as absent until a repair writes an intact copy', name, slot)
  }

  /** The stored record of `key` as read (intact or not), undefined when none is held */
  private async readStored (key: Key, options: AbortOptions): Promise<StoredRecord | undefined> {
    try {
      return decodeStored(await this.init.child.get(key, options))
    } catch (err: any) {
      if (err?.name !== 'NotFoundError') {
        throw err
      }
    }
  }

  private async * heldRecords (keys: readonly Key[], options: OwnerOptions): AsyncGenerator<VersionedRecord | undefined> {
    for (const key of keys) {
      options.signal?.throwIfAborted()
      const bytes = key.uint8Array()
      const stored = await this.readStored(key, options)

      if (stored == null) {
        this.stillServes(bytes, options.epoch)
        yield undefined
      } else if (!this.checked(bytes, keySlot(bytes), stored)) {
        yield options.markDamaged === true ? damagedRecord(bytes) : undefined
      } else {
        yield toRecord(bytes, stored, false)
      }
    }
  }

  private async * heldRecordsUnder (ownership: Ownership, prefix: string | undefined, keysOnly: boolean, options: AbortOptions, slots?: SlotFilter, stillServed?: () => void): AsyncGenerator<VersionedRecord> {
    for await (const pair of breathing(this.init.child.query({ prefix }, options))) {
      const bytes = pair.key.uint8Array()

      if (isReserved(bytes)) {
        continue
      }

      const slot = keySlot(bytes)

      if (slots != null && (slot < slots.start || slot > slots.end || !inSlotSet(slots.set, slot - slots.start))) {
        continue
      }
      const stored = decodeStored(pair.value)

      if (this.holdsRecords(ownership, slot) && this.checked(bytes, slot, stored)) {
        yield toRecord(bytes, stored, keysOnly)
      }
    }

    stillServed?.()
  }

  private async * entriesOf<T> (ownership: Ownership, start: number, end: number, options: AbortOptions, slotSet: Uint8Array | undefined, as: (key: Uint8Array, stored: StoredRecord) => T, turn = SCAN_TURN): AsyncGenerator<T> {
    for await (const pair of breathing(this.init.child.query({}, options), turn)) {
      const bytes = pair.key.uint8Array()
      const slot = keySlot(bytes)

      if (slot >= start && slot <= end && (slotSet == null || inSlotSet(slotSet, slot - start)) && !isReserved(bytes) && this.holdsRecords(ownership, slot)) {
        const stored = decodeStored(pair.value)

        if (this.checked(bytes, slot, stored)) {
          yield as(bytes, stored)
        }
      }
    }
  }

  /** Runs in the write order of the records' slots, after the digests are built */
  private async applyInOrder (records: readonly VersionedRecord[], slots: Uint16Array, options: AbortOptions): Promise<Array<VersionedRecord | undefined>> {
    const keys = records.map(record => new Key(record.key, false))
    const held = new Map<string, StoredRecord | undefined>()
    const reads: Array<Promise<void>> = []

    keys.forEach((key, i) => {
      const name = key.toString()

      if (!held.has(name)) {
        held.set(name, undefined)
        reads.push(this.readBeforeWrite(key, options).then(stored => {
          // a damaged record holds nothing: any intact record is applied over it (see the class)
          if (stored != null && !overwrites(records[i], stored, this.damaged, name) && !isIntact(records[i].key, stored)) {
            this.recordDamage(records[i].key, slots[i], stored)
            return
          }

          held.set(name, stored)
        }))
      }
    })

    await Promise.all(reads)

    const answers: Array<VersionedRecord | undefined> = []
    const changes = new Map<string, { index: number, before?: StoredRecord, after: StoredRecord, stored: Uint8Array }>()

    records.forEach((record, i) => {
      const name = keys[i].toString()
      const current = held.get(name)
      const order = current == null ? 1 : compareVersions(record.version, current.version)

      if (current != null && order < 0) {
        answers.push(toRecord(record.key, current, false))
        return
      }

      answers.push(undefined)

      // the same version again is the same write delivered twice. Two
      // intact contents of one version (format 1 records, which carry no
      // checksum, or a writer reusing a version) are ordered by content, the
      // same on every owner, so owners converge. A damaged record never
      // takes part: it was read as holding nothing
      if (current != null && order === 0 && compareContent(record, current) <= 0) {
        return
      }

      // a bulk copy's record comes with the checksum its sender checked
      const stored = encodeStored(record, record.key, record.checksum)
      const after = decodeStored(stored)
      held.set(name, after)
      const change = changes.get(name)

      if (change == null) {
        changes.set(name, { index: i, before: current, after, stored })
      } else {
        change.index = i
        change.after = after
        change.stored = stored
      }
    })

    if (changes.size > 0) {
      const batch = this.init.child.batch()

      for (const { index, stored } of changes.values()) {
        batch.put(keys[index], stored)
      }

      await batch.commit(options)

      for (const [name, { index, before, after }] of changes) {
        this.digests.update(slots[index], records[index].key, before, after)
        this.damaged.delete(name)
      }
    }

    return answers
  }

  /** Digests are rebuilt once; a failed rebuild is tried again by the next caller */
  private async digestsReady (options: AbortOptions): Promise<void> {
    options.signal?.throwIfAborted()

    this.rebuilt ??= this.rebuildDigests().catch(err => {
      this.rebuilt = undefined
      throw err
    })

    await this.rebuilt
  }

  private async rebuildDigests (): Promise<void> {
    const ownership = this.init.ownership()
    this.digests.clear()
    this.damaged.clear()

    if (ownership.table.replicas === 1 && (this.init.previous?.()?.table.replicas ?? 1) === 1) {
      return
    }

    // not bound to one caller's signal: every record write waits for it
    for await (const pair of breathing(this.init.child.query({}))) {
      const bytes = pair.key.uint8Array()
      const slot = keySlot(bytes)

      if (!isReserved(bytes) && this.holdsRecords(ownership, slot)) {
        const stored = decodeStored(pair.value)

        // a damaged record counts as absent
        if (isIntact(bytes, stored)) {
          this.digests.update(slot, bytes, undefined, stored)
        } else {
          this.recordDamage(bytes, slot, stored, false)
        }
      }
    }
  }

  private async * values (keys: readonly Key[], options: AbortOptions): AsyncGenerator<Uint8Array | undefined> {
    for (const key of keys) {
      options.signal?.throwIfAborted()

      try {
        yield await this.init.child.get(key, options)
      } catch (err: any) {
        if (err?.name !== 'NotFoundError') {
          throw err
        }

        yield undefined
      }
    }
  }

  private async * pairs (ownership: Ownership, prefix: string | undefined, keysOnly: boolean, options: AbortOptions): AsyncGenerator<Pair> {
    if (ownership.table.replicas > 1) {
      // a key-only query still reads values: the header says which records are tombstones
      for await (const pair of this.init.child.query({ prefix }, options)) {
        const bytes = pair.key.uint8Array()
        const slot = keySlot(bytes)

        if (!ownership.isPrimary(slot) || isReserved(bytes)) {
          continue
        }

        if (!this.isReplicated(ownership, slot)) {
          yield keysOnly ? { key: pair.key, value: NO_VALUE } : pair
          continue
        }

        const record = decodeStored(pair.value)

        if (!record.tombstone && this.checked(bytes, slot, record)) {
          yield { key: pair.key, value: keysOnly ? NO_VALUE : record.value }
        }
      }

      return
    }

    if (keysOnly) {
      for await (const key of this.init.child.queryKeys({ prefix }, options)) {
        const bytes = key.uint8Array()

        if (ownership.isPrimary(keySlot(bytes)) && !isReserved(bytes)) {
          yield { key, value: NO_VALUE }
        }
      }

      return
    }

    for await (const pair of this.init.child.query({ prefix }, options)) {
      const bytes = pair.key.uint8Array()

      if (ownership.isPrimary(keySlot(bytes)) && !isReserved(bytes)) {
        yield pair
      }
    }
  }
}

/**
 * `record` replaces `stored` whether or not `stored` is intact, with the
 * same effect on the slot's digest, so its checksum need not be checked (a
 * second sha256 per write of a key held): `stored` carries a checksum (the
 * term it was counted with, which the write takes out either way), is not
 * known damaged already (counted out), and `record` is newer. A damaged
 * record overwritten this way is not logged.
 */
function overwrites (record: VersionedRecord, stored: StoredRecord, damaged: Set<string>, name: string): boolean {
  return stored.checksum != null && stored.broken !== true && !damaged.has(name) && compareVersions(record.version, stored.version) > 0
}

/** How a damaged record is answered with `markDamaged` */
function damagedRecord (key: Uint8Array): VersionedRecord {
  return { key, version: NO_VALUE, tombstone: false, damaged: true }
}

/** A key's name in logs and in the set of damaged keys */
function keyName (key: Uint8Array): string {
  return new TextDecoder().decode(key)
}

function toRecord (key: Uint8Array, held: StoredRecord, keysOnly: boolean): VersionedRecord {
  return {
    key,
    value: held.tombstone || keysOnly ? undefined : held.value,
    version: held.version,
    tombstone: held.tombstone
  }
}

/** A record of a bulk copy: checked (intact), so its stored checksum goes with it */
function copiedRecord (key: Uint8Array, held: StoredRecord): VersionedRecord {
  const record = toRecord(key, held, false)

  if (held.checksum != null) {
    record.checksum = held.checksum
  }

  return record
}

/** Deterministic order of two contents of one version: a tombstone above a value, then the value bytes */
function compareContent (record: VersionedRecord, held: StoredRecord): number {
  if (record.tombstone !== held.tombstone) {
    return record.tombstone ? 1 : -1
  }

  return record.tombstone ? 0 : compareVersions(record.value ?? new Uint8Array(0), held.value)
}

/** A slot range and, when given, a slot set for it (see `Owner.slotEntries`) */
function checkSlotSet (start: number, end: number, slotSet?: Uint8Array): void {
  checkSlotRange(start, end)

  if (slotSet != null && slotSet.byteLength > ((end - start) >> 3) + 1) {
    throw badRequest(`a slot set for slots ${start}..${end} is at most ${((end - start) >> 3) + 1} bytes, got ${slotSet.byteLength}`)
  }
}

/** Bit `index` of a slot set (see `Owner.slotEntries`) */
export function inSlotSet (slotSet: Uint8Array, index: number): boolean {
  return ((slotSet[index >> 3] ?? 0) & (1 << (index & 7))) !== 0
}

/** The slot set of `slots` (sorted, within `start`..`end`) relative to `start` */
export function slotSetOf (slots: readonly number[], start: number, end: number): Uint8Array<ArrayBuffer> {
  const set = new Uint8Array(((end - start) >> 3) + 1)

  for (const slot of slots) {
    set[(slot - start) >> 3] |= 1 << ((slot - start) & 7)
  }

  return set
}

function assertReserved (key: Key): void {
  if (!isReserved(key.uint8Array())) {
    throw new Error(`${key.toString()} is not an internal key`)
  }
}

function checkSlotRange (start: number, end: number): void {
  if (!Number.isInteger(start) || !Number.isInteger(end) || start < 0 || end >= SLOT_COUNT || start > end) {
    throw badRequest(`a slot range must satisfy 0 <= start <= end <= ${SLOT_COUNT - 1}, got ${start}..${end}`)
  }
}
