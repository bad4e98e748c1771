/**
 * `npm run bench`: the cluster against raw libp2p on the same connections.
 *
 * Layout: three data nodes, each in its own child process (tcp + noise +
 * yamux on 127.0.0.1), and a client-only caller in this process, outside the
 * slot table, so every timed operation is remote. The raw baselines (echo on
 * one reused stream, bulk transfer on one stream) run between the same caller
 * and the same child processes, over the same connections.
 *
 * Every measurement runs `--runs` times (after one unrecorded warm-up round),
 * interleaved with its baseline, and is reported as median, min and max.
 * Ratios are taken per round (cluster figure / baseline figure of the same
 * round) and reported the same way.
 *
 * Flags:
 *   --runs N         recorded rounds (default 5; the kad-dht phase uses min(N, 3))
 *   --quick          fewer operations per round (a smoke run, figures noisier)
 *   --only a,b       phases to run: main, dht, scale, repair, replication, migration (default all)
 *   --out FILE       JSON output (default benchmarks/results/latest.json)
 *   --tsx            run the TypeScript as is (slower: see lib/compiled.ts)
 *
 * The query/RSS measure is separate (`benchmarks/query-rss.ts`, `npm run
 * bench:rss`); its last result is read from benchmarks/results/rss.json.
 */

import { readFileSync, mkdirSync, writeFileSync, existsSync } from 'node:fs'
import { dirname } from 'node:path'
import { MemoryDatastore } from 'datastore-core'
import { keySlot } from '../src/index.js'
import { createCallerNode, startCluster, stoppedChildrenCpuMs } from './lib/harness.js'
import { benchmarksDir, runCompiled } from './lib/compiled.js'
import { machineCpu, machineInfo } from './lib/machine.js'
import { benchKeys, benchPairs, concurrent, payloadBytes, randomValues, sequential, until } from './lib/measure.js'
import { bigInFlight, headOfLine } from './lib/load.js'
import { EchoClient, bulkSend } from './lib/raw.js'
import { MIGRATION_RATIOS, migrationPhase } from './lib/migration.js'
import { repairPhase } from './lib/repair.js'
import { REPLICATION_RATIOS, replicationPhase } from './lib/replication.js'
import { fmt, markdownTable, spread } from './lib/stats.js'
import { now } from './lib/stats.js'
import type { BenchCluster } from './lib/harness.js'
import type { Spread } from './lib/stats.js'
import type { Key } from 'interface-datastore'

// ---------------------------------------------------------------- options

const argv = process.argv.slice(2)
const flag = (name: string): string | undefined => {
  const i = argv.indexOf(name)
  return i === -1 ? undefined : argv[i + 1]
}
const QUICK = argv.includes('--quick')
const RUNS = Number(flag('--runs') ?? (QUICK ? 3 : 5))
const PHASES = new Set((flag('--only') ?? 'main,dht,scale,repair,replication,migration').split(','))
const RESULTS_DIR = `${benchmarksDir()}results/`
const OUT = flag('--out') ?? `${RESULTS_DIR}latest.json`

const VALUE_SIZE = 256
const KV_KEYS = 4096
const SEQ_OPS = QUICK ? 1000 : 2000
const C64_OPS = QUICK ? 8000 : 20000
const CONCURRENCY = 64
const PUT_MANY_KEYS = 100_000
const BIG_SIZE = 1024 * 1024
const BIG_VALUES = QUICK ? 16 : 32
const DHT_OPS = QUICK ? 100 : 200
const DHT_CONCURRENCY = 16
const DHT_RUNS = Math.min(RUNS, 3)
/** The cluster does the DHT workload on 10x the keys: it is too quick for 200 operations to time well */
const DHT_CLUSTER_OPS = DHT_OPS * 10
const SCALE_WARMUP_OPS = 20_000
/** 1 MiB values put and got with 64 in flight, per round */
const BIG64_VALUES = QUICK ? 128 : 256
/** Small gets timed in the head-of-line measure, alone and beside large values */
const HOL_OPS = QUICK ? 500 : 1000
/** 1 MiB gets kept in flight from the same owner during the mixed head-of-line run */
const HOL_LARGE_CONCURRENCY = 8

// ---------------------------------------------------------------- recording

interface Metric {
  unit: string
  what: string
  values: number[]
}

const metrics = new Map<string, Metric>()

function record (name: string, unit: string, what: string, value: number): void {
  let m = metrics.get(name)

  if (m == null) {
    m = { unit, what, values: [] }
    metrics.set(name, m)
  }

  m.values.push(value)
}

