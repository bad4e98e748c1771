/**
 * `npm run bench:rss`: peak memory of the caller while it queries every key
 * of a cluster that holds 1 GiB of values.
 *
 *   npx tsx benchmarks/query-rss.ts [--gib N] [--value-size BYTES] [--keys-only] [--stream-window BYTES] [--slow-ms MS] [--replicas N]
 *
 * Three data nodes in child processes each fill their local MemoryDatastore
 * directly (no network) with keys of the slots they own, so the caller never
 * held the data. The caller, a client outside the table, then iterates
 * `query({})` over the whole cluster, counting keys and bytes and dropping
 * them, while its RSS is sampled every 10 ms. The figure is the caller's peak
 * RSS during the query (and its lifetime peak, `maxRSS`, which includes
 * startup). With `--replicas 3` every slot has 3 owners, each holding its
 * keys (as values written before replication: no versions), and the caller
 * queries at quorum: the replicated query's memory. Writes benchmarks/results/rss.json, which `npm run bench` shows
 * in its table.
 */

import { mkdirSync, writeFileSync } from 'node:fs'
import { benchmarksDir, runCompiled } from './lib/compiled.js'
import { startCluster } from './lib/harness.js'
import { machineInfo } from './lib/machine.js'
import { fmt, now } from './lib/stats.js'

const argv = process.argv.slice(2)
const flag = (name: string): string | undefined => {
  const i = argv.indexOf(name)
  return i === -1 ? undefined : argv[i + 1]
}
const GIB = Number(flag('--gib') ?? 1)
const VALUE_SIZE = Number(flag('--value-size') ?? 256)
const KEYS_ONLY = argv.includes('--keys-only')
const STREAM_WINDOW = flag('--stream-window') == null ? undefined : Number(flag('--stream-window'))
/** A slow reader: sleep this many ms after each pair (bounded memory under backpressure) */
const SLOW_MS = Number(flag('--slow-ms') ?? 0)
const MIB = 2 ** 20
const REPLICAS = Number(flag('--replicas') ?? 1)

async function main (): Promise<void> {
  const total = GIB * 2 ** 30
  console.log(`query-rss: ${GIB} GiB of ${VALUE_SIZE} B values over 3 node processes${REPLICAS > 1 ? `, ${REPLICAS} owners per slot` : ''}`)
  const cluster = await startCluster(3, { dht: false, replicas: REPLICAS, callerOptions: STREAM_WINDOW == null ? undefined : { streamWindow: STREAM_WINDOW } })

  try {
    const t0 = now()
    const filled = await Promise.all(cluster.nodes.map(async n => n.call('populate', {
      prefix: '/rss',
      bytes: Math.ceil(total * REPLICAS / cluster.nodes.length),
      valueSize: VALUE_SIZE,
      replicated: REPLICAS > 1
    })))
    // each key is on REPLICAS owners
    const keys = Math.round(filled.reduce((a, f) => a + f.keys, 0) / REPLICAS)
    const bytes = Math.round(filled.reduce((a, f) => a + f.bytes, 0) / REPLICAS)
    console.log(`  owners filled in ${fmt((now() - t0) / 1000)} s: ${fmt(keys)} keys, ${fmt(bytes / MIB)} MiB`)

    // a first small query opens the streams, so the baseline includes them
    for await (const _ of cluster.store.queryKeys({ prefix: '/none' })) {
      // nothing matches
    }

    const gc = (globalThis as any).gc as (() => void) | undefined
    gc?.()
    const baseline = process.memoryUsage().rss
    let peak = baseline
    // where the peak comes from: V8's heap, or buffers outside it
    const parts = { heapTotal: 0, heapUsed: 0, external: 0, arrayBuffers: 0 }
    const sampler = setInterval(() => {
      const usage = process.memoryUsage()
      peak = Math.max(peak, usage.rss)
      parts.heapTotal = Math.max(parts.heapTotal, usage.heapTotal)
      parts.heapUsed = Math.max(parts.heapUsed, usage.heapUsed)
      parts.external = Math.max(parts.external, usage.external)
      parts.arrayBuffers = Math.max(parts.arrayBuffers, usage.arrayBuffers)
    }, 10)

    let seen = 0
    let seenBytes = 0
    const t1 = now()

    if (KEYS_ONLY) {
      for await (const key of cluster.store.queryKeys({})) {
        seen++
        seenBytes += key.uint8Array().byteLength
      }
    } else {
      for await (const { value } of cluster.store.query({})) {
        seen++
        seenBytes += value.byteLength

        if (SLOW_MS > 0) {
          await new Promise(resolve => setTimeout(resolve, SLOW_MS))
        }
      }
    }

    const seconds = (now() - t1) / 1000
    clearInterval(sampler)
    peak = Math.max(peak, process.memoryUsage().rss)
    const owners = await Promise.all(cluster.nodes.map(async n => n.call('stats')))

    if (seen !== keys) {
      throw new Error(`the query returned ${seen} of ${keys} keys`)
    }

    const result = {
      date: new Date().toISOString(),
      machine: machineInfo(),
      nodeFlags: process.execArgv,
      valueSize: VALUE_SIZE,
      replicas: REPLICAS,
      keysOnly: KEYS_ONLY,
      streamWindow: STREAM_WINDOW ?? 'default',
      keys,
      valueBytes: bytes,
      seconds,
      entriesPerSec: seen / seconds,
      bytesPerSec: seenBytes / seconds,
      baselineRssBytes: baseline,
      peakRssBytes: peak,
      maxRssBytes: process.resourceUsage().maxRSS * 1024,
      ownerRssBytes: owners.map(o => o.rss)
    }

    console.log(`  query: ${fmt(seen)} ${KEYS_ONLY ? 'keys' : 'pairs'} in ${fmt(seconds)} s (${fmt(result.entriesPerSec)}/s, ${fmt(result.bytesPerSec / 1e6)} MB/s)`)
    console.log(`  caller RSS: ${fmt(baseline / MIB)} MiB before, peak ${fmt(peak / MIB)} MiB during the query (bar < 256 MiB: ${peak < 256 * MIB ? 'PASS' : 'FAIL'}); lifetime maxRSS ${fmt(result.maxRssBytes / MIB)} MiB`)
    console.log(`  caller peaks: heap total ${fmt(parts.heapTotal / MIB)} MiB, heap used ${fmt(parts.heapUsed / MIB)} MiB, external ${fmt(parts.external / MIB)} MiB, array buffers ${fmt(parts.arrayBuffers / MIB)} MiB`)
    console.log(`  owners' RSS: ${owners.map(o => `${fmt(o.rss / MIB)} MiB`).join(', ')}`)

    if (GIB === 1 && !KEYS_ONLY && STREAM_WINDOW == null && VALUE_SIZE === 256 && SLOW_MS === 0 && REPLICAS === 1) {
      const dir = `${benchmarksDir()}results/`
      mkdirSync(dir, { recursive: true })
      writeFileSync(`${dir}rss.json`, JSON.stringify(result, null, 2) + '\n')
      console.log(`wrote ${dir}rss.json`)
    }
  } finally {
    await cluster.stop()
  }
}

const exitCode = runCompiled(import.meta.url)

if (exitCode != null) {
  process.exitCode = exitCode
} else {
  try {
    await main()
  } catch (err) {
    console.error(err)
    process.exitCode = 1
  }

  setTimeout(() => process.exit(), 100).unref()
}
