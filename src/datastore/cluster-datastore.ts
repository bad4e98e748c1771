import { peerIdFromString } from '@libp2p/peer-id'
import { BaseDatastore } from 'datastore-core/base'
import { PROTOCOL } from '../constants.js'
import { InvalidParametersError, NotStartedError, TableSignatureError } from '../errors.js'
import { FailureDetector } from '../membership/failure-detector.js'
import { Layout } from '../membership/layout.js'
import { Migration } from '../membership/migration.js'
import { isSignedSlotTable, keyName } from '../membership/signed-table.js'
import { TableKeeper } from '../membership/table-keeper.js'
import { Owner } from '../owner/owner.js'
import { TableStore } from '../owner/table-store.js'
import { Request, Response } from '../pb/message.js'
import { EMPTY } from '../rpc/bytes.js'
import { errorFromResponse } from '../rpc/errors.js'
import { RpcClient } from '../rpc/client.js'
import { streamLimits } from '../rpc/limits.js'
import { RpcServer } from '../rpc/server.js'
import { AntiEntropy } from '../replication/anti-entropy.js'
import { ownerReplica } from '../replication/replica-store.js'
import { HybridClock } from '../replication/clock.js'
import { Coordinator } from '../replication/coordinator.js'
import { Hints } from '../replication/hints.js'
import { Router } from '../routing/router.js'
import { keySlot } from '../slots/hash.js'
import { Ownership } from '../slots/ownership.js'
import { SlotTable, assertMovable } from '../slots/table.js'
import { assertKey, assertValue, clientAccess, parseAdminKey, parseClients, resolveOptions } from '../validate.js'
import { outcome, partialWriteError, writeShares } from './batch.js'
import { ManyKeys } from './many.js'
import { QueryFanOut, KEYS, PAIRS } from './query.js'
import type { DatastoreComponents } from './components.js'
import type { ClusterDatastoreOptions, ClusterLibp2p, SlotTableJSON } from '../index.js'
import type { PeerState } from '../membership/failure-detector.js'
import type { Trackers } from '../membership/layout.js'
import type { SignedSlotTable } from '../membership/signed-table.js'
import type { Tracker } from '../pb/message.js'
import type { Consistency, ConsistencyOptions } from '../replication/consistency.js'
import type { AntiEntropyStats } from '../replication/anti-entropy.js'
import type { PeerChannel } from '../rpc/client.js'
import type { Access } from '../rpc/server.js'
import type { AbortOptions, Logger, PeerId, PublicKey, Startable } from '@libp2p/interface'
import type { Batch, Datastore, Key, KeyQuery, Pair, Query } from 'interface-datastore'

/** Options after defaults are applied */
export interface ResolvedOptions {
  requestTimeout: number
  maxMessageSize: number
  maxRedirects: number
  maxInboundStreams: number
  maxOutboundStreams: number
  streamWindow: number
  maxInFlightPerStream: number
  maxInFlightBytes: number
  maxQueuedBytes: number
  maxConcurrentPerStream: number
  antiEntropyInterval: number
  tombstoneGracePeriod: number
  scrubInterval: number
  consistency: Consistency
  heartbeatInterval: number
  suspectAfter: number
}

/** One member as this node sees it (see `ClusterDatastore.status`) */
export interface PeerStatus {
  /** The member's peer ID */
  peer: string
  /** `up`, or `suspected` (down) after `suspectAfter` heartbeats without an answer */
  state: PeerState
  /** Writes this node keeps for the member until it is up again (hinted handoff) */
  hints: number
  /** Milliseconds since the member last answered */
  lag: number
  /** How far the member is in slot table transitions, as this node last heard (0 when never heard) */
  trackers: Trackers
}

/**
 * This node's slot table transition, if any. A move to epoch E is over on
 * this node when `done` is true and `epochs[0]` is E; cluster-wide when it
 * is so on every node.
 */
export interface LayoutStatus {
  /** The tables in force, oldest first: one epoch normally, the old and the new during a transition */
  epochs: number[]
  /** The epoch whose owners this node reads from (the old one until every member reports the new one synced) */
  readEpoch: number
  /** Highest epoch this node adopted with no write under an older table still in flight on it */
  ack: number
  /** Highest epoch whose newly owned slots this node copied */
  sync: number
  /** Highest epoch for which this node saw every member synced */
  syncAck: number
  /** Slots this node copies for the newest epoch, in all (kept, like the copy's counts, once the move is over) */
  slotsTotal: number
  /** Of those, the slots not copied yet */
  slotsToSync: number
  /** Records this node's copy pulled so far (for the newest epoch) */
  keysCopied: number
  /** Bytes of answers this node's copy received so far */
  bytesCopied: number
  /** One table in force: nothing is moving on this node */
  done: boolean
}

/** What `ClusterDatastore.status` reports */
export interface ClusterStatus {
  /** The slot table epoch in force */
  epoch: number
  /** Most owners of any slot range: 1 when nothing is replicated */
  replicas: number
  /** The store's consistency for operations that name none */
  consistency: Consistency
  /** Every other member of the tables in force (watched only when a table has replicated ranges) */
  peers: PeerStatus[]
  /** The slot table transition on this node */
  layout: LayoutStatus
}

