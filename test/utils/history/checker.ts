/**
 * # A per-key linearizability checker for recorded histories
 *
 * ## Model
 * Each key is an independent register that starts absent (`null`): `put v`
 * sets it to `v`, `delete` sets it to `null`, `get` must return the current
 * value (`null` for not found) and changes nothing. A history is
 * linearizable when every key's operations can be put in one sequence that
 * the register accepts and that respects real time: an operation that
 * returned before another was invoked comes first. Keys are checked apart,
 * which is exact for a model where operations touch one key each (Herlihy &
 * Wing's locality; Porcupine's partitioning of its KV model).
 *
 * ## Time
 * `call` and `ret` are stamps of one logical clock, taken by one recorder
 * (`HistoryRecorder`) — never wall clocks of different machines. Intervals
 * that touch (`a.ret === b.call`) count as concurrent.
 *
 * ## Outcomes
 * - `ok`: the operation took effect exactly once between call and ret.
 * - `unknown` (timeout, error after sending, client killed, still in
 *   flight): it may have taken effect at any moment after its call, or never.
 *   Such a write is modelled as returning at +infinity, as Knossos and
 *   Porcupine do; the search does not have to place it, because placing it
 *   after everything else is always allowed. An unknown write whose value no
 *   read returned is dropped up front: it can always be taken as never
 *   having happened.
 * - `fail`: it definitely had no effect, and is dropped. A get that did not
 *   complete `ok` tells nothing and is dropped whatever its outcome. Record
 *   errors as `unknown` unless it is certain the request never left.
 *
 * ## Search
 * Wing & Gong's backtracking with Lowe's memoization of (linearized set,
 * state), the algorithm of Porcupine's checkSingle (`search.ts`). Its work is
 * bounded per key by `maxStepsPerKey`; a key that exhausts it is reported
 * `inconclusive`, never passed. A violating key is explained (`explain.ts`):
 * the smallest failing prefix of its history, cut down to a minimal set of
 * operations that admit no order, with the get that cannot be linearized.
 *
 * The search's memory grows with the configurations it keeps (one bitset of
 * the key's operations each), so the budget bounds memory as well as time.
 * What makes it expensive is many operations in flight at once on one key:
 * concurrent clients, and unknown-outcome writes whose values were read
 * (each stays pending to the end of the history).
 *
 * ## Use
 * ```ts
 * const recorder = new HistoryRecorder()
 * await recorder.record(client, key, 'put', value, async () => store.put(new Key(key), bytes))
 * const result = checkHistory(recorder.history())
 * expect(result.ok, result.summary).toBe(true)
 * ```
 * `result.ok` is true only for `linearizable`: an inconclusive check fails a
 * test rather than passing it unseen. Values are compared as strings, so
 * give every put a distinct value (a writer id and a counter) — a checker
 * cannot tell two writes of the same value apart, and an anomaly that only
 * reorders equal values is invisible.
 */
import { explainViolation } from './explain.js'
import { searchKey } from './search.js'
import type { Explanation } from './explain.js'
import type { Operation } from './operation.js'
import type { SearchVerdict } from './search.js'

export type { Operation, OperationKind, Outcome } from './operation.js'

export interface CheckOptions {
  /** Search steps (calls tried plus backtracks) per key before it is `inconclusive` (default 1,000,000) */
  maxStepsPerKey?: number
  /** Steps spent explaining one violating key (default 10 × maxStepsPerKey); past it the explanation is not minimal */
  maxExplainSteps?: number
}

export const DEFAULT_MAX_STEPS_PER_KEY = 1_000_000

export interface KeyReport {
  key: string
  verdict: SearchVerdict
  /** Operations recorded on the key */
  operations: number
  /** Operations the search had to place (failed ones, reads without an answer and unread unknown writes are not) */
  searched: number
  steps: number
}

export interface Violation extends Explanation {
  key: string
  /** `text`, under the name the result uses */
  explanation: string
}

export interface CheckStats {
  keys: number
  operations: number
  searched: number
  unknownWrites: number
  /** Steps over all keys, not counting explanations */
  steps: number
  /** The most steps one key took */
  maxKeySteps: number
  maxStepsPerKey: number
}

interface Common {
  /** One line (or a few) fit for an assertion message */
  summary: string
  keys: KeyReport[]
  stats: CheckStats
}

export type CheckResult =
  | Common & { ok: true, verdict: 'linearizable' }
  | Common & {
    ok: false
    verdict: 'violation'
    /** The first violating key (in key order), explained */
    key: string
    explanation: string
    violations: Violation[]
  }
  | Common & {
    ok: false
    verdict: 'inconclusive'
    /** The first key that exhausted its budget */
    key: string
    explanation: string
  }

/**
 * Check a history key by key. Throws a TypeError listing the operations that
 * are malformed (a put without a value, a completed get without a result, a
 * return before its call, …), since a checker fed nonsense would judge
 * nonsense.
 */
