import { publicKeyFromProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromString } from '@libp2p/peer-id'
import { fromString as uint8ArrayFromString } from 'uint8arrays/from-string'
import {
  DEFAULT_MAX_INBOUND_STREAMS, DEFAULT_MAX_MESSAGE_SIZE, DEFAULT_MAX_OUTBOUND_STREAMS, DEFAULT_MAX_REDIRECTS,
  DEFAULT_REQUEST_TIMEOUT, DEFAULT_STREAM_WINDOW, DEFAULT_MAX_IN_FLIGHT_PER_STREAM, DEFAULT_MAX_IN_FLIGHT_BYTES,
  DEFAULT_MAX_QUEUED_BYTES, DEFAULT_MAX_CONCURRENT_PER_STREAM, DEFAULT_ANTI_ENTROPY_INTERVAL, DEFAULT_TOMBSTONE_GRACE_PERIOD, DEFAULT_HEARTBEAT_INTERVAL, DEFAULT_SUSPECT_AFTER
} from './constants.js'
import { InvalidParametersError, TooLargeError } from './errors.js'
import { keyProblem } from './owner/keys.js'
import { DEFAULT_CONSISTENCY, consistencyOf } from './replication/consistency.js'
import type { ResolvedOptions } from './datastore/cluster-datastore.js'
import type { ClusterDatastoreOptions } from './index.js'
import type { Access } from './rpc/server.js'
import type { SlotTable } from './slots/table.js'
import type { PublicKey } from '@libp2p/interface'
import type { Key } from 'interface-datastore'

/** Room for the request's other fields around a key and value */
export const REQUEST_OVERHEAD = 64

/**
 * Datastore keys are checked by shape, not `instanceof`: an application may
 * hold another copy of interface-datastore.
 */
export function assertKey (key: Key): void {
  if (key == null || typeof (key as any).uint8Array !== 'function' || typeof key.toString !== 'function') {
    throw new InvalidParametersError(`Expected a Key from interface-datastore, got ${describe(key)}`)
  }

  const bytes = key.uint8Array()
  // the rules every owner applies to keys from the wire: a key the local
  // store would accept must not be one a remote owner refuses
  const problem = bytes instanceof Uint8Array ? keyProblem(bytes) : 'its uint8Array() is not a Uint8Array'

  if (problem != null) {
    throw new InvalidParametersError(`Invalid key ${describe(String(key.toString()))}: ${problem}`)
  }
}

export function assertValue (key: Key, value: Uint8Array, maxMessageSize: number): void {
  if (!(value instanceof Uint8Array)) {
    throw new InvalidParametersError(`The value for key ${key.toString()} must be a Uint8Array, got ${describe(value)}`)
  }

  const size = key.uint8Array().byteLength + value.byteLength + REQUEST_OVERHEAD

  if (size > maxMessageSize) {
    throw new TooLargeError(`The value of ${value.byteLength} bytes for key ${key.toString()} does not fit the maximum message size of ${maxMessageSize} bytes; it was not written (raise options.maxMessageSize on every node to store it)`)
  }
}

export function resolveOptions (options: ClusterDatastoreOptions): ResolvedOptions {
  if (options == null || typeof options !== 'object') {
    throw new InvalidParametersError('options must be an object')
  }

  return {
    requestTimeout: positive(options.requestTimeout, 'requestTimeout', DEFAULT_REQUEST_TIMEOUT, 1),
    maxMessageSize: positive(options.maxMessageSize, 'maxMessageSize', DEFAULT_MAX_MESSAGE_SIZE, 1024),
    maxRedirects: positive(options.maxRedirects, 'maxRedirects', DEFAULT_MAX_REDIRECTS, 0),
    maxInboundStreams: positive(options.maxInboundStreams, 'maxInboundStreams', DEFAULT_MAX_INBOUND_STREAMS, 1),
    maxOutboundStreams: positive(options.maxOutboundStreams, 'maxOutboundStreams', DEFAULT_MAX_OUTBOUND_STREAMS, 1),
    streamWindow: positive(options.streamWindow, 'streamWindow', DEFAULT_STREAM_WINDOW, 1024),
    maxInFlightPerStream: positive(options.maxInFlightPerStream, 'maxInFlightPerStream', DEFAULT_MAX_IN_FLIGHT_PER_STREAM, 1),
    maxInFlightBytes: positive(options.maxInFlightBytes, 'maxInFlightBytes', DEFAULT_MAX_IN_FLIGHT_BYTES, 1024),
    maxQueuedBytes: positive(options.maxQueuedBytes, 'maxQueuedBytes', DEFAULT_MAX_QUEUED_BYTES, 1024),
    maxConcurrentPerStream: positive(options.maxConcurrentPerStream, 'maxConcurrentPerStream', DEFAULT_MAX_CONCURRENT_PER_STREAM, 1),
    antiEntropyInterval: positive(options.antiEntropyInterval, 'antiEntropyInterval', DEFAULT_ANTI_ENTROPY_INTERVAL, 10),
    tombstoneGracePeriod: positive(options.tombstoneGracePeriod, 'tombstoneGracePeriod', DEFAULT_TOMBSTONE_GRACE_PERIOD, 0),
    scrubInterval: positive(options.scrubInterval, 'scrubInterval', 0, 0),
    consistency: consistencyOf(options.consistency, DEFAULT_CONSISTENCY),
    heartbeatInterval: positive(options.heartbeatInterval, 'heartbeatInterval', DEFAULT_HEARTBEAT_INTERVAL, 10),
    suspectAfter: positive(options.suspectAfter, 'suspectAfter', DEFAULT_SUSPECT_AFTER, 1)
  }
}