/**
 * A datastore whose keys are spread over the peers of a slot table: each key
 * hashes to one of 16384 slots, and each operation goes to the slot's owner —
 * this node's `local` store when it owns the slot, otherwise the owner over
 * the `/datastore-cluster/1.0.0` protocol.
 *
 * @example
 * ```ts
 * const cluster = new ClusterDatastore(libp2p, new MemoryDatastore(), SlotTable.even(peers))
 * await cluster.start()
 * await cluster.put(new Key('/hello'), uint8ArrayFromString('world'))
 * ```
 */
export class ClusterDatastore extends BaseDatastore implements Datastore, Startable {
  /** @internal */
  readonly libp2p: ClusterLibp2p
  /** The store that holds this node's share of the keys */
  readonly child: Datastore
  /** @internal */
  readonly options: ResolvedOptions
  /** @internal */
  readonly log: Logger
  /** @internal */
  readonly self: PeerId
  private table: SlotTable
  /** The table in force as signed by the admin key, when this node holds it so (to offer peers, and persisted) */
  private signed?: SignedSlotTable
  /** The tables in force and the members' transition trackers */
  private readonly layout: Layout
  private readonly migration: Migration
  /** A newer table learnt during a transition (as given, signed or not): adopted once the transition is over */
  private pending?: { epoch: number, table: SlotTable | SignedSlotTable }
  /** The scrub in progress (see `scrub`) */
  private scrubbing?: Promise<{ checked: number, damaged: number }>
  private scrubTimer?: ReturnType<typeof setTimeout>
  private scrubStop?: AbortController
  private members: Set<string>
  /** Who may call besides the members: the table's clients, and `options.clients` */
  private clients: Map<string, Access>
  private readonly optionClients: Map<string, Access>
  /** The key tables must be signed by; none: the table is fixed */
  private readonly adminKey?: PublicKey
  /** Checks every table from elsewhere before it is adopted */
  private readonly tables: TableKeeper
  /** The latest adopted signed table, in the child store */
  private readonly tableStore: TableStore
  private client?: RpcClient
  private server?: RpcServer
  private started: boolean
  /** The owner side: this node's share of the data */
  private readonly owner: Owner
  /** The caller side: where each operation goes */
  private readonly router: Router
  private readonly components: DatastoreComponents
  private readonly many: ManyKeys
  private readonly fanOut: QueryFanOut
  /** Background repair between the owners of replicated slots */
  private readonly antiEntropy: AntiEntropy
  /** Replicated slots: versions, quorums, hints, heartbeats */
  private readonly clock: HybridClock
  private readonly detector: FailureDetector
  private readonly hints: Hints
  private readonly coordinator: Coordinator

