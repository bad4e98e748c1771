/**
 * One operation of a recorded history: its invocation and its completion, as
 * stamped by one recorder's logical clock.
 */

export type OperationKind = 'put' | 'get' | 'delete'

/**
 * - `ok`: completed and acknowledged; a get's `result` is what it read
 * - `fail`: definitely had no effect (refused before anything was sent); a
 *   failed get carries no information. The checker drops these.
 * - `unknown`: may or may not have taken effect, at any moment after `call`
 *   (timeout, error after sending, client killed, still in flight)
 */
export type Outcome = 'ok' | 'fail' | 'unknown'

export interface Operation {
  /** Who issued it: operations of one client are sequential in a sane recorder, but the checker does not rely on it */
  client: string | number
  key: string
  op: OperationKind
  /** The value a put writes */
  value?: string
  /** What an `ok` get read: the value, or null for not found */
  result?: string | null
  /** Logical time of the invocation */
  call: number
  /** Logical time of the completion; Infinity while it has not completed */
  ret: number
  outcome: Outcome
}

/** `put 'v1' by client 2 at [90,95]`, for explanations */
export function describeOperation (o: Operation): string {
  const interval = `[${o.call},${o.ret === Infinity ? '∞' : o.ret}${o.ret === Infinity ? ')' : ']'}`
  const who = `by client ${o.client} at ${interval}`
  const tail = o.outcome === 'ok' ? '' : o.outcome === 'unknown' ? ' (outcome unknown)' : ' (failed)'

  switch (o.op) {
    case 'put':
      return `put ${quote(o.value)} ${who}${tail}`
    case 'delete':
      return `delete ${who}${tail}`
    case 'get':
      return o.outcome === 'ok' ? `get ${who} returned ${quote(o.result)}` : `get ${who}${tail}`
  }
}

/** A value as shown in explanations: quoted, or `not found` */
export function quote (value: string | null | undefined): string {
  return value == null ? 'not found' : `'${value}'`
}