export function checkHistory (history: readonly Operation[], options: CheckOptions = {}): CheckResult {
  validate(history)

  const maxStepsPerKey = options.maxStepsPerKey ?? DEFAULT_MAX_STEPS_PER_KEY
  const maxExplainSteps = options.maxExplainSteps ?? 10 * maxStepsPerKey
  const byKey = new Map<string, Operation[]>()

  for (const o of history) {
    let ops = byKey.get(o.key)

    if (ops == null) {
      ops = []
      byKey.set(o.key, ops)
    }

    ops.push(o)
  }

  const keys: KeyReport[] = []
  const violations: Violation[] = []

  for (const key of [...byKey.keys()].sort()) {
    const ops = byKey.get(key)!
    const result = searchKey(ops, maxStepsPerKey)
    keys.push({ key, verdict: result.verdict, operations: ops.length, searched: result.operations, steps: result.steps })

    if (result.verdict === 'violation') {
      const explained = explainViolation(key, ops, { perCheck: maxStepsPerKey, total: maxExplainSteps })
      violations.push({ ...explained, key, explanation: explained.text })
    }
  }

  const stats: CheckStats = {
    keys: keys.length,
    operations: history.length,
    searched: keys.reduce((sum, k) => sum + k.searched, 0),
    unknownWrites: history.filter(o => o.op !== 'get' && o.outcome === 'unknown').length,
    steps: keys.reduce((sum, k) => sum + k.steps, 0),
    maxKeySteps: keys.reduce((max, k) => Math.max(max, k.steps), 0),
    maxStepsPerKey
  }
  const counts = `${stats.operations} operations (${stats.searched} searched, ${stats.unknownWrites} writes of unknown outcome) on ${stats.keys} keys, ${stats.steps} steps (at most ${stats.maxKeySteps} on one key, budget ${maxStepsPerKey})`
  const inconclusive = keys.filter(k => k.verdict === 'inconclusive')

  if (violations.length > 0) {
    const first = violations[0]
    const others = violations.length > 1 ? `\n${violations.length - 1} more key(s) violate: ${violations.slice(1).map(v => v.key).join(', ')}` : ''
    const unsure = inconclusive.length > 0 ? `\n${inconclusive.length} key(s) inconclusive: ${inconclusive.map(k => k.key).join(', ')}` : ''

    return {
      ok: false,
      verdict: 'violation',
      key: first.key,
      explanation: first.explanation,
      violations,
      summary: `not linearizable: ${counts}\n${first.explanation}${others}${unsure}`,
      keys,
      stats
    }
  }

  if (inconclusive.length > 0) {
    const explanation = `inconclusive: ${inconclusive.map(k => `key ${k.key} (${k.searched} operations searched) used up its ${maxStepsPerKey} steps`).join('; ')}; ` +
      'no violation was found on the other keys. Raise maxStepsPerKey, or record fewer concurrent or unknown-outcome operations per key.'

    return {
      ok: false,
      verdict: 'inconclusive',
      key: inconclusive[0].key,
      explanation,
      summary: `${explanation}\n${counts}`,
      keys,
      stats
    }
  }

  return { ok: true, verdict: 'linearizable', summary: `linearizable: ${counts}`, keys, stats }
}

function validate (history: readonly Operation[]): void {
  const problems: string[] = []

  history.forEach((o, i) => {
    const where = `operation ${i} (${o.op} of ${o.key} by client ${o.client})`

    if (typeof o.key !== 'string') {
      problems.push(`${where}: key must be a string`)
    }

    if (o.op !== 'put' && o.op !== 'get' && o.op !== 'delete') {
      problems.push(`${where}: op must be put, get or delete`)
    }

    if (o.outcome !== 'ok' && o.outcome !== 'fail' && o.outcome !== 'unknown') {
      problems.push(`${where}: outcome must be ok, fail or unknown`)
    }

    if (o.op === 'put' && typeof o.value !== 'string') {
      problems.push(`${where}: a put needs its value as a string`)
    }

    if (o.op === 'get' && o.outcome === 'ok' && o.result !== null && typeof o.result !== 'string') {
      problems.push(`${where}: a completed get needs its result (a string, or null for not found)`)
    }

    if (!Number.isFinite(o.call)) {
      problems.push(`${where}: call must be a finite logical time`)
    }

    if (Number.isNaN(o.ret) || o.ret < o.call) {
      problems.push(`${where}: ret (${o.ret}) must not be before call (${o.call})`)
    }

    if (o.outcome === 'ok' && o.ret === Infinity) {
      problems.push(`${where}: an ok operation must have returned (ret is Infinity)`)
    }
  })

  if (problems.length > 0) {
    const shown = problems.slice(0, 10).join('\n')
    throw new TypeError(`malformed history, ${problems.length} problem(s):\n${shown}${problems.length > 10 ? '\n…' : ''}`)
  }
}
