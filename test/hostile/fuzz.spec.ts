/**
 * The data protocol fuzzed from three seats: a member of the slot table, an
 * allowed client, and a stranger. The target data node runs in a child
 * process; an honest member and an honest client keep working against it
 * throughout. After each run: the target is alive and recorded no uncaught
 * error, every fuzzed stream was finished and closed, a stranger was never
 * answered anything but UNAUTHORIZED, nothing was answered INTERNAL, the
 * honest callers never failed, and the target retained at most
 * MEMORY_BOUND more than before.
 *
 * FUZZ_SEED=<n> reproduces a run (the seed is printed), FUZZ_CASES=<n> sets
 * the cases per seat (default 1000; e.g. 200000 for a long run),
 * FUZZ_ROLES=member,client,stranger picks the seats, FUZZ_ONLY=<case> runs
 * one case of the seeded sequence.
 */

import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { lpStream } from '@libp2p/utils'
import { tableToMessage } from '../../src/rpc/table.js'
import { PROTOCOL, keySlot, signTable } from '../../src/index.js'
import { Request, Response } from '../../src/pb/message.js'
import { Key } from 'interface-datastore'
import { runFuzz } from '../utils/hostile/fuzzer.js'
import { MEMORY_BOUND, createHostileCluster, describeMemory, honestRoundTrip, startHonestLoad } from '../utils/hostile/harness.js'
import { Prng, seedFromEnv } from '../utils/hostile/prng.js'
import { RawStream } from '../utils/hostile/raw.js'
import { MemoryWatch } from '../utils/hostile/target-process.js'
import type { FuzzContext, FuzzReport } from '../utils/hostile/fuzzer.js'
import type { HostileCluster } from '../utils/hostile/harness.js'
import type { Libp2p } from '@libp2p/interface'

const CASES = Number(process.env.FUZZ_CASES ?? 1000)
const ROLES = new Set((process.env.FUZZ_ROLES ?? 'member,client,stranger').split(','))
const ONLY = process.env.FUZZ_ONLY == null ? undefined : Number(process.env.FUZZ_ONLY)
const SEED = seedFromEnv()
const MAX_MESSAGE_SIZE = 4 * 1024 * 1024
/** The target gives up waiting on a caller this soon; cases may take a few times that */
const REQUEST_TIMEOUT = 2_000
const CASE_TIMEOUT = 4 * REQUEST_TIMEOUT
// about 3-6 ms per case on two cores, far more with findings that time out
const TEST_TIMEOUT = 120_000 + CASES * 20

