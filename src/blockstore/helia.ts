import { MemoryDatastore } from 'datastore-core/memory'
import { ClusterBlockstore } from '../blockstore.js'
import { ClusterDatastore } from '../datastore/cluster-datastore.js'
import { InvalidParametersError, NotStartedError } from '../errors.js'
import { isSignedSlotTable } from '../membership/signed-table.js'
import { SlotTable } from '../slots/table.js'
import { DeferredDatastore } from './deferred.js'
import { HELIA_PIN_NAMESPACES, SharedPinsDatastore } from './pins.js'
import type { ClusterBlockstoreInit } from '../blockstore.js'
import type { ClusterDatastoreOptions, ClusterLibp2p, SignedSlotTable, SlotTableJSON } from '../index.js'
import type {
  AbortOptions, ComponentLogger, DialProtocolOptions, DialTarget, Logger, PeerId, PeerStore, Startable, Stream,
  StreamHandler, StreamHandlerOptions
} from '@libp2p/interface'
import type { Datastore } from 'interface-datastore'

/**
 * Options of {@link heliaCluster}. Every one is optional.
 */
export interface HeliaClusterInit {
  /**
   * This node's share of the cluster: the blocks (and pins) whose slots it
   * owns. Use a persistent store (datastore-fs, datastore-level) on a data
   * node; a client node (not in the slot table) keeps nothing in it.
   *
   * @default new MemoryDatastore()
   */
  local?: Datastore

  /**
   * The slot table, the same on every node. It may be given later with
   * {@link HeliaCluster.join}, e.g. once every node has started and its
   * address is known; until then the blockstore throws `NotStartedError`.
   */
  slots?: SlotTable | SignedSlotTable | SlotTableJSON | string

  /**
   * Helia's own, node-local datastore: the keychain with the node's private
   * key, libp2p's peer store, Helia's datastore version. These must not be
   * shared, and libp2p reads them before the cluster is up. Use a persistent
   * store to keep the node's peer ID across restarts.
   *
   * @default new MemoryDatastore()
   */
  datastore?: Datastore

  /**
   * Keep Helia's pin set (`/pin/…`, `/pinned-block/…`) in the cluster, so every
   * Helia node sees every pin and garbage collection on any node keeps blocks
   * pinned on any other. Turn it off only if no node runs GC, or each node's
   * blocks are its own.
   *
   * @default true
   */
  sharePins?: boolean

  /** Options of the node's {@link ClusterDatastore} */
  options?: ClusterDatastoreOptions

  /** Options of the {@link ClusterBlockstore} */
  blockstore?: ClusterBlockstoreInit
}

/**
 * The parts of libp2p's components the cluster service uses. libp2p passes
 * its full components to a service factory; tests can pass just these.
 */
export interface ClusterServiceComponents {
  peerId: PeerId
  logger: ComponentLogger
  peerStore: PeerStore
  registrar: {
    handle(protocol: string, handler: StreamHandler, options?: StreamHandlerOptions): Promise<void>
    unhandle(protocol: string, options?: AbortOptions): Promise<void>
  }
  connectionManager: {
    openStream(peer: DialTarget, protocol: string | string[], options?: DialProtocolOptions): Promise<Stream>
  }
}

/**
 * Everything a Helia node needs to keep its blocks, and its pins, in a
 * cluster: a blockstore and a datastore to hand to `createHelia`, and a
 * libp2p service that binds them to the libp2p node Helia creates.
 *
 * Helia takes its stores when it is created but creates libp2p only when it
 * starts, and the cluster protocol runs on that libp2p node. So the stores
 * are built first, unbound, and `service` — registered in Helia's libp2p
 * config — binds them when libp2p starts and unbinds them when it stops.
 * Nothing here imports Helia.
 *
 * @example
 * ```ts
 * import { createHelia } from 'helia'
 * import { heliaCluster } from 'datastore-cluster'
 *
 * const cluster = heliaCluster({ local: new LevelDatastore('./cluster'), slots })
 * const helia = createHelia({
 *   blockstore: cluster.blockstore,
 *   datastore: cluster.datastore,
 *   libp2p: { config: 'merge', services: { cluster: cluster.service } }
 * })
 * await helia.start()
 * ```
 */
