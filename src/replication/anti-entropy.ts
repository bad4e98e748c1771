import { equals } from 'uint8arrays/equals'
import { Request, Response } from '../pb/message.js'
import { ProtocolError } from '../errors.js'
import { encodeRequest } from '../rpc/client.js'
import { errorFromResponse } from '../rpc/errors.js'
import { keySlot } from '../slots/hash.js'
import { slotSetOf } from '../owner/owner.js'
import { compareVersions, versionClock } from './record.js'
import type { SlotEntry, VersionedRecord } from '../owner/owner.js'
import type { Entry, Record as WireRecord } from '../pb/message.js'
import type { PeerChannel } from '../rpc/client.js'
import type { Ownership } from '../slots/ownership.js'
import type { AbortOptions, Logger, PeerId } from '@libp2p/interface'

/**
 * What anti-entropy needs from this node's owner service. Every change goes
 * through it, so the owner's rules (refuse older versions, keep the per-slot
 * digests) hold for repairs as for any write.
 */
export interface ReplicaStore {
  /** The digests of slots `start`..`end` (inclusive), 8 bytes each, in slot order */
  slotDigests(start: number, end: number, options?: AbortOptions): Promise<Uint8Array>
  /**
   * Every record of slots `start`..`end` (inclusive) held, tombstones
   * included, without values, or only of the slots `slotSet` marks (see
   * `Owner.slotEntries`): one scan of the store
   */
  slotEntries(start: number, end: number, options?: AbortOptions, slotSet?: Uint8Array): Promise<SlotEntry[]>
  /** The records of `keys`, undefined for a key with no record */
  recordsOf(keys: Uint8Array[], options?: AbortOptions): Promise<Array<VersionedRecord | undefined>>
  /** Apply what is newer than what is held */
  applyRecords(records: VersionedRecord[], options?: AbortOptions): Promise<void>
  /** The tombstones held whose version's clock is older than `before` (ms since the epoch) */
  tombstones(before: number, options?: AbortOptions): Promise<SlotEntry[]>
  /** Delete the tombstones given, each only while it is still the record held at that version; returns how many went */
  purgeTombstones(entries: SlotEntry[], options?: AbortOptions): Promise<number>
}

export interface AntiEntropyInit {
  self: PeerId
  log: Logger
  /** Milliseconds between the end of one round and the start of the next */
  interval: number
  /** A tombstone younger than this (by its version's clock) is never purged */
  tombstoneGracePeriod: number
  /** Largest request this node may send */
  maxMessageSize: number
  /** The ownership under the table in force */
  ownership(): Ownership
  channel(peer: PeerId): PeerChannel
  replica: ReplicaStore
  /** The clock every request carries */
  clock(): bigint
  /** Advance this node's clock past a peer's */
  observe(clock: bigint): void
  /** A peer the failure detector suspects down is skipped until it is back */
  isSuspected?(peer: PeerId): boolean
  /** Two slot tables are in force: no tombstone is purged (an old owner may still hold the value it hides) */
  moving?(): boolean
  /**
   * `slot` is being copied between this node and `peer` for a slot table
   * transition (see `copy`): rounds skip it until the copy is over, rather
   * than move the same records again
   */
  copying?(peer: PeerId, slot: number): boolean
}

/** What anti-entropy did since the node started */
export interface AntiEntropyStats {
  /** Rounds completed (each compares this node with every peer it shares replicated slots with) */
  rounds: number
  /** Slot digests compared with a peer's */
  slotsCompared: number
  /** Slots whose digests differed, so their entries were exchanged */
  slotsDiffering: number
  /** Records this node wrote to peers */
  recordsPushed: number
  /** Records this node took from peers (newer than its own, or missing) */
  recordsPulled: number
  /** Tombstones deleted once every owner of their slot held them */
  tombstonesPurged: number
  /** Bytes of anti-entropy requests sent */
  bytesSent: number
  /** Bytes of anti-entropy answers received */
  bytesReceived: number
  /** Peers a round could not reconcile with (unreachable, refused) */
  failures: number
  /** When the last round ended (ms since the epoch), 0 before the first */
  lastRoundEnd: number
}