const log = (msg: string): void => { process.stderr.write(`${msg}\n`) }

// ---------------------------------------------------------------- helpers

/**
 * Run a measurement that may fail on a cluster that does not hold up under
 * load: the failure is reported and recorded as "n/a" instead of ending the
 * benchmark
 */
async function attempt (what: string, fn: () => Promise<void>, onFailure: () => void): Promise<void> {
  try {
    await fn()
  } catch (err: any) {
    log(`  ${what} FAILED: ${err?.name ?? 'Error'}: ${err?.message ?? String(err)}`)
    failures.push(`${what}: ${err?.name ?? 'Error'}: ${err?.message ?? String(err)}`)
    onFailure()
  }
}

/** Measurements that failed, for the report */
const failures: string[] = []

async function drain (it: AsyncIterable<unknown> | Iterable<unknown>): Promise<void> {
  for await (const _ of it) {
    // only the side effect counts
  }
}

/** Index, in `cluster.nodes`, of the primary owner of each key */
function ownersOf (cluster: BenchCluster, keys: Key[]): number[] {
  const index = new Map(cluster.nodes.map((n, i) => [n.peerId.toString(), i]))
  return keys.map(key => index.get(cluster.table.primary(keySlot(key)).toString()) as number)
}

function echoPayload (): Uint8Array {
  // a 256-byte value plus a key's worth of bytes, in both directions
  return randomValues(1, VALUE_SIZE + 16)[0]
}

// ---------------------------------------------------------------- phases

