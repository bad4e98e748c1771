/**
 * The history checker: linearizable histories pass, the classic anomalies of
 * a replicated register are caught and explained, and its verdicts agree with
 * an exhaustive search on small random histories.
 */
import { describe, expect, it } from 'vitest'
import { checkHistory } from '../utils/history/checker.js'
import { mutateRead, SeededRandom, simulateHistory } from '../utils/history/simulate.js'
import type { CheckResult } from '../utils/history/checker.js'
import type { Operation, Outcome } from '../utils/history/operation.js'
import type { Mutation } from '../utils/history/simulate.js'

type Client = string | number

function put (client: Client, value: string, call: number, ret: number, outcome: Outcome = 'ok', key = '/a'): Operation {
  return { client, key, op: 'put', value, call, ret, outcome }
}

function del (client: Client, call: number, ret: number, outcome: Outcome = 'ok', key = '/a'): Operation {
  return { client, key, op: 'delete', call, ret, outcome }
}

function get (client: Client, result: string | null, call: number, ret: number, outcome: Outcome = 'ok', key = '/a'): Operation {
  return outcome === 'ok' ? { client, key, op: 'get', result, call, ret, outcome } : { client, key, op: 'get', call, ret, outcome }
}

function expectLinearizable (history: Operation[]): CheckResult {
  const result = checkHistory(history)
  expect(result.verdict, result.summary).toBe('linearizable')
  expect(result.ok).toBe(true)
  return result
}

function expectViolation (history: Operation[]): Extract<CheckResult, { verdict: 'violation' }> {
  const result = checkHistory(history)
  expect(result.verdict, result.summary).toBe('violation')

  if (result.verdict !== 'violation') {
    throw new Error('unreachable')
  }

  expect(result.ok).toBe(false)
  return result
}

describe('linearizable histories pass', () => {
  it('an empty history', () => {
    expectLinearizable([])
  })

  it('one client, sequential: put, get, overwrite, delete, get not found', () => {
    expectLinearizable([
      get(1, null, 1, 2),
      put(1, 'v1', 3, 4),
      get(1, 'v1', 5, 6),
      put(1, 'v2', 7, 8),
      get(1, 'v2', 9, 10),
      del(1, 11, 12),
      get(1, null, 13, 14),
      del(1, 15, 16),
      put(1, 'v3', 17, 18),
      get(1, 'v3', 19, 20)
    ])
  })

  it('overlapping writes may be read in either order, consistently', () => {
    const writes = [put(1, 'v1', 0, 10), put(2, 'v2', 5, 15)]
    expectLinearizable([...writes, get(3, 'v1', 20, 30), get(4, 'v1', 40, 50)])
    expectLinearizable([...writes, get(3, 'v2', 20, 30), get(4, 'v2', 40, 50)])
    // reads during the writes may see them land one after the other
    expectLinearizable([...writes, get(3, 'v2', 6, 7), get(4, 'v1', 8, 9), get(3, 'v1', 20, 30)])
  })

  it('a read concurrent with a write sees the old or the new value', () => {
    const before = [put(1, 'v1', 0, 1), put(1, 'v2', 10, 20)]
    expectLinearizable([...before, get(2, 'v1', 12, 14)])
    expectLinearizable([...before, get(2, 'v2', 12, 14)])
    // and once one reader saw the new value, a reader starting later does too,
    // but a reader overlapping it may still see the old one
    expectLinearizable([...before, get(2, 'v2', 12, 14), get(3, 'v1', 11, 16)])
  })

  it('a write of unknown outcome that shows up later, long after its client gave up', () => {
    expectLinearizable([
      put(1, 'v1', 0, 5, 'unknown'),
      get(2, null, 10, 11),
      put(3, 'v2', 12, 13),
      get(2, 'v2', 14, 15),
      get(2, 'v1', 20, 21),
      get(3, 'v1', 30, 31)
    ])
  })

  it('a write of unknown outcome that never shows up, or is never returned (client killed)', () => {
    expectLinearizable([put(1, 'v1', 0, 5, 'unknown'), get(2, null, 10, 11), get(2, null, 20, 21)])
    expectLinearizable([put(1, 'v1', 0, Infinity, 'unknown'), get(2, null, 10, 11), get(2, 'v1', 20, 21), get(2, 'v1', 30, 31)])
    expectLinearizable([del(1, 0, Infinity, 'unknown'), put(2, 'v1', 1, 2), get(2, 'v1', 3, 4), get(2, null, 5, 6)])
  })

  it('two writes of unknown outcome with the same effect may both land, each when needed', () => {
    expectLinearizable([
      del(1, 0, Infinity, 'unknown'),
      put(3, 'v1', 1, 2),
      get(3, null, 3, 4),
      del(2, 5, 6, 'unknown'),
      put(3, 'v2', 7, 8),
      get(3, null, 9, 10)
    ])
  })

  it('failed writes had no effect and failed reads say nothing', () => {
    expectLinearizable([put(1, 'v1', 0, 1), put(2, 'v2', 2, 3, 'fail'), get(1, 'v1', 4, 5), get(3, null, 6, 7, 'fail'), get(3, null, 8, 9, 'unknown')])
  })

  it('touching intervals count as concurrent', () => {
    expectLinearizable([put(1, 'v1', 0, 10), get(2, null, 10, 12)])
  })

  it('the same value written twice may be read from either write', () => {
    expectLinearizable([put(1, 'v', 0, 1), put(2, 'w', 2, 3), put(1, 'v', 4, 5), get(3, 'v', 6, 7)])
  })

  it('keys are independent registers', () => {
    expectLinearizable([
      put(1, 'a1', 0, 1, 'ok', '/a'),
      put(1, 'b1', 2, 3, 'ok', '/b'),
      get(2, null, 4, 5, 'ok', '/c'),
      get(2, 'a1', 6, 7, 'ok', '/a'),
      get(2, 'b1', 8, 9, 'ok', '/b')
    ])
  })
})