describe('fuzzing the data protocol (target in a child process)', () => {
  let cluster: HostileCluster
  let ctx: FuzzContext

  beforeAll(async () => {
    console.log(`fuzz: FUZZ_SEED=${SEED} FUZZ_CASES=${CASES} (per seat)`)
    cluster = await createHostileCluster({ options: { maxMessageSize: MAX_MESSAGE_SIZE, requestTimeout: REQUEST_TIMEOUT } })
    const owned = cluster.targetKeys('fuzz', 64)
    const foreign: Key[] = []

    for (let i = 0; foreign.length < 16; i++) {
      const key = new Key(`/fuzz/x${i}`)
      if (!cluster.table.primary(keySlot(key)).equals(cluster.target.peerId)) foreign.push(key)
    }

    ctx = {
      epoch: cluster.table.epoch,
      maxMessageSize: MAX_MESSAGE_SIZE,
      ownedKeys: owned.map(k => k.uint8Array()),
      foreignKeys: foreign.map(k => k.uint8Array()),
      bigKey: cluster.targetKeys('fuzz-big', 1)[0].uint8Array(),
      table: tableToMessage(cluster.table),
      signedTables: [
        cluster.signed.bytes,
        (await signTable(cluster.table.withEpoch(0), cluster.admin)).bytes,
        (await signTable(cluster.table.withEpoch(2), await generateKeyPair('Ed25519'))).bytes,
        (await signTable(cluster.table.withEpoch(Number.MAX_SAFE_INTEGER), await generateKeyPair('Ed25519'))).bytes
      ]
    }

    // warm up: JIT, connections, buffers, so the baseline is not a cold process
    const warm = startHonestLoad(cluster, 'warm-up')
    await new Promise(resolve => setTimeout(resolve, 1500))
    await warm.stop()
  }, 60_000)

  afterAll(async () => {
    await cluster?.stop()
  })

  async function fuzzAs (role: string, attacker: Libp2p, stranger: boolean): Promise<void> {
    const { target } = cluster
    // each seat gets its own stream of cases, reproducible from the one seed
    const rng = new Prng((SEED + role.charCodeAt(0) * 0x9e37) >>> 0)
    const baseline = await target.memory()
    const watch = new MemoryWatch(target, 500)
    const load = startHonestLoad(cluster, role)
    let report: FuzzReport | undefined

    try {
      report = await runFuzz(rng, ctx, async () => RawStream.open(attacker, target.peerId, { maxFrame: MAX_MESSAGE_SIZE * 2 }), {
        cases: CASES,
        concurrency: 8,
        caseTimeoutMs: CASE_TIMEOUT,
        stranger,
        only: ONLY,
        keepGoing: () => target.alive,
        log: (line) => { console.log(`fuzz ${role}:${line}`) }
      })
    } finally {
      await watch.sample().catch(() => {})
    }

    const peak = await watch.stop()
    const honest = await load.stop()
    const errors = target.alive ? await target.errors() : []

    console.log(`fuzz ${role} (FUZZ_SEED=${SEED}): ${report.ran} cases ${JSON.stringify(report.byKind)}; ` +
      `${report.closedByTarget} streams closed by the target, ${report.answers} answers, ${report.dialFailures} dial failures, ${report.findings.length} findings; ` +
      `honest ops ${honest.ops} (slowest ${honest.maxLatencyMs} ms)`)
    console.log(describeMemory(`fuzz ${role}`, baseline, peak))

    for (const f of report.findings.slice(0, 30)) {
      console.log(`  finding: case ${f.case} [${f.kind}] ${f.note}: ${f.what}`)
    }

    // soft: every kind of failure is reported, not only the first
    expect.soft(target.alive, target.describeExit()).toBe(true)
    expect.soft(errors, 'uncaught errors in the target').toEqual([])
    expect.soft(report.findings.map(f => `case ${f.case} [${f.kind}] ${f.note}: ${f.what}`), `findings (FUZZ_SEED=${SEED})`).toEqual([])
    expect.soft(honest.failures, 'honest operations that failed during the fuzz').toEqual([])
    expect.soft(honest.ops).toBeGreaterThan(0)
    expect.soft(peak.rss - baseline.rss, describeMemory('rss', baseline, peak)).toBeLessThan(MEMORY_BOUND)
    expect.soft(peak.arrayBuffers - baseline.arrayBuffers, describeMemory('arrayBuffers', baseline, peak)).toBeLessThan(MEMORY_BOUND)
    await honestRoundTrip(cluster, role)

    // no table the fuzzer sent was adopted: the target still holds the admin's first one
    const lp = lpStream(await cluster.member.libp2p.dialProtocol(cluster.target.peerId, PROTOCOL))
    await lp.write(Request.encode({ id: 1, type: Request.Type.GET_TABLE, epoch: 1 }))
    const res = Response.decode(await lp.read())
    expect.soft(res.epoch, 'the target\'s table epoch').toBe(1)
    expect.soft(Uint8Array.from(res.signedTable ?? []), 'the target\'s signed table').toEqual(Uint8Array.from(cluster.signed.bytes))
    await lp.unwrap().close().catch(() => {})
  }

  it.runIf(ROLES.has('member'))('as a member of the slot table', async () => {
    await fuzzAs('member', cluster.evilMember, false)
  }, TEST_TIMEOUT)

  it.runIf(ROLES.has('client'))('as an allowed client', async () => {
    await fuzzAs('client', cluster.evilClient, false)
  }, TEST_TIMEOUT)

  it.runIf(ROLES.has('stranger'))('as a stranger (neither member nor client)', async () => {
    await fuzzAs('stranger', cluster.strangers[0], true)
  }, TEST_TIMEOUT)
})