async function mainPhase (): Promise<void> {
  log('main: starting 3 data node processes (with kad-dht, for the dht phase)')
  const cluster = await startCluster(3, { dht: PHASES.has('dht') })

  try {
    const store = cluster.store
    const kv = benchPairs('kv', KV_KEYS, VALUE_SIZE)
    const kvKeys = kv.map(p => p.key)
    const owners = ownersOf(cluster, kvKeys)
    // keys of node 0 only: the cluster on one stream, against the echo on one stream
    const oneOwner = kvKeys.filter((_, i) => owners[i] === 0)
    const fresh = randomValues(KV_KEYS, VALUE_SIZE)
    await drain(store.putMany(kv))

    const echo = await Promise.all(cluster.nodes.map(async n => EchoClient.open(cluster.caller, n.peerId)))
    const joined = await Promise.all(cluster.nodes.map(async n => EchoClient.open(cluster.caller, n.peerId, true)))
    const payload = echoPayload()

    const pm = benchPairs('pm', PUT_MANY_KEYS, VALUE_SIZE)
    const pmBytes = payloadBytes(pm)
    const pmBulk = randomValues(1, pmBytes)[0]

    const big = benchPairs('big', BIG_VALUES, BIG_SIZE)
    const bigBytes = BIG_VALUES * BIG_SIZE
    const bigBulk = randomValues(1, bigBytes)[0]
    await drain(store.putMany(big))

    const local = new MemoryDatastore()
    await drain(local.putMany(kv))

    // 64 x 1 MiB in flight: keys spread over the owners as they hash
    const big64 = benchPairs('big64', BIG64_VALUES, BIG_SIZE)
    // head-of-line: 1 MiB values on node 0, read beside small gets from node 0 (the same stream)
    const holLarge = benchPairs('hol', 64, BIG_SIZE).filter(p => ownersOf(cluster, [p.key])[0] === 0).slice(0, 16)
    await drain(store.putMany(holLarge))

    log(`main: ${RUNS} rounds after a warm-up round; putMany payload ${fmt(pmBytes)} B`)

    for (let round = 0; round <= (PHASES.has('main') ? RUNS : -1); round++) {
      const rec = round === 0 ? () => {} : record
      const t0 = now()

      // -- sequential latency: raw echo (to the same owner the get goes to), get, put
      let r = await sequential(SEQ_OPS, async i => echo[owners[i % KV_KEYS]].call(payload))
      rec('echo.seq.p50', 'ms', 'raw echo, 272 B each way, reused stream, sequential, p50', r.p50)
      rec('echo.seq.p99', 'ms', 'raw echo, sequential, p99', r.p99)
      r = await sequential(SEQ_OPS, async i => joined[owners[i % KV_KEYS]].call(payload))
      rec('echoJ.seq.p50', 'ms', 'raw echo sending one joined buffer per flush, sequential, p50', r.p50)
      r = await sequential(SEQ_OPS, async i => store.get(kvKeys[i % KV_KEYS]))
      rec('get.seq.p50', 'ms', 'remote get, 256 B, sequential, p50', r.p50)
      rec('get.seq.p99', 'ms', 'remote get, sequential, p99', r.p99)
      r = await sequential(SEQ_OPS, async i => store.put(kvKeys[i % KV_KEYS], fresh[i % KV_KEYS]))
      rec('put.seq.p50', 'ms', 'remote put, 256 B, sequential, p50', r.p50)
      rec('put.seq.p99', 'ms', 'remote put, sequential, p99', r.p99)

      // -- 64 in flight
      rec('echo.c64.ops', 'ops/s', 'raw echo, 64 in flight over the 3 owners\' streams (one reused stream each)',
        await concurrent(C64_OPS, CONCURRENCY, async i => echo[owners[i % KV_KEYS]].call(payload)))
      rec('echo1.c64.ops', 'ops/s', 'raw echo, 64 in flight on ONE stream to one node',
        await concurrent(C64_OPS, CONCURRENCY, async () => echo[0].call(payload)))
      rec('echoJ.c64.ops', 'ops/s', 'raw echo, joined buffers, 64 in flight over the 3 owners\' streams',
        await concurrent(C64_OPS, CONCURRENCY, async i => joined[owners[i % KV_KEYS]].call(payload)))
      rec('echoJ1.c64.ops', 'ops/s', 'raw echo, joined buffers, 64 in flight on ONE stream',
        await concurrent(C64_OPS, CONCURRENCY, async () => joined[0].call(payload)))
      rec('get.c64.ops', 'ops/s', 'remote get, 64 in flight',
        await concurrent(C64_OPS, CONCURRENCY, async i => store.get(kvKeys[i % KV_KEYS])))
      rec('put.c64.ops', 'ops/s', 'remote put, 64 in flight',
        await concurrent(C64_OPS, CONCURRENCY, async i => store.put(kvKeys[i % KV_KEYS], fresh[i % KV_KEYS])))
      rec('get1.c64.ops', 'ops/s', 'remote get, 64 in flight, keys of ONE owner (one stream)',
        await concurrent(C64_OPS, CONCURRENCY, async i => store.get(oneOwner[i % oneOwner.length])))
      rec('put1.c64.ops', 'ops/s', 'remote put, 64 in flight, keys of ONE owner (one stream)',
        await concurrent(C64_OPS, CONCURRENCY, async i => store.put(oneOwner[i % oneOwner.length], fresh[i % KV_KEYS])))

      // -- bulk: putMany of 100,000 keys against the same bytes on one raw stream
      let t = now()
      await bulkSend(cluster.caller, cluster.nodes[round % 3].peerId, pmBulk)
      rec('bulk.pm.Bps', 'B/s', `raw bulk transfer of the putMany payload (${fmt(pmBytes)} B) on one stream`, pmBytes / ((now() - t) / 1000))
      t = now()
      await drain(store.putMany(pm))
      const pmSecs = (now() - t) / 1000
      rec('putMany.keys', 'keys/s', 'putMany of 100,000 keys, 256 B values', PUT_MANY_KEYS / pmSecs)
      rec('putMany.Bps', 'B/s', 'putMany of 100,000 keys, key+value bytes per second', pmBytes / pmSecs)

      // -- 1 MiB values
      t = now()
      await bulkSend(cluster.caller, cluster.nodes[round % 3].peerId, bigBulk)
      rec('bulk.big.Bps', 'B/s', `raw bulk transfer of ${BIG_VALUES} MiB on one stream`, bigBytes / ((now() - t) / 1000))
      t = now()
      for (const { key } of big) {
        await store.get(key)
      }
      rec('get1m.seq.Bps', 'B/s', 'remote get of 1 MiB values, sequential', bigBytes / ((now() - t) / 1000))
      t = now()
      await concurrent(BIG_VALUES, 4, async i => store.get(big[i].key))
      rec('get1m.c4.Bps', 'B/s', 'remote get of 1 MiB values, 4 in flight', bigBytes / ((now() - t) / 1000))

      // -- 64 x 1 MiB values in flight, puts then gets, against the same bulk baseline
      const big64What = {
        'put1m.c64.Bps': `remote put of 1 MiB values, 64 in flight (${BIG64_VALUES} values over the 3 owners)`,
        'get1m.c64.Bps': 'remote get of 1 MiB values, 64 in flight'
      }
      await attempt('64 x 1 MiB in flight', async () => {
        const { putBps, getBps } = await bigInFlight(store, big64, CONCURRENCY)
        rec('put1m.c64.Bps', 'B/s', big64What['put1m.c64.Bps'], putBps)
        rec('get1m.c64.Bps', 'B/s', big64What['get1m.c64.Bps'], getBps)
      }, () => {
        for (const [name, what] of Object.entries(big64What)) rec(name, 'B/s', what, NaN)
      })

      // -- head-of-line blocking: small gets alone, and while 1 MiB values stream from the same owner
      const holWhat = {
        'hol.alone.p50': 'remote get, 256 B, one owner, sequential, nothing else running, p50',
        'hol.alone.p99': 'the same, p99',
        'hol.mixed.p50': `the same while ${HOL_LARGE_CONCURRENCY} gets of 1 MiB values from that owner are in flight, p50`,
        'hol.mixed.p99': 'the same, p99'
      }
      await attempt('head-of-line', async () => {
        const hol = await headOfLine(store, oneOwner, holLarge.map(p => p.key), HOL_OPS, HOL_LARGE_CONCURRENCY)
        rec('hol.alone.p50', 'ms', holWhat['hol.alone.p50'], hol.alone.p50)
        rec('hol.alone.p99', 'ms', holWhat['hol.alone.p99'], hol.alone.p99)
        rec('hol.mixed.p50', 'ms', holWhat['hol.mixed.p50'], hol.mixed.p50)
        rec('hol.mixed.p99', 'ms', holWhat['hol.mixed.p99'], hol.mixed.p99)
        rec('hol.large.Bps', 'B/s', 'the 1 MiB gets during the mixed run', hol.largeBps)
      }, () => {
        for (const [name, what] of Object.entries(holWhat)) rec(name, 'ms', what, NaN)
        rec('hol.large.Bps', 'B/s', 'the 1 MiB gets during the mixed run', NaN)
      })

      // -- a local MemoryDatastore, for scale
      r = await sequential(SEQ_OPS, async i => local.get(kvKeys[i % KV_KEYS]))
      rec('local.get.p50', 'ms', 'MemoryDatastore get, in process, p50', r.p50)
      r = await sequential(SEQ_OPS, async i => local.put(kvKeys[i % KV_KEYS], fresh[i % KV_KEYS]))
      rec('local.put.p50', 'ms', 'MemoryDatastore put, in process, p50', r.p50)
      rec('local.get.c64.ops', 'ops/s', 'MemoryDatastore get, 64 in flight',
        await concurrent(C64_OPS, CONCURRENCY, async i => local.get(kvKeys[i % KV_KEYS])))
      t = now()
      await drain(local.putMany(pm))
      rec('local.putMany.keys', 'keys/s', 'MemoryDatastore putMany of 100,000 keys', PUT_MANY_KEYS / ((now() - t) / 1000))

      log(`  round ${round}${round === 0 ? ' (warm-up)' : ''}: ${fmt((now() - t0) / 1000)} s`)
    }

    await Promise.all([...echo, ...joined].map(async e => e.close()))

    if (PHASES.has('dht')) {
      await dhtPhase(cluster)
    }
  } finally {
    await cluster.stop()
  }
}

