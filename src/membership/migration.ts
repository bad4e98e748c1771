import { Key } from 'interface-datastore'
import { UnavailableError } from '../errors.js'
import { RESERVED_NAMESPACE } from '../owner/keys.js'
import { required } from '../replication/consistency.js'
import { SlotTable } from '../slots/table.js'
import type { Layout } from './layout.js'
import type { Owner } from '../owner/owner.js'
import type { Ownership } from '../slots/ownership.js'
import type { AntiEntropyStats } from '../replication/anti-entropy.js'
import type { SlotTableJSON } from '../slots/table.js'
import type { Logger, PeerId } from '@libp2p/interface'

/** Where a node keeps the tables of an unfinished transition and its own trackers */
export const LAYOUT_KEY = new Key(`${RESERVED_NAMESPACE}/layout`)

/** How far this node is in the transition in progress (see `ClusterDatastore.status`) */
export interface MigrationProgress {
  /** Slots this node copies from their old owners for the newest epoch, in all */
  slotsTotal: number
  /** Of those, the slots not copied yet */
  slotsToSync: number
  /** Records pulled by this node's copy so far */
  keysCopied: number
  /** Bytes of answers received by this node's copy so far */
  bytesCopied: number
}

export interface MigrationInit {
  self: PeerId
  log: Logger
  layout: Layout
  owner: Owner
  /** A write routed by a table older than `epoch` is in flight on this node's coordinator */
  writingBefore(epoch: number): boolean
  /** Reconcile `slots` (sorted) with `peer` both ways (anti-entropy) */
  reconcile(peer: PeerId, slots: number[], signal: AbortSignal): Promise<void>
  /** Copy every record of `slots` (sorted) from `peer`, no diff (anti-entropy's bulk copy) */
  copySlots(peer: PeerId, slots: number[], signal: AbortSignal): Promise<void>
  /** This node's own trackers moved on: tell the members now rather than on the next heartbeat */
  trackersChanged?(): void
  /** Anti-entropy's counters, to count what the copy pulled */
  stats(): AntiEntropyStats
  isSuspected(peer: PeerId): boolean
  /** The old table was retired: the owner dropped the slots given away, a pending table may be adopted */
  retired(previous: Ownership): void
}

/** What is persisted under `LAYOUT_KEY` */
interface Persisted {
  previous: SlotTableJSON
  current: SlotTableJSON
  sync: number
  syncAck: number
}

/**
 * Drives this node through a slot table transition (see `Layout`): reports
 * `ack` once no write under the old table is in flight here; copies the
 * slots it newly owns from their old owners (all the records of each slot
 * from its first old owner at once, then anti-entropy's digests and entries
 * with the next ones; newest version wins, so writes going on meanwhile are
 * safe) once every member acked, then reports `sync`; reports `syncAck` once every
 * member synced; retires the old table and drops the slots given away once
 * every member reported `syncAck`. `check` runs on every heartbeat and every
 * tracker learnt; nothing here waits on a clock.
 */
export class Migration {
  private readonly init: MigrationInit
  private copying?: Promise<void>
  private controller?: AbortController
  private progress: MigrationProgress
  private saving: Promise<void>
  /** Per slot to copy in `epoch`, how many old owners it was copied from, and from which */
  private copied?: { epoch: number, done: Uint16Array, from: Map<string, Uint8Array> }
  /** The ownership of the table last retired */
  retiredOwnership?: Ownership

  constructor (init: MigrationInit) {
    this.init = init
    this.progress = { slotsTotal: 0, slotsToSync: 0, keysCopied: 0, bytesCopied: 0 }
    this.saving = Promise.resolve()
  }

  /** The copy's progress for the newest epoch */
  status (): MigrationProgress {
    return { ...this.progress }
  }

  start (): void {
    this.controller ??= new AbortController()
  }

  async stop (): Promise<void> {
    this.controller?.abort()
    this.controller = undefined
    await this.copying?.catch(() => {})
    await this.saving
  }