describe('violations are caught and explained', () => {
  it('a stale read after a completed overwrite', () => {
    const result = expectViolation([put(1, 'v1', 90, 95), put(2, 'v2', 100, 110), get(3, 'v1', 120, 130)])

    expect(result.key).toBe('/a')
    expect(result.violations[0].culprit).toMatchObject({ client: 3, op: 'get', result: 'v1' })
    expect(result.violations[0].core).toHaveLength(3)
    expect(result.explanation).toContain("get by client 3 at [120,130] returned 'v1', but 'v1' had been superseded")
    expect(result.explanation).toContain("put 'v1' by client 1 at [90,95] was followed by put 'v2' by client 2 at [100,110], which completed before the get began")
  })

  it('a read of a value never written, and of one written only after the read returned', () => {
    const never = expectViolation([put(1, 'v1', 0, 1), get(2, 'ghost', 2, 3)])
    expect(never.explanation).toContain("get by client 2 at [2,3] returned 'ghost', but no put of 'ghost' was invoked before the get returned")
    expect(never.violations[0].core).toHaveLength(1)

    const future = expectViolation([get(2, 'v1', 0, 1), put(1, 'v1', 5, 6)])
    expect(future.explanation).toContain("(the first, put 'v1' by client 1 at [5,6], came later)")
  })

  it('two reads in real-time order that see concurrent writes in opposite orders', () => {
    const result = expectViolation([
      put(1, 'v1', 0, 10),
      put(2, 'v2', 0, 10),
      get(3, 'v2', 20, 30),
      get(4, 'v1', 40, 50)
    ])

    expect(result.violations[0].culprit).toMatchObject({ client: 4, result: 'v1' })
    expect(result.violations[0].core).toHaveLength(4)
    expect(result.explanation).toContain('which no order of the operations below allows')
    expect(result.explanation).toContain('#1 -> #3, #2 -> #3, #3 -> #4')
  })

  it('reads that flip back and forth between two writes still in flight', () => {
    expectViolation([
      put(1, 'v1', 0, 100),
      put(2, 'v2', 0, 100),
      get(3, 'v2', 10, 20),
      get(4, 'v1', 30, 40),
      get(3, 'v2', 50, 60)
    ])
  })

  it('a lost acknowledged write', () => {
    const result = expectViolation([put(1, 'v1', 0, 1), get(2, null, 2, 3)])
    expect(result.explanation).toContain("the key was not absent any more: put 'v1' by client 1 at [0,1] had completed before the get began")

    // an earlier value coming back is the same loss
    expectViolation([put(1, 'v0', 0, 1), put(1, 'v1', 2, 3), get(2, 'v0', 4, 5)])
  })

  it('a deleted key reappearing after the delete completed', () => {
    const result = expectViolation([put(1, 'v1', 0, 1), del(2, 2, 3), get(3, 'v1', 4, 5)])
    expect(result.explanation).toContain("put 'v1' by client 1 at [0,1] was followed by delete by client 2 at [2,3], which completed before the get began")

    // after a reader saw the delete, even though the delete had not returned
    expectViolation([put(1, 'v1', 0, 1), del(2, 2, 100), get(3, null, 4, 5), get(4, 'v1', 6, 7)])
  })

  it('a write of unknown outcome cannot explain a read that precedes its call', () => {
    expectViolation([get(1, 'v1', 0, 1), put(2, 'v1', 2, Infinity, 'unknown')])
  })

  it('reports the violating key among healthy ones, with the smallest failing prefix', () => {
    const history: Operation[] = []
    let t = 0

    for (let i = 0; i < 20; i++) {
      history.push(put(1, `a${i}`, t++, t++, 'ok', '/a'), get(2, `a${i}`, t++, t++, 'ok', '/a'))
      history.push(put(1, `b${i}`, t++, t++, 'ok', '/b'), get(2, i === 7 ? `b${i - 1}` : `b${i}`, t++, t++, 'ok', '/b'))
    }

    const result = expectViolation(history)
    expect(result.key).toBe('/b')
    expect(result.violations).toHaveLength(1)
    expect(result.keys.find(k => k.key === '/a')?.verdict).toBe('linearizable')
    expect(result.violations[0].culprit).toMatchObject({ op: 'get', result: 'b6' })
    // the anomaly is at the 8th read: nothing after it is needed
    expect(result.violations[0].prefixOperations).toBe(16)
    expect(result.violations[0].core.map(o => o.value ?? o.result)).toEqual(['b6', 'b7', 'b6'])
  })

  it('a search past its step budget is inconclusive, and does not pass', () => {
    // many overlapping writes and reads: more than a handful of steps
    const history: Operation[] = []

    for (let c = 0; c < 6; c++) {
      history.push(put(c, `v${c}`, c, 100 + c), get(c + 10, `v${5 - c}`, 10 + c, 110 + c))
    }

    expect(checkHistory(history).verdict).toBe('linearizable')
    const result = checkHistory(history, { maxStepsPerKey: 5 })
    expect(result.ok).toBe(false)
    expect(result.verdict).toBe('inconclusive')
    expect(result.summary).toContain('key /a (12 operations searched) used up its 5 steps')
  })

  it('refuses malformed histories', () => {
    expect(() => checkHistory([{ client: 1, key: '/a', op: 'put', call: 1, ret: 2, outcome: 'ok' }])).toThrow(/a put needs its value/)
    expect(() => checkHistory([get(1, null, 5, 4)])).toThrow(/ret \(4\) must not be before call \(5\)/)
    expect(() => checkHistory([{ client: 1, key: '/a', op: 'get', call: 1, ret: 2, outcome: 'ok' }])).toThrow(/a completed get needs its result/)
    expect(() => checkHistory([put(1, 'v', 1, Infinity)])).toThrow(/an ok operation must have returned/)
  })
})