/** Slots per DIGESTS request: the whole table fits one (128 KiB per slot, 2 KiB in groups) */
const DIGEST_SPAN = 16384
/** Slots compared as one digest first: 2^6 = 64 */
const DIGEST_GROUP = 6
/**
 * Most slots one SLOT_ENTRIES request spans. Each request costs both owners
 * a scan of their whole store, so the differing slots of a span share one
 * request, however scattered (it names them in `slot_set`): a round costs at
 * most 16384 / ENTRY_SPAN scans per peer. (It cost one per run of slots
 * closer than 32 apart: a few hundred scattered differences, as writes still
 * in flight leave, cost hundreds of scans of the whole store on both sides,
 * and quorum gets on those owners collapsed for tens of seconds.) The span
 * bounds the entries held at once when most of the slots differ.
 */
const ENTRY_SPAN = 4096
/** Differing slots closer than this are asked for again (DIGESTS) with one request */
const RECHECK_GAP = 64
/** Keys per REPLICA_GET_MANY request (the owner's GET_MANY chunk) */
const PULL_CHUNK = 1024
/** Target size of one REPLICA_WRITE request: a repair shares the stream with the node's own requests, so it queues no large frame ahead of them */
const PUSH_BYTES = 256 * 1024

/** Bytes of copied records applied as one batch (see `copy`) */
const COPY_BATCH_BYTES = 256 * 1024

const EMPTY_DIGEST = new Uint8Array(8)

/** One slot being reconciled with one peer */
interface SlotDiff {
  slot: number
  push: Uint8Array[]
  pull: Uint8Array[]
  /** Keys both hold at the same version: their values are compared when nothing else differs */
  same: Uint8Array[]
  mine: SlotEntry[]
  theirs: Map<string, SlotEntry>
}

/**
 * Background repair between the owners of replicated slots. Every `interval`
 * (and when the failure detector sees a peer come back), for each peer that
 * shares replicated slots with this node:
 *
 * 1. DIGESTS for the shared slots, compared with this node's: first one
 *    digest per group of 64 slots (2 KiB for the whole table), then one per
 *    slot for the groups that differ (512 bytes a group);
 * 2. the differing slots' digests asked for again (a write in flight makes
 *    a slot differ for a moment); for each slot that still differs,
 *    SLOT_ENTRIES (keys and versions, no values, one request and one scan
 *    per span of 4096 slots), diffed by (key, version);
 * 3. this node's newer or missing records pushed with REPLICA_WRITE, the
 *    peer's newer ones pulled with REPLICA_GET_MANY and applied through the
 *    owner service, which refuses anything older than what it holds.
 *
 * The bytes exchanged grow with the difference, not with the data: a round
 * that finds nothing costs 2 KiB of digests per peer.
 *
 * A record damaged on one owner fails its checksum there (see `Owner`): that
 * owner counts it as absent, in its digests and its slot entries too, so the
 * slot differs and the good copy is pushed to it or pulled by it like a
 * missing record. Two intact contents of one version (format 1 records carry
 * no checksum) show because a digest covers the content too: a slot whose
 * digests differ while every (key, version) agrees has its values compared,
 * and the owners' rule for one version with two contents decides: the
 * greater content (a tombstone above any value, then the value bytes) wins
 * everywhere, so all owners converge on one copy.
 *
 * Tombstones: a tombstone older than `tombstoneGracePeriod` is deleted once
 * every other owner of its slot was seen, in the same round, to hold it at the
 * same version or to hold no record of the key. Such an old tombstone is not
 * pushed to a peer that holds nothing for the key (there is no value there to
 * hide, and the peer may have purged it already); it is pushed, like any
 * record, to a peer holding an older version. The grace period must be longer
 * than a write can stay in flight (hints included), or an older value
 * delivered after the purge would come back.
 */
export class AntiEntropy {
  private readonly init: AntiEntropyInit
  private readonly counters: AntiEntropyStats
  private timer?: ReturnType<typeof setTimeout>
  /** The last round queued: the next one starts after it */
  private tail: Promise<void>
  /** A round queued and not started yet */
  private queued?: Promise<void>
  private controller?: AbortController
  /** When old tombstones were last looked for */
  private lastSweep: number
  /** Counts an answer frame's bytes as the channel takes it (encoding each answer again to count it cost a copy's receiver 6% of its CPU) */
  private readonly received = (bytes: number): void => {
    this.counters.bytesReceived += bytes
  }

