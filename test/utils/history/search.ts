/**
 * The search for one key: Wing & Gong's backtracking over the operations that
 * may come next, with Lowe's memoization (a configuration already explored —
 * the same set of linearized operations and the same register state — is not
 * explored again), as in Porcupine's checkSingle.
 */
import type { Operation } from './operation.js'

export type SearchVerdict = 'linearizable' | 'violation' | 'inconclusive'

export interface SearchResult {
  verdict: SearchVerdict
  /** Calls tried and backtracks made */
  steps: number
  /** Operations the search had to place (after dropping those that carry no information) */
  operations: number
}

const PUT = 0
const DELETE = 1
const GET = 2
/** The register's state when absent: `null` */
const ABSENT = 0

interface Node {
  /** Index into the search's operations; -1 for the list head */
  op: number
  isCall: boolean
  /** A call's return node; null for operations that return at +infinity */
  match: Node | null
  prev: Node | null
  next: Node | null
}

interface Prepared {
  kind: number[]
  /** State a write leaves (value id) or state a get requires */
  arg: number[]
  call: number[]
  ret: number[]
  /** For an unknown write: the previous unknown write with the same effect, or -1 */
  twin: number[]
}

/**
 * Whether the operations (all on one key) have a linearization over a
 * register that starts absent. Gets that did not complete `ok` and writes that
 * `fail`ed are ignored; `unknown` writes may take effect at any time after
 * their call, or never.
 */
export function searchKey (operations: readonly Operation[], maxSteps: number): SearchResult {
  const p = prepare(operations)
  const n = p.kind.length
  let definiteLeft = 0

  // calls before returns at the same time: touching intervals count as
  // concurrent, which never invents a violation
  const events: Array<{ time: number, isCall: boolean, op: number }> = []

  for (let i = 0; i < n; i++) {
    events.push({ time: p.call[i], isCall: true, op: i })

    if (p.ret[i] !== Infinity) {
      events.push({ time: p.ret[i], isCall: false, op: i })
      definiteLeft++
    }
  }

  events.sort((a, b) => a.time - b.time || Number(b.isCall) - Number(a.isCall) || a.op - b.op)

  const head: Node = { op: -1, isCall: false, match: null, prev: null, next: null }
  const returns = new Map<number, Node>()
  let last = head

  const nodes: Node[] = events.map(e => ({ op: e.op, isCall: e.isCall, match: null, prev: null, next: null }))

  for (const node of nodes) {
    if (!node.isCall) {
      returns.set(node.op, node)
    }
  }

  for (const node of nodes) {
    if (node.isCall) {
      node.match = returns.get(node.op) ?? null
    }

    node.prev = last
    last.next = node
    last = node
  }

  const words = Math.max(1, Math.ceil(n / 32))
  const linearized = new Uint32Array(words)
  const zobrist = zobristTable(n)
  const cache = new Map<number, Array<{ bits: Uint32Array, state: number }>>()
  let hash = 0
  let state = ABSENT
  let steps = 0
  const stack: Array<{ node: Node, state: number }> = []
  let entry = head.next

  const isSet = (i: number): boolean => (linearized[i >>> 5] & (1 << (i & 31))) !== 0
  const flip = (i: number): void => {
    linearized[i >>> 5] ^= 1 << (i & 31)
    hash ^= zobrist[i]
  }

  const remember = (next: number): boolean => {
    const h = (hash ^ Math.imul(next + 1, 0x9e3779b1)) >>> 0
    let bucket = cache.get(h)

    if (bucket == null) {
      bucket = []
      cache.set(h, bucket)
    }

    for (const seen of bucket) {
      if (seen.state === next && sameBits(seen.bits, linearized)) {
        return false
      }
    }

    bucket.push({ bits: linearized.slice(), state: next })
    return true
  }

  while (true) {
    if (definiteLeft === 0) {
      return { verdict: 'linearizable', steps, operations: n }
    }

    if (steps >= maxSteps) {
      return { verdict: 'inconclusive', steps, operations: n }
    }

    steps++

    // with an acknowledged operation left, its return is still in the list,
    // so the walk meets a return before it runs off the end
    const node = entry!

    if (node.isCall) {
      const i = node.op
      const next = apply(p, i, state)

      if (next !== -1 && (p.twin[i] === -1 || isSet(p.twin[i]))) {
        flip(i)

        if (remember(next)) {
          stack.push({ node, state })
          state = next
          lift(node)

          if (node.match != null) {
            definiteLeft--
          }

          entry = head.next
          continue
        }

        flip(i)
      }

      entry = node.next
    } else {
      // this operation must have taken effect by its return: undo the last choice
      const top = stack.pop()

      if (top == null) {
        return { verdict: 'violation', steps, operations: n }
      }

      state = top.state
      flip(top.node.op)
      unlift(top.node)

      if (top.node.match != null) {
        definiteLeft++
      }

      entry = top.node.next
    }
  }
}