  /**
   * @param libp2p - an already created libp2p node (started or not)
   * @param local - this node's share of the data
   * @param slots - the slot table (trusted: it is this node's configuration), its JSON form, or a table signed by the admin key
   * @param options - see {@link ClusterDatastoreOptions}
   * @throws {TableSignatureError} if `slots` is signed by another key than `options.adminKey`
   */
  constructor (libp2p: ClusterLibp2p, local: Datastore, slots: SlotTable | SignedSlotTable | SlotTableJSON | string, options: ClusterDatastoreOptions = {}) {
    super()

    if (libp2p == null || typeof libp2p !== 'object' || libp2p.peerId == null || typeof libp2p.handle !== 'function' ||
      typeof libp2p.dialProtocol !== 'function' || libp2p.peerStore == null || libp2p.logger == null) {
      throw new InvalidParametersError('libp2p must be a libp2p node as returned by createLibp2p()')
    }

    for (const method of ['get', 'put', 'has', 'delete', 'batch', 'query', 'queryKeys'] as const) {
      if (typeof (local as any)?.[method] !== 'function') {
        throw new InvalidParametersError(`local must be an interface-datastore Datastore; it has no ${method}() method`)
      }
    }

    this.libp2p = libp2p
    this.child = local
    this.self = libp2p.peerId
    this.log = libp2p.logger.forComponent('datastore-cluster')
    this.options = resolveOptions(options)
    this.adminKey = parseAdminKey(options)
    this.optionClients = parseClients(options.clients)

    if (isSignedSlotTable(slots)) {
      if (this.adminKey != null && !slots.signer.equals(this.adminKey)) {
        throw new TableSignatureError(`the slot table given is signed by key ${keyName(slots.signer)}, not by the admin key ${keyName(this.adminKey)}`)
      }

      this.signed = slots
      this.table = slots.table
    } else {
      this.table = slots instanceof SlotTable ? slots : SlotTable.fromJSON(slots)
    }

    this.layout = new Layout(new Ownership(this.table, this.self), this.self)
    this.members = new Set(this.table.peers.map(p => p.id.toString()))
    this.clients = clientAccess(this.table, this.optionClients)
    this.started = false
    this.tableStore = new TableStore(local)
    this.tables = new TableKeeper({
      adminKey: this.adminKey,
      log: this.log.newScope('table'),
      current: () => ({ table: this.table, signed: this.signed, settled: !this.layout.moving }),
      adopt: (signed, from) => {
        // what came with the table is not signed: taken from a member (of the table held or the one adopted) only
        const member = from != null && (this.members.has(from.peer.toString()) || signed.table.hasPeer(from.peer))
        // a table every member finished moving to is adopted as it is: there is nothing left to move, and
        // the table this node held may be several moves old, its owners long gone
        const adopted = this.adoptTable(signed.table, signed, member && from.settled)

        // how far the members are in the transition, as the sender knows: when it is over, this node need
        // not wait for the next heartbeats to read from the new owners
        if (adopted && member) {
          this.learn(from.trackers)
        }

        return adopted
      },
      channel: (peer) => this.channel(peer)
    })

    this.clock = new HybridClock({ self: this.self })
    this.owner = new Owner({
      self: this.self,
      drained: () => { this.drained() },
      child: local,
      ownership: () => this.owned,
      previous: () => this.layout.previous,
      retired: () => this.migration.retiredOwnership,
      clock: this.clock
    })
    this.router = new Router({
      maxRedirects: this.options.maxRedirects,
      ownership: () => this.owned,
      tables: this.tables,
      layout: () => this.layout,
      learn: (trackers) => { this.learn(trackers) },
      channel: (peer) => this.channel(peer)
    })
    this.detector = new FailureDetector({
      log: this.log.newScope('heartbeat'),
      interval: this.options.heartbeatInterval,
      threshold: this.options.suspectAfter,
      peers: () => this.watched(),
      channel: (peer) => this.channel(peer),
      stamp: () => {
        this.migration.check()
        return { epoch: this.table.epoch, clock: this.clock.current, trackers: this.layout.message() }
      },
      answered: (res) => {
        this.clock.observe(res.clock)
        this.learn(res.trackers)
      }
    })
    this.hints = new Hints({
      child: local,
      log: this.log.newScope('hints'),
      send: async (peer, records, options) => this.coordinator.handOver(peer, records, options)
    })
    this.coordinator = new Coordinator({
      self: this.self,
      drained: () => { this.drained() },
      log: this.log.newScope('replication'),
      owner: this.owner,
      clock: this.clock,
      router: this.router,
      detector: this.detector,
      hints: this.hints,
      consistency: this.options.consistency,
      maxMessageSize: this.options.maxMessageSize
    })
    // a member seen answering again gets the writes it missed
    this.detector.onHeartbeat((peer) => {
      this.hints.deliver(peer).catch(err => {
        this.log('hints for %p not handed over yet - %e', peer, err)
      })
    })
    this.components = {
      router: this.router,
      owner: this.owner,
      coordinator: this.coordinator,
      maxMessageSize: this.options.maxMessageSize,
      assertStarted: () => { this.assertStarted() }
    }
    this.many = new ManyKeys(this.components)
    this.fanOut = new QueryFanOut(this.components)
    this.antiEntropy = new AntiEntropy({
      self: this.self,
      log: this.log.newScope('anti-entropy'),
      interval: this.options.antiEntropyInterval,
      tombstoneGracePeriod: this.options.tombstoneGracePeriod,
      maxMessageSize: this.options.maxMessageSize,
      ownership: () => this.owned,
      channel: (peer) => this.channel(peer),
      replica: ownerReplica(this.owner, () => this.owned.table.epoch),
      clock: () => this.owner.clock.current,
      observe: (clock) => { this.owner.clock.observe(clock) },
      isSuspected: (peer) => this.detector.isSuspected(peer),
      moving: () => this.layout.moving,
      copying: (peer, slot) => this.layout.copying(peer, slot)
    })
    this.migration = new Migration({
      self: this.self,
      log: this.log.newScope('migration'),
      layout: this.layout,
      owner: this.owner,
      writingBefore: (epoch) => this.coordinator.writingBefore(epoch),
      reconcile: async (peer, slots, signal) => { await this.antiEntropy.reconcile(peer, slots, signal) },
      copySlots: async (peer, slots, signal) => { await this.antiEntropy.copy(peer, slots, signal) },
      trackersChanged: () => { this.detector.beat() },
      stats: () => this.antiEntropy.stats(),
      isSuspected: (peer) => this.detector.isSuspected(peer),
      retired: (previous) => { this.retired(previous) }
    })
    // a member back up may lack writes no hint covers (a wiped store, a coordinator that was down too)
    this.detector.onUp(() => {
      this.antiEntropy.trigger().catch(() => {})
      // a copy that found the old owners suspected need not wait for the next heartbeat
      this.migration.check()
    })
  }

  /** The ownership under the newest table in force */
  private get owned (): Ownership {
    return this.layout.current
  }

  /** The slot table in force; replaced when a newer epoch is learnt from a peer */
  get slots (): SlotTable {
    return this.table
  }

  /**
   * The slot table in force as signed by the admin key, or undefined when
   * this node holds it unsigned (no admin key, or an unsigned table given to
   * the constructor). This is what the node offers peers and persists.
   */
  get signedSlots (): SignedSlotTable | undefined {
    return this.signed
  }

  /** True between `start()` and `stop()` */
  isStarted (): boolean {
    return this.started
  }

