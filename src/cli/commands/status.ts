import { SLOT_COUNT } from '../../constants.js'
import { MovedError, UnauthorizedError, UnavailableError } from '../../errors.js'
import { CONFIG_OPTION, PROGRAM, configPath, integerOption } from '../args.js'
import { withClient } from '../client.js'
import { EXIT, messageOf } from '../errors.js'
import { Health, askHealth } from '../health.js'
import { write } from '../io.js'
import { catchUpClient } from '../membership.js'
import type { Client } from '../client.js'
import type { Command } from '../args.js'
import type { CliIO } from '../io.js'
import type { PeerId } from '@libp2p/interface'

/** Default milliseconds a node has to answer before it is reported down */
export const DEFAULT_STATUS_TIMEOUT = 3000

/**
 * `status`: slot ranges, which nodes answer, keys per node
 */
export const status: Command = {
  name: 'status',
  summary: 'show the slot ranges, which nodes answer, the keys on each, and replica health',
  usage: 'status --config CLIENT_CONFIG [--timeout MS] [--json]',
  description: `
Ask every node of the slot table, in parallel, for the keys of the slots it
owns and whether its store takes writes, and print per node: its slot
ranges, whether it answered (up), answered but its store fails writes, e.g.
a full disk (degraded, with the reason), could not be reached within the
timeout (down), or refused this client (refused), and how many keys it
holds (the keys of the ranges it is the first owner of, so the counts add
up to the cluster's keys). A node that is down is reported as down after at
most --timeout milliseconds; status never hangs on it.

With replicas (init --replicas), each node that answers also says how it
sees the others, and status prints per node: the hints it holds (writes it
keeps for owners that were down, handed over when they are up again), the
hints the others hold for it (what it has yet to receive), and its lag (the
longest any other node has gone without a heartbeat answer from it, in ms).
A node that answers this client but that another node suspects down (no
heartbeat answer for a while: writes hint it and reads skip it) is
"suspected", e.g. just after a restart or across a network partition.

Exits 0 when every node is up, 1 otherwise.`,
  options: {
    config: CONFIG_OPTION,
    timeout: { type: 'string', short: 't', arg: 'MS', help: `how long a node has to answer (default ${DEFAULT_STATUS_TIMEOUT})` },
    json: { type: 'boolean', help: 'print JSON instead of a table' }
  },
  positionals: { min: 0, max: 0 },
  examples: [`${PROGRAM} status --config cluster/client.json`],
  run: runStatus
}

/**
 * What status learnt about one node
 */
export interface NodeStatus {
  peerId: string
  addrs: string[]
  ranges: Array<{ start: number, end: number }>
  slots: number
  state: 'up' | 'degraded' | 'suspected' | 'down' | 'refused' | 'error'
  /** Keys in the slots the node is first owner of; absent when it did not say */
  keys?: number
  /** Replicated tables: hints this node holds for the others; absent when it did not say */
  hints?: number
  /** Replicated tables: hints the nodes that answered hold for this one */
  hintsFor?: number
  /** Replicated tables: the longest any node that answered has gone without a heartbeat answer from this one (ms) */
  lag?: number
  /** Replicated tables: the nodes (1-based, as listed) that suspect this one down */
  suspectedBy?: number[]
  /** Why it is not plainly up */
  error?: string
  /** The slot table epoch in force on the node, as it says (the newest, during a move) */
  epoch?: number
  /** Where the node is in a slot table change, as it says (see docs/membership.md) */
  layout?: Health.Layout
}

async function runStatus (args: Parameters<Command['run']>[0], io: CliIO): Promise<number> {
  const file = configPath(args, io, 'status')
  const timeout = integerOption(args, 'timeout', 'status', { min: 1, max: 600_000, fallback: DEFAULT_STATUS_TIMEOUT }) ?? DEFAULT_STATUS_TIMEOUT

  return withClient(file, io, timeout, async (client) => {
    // the config's table may be older than the one the nodes hold
    await catchUpClient(client, timeout)
    const table = client.store.slots
    const replicas = client.store.status().replicas
    const probed = await Promise.all(table.peers.map(async (peer) => probe(client, peer.id, timeout)))
    const nodes = table.peers.map((peer, i): NodeStatus => {
      const ranges = table.rangesOf(peer.id).map(r => ({ start: r.start, end: r.end }))
      const { view, ...found } = probed[i]
      const node: NodeStatus = { peerId: peer.id.toString(), addrs: peer.addrs.map(a => a.toString()), ranges, slots: table.slotCount(peer.id), ...found }
      return replicas > 1 ? withReplicaHealth(node, i, view, probed.map(p => p.view)) : node
    })
    const up = nodes.filter(n => n.state === 'up').length

    if (args.values.json === true) {
      await write(io.stdout, JSON.stringify({ epoch: table.epoch, replicas, nodes, up, total: nodes.length }, null, 2) + '\n')
    } else {
      await write(io.stdout, render(table.epoch, replicas, nodes))
    }

    return up === nodes.length ? EXIT.OK : EXIT.FAILED
  })
}

/**
 * Ask one node, on its own, for its key count (the library's public
 * `countKeys`) and its store's health (the health protocol of `serve`): the
 * cluster's own query would fail as a whole when any node is down, and a
 * node that answers may still be unable to store anything.
 */
