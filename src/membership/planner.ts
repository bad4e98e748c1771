/**
 * The movement planner: from the slot table in force and a target (members,
 * their weights, the replication factor) to the next table, moving as few
 * slot replicas as possible.
 *
 * Each member's target share of the slot replicas is proportional to its
 * weight (at most one replica per slot, so at most every slot), rounded to
 * integers by largest remainder. Slots with the same owners are
 * interchangeable, so the planner decides how many slots of each such class
 * each member holds, by a minimum-cost flow where keeping a slot costs 0 and
 * taking a new one costs 1: no table with the same shares moves fewer
 * replicas. That is the sum of the members' shortfalls (what joins need,
 * what leaving members held) unless the current table makes that impossible
 * (a member above its target may only hold slots that those below already
 * hold; then others relay, one extra move each). Each class's shares are laid
 * out over its slots in order, so the new table keeps few ranges. Slots whose
 * owners stay keep their order; slots that change get their primaries
 * spread by weight.
 */

import { isPeerId } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { SLOT_COUNT } from '../constants.js'
import { InvalidPlanError } from '../errors.js'
import { SlotTable } from '../slots/table.js'
import { FlowNetwork } from './max-flow.js'
import type { SlotRangeInit } from '../slots/table.js'
import type { PeerId } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

/**
 * A member of the target layout
 */
export interface PlanMember {
  /** The peer ID, or its string form */
  id: PeerId | string
  /**
   * Addresses to dial it on. A peer already in the table keeps its addresses
   * and gains any new ones given here; a new peer needs at least one for the
   * others to reach it.
   */
  addrs?: Array<Multiaddr | string>
  /** Relative capacity, a finite number > 0, default 1 */
  weight?: number
}

/**
 * What the next table should look like
 */
export interface PlanTarget {
  /** Every member of the next table, in the order its peers are listed */
  members: PlanMember[]
  /** Owners per slot, from 1 to the number of members; default the current table's */
  replicas?: number
}

/**
 * What the plan does to one node
 */
export interface NodePlan {
  /** The node */
  readonly id: PeerId
  /** `joining`: not an owner in the current table; `leaving`: not a member of the next */
  readonly change: 'joining' | 'leaving' | 'staying'
  /** The weight the plan used, 0 for a leaving node */
  readonly weight: number
  /** Slots it holds a replica of, before and after */
  readonly before: number
  readonly after: number
  /** Its exact target share, which `after` equals unless the current table made it impossible */
  readonly target: number
  /** Slots it gains a replica of, and loses */
  readonly gained: number
  readonly lost: number
  /** Slots it is the primary of, before and after */
  readonly primaryBefore: number
  readonly primaryAfter: number
}

/**
 * A run of slots whose replica on `from` moves to `to`. `from` is absent
 * for a replica added because the replication factor grew (copied from the
 * slot's remaining owners); `to` is absent for one dropped because it shrank.
 */
export interface ReplicaMove {
  readonly start: number
  /** Last slot, inclusive */
  readonly end: number
  readonly from?: PeerId
  readonly to?: PeerId
}

/**
 * The next table and what it takes to get there
 */
export interface TablePlan {
  /** The table in force */
  readonly from: SlotTable
  /** The next table: epoch + 1 */
  readonly table: SlotTable
  /** Owners per slot in the next table */
  readonly replicas: number
  /** Every node of either table: members in the target's order, then leaving nodes */
  readonly nodes: readonly NodePlan[]
  /** The replica moves, in slot order */
  readonly moves: readonly ReplicaMove[]
  /** Slot replicas that change owner: the sum of every node's `gained` */
  readonly moved: number
  /** The least any plan could move: the sum over members of their target minus what they hold, where positive */
  readonly minimum: number
  /** Ranges in the next table */
  readonly ranges: number
  /** One line saying what the plan does */
  readonly summary: string
}

/**
 * Options of {@link planAddNode}, {@link planRemoveNode} and {@link planRebalance}
 */
