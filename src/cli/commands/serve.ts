import { resolve } from 'node:path'
import { noise } from '@libp2p/noise'
import { tcp } from '@libp2p/tcp'
import { yamux } from '@libp2p/yamux'
import { MemoryDatastore } from 'datastore-core'
import { FsDatastore } from 'datastore-fs'
import { LevelDatastore } from 'datastore-level'
import { createLibp2p } from 'libp2p'
import { ClusterDatastore } from '../../datastore/cluster-datastore.js'
import { CONNECTION_MONITOR, SLOT_COUNT, PROTOCOL } from '../../constants.js'
import { InvalidParametersError } from '../../errors.js'
import { CONFIG_OPTION, PROGRAM, configPath, stringOption } from '../args.js'
import { STORE_TYPES, loadConfig } from '../config.js'
import { CliError, ConfigError, EXIT, UsageError, codeOf, messageOf } from '../errors.js'
import { Health, StoreHealth, serveHealth, unserveHealth } from '../health.js'
import { flush } from '../io.js'
import type { Command } from '../args.js'
import type { NodeConfig, StoreType } from '../config.js'
import type { CliIO } from '../io.js'
import type { Libp2p } from '@libp2p/interface'
import type { Datastore } from 'interface-datastore'

/** How long a clean shutdown may take before the process gives up on it */
const SHUTDOWN_TIMEOUT = 15_000

/**
 * `serve`: run a data node until SIGINT or SIGTERM
 */
export const serve: Command = {
  name: 'serve',
  summary: 'run a data node from its config until SIGINT or SIGTERM',
  usage: 'serve --config FILE [options]',
  description: `
Run a data node: open its local store, listen on the config's addresses, and
serve the slots the slot table gives it to the other nodes and the allowed
clients. It prints where it listens and which slots it owns, then "ready".

On SIGINT or SIGTERM it stops serving (requests still in flight fail on the
caller's side with an error naming this node), stops libp2p, closes the store
and exits 0. A second signal exits at once with code 1.

The data is kept in the config's store ("level" by default) and is there
again after a restart. DEBUG=datastore-cluster* prints protocol logs.

With replicas (init --replicas, default 3), a node restarted after a crash or
a stop catches up by itself, with no command to run: the other nodes and the
clients hand over the writes they held for it (hints) once they see it up
again, and anti-entropy (every options.antiEntropyInterval ms, and when a
member comes back) copies whatever else differs between the owners of each
slot. A node whose store directory was lost is refilled the same way.

The node checks that its store takes writes (at start, every 10 s, and when
status asks): with less than 1 MiB free on the store's disk, or a test write
refused, it warns on stderr and status reports it "degraded"; once writes
work again it says so and is "up", without a restart.`,
  options: {
    config: CONFIG_OPTION,
    store: { type: 'string', arg: 'TYPE', help: 'override the config\'s store type: level, fs or memory (data lost on exit)' },
    data: { type: 'string', arg: 'DIR', help: 'override the config\'s store directory' }
  },
  positionals: { min: 0, max: 0 },
  examples: [
    `${PROGRAM} serve --config cluster/node-1.json`,
    `${PROGRAM} serve --config cluster/node-1.json --store memory`
  ],
  run: runServe
}

/** A node's local store and how to close it */
interface LocalStore {
  datastore: Datastore
  description: string
  /** Where it keeps its data, if on disk */
  dir?: string
  close(): Promise<void>
}

