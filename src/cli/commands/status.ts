import { SLOT_COUNT } from '../../constants.js'
import { UnavailableError } from '../../errors.js'
import { Request, Response } from '../../pb/message.js'
import { CONFIG_OPTION, PROGRAM, configPath, integerOption } from '../args.js'
import { withClient } from '../client.js'
import { EXIT, messageOf } from '../errors.js'
import { write } from '../io.js'
import type { ClusterDatastore } from '../../datastore/cluster-datastore.js'
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
owns, and print per node: its slot ranges, whether it answered (up), could
not be reached within the timeout (down), or refused this client (refused),
and how many keys it holds. A node that is down is reported as down after at
most --timeout milliseconds; status never hangs on it.

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
  state: 'up' | 'down' | 'refused' | 'error'
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
      return { ...base, ...await probe(client.store, peer.id) }
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
 * Count a node's keys with a keys-only query to it alone. The cluster's own
 * query would fail as a whole when any node is down; status must report each
 * node on its own, so it talks to each node's channel directly.
 */
async function probe (store: ClusterDatastore, peer: PeerId): Promise<Pick<NodeStatus, 'state' | 'keys' | 'error'>> {
  let keys = 0

  try {
    const frames = store.channel(peer).callStreamed({
      type: Request.Type.QUERY,
      epoch: store.slots.epoch,
      prefix: '',
      keysOnly: true
    })

    for await (const res of frames) {
      if (res.status === Response.Status.MOVED) {
        return { state: 'up', error: `answers with slot table epoch ${res.epoch}, this config has epoch ${store.slots.epoch}: give every node and client the same table` }
      }

      if (res.status === Response.Status.UNAUTHORIZED) {
        return { state: 'refused', error: `refused this client (${res.message}): add its peer ID to the node's "clients"` }
      }

      if (res.status !== Response.Status.OK) {
        return { state: 'error', error: `${res.status}: ${res.message}` }
      }

      keys += res.entries.length
    }

    return { state: 'up', keys }
  } catch (err) {
    if (err instanceof UnavailableError) {
      return { state: 'down', error: err.message }
    }

    return { state: 'error', error: messageOf(err) }
  }
}

function render (epoch: number, nodes: NodeStatus[]): string {
  const up = nodes.filter(n => n.state === 'up')
  const keys = up.reduce((sum, n) => sum + (n.keys ?? 0), 0)
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