export interface PlanOptions {
  /** Owners per slot in the next table; default the current table's */
  replicas?: number
}

const S = SLOT_COUNT
const NONE = -1

/**
 * The next table for `target` and the moves to reach it from `current`.
 * Pure: it only computes.
 *
 * @param current - the table in force
 * @param target - the members, their weights and the replication factor
 * @throws {InvalidPlanError} if the target is invalid: no members, a member listed twice, an invalid peer ID, a weight that is not a finite number > 0, a replication factor that is not an integer from 1 to the number of members
 * @throws {InvalidSlotTableError} if a new member's address is invalid
 */
export function planTable (current: SlotTable, target: PlanTarget, dead: PeerId[] = []): TablePlan {
  if (!(current instanceof SlotTable)) {
    throw new InvalidPlanError('bad-target', 'the current table must be a SlotTable')
  }

  const { members, replicas } = checkTarget(current, target)
  return new Planner(current, members, replicas, dead).plan()
}

/**
 * The plan that adds one node. The current owners keep their shares relative
 * to each other (their weights are inferred from the replicas they hold,
 * averaging 1, see {@link currentWeights}); the new node's weight is
 * relative to that average.
 *
 * @throws {InvalidPlanError} if the node is already a member, or as {@link planTable}
 */
export function planAddNode (current: SlotTable, node: PlanMember, options: PlanOptions = {}): TablePlan {
  const id = parseId(node?.id, 'the node to add')

  if (current.hasPeer(id) && currentWeights(current).has(id.toString())) {
    throw new InvalidPlanError('already-member', `${id.toString()} already owns slots in the table of epoch ${current.epoch}; use rebalance to change its weight`)
  }

  const members = [...currentMembers(current), { ...node, id }]
  return planTable(current, { members, replicas: options.replicas })
}

/**
 * Options of {@link planRemoveNode}
 */
export interface RemoveOptions extends PlanOptions {
  /**
   * The node is dead for good (a lost disk, a machine gone): the next table
   * declares it dead (`SlotTable.dead`), so the move does not wait for it,
   * and its slots are copied from their other old owners. Refused when a
   * slot it owns would be left with fewer old owners than a quorum, the
   * copies a write acknowledged before could be on.
   */
  dead?: boolean
}

/**
 * The plan that removes one node: only its replicas move, to the others in
 * proportion to their current shares.
 *
 * @throws {InvalidPlanError} if the node owns no slots in the table, it is the last owner, fewer members than the replication factor would remain, with `dead` when a slot of it would keep fewer than a quorum of its old owners, or as {@link planTable}
 */
export function planRemoveNode (current: SlotTable, id: PeerId | string, options: RemoveOptions = {}): TablePlan {
  const peer = parseId(id, 'the node to remove')
  const key = peer.toString()
  const members = currentMembers(current)

  if (!members.some(member => member.id.toString() === key)) {
    throw new InvalidPlanError('unknown-node', `${key} owns no slots in the table of epoch ${current.epoch}, so there is nothing to remove`)
  }

  if (members.length === 1) {
    throw new InvalidPlanError('last-node', `${key} is the only node of the cluster; it cannot be removed`)
  }

  const replicas = options.replicas ?? current.replicas

  if (Number.isSafeInteger(replicas) && replicas > members.length - 1) {
    throw new InvalidPlanError('too-few-nodes', `removing ${key} would leave ${members.length - 1} node${members.length - 1 === 1 ? '' : 's'} for ${replicas} replicas per slot; lower the replication factor too (to ${members.length - 1} at most)`)
  }

  if (options.dead === true) {
    for (const range of current.ranges) {
      const left = range.owners.filter(owner => !owner.equals(peer)).length

      if (left < range.owners.length && left < Math.floor(range.owners.length / 2) + 1) {
        throw new InvalidPlanError('too-few-copies', `slots ${range.start}-${range.end} have ${range.owners.length} owner${range.owners.length === 1 ? '' : 's'}; without ${key} ${left === 0 ? 'none is' : `only ${left} is`} left, fewer than the quorum of ${Math.floor(range.owners.length / 2) + 1} old owners a move copies each slot from. Bring ${key} back (with its store) and remove it alive, or raise the replicas first`)
      }
    }
  }

  return planTable(current, { members: members.filter(member => member.id.toString() !== key), replicas }, options.dead === true ? [peer] : [])
}