/**
 * An independent oracle: every order of the operations that respects real
 * time, each unknown write placed or left out, run against the register
 */
function bruteForce (history: readonly Operation[]): boolean {
  const ops = history.filter(o => o.op === 'get' ? o.outcome === 'ok' : o.outcome !== 'fail')
  const end = (o: Operation): number => o.outcome === 'unknown' ? Infinity : o.ret
  const placed = new Array<boolean>(ops.length).fill(false)

  const search = (state: string | null): boolean => {
    if (ops.every((o, i) => placed[i] || o.outcome === 'unknown')) {
      return true
    }

    for (let i = 0; i < ops.length; i++) {
      const o = ops[i]

      // everything that returned before this was invoked must already be placed
      if (placed[i] || ops.some((p, j) => !placed[j] && j !== i && end(p) < o.call)) {
        continue
      }

      let next = state

      if (o.op === 'put') {
        next = o.value!
      } else if (o.op === 'delete') {
        next = null
      } else if (o.result !== state) {
        continue
      }

      placed[i] = true
      const found = search(next)
      placed[i] = false

      if (found) {
        return true
      }
    }

    return false
  }

  return search(null)
}

function randomSmallHistory (rng: SeededRandom): Operation[] {
  const values = ['a', 'b', null]
  const n = rng.int(1, 7)
  const out: Operation[] = []

  for (let i = 0; i < n; i++) {
    const call = rng.int(0, 12)
    const ret = call + rng.int(0, 6)
    const roll = rng.next()
    const outcome: Outcome = rng.chance(0.7) ? 'ok' : rng.chance(0.7) ? 'unknown' : 'fail'
    const client = i

    if (roll < 0.45) {
      out.push(get(client, rng.pick(values), call, ret, outcome))
    } else if (roll < 0.85) {
      out.push(put(client, rng.pick(['a', 'b']), call, outcome === 'unknown' && rng.chance(0.5) ? Infinity : ret, outcome))
    } else {
      out.push(del(client, call, ret, outcome))
    }
  }

  return out
}

