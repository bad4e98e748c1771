/**
 * CPU profile of one workload, on the caller and on the three owners at once.
 *
 *   npx tsx benchmarks/profile.ts <workload> [--ops N] [--dir DIR] [--top N] [--replicas N]
 *
 * Workloads: get-c64, put-c64, get1-c64 and put1-c64 (keys of one owner), get-seq, echo-seq,
 * putmany, get1m, and the raw baselines for comparison: echo-c64, echo1-c64,
 * bulk (the putMany payload on one stream).
 *
 * The cluster is the one `npm run bench` uses (three node processes, a
 * client-only caller). The workload runs once unprofiled to warm up, then
 * again under the V8 sampling profiler (100 µs interval) in every process.
 * Profiles are written to DIR (default .bench-out/profiles/, git-ignored) as
 * `<workload>-caller.cpuprofile` and `<workload>-owner<i>.cpuprofile` (open
 * them in Chrome DevTools or speedscope); a summary is printed.
 */

import { mkdirSync, writeFileSync } from 'node:fs'
import { Session } from 'node:inspector/promises'
import { keySlot } from '../src/index.js'
import { benchmarksDir, runCompiled } from './lib/compiled.js'
import { startCluster } from './lib/harness.js'
import { benchPairs, concurrent, payloadBytes, randomValues, sequential } from './lib/measure.js'
import { applyExperiments } from './lib/experiments.js'
import { syscalls } from './lib/machine.js'
import { format, merge, summarize } from './lib/profile-summary.js'
import { EchoClient, bulkSend } from './lib/raw.js'
import { fmt, now } from './lib/stats.js'
import type { CpuProfile } from './lib/profile-summary.js'
import type { Pair } from 'interface-datastore'

const argv = process.argv.slice(2)
const flag = (name: string): string | undefined => {
  const i = argv.indexOf(name)
  return i === -1 ? undefined : argv[i + 1]
}
const workload = argv[0] ?? 'get-c64'
// profiles are large and per machine: kept out of the tree, next to the compiled code
const DIR = flag('--dir') ?? `${benchmarksDir()}../.bench-out/profiles/`
const TOP = Number(flag('--top') ?? 25)

async function drain (it: AsyncIterable<unknown>): Promise<void> {
  for await (const _ of it) {
    // only the side effect counts
  }
}

const exitCode = runCompiled(import.meta.url)

