/**
 * A replicated cluster of real `serve` processes for fault tests: configs
 * written by `init` (with extra client identities allowed by every node),
 * nodes started, killed (SIGKILL), paused (SIGSTOP) and resumed, restarted
 * on the same config and store directory, and clients in the test process.
 */

import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { toString as uint8ArrayToString } from 'uint8arrays/to-string'
import { ADMIN_KEY_FILE, readAdminKey } from '../../../src/cli/admin-key.js'
import { openClient } from '../../../src/cli/client.js'
import { loadConfig, writeConfigFile, writeKeyFile } from '../../../src/cli/config.js'
import { SlotTable, signTable } from '../../../src/index.js'
import { afterAll, beforeAll } from 'vitest'
import { BUILD_TIMEOUT, buildCli, freeBasePort, runCli, startServe } from '../../cli/utils/cli.js'
import type { ServeProcess } from '../../cli/utils/cli.js'
import type { ClientConfigJSON, NodeConfigJSON, OptionsJSON } from '../../../src/cli/config.js'
import type { ClusterDatastore } from '../../../src/datastore/cluster-datastore.js'
import type { Libp2p, PeerId } from '@libp2p/interface'

/** A seeded pseudo-random generator (mulberry32): the same seed gives the same run of choices */
export function seededRandom (seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6D2B79F5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** The seed of a test: `FAULT_SEED` if set, else `fallback` */
export function seedFromEnv (fallback: number): number {
  const raw = process.env.FAULT_SEED
  return raw != null && /^\d+$/.test(raw) ? Number(raw) : fallback
}

/** A positive integer from the environment, else `fallback` */
export function intFromEnv (name: string, fallback: number): number {
  const raw = process.env[name]
  return raw != null && /^\d+$/.test(raw) && Number(raw) > 0 ? Number(raw) : fallback
}

export const sleep = async (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms))

/** A client in the test process, with its own identity */
export interface FaultClient {
  name: string
  libp2p: Libp2p
  store: ClusterDatastore
  close(): Promise<void>
}

/** One record as an owner holds it: version (hex), tombstone, value (text) */
export interface HeldRecord {
  version: string
  tombstone: boolean
  value?: string
}

export interface FaultClusterInit {
  /** The compiled CLI (buildCli().bin) */
  bin: string
  nodes: number
  /** `init --replicas`; init's default when absent */
  replicas?: number
  /** Client identities allowed by every node, besides init's client.json */
  clients: number
  /** Options written into every config (nodes and clients) */
  options?: OptionsJSON
}

/**
 * `nodes` serve processes on LevelDB, configured by `init --replicas`
 */
export class FaultCluster {
  readonly dir: string
  readonly nodeConfigs: string[]
  readonly clientConfigs: string[]
  readonly procs: Array<ServeProcess | undefined>
  /** Every process ever started, for cleanup */
  private readonly started: ServeProcess[] = []
  private readonly clients: FaultClient[] = []
  readonly peers: PeerId[] = []
  /** What init printed */
  initOutput = ''

  private constructor (dir: string, nodeConfigs: string[], clientConfigs: string[]) {
    this.dir = dir
    this.nodeConfigs = nodeConfigs
    this.clientConfigs = clientConfigs
    this.procs = nodeConfigs.map(() => undefined)
  }

  static async create (init: FaultClusterInit): Promise<FaultCluster> {
    const dir = await mkdtemp(join(tmpdir(), 'datastore-cluster-fault-'))
    const basePort = await freeBasePort(init.nodes)
    const replicas = init.replicas == null ? [] : ['--replicas', `${init.replicas}`]
    const res = await runCli(init.bin, ['init', '--nodes', `${init.nodes}`, ...replicas, '--base-port', `${basePort}`, dir])

    if (res.code !== 0) {
      throw new Error(`init failed (${res.code}): ${res.stdout}\n${res.stderr}`)
    }

    const nodeConfigs = Array.from({ length: init.nodes }, (_, i) => join(dir, `node-${i + 1}.json`))
    const clientConfigs = [join(dir, 'client.json')]
    const template = JSON.parse(await readFile(clientConfigs[0], 'utf8')) as ClientConfigJSON
    const extraIds: string[] = []

    for (let i = 2; i <= init.clients; i++) {
      const key = await generateKeyPair('Ed25519')
      const id = peerIdFromPrivateKey(key).toString()
      extraIds.push(id)
      await writeKeyFile(join(dir, `client-${i}.key`), key)
      const file = join(dir, `client-${i}.json`)
      await writeConfigFile(file, { ...template, peerId: id, privateKeyFile: `client-${i}.key` })
      clientConfigs.push(file)
    }

    // the extra clients join the table's clients, signed again with the admin key init wrote
    const table = SlotTable.fromJSON(template.slots)
    const withClients = SlotTable.fromRanges({ ...table.toJSON(), clients: [...table.clients, ...extraIds.map(id => ({ id }))] })
    const signed = await signTable(withClients, await readAdminKey(join(dir, ADMIN_KEY_FILE)))

    for (const file of [...nodeConfigs, ...clientConfigs]) {
      const config = JSON.parse(await readFile(file, 'utf8')) as NodeConfigJSON | ClientConfigJSON
      config.slots = withClients.toJSON()
      config.signedTable = Buffer.from(signed.bytes).toString('base64')

      if (init.options != null) {
        config.options = { ...config.options, ...init.options }
      }

      await writeFile(file, JSON.stringify(config, null, 2) + '\n')
    }

    const cluster = new FaultCluster(dir, nodeConfigs, clientConfigs)
    cluster.initOutput = res.stdout

    for (const file of nodeConfigs) {
      cluster.peers.push((await loadConfig(file, 'node')).peerId)
    }

    return cluster
  }

