import {
  DEFAULT_MAX_CONCURRENT_PER_STREAM, DEFAULT_MAX_IN_FLIGHT_BYTES, DEFAULT_MAX_IN_FLIGHT_PER_STREAM,
  DEFAULT_MAX_MESSAGE_SIZE, DEFAULT_MAX_QUEUED_BYTES, DEFAULT_REQUEST_TIMEOUT, MAX_CREDIT
} from '../constants.js'

/**
 * What one stream of the data protocol may make a node hold, in both
 * directions. A caller keeps within the same numbers on its side, so an
 * honest caller never meets them; a peer that goes past them is paused, and
 * reset if it keeps sending.
 */
export interface StreamLimits {
  /** Largest frame in either direction */
  maxMessageSize: number
  /** Requests in progress per stream (caller: unanswered requests per stream) */
  maxInFlightPerStream: number
  /** Bytes of requests in progress per stream (caller: bytes of unanswered requests) */
  maxInFlightBytes: number
  /** Bytes of answers queued for a reader before the owner serves nothing more on that stream */
  maxQueuedBytes: number
  /** Requests of one stream the owner works on at once */
  maxConcurrentPerStream: number
  /** Most credit a streamed answer may hold; a caller claiming more gets this */
  maxCredit: number
  /** How long an owner waits for a reader (credit, or room in the queue) before it gives up on the answer */
  requestTimeout: number
}

export const DEFAULT_LIMITS: StreamLimits = {
  maxMessageSize: DEFAULT_MAX_MESSAGE_SIZE,
  maxInFlightPerStream: DEFAULT_MAX_IN_FLIGHT_PER_STREAM,
  maxInFlightBytes: DEFAULT_MAX_IN_FLIGHT_BYTES,
  maxQueuedBytes: DEFAULT_MAX_QUEUED_BYTES,
  maxConcurrentPerStream: DEFAULT_MAX_CONCURRENT_PER_STREAM,
  maxCredit: MAX_CREDIT,
  requestTimeout: DEFAULT_REQUEST_TIMEOUT
}

/**
 * Limits from options: a request of `maxMessageSize` must always fit in
 * flight, whatever `maxInFlightBytes` says
 */
export function streamLimits (options: Partial<StreamLimits>): StreamLimits {
  const limits = { ...DEFAULT_LIMITS }

  for (const [name, value] of Object.entries(options) as Array<[keyof StreamLimits, number | undefined]>) {
    if (value != null) {
      limits[name] = value
    }
  }

  limits.maxInFlightBytes = Math.max(limits.maxInFlightBytes, limits.maxMessageSize * 2)
  return limits
}