if (exitCode != null) {
  process.exitCode = exitCode
} else {
  const experiments = applyExperiments()

  if (experiments.length > 0) {
    console.log(`experiments on: ${experiments.join(', ')}`)
  }

  // --replicas 3: every range on the three nodes, the caller coordinating at quorum
  const cluster = await startCluster(3, { dht: false, replicas: Number(flag('--replicas') ?? 1) })

  try {
    const store = cluster.store
    const kv = benchPairs('kv', 4096, 256)
    const keys = kv.map(p => p.key)
    await drain(store.putMany(kv))
    const index = new Map(cluster.nodes.map((n, i) => [n.peerId.toString(), i]))
    const owners = keys.map(k => index.get(cluster.table.primary(keySlot(k)).toString()) as number)
    const oneOwner = keys.filter((_, i) => owners[i] === 0)
    const echo = await Promise.all(cluster.nodes.map(async n => EchoClient.open(cluster.caller, n.peerId)))
    const payload = randomValues(1, 272)[0]
    let pm: Pair[] = []
    let big: Pair[] = []

    const ops = Number(flag('--ops') ?? ({ 'get-seq': 20_000, 'echo-seq': 20_000, putmany: 100_000, bulk: 100_000, get1m: 64 } as Record<string, number>)[workload] ?? 100_000)

    if (workload === 'putmany' || workload === 'bulk') pm = benchPairs('pm', ops, 256)
    const bulk = workload === 'bulk' ? randomValues(1, payloadBytes(pm))[0] : new Uint8Array(0)
    if (workload === 'get1m') {
      big = benchPairs('big', ops, 1024 * 1024)
      await drain(store.putMany(big))
    }

    const workloads: Record<string, () => Promise<string>> = {
      'get-c64': async () => `${fmt(await concurrent(ops, 64, async i => store.get(keys[i % keys.length])))} ops/s`,
      'put-c64': async () => `${fmt(await concurrent(ops, 64, async i => store.put(keys[i % keys.length], kv[i % kv.length].value)))} ops/s`,
      'get1-c64': async () => `${fmt(await concurrent(ops, 64, async i => store.get(oneOwner[i % oneOwner.length])))} ops/s`,
      'put1-c64': async () => `${fmt(await concurrent(ops, 64, async i => store.put(oneOwner[i % oneOwner.length], kv[i % kv.length].value)))} ops/s`,
      'echo-c64': async () => `${fmt(await concurrent(ops, 64, async i => echo[owners[i % keys.length]].call(payload)))} ops/s`,
      'echo1-c64': async () => `${fmt(await concurrent(ops, 64, async () => echo[0].call(payload)))} ops/s`,
      'echo-seq': async () => {
        const r = await sequential(ops, async i => echo[owners[i % keys.length]].call(payload))
        return `p50 ${fmt(r.p50)} ms, p99 ${fmt(r.p99)} ms`
      },
      'get-seq': async () => {
        const r = await sequential(ops, async i => store.get(keys[i % keys.length]))
        return `p50 ${fmt(r.p50)} ms, p99 ${fmt(r.p99)} ms`
      },
      putmany: async () => {
        const t = now()
        await drain(store.putMany(pm))
        return `${fmt(payloadBytes(pm) / ((now() - t) / 1000) / 1e6)} MB/s`
      },
      bulk: async () => {
        const t = now()
        await bulkSend(cluster.caller, cluster.nodes[0].peerId, bulk)
        return `${fmt(bulk.byteLength / ((now() - t) / 1000) / 1e6)} MB/s`
      },
      get1m: async () => {
        const t = now()
        for (const { key } of big) await store.get(key)
        return `${fmt(ops * 1024 * 1024 / ((now() - t) / 1000) / 1e6)} MB/s`
      }
    }

    const run = workloads[workload]

    if (run == null) {
      throw new Error(`unknown workload ${workload}; one of ${Object.keys(workloads).join(', ')}`)
    }

    console.log(`${workload}: warm-up ${await run()}`)

    // system calls per operation, without the profiler: a write is a trip through the kernel's loopback
    const before = { caller: syscalls(), owners: await Promise.all(cluster.nodes.map(async n => n.call('stats'))) }
    const cpu0 = process.cpuUsage()
    console.log(`${workload}: measured ${await run()}`)
    const cpu = process.cpuUsage(cpu0)
    const after = { caller: syscalls(), owners: await Promise.all(cluster.nodes.map(async n => n.call('stats'))) }
    const perOp = (n: number): string => (n / ops).toFixed(3)
    const ownerWrites = after.owners.reduce((a, s, i) => a + s.writes - before.owners[i].writes, 0)
    const ownerReads = after.owners.reduce((a, s, i) => a + s.reads - before.owners[i].reads, 0)
    const ownerCpu = after.owners.reduce((a, s, i) => a + s.cpuMs - before.owners[i].cpuMs, 0)
    console.log(`  per operation: caller ${perOp(after.caller.writes - before.caller.writes)} writes, ${perOp(after.caller.reads - before.caller.reads)} reads, ${((cpu.user + cpu.system) / ops).toFixed(1)} µs CPU; ` +
      `owners ${perOp(ownerWrites)} writes, ${perOp(ownerReads)} reads, ${(ownerCpu * 1000 / ops).toFixed(1)} µs CPU`)

    mkdirSync(DIR, { recursive: true })
    const session = new Session()
    session.connect()
    await session.post('Profiler.enable')
    await session.post('Profiler.setSamplingInterval', { interval: 100 })
    await Promise.all(cluster.nodes.map(async n => n.call('profile-start')))
    await session.post('Profiler.start')

    console.log(`${workload}: profiled ${await run()}`)

    const { profile } = await session.post('Profiler.stop')
    session.disconnect()
    const callerPath = `${DIR}${workload}-caller.cpuprofile`
    writeFileSync(callerPath, JSON.stringify(profile))
    const ownerPaths = cluster.nodes.map((_, i) => `${DIR}${workload}-owner${i}.cpuprofile`)
    await Promise.all(cluster.nodes.map(async (n, i) => n.call('profile-stop', { path: ownerPaths[i] })))

    const { readFileSync } = await import('node:fs')
    const load = (path: string): CpuProfile => JSON.parse(readFileSync(path, 'utf8'))
    console.log('')
    console.log(format(`${workload}, caller`, summarize(load(callerPath)), TOP))
    console.log('')
    console.log(format(`${workload}, owners (3 summed)`, merge(ownerPaths.map(p => summarize(load(p)))), TOP))
    console.log(`\nprofiles in ${DIR}`)
  } finally {
    await cluster.stop()
    setTimeout(() => process.exit(), 100).unref()
  }
}