  /**
   * Register the data protocol and start serving. The libp2p node must be
   * started for peers to reach this one. The digests of the replicated
   * slots are built from the local store in the background from here (one
   * scan), so the first replicated write does not wait for that scan.
   */
  async start (): Promise<void> {
    if (this.started) {
      return
    }

    // before anything serves: a restart must not roll the table back, even for a moment
    await this.resumeTable()

    this.client = new RpcClient({
      libp2p: this.libp2p,
      log: this.log.newScope('client'),
      limits: streamLimits(this.options),
      maxOutboundStreams: this.options.maxOutboundStreams,
      streamWindow: this.options.streamWindow,
      observeEpoch: (peer, epoch) => { this.tables.observe(peer, epoch) }
    })
    this.server = new RpcServer({
      self: this.self,
      owner: this.owner,
      log: this.log.newScope('server'),
      limits: streamLimits(this.options),
      ownership: () => this.owned,
      access: (peer) => this.members.has(peer) ? 'member' : this.clients.get(peer),
      tables: this.tables,
      gossip: (trackers, access) => {
        if (access === 'member' && trackers != null) {
          this.learn(trackers)
        }

        return this.layout.message()
      }
    })

    await this.resume()
    await this.rememberPeers(this.table)
    await this.libp2p.handle(PROTOCOL, this.server.handle, {
      maxInboundStreams: this.options.maxInboundStreams,
      maxOutboundStreams: this.options.maxOutboundStreams
    })
    await this.hints.load()
    // the slot digests are built now, in the background, not by the first replicated write
    this.owner.start().catch(err => {
      this.log.error('could not build the slot digests from the local store - %e', err)
    })
    this.started = true
    this.migration.start()
    this.antiEntropy.start()
    this.watchReplicas()
    this.scrubStop = new AbortController()
    this.scheduleScrub()
    this.log('started, epoch %d, primary for %d slots', this.table.epoch, this.table.slotCount(this.self))
  }

  /**
   * Unregister the protocol. Requests in flight, in either direction, end with
   * a `NotStartedError`; the local store is left open (it is the caller's).
   */
  async stop (): Promise<void> {
    if (!this.started) {
      return
    }

    clearTimeout(this.scrubTimer)
    this.scrubStop?.abort(new NotStartedError('The cluster datastore was stopped during the scrub'))
    await this.antiEntropy.stop()
    await this.migration.stop()
    this.started = false
    this.detector.stop()
    const err = new NotStartedError('The cluster datastore was stopped while the request was in flight')
    this.client?.close(err)
    this.server?.close(err)
    this.client = undefined
    this.server = undefined
    // a catch-up in flight failed with the client; a table adopted is on disk before stop resolves
    await this.tables.catchUpDone()
    await this.tableStore.flushed().catch(() => {})
    await this.libp2p.unhandle(PROTOCOL)
    this.log('stopped')
  }

  /**
   * Adopt `table` if its epoch is newer than the current one. It is validated
   * first (a JSON table by `SlotTable.fromJSON`). Returns whether it was
   * adopted. A store with an admin key adopts only tables signed by it (see
   * {@link signTable}), and persists the latest in its local store; tables
   * from peers reach here only once their signature was verified.
   *
   * @throws {InvalidParametersError} if the store has an admin key and `table` is not signed
   * @throws {TableSignatureError} if `table` is signed by another key than the admin key
   */
  updateSlotTable (table: SlotTable | SignedSlotTable | SlotTableJSON | string): boolean {
    const signed = isSignedSlotTable(table) ? table : undefined

    if (this.adminKey != null && signed == null) {
      throw new InvalidParametersError('this store has an admin key, so it adopts only slot tables signed by it: sign the table with signTable(table, adminPrivateKey)')
    }

    if (this.adminKey != null && signed != null && !signed.signer.equals(this.adminKey)) {
      throw new TableSignatureError(`the slot table is signed by key ${keyName(signed.signer)}, not by the admin key ${keyName(this.adminKey)}`)
    }

    const next = signed != null ? signed.table : table instanceof SlotTable ? table : SlotTable.fromJSON(table as SlotTableJSON | string)
    return this.adoptTable(next, signed, false)
  }

