/**
 * The hostile-peer set-up: the target data node in a child process, and in
 * the test process an honest member and an honest client that keep working
 * against it, plus the attackers' libp2p nodes (a member of the slot table,
 * an allowed client, strangers).
 */

import { randomFillSync } from 'node:crypto'
import { generateKeyPair, publicKeyToProtobuf } from '@libp2p/crypto/keys'
import { multiaddr } from '@multiformats/multiaddr'
import { MemoryDatastore } from 'datastore-core'
import { Key } from 'interface-datastore'
import { ClusterDatastore, SlotTable, keySlot, signTable } from '../../../src/index.js'
import { createNode } from '../cluster.js'
import { MemoryWatch, TargetProcess, mib } from './target-process.js'
import type { ClusterDatastoreOptions, SignedSlotTable } from '../../../src/index.js'
import type { Libp2p, PrivateKey } from '@libp2p/interface'

const MiB = 1024 * 1024

/**
 * How much more the target may retain (RSS and array buffers, after a forced
 * GC) while under attack than before it. Generous on purpose: an owner that
 * bounds what it queues per stream (answers, one partial frame of at most
 * maxMessageSize, the yamux window of at most 16 MiB) stays well under it
 * for the few streams each attack uses, while an owner that queues without
 * bound goes far over, because every attack asks for well over 1 GiB.
 */
export const MEMORY_BOUND = 256 * MiB

export interface HostileCluster {
  target: TargetProcess
  table: SlotTable
  /** The admin key every node trusts (attackers do not hold it), and the table as it signed it */
  admin: PrivateKey
  signed: SignedSlotTable
  /** Honest member: owns slots, calls the target */
  member: { libp2p: Libp2p, store: ClusterDatastore }
  /** Honest client: allowed by every owner */
  client: { libp2p: Libp2p, store: ClusterDatastore }
  /** Attackers */
  evilMember: Libp2p
  evilClient: Libp2p
  strangers: Libp2p[]
  /** Keys the target owns (primary), `/<prefix>/<i>` */
  targetKeys(prefix: string, count: number): Key[]
  stop(): Promise<void>
}

export interface HostileClusterOptions {
  /** Options of the target's ClusterDatastore */
  options?: ClusterDatastoreOptions
  /**
   * Options of the honest member's and client's ClusterDatastore (default: the
   * target's maxMessageSize, the default requestTimeout of 10 s: an honest
   * call that waits that long on the target counts as not served)
   */
  honestOptions?: ClusterDatastoreOptions
  strangers?: number
  /** Owners per slot range over the target, the honest member and the evil member (default 1) */
  replicas?: number
}

export async function createHostileCluster (init: HostileClusterOptions = {}): Promise<HostileCluster> {
  const target = await TargetProcess.spawn()
  const memberNode = await createNode()
  const evilMember = await createNode()
  const clientNode = await createNode()
  const evilClient = await createNode()
  const strangers = await Promise.all(Array.from({ length: init.strangers ?? 1 }, async () => createNode()))

  const table = SlotTable.even([
    { id: target.peerId, addrs: target.addrs },
    { id: memberNode.peerId, addrs: memberNode.getMultiaddrs() },
    { id: evilMember.peerId, addrs: evilMember.getMultiaddrs() }
  ], { epoch: 1, replicas: init.replicas, clients: [{ id: clientNode.peerId }, { id: evilClient.peerId }] })
  // tables change only by the admin key, which no attacker holds
  const admin = await generateKeyPair('Ed25519')
  const signed = await signTable(table, admin)
  const options = init.options ?? {}
  const honestOptions = { ...(init.honestOptions ?? { maxMessageSize: options.maxMessageSize }), adminKey: admin.publicKey }

  await target.call('start', {
    table: table.toJSON(),
    options,
    adminKey: Buffer.from(publicKeyToProtobuf(admin.publicKey)).toString('base64'),
    signedTable: Buffer.from(signed.bytes).toString('base64')
  })

  // the attackers know where the target is (the honest nodes learn it from
  // the table), and every node connects now: libp2p accepts only a few new
  // inbound connections per second from one address (127.0.0.1 here)
  for (const node of [memberNode, clientNode, evilMember, evilClient, ...strangers]) {
    await node.peerStore.merge(target.peerId, { multiaddrs: target.addrs.map(a => multiaddr(a)) })

    for (let attempt = 0; ; attempt++) {
      try {
        await node.dial(target.peerId)
        break
      } catch (err) {
        if (attempt >= 10) throw err
        await new Promise(resolve => setTimeout(resolve, 500))
      }
    }
  }

  const member = new ClusterDatastore(memberNode, new MemoryDatastore(), signed, honestOptions)
  await member.start()
  const client = new ClusterDatastore(clientNode, new MemoryDatastore(), signed, honestOptions)
  await client.start()

  return {
    target,
    table,
    admin,
    signed,
    member: { libp2p: memberNode, store: member },
    client: { libp2p: clientNode, store: client },
    evilMember,
    evilClient,
    strangers,
    targetKeys (prefix, count) {
      const out: Key[] = []

      for (let i = 0; out.length < count; i++) {
        const key = new Key(`/${prefix}/${i}`)

        if (table.primary(keySlot(key)).equals(target.peerId)) {
          out.push(key)
        }
      }

      return out
    },
    async stop () {
      await member.stop()
      await client.stop()
      await Promise.all([memberNode, clientNode, evilMember, evilClient, ...strangers].map(async n => { await n.stop() }))
      await target.stop()
    }
  }
}