/**
 * The same workload through @libp2p/kad-dht on the same three peers: they run
 * kad-dht in server mode. The DHT's callers are two client-mode nodes here:
 * one puts and another gets, because a DHT get answers from the caller's own
 * record store first and a get from the putting node would never leave it.
 */
async function dhtPhase (cluster: BenchCluster): Promise<void> {
  log(`dht: ${DHT_RUNS} rounds of ${DHT_OPS} puts and gets, sequential and ${DHT_CONCURRENCY} in flight`)
  const writer = await createCallerNode(true)
  const reader = await createCallerNode(true)

  try {
    for (const node of [writer, reader]) {
      for (const peer of cluster.nodes) {
        await node.peerStore.merge(peer.peerId, { multiaddrs: [...(cluster.table.peers.find(p => p.id.equals(peer.peerId))?.addrs ?? [])] })
        await node.dial(peer.peerId)
      }

      await until(() => node.services.dht.routingTable.size >= cluster.nodes.length, 20_000, 'the DHT routing tables')
    }

    const store = cluster.store
    // the raw echo at the same concurrency: the most any request/response protocol can do here
    const echo = await Promise.all(cluster.nodes.map(async n => EchoClient.open(cluster.caller, n.peerId)))
    const payload = echoPayload()
    const dhtRun = async (prefix: string, concurrency: number, round: number, rec: typeof record): Promise<void> => {
      const ops = prefix === 'dht' ? DHT_OPS : DHT_CLUSTER_OPS
      const keys = benchKeys(`${prefix}-${round}-${concurrency}`, ops)
      const values = randomValues(ops, VALUE_SIZE)
      // let the DHT's trailing work (corrections, routing table updates) settle first
      await new Promise(resolve => setTimeout(resolve, 200))

      const tag = concurrency === 1 ? 'seq' : `c${concurrency}`
      const label = concurrency === 1 ? 'sequential' : `${concurrency} in flight`

      if (prefix === 'dht') {
        rec(`dht.put.${tag}.ops`, 'ops/s', `kad-dht put, ${label}`,
          await concurrent(DHT_OPS, concurrency, async i => writer.contentRouting.put(keys[i].uint8Array(), values[i])))
        rec(`dht.get.${tag}.ops`, 'ops/s', `kad-dht get (from a node without a local copy), ${label}`,
          await concurrent(DHT_OPS, concurrency, async i => {
            const value = await reader.contentRouting.get(keys[i].uint8Array())
            if (value.byteLength !== VALUE_SIZE) throw new Error('bad DHT value')
          }))
      } else {
        rec(`cl.put.${tag}.ops`, 'ops/s', `cluster put, same workload (${ops} keys), ${label}`,
          await concurrent(ops, concurrency, async i => store.put(keys[i], values[i])))
        rec(`cl.get.${tag}.ops`, 'ops/s', `cluster get, same workload (${ops} keys), ${label}`,
          await concurrent(ops, concurrency, async i => store.get(keys[i])))
        rec(`echo.${tag}.ops`, 'ops/s', `raw echo, 272 B, ${label} (the ceiling for any request/response)`,
          await concurrent(ops, concurrency, async i => echo[i % echo.length].call(payload)))
      }
    }

    for (let round = 0; round <= DHT_RUNS; round++) {
      const rec = round === 0 ? () => {} : record
      const t0 = now()

      for (const concurrency of [1, DHT_CONCURRENCY]) {
        await dhtRun('dht', concurrency, round, rec)
        await dhtRun('cl', concurrency, round, rec)
      }

      log(`  round ${round}${round === 0 ? ' (warm-up)' : ''}: ${fmt((now() - t0) / 1000)} s`)
    }

    await Promise.all(echo.map(async e => e.close()))
  } finally {
    await writer.stop()
    await reader.stop()
  }
}

