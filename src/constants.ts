/** Number of hash slots, as in Redis Cluster */
export const SLOT_COUNT = 16384

export const PROTOCOL_PREFIX = 'datastore-cluster'
export const PROTOCOL_VERSION = '1.0.0'
/** The libp2p protocol id of the data protocol */
export const PROTOCOL = `/${PROTOCOL_PREFIX}/${PROTOCOL_VERSION}`

/** Default time a request may take before the owner is reported unavailable */
export const DEFAULT_REQUEST_TIMEOUT = 10_000
/** Default largest protocol message, in bytes */
export const DEFAULT_MAX_MESSAGE_SIZE = 4 * 1024 * 1024
/** Default number of MOVED answers followed before giving up */
export const DEFAULT_MAX_REDIRECTS = 3
/** Default number of inbound data-protocol streams accepted per connection */
export const DEFAULT_MAX_INBOUND_STREAMS = 32
/** Default number of outbound data-protocol streams per connection */
export const DEFAULT_MAX_OUTBOUND_STREAMS = 32
/** Requests one stream may have in progress before the owner stops reading it */
export const DEFAULT_MAX_IN_FLIGHT_PER_STREAM = 256
/** Bytes of requests one stream may have in progress before the owner stops reading it */
export const DEFAULT_MAX_IN_FLIGHT_BYTES = 32 * 1024 * 1024
/** Bytes of answers queued for one stream's reader before the owner serves nothing more on it */
export const DEFAULT_MAX_QUEUED_BYTES = 8 * 1024 * 1024
/** Requests of one stream an owner works on at once (streamed answers waiting for credit not counted) */
export const DEFAULT_MAX_CONCURRENT_PER_STREAM = 16
/** Most credit one streamed answer may hold; a caller claiming more gets this */
export const MAX_CREDIT = 64 * 1024 * 1024
/** Bytes of streamed answer (getMany, query) an owner may send ahead of the reader */
export const DEFAULT_STREAM_WINDOW = 1024 * 1024
/**
 * Target size of one frame of a streamed answer (getMany, query). Measured on
 * a 1 GiB query: 64 KiB frames (about one noise message each) streamed ~12 %
 * faster than 256 KiB frames
 */
export const TARGET_FRAME_SIZE = 64 * 1024
/** Bytes of a putMany/deleteMany chunk read from the caller's source before it is sent */
export const WRITE_CHUNK_BYTES = 1024 * 1024
/** Keys of a getMany read from the caller's source before they are sent */
export const GET_MANY_CHUNK = 1024
/** Default milliseconds between anti-entropy rounds (tables with replicated ranges) */
export const DEFAULT_ANTI_ENTROPY_INTERVAL = 5000
/** Default milliseconds a tombstone is kept at least, after its write, before it may be purged */
export const DEFAULT_TOMBSTONE_GRACE_PERIOD = 24 * 60 * 60 * 1000
/** Default milliseconds between heartbeats to each member (tables with replicated ranges) */
export const DEFAULT_HEARTBEAT_INTERVAL = 1000
/** Default heartbeat intervals without an answer before a peer is suspected down */
export const DEFAULT_SUSPECT_AFTER = 3

/**
 * libp2p's connection monitor settings for the nodes this package creates
 * (the command line's, the benchmarks'): keep pinging, but never abort a
 * connection because one ping was slow. By default libp2p aborts a
 * connection whose ping takes longer than an adaptive timeout (5 s at
 * least), failing every stream on it with "The operation was aborted due to
 * timeout": a busy process (a large putMany on a loaded machine) loses all
 * its requests to a peer that is up. The cluster has its own failure
 * detector (heartbeats) and request timeouts for peers that are really gone.
 * Recommended for libp2p nodes given to `ClusterDatastore` too.
 */
export const CONNECTION_MONITOR = { abortConnectionOnPingFailure: false }
