import { peerIdFromString } from '@libp2p/peer-id'
import { planRebalance } from '../../membership/planner.js'
import { PROGRAM, stringsOption } from '../args.js'
import { UsageError } from '../errors.js'
import { changeCommand } from '../membership.js'
import { planned, weightValue } from './add-node.js'
import type { Args } from '../args.js'
import type { TableChange } from '../membership.js'

/**
 * `rebalance`: new weights, or a new replication factor
 */
export const rebalance = changeCommand({
  name: 'rebalance',
  summary: 'give nodes new weights (or the table a new --replicas), moving only the difference',
  usage: 'rebalance --config CLIENT_CONFIG --admin-key FILE [--weight ID=W ...] [--replicas N] [--yes | --dry-run]',
  description: `
Give the nodes named with --weight ID=W new weights: each node's share of the
slot replicas is proportional to its weight. Nodes not named keep the weight
their current share implies (an evenly spread cluster: 1 each). Only the
difference moves.

Without --weight and --replicas there is nothing to change: the command then
shows whether a move is still going on and watches it to its end.`,
  options: {
    weight: { type: 'string', short: 'w', arg: 'ID=W', help: 'the weight of a node (may be given more than once)', multiple: true }
  },
  positionals: { min: 0, max: 0 },
  examples: [
    `${PROGRAM} rebalance -c cluster/client.json -k cluster/admin.key --weight 12D3KooWA...=2 --weight 12D3KooWB...=0.5 --dry-run`,
    `${PROGRAM} rebalance -c cluster/client.json -k cluster/admin.key   # watch a move to its end`
  ],
  change: (args: Args): TableChange => {
    const weights = new Map<string, number>()

    for (const entry of stringsOption(args, 'weight')) {
      const at = entry.lastIndexOf('=')

      if (at <= 0) {
        throw new UsageError(`--weight takes ID=W, got ${JSON.stringify(entry)}`, 'rebalance')
      }

      let id: string

      try {
        id = peerIdFromString(entry.slice(0, at)).toString()
      } catch {
        throw new UsageError(`--weight ${JSON.stringify(entry)}: ${JSON.stringify(entry.slice(0, at))} is not a peer ID`, 'rebalance')
      }

      if (weights.has(id)) {
        throw new UsageError(`--weight names ${id} twice`, 'rebalance')
      }

      weights.set(id, weightValue(entry.slice(at + 1), `the weight of ${id}`, 'rebalance'))
    }

    return {
      command: 'rebalance',
      plan: (table, replicas) => {
        const plan = planned(() => planRebalance(table, weights, { replicas }))

        // nothing moves and the owners stay: the table in force already is the one asked for
        return plan.moved === 0 && plan.replicas === table.replicas && plan.nodes.every(node => node.primaryAfter === node.primaryBefore) ? undefined : plan
      }
    }
  }
})
