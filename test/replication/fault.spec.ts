/**
 * Fault test: three `serve` processes on LevelDB, a table with 3 owners per
 * range (init --replicas 3), quorum reads and writes from three clients in
 * this process (their own identities, allowed by every node) under
 * continuous load, while one node at a time is killed with SIGKILL at a
 * seeded random moment and restarted on the same config and store
 * directory, several cycles.
 *
 * Asserts:
 * - no read or write fails (exactly one node is down at any moment, so a
 *   quorum of 2 of 3 is always up);
 * - every history recorded is linearizable per key (checkHistory), and after
 *   the load every key reads back the value of its last acknowledged write,
 *   or of a write that did not precede it;
 * - with no manual step (no repair() call), the node restarted last
 *   converges: every owner holds the same records (keys, versions, values),
 *   polled with a generous bound.
 *
 * FAULT_SEED=n picks another seed, FAULT_CYCLES=n runs n kill/restart
 * cycles (default 3), FAULT_KEYS=n the key space (default 200).
 */

import { Key } from 'interface-datastore'
import { fromString as uint8ArrayFromString } from 'uint8arrays/from-string'
import { toString as uint8ArrayToString } from 'uint8arrays/to-string'
import { describe, it, expect } from 'vitest'
import { useFaultCluster, differences, intFromEnv, seedFromEnv, seededRandom, sleep } from '../utils/fault/cluster.js'
import { checkHistory } from '../utils/history/checker.js'
import { HistoryRecorder } from '../utils/history/recorder.js'
import type { FaultClient, HeldRecord } from '../utils/fault/cluster.js'

const SEED = seedFromEnv(20261207)
const CYCLES = intFromEnv('FAULT_CYCLES', 3)
const KEYS = intFromEnv('FAULT_KEYS', 200)
const CLIENTS = 3
const WORKERS_PER_CLIENT = 3
const PREFIX = '/fault'

interface Write { value: string, call: number, ret: number, acked: boolean }