export interface HonestSummary {
  ops: number
  failures: string[]
  /** Slowest operation, ms (reported, never asserted) */
  maxLatencyMs: number
}

export interface HonestLoad {
  /** Operations that succeeded so far */
  readonly ops: number
  stop(): Promise<HonestSummary>
}

/**
 * Honest callers working against the target's keys until stopped: each
 * worker puts values to its own keys, reads them back and compares, with a
 * `has` and a `getMany` now and then. Every failure is kept (its first 20
 * messages).
 */
export function startHonestLoad (cluster: HostileCluster, name: string, workersPerCaller = 2): HonestLoad {
  const callers = [['client', cluster.client.store], ['member', cluster.member.store]] as const
  const failures: string[] = []
  let failureCount = 0
  let ops = 0
  let maxLatencyMs = 0
  let running = true
  const started = Date.now()

  const fail = (what: string, err: any): void => {
    failureCount++

    if (failures.length < 20) {
      failures.push(`${what} at +${Date.now() - started} ms: ${err?.name ?? 'Error'}: ${err?.message ?? String(err)}`)
    }
  }

  const workers = callers.flatMap(([who, store]) => Array.from({ length: workersPerCaller }, async (_, w) => {
    const keys = cluster.targetKeys(`honest-${name}-${who}-${w}`, 16)
    const values = new Map<string, Uint8Array>()

    for (let round = 0; running; round++) {
      const key = keys[round % keys.length]
      const t0 = Date.now()

      try {
        const value = randomFillSync(new Uint8Array(64 + (round * 997) % 4096))
        await store.put(key, value)
        values.set(key.toString(), value)
        const back = await store.get(key)

        if (!equal(back, value)) {
          throw new Error(`read back ${back.byteLength} bytes that differ from the ${value.byteLength} put`)
        }

        if (round % 10 === 0 && !(await store.has(key))) {
          throw new Error('has() is false for a key just put')
        }

        if (round % 20 === 19) {
          const some = keys.slice(0, 4).filter(k => values.has(k.toString()))

          for await (const pair of store.getMany(some)) {
            if (!equal(pair.value, values.get(pair.key.toString()) as Uint8Array)) {
              throw new Error(`getMany returned a wrong value for ${pair.key.toString()}`)
            }
          }
        }

        ops++
      } catch (err) {
        fail(`${who} worker ${w}, ${key.toString()}`, err)
        // do not spin on a dead target
        await new Promise(resolve => setTimeout(resolve, 100))
      }

      maxLatencyMs = Math.max(maxLatencyMs, Date.now() - t0)
    }
  }))

  return {
    get ops () { return ops },
    async stop () {
      running = false
      await Promise.all(workers)

      if (failureCount > failures.length) {
        failures.push(`... ${failureCount - failures.length} more`)
      }

      return { ops, failures, maxLatencyMs }
    }
  }
}

export function equal (a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && Buffer.compare(a, b) === 0
}

/**
 * One honest round trip after an attack, through the client and the member,
 * on fresh keys
 */