/**
 * The plan that gives nodes new weights. Nodes not named keep their shares
 * relative to each other (weights inferred from the replicas they hold, see
 * {@link currentWeights}, scaled to average 1 among them), so asking the
 * same weights again of the resulting table moves nothing.
 *
 * @param weights - peer ID string -> weight, for nodes that own slots
 * @throws {InvalidPlanError} if a named node owns no slots, or as {@link planTable}
 */
export function planRebalance (current: SlotTable, weights: Map<string, number> | Record<string, number>, options: PlanOptions = {}): TablePlan {
  const given = weights instanceof Map ? [...weights] : Object.entries(weights ?? {})
  const members = currentMembers(current)
  const byId = new Map(members.map(member => [member.id.toString(), member]))
  const named = new Map<string, number>()

  for (const [id, weight] of given) {
    const key = parseId(id, 'a node to reweigh').toString()

    if (!byId.has(key)) {
      throw new InvalidPlanError('unknown-node', `${key} owns no slots in the table of epoch ${current.epoch}; add it with add-node`)
    }

    named.set(key, weight)
  }

  // the others keep their shares relative to each other, averaging weight 1,
  // so the same weights asked again of the table they made move nothing
  const others = members.filter(member => !named.has(member.id.toString()))
  const scale = others.reduce((sum, member) => sum + member.weight, 0) / others.length

  for (const member of members) {
    member.weight = named.get(member.id.toString()) ?? member.weight / scale
  }

  return planTable(current, { members, replicas: options.replicas })
}

/**
 * The weights a table implies: each owner's replica count over the average
 * (so an even table gives every owner 1). Peers that own nothing are absent.
 *
 * @returns peer ID string -> weight, in the order of the table's peers
 */
export function currentWeights (table: SlotTable): Map<string, number> {
  const counts = new Map<string, number>()

  for (const peer of table.peers) {
    counts.set(peer.id.toString(), 0)
  }

  for (const range of table.ranges) {
    for (const owner of range.owners) {
      const key = owner.toString()
      counts.set(key, (counts.get(key) ?? 0) + range.end - range.start + 1)
    }
  }

  const owning = [...counts].filter(([, count]) => count > 0)
  const mean = owning.reduce((sum, [, count]) => sum + count, 0) / owning.length
  return new Map(owning.map(([id, count]) => [id, count / mean]))
}

/** The owners of `table` as plan members with their inferred weights */
function currentMembers (table: SlotTable): Array<{ id: PeerId, weight: number }> {
  return [...currentWeights(table)].map(([id, weight]) => ({ id: peerIdFromString(id), weight }))
}

interface Member {
  id: PeerId
  addrs: Array<Multiaddr | string>
  weight: number
}