  /**
   * Adopt `next` (checked) if newer: during a transition it is kept for
   * later; with replicated ranges a transition to it begins, unless it is
   * `settled` (a member said every member finished moving to it), when it
   * replaces the table held at once
   */
  private adoptTable (next: SlotTable, signed: SignedSlotTable | undefined, settled: boolean): boolean {
    if (next.epoch <= this.table.epoch) {
      return false
    }

    if (this.layout.moving) {
      // one transition at a time: the next begins once every member moved
      if (this.pending == null || next.epoch > this.pending.epoch) {
        this.pending = { epoch: next.epoch, table: signed ?? next }
        this.log('slot table epoch %d is kept until the move to epoch %d is over', next.epoch, this.table.epoch)

        // members it declares dead are not waited for by this move either
        if (next.dead.length > 0) {
          this.layout.declareDead(next.dead)
          this.log('slot table epoch %d declares %s dead: the move to epoch %d goes on without them', next.epoch, next.dead.map(p => p.toString()).join(', '), this.table.epoch)
          this.migration.check()
        }
      }

      return false
    }

    // tables with replicated ranges move data live: both in force until every member copied
    const live = !settled && (this.table.replicas > 1 || next.replicas > 1)

    if (live) {
      assertMovable(this.table, next)
    }

    const replaced = this.layout.current
    this.table = next
    this.signed = signed
    this.persistTable()

    if (live) {
      this.layout.begin(next)
    } else {
      this.layout.replace(next)
    }

    this.members = new Set(this.layout.members().map(p => p.toString()))
    this.clients = clientAccess(next, this.optionClients)
    this.rememberPeers(next).catch(err => {
      this.log.error('could not record peer addresses - %e', err)
    })
    this.watchReplicas()
    this.log('now on slot table epoch %d%s', next.epoch, live ? `, moving from epoch ${this.layout.epochs()[0]}` : '')

    if (live) {
      this.migration.began()
    }

    // a settled table taken at once (this node missed the moves to it, a member declared dead and back among
    // them): what it held of the slots it no longer owns goes, as at a move's end. Kept, a key deleted meanwhile
    // (its tombstones purged) would come back from it the day it is given those slots again
    if (settled && replaced.table.replicas > 1) {
      this.owner.dropRecords(replaced).then(dropped => {
        this.log('dropped %d records of slots not owned in slot table epoch %d, adopted at once', dropped, next.epoch)
      }, err => {
        this.log.error('could not drop the records of slots not owned in slot table epoch %d - %e', next.epoch, err)
      })
    }

    return true
  }

  /** No write under some epoch is in flight any more: during a transition, this node may ack now */
  private drained (): void {
    if (this.layout.moving) {
      this.migration.check()
    }
  }

  /** Trackers heard from a member (or carried by a MOVED answer) */
  private learn (trackers: Tracker[] | undefined): void {
    if (trackers == null || trackers.length === 0) {
      return
    }

    this.layout.learn(trackers)
    this.migration.check()
  }

  /**
   * The peers heartbeats go to: every member of the tables in force, and
   * those of the table last retired. A member that retired the old table
   * keeps talking to the old members: they retire it only once they heard
   * that every member saw every member synced, and it may be the last one
   * to tell them. (So a removed node stays a member, for heartbeats and
   * access, until the next transition.)
   */
  private watched (): PeerId[] {
    const peers = new Map(this.layout.members().map(p => [p.toString(), p]))

    for (const peer of this.migration.retiredOwnership?.table.peers ?? []) {
      peers.set(peer.id.toString(), peer.id)
    }

    peers.delete(this.self.toString())
    return [...peers.values()]
  }

  /** The old table was retired: the slots given away are dropped, a table kept meanwhile is adopted */
  private retired (previous: Ownership): void {
    // the old members stay members until the next transition (see `watched`)
    this.members = new Set([...this.layout.members(), ...previous.table.peers.map(p => p.id)].map(p => p.toString()))
    this.watchReplicas()
    this.owner.dropRecords(previous).then(dropped => {
      this.log('dropped %d records of the slots given away in slot table epoch %d', dropped, this.table.epoch)
    }, err => {
      this.log.error('could not drop the records of the slots given away - %e', err)
    })

    // hints a peer would refuse now: those of slots it no longer owns (all of them for a peer that left)
    for (const peer of this.hints.held().keys()) {
      this.hints.drop(peer, key => this.table.owners(keySlot(key)).some(o => o.toString() === peer)).then(dropped => {
        if (dropped > 0) {
          this.log('dropped %d hints for %s, of slots it no longer owns', dropped, peer)
        }
      }, err => {
        this.log.error('could not drop the hints for %s - %e', peer, err)
      })
    }

    const pending = this.pending
    this.pending = undefined
    this.layout.declareDead([])

    if (pending != null) {
      try {
        this.updateSlotTable(pending.table)
      } catch (err: any) {
        this.log.error('slot table epoch %d kept during the move cannot be adopted - %e', pending.epoch, err)
      }
    }
  }

  /**
   * A transition persisted by a previous run resumes: its old table is in
   * force again beside its new one, with this node's own trackers as they
   * were. Runs after the signed table persisted by a previous run was
   * resumed (which may have started a transition from the configured table:
   * the persisted one names the real old table).
   */
  private async resume (): Promise<void> {
    const restored = await this.migration.restore(this.table)

    if (restored == null) {
      return
    }

    if (restored.current.epoch > this.table.epoch) {
      if (this.adminKey != null) {
        // a store with an admin key adopts only signed tables: the persisted signed table is the one to resume
        this.log.error('the persisted move to slot table epoch %d has no signed table to show for it: not resumed', restored.current.epoch)
        return
      }

      this.table = restored.current
    }

    this.layout.resume(restored.previous, this.table, restored.sync, restored.syncAck)
    this.members = new Set(this.layout.members().map(p => p.toString()))
    await this.rememberPeers(restored.previous)
    this.log('resuming the move from slot table epoch %d to %d', restored.previous.epoch, restored.current.epoch)
    this.migration.began()
  }