async function runServe (args: Parameters<Command['run']>[0], io: CliIO): Promise<number> {
  const file = configPath(args, io, 'serve')
  const log = (line: string): void => { io.stdout.write(`${line}\n`) }
  const stopping = waitForSignal(io)

  try {
    const config = await loadConfig(file, 'node')
    applyOverrides(config, args, io)

    for (const warning of config.warnings) {
      io.stderr.write(`warning: ${warning}\n`)
    }

    log(`${PROGRAM} node ${config.peerId.toString()} starting (config ${config.file})`)

    // what is open so far; closed in reverse order on the way out
    const closers: Closer[] = []
    const shutdown = async (): Promise<number> => {
      let failed = false

      for (const closer of closers.reverse()) {
        try {
          await closer.close()
          log(closer.done)
        } catch (err) {
          failed = true
          io.stderr.write(`error: could not ${closer.failed}: ${messageOf(err)}\n`)
        }
      }

      log(failed ? 'shut down with errors' : 'shut down cleanly')
      await flush(io.stdout)
      return failed ? EXIT.FAILED : EXIT.OK
    }

    // a signal during start-up stops it after the step in progress
    const interrupted = (): boolean => {
      if (stopping.received == null) {
        return false
      }

      log(`received ${stopping.received} while starting: shutting down`)
      return true
    }

    const local = await openStore(config)
    closers.push({ done: 'store closed', failed: 'close the store', close: async () => { await local.close() } })
    log(`store: ${local.description}`)

    if (interrupted()) {
      return await shutdown()
    }

    let libp2p: Libp2p
    let cluster: ClusterDatastore

    try {
      libp2p = await listen(config)
      const node = libp2p
      closers.push({ done: 'libp2p stopped', failed: 'stop libp2p', close: async () => { await node.stop() } })
      cluster = createCluster(config, libp2p, local.datastore)
      await cluster.start()
      const store = cluster
      const health = new StoreHealth(local.datastore, local.dir, (now) => {
        if (now.state === Health.State.DEGRADED) {
          io.stderr.write(`warning: store degraded: ${now.reason}\n`)
        } else {
          log('store takes writes again: up')
        }
      })
      const clients = new Set(config.options.adminKey != null ? [] : config.clients.map(c => c.peerId))
      // with an admin key the allowed clients are those of the signed table in force
      const isClient = (peer: string): boolean => clients.has(peer) || store.slots.clients.some(c => c.id.toString() === peer)
      await serveHealth(node, health, peer => store.slots.hasPeer(peer) || isClient(peer.toString()), () => store.status())
      closers.push({
        done: 'stopped serving',
        failed: 'stop serving',
        close: async () => {
          health.stop()
          await unserveHealth(node)
          await store.stop()
        }
      })
      await health.check()
      health.start()
    } catch (err) {
      // the start-up error is the one to report, not what closing says
      for (const closer of closers.reverse()) {
        await quietly(async () => { await closer.close() })
      }

      throw err
    }

    if (interrupted()) {
      return await shutdown()
    }

    for (const addr of libp2p.getMultiaddrs()) {
      log(`listening on ${addr.toString()}`)
    }

    const ranges = cluster.slots.rangesOf(config.peerId)
    const owned = cluster.slots.slotCount(config.peerId)
    const held = cluster.slots.ranges.filter(r => r.owners.some(o => o.equals(config.peerId))).reduce((sum, r) => sum + r.end - r.start + 1, 0)
    log(`slot table epoch ${cluster.slots.epoch}: ${owned === 0
      ? 'this node owns no slots'
      : `owns slots ${ranges.map(r => r.start === r.end ? `${r.start}` : `${r.start}-${r.end}`).join(', ')} (${owned} of ${SLOT_COUNT})`}${held > owned ? `; holds ${held} slots with those it is a replica of` : ''}`)
    const replicas = cluster.status().replicas

    if (replicas > 1) {
      log(`replicas: ${replicas} owners per slot range, consistency ${cluster.status().consistency}; writes missed while down come back from the other owners' hints and anti-entropy`)
    }

    log(`peers: ${cluster.slots.peers.length} in the table; clients allowed: ${config.clients.length === 0 ? 'none' : config.clients.map(c => `${c.peerId}${c.readOnly === true ? ' (read-only)' : ''}`).join(', ')}`)
    log(config.options.adminKey != null
      ? `table changes: only tables signed by the admin key (${cluster.signedSlots != null ? `this one's hash ${cluster.signedSlots.hash.slice(0, 16)}…` : 'this node holds its table unsigned'})`
      : 'table changes: none from the network (no adminKey in the config)')
    log(`ready: serving ${PROTOCOL}`)

    const signal = await stopping.promise
    log(`received ${signal}: shutting down`)

    return await shutdown()
  } finally {
    stopping.dispose()
  }
}

/** Something open that shutdown closes */
interface Closer {
  /** Logged when closed */
  done: string
  /** "could not …" when closing fails */
  failed: string
  close(): Promise<void>
}

/**
 * The first SIGINT or SIGTERM. From then on the process ends within
 * SHUTDOWN_TIMEOUT whatever hangs (a store stuck opening, a close that never
 * returns), and a second signal ends it at once.
 */
function waitForSignal (io: CliIO): { promise: Promise<NodeJS.Signals>, readonly received: NodeJS.Signals | undefined, dispose(): void } {
  let received: NodeJS.Signals | undefined
  let resolveSignal: (signal: NodeJS.Signals) => void = () => {}
  const promise = new Promise<NodeJS.Signals>(resolve => { resolveSignal = resolve })
  const onSignal = (signal: NodeJS.Signals): void => {
    if (received != null) {
      io.stderr.write(`received ${signal} while shutting down: exiting now, the store may not be closed\n`)
      process.exit(EXIT.FAILED)
    }

    received = signal
    resolveSignal(signal)

    setTimeout(() => {
      io.stderr.write(`still running ${SHUTDOWN_TIMEOUT / 1000} s after ${signal}: exiting without a clean close\n`)
      process.exit(EXIT.FAILED)
    }, SHUTDOWN_TIMEOUT).unref()
  }

  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)

  return {
    promise,
    get received () {
      return received
    },
    dispose () {
      process.off('SIGINT', onSignal)
      process.off('SIGTERM', onSignal)
    }
  }
}

