/**
 * Whether a node's local store takes writes, and the small protocol that
 * `serve` answers it on, so `status` can tell a node that answers but cannot
 * store anything (a full disk) from one that is plainly up.
 *
 * A node checks its own store: the free space of the store's filesystem,
 * then a write and a delete of a reserved key. Both are needed: a full disk
 * often still takes a few bytes (into a page the log file already has) while
 * every real write fails; and a store can refuse writes with space to spare
 * (read-only filesystem, permissions). The check runs on every request and
 * every HEALTH_INTERVAL, so a node is reported up again as soon as its store
 * takes writes again, without a restart.
 */

import { readdir, stat, statfs } from 'node:fs/promises'
import { join } from 'node:path'
import { pbStream } from '@libp2p/utils'
import { Key } from 'interface-datastore'
import { RESERVED_NAMESPACE } from '../owner/keys.js'
import { messageOf } from './errors.js'
import { Health } from './pb/health.js'
import type { ClusterStatus } from '../datastore/cluster-datastore.js'
import type { AbortOptions, Libp2p, PeerId } from '@libp2p/interface'
import type { Datastore } from 'interface-datastore'

export { Health }

/** The protocol `serve` answers health requests on */
export const HEALTH_PROTOCOL = '/datastore-cluster/health/1.0.0'

/** Free bytes on the store's filesystem below which the node is degraded */
export const MIN_FREE_BYTES = 1024 * 1024

/** Milliseconds between the checks a node runs on its own, to log changes */
export const HEALTH_INTERVAL = 10_000

/** Inside the reserved namespace: no caller can write it, counts and queries never show it */
const PROBE_KEY = new Key(`${RESERVED_NAMESPACE}/cli/health-probe`)
const PROBE_VALUE = new Uint8Array([1])

/**
 * The health of one node's local store
 */
export class StoreHealth {
  private readonly store: Datastore
  private readonly dir: string | undefined
  private readonly onChange: (health: Health) => void
  private last: Health.State = Health.State.UP
  private timer: ReturnType<typeof setInterval> | undefined
  private stopped = false

  /**
   * @param dir - the store's directory, whose filesystem's free space counts; undefined for a memory store
   * @param onChange - called when the state changes (up to degraded or back)
   */
  constructor (store: Datastore, dir: string | undefined, onChange: (health: Health) => void) {
    this.store = store
    this.dir = dir
    this.onChange = onChange
  }

  /** Check the store now */
  async check (): Promise<Health> {
    const health = await this.probe()

    // a check that overlaps the shutdown sees the store closing: not news
    if (health.state !== this.last && !this.stopped) {
      this.last = health.state
      this.onChange(health)
    }

    return health
  }

  /** Check every HEALTH_INTERVAL until stop() */
  start (): void {
    this.timer = setInterval(() => { void this.check() }, HEALTH_INTERVAL)
    // a check due must not keep a node that is shutting down alive
    this.timer.unref()
  }

  stop (): void {
    this.stopped = true
    clearInterval(this.timer)
  }

  /**
   * Bytes the store's files take, 0 for a memory store or when the directory
   * cannot be read: what the table change commands estimate moves from
   */
  async storedBytes (): Promise<number> {
    return this.dir == null ? 0 : directorySize(this.dir)
  }

  private async probe (): Promise<Health> {
    if (this.dir != null) {
      try {
        const fs = await statfs(this.dir)
        const free = fs.bavail * fs.bsize

        if (free < MIN_FREE_BYTES) {
          return { state: Health.State.DEGRADED, reason: `the store's disk is full: ${free} bytes free at ${this.dir} (less than ${MIN_FREE_BYTES}); free some space, the node recovers by itself`, replicas: 1, peers: [], epoch: 0, storedBytes: 0 }
        }
      } catch {
        // a filesystem that cannot be measured is judged by the write alone
      }
    }

    try {
      await this.store.put(PROBE_KEY, PROBE_VALUE)
      await this.store.delete(PROBE_KEY)
    } catch (err) {
      return { state: Health.State.DEGRADED, reason: `the store refuses writes: ${messageOf(err)}`, replicas: 1, peers: [], epoch: 0, storedBytes: 0 }
    }

    return { state: Health.State.UP, reason: '', replicas: 1, peers: [], epoch: 0, storedBytes: 0 }
  }
}

/**
 * Answer health requests from the peers `allowed` accepts; others get their
 * stream reset unread. With `replication` (the node's
 * `ClusterDatastore.status`), the answer also says how this node sees each
 * other member: up or suspected, the hints it holds for it, its lag; and
 * how far it is in a slot table transition (`layout`, for a progress bar).
 */
export async function serveHealth (libp2p: Libp2p, health: StoreHealth, allowed: (peer: PeerId) => boolean, replication?: () => ClusterStatus): Promise<void> {
  await libp2p.handle(HEALTH_PROTOCOL, async (stream, connection) => {
    if (!allowed(connection.remotePeer)) {
      stream.abort(new Error('not a member of the slot table nor an allowed client'))
      return
    }

    try {
      const answer: Health = { ...await health.check(), replicas: 1, peers: [], storedBytes: await health.storedBytes() }

      if (replication != null) {
        const status = replication()
        answer.epoch = status.epoch
        answer.replicas = status.replicas
        answer.peers = status.replicas > 1
          ? status.peers.map(p => ({
            peerId: p.peer,
            state: p.state === 'suspected' ? Health.Peer.PeerState.SUSPECTED : Health.Peer.PeerState.UP,
            hints: p.hints,
            lag: Math.max(0, Math.round(p.lag))
          }))
          : []
        answer.layout = status.layout
      }

      await pbStream(stream).pb(Health).write(answer)
      await stream.close()
    } catch (err) {
      stream.abort(err as Error)
    }
  }, { maxInboundStreams: 4 })
}

/** Stop answering health requests */
export async function unserveHealth (libp2p: Libp2p): Promise<void> {
  await libp2p.unhandle(HEALTH_PROTOCOL)
}

/**
 * Ask `peer` for its store's health
 *
 * @throws when the peer cannot be reached, refuses, or does not speak the protocol
 */
export async function askHealth (libp2p: Libp2p, peer: PeerId, options: AbortOptions): Promise<Health> {
  const stream = await libp2p.dialProtocol(peer, HEALTH_PROTOCOL, options)

  try {
    const health = await pbStream(stream).pb(Health).read(options)
    await stream.close(options)
    return health
  } catch (err) {
    stream.abort(err as Error)
    throw err
  }
}

/** Total size of the files under `dir`; 0 for what cannot be read */
async function directorySize (dir: string): Promise<number> {
  let total = 0
  let entries

  try {
    entries = await readdir(dir, { withFileTypes: true })
  } catch {
    return 0
  }

  for (const entry of entries) {
    const path = join(dir, entry.name)

    if (entry.isDirectory()) {
      total += await directorySize(path)
    } else if (entry.isFile()) {
      total += await stat(path).then(info => info.size, () => 0)
    }
  }

  return total
}