/**
 * Sequential remote get p50 on a 9-node cluster against a 3-node one. Both
 * clusters are up at once (12 node processes) and rounds alternate, so the
 * machine is in the same state for both.
 */
async function scalePhase (): Promise<void> {
  log('scale: starting a 3-node and a 9-node cluster (12 node processes)')
  const small = await startCluster(3, { dht: false })
  let large: BenchCluster | undefined

  try {
    large = await startCluster(9, { dht: false })
    const kv = benchPairs('scale', KV_KEYS, VALUE_SIZE)
    const keys = kv.map(p => p.key)
    await drain(small.store.putMany(kv))
    await drain(large.store.putMany(kv))

    // the same sequential pattern as raw echo: what the extra processes cost without the cluster's code
    const echoes = new Map<BenchCluster, { clients: EchoClient[], owners: number[] }>()
    const payload = echoPayload()

    for (const cluster of [small, large]) {
      echoes.set(cluster, {
        clients: await Promise.all(cluster.nodes.map(async n => EchoClient.open(cluster.caller, n.peerId))),
        owners: ownersOf(cluster, keys)
      })
    }

    // every owner process must be JIT-warm: with 9 owners each sees a third of the 3-node share
    for (const cluster of [small, large]) {
      const echo = echoes.get(cluster)!
      await sequential(SCALE_WARMUP_OPS, async i => cluster.store.get(keys[i % KV_KEYS]))
      await sequential(SCALE_WARMUP_OPS, async i => echo.clients[echo.owners[i % KV_KEYS]].call(payload))
    }

    for (let round = 0; round <= RUNS; round++) {
      const rec = round === 0 ? () => {} : record
      const order: Array<[string, BenchCluster]> = round % 2 === 0 ? [['3', small], ['9', large]] : [['9', large], ['3', small]]

      for (const [n, cluster] of order) {
        const echo = echoes.get(cluster)!
        let r = await sequential(SEQ_OPS, async i => cluster.store.get(keys[i % KV_KEYS]))
        rec(`scale${n}.get.seq.p50`, 'ms', `remote get, sequential, p50, ${n}-node cluster (12 node processes up)`, r.p50)
        r = await sequential(SEQ_OPS, async i => echo.clients[echo.owners[i % KV_KEYS]].call(payload))
        rec(`scale${n}.echo.seq.p50`, 'ms', `raw echo to the same ${n} processes, sequential, p50`, r.p50)
      }
    }
  } finally {
    await large?.stop()
    await small.stop()
  }
}