  constructor (init: AntiEntropyInit) {
    this.init = init
    this.tail = Promise.resolve()
    this.lastSweep = 0
    this.counters = {
      rounds: 0,
      slotsCompared: 0,
      slotsDiffering: 0,
      recordsPushed: 0,
      recordsPulled: 0,
      tombstonesPurged: 0,
      bytesSent: 0,
      bytesReceived: 0,
      failures: 0,
      lastRoundEnd: 0
    }
  }

  start (): void {
    if (this.controller != null) {
      return
    }

    this.controller = new AbortController()
    this.schedule()
  }

  /** Stop the timer and wait for a round in progress to give up */
  async stop (): Promise<void> {
    clearTimeout(this.timer)
    this.timer = undefined
    this.controller?.abort()
    this.controller = undefined
    await this.tail
    clearTimeout(this.timer)
  }

  /** A copy of the counters */
  stats (): AntiEntropyStats {
    return { ...this.counters }
  }

  /**
   * Run a round after the one in progress, if any, for instance when a peer
   * comes back up. Resolves when that round ended.
   */
  async trigger (): Promise<void> {
    await this.enqueue()
  }

  private schedule (): void {
    if (this.controller == null) {
      return
    }

    clearTimeout(this.timer)
    this.timer = setTimeout(() => {
      this.enqueue().catch(() => {})
    }, this.init.interval)
    // background repair alone must not keep a process alive
    this.timer.unref?.()
  }

  /** Rounds run one after another, never two at once */
  private async enqueue (): Promise<void> {
    const controller = this.controller

    if (controller == null) {
      return
    }

    // a round asked for while another waits to start is that round
    if (this.queued != null) {
      return this.queued
    }

    clearTimeout(this.timer)
    const next = this.tail.then(async () => {
      this.queued = undefined

      if (!controller.signal.aborted) {
        await this.runRound(controller.signal)
      }
    }).catch((err) => {
      this.init.log.error('anti-entropy round failed - %e', err)
    }).finally(() => {
      if (this.tail === next) {
        this.schedule()
      }
    })
    this.tail = next
    this.queued = next
    await next
  }

  /**
   * Reconcile `slots` with `peer` now, outside the rounds: what differs is
   * exchanged both ways (a slot table transition copies the slots a node
   * newly owns this way). Counted in the stats like a round's work.
   */
  async reconcile (peer: PeerId, slots: number[], signal: AbortSignal): Promise<void> {
    await this.syncPeer(peer, slots, this.init.ownership(), Date.now(), new Map(), signal)
  }

  /**
   * Copy every record of `slots` (sorted) from `peer`, with no digests and
   * no diff: one streamed SLOT_ENTRIES `with_values` for all of them (the
   * slot set names them), so the peer scans its store once, however many
   * slots it gives (one request per span of 4096 slots cost it four scans
   * for a quarter of the table). Each batch is applied through the owner
   * service (newest version wins, so writes landing meanwhile are never
   * overwritten by an older copy) while the next one arrives. What a slot
   * table transition copies from the first old owner of the slots a node
   * gains; at most a couple of batches and the stream window are held at
   * once, whatever the number of slots: the records are streamed, never
   * gathered.
   */
  async copy (peer: PeerId, slots: number[], signal: AbortSignal): Promise<void> {
    if (slots.length > 0) {
      await this.copyRun(peer, slots, this.init.ownership().table.epoch, signal)
    }
  }

  private async copyRun (peer: PeerId, run: number[], epoch: number, signal: AbortSignal): Promise<void> {
    const start = run[0]
    const end = run[run.length - 1]
    const wanted = new Set(run)
    let batch: VersionedRecord[] = []
    let bytes = 0
    let applying: Promise<void> = Promise.resolve()

    // the batch received is applied while the next one arrives; never two applying at once
    const flush = async (): Promise<void> => {
      const records = batch
      batch = []
      bytes = 0
      await applying

      if (records.length > 0) {
        applying = this.init.replica.applyRecords(records, { signal }).then(() => {
          this.counters.recordsPulled += records.length
        })
        applying.catch(() => {})
      }
    }

    const req: Partial<Request> = { type: Request.Type.SLOT_ENTRIES, epoch, slotStart: start, slotEnd: end, slotSet: slotSetOf(run, start, end), withValues: true }

    for await (const res of this.callStreamed(peer, req, signal)) {
      for (const entry of res.entries) {
        const record = copiedRecord(peer, entry, wanted)
        batch.push(record)
        bytes += record.key.byteLength + (record.value?.byteLength ?? 0) + record.version.byteLength
      }

      if (bytes >= COPY_BATCH_BYTES) {
        await flush()
      }
    }

    await flush()
    await applying
  }

