import { peerIdFromMultihash } from '@libp2p/peer-id'
import * as Digest from 'multiformats/hashes/digest'
import { SLOT_COUNT } from '../constants.js'
import { Ownership } from '../slots/ownership.js'
import { forEachRun, sameOwners } from '../slots/table.js'
import type { Tracker } from '../pb/message.js'
import type { SlotTable } from '../slots/table.js'
import type { PeerId } from '@libp2p/interface'

/**
 * How far one member is in the slot table transitions, as epochs (0 for
 * none). Each only grows.
 */
export interface Trackers {
  /** Highest epoch the member adopted, with no write under an older table still in flight on it */
  ack: number
  /** Highest epoch whose newly owned slots the member copied from their old owners */
  sync: number
  /** Highest epoch for which the member saw every member synced */
  syncAck: number
}

/**
 * The slot tables in force on this node (Garage's layout history): the
 * current one, and during a transition the previous one too, with the
 * trackers of every member as this node knows them.
 *
 * While two tables are in force, a slot whose owner set differs between them
 * is written to the owners of both (a quorum in each) and read from the old
 * owners until every member reports `sync` for the new epoch. Members copy
 * the slots they newly own once every member reports `ack` (nobody writes by
 * the old table alone any more), and the old table is retired once every
 * member reports `syncAck`.
 */
export class Layout {
  /** The ownership under the newest table */
  current: Ownership
  /** The ownership under the table being moved away from, during a transition */
  previous?: Ownership
  /** This node's trackers */
  readonly own: Trackers
  private readonly self: PeerId
  private readonly known: Map<string, Trackers>
  /** Peer ID bytes of each peer in `known` */
  private readonly peers: Map<string, Uint8Array<ArrayBuffer>>
  /** Per slot, 1 when its owner sets differ between the two tables (computed per transition) */
  private changed?: Uint8Array
  /**
   * Members a newer signed table (kept until this transition is over)
   * declares dead: this transition does not wait for them either, or a
   * member that died during a move would hold it, and the table removing
   * it, up for good
   */
  private dead: Set<string>
  /** Per member, the slots it gains in the transition in progress (see `gained`) */
  private readonly gains: Map<string, Uint8Array>

  constructor (current: Ownership, self: PeerId) {
    this.current = current
    this.self = self
    this.known = new Map()
    this.peers = new Map()
    this.own = { ack: current.table.epoch, sync: current.table.epoch, syncAck: current.table.epoch }
    this.dead = new Set()
    this.gains = new Map()
  }

  /** The members a newer signed table declares dead (see `SlotTable.dead`), while it waits for this transition to end */
  declareDead (peers: readonly PeerId[]): void {
    this.dead = new Set(peers.map(p => p.toString()))
  }

  /** Two tables are in force */
  get moving (): boolean {
    return this.previous != null
  }

  /** The epochs in force, oldest first */
  epochs (): number[] {
    return this.previous == null ? [this.current.table.epoch] : [this.previous.table.epoch, this.current.table.epoch]
  }

  /** Start a transition from the current table to `next` */
  begin (next: SlotTable): void {
    this.previous = this.current
    this.current = new Ownership(next, this.self)
    this.changed = undefined
    this.gains.clear()
  }

  /** Move to `next` at once, with no transition */
  replace (next: SlotTable): void {
    this.current = new Ownership(next, this.self)
    this.previous = undefined
    this.changed = undefined
    this.gains.clear()
    this.own.ack = Math.max(this.own.ack, next.epoch)
    this.own.sync = Math.max(this.own.sync, next.epoch)
    this.own.syncAck = Math.max(this.own.syncAck, next.epoch)
  }

  /** Resume a transition restored after a restart, with this node's own trackers as they were persisted */
  resume (previous: SlotTable, current: SlotTable, sync: number, syncAck: number): void {
    this.previous = new Ownership(previous, this.self)
    this.current = new Ownership(current, this.self)
    this.changed = undefined
    this.gains.clear()
    this.own.ack = previous.epoch
    this.own.sync = Math.max(previous.epoch, Math.min(sync, current.epoch))
    this.own.syncAck = Math.max(previous.epoch, Math.min(syncAck, current.epoch))
  }

  /** End the transition: the old table is no longer in force */
  retire (): void {
    this.previous = undefined
    this.changed = undefined
    this.gains.clear()
  }

  /** Every member of a table in force (this node included when listed) */
  members (): PeerId[] {
    const seen = new Map<string, PeerId>()

    for (const ownership of [this.previous, this.current]) {
      for (const peer of ownership?.table.peers ?? []) {
        seen.set(peer.id.toString(), peer.id)
      }
    }

    return [...seen.values()]
  }

  /** The slot's owner sets differ between the two tables in force */
  changes (slot: number): boolean {
    if (this.previous == null) {
      return false
    }

    if (this.changed == null) {
      // range by range: slot by slot, comparing owner lists cost ~90 ms per transition, on every node, as it began
      const changed = new Uint8Array(SLOT_COUNT)

      forEachRun(this.previous.table, this.current.table, (start, end, a, b) => {
        if (!sameOwners(a, b)) {
          changed.fill(1, start, end + 1)
        }
      })

      this.changed = changed
    }

    return this.changed[slot] === 1
  }

