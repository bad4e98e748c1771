/**
 * Records what concurrent clients did, for `checkHistory`. One recorder (one
 * process) stamps every invocation and completion from one logical clock, so
 * real-time order between clients is known without trusting any wall clock.
 * Stamps are taken in this process's event loop: a completion is stamped when
 * its continuation runs, which is after the store answered — intervals only
 * ever come out wider than the truth, which can hide an anomaly but never
 * invent one.
 */
import { describeOperation } from './operation.js'
import type { Operation, OperationKind, Outcome } from './operation.js'

export interface HistoryRecorderOptions {
  /**
   * How an error of a put or delete is recorded. Default `unknown`: the write
   * may have reached the store before the error. Return `fail` only for errors
   * that certainly left the store untouched (refused before sending).
   */
  classifyError?(err: unknown, op: OperationKind): 'fail' | 'unknown'
}

/** An operation in flight, completed by exactly one of its methods */
export interface PendingOperation {
  /** A put or delete acknowledged, or a get that read `result` (a string, UTF-8 bytes, or null/undefined for not found) */
  ok(result?: string | Uint8Array | null): void
  fail(): void
  unknown(): void
}

const decoder = new TextDecoder('utf-8', { fatal: true })

export class HistoryRecorder {
  private clock = 0
  private readonly operations: Operation[] = []
  private readonly classifyError: (err: unknown, op: OperationKind) => 'fail' | 'unknown'

  constructor (options: HistoryRecorderOptions = {}) {
    this.classifyError = options.classifyError ?? (() => 'unknown')
  }

  /** The next logical time: strictly increasing */
  now (): number {
    return ++this.clock
  }

  /**
   * Stamp the invocation now; complete the returned handle when the answer is
   * in. For operations that cannot be wrapped in one function.
   */
  begin (client: string | number, key: string | { toString(): string }, op: OperationKind, value?: string): PendingOperation {
    if (op === 'put' && typeof value !== 'string') {
      throw new TypeError('a put is recorded with its value as a string')
    }

    const record: Operation = { client, key: key.toString(), op, call: this.now(), ret: Infinity, outcome: 'unknown' }

    if (op === 'put') {
      record.value = value
    }

    this.operations.push(record)
    let done = false
    const complete = (outcome: Outcome, result?: string | null): void => {
      if (done) {
        throw new Error(`operation ${describeOperation(record)} completed twice`)
      }

      done = true
      record.ret = this.now()
      record.outcome = outcome

      if (op === 'get' && outcome === 'ok') {
        record.result = result ?? null
      }
    }

    return {
      ok: (result) => { complete('ok', typeof result === 'string' || result == null ? result : decoder.decode(result)) },
      fail: () => { complete('fail') },
      unknown: () => { complete('unknown') }
    }
  }

  /**
   * Run `fn` as one operation and record it; what `fn` returns or throws
   * passes through unchanged. A get's answer is read from what `fn` returns
   * (bytes are decoded as UTF-8); a NotFoundError from a get is recorded as a
   * read of `null`. Any other error of a get is recorded as `fail` (it tells
   * nothing), an error of a put or delete as `classifyError` says.
   */
  async record<T> (client: string | number, key: string | { toString(): string }, op: OperationKind, value: string | undefined, fn: () => T | Promise<T>): Promise<T> {
    const pending = this.begin(client, key, op, value)
    let result: T

    try {
      result = await fn()
    } catch (err: any) {
      if (op === 'get' && err?.name === 'NotFoundError') {
        pending.ok(null)
      } else if (op === 'get') {
        pending.fail()
      } else if (this.classifyError(err, op) === 'fail') {
        pending.fail()
      } else {
        pending.unknown()
      }

      throw err
    }

    if (op === 'get') {
      if (result != null && typeof result !== 'string' && !(result instanceof Uint8Array)) {
        pending.fail()
        throw new TypeError('a recorded get must resolve to a string, bytes, or null for not found')
      }

      pending.ok(result as string | Uint8Array | null | undefined)
    } else {
      pending.ok()
    }

    return result
  }

  /**
   * A copy of everything recorded so far. Operations still in flight are
   * included as `unknown` with ret Infinity — what a killed client leaves.
   */
  history (): Operation[] {
    return this.operations.map(o => ({ ...o }))
  }

  /** Operations invoked and not completed */
  get inFlight (): number {
    return this.operations.filter(o => o.ret === Infinity).length
  }
}
