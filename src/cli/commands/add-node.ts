import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { InvalidPlanError } from '../../errors.js'
import { currentWeights, planAddNode } from '../../membership/planner.js'
import { PROGRAM, stringOption, stringsOption } from '../args.js'
import { UsageError, messageOf } from '../errors.js'
import { changeCommand } from '../membership.js'
import type { Args } from '../args.js'
import type { TableChange } from '../membership.js'
import type { PeerId } from '@libp2p/interface'

/**
 * `add-node`: a new node takes its share of the slots
 */
export const addNode = changeCommand({
  name: 'add-node',
  summary: 'add a node to a running cluster: plan, sign the new slot table, move the data',
  usage: 'add-node --config CLIENT_CONFIG --admin-key FILE --peer-id ID --addr MULTIADDR [--weight W] [--yes | --dry-run]',
  description: `
Add the node with peer ID --peer-id, reachable on --addr, to the cluster. It
takes its share of the slot replicas (its --weight relative to the average
node, default 1); the other nodes keep their shares relative to each other,
and only what the new node takes moves.

Start the new node first: copy a node config of the cluster, give it its
own key (${PROGRAM} keygen), peerId, listen address and store, and run
${PROGRAM} serve on it. It serves no slots until the new table reaches it.`,
  options: {
    'peer-id': { type: 'string', short: 'p', arg: 'ID', help: 'peer ID of the node to add' },
    addr: { type: 'string', short: 'a', arg: 'MULTIADDR', help: 'address the other nodes reach it on (may be given more than once)', multiple: true },
    weight: { type: 'string', short: 'w', arg: 'W', help: 'its capacity relative to the average node (default 1)' }
  },
  positionals: { min: 0, max: 0 },
  examples: [
    `${PROGRAM} add-node -c cluster/client.json -k cluster/admin.key --peer-id 12D3KooW... --addr /ip4/10.0.0.4/tcp/4001 --dry-run`,
    `${PROGRAM} add-node -c cluster/client.json -k cluster/admin.key --peer-id 12D3KooW... --addr /ip4/10.0.0.4/tcp/4001 --weight 2 --yes`
  ],
  change: (args: Args): TableChange => {
    const id = peerIdOption(args, 'add-node')
    const addrs = stringsOption(args, 'addr').map(addr => {
      try {
        return multiaddr(addr)
      } catch (err) {
        throw new UsageError(`--addr ${JSON.stringify(addr)} is not a multiaddr: ${messageOf(err)}`, 'add-node')
      }
    })

    if (addrs.length === 0) {
      throw new UsageError('give the address the other nodes reach the new node on with --addr MULTIADDR', 'add-node')
    }

    const weight = weightValue(stringOption(args, 'weight'), '--weight', 'add-node')

    return {
      command: 'add-node',
      newcomer: { id, addrs },
      plan: (table, replicas) => {
        if (currentWeights(table).has(id.toString())) {
          return undefined
        }

        return planned(() => planAddNode(table, { id, addrs, weight }, { replicas }))
      }
    }
  }
})

/**
 * `--peer-id`, parsed
 *
 * @throws {UsageError} when missing or not a peer ID
 */
export function peerIdOption (args: Args, command: string): PeerId {
  const raw = stringOption(args, 'peer-id')

  if (raw == null) {
    throw new UsageError('give the node\'s peer ID with --peer-id ID', command)
  }

  try {
    return peerIdFromString(raw)
  } catch {
    throw new UsageError(`--peer-id ${JSON.stringify(raw)} is not a peer ID`, command)
  }
}

/**
 * A weight: a finite number > 0, default 1
 *
 * @throws {UsageError} otherwise
 */
export function weightValue (raw: string | undefined, what: string, command: string): number {
  if (raw == null) {
    return 1
  }

  const weight = Number(raw)

  if (raw.trim() === '' || !Number.isFinite(weight) || weight <= 0) {
    throw new UsageError(`${what} must be a number > 0, got ${JSON.stringify(raw)}`, command)
  }

  return weight
}

/**
 * Run a planner call, turning a refused plan into a usage error
 */
export function planned<T> (plan: () => T): T {
  try {
    return plan()
  } catch (err) {
    if (err instanceof InvalidPlanError) {
      throw new UsageError(err.message)
    }

    throw err
  }
}