  /** A transition began on this node: persist it so a restart resumes it */
  began (): void {
    const slots = this.init.layout.slotsToCopy().length
    this.progress = { slotsTotal: slots, slotsToSync: slots, keysCopied: 0, bytesCopied: 0 }
    this.save()
    this.check()
  }

  /**
   * Restore an unfinished transition from the child store. Returns the
   * tables to adopt when the record is newer than the table this node was
   * started with (the caller adopts `current` with `previous` in force).
   */
  async restore (current: SlotTable): Promise<{ previous: SlotTable, current: SlotTable, sync: number, syncAck: number } | undefined> {
    const bytes = await this.init.owner.readInternal(LAYOUT_KEY)

    if (bytes == null) {
      return undefined
    }

    try {
      const record: Persisted = JSON.parse(new TextDecoder().decode(bytes))
      const next = SlotTable.fromJSON(record.current)

      if (next.epoch < current.epoch) {
        // a newer table replaced it since: that transition is over for this node
        return undefined
      }

      return {
        previous: SlotTable.fromJSON(record.previous),
        current: next.epoch === current.epoch ? current : next,
        sync: Number.isSafeInteger(record.sync) ? record.sync : 0,
        syncAck: Number.isSafeInteger(record.syncAck) ? record.syncAck : 0
      }
    } catch (err: any) {
      this.init.log.error('the persisted slot table transition is unreadable, ignored - %e', err)
      return undefined
    }
  }

  /** Move the trackers on as far as what this node knows allows; start the copy or retire the old table when due */
  check (): void {
    const { layout } = this.init
    const previous = layout.previous

    if (previous == null) {
      return
    }

    const epoch = layout.current.table.epoch
    const own = layout.own

    if (own.ack < epoch && !this.init.owner.applyingBefore(epoch) && !this.init.writingBefore(epoch)) {
      own.ack = epoch
      this.init.log('acked slot table epoch %d', epoch)
      this.init.trackersChanged?.()
    }

    if (own.sync < epoch && this.copying == null && this.controller != null && layout.every(t => t.ack)) {
      const signal = this.controller.signal
      this.copying = this.copy(epoch, signal).catch(err => {
        this.init.log('copy of the slots of epoch %d not finished, tried again on the next heartbeat - %e', epoch, err)
      }).finally(() => {
        this.copying = undefined
      })
    }

    if (own.sync >= epoch && own.syncAck < epoch && layout.every(t => t.sync)) {
      own.syncAck = epoch
      this.init.log('every member synced slot table epoch %d', epoch)
      this.save()
      this.init.trackersChanged?.()
    }

    if (own.syncAck >= epoch && layout.every(t => t.syncAck)) {
      layout.retire()
      this.retiredOwnership = previous
      this.init.log('retired slot table epoch %d: epoch %d alone is in force', previous.table.epoch, epoch)
      this.save()
      this.init.retired(previous)
    }
  }

