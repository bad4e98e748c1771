import { BaseDatastore } from 'datastore-core/base'
import { NotFoundError } from 'interface-store'
import { PROTOCOL } from './constants.js'
import { InvalidParametersError, MovedError, NotStartedError, ProtocolError } from './errors.js'
import { Request, Response } from './pb/message.js'
import { fanOutQuery, KEYS, PAIRS } from './query.js'
import { applyBatch, getMany, putMany, deleteMany } from './many.js'
import { RpcClient } from './rpc/client.js'
import { errorFromResponse } from './rpc/errors.js'
import { EMPTY } from './rpc/bytes.js'
import { RpcServer } from './rpc/server.js'
import { tableFromMessage, tableToMessage } from './rpc/table.js'
import { keySlot } from './slots/hash.js'
import { Ownership } from './slots/ownership.js'
import { SlotTable } from './slots/table.js'
import { assertKey, assertValue, parseClients, resolveOptions } from './validate.js'
import type { ClusterDatastoreOptions, ClusterLibp2p, SlotTableJSON } from './index.js'
import type { Access } from './rpc/server.js'
import type { PeerChannel } from './rpc/client.js'
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
      requestTimeout: this.options.requestTimeout,
      maxMessageSize: this.options.maxMessageSize,
      maxOutboundStreams: this.options.maxOutboundStreams,
      streamWindow: this.options.streamWindow
    })
    this.server = new RpcServer({
      self: this.self,
      local: this.child,
      log: this.log.newScope('server'),
      maxMessageSize: this.options.maxMessageSize,
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

    await this.routed(key, options, async () => {
      await this.child.put(key, val, options)
    }, {
      type: Request.Type.PUT,
      key: key.uint8Array() as Uint8Array<ArrayBuffer>,
      value: val as Uint8Array<ArrayBuffer>
    }, () => undefined)

    return key
  }

  override async get (key: Key, options?: AbortOptions): Promise<Uint8Array> {
    assertKey(key)

    return this.routed(key, options, async () => this.child.get(key, options), {
      type: Request.Type.GET,
      key: key.uint8Array() as Uint8Array<ArrayBuffer>
    }, (res) => res.value ?? EMPTY)
  }

  override async has (key: Key, options?: AbortOptions): Promise<boolean> {
    assertKey(key)

    return this.routed(key, options, async () => this.child.has(key, options), {
      type: Request.Type.HAS,
      key: key.uint8Array() as Uint8Array<ArrayBuffer>
    }, (res) => res.exists)
  }

  override async delete (key: Key, options?: AbortOptions): Promise<void> {
    assertKey(key)

    await this.routed(key, options, async () => {
      await this.child.delete(key, options)
    }, {
      type: Request.Type.DELETE,
      key: key.uint8Array() as Uint8Array<ArrayBuffer>
    }, () => undefined)
  }

  // the many-key generators check that the store is started when first read

  override putMany (source: Iterable<Pair> | AsyncIterable<Pair>, options: AbortOptions = {}): AsyncGenerator<Key> {
    return putMany(this, source, options)
  }

  override getMany (source: Iterable<Key> | AsyncIterable<Key>, options: AbortOptions = {}): AsyncGenerator<Pair> {
    return getMany(this, source, options)
  }

  override deleteMany (source: Iterable<Key> | AsyncIterable<Key>, options: AbortOptions = {}): AsyncGenerator<Key> {
    return deleteMany(this, source, options)
  }

  /**
   * Operations are grouped by owner on commit and each owner applies its
   * group as one batch of its local store. There is no atomicity across
   * owners: if one owner fails, the others' groups may already be written.
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
        this.assertStarted()
        options?.signal?.throwIfAborted()
        await applyBatch(this, puts, deletes, options ?? {})
      }
    }
  }

  /** @internal BaseDatastore applies filters, orders, offset and limit on top */
  override _all (q: Query, options?: AbortOptions): AsyncGenerator<Pair> {
    return fanOutQuery(this, q.prefix, PAIRS, options ?? {})
  }

  /** @internal */
  override _allKeys (q: KeyQuery, options?: AbortOptions): AsyncGenerator<Key> {
    return fanOutQuery(this, q.prefix, KEYS, options ?? {})
  }

  /** @internal the current ownership of this node */
  get ownership (): Ownership {
    return this.owned
  }

  /** @internal */
  assertStarted (): void {
    if (!this.started) {
      throw new NotStartedError('The cluster datastore is not started: call start() first')
    }
  }

  /** @internal the channel to a peer */
  channel (peer: PeerId): PeerChannel {
    if (this.client == null) {
      throw new NotStartedError('The cluster datastore is not started: call start() first')
    }

    return this.client.channel(peer)
  }

  /**
   * @internal
   * Learn from a MOVED answer: adopt the peer's newer table, or send ours when
   * the peer's is the older one. Throws when there is nothing to learn.
   */
  async onMoved (res: Response, peer: PeerId, options: AbortOptions): Promise<void> {
    if (res.table != null) {
      let table: SlotTable

      try {
        table = tableFromMessage(res.table)
      } catch (err: any) {
        throw new ProtocolError(`Peer ${peer.toString()} answered MOVED with an invalid slot table: ${err.message}`)
      }

      if (this.updateSlotTable(table) || table.epoch === this.table.epoch) {
        return
      }
    } else if (res.epoch < this.table.epoch) {
      const answer = await this.channel(peer).call({
        type: Request.Type.TABLE,
        epoch: this.table.epoch,
        table: tableToMessage(this.table)
      }, options)

      if (answer.status !== Response.Status.OK) {
        throw errorFromResponse(answer, peer.toString())
      }

      return
    }

    throw new MovedError(`Peer ${peer.toString()} answered MOVED (${res.message}) but offered no newer slot table`)
  }

  /**
   * Send a single-key operation to the key's owner, following MOVED answers a
   * bounded number of times.
   */
  private async routed<T> (key: Key, options: AbortOptions | undefined, local: () => Promise<T>, req: Partial<Request>, decode: (res: Response) => T): Promise<T> {
    this.assertStarted()
    options?.signal?.throwIfAborted()
    const slot = keySlot(key)

    for (let attempt = 0; ; attempt++) {
      if (this.owned.isPrimary(slot)) {
        return local()
      }

      const owner = this.table.primary(slot)
      req.epoch = this.table.epoch
      const res = await this.channel(owner).call(req, { signal: options?.signal, slot })

      if (res.status === Response.Status.OK) {
        return decode(res)
      }

      if (res.status === Response.Status.NOT_FOUND) {
        throw new NotFoundError(`Not Found: ${key.toString()}`)
      }

      if (res.status === Response.Status.MOVED) {
        if (attempt >= this.options.maxRedirects) {
          throw new MovedError(`Slot ${slot} of key ${key.toString()} was still misrouted after ${this.options.maxRedirects} redirects (last: ${owner.toString()} answered ${res.message})`)
        }

        await this.onMoved(res, owner, options ?? {})
        continue
      }

      throw errorFromResponse(res, owner.toString(), slot)
    }
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