  /**
   * Each other member as this node sees it: up or suspected down, the
   * writes it holds for it (hints), and how long since it last answered.
   * Members are watched (heartbeats) only while the table has replicated
   * ranges; otherwise every member reads as up with lag 0.
   */
  status (): ClusterStatus {
    const held = this.hints.held()
    const health = new Map(this.detector.health().map(h => [h.peer.toString(), h]))

    const progress = this.migration.status()
    const own = this.layout.own

    return {
      epoch: this.table.epoch,
      replicas: Math.max(...this.table.ranges.map(r => r.owners.length)),
      consistency: this.options.consistency,
      peers: this.layout.members().filter(p => !p.equals(this.self)).map(p => {
        const id = p.toString()
        const h = health.get(id)
        return { peer: id, state: h?.state ?? 'up', hints: held.get(id) ?? 0, lag: h?.lag ?? 0, trackers: this.layout.trackersOf(id) }
      }),
      layout: {
        epochs: this.layout.epochs(),
        readEpoch: this.layout.readOwnership().table.epoch,
        ack: own.ack,
        sync: own.sync,
        syncAck: own.syncAck,
        slotsTotal: progress.slotsTotal,
        slotsToSync: this.layout.moving ? progress.slotsToSync : 0,
        keysCopied: progress.keysCopied,
        bytesCopied: progress.bytesCopied,
        done: !this.layout.moving
      }
    }
  }

  /**
   * On start: a table persisted by an earlier run that is newer than the one
   * given to the constructor is verified and used, so a restart never rolls
   * the table back; otherwise the signed table in force is persisted.
   *
   * @throws {TableConflictError} the persisted table has the constructor's epoch but another content
   */
  private async resumeTable (): Promise<void> {
    if (this.adminKey == null) {
      return
    }

    const bytes = await this.tableStore.load()

    if (bytes != null) {
      try {
        const verdict = await this.tables.receive(bytes, 'this node\'s store')

        if (verdict.kind === 'newer') {
          this.log('resumed slot table epoch %d persisted by an earlier run', this.table.epoch)
          return
        }
      } catch (err: any) {
        if (err?.name === 'TableConflictError') {
          throw err
        }

        // e.g. signed by an admin key since replaced: the configured table stands
        this.log.error('ignoring the slot table persisted in this node\'s store - %e', err)
      }
    }

    this.persistTable()
  }

  /** Keep the signed table in force for the next start */
  private persistTable (): void {
    if (this.signed == null) {
      return
    }

    const epoch = this.signed.table.epoch
    this.tableStore.save(this.signed.bytes).catch(err => {
      this.log.error('could not persist slot table epoch %d - %e', epoch, err)
    })
  }

  /** Heartbeats run while started on a table with replicated ranges */
  private watchReplicas (): void {
    if (this.started && this.router.hasReplicas()) {
      this.detector.start()
    } else {
      this.detector.stop()
    }
  }

  override async put (key: Key, val: Uint8Array, options?: ConsistencyOptions): Promise<Key> {
    assertKey(key)
    assertValue(key, val, this.options.maxMessageSize)
    this.ready(options)

    await this.router.single(keySlot(key), 'write', () => key.toString(), {
      local: async (epoch) => this.owner.put(key, val, { signal: options?.signal, epoch }),
      request: {
        type: Request.Type.PUT,
        key: key.uint8Array() as Uint8Array<ArrayBuffer>,
        value: val as Uint8Array<ArrayBuffer>
      },
      decode: () => undefined,
      replicated: async () => this.coordinator.write(key, val, options)
    }, options)

    return key
  }

  override async get (key: Key, options?: ConsistencyOptions): Promise<Uint8Array> {
    assertKey(key)
    this.ready(options)

    return this.router.single(keySlot(key), 'read', () => key.toString(), {
      local: async (epoch) => this.owner.get(key, { signal: options?.signal, epoch }),
      request: { type: Request.Type.GET, key: key.uint8Array() as Uint8Array<ArrayBuffer> },
      decode: (res) => res.value ?? EMPTY,
      replicated: async () => this.coordinator.get(key, options)
    }, options)
  }

  override async has (key: Key, options?: ConsistencyOptions): Promise<boolean> {
    assertKey(key)
    this.ready(options)

    return this.router.single(keySlot(key), 'read', () => key.toString(), {
      local: async (epoch) => this.owner.has(key, { signal: options?.signal, epoch }),
      request: { type: Request.Type.HAS, key: key.uint8Array() as Uint8Array<ArrayBuffer> },
      decode: (res) => res.exists,
      replicated: async () => this.coordinator.has(key, options)
    }, options)
  }

  override async delete (key: Key, options?: ConsistencyOptions): Promise<void> {
    assertKey(key)
    this.ready(options)

    await this.router.single(keySlot(key), 'write', () => key.toString(), {
      local: async (epoch) => this.owner.delete(key, { signal: options?.signal, epoch }),
      request: { type: Request.Type.DELETE, key: key.uint8Array() as Uint8Array<ArrayBuffer> },
      decode: () => undefined,
      replicated: async () => this.coordinator.write(key, undefined, options)
    }, options)
  }