function checkTarget (current: SlotTable, target: PlanTarget): { members: Member[], replicas: number } {
  if (target == null || typeof target !== 'object' || !Array.isArray(target.members)) {
    throw new InvalidPlanError('bad-target', 'the target must be an object with a members array')
  }

  if (target.members.length === 0) {
    throw new InvalidPlanError('last-node', 'the target has no members: a cluster needs at least one node')
  }

  if (target.members.length > S) {
    throw new InvalidPlanError('bad-target', `the target has ${target.members.length} members, more than the ${S} slots`)
  }

  const seen = new Map<string, number>()
  const members = target.members.map((member, i): Member => {
    const id = parseId(member?.id, `members[${i}].id`)
    const key = id.toString()
    const before = seen.get(key)

    if (before != null) {
      throw new InvalidPlanError('duplicate-node', `members[${i}] lists ${key} again (already members[${before}])`)
    }

    seen.set(key, i)
    const weight = member.weight ?? 1

    if (typeof weight !== 'number' || !Number.isFinite(weight) || weight <= 0) {
      throw new InvalidPlanError('bad-weight', `the weight of ${key} must be a finite number > 0, got ${String(weight)}`)
    }

    if (member.addrs !== undefined && !Array.isArray(member.addrs)) {
      throw new InvalidPlanError('bad-target', `members[${i}].addrs must be an array of multiaddrs`)
    }

    return { id, addrs: member.addrs ?? [], weight }
  })

  const replicas = target.replicas ?? current.replicas

  if (!Number.isSafeInteger(replicas) || replicas < 1) {
    throw new InvalidPlanError('bad-replicas', `the replication factor must be an integer from 1 to the number of members (${members.length}), got ${String(replicas)}`)
  }

  if (replicas > members.length) {
    throw new InvalidPlanError('too-few-nodes', `${replicas} replicas per slot need at least ${replicas} nodes, the target has ${members.length}`)
  }

  return { members, replicas }
}

function parseId (id: unknown, what: string): PeerId {
  if (isPeerId(id)) {
    return id
  }

  if (typeof id === 'string') {
    try {
      return peerIdFromString(id)
    } catch {
      // reported below
    }
  }

  throw new InvalidPlanError('bad-target', `${what} must be a peer ID, got ${typeof id === 'string' ? JSON.stringify(id) : typeof id}`)
}

/**
 * Slots with the same set of owners, in slot order
 */
interface SlotClass {
  /** Node indexes of the owners, ascending */
  owners: number[]
  slots: number[]
}

/**
 * One planning run. Nodes are numbered: target members first, then current
 * owners that leave. `owners` holds, per slot, `width` node indexes in
 * owner order with gaps of NONE.
 */
class Planner {
  readonly #current: SlotTable
  /** Leaving members declared dead (see `SlotTable.dead`) */
  readonly #dead: PeerId[]
  readonly #members: Member[]
  readonly #replicas: number
  readonly #ids: PeerId[]
  readonly #weights: number[]
  readonly #width: number
  readonly #owners: Int32Array
  readonly #before: Int32Array
  readonly #counts: number[]
  readonly #targets: number[]

