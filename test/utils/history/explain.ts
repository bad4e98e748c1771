/**
 * Turns a key that failed the search into something a human can check by
 * eye: the shortest prefix of the key's history that is already not
 * linearizable, cut down to a minimal set of operations that still admit no
 * order.
 */
import { describeOperation, quote } from './operation.js'
import { searchKey } from './search.js'
import type { Operation } from './operation.js'

export interface Explanation {
  text: string
  /** The get whose return closes the smallest failing prefix: it is what cannot be linearized */
  culprit: Operation
  /**
   * Operations that together admit no linearization, in call order, as
   * recorded. Unless `minimized` is false, each acknowledged one is needed:
   * dropping a read, or letting a write's outcome be unknown, makes the rest
   * linearizable. The writes in it that need not have completed are in
   * `checked` with outcome `unknown`.
   */
  core: Operation[]
  /**
   * The same operations as the contradiction uses them: a write whose
   * acknowledgement is not needed (or that was still in flight at the end of
   * the prefix) has outcome `unknown` here
   */
  checked: Operation[]
  /** How many of the key's operations the smallest failing prefix holds */
  prefixOperations: number
  /** The explanation budget ran out before the core was minimal */
  minimized: boolean
  steps: number
}

export interface ExplainBudget {
  perCheck: number
  total: number
}

/**
 * Explain why `operations` (one key, known not to be linearizable) fail
 */
export function explainViolation (key: string, operations: readonly Operation[], budget: ExplainBudget): Explanation {
  let steps = 0
  let exhausted = false

  const fails = (ops: readonly Operation[]): boolean => {
    const left = budget.total - steps

    if (left <= 0) {
      exhausted = true
      return false
    }

    const result = searchKey(ops, Math.min(budget.perCheck, left))
    steps += result.steps

    if (result.verdict === 'inconclusive') {
      exhausted = true
    }

    return result.verdict === 'violation'
  }

  // only a completed get can be the last straw: a write whose return is
  // added to a linearizable prefix can always be placed last
  const cuts = [...new Set(operations.filter(o => o.op === 'get' && o.outcome === 'ok').map(o => o.ret))].sort((a, b) => a - b)
  let lo = 0
  let hi = cuts.length - 1

  // the full history fails; the first cut that fails is found by bisection,
  // since a prefix of a non-linearizable history is never needed to pass
  while (lo < hi) {
    const mid = (lo + hi) >>> 1

    if (fails(prefix(operations, cuts[mid]).map(([checked]) => checked))) {
      hi = mid
    } else {
      lo = mid + 1
    }
  }

  const cut = cuts[lo] ?? Infinity
  const cutOps = prefix(operations, cut)
  // each operation as the search sees it, and as it was recorded
  const original = new Map<Operation, Operation>(cutOps.map(([checked, recorded]) => [checked, recorded]))
  let core = cutOps.map(([checked]) => checked)
  const last = (o: Operation): boolean => o.op === 'get' && o.ret === cut

  // reads before writes, earliest first, the gets that close the prefix
  // last: a write pinned by a read that is about to go would otherwise be
  // kept as optional, and the read with it, in place of the simpler story
  const rank = (o: Operation): number => last(o) ? 2 : o.op === 'get' ? 0 : 1
  const candidates = core.filter(o => o.outcome === 'ok').sort((a, b) => rank(a) - rank(b) || a.call - b.call)

  // a read is a constraint and can go; a write only becomes optional
  // (outcome unknown), because removing it could make a read of its value
  // impossible and so invent a different contradiction. A write of unknown
  // outcome only ever allows more, so it is never a candidate.
  const relax = (ops: Operation[], chunk: Set<Operation>): Operation[] => ops.flatMap(o => {
    if (!chunk.has(o)) {
      return [o]
    }

    if (o.op === 'get') {
      return []
    }

    const optional = { ...o, outcome: 'unknown' as const }
    original.set(optional, original.get(o)!)
    return [optional]
  })

  // halving chunks (ddmin's complements): most of a long prefix goes in a
  // few checks; the last pass, one operation at a time, makes the core
  // minimal, since relaxing more never turns a pass into a failure
  let pending = candidates
  let size = Math.max(1, Math.floor(pending.length / 2))

  while (pending.length > 0 && !exhausted) {
    const needed: Operation[] = []

    for (let i = 0; i < pending.length; i += size) {
      const chunk = pending.slice(i, i + size)
      const trial = exhausted ? null : relax(core, new Set(chunk))

      if (trial != null && fails(trial)) {
        core = trial
      } else {
        needed.push(...chunk)
      }
    }

    if (size === 1) {
      break
    }

    pending = needed
    size = Math.max(1, Math.floor(size / 2))
  }

  // an optional write whose value no remaining read returned can be taken as
  // never having happened: it is not part of the story
  const read = new Set(core.filter(o => o.op === 'get').map(o => o.result ?? null))
  const checked = core
    .filter(o => o.op === 'get' || o.outcome === 'ok' || read.has(effect(o)))
    .sort((a, b) => a.call - b.call || a.ret - b.ret)
  const recorded = checked.map(o => original.get(o)!)
  const culprit = recorded.filter(last).at(-1) ?? cutOps.map(([, r]) => r).filter(last).at(-1) ?? recorded[recorded.length - 1]

  return {
    text: describe(key, operations, cutOps.length, cut, checked, original, culprit, !exhausted),
    culprit,
    core: recorded,
    checked,
    prefixOperations: cutOps.length,
    minimized: !exhausted,
    steps
  }
}