  /**
   * @internal The value of `key` read for a block. In a replicated slot: from
   * the first owner that holds a value `accept` takes (its hash matches),
   * falling through misses, failures and bad values to the next owner; an
   * operation that names `quorum` or `all` reads as `get` does first, and
   * falls through the owners only when that value is refused. Single-owner
   * slots read as `get` does.
   */
  async getChecked (key: Key, accept: (value: Uint8Array) => boolean | Promise<boolean>, options?: ConsistencyOptions): Promise<Uint8Array> {
    assertKey(key)
    this.ready(options)

    if (!this.router.isReplicated(keySlot(key))) {
      return this.get(key, options)
    }

    if ((options?.consistency ?? 'one') !== 'one') {
      const value = await this.coordinator.get(key, options)

      if (await accept(value)) {
        return value
      }
    }

    return this.coordinator.first(key, accept, options)
  }

  /** @internal `has` for a block: in a replicated slot, true as soon as one owner holds it (unless the operation names another consistency) */
  async hasAny (key: Key, options?: ConsistencyOptions): Promise<boolean> {
    assertKey(key)
    this.ready(options)

    if (!this.router.isReplicated(keySlot(key)) || (options?.consistency ?? 'one') !== 'one') {
      return this.has(key, options)
    }

    try {
      await this.coordinator.first(key, () => true, options)
      return true
    } catch (err: any) {
      if (err?.name === 'NotFoundError') {
        return false
      }

      throw err
    }
  }

  // the many-key generators check that the store is started when first read

  /**
   * Stores the pairs, grouped by owner, several chunks in flight. Writes of
   * one key take effect in source order: a later pair for a key wins. Every
   * key yielded was written, and every key written is yielded: when an owner
   * fails, the keys already stored are yielded first, then a
   * `PartialWriteError` lists the keys that were not (`failed`).
   */
  override putMany (source: Iterable<Pair> | AsyncIterable<Pair>, options: ConsistencyOptions = {}): AsyncGenerator<Key> {
    this.checkConsistency(options)
    return this.many.putMany(source, options)
  }

  override getMany (source: Iterable<Key> | AsyncIterable<Key>, options: ConsistencyOptions = {}): AsyncGenerator<Pair> {
    this.checkConsistency(options)
    return this.many.getMany(source, options)
  }

  /** Deletes the keys, with the ordering and partial-failure rules of `putMany` */
  override deleteMany (source: Iterable<Key> | AsyncIterable<Key>, options: ConsistencyOptions = {}): AsyncGenerator<Key> {
    this.checkConsistency(options)
    return this.many.deleteMany(source, options)
  }

  /**
   * Operations are grouped by owner on commit and each owner applies its
   * group as one batch of its local store: puts, then deletes, as a single
   * store's batch does. There is no atomicity across owners: if one owner
   * fails, `commit` throws a `PartialWriteError` saying which owners' shares
   * were written and listing the keys that were not.
   */
  override batch (): Batch {
    const puts: Pair[] = []
    const deletes: Key[] = []

    return {
      put: (key, value) => {
        assertKey(key)
        assertValue(key, value, this.options.maxMessageSize)
        puts.push({ key, value })
      },
      delete: (key) => {
        assertKey(key)
        deletes.push(key)
      },
      commit: async (options) => {
        this.ready(options)
        const { failed, failedKeys, succeeded, written } = outcome(await writeShares(this.components, puts, deletes, options ?? {}))

        if (failed.length > 0) {
          throw partialWriteError('The batch', failed, failedKeys, written, '', succeeded)
        }
      }
    }
  }

  /**
   * How many keys a node holds as primary owner under this node's slot
   * table: `peer`, or this node when omitted. Only that node is asked, so
   * one node down does not hide the others' counts (the command line's
   * `status` reports each node this way).
   *
   * @throws {UnavailableError} the node could not be reached
   * @throws {UnauthorizedError} the node does not let this one call it
   * @throws {MovedError} the node is on another slot table epoch
   */
  async countKeys (peer?: PeerId | string, options: AbortOptions = {}): Promise<number> {
    const id = peer == null ? this.self : typeof peer === 'string' ? peerIdFromString(peer) : peer
    return this.fanOut.count(id, options)
  }

  /**
   * Ask `peer` for the slot table it holds, as signed by the admin key. The
   * answer is not checked here: open it with `openSignedTable` and the admin
   * public key before trusting it.
   *
   * @returns the epoch of the table in force on the peer, and its signed form when the peer holds one
   * @throws {UnavailableError} the peer could not be reached
   * @throws {UnauthorizedError} the peer does not let this node call it
   */
  async peerTable (peer: PeerId | string, options: AbortOptions = {}): Promise<{ epoch: number, signedTable?: Uint8Array }> {
    this.assertStarted()
    const id = typeof peer === 'string' ? peerIdFromString(peer) : peer
    const res = await this.channel(id).call({ type: Request.Type.GET_TABLE, epoch: this.table.epoch }, options)

    if (res.status !== Response.Status.OK) {
      throw errorFromResponse(res, id.toString())
    }

    return { epoch: res.epoch, signedTable: res.signedTable != null && res.signedTable.byteLength > 0 ? res.signedTable : undefined }
  }

