/**
 * A data node in its own process, driven by the benchmark over IPC, so the
 * caller and the owners do not share an event loop (or a core, when the
 * scheduler allows).
 *
 * Commands: `init` (start a libp2p node, optionally with kad-dht), `start`
 * (a ClusterDatastore over a MemoryDatastore with the given table),
 * `populate` (fill the local store directly with keys this node owns),
 * `stats`, `stop`.
 */

import { writeFileSync } from 'node:fs'
import { Session } from 'node:inspector/promises'
import { identify } from '@libp2p/identify'
import { kadDHT, passthroughMapper } from '@libp2p/kad-dht'
import { noise } from '@libp2p/noise'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { yamux } from '@libp2p/yamux'
import { MemoryDatastore } from 'datastore-core'
import { Key } from 'interface-datastore'
import { createLibp2p } from 'libp2p'
import { publicKeyFromProtobuf } from '@libp2p/crypto/keys'
import { fromString as uint8ArrayFromString } from 'uint8arrays/from-string'
import { CONNECTION_MONITOR, ClusterDatastore, keySlot, openSignedTable } from '../../src/index.js'
import { applyExperiments } from './experiments.js'
import { serveCommands } from './ipc.js'
import { syscalls } from './machine.js'
import { handleRawProtocols } from './raw.js'
import type { Commands } from './ipc.js'
import type { SlotTableJSON } from '../../src/index.js'
import type { Libp2p, PublicKey } from '@libp2p/interface'
import type { KadDHT } from '@libp2p/kad-dht'

export interface NodeInit {
  /** Also run kad-dht in server mode (plus identify and ping, which it needs) */
  dht: boolean
}

export interface ClusterStart {
  table: SlotTableJSON
  clients: string[]
}

/** A start with a signed table and the admin key (base64 of the envelope and of the protobuf public key) */
export interface SignedStart {
  signedTable: string
  adminKey: string
}

/** What the `layout` command answers: the move fields of `ClusterDatastore.status().layout` */
export interface LayoutProgress {
  epochs: number[]
  done: boolean
  /** This node's own transition trackers (epochs) */
  ack: number
  sync: number
  syncAck: number
  slotsToSync: number
  keysCopied: number
  bytesCopied: number
}

export interface Populate {
  prefix: string
  /** Bytes of values this node should hold */
  bytes: number
  valueSize: number
  /**
   * Hold the keys of every slot this node owns in any position (replicated
   * tables: each key on all its owners, with the same value), not only
   * those it is primary of
   */
  replicated?: boolean
}

export interface NodeStats {
  rss: number
  heapUsed: number
  maxRSS: number
  keys: number
  /** user + system CPU time of the process so far, ms */
  cpuMs: number
  /** read and write system calls so far */
  reads: number
  writes: number
}

/** Options that make kad-dht usable on a closed loopback network */
export function dhtOptions (clientMode: boolean): Parameters<typeof kadDHT>[0] {
  return {
    clientMode,
    // records under /bench/… are accepted and any copy is as good as another
    validators: { bench: async () => {} },
    selectors: { bench: () => 0 },
    // no background self-queries during the measurement
    initialQuerySelfInterval: 3_600_000,
    querySelfInterval: 3_600_000,
    allowQueryWithZeroPeers: true,
    // the default mapper drops private (here: all) addresses
    peerInfoMapper: passthroughMapper
  }
}

/** The libp2p node every benchmark process uses */
export async function createBenchNode (init: NodeInit): Promise<Libp2p<any>> {
  const libp2p = await createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionMonitor: CONNECTION_MONITOR,
    // the services are typed by their map; either map is fine here
    services: (init.dht ? { identify: identify(), ping: ping(), dht: kadDHT(dhtOptions(false)) } : {}) as any
  })
  await handleRawProtocols(libp2p)

  if (init.dht) {
    // loopback addresses never make kad-dht switch to server mode on its own
    await (libp2p.services as { dht: KadDHT }).dht.setMode('server')
  }

  return libp2p
}