  private async runRound (signal: AbortSignal): Promise<void> {
    const ownership = this.init.ownership()
    const started = Date.now()
    const shared = sharedSlots(ownership, this.init.self)
    /** Per slot, the other owners found to hold every old tombstone this node holds */
    const purge = new Map<number, PurgeState>()

    for (const [peerString, { peer, slots }] of shared) {
      if (signal.aborted) {
        return
      }

      if (this.init.isSuspected?.(peer) === true) {
        continue
      }

      const due = this.init.copying == null ? slots : slots.filter(slot => this.init.copying?.(peer, slot) !== true)

      try {
        await this.syncPeer(peer, due, ownership, started, purge, signal)
      } catch (err: any) {
        if (signal.aborted) {
          return
        }

        this.counters.failures++
        this.init.log('anti-entropy with %s failed - %e', peerString, err)
      }
    }

    if (this.init.moving?.() !== true) {
      await this.purge(ownership, purge, signal)
    }

    this.counters.rounds++
    this.counters.lastRoundEnd = Date.now()
  }

  /** Compare every slot shared with `peer` and exchange what differs */
  private async syncPeer (peer: PeerId, slots: number[], ownership: Ownership, started: number, purge: Map<number, PurgeState>, signal: AbortSignal): Promise<void> {
    const epoch = ownership.table.epoch
    const cutoff = started - this.init.tombstoneGracePeriod
    const differing: number[] = []

    // groups of slots first: agreeing groups cost 8 bytes, differing ones are asked again slot by slot
    const suspects: number[] = []

    for (const [start, end] of spans(slots, DIGEST_SPAN)) {
      const mine = await this.init.replica.slotDigests(start, end, { signal })
      const theirs = await this.digests(peer, epoch, start, end, DIGEST_GROUP, signal)
      this.counters.slotsCompared += end - start + 1

      if (theirs.byteLength === mine.byteLength) {
        // a peer that ignores the grouping answers per slot
        this.compareSlots(mine, theirs, start, end, peer, purge, differing)
        continue
      }

      const grouped = groupDigests(mine, DIGEST_GROUP)

      for (let slot = start; slot <= end; slot++) {
        if (equalAt(grouped, theirs, ((slot - start) >> DIGEST_GROUP) * 8)) {
          agreed(purge, slot, peer)
        } else {
          suspects.push(slot)
        }
      }
    }

    for (const [start, end] of spans(suspects, DIGEST_SPAN)) {
      const mine = await this.init.replica.slotDigests(start, end, { signal })
      this.compareSlots(mine, await this.digests(peer, epoch, start, end, 0, signal), start, end, peer, purge, differing)
    }

    // a write still in flight when the digests were read makes its slot
    // differ for a moment: only the slots that still differ are exchanged
    const settled = await this.stillDiffering(peer, epoch, differing, purge, signal)
    this.counters.slotsDiffering += settled.length

    for (const run of runs(settled, ENTRY_SPAN, ENTRY_SPAN)) {
      const diffs = await this.diffRun(peer, run, epoch, cutoff, signal)
      const push = diffs.flatMap(d => d.push)
      const pull = diffs.flatMap(d => d.pull)

      // digests differ but every (key, version) agrees: values differ, or
      // writes landed between the digests and the entries (then the digests
      // agree by now, and the values of the whole slot need no comparing)
      const agreeing = diffs.filter(d => d.push.length === 0 && d.pull.length === 0)
      const recheck = new Set(await this.stillDiffering(peer, epoch, agreeing.map(d => d.slot), undefined, signal))
      const same = agreeing.filter(d => recheck.has(d.slot)).flatMap(d => d.same)
      const contentPush = await this.compareValues(peer, same, epoch, pull, signal)

      await this.push(peer, [...push, ...contentPush], epoch, signal)
      await this.pull(peer, pull, epoch, signal)

      for (const diff of diffs) {
        tombstonesHeld(purge, diff, peer, cutoff)
      }
    }
  }

