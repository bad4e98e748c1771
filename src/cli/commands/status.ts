import { SLOT_COUNT } from '../../constants.js'
import { MovedError, UnauthorizedError, UnavailableError } from '../../errors.js'
import { CONFIG_OPTION, PROGRAM, configPath, integerOption } from '../args.js'
import { withClient } from '../client.js'
import { EXIT, messageOf } from '../errors.js'
import { Health, askHealth } from '../health.js'
import { write } from '../io.js'
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
  summary: 'show the slot ranges, which nodes answer, and the keys on each',
  usage: 'status --config CLIENT_CONFIG [--timeout MS] [--json]',
  description: `
Ask every node of the slot table, in parallel, for the keys of the slots it
owns and whether its store takes writes, and print per node: its slot
ranges, whether it answered (up), answered but its store fails writes, e.g.
a full disk (degraded, with the reason), could not be reached within the
timeout (down), or refused this client (refused), and how many keys it
holds. A node that is down is reported as down after at most --timeout
milliseconds; status never hangs on it.

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
  state: 'up' | 'degraded' | 'down' | 'refused' | 'error'
  /** Keys in the node's slots; absent when it did not say */
  keys?: number
  /** Why it is not plainly up */
  error?: string
}

async function runStatus (args: Parameters<Command['run']>[0], io: CliIO): Promise<number> {
  const file = configPath(args, io, 'status')
  const timeout = integerOption(args, 'timeout', 'status', { min: 1, max: 600_000, fallback: DEFAULT_STATUS_TIMEOUT }) ?? DEFAULT_STATUS_TIMEOUT

  return withClient(file, io, timeout, async (client) => {
    const table = client.store.slots
    const nodes = await Promise.all(table.peers.map(async (peer): Promise<NodeStatus> => {
      const ranges = table.rangesOf(peer.id).map(r => ({ start: r.start, end: r.end }))
      const base = { peerId: peer.id.toString(), addrs: peer.addrs.map(a => a.toString()), ranges, slots: table.slotCount(peer.id) }
      return { ...base, ...await probe(client, peer.id, timeout) }
    }))
    const up = nodes.filter(n => n.state === 'up').length

    if (args.values.json === true) {
      await write(io.stdout, JSON.stringify({ epoch: table.epoch, nodes, up, total: nodes.length }, null, 2) + '\n')
    } else {
      await write(io.stdout, render(table.epoch, nodes))
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
async function probe (client: Client, peer: PeerId, timeout: number): Promise<Pick<NodeStatus, 'state' | 'keys' | 'error'>> {
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

  if (health.value.state === Health.State.DEGRADED) {
    return { state: 'degraded', keys: counted.value, error: health.value.reason }
  }

  return { state: 'up', keys: counted.value }
}

function render (epoch: number, nodes: NodeStatus[]): string {
  const up = nodes.filter(n => n.state === 'up')
  const keys = nodes.reduce((sum, n) => sum + (n.keys ?? 0), 0)
  const rows = [['NODE', 'PEER ID', 'ADDRESS', 'SLOTS', 'STATE', 'KEYS']]

  nodes.forEach((node, i) => {
    const ranges = node.ranges.length === 0
      ? 'none'
      : `${node.ranges.map(r => r.start === r.end ? `${r.start}` : `${r.start}-${r.end}`).join(',')} (${node.slots})`
    rows.push([`${i + 1}`, node.peerId, node.addrs.join(',') === '' ? '-' : node.addrs.join(','), ranges, node.state, node.keys == null ? '-' : `${node.keys}`])
  })

  const widths = rows[0].map((_, c) => Math.max(...rows.map(r => r[c].length)))
  const lines = [`slot table epoch ${epoch}: ${nodes.length} node${nodes.length === 1 ? '' : 's'}, ${SLOT_COUNT} slots`, '']

  for (const row of rows) {
    lines.push(row.map((cell, c) => c === row.length - 1 ? cell : cell.padEnd(widths[c])).join('  '))
  }

  lines.push('')

  for (const [i, node] of nodes.entries()) {
    if (node.error != null) {
      lines.push(`node ${i + 1} ${node.state}: ${node.error}`)
    }
  }

  lines.push(`${up.length} of ${nodes.length} node${nodes.length === 1 ? '' : 's'} up; ${keys} key${keys === 1 ? '' : 's'} on the nodes that answered`)
  return lines.join('\n') + '\n'
}