  /**
   * Hand `peer` a signed slot table (TABLE). The peer adopts it only if it is
   * signed by the admin key its config names and newer than the table it
   * holds; an older one it ignores.
   *
   * @returns the epoch of the table in force on the peer after it judged this one
   * @throws {UnavailableError} the peer could not be reached
   * @throws {UnauthorizedError} the peer refused the table (unsigned, signed by another key, the peer has no admin key) or this node
   * @throws {TableConflictError} the peer holds another table of the same epoch
   */
  async sendTable (peer: PeerId | string, signed: SignedSlotTable, options: AbortOptions = {}): Promise<number> {
    this.assertStarted()
    const id = typeof peer === 'string' ? peerIdFromString(peer) : peer
    const res = await this.channel(id).call({ type: Request.Type.TABLE, epoch: this.table.epoch, signedTable: signed.bytes as Uint8Array<ArrayBuffer> }, options)

    if (res.status !== Response.Status.OK) {
      throw errorFromResponse(res, id.toString())
    }

    return res.epoch
  }

  /**
   * Run an anti-entropy round now (after the one in progress, if any): compare
   * this node's replicated slots with every other owner's and exchange what
   * differs. Resolves with the counters once the round ended. Rounds also run
   * every `antiEntropyInterval`.
   */
  async repair (options?: AbortOptions): Promise<AntiEntropyStats> {
    this.ready(options)
    await this.antiEntropy.trigger()
    return this.antiEntropy.stats()
  }

  /**
   * Check every record of this node's replicated slots against its checksum
   * now (see `scrubInterval`): the damaged ones found count as absent, and an
   * anti-entropy round replaces them with intact copies before this
   * resolves. A scrub already running is joined, not started twice. Resolves
   * with how many records were checked and found damaged.
   */
  async scrub (options?: AbortOptions): Promise<{ checked: number, damaged: number }> {
    this.ready(options)

    this.scrubbing ??= (async () => {
      try {
        // not one caller's signal: callers join the scrub in progress; stop() ends it
        const found = await this.owner.scrub({ signal: this.scrubStop?.signal })

        if (found.damaged > 0) {
          this.log.error('scrub found %d damaged records of %d: repairing them from the other owners', found.damaged, found.checked)
          await this.antiEntropy.trigger()
        } else {
          this.log('scrub checked %d records, none damaged', found.checked)
        }

        return found
      } finally {
        this.scrubbing = undefined
      }
    })()

    return this.scrubbing
  }

  /** Scrub every `scrubInterval` ms while started */
  private scheduleScrub (): void {
    clearTimeout(this.scrubTimer)

    if (this.options.scrubInterval === 0 || !this.started) {
      return
    }

    this.scrubTimer = setTimeout(() => {
      this.scrub().catch(err => {
        this.log.error('scrub failed - %e', err)
      }).finally(() => {
        this.scheduleScrub()
      })
    }, this.options.scrubInterval)
    this.scrubTimer.unref?.()
  }

  /** What anti-entropy did since this node started: rounds, slots compared and differing, records pushed and pulled, bytes */
  repairStats (): AntiEntropyStats {
    return this.antiEntropy.stats()
  }

  /**
   * Every pair under `q.prefix`, with filters, orders, offset and limit
   * applied as a single store would. Replicated slots are read from enough
   * owners for `options.consistency` (default: the store's) and each key
   * comes once, at its newest version.
   */
  override query (q: Query, options?: ConsistencyOptions): AsyncGenerator<Pair> | Generator<Pair> {
    return super.query(q, options)
  }

  /** The keys of `query`, with the same rules */
  override queryKeys (q: KeyQuery, options?: ConsistencyOptions): AsyncGenerator<Key> | Generator<Key> {
    return super.queryKeys(q, options)
  }

  /** @internal BaseDatastore applies filters, orders, offset and limit on top */
  override _all (q: Query, options?: AbortOptions): AsyncGenerator<Pair> {
    this.checkConsistency(options)
    return this.fanOut.run(q.prefix, PAIRS, options ?? {})
  }

  /** @internal */
  override _allKeys (q: KeyQuery, options?: AbortOptions): AsyncGenerator<Key> {
    this.checkConsistency(options)
    return this.fanOut.run(q.prefix, KEYS, options ?? {})
  }

  private ready (options?: ConsistencyOptions): void {
    this.assertStarted()
    options?.signal?.throwIfAborted()
    this.checkConsistency(options)
  }

  /** An invalid `options.consistency` is refused on every table, replicated or not */
  private checkConsistency (options?: ConsistencyOptions): void {
    if (options?.consistency != null) {
      this.coordinator.level(options)
    }
  }

  private assertStarted (): void {
    if (!this.started) {
      throw new NotStartedError('The cluster datastore is not started: call start() first')
    }
  }

  private channel (peer: PeerId): PeerChannel {
    if (this.client == null) {
      throw new NotStartedError('The cluster datastore is not started: call start() first')
    }

    return this.client.channel(peer)
  }

  private async rememberPeers (table: SlotTable): Promise<void> {
    await Promise.all(table.peers.map(async (peer) => {
      if (peer.id.equals(this.self) || peer.addrs.length === 0) {
        return
      }

      await this.libp2p.peerStore.merge(peer.id, { multiaddrs: [...peer.addrs] })
    }))
  }
}