export function parseClients (clients: ClusterDatastoreOptions['clients']): Map<string, Access> {
  const out = new Map<string, Access>()

  if (clients == null) {
    return out
  }

  if (!Array.isArray(clients)) {
    throw new InvalidParametersError('options.clients must be an array of peer IDs or { peerId, readOnly } objects')
  }

  clients.forEach((client, i) => {
    const entry = typeof client === 'object' && client != null && 'peerId' in client ? client : { peerId: client, readOnly: false }
    let id: string

    try {
      id = typeof entry.peerId === 'string' ? peerIdFromString(entry.peerId).toString() : entry.peerId.toString()
      peerIdFromString(id)
    } catch {
      throw new InvalidParametersError(`options.clients[${i}] is not a valid peer ID: ${describe(entry.peerId)}`)
    }

    out.set(id, entry.readOnly === true ? 'read-only' : 'client')
  })

  return out
}

/**
 * `options.adminKey`: a public key, or its protobuf encoding in base64
 *
 * @throws {InvalidParametersError} if it is neither, or `options.clients` is given too
 */
export function parseAdminKey (options: ClusterDatastoreOptions): PublicKey | undefined {
  const value = options.adminKey

  if (value == null) {
    return undefined
  }

  if (options.clients != null) {
    throw new InvalidParametersError('options.clients and options.adminKey were both given: with an admin key the allowed clients belong in the signed slot table (SlotTable clients), so that they change everywhere at once; remove options.clients')
  }

  if (typeof value === 'string') {
    return adminKeyFromBase64(value, 'options.adminKey')
  }

  if (typeof value !== 'object' || typeof (value as any).verify !== 'function' || typeof (value as any).equals !== 'function' || (value as any).raw == null) {
    throw new InvalidParametersError(`options.adminKey must be a libp2p PublicKey or its base64 protobuf encoding, got ${describe(value)}`)
  }

  return value
}

/**
 * An admin public key from its protobuf encoding in base64, as configs and
 * `options.adminKey` carry it
 *
 * @throws {InvalidParametersError} naming `what` if it is not one
 */
export function adminKeyFromBase64 (text: string, what = 'the admin key'): PublicKey {
  try {
    return publicKeyFromProtobuf(uint8ArrayFromString(text.trim().replace(/=+$/, ''), 'base64'))
  } catch (err: any) {
    throw new InvalidParametersError(`${what} is not a base64 protobuf public key: ${err.message}`)
  }
}

/** Who may call under `table`: its clients, and those of `options.clients` (stores without an admin key) */
export function clientAccess (table: SlotTable, fromOptions: Map<string, Access>): Map<string, Access> {
  if (table.clients.length === 0) {
    return fromOptions
  }

  const out = new Map(fromOptions)

  for (const client of table.clients) {
    out.set(client.id.toString(), client.readOnly ? 'read-only' : 'client')
  }

  return out
}

function positive (value: number | undefined, name: string, fallback: number, min: number): number {
  if (value == null) {
    return fallback
  }

  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
    throw new InvalidParametersError(`options.${name} must be an integer >= ${min}, got ${describe(value)}`)
  }

  return value
}

function describe (value: unknown): string {
  if (value === null) return 'null'
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}…` : value)
  if (typeof value === 'object') return value.constructor?.name ?? 'object'
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return `${typeof value} ${value}`
  return typeof value
}
