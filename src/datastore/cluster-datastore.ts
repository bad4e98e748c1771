import { peerIdFromString } from '@libp2p/peer-id'
import { BaseDatastore } from 'datastore-core/base'
import { PROTOCOL } from '../constants.js'
import { InvalidParametersError, NotStartedError } from '../errors.js'
import { Owner } from '../owner/owner.js'
import { Request } from '../pb/message.js'
import { EMPTY } from '../rpc/bytes.js'
import { RpcClient } from '../rpc/client.js'
import { streamLimits } from '../rpc/limits.js'
import { RpcServer } from '../rpc/server.js'
import { Router } from '../routing/router.js'
import { keySlot } from '../slots/hash.js'
import { Ownership } from '../slots/ownership.js'
import { SlotTable } from '../slots/table.js'
import { assertKey, assertValue, parseClients, resolveOptions } from '../validate.js'
import { outcome, partialWriteError, writeShares } from './batch.js'
import { ManyKeys } from './many.js'
import { QueryFanOut, KEYS, PAIRS } from './query.js'
import type { DatastoreComponents } from './components.js'
import type { ClusterDatastoreOptions, ClusterLibp2p, SlotTableJSON } from '../index.js'
import type { PeerChannel } from '../rpc/client.js'
import type { Access } from '../rpc/server.js'
import type { AbortOptions, Logger, PeerId, Startable } from '@libp2p/interface'
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
  private owned: Ownership
  private members: Set<string>
  private readonly clients: Map<string, Access>
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

  /**
   * @param libp2p - an already created libp2p node (started or not)
   * @param local - this node's share of the data
   * @param slots - the slot table, or its JSON form
   * @param options - see {@link ClusterDatastoreOptions}
   */
  constructor (libp2p: ClusterLibp2p, local: Datastore, slots: SlotTable | SlotTableJSON | string, options: ClusterDatastoreOptions = {}) {
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
    this.clients = parseClients(options.clients)
    this.table = slots instanceof SlotTable ? slots : SlotTable.fromJSON(slots)
    this.owned = new Ownership(this.table, this.self)
    this.members = new Set(this.table.peers.map(p => p.id.toString()))
    this.started = false

    this.owner = new Owner({ self: this.self, child: local, ownership: () => this.owned })
    this.router = new Router({
      maxRedirects: this.options.maxRedirects,
      ownership: () => this.owned,
      adoptTable: (table) => this.updateSlotTable(table),
      channel: (peer) => this.channel(peer)
    })
    this.components = {
      router: this.router,
      owner: this.owner,
      maxMessageSize: this.options.maxMessageSize,
      assertStarted: () => { this.assertStarted() }
    }
    this.many = new ManyKeys(this.components)
    this.fanOut = new QueryFanOut(this.components)
  }

  /** The slot table in force; replaced when a newer epoch is learnt from a peer */
  get slots (): SlotTable {
    return this.table
  }

  /** True between `start()` and `stop()` */
  isStarted (): boolean {
    return this.started
  }

  /**
   * Register the data protocol and start serving. The libp2p node must be
   * started for peers to reach this one.
   */
  async start (): Promise<void> {
    if (this.started) {
      return
    }

    this.client = new RpcClient({
      libp2p: this.libp2p,
      log: this.log.newScope('client'),
      limits: streamLimits(this.options),
      maxOutboundStreams: this.options.maxOutboundStreams,
      streamWindow: this.options.streamWindow
    })
    this.server = new RpcServer({
      self: this.self,
      owner: this.owner,
      log: this.log.newScope('server'),
      limits: streamLimits(this.options),
      ownership: () => this.owned,
      access: (peer) => this.members.has(peer) ? 'member' : this.clients.get(peer),
      adoptTable: (table) => this.updateSlotTable(table)
    })

    await this.rememberPeers(this.table)
    await this.libp2p.handle(PROTOCOL, this.server.handle, {
      maxInboundStreams: this.options.maxInboundStreams,
      maxOutboundStreams: this.options.maxOutboundStreams
    })
    this.started = true
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

    this.started = false
    const err = new NotStartedError('The cluster datastore was stopped while the request was in flight')
    this.client?.close(err)
    this.server?.close(err)
    this.client = undefined
    this.server = undefined
    await this.libp2p.unhandle(PROTOCOL)
    this.log('stopped')
  }

  /**
   * Adopt `table` if its epoch is newer than the current one. It is validated
   * first (a JSON table by `SlotTable.fromJSON`). Returns whether it was
   * adopted.
   */
  updateSlotTable (table: SlotTable | SlotTableJSON | string): boolean {
    const next = table instanceof SlotTable ? table : SlotTable.fromJSON(table)

    if (next.epoch <= this.table.epoch) {
      return false
    }

    this.table = next
    this.owned = new Ownership(next, this.self)
    this.members = new Set(next.peers.map(p => p.id.toString()))
    this.rememberPeers(next).catch(err => {
      this.log.error('could not record peer addresses - %e', err)
    })
    this.log('now on slot table epoch %d', next.epoch)
    return true
  }

  override async put (key: Key, val: Uint8Array, options?: AbortOptions): Promise<Key> {
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
      decode: () => undefined
    }, options)

    return key
  }

  override async get (key: Key, options?: AbortOptions): Promise<Uint8Array> {
    assertKey(key)
    this.ready(options)

    return this.router.single(keySlot(key), 'read', () => key.toString(), {
      local: async (epoch) => this.owner.get(key, { signal: options?.signal, epoch }),
      request: { type: Request.Type.GET, key: key.uint8Array() as Uint8Array<ArrayBuffer> },
      decode: (res) => res.value ?? EMPTY
    }, options)
  }

  override async has (key: Key, options?: AbortOptions): Promise<boolean> {
    assertKey(key)
    this.ready(options)

    return this.router.single(keySlot(key), 'read', () => key.toString(), {
      local: async (epoch) => this.owner.has(key, { signal: options?.signal, epoch }),
      request: { type: Request.Type.HAS, key: key.uint8Array() as Uint8Array<ArrayBuffer> },
      decode: (res) => res.exists
    }, options)
  }

  override async delete (key: Key, options?: AbortOptions): Promise<void> {
    assertKey(key)
    this.ready(options)

    await this.router.single(keySlot(key), 'write', () => key.toString(), {
      local: async (epoch) => this.owner.delete(key, { signal: options?.signal, epoch }),
      request: { type: Request.Type.DELETE, key: key.uint8Array() as Uint8Array<ArrayBuffer> },
      decode: () => undefined
    }, options)
  }

  // the many-key generators check that the store is started when first read

  /**
   * Stores the pairs, grouped by owner, several chunks in flight. Writes of
   * one key take effect in source order: a later pair for a key wins. Every
   * key yielded was written, and every key written is yielded: when an owner
   * fails, the keys already stored are yielded first, then a
   * `PartialWriteError` lists the keys that were not (`failed`).
   */
  override putMany (source: Iterable<Pair> | AsyncIterable<Pair>, options: AbortOptions = {}): AsyncGenerator<Key> {
    return this.many.putMany(source, options)
  }

  override getMany (source: Iterable<Key> | AsyncIterable<Key>, options: AbortOptions = {}): AsyncGenerator<Pair> {
    return this.many.getMany(source, options)
  }

  /** Deletes the keys, with the ordering and partial-failure rules of `putMany` */
  override deleteMany (source: Iterable<Key> | AsyncIterable<Key>, options: AbortOptions = {}): AsyncGenerator<Key> {
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

  /** @internal BaseDatastore applies filters, orders, offset and limit on top */
  override _all (q: Query, options?: AbortOptions): AsyncGenerator<Pair> {
    return this.fanOut.run(q.prefix, PAIRS, options ?? {})
  }

  /** @internal */
  override _allKeys (q: KeyQuery, options?: AbortOptions): AsyncGenerator<Key> {
    return this.fanOut.run(q.prefix, KEYS, options ?? {})
  }

  private ready (options?: AbortOptions): void {
    this.assertStarted()
    options?.signal?.throwIfAborted()
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
