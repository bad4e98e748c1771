/**
 * The slot table: which peers own which of the 16384 slots, versioned by
 * epoch (see DESIGN.md, "Slot table"). Immutable and validated on
 * construction, so code holding a `SlotTable` never checks it again.
 */

import { isPeerId } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { isMultiaddr, multiaddr } from '@multiformats/multiaddr'
import { SLOT_COUNT } from '../constants.js'
import { InvalidParametersError, InvalidSlotTableError } from '../errors.js'
import { keySlot } from './hash.js'
import type { PeerId } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { Key } from 'interface-datastore'

const MAX_SLOT = SLOT_COUNT - 1

/**
 * A peer as given to the table constructors: its ID, and the addresses other
 * nodes dial it on
 */
export interface SlotPeerInit {
  /** The peer ID, or its string form */
  id: PeerId | string
  /** Addresses to dial the peer on, default none */
  addrs?: Array<Multiaddr | string>
}

/**
 * A peer of a validated table
 */
export interface SlotPeer {
  readonly id: PeerId
  readonly addrs: readonly Multiaddr[]
}

/**
 * A client as given to the table constructors: a peer outside the table's
 * members allowed to call them
 */
export interface SlotClientInit {
  /** The client's peer ID, or its string form */
  id: PeerId | string
  /** Refuse its writes (put, delete, batch); default false */
  readOnly?: boolean
}

/**
 * A client of a validated table
 */
export interface SlotClient {
  readonly id: PeerId
  readonly readOnly: boolean
}

/**
 * A range of slots as given to {@link SlotTable.fromRanges}
 */
export interface SlotRangeInit {
  /** First slot of the range */
  start: number
  /** Last slot of the range, inclusive */
  end: number
  /** Owners, first = primary, the rest = replicas; each must be in `peers` */
  owners: Array<PeerId | string>
}

/**
 * A range of slots of a validated table
 */
export interface SlotRange {
  /** First slot of the range */
  readonly start: number
  /** Last slot of the range, inclusive */
  readonly end: number
  /** Owners, never empty: first = primary, the rest = replicas */
  readonly owners: readonly PeerId[]
}

/**
 * What {@link SlotTable.fromRanges} takes
 */
export interface SlotTableInit {
  /** Version of the table, default 0; a newer epoch always wins */
  epoch?: number
  /** Ranges covering every slot exactly once, in any order */
  ranges: SlotRangeInit[]
  /** Every peer named as an owner, plus any others the cluster knows */
  peers: SlotPeerInit[]
  /**
   * Peers outside `peers` allowed to call the members (see
   * {@link SlotTable.clients}), default none
   */
  clients?: SlotClientInit[]
  /**
   * Former members declared dead for the move into this table (see
   * {@link SlotTable.dead}), default none
   */
  dead?: Array<PeerId | string>
}

/**
 * Options of {@link SlotTable.even}
 */
export interface EvenSlotTableOptions {
  /** Version of the table, default 0 */
  epoch?: number
  /**
   * The replication factor N: owners per range, from 1 (default) to the
   * number of peers. Range i is owned by peers i, i+1, ... i+N-1 (wrapping
   * around), so each peer is primary of one range and replica of N-1 others.
   */
  replicas?: number
  /** Clients allowed to call the members, default none (see {@link SlotTable.clients}) */
  clients?: SlotClientInit[]
}

/**
 * The JSON form of a slot table, as written to config files and sent on the
 * wire. Peer IDs are base58btc strings, multiaddrs are strings.
 */
export interface SlotTableJSON {
  epoch: number
  ranges: Array<{ start: number, end: number, owners: string[] }>
  peers: Array<{ id: string, addrs: string[] }>
  /** Optional: absent means no clients */
  clients?: Array<{ id: string, readOnly: boolean }>
  /** Optional: absent means none declared dead */
  dead?: string[]
}

/** What the table keeps per peer, so peer questions are one map lookup */
interface PeerEntry {
  peer: SlotPeer
  /** Ranges where this peer is primary */
  ranges: readonly SlotRange[]
  /** Slots in those ranges */
  slots: number
}