async function main (): Promise<void> {
  let libp2p: Libp2p<any> | undefined
  let local: MemoryDatastore | undefined
  let store: ClusterDatastore | undefined
  let populated = 0
  let profiler: Session | undefined
  let adminKey: PublicKey | undefined

  const commands: Commands = {
    init: async (args: NodeInit) => {
      libp2p = await createBenchNode(args)
      return { peerId: libp2p.peerId.toString(), addrs: libp2p.getMultiaddrs().map(ma => ma.toString()) }
    },
    start: async (args: ClusterStart) => {
      if (libp2p == null) throw new Error('init first')
      local = new MemoryDatastore()
      store = new ClusterDatastore(libp2p, local, args.table, { clients: args.clients })
      await store.start()
      return null
    },
    'start-signed': async (args: SignedStart) => {
      if (libp2p == null) throw new Error('init first')
      adminKey = publicKeyFromProtobuf(uint8ArrayFromString(args.adminKey, 'base64'))
      local = new MemoryDatastore()
      store = new ClusterDatastore(libp2p, local, await openSignedTable(uint8ArrayFromString(args.signedTable, 'base64'), adminKey), { adminKey })
      await store.start()
      return null
    },
    adopt: async (args: { signedTable: string }) => {
      if (store == null || adminKey == null) throw new Error('start-signed first')
      const signed = await openSignedTable(uint8ArrayFromString(args.signedTable, 'base64'), adminKey)
      return store.updateSlotTable(signed)
    },
    layout: async (): Promise<LayoutProgress> => {
      if (store == null) throw new Error('start first')
      const { epochs, done, ack, sync, syncAck, slotsToSync, keysCopied, bytesCopied } = store.status().layout
      return { epochs, done, ack, sync, syncAck, slotsToSync, keysCopied, bytesCopied }
    },
    populate: async (args: Populate) => {
      if (store == null || local == null) throw new Error('start first')
      // values share 1 MiB slabs: a million small ArrayBuffers would measure V8, not us
      const perSlab = Math.max(1, Math.floor((1 << 20) / args.valueSize))
      let slab = new Uint8Array(0)
      let inSlab = perSlab
      let held = 0
      let n = 0
      let keys = 0
      const table = store.slots
      const self = store.self

      while (held < args.bytes) {
        const key = new Key(`${args.prefix}/${(n++).toString(36).padStart(8, '0')}`)

        if (args.replicated === true ? !table.owners(keySlot(key)).some(o => o.equals(self)) : !table.primary(keySlot(key)).equals(self)) {
          continue
        }

        if (inSlab === perSlab) {
          // replicas must agree: the same bytes on every owner
          slab = new Uint8Array(perSlab * args.valueSize).fill(args.replicated === true ? 7 : n & 0xff)
          inSlab = 0
        }

        // MemoryDatastore.put is synchronous
        void local.put(key, slab.subarray(inSlab * args.valueSize, (inSlab + 1) * args.valueSize))
        inSlab++
        held += args.valueSize
        keys++
      }

      populated += keys
      return { keys, bytes: held }
    },
    stats: async (): Promise<NodeStats> => {
      const mem = process.memoryUsage()
      const cpu = process.cpuUsage()
      return { rss: mem.rss, heapUsed: mem.heapUsed, maxRSS: process.resourceUsage().maxRSS * 1024, keys: populated, cpuMs: (cpu.user + cpu.system) / 1000, ...syscalls() }
    },
    'profile-start': async () => {
      profiler ??= new Session()
      profiler.connect()
      await profiler.post('Profiler.enable')
      await profiler.post('Profiler.setSamplingInterval', { interval: 100 })
      await profiler.post('Profiler.start')
      return null
    },
    'profile-stop': async (args: { path: string }) => {
      if (profiler == null) throw new Error('profile-start first')
      const { profile } = await profiler.post('Profiler.stop')
      writeFileSync(args.path, JSON.stringify(profile))
      profiler.disconnect()
      profiler = undefined
      return null
    },
    stop: async () => {
      await store?.stop()
      await libp2p?.stop()
      setTimeout(() => process.exit(0), 50)
      return null
    }
  }

  serveCommands(commands)
}

/** Set by the harness in the environment of the processes it forks */
export const CHILD_ENV = 'DATASTORE_CLUSTER_BENCH_NODE'

if (process.env[CHILD_ENV] === '1' && process.send != null) {
  applyExperiments()
  main().catch(err => {
    console.error(err)
    process.exit(1)
  })
}
