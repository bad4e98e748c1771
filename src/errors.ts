/**
 * Typed errors. Every error has a stable `name` (checked by callers and the
 * compliance suites) and a message that says what was wrong and what to do.
 * Misses surface as `NotFoundError` from interface-store, re-exported here.
 */

import type { Key } from 'interface-datastore'

export { NotFoundError } from 'interface-store'

/**
 * Base class of the errors this library throws itself
 */
export class ClusterError extends Error {
  static override name = 'ClusterError'
  override name = ClusterError.name
}

/**
 * A call argument was missing or had the wrong type or value
 */
export class InvalidParametersError extends ClusterError {
  static override name = 'InvalidParametersError'
  override name = InvalidParametersError.name
}

/**
 * A slot table failed validation. `problems` lists every problem found.
 */
export class InvalidSlotTableError extends ClusterError {
  static override name = 'InvalidSlotTableError'
  override name = InvalidSlotTableError.name

  /** Each problem found, one sentence each */
  readonly problems: string[]

  constructor (problems: string[] | string) {
    const list = Array.isArray(problems) ? problems : [problems]
    super(`Invalid slot table: ${list.join('; ')}`)
    this.problems = list
  }
}

/**
 * A method was called before `start()` or after `stop()`
 */
export class NotStartedError extends ClusterError {
  static override name = 'NotStartedError'
  override name = NotStartedError.name
}

/**
 * The owner of a slot could not be reached, did not answer within the request
 * timeout, or the stream to it broke while a request was in flight
 */
export class UnavailableError extends ClusterError {
  static override name = 'UnavailableError'
  override name = UnavailableError.name

  /** The peer that could not be reached, as a string peer ID */
  readonly peer?: string
  /** The slot the request was for, when it was for a single slot */
  readonly slot?: number

  constructor (message: string, init: { peer?: string, slot?: number, cause?: unknown } = {}) {
    super(message, { cause: init.cause })
    this.peer = init.peer
    this.slot = init.slot
  }
}

/**
 * The remote node refused the request because this node is not a member of
 * its slot table nor an allowed client, or is a read-only client asking to
 * write
 */
export class UnauthorizedError extends ClusterError {
  static override name = 'UnauthorizedError'
  override name = UnauthorizedError.name
}

/**
 * A value or message exceeded the maximum message size; that value or
 * message was not written (in a `putMany`, the pairs before it that were
 * yielded were)
 */
export class TooLargeError extends ClusterError {
  static override name = 'TooLargeError'
  override name = TooLargeError.name
}

/**
 * The remote node rejected a request as malformed
 */
export class BadRequestError extends ClusterError {
  static override name = 'BadRequestError'
  override name = BadRequestError.name
}

/**
 * The slot moved and the request was still misrouted after the configured
 * number of redirects
 */
export class MovedError extends ClusterError {
  static override name = 'MovedError'
  override name = MovedError.name
}

/**
 * The remote node failed while serving the request (its local store threw)
 */
export class InternalError extends ClusterError {
  static override name = 'InternalError'
  override name = InternalError.name
}

/**
 * A remote peer sent bytes that do not form a valid message of this protocol
 */
export class ProtocolError extends ClusterError {
  static override name = 'ProtocolError'
  override name = ProtocolError.name
}

/**
 * A signed slot table was refused: it is not a signed envelope of this
 * protocol (unsigned, another domain or payload type), its signature does not
 * verify, or it was not signed by the cluster's admin key. Nothing changed.
 */
export class TableSignatureError extends ClusterError {
  static override name = 'TableSignatureError'
  override name = TableSignatureError.name
}

/**
 * Two different slot tables with one epoch: the node keeps the one it has.
 * Only an operator who signed two tables with the same epoch can cause it;
 * sign the intended table again with a higher epoch.
 */
export class TableConflictError extends ClusterError {
  static override name = 'TableConflictError'
  override name = TableConflictError.name

  /** The epoch both tables carry */
  readonly epoch?: number
  /** Hash (sha256 of the table's bytes, hex) of the table kept */
  readonly ours?: string
  /** Hash of the table refused */
  readonly theirs?: string

  constructor (message: string, init: { epoch?: number, ours?: string, theirs?: string } = {}) {
    super(message)
    this.epoch = init.epoch
    this.ours = init.ours
    this.theirs = init.theirs
  }
}

/**
 * One or more owners failed during a fan-out (query, many-key operations).
 * `errors` holds each owner's error; the message names the peers.
 */
export class ClusterAggregateError extends AggregateError {
  static override name = 'ClusterAggregateError'
  override name = ClusterAggregateError.name
}

/**
 * A many-key write (`putMany`, `deleteMany`, a batch's `commit`) failed on
 * some owners after others may have written their share. There is no
 * atomicity across owners; this error says exactly what happened: `failed`
 * holds every key that was not written (or, for an owner that did not answer,
 * whose outcome is unknown), `written` counts the keys that were written, and
 * `errors` holds each failed owner's error. `putMany` and `deleteMany` yield
 * every written key before throwing it, and no other.
 */
export class PartialWriteError extends ClusterAggregateError {
  static override name = 'PartialWriteError'
  override name = PartialWriteError.name

  /** Keys not written, or not known to be written */
  readonly failed: Key[]
  /** How many keys were written */
  readonly written: number

  constructor (errors: Error[], message: string, failed: Key[], written: number) {
    super(errors, message)
    this.failed = failed
    this.written = written
  }
}

/**
 * Why a membership plan was refused, see {@link InvalidPlanError}
 */
export type InvalidPlanReason =
  /** The target is not a list of members with valid peer IDs */
  'bad-target' |
  /** A node is listed twice */
  'duplicate-node' |
  /** A weight is not a finite number > 0 */
  'bad-weight' |
  /** The replication factor is not an integer from 1 to the number of members */
  'bad-replicas' |
  /** More replicas per slot than nodes */
  'too-few-nodes' |
  /** The plan would leave no node */
  'last-node' |
  /** The node to remove or reweigh owns no slots */
  'unknown-node' |
  /** The node to add already owns slots */
  'already-member' |
  /** A node declared dead owns slots that would keep fewer old owners than a quorum */
  'too-few-copies'

/**
 * A membership change (add, remove, rebalance) cannot be planned as asked.
 * `reason` says which rule it broke; the message says what to do.
 */
export class InvalidPlanError extends ClusterError {
  static override name = 'InvalidPlanError'
  override name = InvalidPlanError.name

  /** Which rule the request broke */
  readonly reason: InvalidPlanReason

  constructor (reason: InvalidPlanReason, message: string) {
    super(message)
    this.reason = reason
  }
}