  /** Per-slot digests of `start`..`end` compared: agreeing slots noted for the purge, the others added to `differing` */
  private compareSlots (mine: Uint8Array, theirs: Uint8Array, start: number, end: number, peer: PeerId, purge: Map<number, PurgeState>, differing: number[]): void {
    for (let slot = start; slot <= end; slot++) {
      if (equalAt(mine, theirs, (slot - start) * 8)) {
        agreed(purge, slot, peer)
      } else {
        differing.push(slot)
      }
    }
  }

  /**
   * Of `slots` (sorted), those whose digests still differ from the peer's,
   * asked again; the others agreed and are noted for the purge, when given
   */
  private async stillDiffering (peer: PeerId, epoch: number, slots: number[], purge: Map<number, PurgeState> | undefined, signal: AbortSignal): Promise<number[]> {
    const differing: number[] = []

    for (const run of runs(slots, RECHECK_GAP, DIGEST_SPAN)) {
      const start = run[0]
      const end = run[run.length - 1]
      const theirs = await this.digests(peer, epoch, start, end, 0, signal)
      const mine = await this.init.replica.slotDigests(start, end, { signal })

      for (const slot of run) {
        if (!equalAt(mine, theirs, (slot - start) * 8)) {
          differing.push(slot)
        } else if (purge != null) {
          agreed(purge, slot, peer)
        }
      }
    }

    return differing
  }

  /** The peer's digests of `start`..`end`, per slot or per group of 2^group slots */
  private async digests (peer: PeerId, epoch: number, start: number, end: number, group: number, signal: AbortSignal): Promise<Uint8Array> {
    const res = await this.call(peer, { type: Request.Type.DIGESTS, epoch, slotStart: start, slotEnd: end, slotGroup: group }, signal)
    const digests = res.digests ?? new Uint8Array(0)

    if (digests.byteLength !== (((end - start) >> group) + 1) * 8 && digests.byteLength !== (end - start + 1) * 8) {
      throw new ProtocolError(`Peer ${peer.toString()} answered ${digests.byteLength} bytes of digests for slots ${start}..${end}`)
    }

    return digests
  }

  /**
   * The entries of a run of differing slots on both sides (one scan each),
   * diffed slot by slot. The slots between them that agree are skipped.
   */
  private async diffRun (peer: PeerId, run: number[], epoch: number, cutoff: number, signal: AbortSignal): Promise<SlotDiff[]> {
    const start = run[0]
    const end = run[run.length - 1]
    const wanted = new Set(run)
    const slotSet = slotSetOf(run, start, end)
    const theirs = new Map<number, Map<string, SlotEntry>>()
    const mine = new Map<number, SlotEntry[]>()

    for await (const res of this.callStreamed(peer, { type: Request.Type.SLOT_ENTRIES, epoch, slotStart: start, slotEnd: end, slotSet }, signal)) {
      for (const entry of res.entries) {
        if (entry.key == null || entry.version == null) {
          throw new ProtocolError(`Peer ${peer.toString()} sent an entry of slots ${start}..${end} without key or version`)
        }

        const slot = keySlot(entry.key)

        if (wanted.has(slot)) {
          let entries = theirs.get(slot)

          if (entries == null) {
            entries = new Map()
            theirs.set(slot, entries)
          }

          entries.set(keyId(entry.key), { key: entry.key, version: entry.version, tombstone: entry.tombstone === true })
        }
      }
    }

    for (const entry of await this.init.replica.slotEntries(start, end, { signal }, slotSet)) {
      const slot = keySlot(entry.key)

      if (wanted.has(slot)) {
        const entries = mine.get(slot)

        if (entries == null) {
          mine.set(slot, [entry])
        } else {
          entries.push(entry)
        }
      }
    }

    return run.map(slot => this.diffSlot(slot, mine.get(slot) ?? [], theirs.get(slot) ?? new Map(), cutoff))
  }