/**
 * The history as it stood at logical time `t`: operations not yet returned
 * are pending, so a write among them may or may not have happened and a read
 * among them has told nothing
 */
function prefix (operations: readonly Operation[], t: number): Array<[checked: Operation, recorded: Operation]> {
  const out: Array<[Operation, Operation]> = []

  for (const o of operations) {
    if (o.call > t) {
      continue
    }

    if (o.outcome === 'fail' || (o.op === 'get' && o.outcome !== 'ok')) {
      continue
    }

    if (o.ret <= t) {
      out.push([o, o])
    } else if (o.op !== 'get') {
      out.push([o.outcome === 'unknown' ? o : { ...o, outcome: 'unknown' }, o])
    }
  }

  return out
}

function effect (o: Operation): string | null {
  return o.op === 'put' ? o.value ?? null : null
}

function describe (key: string, all: readonly Operation[], prefixCount: number, cut: number, core: Operation[], original: Map<Operation, Operation>, culprit: Operation, minimized: boolean): string {
  const read = culprit.result ?? null
  const lines: string[] = []
  const written = all.some(o => o.op === 'put' && o.value === read && o.call <= culprit.ret)

  if (read != null && !written) {
    const later = all.find(o => o.op === 'put' && o.value === read)
    lines.push(`key ${key}: ${describeOperation(culprit)}, but no put of ${quote(read)} was invoked before the get returned` +
      (later != null ? ` (the first, ${describeOperation(later)}, came later)` : ' (no put of it at all)'))
  } else {
    const superseded = supersededBeforeRead(core, culprit, original)

    if (superseded != null) {
      lines.push(`key ${key}: ${describeOperation(culprit)}, but ${superseded}`)
    } else {
      lines.push(`key ${key}: ${describeOperation(culprit)}, which no order of the operations below allows`)
    }
  }

  const numbered = core.map((o, i) => {
    const recorded = original.get(o)!
    const note = recorded === culprit
      ? '   <- cannot be linearized'
      : o.outcome !== recorded.outcome
        ? recorded.ret > cut ? '   (still in flight at the end of the prefix)' : '   (its completion is not needed: it only has to have happened)'
        : ''
    return `  #${i + 1} ${describeOperation(recorded)}${note}`
  })
  const count = `${core.length} operation${core.length === 1 ? '' : 's'}`
  lines.push(minimized
    ? `These ${count} admit no order, and no fewer do (drop any one read, or let any one acknowledged write's outcome be unknown, and the rest are linearizable):`
    : `These ${count} admit no order (not minimized: the explanation budget ran out):`)
  lines.push(...numbered)

  const order = realTimeOrder(core)

  if (order.length > 0) {
    lines.push(`Real-time order (returned before invoked): ${order.join(', ')}`)
  }

  lines.push(`The smallest failing prefix of the key's history ends at t=${cut} and holds ${prefixCount} of its ${all.length} operations.`)
  return lines.join('\n')
}

/**
 * Register-specific: every write that could have left the value read was
 * followed, in real time, by another acknowledged write that completed before
 * the read began. Null when the contradiction needs other reads to show.
 */
function supersededBeforeRead (core: Operation[], culprit: Operation, original: Map<Operation, Operation>): string | null {
  const show = (o: Operation): string => describeOperation(original.get(o) ?? o)
  const read = culprit.result ?? null
  const overwriters = core.filter(o => o.op !== 'get' && o.outcome === 'ok' && effect(o) !== read && o.ret < culprit.call)
  const sources = core.filter(o => o.op !== 'get' && effect(o) === read)
  const parts: string[] = []

  if (read == null) {
    // absent is also the initial state, which any write supersedes
    const first = overwriters[0]

    if (first == null) {
      return null
    }

    parts.push(`${show(first)} had completed before the get began`)
  }

  for (const source of sources) {
    const after = overwriters.find(w => source.ret < w.call)

    if (after == null) {
      return null
    }

    parts.push(`${show(source)} was followed by ${show(after)}, which completed before the get began`)
  }

  if (parts.length === 0) {
    return null
  }

  return `${read == null ? 'the key was not absent any more' : `${quote(read)} had been superseded`}: ${parts.join('; ')}`
}

/** The happens-before edges among the core's operations, without the transitive ones */
function realTimeOrder (core: Operation[]): string[] {
  const before = (a: Operation, b: Operation): boolean => a.ret < b.call
  const edges: string[] = []

  core.forEach((a, i) => {
    core.forEach((b, j) => {
      if (before(a, b) && !core.some(c => before(a, c) && before(c, b))) {
        edges.push(`#${i + 1} -> #${j + 1}`)
      }
    })
  })

  return edges
}
