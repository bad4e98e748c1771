/**
 * @packageDocumentation
 *
 * A sharded [interface-datastore](https://www.npmjs.com/package/interface-datastore)
 * over libp2p. Each key hashes to one of 16384 slots (CRC16/XMODEM with Redis
 * Cluster hash tags); a slot table gives every slot an owner; every operation
 * goes to the owner — the local child store when that is this node, otherwise
 * the owner over the `/datastore-cluster/1.0.0` protocol on a persistent,
 * pipelined libp2p stream.
 *
 * @example
 * ```ts
 * import { createLibp2p } from 'libp2p'
 * import { tcp } from '@libp2p/tcp'
 * import { noise } from '@libp2p/noise'
 * import { yamux } from '@libp2p/yamux'
 * import { MemoryDatastore } from 'datastore-core'
 * import { Key } from 'interface-datastore'
 * import { ClusterDatastore, SlotTable } from 'datastore-cluster'
 *
 * const libp2p = await createLibp2p({
 *   addresses: { listen: ['/ip4/127.0.0.1/tcp/4001'] },
 *   transports: [tcp()],
 *   connectionEncrypters: [noise()],
 *   streamMuxers: [yamux()]
 * })
 *
 * // every node of the cluster is given the same table
 * const slots = SlotTable.even([
 *   { id: libp2p.peerId, addrs: libp2p.getMultiaddrs() },
 *   { id: '12D3KooW…', addrs: ['/ip4/10.0.0.2/tcp/4001'] }
 * ])
 *
 * const store = new ClusterDatastore(libp2p, new MemoryDatastore(), slots)
 * await store.start()
 * await store.put(new Key('/hello'), new TextEncoder().encode('world'))
 * ```
 *
 * @example Replicated: every range owned by 3 peers, quorum reads and writes
 * ```ts
 * const slots = SlotTable.even(peers, { replicas: 3 })
 * const store = new ClusterDatastore(libp2p, new MemoryDatastore(), slots, { consistency: 'quorum' })
 * await store.start()
 * await store.put(key, value, { consistency: 'all' })  // this write waits for every owner
 * store.status().peers                                 // [{ peer, state: 'up', hints: 0, lag: 12 }, …]
 * ```
 */

import type { Consistency } from './replication/consistency.js'
import type { Libp2p, PeerId, PublicKey } from '@libp2p/interface'

export { ClusterDatastore } from './datastore/cluster-datastore.js'
export { SlotTable } from './slots/table.js'
export type { SlotRange, SlotPeer, SlotPeerInit, SlotClient, SlotClientInit, SlotTableJSON, SlotRangeInit, SlotTableInit, EvenSlotTableOptions } from './slots/table.js'
export { signTable, openSignedTable, isSignedSlotTable, SLOT_TABLE_DOMAIN, SLOT_TABLE_CODEC } from './membership/signed-table.js'
export type { SignedSlotTable } from './membership/signed-table.js'
export { keySlot, crc16 } from './slots/hash.js'
export { ClusterBlockstore, blockKey, blockCid, DEFAULT_BLOCKS_PREFIX } from './blockstore.js'
export type { ClusterBlockstoreInit } from './blockstore.js'
export { heliaCluster, HeliaCluster, ClusterService } from './blockstore/helia.js'
export type { HeliaClusterInit, ClusterServiceComponents } from './blockstore/helia.js'
export { SharedPinsDatastore, HELIA_PIN_NAMESPACES } from './blockstore/pins.js'
export type { SharedPinsInit } from './blockstore/pins.js'
export { CONNECTION_MONITOR, SLOT_COUNT, PROTOCOL } from './constants.js'
export type { AntiEntropyStats } from './replication/anti-entropy.js'
export type { Consistency, ConsistencyOptions } from './replication/consistency.js'
export type { ClusterStatus, LayoutStatus, PeerStatus } from './datastore/cluster-datastore.js'
export type { Trackers } from './membership/layout.js'
export { RESERVED_NAMESPACE } from './owner/keys.js'
export { planTable, planAddNode, planRemoveNode, planRebalance, currentWeights } from './membership/planner.js'
export type { PlanMember, PlanTarget, PlanOptions, RemoveOptions, TablePlan, NodePlan, ReplicaMove } from './membership/planner.js'
export {
  ClusterError, ClusterAggregateError, PartialWriteError, InvalidParametersError, InvalidSlotTableError, NotStartedError, UnavailableError,
  UnauthorizedError, TooLargeError, BadRequestError, MovedError, InternalError, ProtocolError, NotFoundError,
  TableSignatureError, TableConflictError, InvalidPlanError
} from './errors.js'
export type { InvalidPlanReason } from './errors.js'

/**
 * The parts of a libp2p node the cluster uses. A node from `createLibp2p()`
 * fits; so does anything that offers these members.
 */
export type ClusterLibp2p = Pick<Libp2p, 'peerId' | 'logger' | 'handle' | 'unhandle' | 'dialProtocol' | 'peerStore'>

/**
 * A peer outside the slot table that may call this node
 */
export interface ClusterClient {
  /** The client's peer ID */
  peerId: PeerId | string
  /** Refuse its writes (put, delete, batch); default false */
  readOnly?: boolean
}