  /** The entries of one slot on both sides, diffed by (key, version) */
  private diffSlot (slot: number, mine: SlotEntry[], theirs: Map<string, SlotEntry>, cutoff: number): SlotDiff {
    const diff: SlotDiff = { slot, push: [], pull: [], same: [], mine, theirs }
    const held = new Set<string>()

    for (const entry of mine) {
      const id = keyId(entry.key)
      held.add(id)
      const other = theirs.get(id)

      if (other == null) {
        // an old tombstone is not sent where there is no value to hide
        if (!(entry.tombstone && versionTime(entry.version) < cutoff)) {
          diff.push.push(entry.key)
        }

        continue
      }

      const order = compareVersions(entry.version, other.version)

      if (order > 0) {
        diff.push.push(entry.key)
      } else if (order < 0) {
        diff.pull.push(entry.key)
      } else {
        diff.same.push(entry.key)
      }
    }

    for (const [id, entry] of theirs) {
      if (!held.has(id) && !(entry.tombstone && versionTime(entry.version) < cutoff)) {
        diff.pull.push(entry.key)
      }
    }

    return diff
  }

  /**
   * The peer's records of `keys` (held by both at one version) against this
   * node's. Keys whose contents differ are both pushed and pulled: each owner
   * keeps the copy its rule for one version with two contents prefers, so
   * both end with the same one. Returns the keys to push; adds them to `pull`.
   */
  private async compareValues (peer: PeerId, keys: Uint8Array[], epoch: number, pull: Uint8Array[], signal: AbortSignal): Promise<Uint8Array[]> {
    const differ: Uint8Array[] = []

    for (let i = 0; i < keys.length; i += PULL_CHUNK) {
      const chunk = keys.slice(i, i + PULL_CHUNK)
      const theirs = await this.fetch(peer, chunk, epoch, signal)
      const mine = await this.init.replica.recordsOf(chunk, { signal })

      theirs.forEach((record, j) => {
        const own = mine[j]

        if (record != null && own != null && !sameContent(record, own)) {
          differ.push(chunk[j])
        }
      })
    }

    pull.push(...differ)
    return differ
  }

  /** Write this node's records of `keys` to the peer; what it refuses as older is newer there: take it */
  private async push (peer: PeerId, keys: Uint8Array[], epoch: number, signal: AbortSignal): Promise<void> {
    if (keys.length === 0) {
      return
    }

    const limit = Math.min(PUSH_BYTES, Math.floor(this.init.maxMessageSize / 2))

    for (let i = 0; i < keys.length; i += PULL_CHUNK) {
      const records = (await this.init.replica.recordsOf(keys.slice(i, i + PULL_CHUNK), { signal }))
        .filter((r): r is VersionedRecord => r != null)
      let batch: VersionedRecord[] = []
      let bytes = 0

      const send = async (): Promise<void> => {
        if (batch.length === 0) {
          return
        }

        const res = await this.call(peer, { type: Request.Type.REPLICA_WRITE, epoch, records: batch as WireRecord[] }, signal)
        this.counters.recordsPushed += batch.length - res.records.length

        if (res.records.length > 0) {
          await this.init.replica.applyRecords(res.records, { signal })
          this.counters.recordsPulled += res.records.length
        }

        batch = []
        bytes = 0
      }

      for (const record of records) {
        const size = record.key.byteLength + (record.value?.byteLength ?? 0) + record.version.byteLength + 16

        if (bytes + size > limit) {
          await send()
        }

        batch.push(record)
        bytes += size
      }

      await send()
    }
  }

  /** Take the peer's records of `keys` and apply them here */
  private async pull (peer: PeerId, keys: Uint8Array[], epoch: number, signal: AbortSignal): Promise<void> {
    for (let i = 0; i < keys.length; i += PULL_CHUNK) {
      const records = (await this.fetch(peer, keys.slice(i, i + PULL_CHUNK), epoch, signal))
        .filter((r): r is VersionedRecord => r != null)

      if (records.length > 0) {
        await this.init.replica.applyRecords(records, { signal })
        this.counters.recordsPulled += records.length
      }
    }
  }

