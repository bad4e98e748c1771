import { planRemoveNode } from '../../membership/planner.js'
import { PROGRAM } from '../args.js'
import { changeCommand } from '../membership.js'
import { peerIdOption, planned } from './add-node.js'
import type { Args } from '../args.js'
import type { TableChange } from '../membership.js'

/**
 * `remove-node`: a node gives its slots to the others
 */
export const removeNode = changeCommand({
  name: 'remove-node',
  summary: 'remove a node from a running cluster: its replicas move to the others',
  usage: 'remove-node --config CLIENT_CONFIG --admin-key FILE --peer-id ID [--yes | --dry-run]',
  description: `
Remove the node with peer ID --peer-id from the cluster. Only its slot
replicas move, to the other nodes in proportion to their shares. Keep the
node running until the command says the move is done: the others copy its
data from it (or from the other replicas if it is down). Then stop it.`,
  options: {
    'peer-id': { type: 'string', short: 'p', arg: 'ID', help: 'peer ID of the node to remove' }
  },
  positionals: { min: 0, max: 0 },
  examples: [
    `${PROGRAM} remove-node -c cluster/client.json -k cluster/admin.key --peer-id 12D3KooW... --dry-run`
  ],
  change: (args: Args): TableChange => {
    const id = peerIdOption(args, 'remove-node')

    return {
      command: 'remove-node',
      plan: (table, replicas, original) => {
        // in the config's table but gone from the newest: a run that was stopped after signing
        if (original.hasPeer(id) && !table.hasPeer(id)) {
          return undefined
        }

        return planned(() => planRemoveNode(table, id, { replicas }))
      },
      done: () => `${id.toString()} is no longer a member: stop it`
    }
  }
})
