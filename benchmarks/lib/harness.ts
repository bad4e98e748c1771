/**
 * Spawns data nodes as child processes and builds a cluster over them with a
 * client-only caller in this process, so every operation the benchmark times
 * is remote.
 */

import { fork } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { identify } from '@libp2p/identify'
import { kadDHT } from '@libp2p/kad-dht'
import { noise } from '@libp2p/noise'
import { peerIdFromString } from '@libp2p/peer-id'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { yamux } from '@libp2p/yamux'
import { MemoryDatastore } from 'datastore-core'
import { createLibp2p } from 'libp2p'
import { CONNECTION_MONITOR, ClusterDatastore, SlotTable } from '../../src/index.js'
import { CHILD_ENV, dhtOptions } from './node-process.js'
import { CommandChannel } from './ipc.js'
import { handleRawProtocols } from './raw.js'
import type { ClusterDatastoreOptions } from '../../src/index.js'
import type { ChildProcess } from 'node:child_process'
import type { ClusterStart, LayoutProgress, NodeInit, NodeStats, Populate, SignedStart } from './node-process.js'
import type { Libp2p, PeerId } from '@libp2p/interface'

// node-process.ts under tsx, node-process.js in a compiled build
const CHILD = fileURLToPath(new URL(`./node-process${import.meta.url.slice(import.meta.url.lastIndexOf('.'))}`, import.meta.url))

/** CPU time (ms) used by node processes that have stopped */
export let stoppedChildrenCpuMs = 0

/** A data node in a child process */
export class NodeProcess {
  readonly child: ChildProcess
  peerId!: PeerId
  addrs: string[] = []
  private readonly commands: CommandChannel

  private constructor (child: ChildProcess) {
    this.child = child
    this.commands = new CommandChannel(child, () => `node process ${child.pid}`)
  }

  /**
   * Fork a node process (it inherits this process's tsx loader). With
   * `BENCH_CPU_PROF_DIR` set, it writes a V8 CPU profile there when it exits.
   */
  static async spawn (init: NodeInit): Promise<NodeProcess> {
    const execArgv = [...process.execArgv.filter(a => !a.startsWith('--cpu-prof'))]
    const profDir = process.env.BENCH_CPU_PROF_DIR

    if (profDir != null && profDir !== '') {
      execArgv.push('--cpu-prof', `--cpu-prof-dir=${profDir}`)
    }

    const child = fork(CHILD, [], {
      execArgv,
      env: { ...process.env, [CHILD_ENV]: '1' },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc']
    })
    const node = new NodeProcess(child)

    await node.commands.ready

    const { peerId, addrs } = await node.call('init', init)
    node.peerId = peerIdFromString(peerId)
    node.addrs = addrs
    return node
  }

  async call (cmd: 'init', args: NodeInit): Promise<{ peerId: string, addrs: string[] }>
  async call (cmd: 'start', args: ClusterStart): Promise<null>
  async call (cmd: 'start-signed', args: SignedStart): Promise<null>
  async call (cmd: 'adopt', args: { signedTable: string }): Promise<boolean>
  async call (cmd: 'layout'): Promise<LayoutProgress>
  async call (cmd: 'populate', args: Populate): Promise<{ keys: number, bytes: number }>
  async call (cmd: 'stats'): Promise<NodeStats>
  async call (cmd: 'stop'): Promise<null>
  async call (cmd: 'profile-start'): Promise<null>
  async call (cmd: 'profile-stop', args: { path: string }): Promise<null>
  async call (cmd: string, args?: unknown): Promise<any> {
    return this.commands.call(cmd, args)
  }

  async stop (): Promise<void> {
    if (this.child.exitCode != null) return
    const stats = await this.call('stats').catch(() => undefined)
    stoppedChildrenCpuMs += stats?.cpuMs ?? 0
    const exited = new Promise<void>(resolve => this.child.once('exit', () => { resolve() }))
    await this.call('stop').catch(() => {})
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000)
    await exited
    clearTimeout(timer)
  }
}

/** The caller's libp2p node: a DHT client when `dht` is set */
export async function createCallerNode (dht: boolean): Promise<Libp2p<any>> {
  const libp2p = await createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionMonitor: CONNECTION_MONITOR,
    // the services are typed by their map; either map is fine here
    services: (dht ? { identify: identify(), ping: ping(), dht: kadDHT(dhtOptions(true)) } : {}) as any
  })
  await handleRawProtocols(libp2p)
  return libp2p
}

export interface BenchCluster {
  nodes: NodeProcess[]
  table: SlotTable
  caller: Libp2p<any>
  /** A ClusterDatastore on the caller, a client outside the table: every operation is remote */
  store: ClusterDatastore
  stop(): Promise<void>
}

/**
 * `count` data nodes in child processes with an even slot table (`replicas`
 * owners per range, default 1), and a client-only caller here
 */
export async function startCluster (count: number, init: { dht: boolean, callerOptions?: ClusterDatastoreOptions, replicas?: number }): Promise<BenchCluster> {
  const nodes = await Promise.all(Array.from({ length: count }, async () => NodeProcess.spawn({ dht: init.dht })))
  const caller = await createCallerNode(init.dht)
  const table = SlotTable.even(nodes.map(n => ({ id: n.peerId, addrs: n.addrs })), { epoch: 1, replicas: init.replicas ?? 1 })
  const clients = [caller.peerId.toString()]

  await Promise.all(nodes.map(async n => n.call('start', { table: table.toJSON(), clients })))

  const store = new ClusterDatastore(caller, new MemoryDatastore(), table, init.callerOptions)
  await store.start()

  return {
    nodes,
    table,
    caller,
    store,
    async stop () {
      await store.stop()
      await caller.stop()
      await Promise.all(nodes.map(async n => n.stop()))
    }
  }
}