  /**
   * Copy the slots this node newly owns: each from a quorum of its old
   * owners (every write acknowledged under the old table alone is on a
   * quorum of them), this node counting when it was one
   */
  private async copy (epoch: number, signal: AbortSignal): Promise<void> {
    const { layout } = this.init
    const previous = layout.previous

    if (previous == null) {
      return
    }

    const slots = layout.slotsToCopy()

    // what an attempt that failed copied still counts (each old owner once per slot)
    if (this.copied?.epoch !== epoch || this.copied.done.length !== slots.length) {
      this.copied = { epoch, done: new Uint16Array(slots.length), from: new Map() }
    }

    const { done, from } = this.copied
    /** Slots this node held under the old table: compared with the old owners, never copied whole */
    const held = new Uint8Array(slots.length)
    const needed = new Uint8Array(slots.length)
    const byPeer = new Map<string, { peer: PeerId, index: number[] }>()
    // what each old owner list says, worked out once per list rather than per slot (a
    // list is shared by the slots of a range: a quarter of the table is thousands of slots)
    const lists = new Map<readonly PeerId[], { held: number, needed: number, others: Array<{ peer: PeerId, index: number[] }> }>()

    slots.forEach((slot, i) => {
      const owners = previous.table.owners(slot)
      let list = lists.get(owners)

      if (list == null) {
        const self = owners.some(o => o.equals(this.init.self)) ? 1 : 0
        const others = owners.filter(o => !o.equals(this.init.self)).map(peer => {
          const entry = byPeer.get(peer.toString()) ?? { peer, index: [] }
          byPeer.set(peer.toString(), entry)
          return entry
        })
        list = { held: self, needed: required(owners.length, 'quorum') - self, others }
        lists.set(owners, list)
      }

      held[i] = list.held
      needed[i] = list.needed

      for (const entry of list.others) {
        entry.index.push(i)
      }
    })

    const left = (): number => needed.filter((n, i) => done[i] < n).length
    this.progress.slotsTotal = slots.length
    this.progress.slotsToSync = left()

    // the old owners the failure detector suspects down last, tried only when
    // the others are not enough (a node that just joined suspects members
    // that refused its heartbeats until they adopted the table listing it)
    const peers = [...byPeer.values()]
    const order = [...peers.filter(p => !this.init.isSuspected(p.peer)), ...peers.filter(p => this.init.isSuspected(p.peer))]

    for (const { peer, index } of order) {
      if (left() === 0) {
        break
      }

      signal.throwIfAborted()

      // only the slots still short of a quorum of old owners, and not copied from this one already
      const got = from.get(peer.toString()) ?? new Uint8Array(slots.length)
      from.set(peer.toString(), got)
      const wanted = index.filter(i => done[i] < needed[i] && got[i] === 0)

      if (wanted.length === 0) {
        continue
      }

      // a slot's first old owner gives all its records at once; from the next
      // ones (and where this node held the slot already) only what differs
      const whole = wanted.filter(i => done[i] === 0 && held[i] === 0)
      const compared = wanted.filter(i => done[i] > 0 || held[i] === 1)

      for (const [part, how] of [[whole, 'copySlots'], [compared, 'reconcile']] as const) {
        if (part.length === 0) {
          continue
        }

        const before = this.init.stats()
        const started = Date.now()

        try {
          await this.init[how](peer, part.map(i => slots[i]), signal)
          this.init.log('%s %d slots with %p in %d ms', how === 'copySlots' ? 'copied' : 'reconciled', part.length, peer, Date.now() - started)
        } catch (err: any) {
          this.init.log('copy from %p failed - %e', peer, err)
          break
        } finally {
          const after = this.init.stats()
          this.progress.keysCopied += after.recordsPulled - before.recordsPulled
          this.progress.bytesCopied += after.bytesReceived - before.bytesReceived
        }

        for (const i of part) {
          done[i]++
          got[i] = 1
        }
      }

      this.progress.slotsToSync = left()
    }

    if (left() > 0) {
      throw new UnavailableError(`${left()} of ${slots.length} slots could not be copied from a quorum of their old owners yet`)
    }

    if (layout.current.table.epoch === epoch && layout.own.sync < epoch) {
      layout.own.sync = epoch
      this.init.log('copied the %d slots newly owned in slot table epoch %d', slots.length, epoch)
      this.save()
      this.init.trackersChanged?.()
      this.check()
    }
  }

  /** Persist the transition in progress, or forget it once over; writes in order */
  private save (): void {
    const { layout } = this.init
    const previous = layout.previous
    const value = previous == null
      ? undefined
      : new TextEncoder().encode(JSON.stringify({
        previous: previous.table.toJSON(),
        current: layout.current.table.toJSON(),
        sync: layout.own.sync,
        syncAck: layout.own.syncAck
      } satisfies Persisted))

    this.saving = this.saving.then(async () => {
      await this.init.owner.writeInternal(LAYOUT_KEY, value)
    }).catch(err => {
      this.init.log.error('could not persist the slot table transition - %e', err)
    })
  }
}
