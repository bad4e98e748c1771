/**
 * History test: three `serve` processes on LevelDB (init --replicas 3),
 * three clients in this process (own identities) doing quorum puts, gets
 * and deletes on a small key space, each operation recorded with its
 * invocation and result (HistoryRecorder), while nodes are killed
 * (SIGKILL, then restarted on the same store) and paused (SIGSTOP, then
 * SIGCONT), one at a time, the clients' wall clocks 4 s apart from each
 * other. checkHistory must find every key's history
 * linearizable: quorum reads after quorum writes see them, even across
 * faults, read repair, hints and anti-entropy.
 *
 * Seeded: HISTORY_SEED=n (or FAULT_SEED) picks another seed. Bounded for
 * `npm test` (2 faults); HISTORY_LONG=1 runs 12 faults, HISTORY_CYCLES=n
 * any number.
 */

import { Key } from 'interface-datastore'
import { fromString as uint8ArrayFromString } from 'uint8arrays/from-string'
import { describe, it, expect } from 'vitest'
import { useFaultCluster, intFromEnv, seedFromEnv, seededRandom, sleep } from '../utils/fault/cluster.js'
import { checkHistory } from '../utils/history/checker.js'
import { HistoryRecorder } from '../utils/history/recorder.js'
import type { FaultClient } from '../utils/fault/cluster.js'

const SEED = intFromEnv('HISTORY_SEED', seedFromEnv(7))
const CYCLES = intFromEnv('HISTORY_CYCLES', process.env.HISTORY_LONG === '1' ? 12 : 2)
const KEYS = 12
const CLIENTS = 3
const WORKERS_PER_CLIENT = 2

describe(`history: quorum operations under SIGKILL and SIGSTOP of one of 3 nodes (N=3), ${CYCLES} faults, seed ${SEED}`, () => {
  const env = useFaultCluster(CLIENTS)

  it('finds every key linearizable', async () => {
    const random = seededRandom(SEED)
    const recorder = new HistoryRecorder()
    const errors: string[] = []
    let errorCount = 0
    let running = true
    let seq = 0

    const worker = async (client: FaultClient, w: number): Promise<void> => {
      const rnd = seededRandom(SEED * 7919 + 100 * env.clients.indexOf(client) + w)

      while (running) {
        // a macrotask per operation: operations that fail without I/O would otherwise starve the timers of the fault schedule
        await new Promise(resolve => setImmediate(resolve))
        const name = `/history/k${Math.floor(rnd() * KEYS)}`
        const key = new Key(name)
        const dice = rnd()

        try {
          if (dice < 0.4) {
            const value = `${client.name}-w${w}-${seq++}`
            await recorder.record(client.name, name, 'put', value, async () => client.store.put(key, uint8ArrayFromString(value)))
          } else if (dice < 0.5) {
            await recorder.record(client.name, name, 'delete', undefined, async () => { await client.store.delete(key) })
          } else {
            await recorder.record(client.name, name, 'get', undefined, async () => client.store.get(key))
          }
        } catch (err: any) {
          if (err?.name !== 'NotFoundError') {
            errorCount++

            if (errors.length < 20) {
              errors.push(`${client.name} ${name}: ${err?.name}: ${err?.message}`)
            }
          }
        }
      }
    }

    // the writers' wall clocks disagree by seconds, as machines do: 4 s behind, on time, 4 s ahead
    env.clients.forEach((client, i) => {
      const offset = (i - 1) * 4000
      ;(client.store as unknown as { clock: { wall(): number } }).clock.wall = () => Date.now() + offset
    })

    const load = env.clients.flatMap(client => Array.from({ length: WORKERS_PER_CLIENT }, async (_, w) => worker(client, w)))
    const log: string[] = []

    try {
      for (let cycle = 0; cycle < CYCLES; cycle++) {
        await sleep(500 + Math.floor(random() * 1500))
        const victim = Math.floor(random() * 3)
        const down = 1500 + Math.floor(random() * 2500)

        // alternate, starting with a pause (a node that hangs), then a kill
        if (cycle % 2 === 0) {
          env.cluster.pause(victim)
          log.push(`fault ${cycle + 1}: SIGSTOP node ${victim + 1} for ${down} ms`)
          await sleep(down)
          env.cluster.resume(victim)
        } else {
          await env.cluster.kill(victim)
          log.push(`fault ${cycle + 1}: SIGKILL node ${victim + 1}, restarted after ${down} ms`)
          await sleep(down)
          await env.cluster.start(victim, env.bin)
        }
      }

      await sleep(1000)
    } finally {
      running = false
      await Promise.all(load)
    }

    const history = recorder.history()
    const result = checkHistory(history)
    console.info(`history: seed ${SEED}, ${history.length} operations on ${KEYS} keys, ${errorCount} errors (recorded as unknown outcomes)\n${log.join('\n')}\n${result.summary}`)
    expect(history.filter(o => o.outcome === 'ok').length).toBeGreaterThan(CYCLES * 20)
    expect(result.ok, `${result.summary}\n${log.join('\n')}\nerrors:\n${errors.slice(0, 10).join('\n')}`).toBe(true)
  }, 60_000 + CYCLES * 20_000)
})