async function probe (client: Client, peer: PeerId, timeout: number): Promise<Pick<NodeStatus, 'state' | 'keys' | 'error' | 'epoch' | 'layout'> & { view?: Health.Peer[] }> {
  const signal = AbortSignal.timeout(timeout)
  const [counted, health] = await Promise.allSettled([
    client.store.countKeys(peer, { signal }),
    askHealth(client.libp2p, peer, { signal })
  ])

  if (counted.status === 'rejected') {
    const err = counted.reason

    if (err instanceof UnavailableError || (signal.aborted && health.status === 'rejected')) {
      return { state: 'down', error: messageOf(err) }
    }

    if (err instanceof UnauthorizedError) {
      return { state: 'refused', error: `refused this client (${err.message}): add its peer ID to the node's "clients"` }
    }

    if (err instanceof MovedError) {
      return { state: 'up', error: `${err.message} (this config's table has epoch ${client.store.slots.epoch})` }
    }

    return { state: 'error', error: messageOf(err) }
  }

  if (health.status === 'rejected') {
    // a node run by the library rather than by `serve` has no health protocol: its count still tells it is up
    return { state: 'up', keys: counted.value, error: `did not report its store's health: ${messageOf(health.reason)}` }
  }

  const view = health.value.peers
  const table = { epoch: health.value.epoch, ...(health.value.layout != null ? { layout: health.value.layout } : {}) }

  if (health.value.state === Health.State.DEGRADED) {
    return { state: 'degraded', keys: counted.value, error: health.value.reason, view, ...table }
  }

  return { state: 'up', keys: counted.value, view, ...table }
}

/**
 * Node `i` as the nodes that answered see it: the hints they hold for it,
 * its lag, whether they suspect it; and the hints it holds itself
 *
 * @param own - node `i`'s own view of the others, if it answered
 * @param views - every node's view, by position in the table (undefined: it did not answer)
 */
export function withReplicaHealth (node: NodeStatus, i: number, own: Health.Peer[] | undefined, views: Array<Health.Peer[] | undefined>): NodeStatus {
  const out: NodeStatus = { ...node, hintsFor: 0, lag: 0 }
  const suspectedBy: number[] = []

  if (own != null) {
    out.hints = own.reduce((sum, p) => sum + p.hints, 0)
  }

  views.forEach((view, j) => {
    const seen = j === i ? undefined : view?.find(p => p.peerId === node.peerId)

    if (seen == null) {
      return
    }

    out.hintsFor = (out.hintsFor ?? 0) + seen.hints
    out.lag = Math.max(out.lag ?? 0, seen.lag)

    if (seen.state === Health.Peer.PeerState.SUSPECTED) {
      suspectedBy.push(j + 1)
    }
  })

  if (suspectedBy.length > 0) {
    out.suspectedBy = suspectedBy

    const who = `node${suspectedBy.length === 1 ? '' : 's'} ${suspectedBy.join(', ')} suspect${suspectedBy.length === 1 ? 's' : ''} it down (no heartbeat answer for ${out.lag} ms)`

    if (out.state === 'up') {
      out.state = 'suspected'
      out.error = `answers this client, but ${who}: writes hint it, reads skip it`
    } else {
      out.error = `${out.error ?? out.state}; ${who}`
    }
  }

  return out
}

function render (epoch: number, replicas: number, nodes: NodeStatus[]): string {
  const up = nodes.filter(n => n.state === 'up')
  const keys = nodes.reduce((sum, n) => sum + (n.keys ?? 0), 0)
  const rows = [['NODE', 'PEER ID', 'ADDRESS', 'SLOTS', 'STATE', 'KEYS', ...(replicas > 1 ? ['HINTS HELD', 'HINTS FOR IT', 'LAG MS'] : [])]]

  nodes.forEach((node, i) => {
    const ranges = node.ranges.length === 0
      ? 'none'
      : `${node.ranges.map(r => r.start === r.end ? `${r.start}` : `${r.start}-${r.end}`).join(',')} (${node.slots})`
    const replica = replicas > 1 ? [node.hints == null ? '-' : `${node.hints}`, `${node.hintsFor ?? 0}`, `${node.lag ?? 0}`] : []
    rows.push([`${i + 1}`, node.peerId, node.addrs.join(',') === '' ? '-' : node.addrs.join(','), ranges, node.state, node.keys == null ? '-' : `${node.keys}`, ...replica])
  })

  const widths = rows[0].map((_, c) => Math.max(...rows.map(r => r[c].length)))
  const lines = [`slot table epoch ${epoch}: ${nodes.length} node${nodes.length === 1 ? '' : 's'}, ${SLOT_COUNT} slots, ${replicas === 1 ? 'one owner per range' : `${replicas} owners per range`}`, '']

  for (const row of rows) {
    lines.push(row.map((cell, c) => c === row.length - 1 ? cell : cell.padEnd(widths[c])).join('  '))
  }

  lines.push('')

  for (const [i, node] of nodes.entries()) {
    if (node.error != null) {
      lines.push(`node ${i + 1} ${node.state}: ${node.error}`)
    }
  }

  // a slot table change in progress: what each node still has to do
  for (const [i, node] of nodes.entries()) {
    const layout = node.layout

    if (layout != null && !layout.done) {
      const copied = layout.slotsTotal - layout.slotsToSync
      lines.push(`node ${i + 1} moving from epoch ${layout.epochs.join(' to ')}: ${copied} of ${layout.slotsTotal} slots copied, ${layout.keysCopied} keys (${layout.bytesCopied} bytes); reads by epoch ${layout.readEpoch}`)
    } else if (node.epoch != null && node.epoch < epoch) {
      lines.push(`node ${i + 1} is still on slot table epoch ${node.epoch}`)
    }
  }

  lines.push(`${up.length} of ${nodes.length} node${nodes.length === 1 ? '' : 's'} up; ${keys} key${keys === 1 ? '' : 's'} on the nodes that answered`)
  return lines.join('\n') + '\n'
}