  /** The peer's records of `keys`, in order, undefined where it holds none */
  private async fetch (peer: PeerId, keys: Uint8Array[], epoch: number, signal: AbortSignal): Promise<Array<VersionedRecord | undefined>> {
    const records: Array<VersionedRecord | undefined> = []

    for await (const res of this.callStreamed(peer, { type: Request.Type.REPLICA_GET_MANY, epoch, keys: keys as Array<Uint8Array<ArrayBuffer>> }, signal)) {
      for (const entry of res.entries) {
        const asked = keys[records.length]

        if (entry.key != null && (asked == null || !equals(entry.key, asked))) {
          throw new ProtocolError(`Peer ${peer.toString()} answered a record of another key than asked (${records.length}th of ${keys.length})`)
        }

        if (entry.missing || entry.key == null || entry.version == null) {
          records.push(undefined)
          continue
        }

        records.push({
          key: entry.key,
          value: entry.tombstone === true ? undefined : (entry.value ?? new Uint8Array(0)),
          version: entry.version,
          tombstone: entry.tombstone === true
        })
      }
    }

    if (records.length !== keys.length) {
      throw new ProtocolError(`Peer ${peer.toString()} answered ${records.length} records for ${keys.length} keys`)
    }

    return records
  }

  /**
   * Delete the old tombstones every other owner of their slot was seen to hold
   * (or to hold nothing for) this round. Looking for them reads every key
   * held, so it runs at most once per quarter of the grace period.
   */
  private async purge (ownership: Ownership, purge: Map<number, PurgeState>, signal: AbortSignal): Promise<void> {
    const now = Date.now()

    if (signal.aborted || purge.size === 0 || now - this.lastSweep < this.init.tombstoneGracePeriod / 4) {
      return
    }

    this.lastSweep = now
    const candidates = (await this.init.replica.tombstones(now - this.init.tombstoneGracePeriod, { signal })).filter(entry => {
      const slot = keySlot(entry.key)
      const state = purge.get(slot)
      return state != null && state.peers.size >= ownership.table.owners(slot).length - 1 && !state.vetoed.has(keyId(entry.key))
    })

    if (candidates.length > 0) {
      this.counters.tombstonesPurged += await this.init.replica.purgeTombstones(candidates, { signal })
    }
  }

  private stamp (req: Partial<Request>): Partial<Request> {
    req.clock = this.init.clock()
    return req
  }

  private async call (peer: PeerId, req: Partial<Request>, signal: AbortSignal): Promise<Response> {
    this.stamp(req)
    // encoded once, counted and sent (a push carries values: encoding it twice cost a repair a copy of every value)
    const body = encodeRequest(req)
    this.counters.bytesSent += body.byteLength
    const res = await this.init.channel(peer).callEncoded(body, { signal, onBytes: this.received })
    this.answered(peer, res)
    return res
  }

  private async * callStreamed (peer: PeerId, req: Partial<Request>, signal: AbortSignal): AsyncGenerator<Response> {
    this.stamp(req)
    this.counters.bytesSent += Request.encode(req).byteLength

    for await (const res of this.init.channel(peer).callStreamed(req, { signal, onBytes: this.received })) {
      this.answered(peer, res)
      yield res
    }
  }

  private answered (peer: PeerId, res: Response): void {
    if (res.clock > 0n) {
      this.init.observe(res.clock)
    }

    if (res.status !== Response.Status.OK) {
      throw errorFromResponse(res, peer.toString())
    }
  }
}

/** A record of a bulk copy's answer, checked: whole, and of a slot asked for */
function copiedRecord (peer: PeerId, entry: Entry, wanted: ReadonlySet<number>): VersionedRecord {
  if (entry.key == null || entry.version == null) {
    throw new ProtocolError(`Peer ${peer.toString()} sent a copied record without key or version`)
  }

  const slot = keySlot(entry.key)

  if (!wanted.has(slot)) {
    throw new ProtocolError(`Peer ${peer.toString()} sent a copied record of slot ${slot}, not asked for`)
  }

  const tombstone = entry.tombstone === true
  // the checksum the old owner checked: stored as sent, not computed again (see
  // `VersionedRecord.checksum`); protons reads a fixed64 as signed, checksums are unsigned
  const checksum = entry.checksum == null ? undefined : BigInt.asUintN(64, entry.checksum)
  return { key: entry.key, value: tombstone ? undefined : (entry.value ?? new Uint8Array(0)), version: entry.version, tombstone, checksum }
}

/** What is known, this round, of the other owners of one slot */
interface PurgeState {
  /** The other owners seen to hold every old tombstone this node holds in the slot (or none of the key) */
  peers: Set<string>
  /** Keys some owner holds at another version: not purged this round */
  vetoed: Set<string>
}

function stateOf (purge: Map<number, PurgeState>, slot: number): PurgeState {
  let state = purge.get(slot)

  if (state == null) {
    state = { peers: new Set(), vetoed: new Set() }
    purge.set(slot, state)
  }

  return state
}