describe(`fault: kill -9 of one of 3 serve processes (N=3, quorum), ${CYCLES} cycles, seed ${SEED}`, () => {
  const env = useFaultCluster(CLIENTS)

  it('loses no acknowledged write, never fails with one node down, and the restarted node converges', async () => {
    const random = seededRandom(SEED)
    const recorder = new HistoryRecorder()
    const writes = new Map<string, Write[]>()
    const failures: string[] = []
    let operations = 0
    let running = true
    let seq = 0

    const worker = async (client: FaultClient, w: number): Promise<void> => {
      const rnd = seededRandom(SEED + 1000 * env.clients.indexOf(client) + w)

      while (running) {
        // a macrotask per operation: operations that fail without I/O would otherwise starve the timers of the fault schedule
        await new Promise(resolve => setImmediate(resolve))
        const key = `${PREFIX}/k${Math.floor(rnd() * KEYS)}`
        operations++

        try {
          if (rnd() < 0.5) {
            const value = `${client.name}-w${w}-${seq++}`
            const write: Write = { value, call: recorder.now(), ret: Infinity, acked: false }
            writes.set(key, [...(writes.get(key) ?? []), write])
            await recorder.record(client.name, key, 'put', value, async () => client.store.put(new Key(key), uint8ArrayFromString(value)))
            write.ret = recorder.now()
            write.acked = true
          } else {
            await recorder.record(client.name, key, 'get', undefined, async () => {
              try {
                return await client.store.get(new Key(key))
              } catch (err: any) {
                if (err?.name === 'NotFoundError') {
                  return null
                }

                throw err
              }
            })
          }
        } catch (err: any) {
          failures.push(`${client.name} ${key}: ${err?.name}: ${err?.message}`)
        }
      }
    }

    const hinted: number[] = []
    const hintsFor = (peer: string): number => env.clients.reduce((sum, c) => sum + (c.store.status().peers.find(p => p.peer === peer)?.hints ?? 0), 0)
    const load = env.clients.flatMap(client => Array.from({ length: WORKERS_PER_CLIENT }, async (_, w) => worker(client, w)))
    const log: string[] = []
    let lastKilled = -1

    try {
      for (let cycle = 0; cycle < CYCLES; cycle++) {
        await sleep(1000 + Math.floor(random() * 2000))
        const victim = Math.floor(random() * 3)
        const before = operations
        await env.cluster.kill(victim)
        lastKilled = victim
        log.push(`cycle ${cycle + 1}: killed node ${victim + 1} after ${before} operations`)
        // long enough for the clients to suspect it
        await sleep(2000 + Math.floor(random() * 2000))
        log.push(`  ${operations - before} operations while it was down`)
        // the clients (the coordinators) keep the writes it missed as hints, handed over once it is back
        const hints = hintsFor(env.cluster.peers[victim].toString())
        hinted.push(hints)
        log.push(`  ${hints} hints held for it by the clients`)
        await env.cluster.start(victim, env.bin)
        log.push(`  restarted node ${victim + 1}`)
      }
    } finally {
      running = false
      await Promise.all(load)
    }

    expect(hinted.every(h => h > 0), `hints held for each killed node: ${hinted.join(', ')}`).toBe(true)
    expect(failures, `${failures.length} of ${operations} operations failed with at most one node down:\n${failures.slice(0, 10).join('\n')}\n${log.join('\n')}`).toEqual([])
    expect(operations).toBeGreaterThan(CYCLES * 20)

    const result = checkHistory(recorder.history())
    expect(result.ok, result.summary).toBe(true)

    // convergence of every owner (the last restarted included) by hints and anti-entropy only: no repair() call, and no reads
    // since the load stopped
    const deadline = Date.now() + 90_000
    let diff: string[]
    let listings: Array<Map<string, HeldRecord>> = []
    let firstDiff: number | undefined
    const converging = Date.now()

    do {
      listings = await Promise.all(env.cluster.peers.map(async peer => env.cluster.held(env.clients[0], peer, PREFIX)))
      diff = [1, 2].flatMap(i => differences(listings[0], listings[i]).map(d => `node 1 vs node ${i + 1}: ${d}`))
      firstDiff ??= [1, 2].map(i => differences(listings[0], listings[i], Infinity).length).reduce((a, b) => a + b)

      // and every hint handed over
      diff.push(...env.cluster.peers.filter(peer => hintsFor(peer.toString()) > 0).map(peer => `clients still hold ${hintsFor(peer.toString())} hints for ${peer.toString()}`))

      if (diff.length === 0) {
        break
      }

      await sleep(1000)
    } while (Date.now() < deadline)

    const convergedAfter = Date.now() - converging
    expect(diff, `owners still differ (or hints are still held) 90 s after the last restart of node ${lastKilled + 1}:\n${diff.join('\n')}`).toEqual([])

    // every acknowledged write is read back (quorum reads, which repair what they find behind: after the listings): the final value is of a write that no acknowledged write followed
    const reader = env.clients[0]

    for (const [key, list] of writes) {
      const bytes = await reader.store.get(new Key(key))
      const value = uint8ArrayToString(bytes)
      const final = list.find(w => w.value === value)
      expect(final, `${key} reads ${value}, which no write of it wrote`).toBeDefined()

      for (const w of list.filter(w => w.acked)) {
        expect(final === w || (final as Write).ret >= w.call, `${key}: acknowledged ${w.value} was overwritten by ${value}, which returned before it was called`).toBe(true)
      }
    }

    expect(listings[0].size).toBe(writes.size)
    console.info(`fault: seed ${SEED}, ${operations} operations, ${writes.size} keys written, 0 failures; owners differed on ${firstDiff ?? 0} records after the load, equal ${convergedAfter} ms later\n${log.join('\n')}`)
  }, 150_000 + CYCLES * 20_000)
})