export class HeliaCluster {
  /** Give this to `createHelia({ blockstore })`: blocks spread over the cluster */
  readonly blockstore: ClusterBlockstore
  /**
   * Give this to `createHelia({ datastore })`: the pin set in the cluster,
   * everything else in the node's own datastore (see
   * {@link HeliaClusterInit.sharePins})
   */
  readonly datastore: Datastore
  /** This node's share of the cluster's data */
  readonly local: Datastore
  /**
   * A libp2p service factory: put it in `libp2p.services` (any name) so the
   * cluster starts and stops with Helia's libp2p node. The service is also
   * reachable as `helia.libp2p.services.<name>`.
   */
  readonly service: (components: ClusterServiceComponents) => ClusterService

  private readonly deferred: DeferredDatastore
  private readonly options: ClusterDatastoreOptions
  /** The table to start with: signed, for a cluster with an admin key (`options.adminKey`) */
  private table?: SlotTable | SignedSlotTable
  private libp2p?: ClusterLibp2p
  private store?: ClusterDatastore
  private serviceCreated: boolean
  private queue: Promise<unknown>

  /**
   * @param init - see {@link HeliaClusterInit}
   */
  constructor (init: HeliaClusterInit = {}) {
    if (init == null || typeof init !== 'object') {
      throw new InvalidParametersError('heliaCluster() takes an options object')
    }

    this.local = init.local ?? new MemoryDatastore()
    this.options = init.options ?? {}
    this.table = init.slots == null ? undefined : toTable(init.slots)
    this.deferred = new DeferredDatastore(() => this.notUpReason())
    this.blockstore = new ClusterBlockstore(this.deferred, init.blockstore)
    this.datastore = init.sharePins === false
      ? init.datastore ?? new MemoryDatastore()
      : new SharedPinsDatastore(init.datastore ?? new MemoryDatastore(), this.deferred, HELIA_PIN_NAMESPACES, {
        // each node writes its pin records under its peer ID; it writes
        // them only through the cluster, so only once libp2p is up
        writer: () => {
          if (this.libp2p == null) {
            throw new NotStartedError(this.notUpReason())
          }

          return this.libp2p.peerId.toString()
        }
      })
    this.serviceCreated = false
    this.queue = Promise.resolve()

    this.service = (components) => {
      // one cluster node per libp2p node: a second factory call would be a
      // second libp2p node claiming the same local share
      if (this.serviceCreated) {
        throw new InvalidParametersError('This heliaCluster() service is already registered with a libp2p node; create one heliaCluster() per Helia node')
      }

      this.serviceCreated = true
      return new ClusterService(this, components)
    }
  }

  /** The running cluster datastore, once bound to libp2p and given a slot table */
  get cluster (): ClusterDatastore | undefined {
    return this.deferred.isBound() ? this.store : undefined
  }

  /** The slot table in force, if one was given */
  get slots (): SlotTable | undefined {
    return this.store?.slots ?? tableOf(this.table)
  }

  /**
   * Give the slot table, or a newer one. Before the node is bound the table
   * is kept for when it is; after, it starts the cluster, or is adopted by
   * the running cluster if its epoch is newer. Returns whether it was taken.
   * With `options.adminKey`, give tables signed by the admin key.
   */
  async join (slots: SlotTable | SignedSlotTable | SlotTableJSON | string): Promise<boolean> {
    const table = toTable(slots)

    return this.serialized(async () => {
      if (this.store != null) {
        return this.store.updateSlotTable(table)
      }

      if (this.table != null && tableOf(table).epoch <= tableOf(this.table).epoch) {
        return false
      }

      this.table = table
      await this.startCluster()
      return true
    })
  }

  /**
   * Bind to a libp2p node and, if the slot table is known, start the
   * cluster. The service does this when libp2p starts; call it yourself
   * only when not using the service (e.g. after `helia.start()`, with
   * `helia.libp2p`).
   */
  async bind (libp2p: ClusterLibp2p): Promise<void> {
    await this.serialized(async () => {
      if (this.libp2p != null && !this.libp2p.peerId.equals(libp2p.peerId)) {
        throw new InvalidParametersError(`This heliaCluster() is bound to ${this.libp2p.peerId.toString()} already; create one per Helia node`)
      }

      if (this.libp2p !== libp2p) {
        this.libp2p = libp2p
        // a new node object (same identity): rebuild on it, keeping the newest table
        this.table = this.store?.signedSlots ?? this.store?.slots ?? this.table
        this.store = undefined
      }

      await this.startCluster()
    })
  }

  /** Stop serving and forwarding; the stores throw `NotStartedError` until bound again */
  async unbind (): Promise<void> {
    await this.serialized(async () => {
      this.deferred.bind(undefined)
      await this.store?.stop()
    })
  }