  /** Start (or restart, on the same config and store directory) node `i` and wait until it is ready */
  async start (i: number, bin: string): Promise<ServeProcess> {
    if (this.running(i)) {
      throw new Error(`node ${i + 1} is running`)
    }

    const proc = await startServe(bin, this.nodeConfigs[i])
    this.procs[i] = proc
    this.started.push(proc)
    return proc
  }

  running (i: number): boolean {
    const proc = this.procs[i]
    return proc != null && proc.child.exitCode == null && proc.child.signalCode == null
  }

  /** kill -9 node `i` and wait until it is gone */
  async kill (i: number): Promise<void> {
    const proc = this.procs[i]

    if (proc == null) {
      return
    }

    proc.child.kill('SIGKILL')
    await proc.exited
    this.procs[i] = undefined
  }

  pause (i: number): void {
    this.procs[i]?.child.kill('SIGSTOP')
  }

  resume (i: number): void {
    this.procs[i]?.child.kill('SIGCONT')
  }

  /** A client on client config `i`, started as the client commands start theirs */
  async client (i: number): Promise<FaultClient> {
    const io = { stdin: Readable.from([]), stdout: process.stdout, stderr: process.stderr, env: {}, cwd: this.dir }
    const opened = await openClient(this.clientConfigs[i], io)
    const client = { name: `client-${i + 1}`, libp2p: opened.libp2p, store: opened.store, close: opened.close }
    this.clients.push(client)
    return client
  }

  /**
   * Every record node `peer` holds under `prefix` (tombstones included), by
   * key, as its owner answers REPLICA_QUERY to `via`'s coordinator
   */
  async held (via: FaultClient, peer: PeerId, prefix: string): Promise<Map<string, HeldRecord>> {
    // the coordinator's per-owner query is private: tests read one owner's records through it
    const coordinator = (via.store as unknown as { coordinator: { queryOwner(peer: PeerId, prefix: string | undefined, keysOnly: boolean, epoch: number, options: object): AsyncIterable<{ key: Uint8Array, value?: Uint8Array, version: Uint8Array, tombstone: boolean }> } }).coordinator
    const out = new Map<string, HeldRecord>()

    for await (const record of coordinator.queryOwner(peer, prefix, false, via.store.slots.epoch, { signal: AbortSignal.timeout(30_000) })) {
      out.set(uint8ArrayToString(record.key), {
        version: uint8ArrayToString(record.version, 'base16'),
        tombstone: record.tombstone,
        value: record.tombstone || record.value == null ? undefined : uint8ArrayToString(record.value)
      })
    }

    return out
  }

  /** Stop clients and every process (SIGCONT first, for paused ones), remove the directory */
  async cleanup (): Promise<void> {
    await Promise.allSettled(this.clients.map(async c => { await c.close() }))

    await Promise.all(this.started.map(async proc => {
      if (proc.child.exitCode == null && proc.child.signalCode == null) {
        proc.child.kill('SIGCONT')
        proc.child.kill('SIGKILL')
        await proc.exited
      }
    }))

    await rm(this.dir, { recursive: true, force: true })
  }
}

/**
 * Where two listings differ: keys missing from one side or held at another
 * version or value (at most `limit`, for messages)
 */
export function differences (a: Map<string, HeldRecord>, b: Map<string, HeldRecord>, limit = 5): string[] {
  const out: string[] = []

  for (const [key, record] of a) {
    const other = b.get(key)

    if (other == null) {
      out.push(`${key}: only on the first (${record.tombstone ? 'tombstone' : record.value ?? ''})`)
    } else if (other.version !== record.version || other.tombstone !== record.tombstone || other.value !== record.value) {
      out.push(`${key}: ${record.version.slice(0, 16)}/${record.value ?? 'tombstone'} vs ${other.version.slice(0, 16)}/${other.value ?? 'tombstone'}`)
    }

    if (out.length >= limit) {
      return out
    }
  }

  for (const key of b.keys()) {
    if (!a.has(key)) {
      out.push(`${key}: only on the second`)
    }

    if (out.length >= limit) {
      break
    }
  }

  return out
}

/** Options of the fault and history tests: faster failure detection and repair than the defaults, so the tests stay short */
export const FAST_OPTIONS: OptionsJSON = { heartbeatInterval: 300, suspectAfter: 3, antiEntropyInterval: 1000, requestTimeout: 10_000 }

/**
 * Build the CLI, write a cluster of 3 nodes with 3 replicas and `clients`
 * client identities, start the nodes and the clients. Call in beforeAll.
 */
export async function startFaultCluster (clients: number): Promise<{ bin: string, cluster: FaultCluster, clients: FaultClient[] }> {
  const bin = (await buildCli()).bin
  const cluster = await FaultCluster.create({ bin, nodes: 3, replicas: 3, clients, options: FAST_OPTIONS })
  const started: FaultClient[] = []

  try {
    for (let i = 0; i < 3; i++) {
      await cluster.start(i, bin)
    }

    for (let i = 0; i < clients; i++) {
      started.push(await cluster.client(i))
    }
  } catch (err) {
    await cluster.cleanup()
    throw err
  }

  return { bin, cluster, clients: started }
}

/**
 * A fault cluster for the tests of one describe block: started in beforeAll,
 * removed in afterAll. The fields are filled once beforeAll ran.
 */
export function useFaultCluster (clients: number): { bin: string, cluster: FaultCluster, clients: FaultClient[] } {
  const state = { bin: '', cluster: undefined as unknown as FaultCluster, clients: [] as FaultClient[] }

  beforeAll(async () => {
    Object.assign(state, await startFaultCluster(clients))
  }, BUILD_TIMEOUT)

  afterAll(async () => {
    await state.cluster?.cleanup()
  })

  return state
}
