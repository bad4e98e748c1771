/**
 * The cluster as the client commands see it: a libp2p node with the client
 * config's identity that listens nowhere, and a ClusterDatastore that owns no
 * slots, so every operation goes to the owning data node.
 */

import { noise } from '@libp2p/noise'
import { tcp } from '@libp2p/tcp'
import { yamux } from '@libp2p/yamux'
import { MemoryDatastore } from 'datastore-core'
import { NotFoundError } from 'interface-store'
import { createLibp2p } from 'libp2p'
import { CONNECTION_MONITOR } from '../constants.js'
import { ClusterDatastore } from '../datastore/cluster-datastore.js'
import { ClusterAggregateError, ClusterError, UnauthorizedError } from '../errors.js'
import { loadConfig } from './config.js'
import { CliError, EXIT } from './errors.js'
import type { ClientConfig } from './config.js'
import type { CliIO } from './io.js'
import type { Libp2p } from '@libp2p/interface'

/**
 * A connected client
 */
export interface Client {
  config: ClientConfig
  libp2p: Libp2p
  store: ClusterDatastore
  close(): Promise<void>
}

/**
 * Load a client config (printing its warnings) and start a client on it
 *
 * @param requestTimeout - overrides the config's `options.requestTimeout`
 */
export async function openClient (file: string, io: CliIO, requestTimeout?: number): Promise<Client> {
  const config = await loadConfig(file, 'client')

  for (const warning of config.warnings) {
    io.stderr.write(`warning: ${warning}\n`)
  }

  const libp2p = await createLibp2p({
    privateKey: config.privateKey,
    addresses: { listen: [] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionMonitor: CONNECTION_MONITOR
  })

  const options = { ...config.options }

  if (requestTimeout != null) {
    options.requestTimeout = requestTimeout
  }

  let store: ClusterDatastore

  try {
    store = new ClusterDatastore(libp2p, new MemoryDatastore(), config.signed ?? config.slots, options)
    await store.start()
  } catch (err) {
    await libp2p.stop()
    throw err
  }

  return {
    config,
    libp2p,
    store,
    async close () {
      await store.stop()
      await libp2p.stop()
    }
  }
}

/**
 * Run `work` with a client, always closing it, and turn library errors into
 * messages with exit codes
 */
export async function withClient<T> (file: string, io: CliIO, requestTimeout: number | undefined, work: (client: Client) => Promise<T>): Promise<T> {
  const client = await openClient(file, io, requestTimeout)

  try {
    return await work(client)
  } catch (err) {
    throw clientError(err)
  } finally {
    await client.close()
  }
}

/**
 * The message and exit code for an error from the cluster
 */
export function clientError (err: unknown): unknown {
  if (err instanceof CliError) {
    return err
  }

  if (err instanceof NotFoundError || (err as Error)?.name === 'NotFoundError') {
    return new CliError((err as Error).message, EXIT.NOT_FOUND, { cause: err })
  }

  if (err instanceof UnauthorizedError) {
    return new CliError(`${err.message}\nfix: add this client's peer ID to the clients of the slot table (a table signed with the cluster's admin key, for nodes with an adminKey), or to "clients" in the config of every node without one, and restart those nodes`, EXIT.FAILED, { cause: err })
  }

  if (err instanceof ClusterError || err instanceof ClusterAggregateError) {
    return new CliError(err.message, EXIT.FAILED, { cause: err })
  }

  return err
}