  /** Why the stores cannot be used yet, and what to do about it */
  private notUpReason (): string {
    if (!this.serviceCreated && this.libp2p == null) {
      return 'The cluster is not bound to a libp2p node: libp2p has not created heliaCluster().service. Start Helia, and list the service in ' +
        'its libp2p services, e.g. `const libp2p = libp2pDefaults(); createHelia({ libp2p: { ...libp2p, services: { ...libp2p.services, cluster: cluster.service } } })`. ' +
        'Helia\'s `libp2p: { config: \'merge\', services }` drops `services` (Helia 7). Or call `cluster.bind(helia.libp2p)` after `helia.start()`'
    }

    if (this.table == null && this.store == null) {
      return 'The cluster has no slot table yet: give every node the same table with `cluster.join(table)` (or the `slots` option)'
    }

    return 'The cluster is stopped: start Helia (or call `cluster.bind(helia.libp2p)` again)'
  }

  private async startCluster (): Promise<void> {
    if (this.libp2p == null || this.table == null) {
      return
    }

    this.store ??= new ClusterDatastore(this.libp2p, this.local, this.table, this.options)
    await this.store.start()
    this.deferred.bind(this.store)
  }

  private async serialized<T> (fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn)
    // the next call waits for this one whether it worked or not
    this.queue = run.catch(() => {})
    return run
  }
}

/**
 * The libp2p service made by {@link HeliaCluster.service}: binds the
 * cluster to the libp2p node on start, unbinds it on stop.
 */
export class ClusterService implements Startable {
  readonly [Symbol.toStringTag] = '@datastore-cluster/service'
  private readonly binding: HeliaCluster
  private readonly libp2p: ClusterLibp2p
  private readonly log: Logger

  constructor (binding: HeliaCluster, components: ClusterServiceComponents) {
    this.binding = binding
    this.libp2p = libp2pFromComponents(components)
    this.log = components.logger.forComponent('datastore-cluster:service')
  }

  async start (): Promise<void> {
    await this.binding.bind(this.libp2p)
    this.log('bound to %p%s', this.libp2p.peerId, this.binding.cluster == null ? ', waiting for a slot table' : '')
  }

  async stop (): Promise<void> {
    await this.binding.unbind()
  }

  /** The running cluster datastore, if any */
  get cluster (): ClusterDatastore | undefined {
    return this.binding.cluster
  }

  /** See {@link HeliaCluster.join} */
  async join (slots: SlotTable | SignedSlotTable | SlotTableJSON | string): Promise<boolean> {
    return this.binding.join(slots)
  }
}

/**
 * The cluster's view of a libp2p node, made from the components libp2p
 * gives its services: the same calls `Libp2p` itself forwards to them
 */
function libp2pFromComponents (components: ClusterServiceComponents): ClusterLibp2p {
  return {
    peerId: components.peerId,
    logger: components.logger,
    peerStore: components.peerStore,
    handle: async (protocols, handler, options) => {
      await Promise.all((Array.isArray(protocols) ? protocols : [protocols]).map(async p => components.registrar.handle(p, handler, options)))
    },
    unhandle: async (protocols, options) => {
      await Promise.all((Array.isArray(protocols) ? protocols : [protocols]).map(async p => components.registrar.unhandle(p, options)))
    },
    dialProtocol: async (peer, protocols, options) => components.connectionManager.openStream(peer, protocols, options)
  }
}

function toTable (slots: SlotTable | SignedSlotTable | SlotTableJSON | string): SlotTable | SignedSlotTable {
  return slots instanceof SlotTable || isSignedSlotTable(slots) ? slots : SlotTable.fromJSON(slots)
}

function tableOf (table: SlotTable | SignedSlotTable): SlotTable
function tableOf (table: SlotTable | SignedSlotTable | undefined): SlotTable | undefined
function tableOf (table: SlotTable | SignedSlotTable | undefined): SlotTable | undefined {
  return table == null || table instanceof SlotTable ? table : table.table
}

/**
 * Build the stores and libp2p service that put a Helia node's blocks and pins
 * in a cluster. See {@link HeliaCluster}.
 *
 * @example
 * ```ts
 * const cluster = heliaCluster({ local: new FsDatastore('./cluster'), slots })
 * const helia = createHelia({
 *   blockstore: cluster.blockstore,
 *   datastore: cluster.datastore,
 *   libp2p: { config: 'merge', services: { cluster: cluster.service } }
 * })
 * await helia.start()
 * ```
 */
export function heliaCluster (init: HeliaClusterInit = {}): HeliaCluster {
  return new HeliaCluster(init)
}