/**
 * Options of {@link ClusterDatastore}. Every one is optional.
 */
export interface ClusterDatastoreOptions {
  /**
   * Peers outside the slot table allowed to call this node's data protocol,
   * besides the table's own `clients`. Members of the table are always
   * allowed; everyone else is answered UNAUTHORIZED and nothing is read or
   * written. Only for stores without `adminKey`: with one, clients belong in
   * the signed table (giving both is an `InvalidParametersError`).
   *
   * @default []
   */
  clients?: Array<PeerId | string | ClusterClient>

  /**
   * The cluster's admin public key (or its protobuf encoding in base64).
   * With it, the slot table changes only by tables signed by this key
   * ({@link signTable}) with a higher epoch, from any peer allowed to call
   * (the signature, not the sender, is trusted); the latest is persisted in
   * the local store under `/.cluster/table`, so a restart does not roll it
   * back. Two different tables with one epoch are refused
   * (`TableConflictError`). Without it, no table from the network is ever
   * adopted: the table is the one given to the constructor.
   *
   * @default undefined
   */
  adminKey?: PublicKey | string

  /**
   * Milliseconds an owner has to accept a stream and answer a request (or, in
   * a streamed answer, to send the next frame) before the call fails with
   * `UnavailableError` naming the peer and the slot.
   *
   * @default 10000
   */
  requestTimeout?: number

  /**
   * Largest protocol message in bytes, in both directions. A value that
   * cannot fit is refused with `TooLargeError` before anything is written.
   * Give every node the same value.
   *
   * @default 4194304 (4 MiB)
   */
  maxMessageSize?: number

  /**
   * MOVED answers followed (adopting the newer table each time) before a call
   * fails with `MovedError`.
   *
   * @default 3
   */
  maxRedirects?: number

  /**
   * Inbound data-protocol streams accepted per connection
   *
   * @default 32
   */
  maxInboundStreams?: number

  /**
   * Outbound data-protocol streams allowed per connection
   *
   * @default 32
   */
  maxOutboundStreams?: number

  /**
   * Bytes of a streamed answer (getMany, query) an owner may send ahead of
   * the reader. Bounds the memory a slow reader costs.
   *
   * @default 1048576 (1 MiB)
   */
  streamWindow?: number

  /**
   * Requests one stream may have unanswered. A caller keeps its own requests
   * within this; an owner stops reading a stream that goes past it (and the
   * stream is reset if the caller keeps sending). Give every node the same
   * value.
   *
   * @default 256
   */
  maxInFlightPerStream?: number

  /**
   * Bytes of requests one stream may have unanswered, both as caller and as
   * owner, like `maxInFlightPerStream`. Never less than twice
   * `maxMessageSize`.
   *
   * @default 33554432 (32 MiB)
   */
  maxInFlightBytes?: number

  /**
   * Bytes of answers an owner queues for a caller that does not read them
   * before it serves nothing more on that stream. A caller that reads nothing
   * for `requestTimeout` while requests wait loses the stream.
   *
   * @default 8388608 (8 MiB)
   */
  maxQueuedBytes?: number

  /**
   * Requests of one stream an owner works on at once. Streamed answers
   * (getMany, query) waiting for the reader's credit do not count.
   *
   * @default 16
   */
  maxConcurrentPerStream?: number

  /**
   * Milliseconds between anti-entropy rounds, when the table has replicated
   * ranges: this node compares per-slot digests with each owner it shares
   * slots with and exchanges only the records that differ. A round also
   * runs when a member is seen up again, and on `repair()`.
   *
   * @default 5000
   */
  antiEntropyInterval?: number

  /**
   * Milliseconds between scrubs, 0 for none: this node checks every record
   * of its replicated slots against its checksum (one scan of the local
   * store), and a damaged one found counts as absent and is replaced by an
   * anti-entropy round at once. Without scrubs, a record damaged while the
   * node runs is found by the first read of its key, or at the next start.
   * `scrub()` runs one now.
   *
   * @default 0
   */
  scrubInterval?: number

  /**
   * Milliseconds a tombstone (a deleted key of a replicated slot) is kept at
   * least, after the delete, before anti-entropy may purge it; it is purged
   * only once every owner of its slot holds it. Must exceed the longest a
   * write can stay undelivered (an owner down with hints held for it), or an
   * older value delivered after the purge comes back.
   *
   * @default 86400000 (24 hours)
   */
  tombstoneGracePeriod?: number

  /**
   * Owners of a replicated slot (a range with several owners, N) that
   * operations wait for: `one` (1), `quorum` (⌊N/2⌋+1) or `all` (N), for
   * writes and reads. Each operation may name its own in
   * `options.consistency`. With `quorum` writes and `quorum` reads, a read
   * sees every acknowledged write. Slots with one owner ignore it.
   *
   * @default 'quorum'
   */
  consistency?: Consistency

  /**
   * Milliseconds between heartbeats (PING) to each member, when the table
   * has replicated ranges
   *
   * @default 1000
   */
  heartbeatInterval?: number

  /**
   * Heartbeat intervals without an answer before a member is suspected down:
   * writes then hint it at once instead of waiting for it, and reads skip it
   *
   * @default 3
   */
  suspectAfter?: number
}