function applyOverrides (config: NodeConfig, args: Parameters<Command['run']>[0], io: CliIO): void {
  const type = stringOption(args, 'store')
  const data = stringOption(args, 'data')

  if (type != null) {
    if (!STORE_TYPES.includes(type as StoreType)) {
      throw new UsageError(`--store must be one of ${STORE_TYPES.join(', ')}, got ${JSON.stringify(type)}`, 'serve')
    }

    config.store.type = type as StoreType
  }

  if (data != null) {
    config.store.path = resolve(io.cwd, data)
  }

  if (config.store.type !== 'memory' && config.store.path == null) {
    throw new UsageError(`a ${config.store.type} store needs a directory: give --data DIR or set store.path in the config`, 'serve')
  }
}

async function openStore (config: NodeConfig): Promise<LocalStore> {
  const { type, path } = config.store

  if (type === 'memory') {
    return { datastore: new MemoryDatastore(), description: 'memory (everything is lost when the node stops)', close: async () => {} }
  }

  const dir = path as string

  if (type === 'fs') {
    const datastore = new FsDatastore(dir)

    try {
      await datastore.open()
    } catch (err) {
      throw new CliError(`cannot open the fs store at ${dir}: ${messageOf(err)}\nfix: make sure the directory can be created and written by this user, or change store.path`, EXIT.FAILED)
    }

    return { datastore, description: `fs at ${dir}`, dir, close: async () => { await datastore.close() } }
  }

  const datastore = new LevelDatastore(dir)

  try {
    // open the level db directly: LevelDatastore.open() drops the reason
    await datastore.db.open({ createIfMissing: true, compression: false })
    await datastore.open()
  } catch (err) {
    const cause = (err as { cause?: unknown } | null)?.cause ?? err

    if (codeOf(cause) === 'LEVEL_LOCKED') {
      throw new CliError(`the level store at ${dir} is locked by another process: is a node with this config already running?\nfix: stop the other node, or give this one another store.path`, EXIT.FAILED)
    }

    throw new CliError(`cannot open the level store at ${dir}: ${messageOf(cause)}\nfix: make sure the directory can be created and written by this user, or change store.path`, EXIT.FAILED)
  }

  return { datastore, description: `level at ${dir}`, dir, close: async () => { await datastore.close() } }
}

/** Connections a node accepts per second from one host (libp2p's default is 5) */
export const INBOUND_CONNECTIONS_PER_SECOND = 100

async function listen (config: NodeConfig): Promise<Libp2p> {
  try {
    return await createLibp2p({
      privateKey: config.privateKey,
      addresses: { listen: config.listen },
      transports: [tcp()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      connectionManager: {
        // libp2p refuses (resets) a host's connections past 5 a second by
        // default: the members on one machine, and every short-lived command
        // line client dialling every node, pass that in ordinary use
        inboundConnectionThreshold: INBOUND_CONNECTIONS_PER_SECOND
      },
      connectionMonitor: CONNECTION_MONITOR
    })
  } catch (err) {
    // libp2p's message carries stack traces and advice about its own options; keep the per-address reasons
    const reason = messageOf(err).split('\n').filter(line => !/^\s+at /.test(line) && line.trim() !== '')
      .map(line => line.trim()).filter((line, i, lines) => lines.length === 1 || i > 0 || !line.endsWith(':')).join('; ')
    const inUse = /EADDRINUSE|address already in use/i.test(reason) || codeOf((err as { cause?: unknown } | null)?.cause) === 'EADDRINUSE'
    throw new CliError(`cannot listen on ${config.listen.join(', ')}: ${reason}\nfix: ${inUse
      ? 'another process uses the port: stop it, or change this node\'s port in listen and in slots.peers of every config'
      : 'listen must hold addresses of this machine (0.0.0.0 for all interfaces)'}`, EXIT.FAILED)
  }
}

function createCluster (config: NodeConfig, libp2p: Libp2p, local: Datastore): ClusterDatastore {
  try {
    // with an admin key, the clients are in the signed table
    return config.options.adminKey != null
      ? new ClusterDatastore(libp2p, local, config.signed ?? config.slots, config.options)
      : new ClusterDatastore(libp2p, local, config.slots, { ...config.options, clients: config.clients })
  } catch (err) {
    // the config was checked field by field; this catches limits the core adds later
    if (err instanceof InvalidParametersError) {
      throw new ConfigError(config.file, [{ field: 'options', message: err.message }])
    }

    throw err
  }
}

async function quietly (work: () => Promise<void>): Promise<void> {
  try {
    await work()
  } catch {
    // the caller reports a better error
  }
}