/** The peer's digest of `slot` equals this node's: it holds exactly the same records */
function agreed (purge: Map<number, PurgeState>, slot: number, peer: PeerId): void {
  stateOf(purge, slot).peers.add(peer.toString())
}

/**
 * After a slot was reconciled with `peer`: the peer counts as holding this
 * node's old tombstones if, before the exchange, it held each at the same
 * version or held nothing for its key. Tombstones it held at another version
 * are vetoed for this round.
 */
function tombstonesHeld (purge: Map<number, PurgeState>, diff: SlotDiff, peer: PeerId, cutoff: number): void {
  const state = stateOf(purge, diff.slot)

  for (const entry of diff.mine) {
    if (!entry.tombstone || versionTime(entry.version) >= cutoff) {
      continue
    }

    const other = diff.theirs.get(keyId(entry.key))

    if (other != null && compareVersions(other.version, entry.version) !== 0) {
      state.vetoed.add(keyId(entry.key))
    }
  }

  state.peers.add(peer.toString())
}

/**
 * For each other owner, the slots it shares with this node, among replicated
 * ranges (ranges with one owner have no replica to repair)
 */
export function sharedSlots (ownership: Ownership, self: PeerId): Map<string, { peer: PeerId, slots: number[] }> {
  const shared = new Map<string, { peer: PeerId, slots: number[] }>()

  for (const range of ownership.table.ranges) {
    if (range.owners.length < 2 || !range.owners.some(o => o.equals(self))) {
      continue
    }

    for (const owner of range.owners) {
      if (owner.equals(self)) {
        continue
      }

      const id = owner.toString()
      let entry = shared.get(id)

      if (entry == null) {
        entry = { peer: owner, slots: [] }
        shared.set(id, entry)
      }

      for (let slot = range.start; slot <= range.end; slot++) {
        entry.slots.push(slot)
      }
    }
  }

  for (const entry of shared.values()) {
    entry.slots.sort((a, b) => a - b)
  }

  return shared
}

/** Runs of consecutive slots, each at most `max` long, as [start, end] inclusive */
export function spans (slots: readonly number[], max: number): Array<[number, number]> {
  const out: Array<[number, number]> = []
  let i = 0

  while (i < slots.length) {
    const start = slots[i]
    let end = start

    while (i + 1 < slots.length && slots[i + 1] === end + 1 && end - start + 1 < max) {
      end = slots[++i]
    }

    out.push([start, end])
    i++
  }

  return out
}

/** Sorted slots cut into runs: a new run where the gap exceeds `gap` or the run would span more than `span` slots */
export function runs (slots: readonly number[], gap: number, span: number): number[][] {
  const out: number[][] = []
  let run: number[] = []

  for (const slot of slots) {
    if (run.length > 0 && (slot - run[run.length - 1] > gap || slot - run[0] >= span)) {
      out.push(run)
      run = []
    }

    run.push(slot)
  }

  if (run.length > 0) {
    out.push(run)
  }

  return out
}

/** Milliseconds of a version's hybrid logical clock */
function versionTime (version: Uint8Array): number {
  return Number(versionClock(version) >> 16n)
}

/** Per-slot digests XORed per run of 2^group slots, as an owner answers a grouped DIGESTS */
function groupDigests (perSlot: Uint8Array, group: number): Uint8Array {
  const slots = perSlot.byteLength / 8
  const out = new Uint8Array((((slots - 1) >> group) + 1) * 8)

  for (let i = 0; i < perSlot.byteLength; i++) {
    out[((i >> 3) >> group) * 8 + (i & 7)] ^= perSlot[i]
  }

  return out
}

function equalAt (a: Uint8Array, b: Uint8Array, offset: number): boolean {
  for (let i = offset; i < offset + 8; i++) {
    if ((a[i] ?? 0) !== (b[i] ?? 0)) {
      return false
    }
  }

  return true
}

function sameContent (a: VersionedRecord, b: VersionedRecord): boolean {
  return a.tombstone === b.tombstone && compareVersions(a.value ?? EMPTY_DIGEST, b.value ?? EMPTY_DIGEST) === 0
}

/** A key as a map key (one char per byte) */
function keyId (bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1')
}