// ---------------------------------------------------------------- report

interface RatioDef {
  spec: string
  what: string
  num: string
  den: string
  /** the ratio must be at most (`max`) or at least (`min`) `bar` */
  kind: 'max' | 'min'
  /** none: reported, not judged */
  bar?: number
  /** divide by this ratio of the same round too (a control measured alongside) */
  per?: { num: string, den: string }
}

const RATIOS: RatioDef[] = [
  { spec: 'A', what: 'remote get p50 / raw echo p50', num: 'get.seq.p50', den: 'echo.seq.p50', kind: 'max', bar: 1.5 },
  { spec: 'B', what: 'remote get p50 / raw echo p50', num: 'get.seq.p50', den: 'echo.seq.p50', kind: 'max', bar: 1.3 },
  { spec: 'A', what: 'get, 64 in flight / raw echo, 64 in flight', num: 'get.c64.ops', den: 'echo.c64.ops', kind: 'min', bar: 0.7 },
  { spec: 'A', what: 'put, 64 in flight / raw echo, 64 in flight', num: 'put.c64.ops', den: 'echo.c64.ops', kind: 'min', bar: 0.7 },
  { spec: 'B', what: 'get, 64 in flight / raw echo, 64 in flight', num: 'get.c64.ops', den: 'echo.c64.ops', kind: 'min', bar: 0.8 },
  { spec: 'B', what: 'put, 64 in flight / raw echo, 64 in flight', num: 'put.c64.ops', den: 'echo.c64.ops', kind: 'min', bar: 0.8 },
  { spec: 'A', what: 'get, 64 in flight, one owner / raw echo, one stream', num: 'get1.c64.ops', den: 'echo1.c64.ops', kind: 'min', bar: 0.7 },
  { spec: 'A', what: 'put, 64 in flight, one owner / raw echo, one stream', num: 'put1.c64.ops', den: 'echo1.c64.ops', kind: 'min', bar: 0.7 },
  { spec: 'B', what: 'get, 64 in flight, one owner / raw echo, one stream', num: 'get1.c64.ops', den: 'echo1.c64.ops', kind: 'min', bar: 0.8 },
  { spec: 'B', what: 'put, 64 in flight, one owner / raw echo, one stream', num: 'put1.c64.ops', den: 'echo1.c64.ops', kind: 'min', bar: 0.8 },
  { spec: '-', what: 'get p50 / raw echo p50, echo sending joined buffers', num: 'get.seq.p50', den: 'echoJ.seq.p50', kind: 'max', bar: 1.3 },
  { spec: '-', what: 'get, 64 in flight / raw echo with joined buffers', num: 'get.c64.ops', den: 'echoJ.c64.ops', kind: 'min', bar: 0.8 },
  { spec: '-', what: 'get, 64 in flight, one owner / raw echo with joined buffers, one stream', num: 'get1.c64.ops', den: 'echoJ1.c64.ops', kind: 'min', bar: 0.8 },
  { spec: '-', what: 'put, 64 in flight, one owner / raw echo with joined buffers, one stream', num: 'put1.c64.ops', den: 'echoJ1.c64.ops', kind: 'min', bar: 0.8 },
  { spec: 'A', what: 'putMany B/s / raw bulk B/s', num: 'putMany.Bps', den: 'bulk.pm.Bps', kind: 'min', bar: 0.2 },
  { spec: 'B', what: 'putMany B/s / raw bulk B/s', num: 'putMany.Bps', den: 'bulk.pm.Bps', kind: 'min', bar: 0.35 },
  { spec: 'B', what: 'get 1 MiB values (sequential) / raw bulk', num: 'get1m.seq.Bps', den: 'bulk.big.Bps', kind: 'min', bar: 0.6 },
  { spec: '-', what: 'get 1 MiB values (4 in flight) / raw bulk', num: 'get1m.c4.Bps', den: 'bulk.big.Bps', kind: 'min', bar: 0.6 },
  { spec: '-', what: 'put 1 MiB values, 64 in flight / raw bulk', num: 'put1m.c64.Bps', den: 'bulk.big.Bps', kind: 'min', bar: 0.6 },
  { spec: '-', what: 'get 1 MiB values, 64 in flight / raw bulk', num: 'get1m.c64.Bps', den: 'bulk.big.Bps', kind: 'min', bar: 0.6 },
  { spec: '-', what: 'small get p50 beside 1 MiB gets / alone (head-of-line)', num: 'hol.mixed.p50', den: 'hol.alone.p50', kind: 'max' },
  { spec: '-', what: 'small get p99 beside 1 MiB gets / alone (head-of-line)', num: 'hol.mixed.p99', den: 'hol.alone.p99', kind: 'max' },
  { spec: 'B', what: 'cluster put / kad-dht put, sequential', num: 'cl.put.seq.ops', den: 'dht.put.seq.ops', kind: 'min', bar: 50 },
  { spec: 'B', what: 'cluster get / kad-dht get, sequential', num: 'cl.get.seq.ops', den: 'dht.get.seq.ops', kind: 'min', bar: 50 },
  { spec: 'B', what: `cluster put / kad-dht put, ${DHT_CONCURRENCY} in flight`, num: `cl.put.c${DHT_CONCURRENCY}.ops`, den: `dht.put.c${DHT_CONCURRENCY}.ops`, kind: 'min', bar: 50 },
  { spec: 'B', what: `cluster get / kad-dht get, ${DHT_CONCURRENCY} in flight`, num: `cl.get.c${DHT_CONCURRENCY}.ops`, den: `dht.get.c${DHT_CONCURRENCY}.ops`, kind: 'min', bar: 50 },
  { spec: '-', what: 'ceiling: raw echo / kad-dht get, sequential', num: 'echo.seq.ops', den: 'dht.get.seq.ops', kind: 'min', bar: 50 },
  { spec: '-', what: `ceiling: raw echo / kad-dht get, ${DHT_CONCURRENCY} in flight`, num: `echo.c${DHT_CONCURRENCY}.ops`, den: `dht.get.c${DHT_CONCURRENCY}.ops`, kind: 'min', bar: 50 },
  { spec: 'B', what: '9-node get p50 / 3-node get p50', num: 'scale9.get.seq.p50', den: 'scale3.get.seq.p50', kind: 'max', bar: 1.1 },
  { spec: '-', what: 'control: raw echo p50, 9 processes / 3 processes', num: 'scale9.echo.seq.p50', den: 'scale3.echo.seq.p50', kind: 'max', bar: 1.1 },
  { spec: '-', what: '9-node / 3-node get p50, net of the control', num: 'scale9.get.seq.p50', den: 'scale3.get.seq.p50', kind: 'max', bar: 1.1, per: { num: 'scale9.echo.seq.p50', den: 'scale3.echo.seq.p50' } },
  ...REPLICATION_RATIOS,
  ...MIGRATION_RATIOS
]