  constructor (current: SlotTable, members: Member[], replicas: number, dead: PeerId[] = []) {
    this.#current = current
    this.#dead = dead
    this.#members = members
    this.#replicas = replicas
    this.#ids = members.map(member => member.id)
    this.#weights = members.map(member => member.weight)

    const index = new Map(this.#ids.map((id, i) => [id.toString(), i]))

    for (const range of current.ranges) {
      for (const owner of range.owners) {
        if (!index.has(owner.toString())) {
          index.set(owner.toString(), this.#ids.length)
          this.#ids.push(owner)
          this.#weights.push(0)
        }
      }
    }

    this.#width = Math.max(current.replicas, replicas)
    this.#owners = new Int32Array(S * this.#width).fill(NONE)
    this.#counts = new Array<number>(this.#ids.length).fill(0)

    for (const range of current.ranges) {
      const row = range.owners.map(owner => index.get(owner.toString()) ?? NONE)

      for (let slot = range.start; slot <= range.end; slot++) {
        this.#owners.set(row, slot * this.#width)
      }

      for (const node of row) {
        this.#counts[node] += range.end - range.start + 1
      }
    }

    this.#before = this.#owners.slice()
    this.#targets = shares(this.#weights, replicas * S, this.#weights.map(() => S), this.#counts)
  }

  plan (): TablePlan {
    const minimum = this.#targets.reduce((sum, target, node) => sum + Math.max(0, target - this.#counts[node]), 0)

    this.#assign()
    this.#spreadPrimaries()

    const ranges = this.#ranges()
    const table = SlotTable.fromRanges({
      epoch: this.#current.epoch + 1,
      ranges,
      peers: this.#members.map(member => {
        const known = this.#current.peer(member.id)?.addrs ?? []
        const addrs = [...known]

        for (const addr of member.addrs) {
          if (!addrs.some(have => have.toString() === addr.toString())) {
            addrs.push(addr as Multiaddr)
          }
        }

        return { id: member.id, addrs }
      }),
      // a client that joins as a member is a client no more
      clients: this.#current.clients
        .filter(client => !this.#members.some(member => member.id.equals(client.id)))
        .map(client => ({ id: client.id, readOnly: client.readOnly })),
      dead: this.#dead
    })

    return this.#describe(table, minimum)
  }

  /**
   * Decides how many slots of each class (slots with the same members as
   * owners) each member holds: a minimum-cost flow from members (each
   * exactly its target) to classes (each `replicas` owners per slot, a member
   * at most once per slot), where a member keeping a slot it holds costs 0
   * and taking one it does not hold costs 1. The cost is the number of slot
   * replicas that move, and no assignment of the targets moves fewer. Then
   * lays each class's shares out over its slots.
   */
  #assign (): void {
    const R = this.#replicas
    const M = this.#members.length
    const classes = this.#classes(() => true, node => node < M)
    const source = M + classes.length
    const sink = source + 1
    const net = new FlowNetwork(sink + 1)
    const edges: Array<Array<{ node: number, edge: number }>> = classes.map(() => [])

    for (let node = 0; node < M; node++) {
      net.addEdge(source, node, this.#targets[node])
    }

    classes.forEach((c, k) => {
      for (let node = 0; node < M; node++) {
        edges[k].push({ node, edge: net.addEdge(node, M + k, c.slots.length, c.owners.includes(node) ? 0 : 1) })
      }

      net.addEdge(M + k, sink, R * c.slots.length)
    })

    net.minCostMaxFlow(source, sink)

    this.#owners.fill(NONE)
    this.#counts.fill(0)

    classes.forEach((c, k) => {
      const m = c.slots.length
      // Positions 0, 1, 2... walk the class's slots in order, round and round;
      // each member takes as many positions in a row as its share, at most
      // one round, so never a slot twice, and every slot gets R owners.
      // Members keeping every slot come first, so they stay in place.
      const shares = edges[k]
        .map(({ node, edge }) => ({ node, count: net.flow(edge), holds: c.owners.includes(node) }))
        .filter(share => share.count > 0)
        .sort((a, b) => Number(b.holds) - Number(a.holds) || b.count - a.count || a.node - b.node)
      const chosen: number[][] = c.slots.map(() => [])
      let position = 0

      for (const { node, count } of shares) {
        for (let f = count; f > 0; f--, position++) {
          chosen[position % m].push(node)
        }
      }

      c.slots.forEach((slot, i) => {
        this.#place(slot, chosen[i])
      })
    })
  }

  /**
   * Sets a slot's owners: those it had keep their order, newcomers take the
   * places of those that left, then go last
   */
  #place (slot: number, owners: number[]): void {
    const before = this.#row(slot, this.#before)
    const row = before.map(node => owners.includes(node) ? node : NONE)
    const newcomers = owners.filter(node => !before.includes(node))

    for (let i = 0; i < row.length && newcomers.length > 0; i++) {
      if (row[i] === NONE) {
        row[i] = newcomers.shift() ?? NONE
      }
    }

    const final = [...row.filter(node => node !== NONE), ...newcomers]
    this.#owners.set(final, slot * this.#width)

    for (const node of final) {
      this.#counts[node]++
    }
  }

  /**
   * Slots whose owners stay keep their order. In the others, primaries go
   * to the owners furthest below their share of primaries (proportional to
   * weight): a max-flow over classes of changed slots.
   */
  #spreadPrimaries (): void {
    const n = this.#ids.length
    const primaries = new Array<number>(n).fill(0)
    const changed: boolean[] = []