  /** The slots this node owns under the new table whose owner set changed: those it copies from the old owners */
  slotsToCopy (): number[] {
    const out: number[] = []

    if (this.previous == null) {
      return out
    }

    for (let slot = 0; slot < SLOT_COUNT; slot++) {
      if (this.current.owns(slot) && this.changes(slot)) {
        out.push(slot)
      }
    }

    return out
  }

  /**
   * The owner sets a write of `slot` must reach a quorum in, each: one
   * normally, the old and the new during a transition that changes the slot
   */
  writeSets (slot: number): Array<readonly PeerId[]> {
    if (this.previous != null && this.changes(slot)) {
      return [this.previous.table.owners(slot), this.current.table.owners(slot)]
    }

    return [this.current.table.owners(slot)]
  }

  /**
   * `slot` is being copied between this node and `peer` for the transition
   * in progress: one of them gains it and has not synced yet. Its copy
   * moves the slot's records; anti-entropy rounds leave it alone until then.
   */
  copying (peer: PeerId, slot: number): boolean {
    if (this.previous == null || !this.changes(slot)) {
      return false
    }

    const epoch = this.current.table.epoch
    const id = peer.toString()

    return (this.own.sync < epoch && this.gained(this.self.toString(), this.self)[slot] === 1) ||
      ((this.known.get(id)?.sync ?? 0) < epoch && this.gained(id, peer)[slot] === 1)
  }

  /**
   * Per slot, 1 where `member` owns it in the new table and did not in the
   * old one; computed once per member and transition (anti-entropy asks for
   * every slot and peer in every round)
   */
  private gained (id: string, member: PeerId): Uint8Array {
    let gains = this.gains.get(id)

    if (gains == null) {
      gains = new Uint8Array(SLOT_COUNT)

      if (this.previous != null) {
        for (const range of this.current.table.ranges) {
          if (range.owners.some(o => o.equals(member))) {
            gains.fill(1, range.start, range.end + 1)
          }
        }

        for (const range of this.previous.table.ranges) {
          if (range.owners.some(o => o.equals(member))) {
            gains.fill(0, range.start, range.end + 1)
          }
        }
      }

      this.gains.set(id, gains)
    }

    return gains
  }

  /** The ownership reads go by: the old table's until every member reports the new epoch synced */
  readOwnership (): Ownership {
    if (this.previous != null && !this.every(t => t.sync)) {
      return this.previous
    }

    return this.current
  }

  /** A member's trackers as this node knows them (zeros when unknown) */
  trackersOf (peer: PeerId | string): Trackers {
    const id = peer.toString()

    if (id === this.self.toString()) {
      return { ...this.own }
    }

    return { ...(this.known.get(id) ?? { ack: 0, sync: 0, syncAck: 0 }) }
  }

  /**
   * Every member of the tables in force reports at least the current epoch
   * in the tracker `pick` reads, but those the new table declares dead
   * (`SlotTable.dead`): the move does not wait for them
   */
  every (pick: (t: Trackers) => number): boolean {
    // asked by every read during a move (`readOwnership`): no copies, no map of the members
    const epoch = this.current.table.epoch
    const dead = this.current.table.dead
    const self = this.self.toString()
    const unknown: Trackers = { ack: 0, sync: 0, syncAck: 0 }

    for (const ownership of [this.previous, this.current]) {
      for (const { id } of ownership?.table.peers ?? []) {
        const name = id.toString()
        const trackers = name === self ? this.own : this.known.get(name) ?? unknown

        if (pick(trackers) < epoch && !this.dead.has(name) && !dead.some(d => d.equals(id))) {
          return false
        }
      }
    }

    return true
  }

  /** Learn trackers from a member's message (each only grows); this node's own are never taken from others */
  learn (trackers: readonly Tracker[]): void {
    for (const tracker of trackers) {
      let id: string

      try {
        id = peerIdFromMultihash(Digest.decode(tracker.peer)).toString()
      } catch {
        continue
      }

      if (!this.peers.has(id)) {
        // a copy: the message's bytes are a view of the whole frame
        this.peers.set(id, Uint8Array.from(tracker.peer))
      }

      if (id === this.self.toString()) {
        continue
      }

      // no claim past the newest table this node holds: nobody can have moved to a table it has not seen
      const newest = this.current.table.epoch
      const held = this.known.get(id) ?? { ack: 0, sync: 0, syncAck: 0 }
      held.ack = Math.max(held.ack, Math.min(newest, safeEpoch(tracker.ack)))
      held.sync = Math.max(held.sync, Math.min(newest, safeEpoch(tracker.sync)))
      held.syncAck = Math.max(held.syncAck, Math.min(newest, safeEpoch(tracker.syncAck)))
      this.known.set(id, held)
    }
  }

  /**
   * This node's trackers, then every member's it learnt, for a message. Not
   * only the members of the tables in force: a node that retired a table
   * still tells a caller in that transition how far its members are, so the
   * caller can retire it too.
   */
  message (): Tracker[] {
    const out: Tracker[] = [{ peer: this.self.toMultihash().bytes, ...this.own }]

    for (const [id, known] of this.known) {
      const peer = this.peers.get(id)

      if (peer != null) {
        out.push({ peer, ...known })
      }
    }

    return out
  }
}

/** An epoch from the wire: a tracker claiming more than a JS number holds exactly counts as nothing */
function safeEpoch (epoch: number): number {
  return Number.isSafeInteger(epoch) && epoch >= 0 ? epoch : 0
}
