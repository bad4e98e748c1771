/**
 * The `migration` phase: what a live membership change costs (issue 11).
 *
 * Four data node processes (node-process.ts, MemoryDatastore children, an
 * admin key): three in a signed table with 3 owners per range, the fourth
 * started outside it. The caller, a client listed in the table, fills the
 * cluster with quorum writes, then measures a mixed load (quorum gets and
 * puts, 16 in flight) for a stretch with nothing moving. Then it signs the
 * planner's table that adds the fourth node (about a quarter of the slot
 * replicas move to it), hands it to every node, and runs the same load until
 * every node reports the move done (one table in force, the new epoch).
 *
 * Reported, side by side in the same round:
 * - migration throughput: bytes the new owner copied (its status'
 *   `bytesCopied`) over the time from handing out the table to every node
 *   done, against a raw bulk transfer of the same number of bytes on one
 *   stream to the same process (goal >= 0.5x);
 * - client throughput during the move against the same load without one
 *   (goal >= 0.7x), and the client operations that failed (goal 0).
 *
 * Each round is followed by the same move on a fresh cluster with no client
 * load (`mig.idle.*`): what the copy itself runs at, apart from the CPU the
 * clients take from it on a small machine.
 */

import { mkdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { generateKeyPair, publicKeyToProtobuf } from '@libp2p/crypto/keys'
import { MemoryDatastore } from 'datastore-core'
import { Key } from 'interface-datastore'
import { toString as uint8ArrayToString } from 'uint8arrays/to-string'
import { ClusterDatastore, SlotTable, signTable } from '../../src/index.js'
import { planAddNode } from '../../src/membership/planner.js'
import { NodeProcess, createCallerNode } from './harness.js'
import { format, merge, summarize } from './profile-summary.js'
import { bulkSend } from './raw.js'
import { fmt, markdownTable, now, spread } from './stats.js'
import type { RecordMetric } from './replication.js'
import type { LayoutProgress } from './node-process.js'
import type { CpuProfile } from './profile-summary.js'

/** Goals of issue 11 that are ratios, for the bench's ratio table */
export const MIGRATION_RATIOS = [
  { spec: 'M', what: 'migration MB/s / raw bulk MB/s of the same bytes', num: 'mig.move.mbps', den: 'mig.raw.mbps', kind: 'min' as const, bar: 0.5 },
  { spec: 'M', what: 'migration MB/s with no client load / raw bulk MB/s', num: 'mig.idle.mbps', den: 'mig.raw.mbps', kind: 'min' as const, bar: 0.5 },
  { spec: 'M', what: 'client ops/s during a move / without one', num: 'mig.load.during.ops', den: 'mig.load.before.ops', kind: 'min' as const, bar: 0.7 }
]

const LOAD_CONCURRENCY = 16
/** ms of load measured with nothing moving */
const QUIET_MS = 5000
/** A move taking longer than this fails the phase */
const MOVE_TIMEOUT_MS = 600_000

export async function migrationPhase (runs: number, quick: boolean, recordMetric: RecordMetric, log: (msg: string) => void): Promise<void> {
  const keys = quick ? 5_000 : 20_000
  const valueSize = 4096
  const seen = new Map<string, number[]>()
  const record: RecordMetric = (name, unit, what, value) => {
    seen.set(name, [...(seen.get(name) ?? []), value])
    recordMetric(name, unit, what, value)
  }

  log(`migration: add a 4th node to 3 (3 owners per range) holding ${fmt(keys)} keys of ${fmt(valueSize)} B, under a mixed quorum load and with none; ${runs} rounds of each`)

  for (let round = 1; round <= runs; round++) {
    await migrationRound(round, keys, valueSize, record, log, false)
    await migrationRound(round, keys, valueSize, record, log, true)
  }

  const median = (name: string): number => spread(seen.get(name) ?? [NaN]).median
  console.log('\n### Migration (add a 4th node to 3, N=3; medians of the rounds)\n')
  console.log(markdownTable(['measure', 'value', 'baseline', 'ratio', 'goal'], [
    ['copy throughput (MB/s) / raw bulk', fmt(median('mig.move.mbps')), fmt(median('mig.raw.mbps')), `${fmt(median('mig.move.mbps') / median('mig.raw.mbps'))}x`, '>= 0.5x'],
    ['copy throughput with no client load (MB/s) / raw bulk', fmt(median('mig.idle.mbps')), fmt(median('mig.raw.mbps')), `${fmt(median('mig.idle.mbps') / median('mig.raw.mbps'))}x`, '>= 0.5x'],
    [`client ops/s during the move / without (${LOAD_CONCURRENCY} in flight)`, fmt(median('mig.load.during.ops')), fmt(median('mig.load.before.ops')), `${fmt(median('mig.load.during.ops') / median('mig.load.before.ops'))}x`, '>= 0.7x'],
    ['client operations failed during the move', fmt(median('mig.load.failed')), '', '', '0']
  ]))
  console.log(`\nmoved ${fmt(median('mig.move.bytes') / 1e6)} MB in ${fmt(median('mig.move.seconds'))} s (${fmt(median('mig.move.share') * 100)}% of the slot replicas)\n`)
}

async function migrationRound (round: number, keyCount: number, valueSize: number, record: RecordMetric, log: (msg: string) => void, idle = false): Promise<void> {
  const nodes = await Promise.all([0, 1, 2, 3].map(async () => NodeProcess.spawn({ dht: false })))
  const caller = await createCallerNode(false)
  const admin = await generateKeyPair('Ed25519')
  const adminKey = uint8ArrayToString(publicKeyToProtobuf(admin.publicKey), 'base64')
  const clients = [{ id: caller.peerId }]
  const members = nodes.slice(0, 3).map(n => ({ id: n.peerId, addrs: n.addrs }))
  const before = await signTable(SlotTable.even(members, { epoch: 1, replicas: 3, clients }), admin)
  const bytes64 = uint8ArrayToString(before.bytes, 'base64')

  await Promise.all(nodes.map(async n => n.call('start-signed', { signedTable: bytes64, adminKey })))
  const store = new ClusterDatastore(caller, new MemoryDatastore(), before, { adminKey: admin.publicKey, consistency: 'quorum' })
  await store.start()

  try {
    const keys = Array.from({ length: keyCount }, (_, i) => new Key(`/mig/${i.toString(36).padStart(6, '0')}`))
    const value = new Uint8Array(valueSize).fill(7)

    for await (const _ of store.putMany(keys.map(key => ({ key, value })))) {
      // written
    }

    let failed = 0
    const errors = new Set<string>()
    const load = async (running: () => boolean): Promise<number> => {
      let ops = 0
      let i = 0
      const t0 = now()

      await Promise.all(Array.from({ length: LOAD_CONCURRENCY }, async () => {
        while (running()) {
          const key = keys[(i++ * 7919) % keys.length]

          try {
            if (i % 2 === 0) await store.get(key)
            else await store.put(key, value)
            ops++
          } catch (err: any) {
            failed++
            errors.add(`${err?.name}: ${err?.message}`)
          }
        }
      }))

      return ops / ((now() - t0) / 1000)
    }

    /** Per node, the CPU ms it used so far (user + system: what it ran, however busy the machine) and its write and read system calls (see machine.ts) */
    const usage = async (): Promise<Array<{ cpuMs: number, writes: number, reads: number }>> => Promise.all(nodes.map(async n => {
      const { cpuMs, writes, reads } = await n.call('stats')
      return { cpuMs, writes, reads }
    }))
    const cpu = async (): Promise<number[]> => (await usage()).map(u => u.cpuMs)

    // per node, CPU ms per client operation with nothing moving (none measured for a move with no load)
    let quietPerOp = nodes.map(() => 0)

    if (!idle) {
      const quietCpu = await cpu()
      const quietStart = now()
      const quietUntil = quietStart + QUIET_MS
      const beforeOps = await load(() => now() < quietUntil)
      const quietOps = beforeOps * (now() - quietStart) / 1000
      quietPerOp = (await cpu()).map((ms, i) => (ms - quietCpu[i]) / quietOps)
      record('mig.load.before.ops', 'ops/s', `quorum get/put mix, ${LOAD_CONCURRENCY} in flight, 4 KiB values, nothing moving`, beforeOps)
    }

    const plan = planAddNode(before.table, { id: nodes[3].peerId, addrs: nodes[3].addrs })
    const after = await signTable(plan.table, admin)
    const afterEpoch = after.table.epoch
    let moving = true
    failed = 0
    errors.clear()
    const moveStart = await usage()
    // BENCH_PROFILE_DIR: a V8 CPU profile of each node process over the move, summarized after the round
    const profileDir = process.env.BENCH_PROFILE_DIR
    const profilePath = (i: number): string => join(profileDir ?? '', `migration-r${round}${idle ? '-idle' : ''}-node${i}.cpuprofile`)

    if (profileDir != null && profileDir !== '') {
      mkdirSync(profileDir, { recursive: true })
      await Promise.all(nodes.map(async n => n.call('profile-start')))
    }

    const during = idle ? Promise.resolve(0) : load(() => moving)
    const t0 = now()

    await Promise.all(nodes.map(async n => n.call('adopt', { signedTable: uint8ArrayToString(after.bytes, 'base64') })))

    let progress: LayoutProgress[] = []
    // when each step of the transition was first seen on every node (polled every 50 ms): where the move's time goes
    const steps: Record<string, number> = {}
    const seen = (step: string, reached: boolean): void => {
      if (reached && steps[step] == null) steps[step] = (now() - t0) / 1000
    }

    while (true) {
      progress = await Promise.all(nodes.map(async n => n.call('layout')))
      seen('ack', progress.every(p => p.ack >= afterEpoch))
      seen('sync', progress.every(p => p.sync >= afterEpoch))
      seen('syncAck', progress.every(p => p.syncAck >= afterEpoch))

      if (progress.every(p => p.done && p.epochs[0] === afterEpoch)) {
        break
      }

      if (now() - t0 > MOVE_TIMEOUT_MS) {
        throw new Error(`the move to epoch ${afterEpoch} did not end in ${MOVE_TIMEOUT_MS / 1000} s: ${JSON.stringify(progress)}`)
      }

      await new Promise(resolve => setTimeout(resolve, 50))
    }

    const seconds = (now() - t0) / 1000
    const moveEnd = await usage()
    const moveUsed = moveEnd.map((u, i) => u.cpuMs - moveStart[i].cpuMs)
    const calls = moveEnd.map((u, i) => ({ writes: u.writes - moveStart[i].writes, reads: u.reads - moveStart[i].reads }))

    if (profileDir != null && profileDir !== '') {
      await Promise.all(nodes.map(async (n, i) => n.call('profile-stop', { path: profilePath(i) })))
      const load = (i: number): CpuProfile => JSON.parse(readFileSync(profilePath(i), 'utf8'))
      console.log(format(`migration round ${round}${idle ? ' (no client load)' : ''}, the new node`, summarize(load(3)), 30))
      console.log(format(`migration round ${round}${idle ? ' (no client load)' : ''}, the old nodes (3 summed)`, merge([0, 1, 2].map(i => summarize(load(i)))), 30))
    }
    moving = false
    const duringOps = await during
    const moved = progress.reduce((sum, p) => sum + p.bytesCopied, 0)
    const share = plan.moved / (16384 * 3)

    // a move with no client load: the same figures under mig.idle
    const m = idle ? 'mig.idle' : 'mig.move'
    const how = idle ? ', no client load' : ''
    record(`${m}.seconds`, 's', `from handing out the new table to every node done${how}`, seconds)
    record(`${m}.bytes`, 'B', 'bytes copied by the nodes that gained slots', moved)
    record(`${m}.share`, '', 'share of the slot replicas that changed owner', share)
    record(`${m}.mbps`, 'MB/s', `migration: bytes copied / time to every node done${how}`, moved / 1e6 / seconds)

    if (!idle) {
      record('mig.load.during.ops', 'ops/s', `the same load during the move (${fmt(seconds)} s)`, duringOps)
      record('mig.load.failed', 'ops', 'client operations that failed during the move (goal 0)', failed)
    }

    // the CPU the move cost: what the nodes used during it beyond what the same
    // number of client operations cost them with nothing moving
    const keysCopied = progress.reduce((sum, p) => sum + p.keysCopied, 0)
    const ops = duringOps * seconds
    const extra = moveUsed.reduce((a, b) => a + b, 0) - quietPerOp.reduce((a, b) => a + b, 0) * ops
    record(`${m}.cpu.us`, 'us/record', `CPU of the four nodes during the move beyond the client load's (at its cost per operation without a move), per record copied${how}`, extra * 1000 / Math.max(keysCopied, 1))
    record(`${m}.cpu.new.us`, 'us/record', `CPU of the new node during the move, per record copied (it also serves its share of the writes)${how}`, moveUsed[3] * 1000 / Math.max(keysCopied, 1))
    record(`${m}.cpu.old.us`, 'us/record', `CPU of the busiest old node during the move beyond its client load's, per record copied${how}`, Math.max(...[0, 1, 2].map(i => moveUsed[i] - quietPerOp[i] * ops)) * 1000 / Math.max(keysCopied, 1))

    for (const err of errors) {
      log(`  migration: failure ${err}`)
    }

    // the raw baseline: the same bytes on one stream to the same process
    const data = new Uint8Array(Math.max(moved, 1)).fill(3)
    const r0 = now()
    await bulkSend(caller, nodes[3].peerId, data)
    record('mig.raw.mbps', 'MB/s', 'raw bulk transfer of the same bytes on one stream to the new node', data.byteLength / 1e6 / ((now() - r0) / 1000))

    log(`  migration round ${round}${how}: moved ${fmt(moved / 1e6)} MB in ${fmt(seconds)} s; load ${fmt(duringOps)} ops/s during, ${failed} failed`)
    log(`  migration round ${round}${how}: system calls per copied record, new node ${fmt(calls[3].writes / Math.max(keysCopied, 1))} writes ${fmt(calls[3].reads / Math.max(keysCopied, 1))} reads; old nodes ${calls.slice(0, 3).map(c => `${fmt(c.writes / Math.max(keysCopied, 1))}/${fmt(c.reads / Math.max(keysCopied, 1))}`).join(', ')} (writes/reads)`)
    log(`  migration round ${round}${how}: every node acked at ${fmt(steps.ack ?? NaN)} s, synced (copies done) at ${fmt(steps.sync ?? NaN)} s, sync-acked at ${fmt(steps.syncAck ?? NaN)} s, retired at ${fmt(seconds)} s`)
  } finally {
    await store.stop()
    await caller.stop()
    await Promise.all(nodes.map(async n => n.stop()))
  }
}