    for (let slot = 0; slot < S; slot++) {
      const before = this.#row(slot, this.#before)
      const after = this.#row(slot)
      const same = before.length === after.length && before.every(node => after.includes(node))
      changed.push(!same)

      if (same) {
        this.#owners.fill(NONE, slot * this.#width, (slot + 1) * this.#width)
        this.#owners.set(before, slot * this.#width)
        primaries[before[0]]++
      }
    }

    const shareOfPrimaries = shares(this.#weights, S, this.#counts, primaries)
    const classes = this.#classes((_, slot) => changed[slot])
    const source = n + classes.length
    const sink = source + 1
    const net = new FlowNetwork(sink + 1)
    const edges: Array<Array<{ node: number, edge: number }>> = classes.map(() => [])

    for (let node = 0; node < n; node++) {
      if (shareOfPrimaries[node] > primaries[node]) {
        net.addEdge(node, sink, shareOfPrimaries[node] - primaries[node])
      }
    }

    classes.forEach((c, k) => {
      net.addEdge(source, n + k, c.slots.length)

      for (const node of c.owners) {
        edges[k].push({ node, edge: net.addEdge(n + k, node, c.slots.length) })
      }
    })

    net.maxFlow(source, sink)

    classes.forEach((c, k) => {
      let position = 0

      for (const { node, edge } of edges[k]) {
        for (let f = net.flow(edge); f > 0; f--, position++) {
          const slot = c.slots[position]
          const row = this.#row(slot)
          this.#owners.fill(NONE, slot * this.#width, (slot + 1) * this.#width)
          this.#owners.set([node, ...row.filter(owner => owner !== node)], slot * this.#width)
        }
      }
    })
  }

  /** Consecutive slots with the same owners in the same order, as ranges */
  #ranges (): SlotRangeInit[] {
    const ranges: SlotRangeInit[] = []
    let start = 0
    let row = this.#row(0)