/**
 * Which peers own which slots, and how to reach them.
 *
 * Ranges cover all 16384 slots exactly once; each range has an ordered owner
 * list (first = primary, the rest = replicas). A table is immutable (its
 * arrays are frozen) and always valid: every constructor checks the input and
 * throws one {@link InvalidSlotTableError} listing every problem found.
 * Slot -> owners lookups are O(1) and allocation-free.
 *
 * @example
 * ```ts
 * const table = SlotTable.even([
 *   { id: peerA, addrs: ['/ip4/10.0.0.1/tcp/4001'] },
 *   { id: peerB, addrs: ['/ip4/10.0.0.2/tcp/4001'] }
 * ], { epoch: 1 })
 *
 * table.primary(keySlot(new Key('/foo'))) // peerA or peerB
 * table.ownersOfKey(new Key('/foo'))      // [primary, ...replicas]
 *
 * // config files and the wire carry the JSON form
 * const copy = SlotTable.fromJSON(JSON.stringify(table))
 * copy.equals(table) // true
 * ```
 */
export class SlotTable {
  /** Version of the table: a non-negative integer that only grows; a newer epoch always wins */
  readonly epoch: number
  /** The ranges, sorted by start, covering every slot exactly once */
  readonly ranges: readonly SlotRange[]
  /** The peers, in the order given */
  readonly peers: readonly SlotPeer[]
  /**
   * Peers that are not members but may call the members' data protocol, in
   * the order given; read-only ones are refused writes. A node with an admin
   * key takes its allowed clients from here, so a signed table changes
   * access everywhere at once.
   */
  readonly clients: readonly SlotClient[]
  /**
   * Former members (members of the table before this one) that the operator
   * declared dead for the move into this table: the move goes on without
   * them, as if each had reported every step (a node that lost its disk, or
   * will never come back). Never members or clients of this table. Their
   * records are copied from the other old owners, so a table is only made
   * with them when every slot keeps a quorum of old owners alive (see
   * `planRemoveNode`).
   */
  readonly dead: readonly PeerId[]

  /** slot -> index into `ranges`; 16384 ranges at most, so 16 bits suffice */
  readonly #index: Uint16Array
  /** peer ID string -> entry */
  readonly #peers: Map<string, PeerEntry>
  /** Distinct primary owners in range order */
  readonly #ownerPeers: readonly PeerId[]
  /** The most owners of any range */
  readonly #replicas: number

  /**
   * Takes already validated, frozen parts: use the static constructors
   */
  private constructor (epoch: number, ranges: readonly SlotRange[], peers: readonly SlotPeer[], clients: readonly SlotClient[], dead: readonly PeerId[], from?: SlotTable) {
    this.epoch = epoch
    this.ranges = ranges
    this.peers = peers
    this.clients = clients
    this.dead = dead

    if (from != null) {
      // same ranges and peers: share what was derived from them
      this.#index = from.#index
      this.#peers = from.#peers
      this.#ownerPeers = from.#ownerPeers
      this.#replicas = from.#replicas
    } else {
      this.#index = new Uint16Array(SLOT_COUNT)
      this.#peers = new Map()

      for (const peer of peers) {
        this.#peers.set(peer.id.toString(), { peer, ranges: [], slots: 0 })
      }

      const primaryRanges = new Map<string, SlotRange[]>()
      const ownerPeers: PeerId[] = []

      ranges.forEach((range, i) => {
        this.#index.fill(i, range.start, range.end + 1)

        const primary = range.owners[0]
        const id = primary.toString()
        let list = primaryRanges.get(id)

        if (list == null) {
          list = []
          primaryRanges.set(id, list)
          ownerPeers.push(primary)
        }

        list.push(range)
      })

      for (const [id, list] of primaryRanges) {
        const entry = this.#peers.get(id)

        // validation guarantees every owner is a listed peer
        if (entry != null) {
          entry.ranges = Object.freeze(list)
          entry.slots = list.reduce((sum, r) => sum + r.end - r.start + 1, 0)
        }
      }

      this.#ownerPeers = Object.freeze(ownerPeers)
      this.#replicas = ranges.reduce((max, range) => Math.max(max, range.owners.length), 1)
    }

    Object.freeze(this)
  }

