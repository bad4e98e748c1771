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
  usage: 'remove-node --config CLIENT_CONFIG --admin-key FILE --peer-id ID [--dead] [--yes | --dry-run]',
  description: `
Remove the node with peer ID --peer-id from the cluster. Only its slot
replicas move, to the other nodes in proportion to their shares. Keep the
node running until the command says the move is done: the others copy its
data from it (or from the other replicas if it is down). Then stop it.

A node that is dead for good (its disk lost, its machine gone) would hold
the move up forever, since every member must report each step: --dead
declares it dead in the signed table, so the move goes on without it and
its slots are copied from their other owners. Refused when a slot would
keep fewer owners than a quorum. Never use --dead for a node that may come
back with writes the others lack.`,
  options: {
    'peer-id': { type: 'string', short: 'p', arg: 'ID', help: 'peer ID of the node to remove' },
    dead: { type: 'boolean', help: 'the node is dead for good: do not wait for it' }
  },
  positionals: { min: 0, max: 0 },
  examples: [
    `${PROGRAM} remove-node -c cluster/client.json -k cluster/admin.key --peer-id 12D3KooW... --dry-run`,
    `${PROGRAM} remove-node -c cluster/client.json -k cluster/admin.key --peer-id 12D3KooW... --dead --yes`
  ],
  change: (args: Args): TableChange => {
    const id = peerIdOption(args, 'remove-node')
    const dead = args.values.dead === true

    return {
      command: 'remove-node',
      plan: (table, replicas, original) => {
        // in the config's table but gone from the newest: a run that was stopped after signing
        if (original.hasPeer(id) && !table.hasPeer(id)) {
          return undefined
        }

        return planned(() => planRemoveNode(table, id, { replicas, dead }))
      },
      done: () => `${id.toString()} is no longer a member: stop it`
    }
  }
})