function unitValue (value: number, unit: string): string {
  if (unit === 'B/s') return `${fmt(value / 1e6)} MB/s`
  return fmt(value, unit)
}

interface RssResult {
  date: string
  peakRssBytes: number
  [k: string]: unknown
}

function report (startedAt: Date, seconds: number): void {
  const spreads = new Map<string, Spread>([...metrics].map(([name, m]) => [name, spread(m.values)]))

  const metricRows = [...metrics].map(([name, m]) => {
    const s = spreads.get(name) as Spread
    return [name, m.what, unitValue(s.median, m.unit), unitValue(s.min, m.unit), unitValue(s.max, m.unit)]
  })

  const perOf = (per: { num: string, den: string }, i: number): number =>
    (metrics.get(per.num)?.values[i] ?? NaN) / (metrics.get(per.den)?.values[i] ?? NaN)

  const ratios = RATIOS.flatMap(def => {
    const num = metrics.get(def.num)
    const den = metrics.get(def.den)

    if (num == null || den == null) return []

    const perRound = num.values.map((v, i) => v / den.values[i] / (def.per == null ? 1 : perOf(def.per, i)))
    const s = spread(perRound)
    const pass = def.bar == null ? undefined : def.kind === 'max' ? s.median <= def.bar : s.median >= def.bar
    return [{ ...def, median: s.median, min: s.min, max: s.max, pass }]
  })

  let rss: RssResult | undefined
  const rssFile = `${RESULTS_DIR}rss.json`

  if (existsSync(rssFile)) {
    rss = JSON.parse(readFileSync(rssFile, 'utf8'))
  }

  const ratioRows = ratios.map(r => [
    r.spec, r.what, fmt(r.median), `${fmt(r.min)}–${fmt(r.max)}`, r.bar == null ? '' : `${r.kind === 'max' ? '<=' : '>='} ${r.bar}`, r.pass == null ? '' : r.pass ? 'PASS' : 'FAIL'
  ])

  if (rss != null) {
    const mib = rss.peakRssBytes / 2 ** 20
    ratioRows.push(['B', `query of all keys, caller peak RSS (bench:rss, ${rss.date})`, `${fmt(mib)} MiB`, '', '< 256 MiB', mib < 256 ? 'PASS' : 'FAIL'])
  }

  const info = machineInfo()
  const cpuEnd = machineCpu()
  const selfCpu = process.cpuUsage(selfCpuStart)
  const wallMs = seconds * 1000
  const oursCores = ((selfCpu.user + selfCpu.system) / 1000 + stoppedChildrenCpuMs) / wallMs
  const machineCores = (cpuEnd.busyMs - cpuStart.busyMs) / wallMs
  const machine = {
    cpu: `${info.cores} x ${info.cpu}`,
    memory: info.memory,
    os: info.os,
    node: info.node,
    // cores kept busy on average: by this benchmark's processes, and by everything else
    busyCoresBenchmark: Number(oursCores.toFixed(2)),
    busyCoresOther: Number(Math.max(0, machineCores - oursCores).toFixed(2))
  }

  console.log(`\n## datastore-cluster benchmarks — ${startedAt.toISOString()}\n`)
  console.log(`${machine.cpu}, ${machine.memory}, ${machine.os}, node ${machine.node}`)
  console.log(`cores busy on average: ${machine.busyCoresBenchmark} by the benchmark, ${machine.busyCoresOther} by other processes (noise)`)
  console.log(`3 data nodes in child processes + client-only caller; tcp + noise + yamux on 127.0.0.1; ${VALUE_SIZE} B values; ${RUNS} rounds${QUICK ? ' (--quick)' : ''}; ${fmt(seconds)} s\n`)
  console.log(markdownTable(['spec', 'ratio', 'median', 'min–max', 'bar', ''], ratioRows))
  console.log('')
  console.log(markdownTable(['metric', 'what', 'median', 'min', 'max'], metricRows))

  if (failures.length > 0) {
    console.log(`\nmeasurements that failed (their rounds count as n/a):\n${failures.map(f => `- ${f}`).join('\n')}`)
  }

  mkdirSync(dirname(OUT), { recursive: true })
  writeFileSync(OUT, JSON.stringify({
    date: startedAt.toISOString(),
    seconds: Math.round(seconds),
    machine,
    config: { runs: RUNS, quick: QUICK, phases: [...PHASES], valueSize: VALUE_SIZE, seqOps: SEQ_OPS, c64Ops: C64_OPS, putManyKeys: PUT_MANY_KEYS, bigValues: BIG_VALUES, big64Values: BIG64_VALUES, holOps: HOL_OPS, holLargeConcurrency: HOL_LARGE_CONCURRENCY, dhtOps: DHT_OPS, dhtRuns: DHT_RUNS },
    metrics: Object.fromEntries([...metrics].map(([name, m]) => {
      const s = spreads.get(name) as Spread
      return [name, { unit: m.unit, median: s.median, min: s.min, max: s.max, runs: m.values }]
    })),
    ratios: ratios.map(r => ({ spec: r.spec, what: r.what, median: r.median, min: r.min, max: r.max, bar: r.bar == null ? null : `${r.kind === 'max' ? '<=' : '>='} ${r.bar}`, pass: r.pass ?? null })),
    failures,
    rss: rss ?? null
  }, null, 2) + '\n')
  log(`\nwrote ${OUT}`)
}

// ---------------------------------------------------------------- main

const exitCode = runCompiled(import.meta.url)
const startedAt = new Date()
const t0 = now()
const cpuStart = machineCpu()
const selfCpuStart = process.cpuUsage()

if (exitCode != null) {
  process.exitCode = exitCode
} else {
  try {
    if (PHASES.has('main') || PHASES.has('dht')) {
      await mainPhase()
    }

    if (PHASES.has('scale')) {
      await scalePhase()
    }

    if (PHASES.has('repair')) {
      await repairPhase(QUICK ? 1 : Math.min(RUNS, 2), record, log)
    }

    if (PHASES.has('replication')) await replicationPhase(QUICK ? 1 : Math.min(RUNS, 3), SEQ_OPS, C64_OPS, record, log)

    if (PHASES.has('migration')) await migrationPhase(QUICK ? 1 : Math.min(RUNS, 3), QUICK, record, log)

    report(startedAt, (now() - t0) / 1000)
  } catch (err) {
    console.error(err)
    process.exitCode = 1
  }

  // libp2p may leave timers behind; the figures are written, so end here
  setTimeout(() => process.exit(), 100).unref()
}