  /**
   * A table splitting the slots evenly over `peers`: N ranges of
   * floor(16384 / N) slots, the remainder spread one slot each over the first
   * ranges. Range i is owned by `peers[i]`, so the order given is the order of
   * the ranges; with `replicas: N` its owners are `peers[i]` to `peers[i+N-1]`,
   * wrapping around.
   *
   * @param peers - one or more distinct peers
   * @param options - the epoch, default 0, the replication factor, default 1, and the clients, default none
   * @throws {InvalidParametersError} if `peers` is not an array of 1 to 16384 peers, or `replicas` is not an integer from 1 to the number of peers
   * @throws {InvalidSlotTableError} if a peer is invalid or listed twice, the epoch is invalid, or a client is invalid, listed twice or a member
   */
  static even (peers: SlotPeerInit[], options: EvenSlotTableOptions = {}): SlotTable {
    if (!Array.isArray(peers)) {
      throw new InvalidParametersError(`SlotTable.even needs an array of peers, got ${show(peers)}`)
    }

    if (peers.length < 1 || peers.length > SLOT_COUNT) {
      throw new InvalidParametersError(`SlotTable.even needs 1 to ${SLOT_COUNT} peers, got ${peers.length}`)
    }

    const replicas = options.replicas ?? 1

    if (!Number.isSafeInteger(replicas) || replicas < 1 || replicas > peers.length) {
      throw new InvalidParametersError(`replicas must be an integer from 1 to the number of peers (${peers.length}), got ${show(replicas)}`)
    }

    const size = Math.floor(SLOT_COUNT / peers.length)
    const remainder = SLOT_COUNT % peers.length
    const ranges: SlotRangeInit[] = []
    let start = 0

    for (let i = 0; i < peers.length; i++) {
      const end = start + size + (i < remainder ? 1 : 0) - 1
      const owners = Array.from({ length: replicas }, (_, j) => (peers[(i + j) % peers.length] as SlotPeerInit | undefined)?.id as PeerId | string)
      ranges.push({ start, end, owners })
      start = end + 1
    }

    return SlotTable.#fromParts(validate({ epoch: options.epoch ?? 0, ranges, peers, clients: options.clients }, true))
  }

  /**
   * A table from explicit ranges. Ranges may be given in any order; the
   * table keeps them sorted by start.
   *
   * @param init - epoch (default 0), ranges and peers
   * @throws {InvalidSlotTableError} listing every problem: gaps, overlaps, bounds out of range, unknown or repeated owners, invalid or duplicate peers, invalid addresses, invalid epoch, invalid or duplicate clients, clients that are members
   */
  static fromRanges (init: SlotTableInit): SlotTable {
    const input: unknown = init

    if (isRecord(input) && input.epoch === undefined) {
      return SlotTable.#fromParts(validate({ ...input, epoch: 0 }, false))
    }

    return SlotTable.#fromParts(validate(input, false))
  }

  /**
   * A table from its JSON form, or from a string holding it. Everything is
   * validated, so this is safe on input from config files and remote peers.
   *
   * @param json - the output of {@link SlotTable.toJSON}, or that serialised
   * @throws {InvalidSlotTableError} if the string is not JSON, or listing every problem found in the table
   */
  static fromJSON (json: SlotTableJSON | string): SlotTable {
    let input: unknown = json

    if (typeof json === 'string') {
      try {
        input = JSON.parse(json)
      } catch (err) {
        throw new InvalidSlotTableError(`slot table is not valid JSON: ${messageOf(err)}`)
      }
    }

    return SlotTable.#fromParts(validate(input, false))
  }

  /**
   * The replication factor: the most owners of any range (1 when every range
   * has a single owner)
   */
  get replicas (): number {
    return this.#replicas
  }