    for (let slot = 1; slot <= S; slot++) {
      const next = slot < S ? this.#row(slot) : []

      if (slot === S || next.length !== row.length || next.some((node, i) => node !== row[i])) {
        ranges.push({ start, end: slot - 1, owners: row.map(node => this.#ids[node]) })
        start = slot
        row = next
      }
    }

    return ranges
  }

  #describe (table: SlotTable, minimum: number): TablePlan {
    const n = this.#ids.length
    const gained = new Array<number>(n).fill(0)
    const lost = new Array<number>(n).fill(0)
    const before = new Array<number>(n).fill(0)
    const primaryBefore = new Array<number>(n).fill(0)
    const primaryAfter = new Array<number>(n).fill(0)
    const moves: Array<{ start: number, end: number, from: number, to: number }> = []
    // the run of each from -> to pair that may continue
    const open = new Map<string, { start: number, end: number, from: number, to: number }>()

    for (let slot = 0; slot < S; slot++) {
      const old = this.#row(slot, this.#before)
      const now = this.#row(slot)
      const from = old.filter(node => !now.includes(node))
      const to = now.filter(node => !old.includes(node))

      old.forEach(node => { before[node]++ })
      from.forEach(node => { lost[node]++ })
      to.forEach(node => { gained[node]++ })
      primaryBefore[old[0]]++
      primaryAfter[now[0]]++

      for (let i = 0; i < Math.max(from.length, to.length); i++) {
        const move = { start: slot, end: slot, from: from[i] ?? NONE, to: to[i] ?? NONE }
        const key = `${move.from}>${move.to}`
        const last = open.get(key)

        if (last?.end === slot - 1) {
          last.end = slot
        } else {
          moves.push(move)
          open.set(key, move)
        }
      }
    }

    const moved = gained.reduce((sum, count) => sum + count, 0)
    const nodes = this.#ids.map((id, node): NodePlan => Object.freeze({
      id,
      change: this.#weights[node] === 0 ? 'leaving' : before[node] === 0 ? 'joining' : 'staying',
      weight: this.#weights[node],
      before: before[node],
      after: this.#counts[node],
      target: this.#targets[node],
      gained: gained[node],
      lost: lost[node],
      primaryBefore: primaryBefore[node],
      primaryAfter: primaryAfter[node]
    }))

    const joining = nodes.filter(node => node.change === 'joining').length
    const leaving = nodes.filter(node => node.change === 'leaving').length
    const changes = [
      joining > 0 ? `${joining} joining` : '',
      leaving > 0 ? `${leaving} leaving` : ''
    ].filter(Boolean).join(', ')

    return Object.freeze({
      from: this.#current,
      table,
      replicas: this.#replicas,
      nodes: Object.freeze(nodes),
      moves: Object.freeze(moves.map(move => Object.freeze({
        start: move.start,
        end: move.end,
        ...(move.from !== NONE ? { from: this.#ids[move.from] } : {}),
        ...(move.to !== NONE ? { to: this.#ids[move.to] } : {})
      }))),
      moved,
      minimum,
      ranges: table.ranges.length,
      summary: `epoch ${this.#current.epoch} -> ${table.epoch}: ${this.#members.length} member${this.#members.length === 1 ? '' : 's'}${changes !== '' ? ` (${changes})` : ''}, ${this.#replicas} replica${this.#replicas === 1 ? '' : 's'} per slot; ${moved} of ${this.#replicas * S} slot replicas move (minimum ${minimum}); ${table.ranges.length} range${table.ranges.length === 1 ? '' : 's'}`
    })
  }

  /**
   * Classes of slots with the same owner set, among slots `accept` takes
   *
   * @param counts - which owners count, default all
   */
  #classes (accept: (c: SlotClass, slot: number) => boolean, counts: (node: number) => boolean = () => true): SlotClass[] {
    const byKey = new Map<string, SlotClass>()
    const result: SlotClass[] = []

    for (let slot = 0; slot < S; slot++) {
      const owners = this.#row(slot).filter(counts).sort((a, b) => a - b)
      const key = owners.join(',')
      let c = byKey.get(key)

      if (c == null) {
        c = { owners, slots: [] }
        byKey.set(key, c)
      }

      if (accept(c, slot)) {
        if (c.slots.length === 0) {
          result.push(c)
        }

        c.slots.push(slot)
      }
    }

    return result
  }

  /** The owners of a slot in order, without gaps */
  #row (slot: number, owners: Int32Array = this.#owners): number[] {
    const row: number[] = []

    for (let i = slot * this.#width; i < (slot + 1) * this.#width; i++) {
      if (owners[i] !== NONE) {
        row.push(owners[i])
      }
    }

    return row
  }
}

function shares (weights: number[], total: number, caps: number[], held: number[]): number[] {
  const result = new Array<number>(weights.length).fill(0)
  const capped = new Set<number>()
  let quotas: number[] = []

  for (;;) {
    const open = weights.map((weight, node) => weight > 0 && !capped.has(node) ? node : NONE).filter(node => node !== NONE)
    const weight = open.reduce((sum, node) => sum + weights[node], 0)
    const left = total - [...capped].reduce((sum, node) => sum + caps[node], 0)
    // a share that is an integer but for rounding errors (weights inferred from counts) is that integer
    quotas = open.map(node => left * weights[node] / weight).map(quota => Math.abs(quota - Math.round(quota)) < 1e-6 ? Math.round(quota) : quota)
    const over = open.filter((node, i) => quotas[i] >= caps[node])

    if (over.length === 0) {
      for (const node of capped) {
        result[node] = caps[node]
      }

      open.forEach((node, i) => { result[node] = Math.floor(quotas[i]) })
      let remainder = left - open.reduce((sum, node) => sum + result[node], 0)
      const order = open
        .map((node, i) => ({ node, fraction: quotas[i] - Math.floor(quotas[i]) }))
        .sort((a, b) => b.fraction - a.fraction || held[b.node] - held[a.node] || a.node - b.node)

      for (const { node } of order) {
        if (remainder <= 0) {
          break
        }

        result[node]++
        remainder--
      }

      return result
    }

    for (const node of over) {
      capped.add(node)
    }
  }
}