function apply (p: Prepared, i: number, state: number): number {
  switch (p.kind[i]) {
    case PUT:
    case DELETE:
      return p.arg[i]
    default:
      return p.arg[i] === state ? state : -1
  }
}

function prepare (operations: readonly Operation[]): Prepared {
  const read = new Set<string | null>()

  for (const o of operations) {
    if (o.op === 'get' && o.outcome === 'ok') {
      read.add(o.result ?? null)
    }
  }

  const values = new Map<string, number>()
  const id = (value: string | null): number => {
    if (value == null) {
      return ABSENT
    }

    let v = values.get(value)

    if (v == null) {
      v = values.size + 1
      values.set(value, v)
    }

    return v
  }

  const kept = operations.filter(o => {
    if (o.op === 'get') {
      return o.outcome === 'ok'
    }

    if (o.outcome === 'fail') {
      return false
    }

    // a write that need never have happened and whose value nobody read can
    // be taken as never having happened: between it and the next write no
    // read could be placed anyway
    return o.outcome === 'ok' || read.has(o.op === 'put' ? o.value ?? null : null)
  })

  const p: Prepared = { kind: [], arg: [], call: [], ret: [], twin: [] }
  // unknown writes with the same effect are interchangeable: placing them in
  // call order loses no linearization and prunes the symmetric ones
  const lastTwin = new Map<string, number>()
  const order = kept.map((o, i) => i).sort((a, b) => kept[a].call - kept[b].call || a - b)

  for (const o of kept) {
    p.kind.push(o.op === 'put' ? PUT : o.op === 'delete' ? DELETE : GET)
    p.arg.push(o.op === 'put' ? id(o.value ?? null) : o.op === 'delete' ? ABSENT : id(o.result ?? null))
    p.call.push(o.call)
    p.ret.push(o.outcome === 'unknown' ? Infinity : o.ret)
    p.twin.push(-1)
  }

  for (const i of order) {
    if (p.ret[i] === Infinity) {
      const effect = `${p.kind[i]}:${p.arg[i]}`
      p.twin[i] = lastTwin.get(effect) ?? -1
      lastTwin.set(effect, i)
    }
  }

  return p
}

function lift (node: Node): void {
  node.prev!.next = node.next

  if (node.next != null) {
    node.next.prev = node.prev
  }

  const match = node.match

  if (match != null) {
    match.prev!.next = match.next

    if (match.next != null) {
      match.next.prev = match.prev
    }
  }
}

function unlift (node: Node): void {
  const match = node.match

  if (match != null) {
    match.prev!.next = match

    if (match.next != null) {
      match.next.prev = match
    }
  }

  node.prev!.next = node

  if (node.next != null) {
    node.next.prev = node
  }
}

function sameBits (a: Uint32Array, b: Uint32Array): boolean {
  for (let i = 0; i < a.length; i++) {
    if (a[i] !== b[i]) {
      return false
    }
  }

  return true
}

/** Fixed pseudo-random words, so that a run is reproducible */
function zobristTable (n: number): Uint32Array {
  const table = new Uint32Array(n)
  let s = 0x2545f491

  for (let i = 0; i < n; i++) {
    s = (s + 0x6d2b79f5) >>> 0
    let z = s
    z = Math.imul(z ^ (z >>> 15), z | 1)
    z ^= z + Math.imul(z ^ (z >>> 7), z | 61)
    table[i] = (z ^ (z >>> 14)) >>> 0
  }

  return table
}