export async function honestRoundTrip (cluster: HostileCluster, tag: string): Promise<void> {
  const [a, b] = cluster.targetKeys(`after-${tag}`, 2)
  const value = randomFillSync(new Uint8Array(1024))
  await cluster.client.store.put(a, value)
  await cluster.member.store.put(b, value)

  if (!equal(await cluster.member.store.get(a), value) || !equal(await cluster.client.store.get(b), value)) {
    throw new Error('an honest round trip read back a different value')
  }
}

/** A one-line account of memory figures for the test output */
export function describeMemory (label: string, baseline: { rss: number, arrayBuffers: number }, peak: { rss: number, arrayBuffers: number, heapUsed: number, maxRss: number }): string {
  return `${label}: after-GC rss ${mib(baseline.rss)} -> max ${mib(peak.rss)} (+${mib(peak.rss - baseline.rss)}), ` +
    `arrayBuffers ${mib(baseline.arrayBuffers)} -> max ${mib(peak.arrayBuffers)} (+${mib(peak.arrayBuffers - baseline.arrayBuffers)}), ` +
    `heapUsed max ${mib(peak.heapUsed)}, peak RSS ${mib(peak.maxRss)}; bound +${mib(MEMORY_BOUND)}`
}

export interface AttackOutcome {
  baseline: { rss: number, arrayBuffers: number }
  peak: { rss: number, arrayBuffers: number, heapUsed: number, maxRss: number }
  honest: HonestSummary
  /** Uncaught errors the target recorded during the attack */
  errors: string[]
  alive: boolean
  exit: string
}

/**
 * Run an attack while the honest callers work and the target's memory is
 * sampled: `attack` starts it and returns how to end it; the attack is held
 * for `holdMs` before the last memory sample is taken and it is ended.
 */
export async function underAttack (cluster: HostileCluster, name: string, attack: () => Promise<() => void>, holdMs = 3000): Promise<AttackOutcome> {
  const { target } = cluster
  const errorsBefore = (await target.errors()).length
  const baseline = await target.memory()
  const load = startHonestLoad(cluster, name)
  const watch = new MemoryWatch(target, 250)
  let end: (() => void) | undefined
  let failed: unknown

  try {
    end = await attack()
    await new Promise(resolve => setTimeout(resolve, holdMs))
    await watch.sample().catch(() => {})
  } catch (err) {
    failed = err
  }

  const peak = await watch.stop()
  const honest = await load.stop()
  end?.()
  const errors = target.alive ? (await target.errors()).slice(errorsBefore) : []
  console.log(`${name}: honest ops ${honest.ops} (slowest ${honest.maxLatencyMs} ms), ${honest.failures.length} failures; target ${target.alive ? 'alive' : 'DEAD'}, ${errors.length} uncaught errors`)
  console.log(describeMemory(name, baseline, peak))

  if (failed != null) {
    throw failed as Error
  }

  return { baseline, peak, honest, errors, alive: target.alive, exit: target.describeExit() }
}

/**
 * The assertions every attack shares: alive, no uncaught error, honest
 * callers served during (no failure) and after, memory under the bound.
 * Soft, so that every kind of failure is reported.
 */
export async function expectSurvived (expect: any, cluster: HostileCluster, name: string, outcome: AttackOutcome): Promise<void> {
  expect.soft(outcome.alive, outcome.exit).toBe(true)
  expect.soft(outcome.errors, `uncaught errors in the target during ${name}`).toEqual([])
  expect.soft(outcome.honest.failures, `honest operations that failed during ${name}`).toEqual([])
  expect.soft(outcome.honest.ops, `honest operations that succeeded during ${name}`).toBeGreaterThan(0)
  expect.soft(outcome.peak.rss - outcome.baseline.rss, describeMemory(`${name}, rss`, outcome.baseline, outcome.peak)).toBeLessThan(MEMORY_BOUND)
  expect.soft(outcome.peak.arrayBuffers - outcome.baseline.arrayBuffers, describeMemory(`${name}, arrayBuffers`, outcome.baseline, outcome.peak)).toBeLessThan(MEMORY_BOUND)

  if (outcome.alive) {
    await honestRoundTrip(cluster, name.replace(/\W+/g, '-'))
  }
}