describe('agreement with exhaustive search on small random histories', () => {
  it('the same verdict on 4,000 histories, and every explanation is a minimal contradiction', () => {
    const rng = new SeededRandom(0x5eed)
    let violations = 0

    for (let i = 0; i < 4000; i++) {
      const history = randomSmallHistory(rng)
      const expected = bruteForce(history)
      const result = checkHistory(history)
      const context = `history ${i}: ${JSON.stringify(history)}\n${result.summary}`

      expect(result.verdict, context).toBe(expected ? 'linearizable' : 'violation')

      if (result.verdict === 'violation') {
        violations++
        const { core, checked, culprit, minimized } = result.violations[0]
        expect(minimized, context).toBe(true)
        expect(core, context).toContain(culprit)
        expect(core.every(o => history.includes(o)), context).toBe(true)
        expect(bruteForce(checked), context).toBe(false)

        for (const o of checked) {
          if (o.outcome === 'unknown') {
            // an optional write is only there because a read in the core returned its value
            const value = o.op === 'put' ? o.value : null
            expect(checked.some(g => g.op === 'get' && g.result === value), `${context}\nunread: ${JSON.stringify(o)}`).toBe(true)
            continue
          }

          const rest = checked.filter(p => p !== o)
          const relaxed = o.op !== 'get' ? [...rest, { ...o, outcome: 'unknown' as const }] : rest
          expect(bruteForce(relaxed), `${context}\nnot needed: ${JSON.stringify(o)}`).toBe(true)
        }
      }
    }

    // both verdicts were exercised in earnest
    expect(violations).toBeGreaterThan(400)
    expect(violations).toBeLessThan(3600)
  })
})

describe('random histories from a real register', () => {
  const kinds: Mutation[] = ['never-written', 'future', 'stale']

  it('pass as recorded, and fail once one read is made impossible', () => {
    const mutated = new Map<Mutation, number>(kinds.map(k => [k, 0]))

    for (let seed = 1; seed <= 150; seed++) {
      const history = simulateHistory({
        seed,
        operations: 20 + (seed % 60),
        keys: 1 + (seed % 3),
        clients: 2 + (seed % 5),
        unknownRate: 0.15,
        failRate: 0.05,
        killRate: 0.01
      })

      const result = checkHistory(history)
      expect(result.verdict, `seed ${seed}: ${result.summary}`).toBe('linearizable')

      const rng = new SeededRandom(seed)

      for (const kind of kinds) {
        const broken = mutateRead(history, kind, rng)

        if (broken == null) {
          continue
        }

        mutated.set(kind, mutated.get(kind)! + 1)
        const verdict = checkHistory(broken.history)
        const context = `seed ${seed}, ${kind} read of ${broken.value} at operation ${broken.index}: ${verdict.summary}`
        expect(verdict.verdict, context).toBe('violation')

        if (verdict.verdict === 'violation') {
          const target = broken.history[broken.index]
          expect(verdict.key, context).toBe(target.key)
          expect(verdict.violations[0].culprit, context).toBe(target)
          expect(verdict.explanation, context).toContain(`returned '${broken.value}'`)
        }
      }
    }

    for (const kind of kinds) {
      expect(mutated.get(kind), kind).toBeGreaterThan(50)
    }
  })

  it('2,000 operations over 20 keys from 8 clients get a verdict within the step budget', () => {
    const history = simulateHistory({ seed: 2026, operations: 2000, keys: 20, clients: 8, unknownRate: 0.1, failRate: 0.02, killRate: 0.002 })
    const result = checkHistory(history)

    expect(result.verdict, result.summary).toBe('linearizable')
    expect(result.stats.operations).toBe(2000)
    expect(result.stats.keys).toBe(20)
    expect(result.stats.maxKeySteps).toBeLessThanOrEqual(result.stats.maxStepsPerKey)

    const broken = mutateRead(history, 'stale', new SeededRandom(7))!
    const verdict = checkHistory(broken.history)
    expect(verdict.verdict, verdict.summary).toBe('violation')

    if (verdict.verdict === 'violation') {
      expect(verdict.violations[0].core.length, verdict.summary).toBeLessThanOrEqual(4)
    }
  })

  it('one hot key: 600 operations from 8 clients, a fifth of the writes of unknown outcome', () => {
    const history = simulateHistory({ seed: 99, operations: 600, keys: 1, clients: 8, unknownRate: 0.2, killRate: 0.005 })
    const result = checkHistory(history)

    expect(result.verdict, result.summary).toBe('linearizable')
  })
})
