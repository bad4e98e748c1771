/**
 * The data node under attack, in a process of its own so that what it holds
 * can be measured (`process.memoryUsage()` after a forced GC) and a crash is
 * seen as an exit, not as a failed assertion in the attacker's process.
 *
 * Started by `TargetProcess.spawn` as
 * `node --import tsx --expose-gc test/utils/hostile/target.ts` with an IPC
 * channel. Commands (`{ id, cmd, args }`, answered `{ id, result }` or
 * `{ id, error }`):
 *
 * - `init`     start libp2p on 127.0.0.1 (tcp, noise, yamux); answers the
 *              peer id and multiaddrs (also printed to stdout)
 * - `start`    a ClusterDatastore over a MemoryDatastore with the given slot
 *              table (signed, with the admin key) and options
 * - `populate` write values straight into the local store
 * - `memory`   `process.memoryUsage()` after two forced collections, and the
 *              peak RSS so far
 * - `errors`   uncaught exceptions and unhandled rejections seen so far (the
 *              process records them and keeps serving, so that one bug does
 *              not hide the next)
 * - `stop`     stop the store and libp2p, then exit
 */

import { publicKeyFromProtobuf } from '@libp2p/crypto/keys'
import { noise } from '@libp2p/noise'
import { tcp } from '@libp2p/tcp'
import { yamux } from '@libp2p/yamux'
import { MemoryDatastore } from 'datastore-core'
import { Key } from 'interface-datastore'
import { createLibp2p } from 'libp2p'
import { serveCommands } from '../../../benchmarks/lib/ipc.js'
import { ClusterDatastore, openSignedTable } from '../../../src/index.js'
import type { Commands } from '../../../benchmarks/lib/ipc.js'
import type { ClusterDatastoreOptions, SlotTableJSON } from '../../../src/index.js'
import type { Libp2p } from '@libp2p/interface'

export interface TargetStart {
  table: SlotTableJSON
  /** Allowed clients, for a target without an admin key */
  clients?: string[]
  options: ClusterDatastoreOptions
  /** The admin public key, protobuf in base64: the target adopts only tables it signed */
  adminKey?: string
  /** `table` signed by the admin key, the marshaled envelope in base64 */
  signedTable?: string
}

export interface TargetPopulate {
  /** Key strings; value i is `size` bytes filled with `(fill + i) & 0xff` */
  keys: string[]
  size: number
  fill: number
}

export interface TargetMemory {
  rss: number
  heapUsed: number
  heapTotal: number
  external: number
  arrayBuffers: number
  /** Peak resident set size of the process so far, bytes */
  maxRss: number
}

const errors: string[] = []

function record (what: string, err: unknown): void {
  const text = `${what}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`
  errors.push(text)
  process.stderr.write(`[hostile target ${process.pid}] ${text}\n`)
}

process.on('uncaughtException', (err) => { record('uncaughtException', err) })
process.on('unhandledRejection', (err) => { record('unhandledRejection', err) })

let libp2p: Libp2p | undefined
let local: MemoryDatastore | undefined
let store: ClusterDatastore | undefined

function gc (): void {
  const collect = (globalThis as { gc?: () => void }).gc

  if (collect == null) {
    throw new Error('start the target with --expose-gc')
  }

  collect()
  collect()
}

const commands: Commands = {
  init: async () => {
    libp2p = await createLibp2p({
      addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
      transports: [tcp()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()]
    })
    const info = { peerId: libp2p.peerId.toString(), addrs: libp2p.getMultiaddrs().map(ma => ma.toString()) }
    process.stdout.write(`hostile target ${process.pid}: ${info.peerId} ${info.addrs.join(' ')}\n`)
    return info
  },
  start: async (args: TargetStart) => {
    if (libp2p == null) throw new Error('init first')
    local = new MemoryDatastore()
    if (args.adminKey != null && args.signedTable != null) {
      const adminKey = publicKeyFromProtobuf(Buffer.from(args.adminKey, 'base64'))
      const signed = await openSignedTable(Buffer.from(args.signedTable, 'base64'), adminKey)
      store = new ClusterDatastore(libp2p, local, signed, { ...args.options, adminKey })
    } else {
      store = new ClusterDatastore(libp2p, local, args.table, { ...args.options, clients: args.clients })
    }

    await store.start()
    return null
  },
  populate: async (args: TargetPopulate) => {
    if (local == null) throw new Error('start first')

    for (let i = 0; i < args.keys.length; i++) {
      await local.put(new Key(args.keys[i]), new Uint8Array(args.size).fill((args.fill + i) & 0xff))
    }

    return null
  },
  memory: async (): Promise<TargetMemory> => {
    gc()
    const mem = process.memoryUsage()
    return {
      rss: mem.rss,
      heapUsed: mem.heapUsed,
      heapTotal: mem.heapTotal,
      external: mem.external,
      arrayBuffers: mem.arrayBuffers,
      maxRss: process.resourceUsage().maxRSS * 1024
    }
  },
  errors: async () => errors,
  stop: async () => {
    await store?.stop()
    await libp2p?.stop()
    setTimeout(() => process.exit(0), 20)
    return null
  }
}

serveCommands(commands)
