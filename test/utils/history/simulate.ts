/**
 * Histories with a known answer, for testing the checker: clients run against
 * one atomic register per key, each operation taking effect at a random
 * moment inside its interval, so every history produced is linearizable by
 * construction. Writes may time out (outcome unknown) and still land later,
 * or never; clients may be killed mid-operation.
 */
import type { Operation } from './operation.js'

/** mulberry32: small, seeded, and enough for shuffling test schedules */
export class SeededRandom {
  private state: number

  constructor (readonly seed: number) {
    this.state = seed >>> 0
  }

  /** A float in [0, 1) */
  next (): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0
    let t = this.state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }

  /** An integer in [min, max] */
  int (min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1))
  }

  chance (p: number): boolean {
    return this.next() < p
  }

  pick<T> (items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)]
  }
}

export interface SimulationOptions {
  seed: number
  /** Operations invoked in all */
  operations: number
  keys: number
  clients: number
  /** Share of writes (put or delete) that time out: outcome unknown, applied now, later or never (default 0) */
  unknownRate?: number
  /** Share of operations refused outright: outcome fail, no effect (default 0) */
  failRate?: number
  /** Chance per operation that its client is killed during it, never to return (default 0) */
  killRate?: number
}

type Fate = 'ok' | 'fail' | 'unknown'

interface InFlight {
  record: Operation
  fate: Fate
  applied: boolean
  /** An unknown write still in the network: applied later or never */
  late: boolean
}

/** A linearizable history of `operations` operations over `keys` keys */
export function simulateHistory (options: SimulationOptions): Operation[] {
  const rng = new SeededRandom(options.seed)
  const register = new Map<string, string | null>()
  const history: Operation[] = []
  const busy = new Map<number, InFlight>()
  // a killed client is replaced by a new one, as a restarted process would be
  const clientIds = Array.from({ length: options.clients }, (_, i) => i)
  let nextClient = options.clients
  const inTheNetwork: InFlight[] = []
  let clock = 0
  let invoked = 0
  let written = 0

  const applyOp = (f: InFlight): void => {
    const r = f.record

    if (r.op === 'put') {
      register.set(r.key, r.value!)
    } else if (r.op === 'delete') {
      register.set(r.key, null)
    } else {
      r.result = register.get(r.key) ?? null
    }

    f.applied = true
  }

  while (true) {
    const idle = clientIds.filter(c => !busy.has(c))

    const canStart = invoked < options.operations && idle.length > 0

    if (!canStart && busy.size === 0 && inTheNetwork.length === 0) {
      break
    }

    // one random event at a time: a start, an effect, a return, or a late
    // write landing; their interleaving is the concurrency
    const choice = rng.int(0, 2)

    if (choice === 0 && canStart) {
      const client = rng.pick(idle)
      const key = `/k${rng.int(0, options.keys - 1)}`
      const roll = rng.next()
      const op = roll < 0.45 ? 'get' : roll < 0.9 ? 'put' : 'delete'
      const record: Operation = { client, key, op, call: ++clock, ret: Infinity, outcome: 'unknown' }

      if (op === 'put') {
        record.value = `v${written++}`
      }

      let fate: Fate = 'ok'

      if (rng.chance(options.failRate ?? 0)) {
        fate = 'fail'
      } else if (op !== 'get' && rng.chance(options.unknownRate ?? 0)) {
        fate = 'unknown'
      }

      history.push(record)
      busy.set(client, { record, fate, applied: false, late: false })
      invoked++
    } else if (choice === 1 && busy.size > 0) {
      const [client, f] = rng.pick([...busy])

      if (rng.chance(options.killRate ?? 0)) {
        // the effect may still land; the client never hears of it
        clientIds[clientIds.indexOf(client)] = nextClient++
        busy.delete(client)
        record(f, 'unknown', Infinity)

        if (!f.applied && f.record.op !== 'get' && f.fate !== 'fail') {
          inTheNetwork.push(f)
        }
      } else if (!f.applied && f.fate === 'ok') {
        applyOp(f)
      } else if (!f.applied && f.fate === 'unknown' && rng.chance(0.3)) {
        applyOp(f)
      } else {
        busy.delete(client)

        if (f.fate === 'unknown' && !f.applied) {
          f.late = true
          inTheNetwork.push(f)
        }

        record(f, f.fate, ++clock)
      }
    } else if (choice === 2 && inTheNetwork.length > 0) {
      const i = rng.int(0, inTheNetwork.length - 1)
      const [f] = inTheNetwork.splice(i, 1)

      if (rng.chance(0.5)) {
        applyOp(f)
      }
    }
  }

  return history
}

function record (f: InFlight, outcome: Fate, ret: number): void {
  f.record.outcome = outcome
  f.record.ret = ret

  if (f.record.op === 'get' && outcome !== 'ok') {
    delete f.record.result
  }
}

export type Mutation = 'never-written' | 'future' | 'stale'

/**
 * Change one completed get of a history with unique put values so that no
 * linearization can exist: it reads a value never written, a value whose
 * only put was invoked after the get returned, or a value whose only put was
 * followed by an acknowledged write that completed before the get began.
 * Returns null when no get qualifies for `kind`.
 */
export function mutateRead (history: readonly Operation[], kind: Mutation, rng: SeededRandom): { history: Operation[], index: number, value: string } | null {
  const gets = history.map((o, i) => i).filter(i => history[i].op === 'get' && history[i].outcome === 'ok')
  const options: Array<{ index: number, value: string }> = []

  const byKey = new Map<string, Operation[]>()

  for (const o of history) {
    byKey.set(o.key, [...byKey.get(o.key) ?? [], o])
  }

  for (const i of gets) {
    const g = history[i]
    const sameKey = byKey.get(g.key)!
    const puts = sameKey.filter(o => o.op === 'put')

    if (kind === 'never-written') {
      options.push({ index: i, value: `never-written-${i}` })
    } else if (kind === 'future') {
      for (const p of puts) {
        if (p.call > g.ret) {
          options.push({ index: i, value: p.value! })
        }
      }
    } else {
      for (const p of puts) {
        const superseded = p.outcome === 'ok' && sameKey.some(w => w.op !== 'get' && w.outcome === 'ok' &&
          w.value !== p.value && w.call > p.ret && w.ret < g.call)

        if (superseded && g.result !== p.value) {
          options.push({ index: i, value: p.value! })
        }
      }
    }
  }

  if (options.length === 0) {
    return null
  }

  const chosen = rng.pick(options)
  const mutated = history.map(o => ({ ...o }))
  mutated[chosen.index].result = chosen.value
  return { history: mutated, ...chosen }
}