  /**
   * The owners of a slot, first = primary. The returned array is the table's
   * own frozen array: no allocation per call.
   *
   * @param slot - an integer from 0 to 16383
   * @throws {InvalidParametersError} if `slot` is not such an integer
   */
  owners (slot: number): readonly PeerId[] {
    return this.ranges[this.#rangeIndex(slot)].owners
  }

  /**
   * The primary owner of a slot
   *
   * @param slot - an integer from 0 to 16383
   * @throws {InvalidParametersError} if `slot` is not such an integer
   */
  primary (slot: number): PeerId {
    return this.ranges[this.#rangeIndex(slot)].owners[0]
  }

  /**
   * The range holding a slot
   *
   * @param slot - an integer from 0 to 16383
   * @throws {InvalidParametersError} if `slot` is not such an integer
   */
  rangeOf (slot: number): SlotRange {
    return this.ranges[this.#rangeIndex(slot)]
  }

  /**
   * The owners of the slot a key hashes to (see {@link keySlot}), first = primary
   *
   * @param key - a datastore `Key`, its bytes, or its string form
   */
  ownersOfKey (key: Key | Uint8Array | string): readonly PeerId[] {
    return this.ranges[this.#index[keySlot(key)]].owners
  }

  /**
   * The ranges where `peer` is the primary owner, in slot order; empty if it
   * is primary of none
   *
   * @param peer - a peer ID or its string form
   * @throws {InvalidParametersError} if `peer` is not a valid peer ID
   */
  rangesOf (peer: PeerId | string): SlotRange[] {
    return [...(this.#entry(peer)?.ranges ?? [])]
  }

  /**
   * How many slots `peer` is the primary owner of
   *
   * @param peer - a peer ID or its string form
   * @throws {InvalidParametersError} if `peer` is not a valid peer ID
   */
  slotCount (peer: PeerId | string): number {
    return this.#entry(peer)?.slots ?? 0
  }

  /**
   * Whether `peer` is listed in the table's peers (whether or not it owns slots)
   *
   * @param peer - a peer ID or its string form
   * @throws {InvalidParametersError} if `peer` is not a valid peer ID
   */
  hasPeer (peer: PeerId | string): boolean {
    return this.#entry(peer) != null
  }

  /**
   * Whether `peer` is the primary owner of at least one range
   *
   * @param peer - a peer ID or its string form
   * @throws {InvalidParametersError} if `peer` is not a valid peer ID
   */
  isOwner (peer: PeerId | string): boolean {
    return (this.#entry(peer)?.slots ?? 0) > 0
  }

  /**
   * The distinct primary owners, in the order of their first range: the peers
   * a query fans out to
   */
  ownerPeers (): PeerId[] {
    return [...this.#ownerPeers]
  }

  /**
   * A listed peer with its addresses, or undefined if the table does not list it
   *
   * @param id - a peer ID or its string form
   * @throws {InvalidParametersError} if `id` is not a valid peer ID
   */
  peer (id: PeerId | string): SlotPeer | undefined {
    return this.#entry(id)?.peer
  }

  /**
   * Whether this table's epoch is greater than `other`'s, so it should replace it
   *
   * @param other - the table to compare with
   */
  newer (other: SlotTable): boolean {
    return this.epoch > other.epoch
  }

  /**
   * The same ranges and peers with another epoch
   *
   * @param epoch - a non-negative safe integer
   * @throws {InvalidParametersError} if `epoch` is not a non-negative safe integer
   */
  withEpoch (epoch: number): SlotTable {
    if (!isEpoch(epoch)) {
      throw new InvalidParametersError(`epoch must be a non-negative integer, got ${show(epoch)}`)
    }

    return new SlotTable(epoch + 0, this.ranges, this.peers, this.clients, this.dead, this)
  }

  /**
   * Whether `other` describes the same table: same epoch, same ranges with
   * the same owners in the same order, the same set of peers, each with
   * the same addresses in the same order, and the same set of clients with
   * the same read-only flags. The order peers and clients are listed in
   * does not matter.
   *
   * @param other - the table to compare with
   */
  equals (other: SlotTable): boolean {
    if (other === this) {
      return true
    }

    if (!(other instanceof SlotTable) || other.epoch !== this.epoch ||
      other.ranges.length !== this.ranges.length || other.peers.length !== this.peers.length ||
      other.clients.length !== this.clients.length || other.dead.length !== this.dead.length) {
      return false
    }

    if (this.dead.length > 0) {
      const theirs = new Set(other.dead.map(d => d.toString()))

      if (this.dead.some(d => !theirs.has(d.toString()))) {
        return false
      }
    }

    // clients are few and unique: a map of theirs, then one inclusion is set equality
    if (this.clients.length > 0) {
      const theirs = new Map(other.clients.map(c => [c.id.toString(), c.readOnly]))

      if (this.clients.some(c => theirs.get(c.id.toString()) !== c.readOnly)) {
        return false
      }
    }

    for (let i = 0; i < this.ranges.length; i++) {
      const a = this.ranges[i]
      const b = other.ranges[i]

      if (a.start !== b.start || a.end !== b.end || a.owners.length !== b.owners.length ||
        a.owners.some((owner, j) => !owner.equals(b.owners[j]))) {
        return false
      }
    }

    // no duplicates and equal counts, so one inclusion is set equality
    for (const peer of this.peers) {
      const theirs = other.#peers.get(peer.id.toString())?.peer

      if (theirs == null || theirs.addrs.length !== peer.addrs.length ||
        peer.addrs.some((addr, j) => !addr.equals(theirs.addrs[j]))) {
        return false
      }
    }

    return true
  }

  /**
   * The JSON form, accepted by {@link SlotTable.fromJSON}. A new object each
   * call, so callers may change it.
   */
  toJSON (): SlotTableJSON {
    return {
      epoch: this.epoch,
      ranges: this.ranges.map(range => ({
        start: range.start,
        end: range.end,
        owners: range.owners.map(owner => owner.toString())
      })),
      peers: this.peers.map(peer => ({
        id: peer.id.toString(),
        addrs: peer.addrs.map(addr => addr.toString())
      })),
      // absent when empty: the JSON of a table without clients is as it always was
      ...(this.clients.length > 0 ? { clients: this.clients.map(c => ({ id: c.id.toString(), readOnly: c.readOnly })) } : {}),
      ...(this.dead.length > 0 ? { dead: this.dead.map(d => d.toString()) } : {})
    }
  }

  static #fromParts (parts: Parts): SlotTable {
    return new SlotTable(parts.epoch, parts.ranges, parts.peers, parts.clients, parts.dead)
  }

  #rangeIndex (slot: number): number {
    // `>>> 0` keeps only non-negative integers below 2^32 unchanged
    if ((slot >>> 0) !== slot || slot > MAX_SLOT) {
      throw new InvalidParametersError(`slot must be an integer from 0 to ${MAX_SLOT}, got ${show(slot)}`)
    }

    return this.#index[slot]
  }

  #entry (peer: PeerId | string): PeerEntry | undefined {
    if (typeof peer === 'string') {
      const entry = this.#peers.get(peer)

      if (entry != null) {
        return entry
      }

      // another encoding of a listed peer (e.g. a CID) still finds it
      const parsed = parsePeerId(peer)

      if (!isPeerId(parsed)) {
        throw new InvalidParametersError(`${show(peer)} is not a valid peer ID${parsed.reason != null ? ` (${parsed.reason})` : ''}`)
      }

      return this.#peers.get(parsed.toString())
    }

    if (isPeerId(peer)) {
      return this.#peers.get(peer.toString())
    }

    throw new InvalidParametersError(`expected a peer ID or its string form, got ${show(peer)}`)
  }
}

/** Validated, frozen parts of a table */
interface Parts {
  epoch: number
  ranges: readonly SlotRange[]
  peers: readonly SlotPeer[]
  clients: readonly SlotClient[]
  dead: readonly PeerId[]
}

/**
 * The runs of slots over which the owners of two tables stay the same, in
 * slot order: `fn(start, end, ownersInA, ownersInB)` once per run (at most
 * as many runs as the two tables have ranges together). For comparing
 * tables range by range instead of slot by slot.
 */
export function forEachRun (a: SlotTable, b: SlotTable, fn: (start: number, end: number, ownersA: readonly PeerId[], ownersB: readonly PeerId[]) => void): void {
  let i = 0
  let j = 0
  let start = 0

  while (i < a.ranges.length && j < b.ranges.length) {
    const ra = a.ranges[i]
    const rb = b.ranges[j]
    const end = Math.min(ra.end, rb.end)
    fn(start, end, ra.owners, rb.owners)
    start = end + 1

    if (ra.end === end) {
      i++
    }

    if (rb.end === end) {
      j++
    }
  }
}

/** The same owners, in any order */
export function sameOwners (a: readonly PeerId[], b: readonly PeerId[]): boolean {
  return a.length === b.length && a.every(o => b.some(p => p.equals(o)))
}

/**
 * Checks a table in init or JSON form, collecting every problem, and returns
 * it normalised: peer IDs parsed, owners resolved to the listed peers' IDs,
 * ranges sorted, everything frozen.
 *
 * @param derived - the ranges were derived from the peers (by `even`), so
 * problems with an owner are already reported against its peer
 */
function validate (input: unknown, derived: boolean): Parts {
  if (!isRecord(input)) {
    throw new InvalidSlotTableError(`slot table must be an object with epoch, ranges and peers, got ${show(input)}`)
  }

  const problems: string[] = []

  if (!isEpoch(input.epoch)) {
    problems.push(`epoch must be a non-negative integer, got ${show(input.epoch)}`)
  }

  // peers
  const peers: SlotPeer[] = []
  const peerIndex = new Map<string, { peer: SlotPeer, index: number }>()
  const peersListed = Array.isArray(input.peers)

  if (!Array.isArray(input.peers)) {
    problems.push(`peers must be an array, got ${show(input.peers)}`)
  } else if (input.peers.length === 0) {
    problems.push('peers must list at least one peer')
  } else {
    input.peers.forEach((value: unknown, i: number) => {
      const where = `peers[${i}]`

      if (!isRecord(value)) {
        problems.push(`${where} must be an object with an id and addrs, got ${show(value)}`)
        return
      }

      const id = checkPeerId(value.id, `${where}.id`, problems)
      const addrs: Multiaddr[] = []

      if (value.addrs !== undefined && !Array.isArray(value.addrs)) {
        problems.push(`${where}.addrs must be an array of multiaddrs, got ${show(value.addrs)}`)
      } else if (Array.isArray(value.addrs)) {
        value.addrs.forEach((addr: unknown, j: number) => {
          const ma = checkMultiaddr(addr, `${where}.addrs[${j}]`, id, where, problems)

          if (ma != null) {
            addrs.push(ma)
          }
        })
      }

      if (id == null) {
        return
      }

      const key = id.toString()
      const seen = peerIndex.get(key)

      if (seen != null) {
        problems.push(`${where} duplicates peer ${key} (already peers[${seen.index}])`)
        return
      }

      const peer: SlotPeer = Object.freeze({ id, addrs: Object.freeze(addrs) })
      peers.push(peer)
      peerIndex.set(key, { peer, index: i })
    })
  }

  // ranges
  const ranges: SlotRange[] = []
  // ranges with usable bounds, for the coverage check
  const spans: Span[] = []

  if (!Array.isArray(input.ranges)) {
    problems.push(`ranges must be an array, got ${show(input.ranges)}`)
  } else {
    input.ranges.forEach((value: unknown, i: number) => {
      const where = `ranges[${i}]`

      if (!isRecord(value)) {
        problems.push(`${where} must be an object with start, end and owners, got ${show(value)}`)
        return
      }

      const start = checkBound(value.start, `${where}.start`, problems)
      const end = checkBound(value.end, `${where}.end`, problems)
      let bounded = start != null && end != null

      if (typeof value.start === 'number' && typeof value.end === 'number' &&
        Number.isInteger(value.start) && Number.isInteger(value.end)) {
        if (value.start > value.end) {
          problems.push(`${where}.start ${value.start} is greater than its end ${value.end}`)
          bounded = false
        } else if (value.end >= 0 && value.start <= MAX_SLOT) {
          // out-of-range bounds are reported above; clamped, the range still
          // covers its in-range slots, so no spurious gap is reported too
          spans.push({ index: i, start: Math.max(value.start, 0), end: Math.min(value.end, MAX_SLOT), given: `${value.start}-${value.end}` })
        }
      }

      const owners: PeerId[] = []

      if (!Array.isArray(value.owners) || value.owners.length === 0) {
        problems.push(`${where}.owners must be a non-empty array of peer IDs, got ${show(value.owners)}`)
      } else {
        const seen = new Map<string, number>()

        value.owners.forEach((owner: unknown, j: number) => {
          const ownerWhere = `${where}.owners[${j}]`
          const id = checkPeerId(owner, ownerWhere, derived ? [] : problems)

          if (id == null) {
            return
          }

          const key = id.toString()
          const listed = peerIndex.get(key)
          const already = seen.get(key)

          if (already != null) {
            problems.push(`${ownerWhere} repeats peer ${key} (already ${where}.owners[${already}])`)
            return
          }

          seen.set(key, j)

          if (listed == null) {
            // when peers is not even an array, every owner would be unknown: noise
            if (peersListed && !derived) {
              problems.push(`${ownerWhere} names peer ${key} which is not listed in peers`)
            }

            return
          }

          owners.push(listed.peer.id)
        })
      }

      if (bounded) {
        ranges.push(Object.freeze({ start: start ?? 0, end: end ?? 0, owners: Object.freeze(owners) }))
      }
    })

    checkCoverage(spans, problems)
  }

  const clients = checkClients(input.clients, peerIndex, problems)
  const dead = checkDead(input.dead, peerIndex, clients, problems)

  if (problems.length > 0) {
    throw new InvalidSlotTableError(problems)
  }

  ranges.sort((a, b) => a.start - b.start)

  return {
    epoch: (input.epoch as number) + 0, // no -0
    ranges: Object.freeze(ranges),
    peers: Object.freeze(peers),
    clients: Object.freeze(clients),
    dead: Object.freeze(dead)
  }
}

/**
 * @returns the peers declared dead, after reporting every invalid or
 * repeated one, and those that are members or clients of the table
 */
function checkDead (value: unknown, members: Map<string, { index: number }>, clients: readonly SlotClient[], problems: string[]): PeerId[] {
  const dead: PeerId[] = []

  if (value === undefined) {
    return dead
  }

  if (!Array.isArray(value)) {
    problems.push(`dead must be an array of peer IDs, got ${show(value)}`)
    return dead
  }

  const seen = new Map<string, number>()

  value.forEach((entry: unknown, i: number) => {
    const where = `dead[${i}]`
    const id = checkPeerId(entry, where, problems)

    if (id == null) {
      return
    }

    const key = id.toString()
    const member = members.get(key)
    const already = seen.get(key)

    if (member != null) {
      problems.push(`${where} is peer ${key}, a member (peers[${member.index}]): only a former member can be declared dead`)
    } else if (clients.some(c => c.id.equals(id))) {
      problems.push(`${where} is peer ${key}, a client of the table: only a former member can be declared dead`)
    } else if (already != null) {
      problems.push(`${where} duplicates ${key} (already dead[${already}])`)
    } else {
      seen.set(key, i)
      dead.push(id)
    }
  })

  return dead
}

/**
 * @returns the valid clients, after reporting every invalid, repeated or
 * member one
 */
function checkClients (value: unknown, members: Map<string, { index: number }>, problems: string[]): SlotClient[] {
  const clients: SlotClient[] = []

  if (value === undefined) {
    return clients
  }

  if (!Array.isArray(value)) {
    problems.push(`clients must be an array of { id, readOnly }, got ${show(value)}`)
    return clients
  }

  const seen = new Map<string, number>()

  value.forEach((entry: unknown, i: number) => {
    const where = `clients[${i}]`

    if (!isRecord(entry)) {
      problems.push(`${where} must be an object with an id and readOnly, got ${show(entry)}`)
      return
    }

    const id = checkPeerId(entry.id, `${where}.id`, problems)

    if (entry.readOnly !== undefined && typeof entry.readOnly !== 'boolean') {
      problems.push(`${where}.readOnly must be true or false, got ${show(entry.readOnly)}`)
      return
    }

    if (id == null) {
      return
    }

    const key = id.toString()
    const member = members.get(key)
    const already = seen.get(key)

    if (member != null) {
      problems.push(`${where} is peer ${key}, a member (peers[${member.index}]): members may always call, list only outsiders as clients`)
      return
    }

    if (already != null) {
      problems.push(`${where} duplicates client ${key} (already clients[${already}])`)
      return
    }

    seen.set(key, i)
    clients.push(Object.freeze({ id, readOnly: entry.readOnly === true }))
  })

  return clients
}

/** A range with integer bounds, clamped to the slots, for the coverage check */
interface Span {
  index: number
  start: number
  end: number
  /** The bounds as given, for messages */
  given: string
}

/**
 * Reports every gap and every overlap between ranges
 */
function checkCoverage (spans: Span[], problems: string[]): void {
  spans.sort((a, b) => a.start - b.start || a.index - b.index)

  let covered = -1 // last slot covered so far
  let coverer: Span | undefined // the range reaching `covered`

  for (const span of spans) {
    if (coverer != null && span.start <= covered) {
      const overlapEnd = Math.min(span.end, covered)
      problems.push(`ranges[${span.index}] (${span.given}) overlaps ranges[${coverer.index}] (${coverer.given}) on ${slots(span.start, overlapEnd)}`)
    } else if (span.start > covered + 1) {
      problems.push(`${slots(covered + 1, span.start - 1)} ${span.start - 1 === covered + 1 ? 'is' : 'are'} not covered by any range`)
    }

    if (span.end > covered) {
      covered = span.end
      coverer = span
    }
  }

  if (covered < MAX_SLOT) {
    problems.push(`${slots(covered + 1, MAX_SLOT)} ${covered + 1 === MAX_SLOT ? 'is' : 'are'} not covered by any range`)
  }
}

function slots (start: number, end: number): string {
  return start === end ? `slot ${start}` : `slots ${start}-${end}`
}

/**
 * @returns the bound if it is an integer slot, else reports why not
 */
function checkBound (value: unknown, where: string, problems: string[]): number | undefined {
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    problems.push(`${where} must be an integer slot, got ${show(value)}`)
    return undefined
  }

  if (value < 0 || value > MAX_SLOT) {
    problems.push(`${where} ${value} is out of range 0-${MAX_SLOT}`)
    return undefined
  }

  return value
}

/**
 * @returns the peer ID, or undefined after reporting why the value is not one
 */
function checkPeerId (value: unknown, where: string, problems: string[]): PeerId | undefined {
  if (isPeerId(value)) {
    if (value.type === 'url') {
      problems.push(`${where} ${value.toString()} is a URL peer ID, which cannot own slots or be dialled`)
      return undefined
    }

    return value
  }

  if (typeof value !== 'string') {
    problems.push(`${where} must be a peer ID string, got ${show(value)}`)
    return undefined
  }

  const parsed = parsePeerId(value)

  if (!isPeerId(parsed)) {
    problems.push(`${where} ${show(value)} is not a valid peer ID${parsed.reason != null ? ` (${parsed.reason})` : ''}`)
    return undefined
  }

  return parsed
}

/**
 * @returns the multiaddr, or undefined after reporting why the value is not one
 */
function checkMultiaddr (value: unknown, where: string, peer: PeerId | undefined, peerWhere: string, problems: string[]): Multiaddr | undefined {
  let ma: Multiaddr

  if (isMultiaddr(value)) {
    ma = value
  } else if (typeof value !== 'string') {
    problems.push(`${where} must be a multiaddr string, got ${show(value)}`)
    return undefined
  } else {
    try {
      ma = multiaddr(value)
    } catch (err) {
      problems.push(`${where} ${JSON.stringify(value)} is not a valid multiaddr (${messageOf(err)})`)
      return undefined
    }
  }

  const components = ma.getComponents()

  if (components.length === 0) {
    problems.push(`${where} ${JSON.stringify(ma.toString())} is not a valid multiaddr (it is empty)`)
    return undefined
  }

  // an address ending in another peer's ID would dial the wrong node
  const last = components[components.length - 1]

  if (peer != null && last.name === 'p2p' && last.value !== peer.toString()) {
    problems.push(`${where} "${ma.toString()}" ends in /p2p/${last.value}, which is not ${peerWhere}.id ${peer.toString()}`)
    return undefined
  }

  return ma
}

/**
 * @returns the peer ID, or a failure with a reason worth showing a user (the
 * parser's own messages, about multibase decoders, would mislead)
 */
function parsePeerId (value: string): PeerId | { reason?: string } {
  try {
    const id = peerIdFromString(value)

    if (id.type === 'url') {
      return { reason: 'a URL peer ID cannot own slots or be dialled' }
    }

    return id
  } catch {
    return {}
  }
}

function isEpoch (value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0
}

function isRecord (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/**
 * A short description of a bad value for a problem message
 */
function show (value: unknown): string {
  if (typeof value === 'string') {
    return JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value)
  }

  if (typeof value === 'bigint') {
    return `${value}n`
  }

  if (Array.isArray(value)) {
    return value.length === 0 ? 'an empty array' : 'an array'
  }

  if (value === null) {
    return 'null'
  }

  if (typeof value === 'number' || typeof value === 'boolean') {
    return String(value)
  }

  if (typeof value === 'symbol') {
    return value.toString()
  }

  if (typeof value === 'function') {
    return 'a function'
  }

  return typeof value === 'object' ? 'an object' : 'undefined'
}

function messageOf (err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}

/**
 * A table change that moves a single-owner slot away from its owner cannot be
 * adopted live: there is no second copy to read while the only one moves,
 * and a slot that ends with a single owner is read as plain values, which
 * the versioned records a move leaves on a new owner are not. A slot may go
 * from one owner to several that include it (its owner keeps serving
 * everything it holds; the others copy its plain values as records of the
 * oldest version), and replicated slots (several owners in both tables)
 * move live; a slot may not end with a single owner other than its owners.
 * Nodes check it before a live move; the command line checks it for any
 * change, as a table with one owner everywhere is switched to at once and
 * the data of the slots it moves would be left behind.
 *
 * @throws {InvalidSlotTableError} naming the first such slot
 */
export function assertMovable (from: SlotTable, to: SlotTable): void {
  // run by run of slots whose owners stay the same in both tables
  forEachRun(from, to, (slot, _end, a, b) => {
    if ((a.length > 1 && b.length > 1) || sameOwners(a, b)) {
      return
    }

    if (b.length === 1 || !b.some(p => p.equals(a[0]))) {
      throw new InvalidSlotTableError(`slot table epoch ${to.epoch} moves slot ${slot}, which has a single owner in epoch ${b.length === 1 ? to.epoch : from.epoch}, to other owners: single-owner slots cannot move while the cluster runs; give the slot 2 or more owners (replicas) in both tables, or keep its single owner among its new owners`)
    }
  })
}
