/**
 * What `add-node`, `remove-node` and `rebalance` share: find the newest slot
 * table the nodes hold, plan the change from it, show the plan, ask for
 * confirmation, sign the next table with the admin key, hand it to every
 * node, and watch the data move until every node reports it done.
 *
 * The signed table the nodes hold is the truth: the tool keeps no state of
 * its own and writes no config. Run again after it was stopped, it finds the
 * next table already in force and only hands it to the nodes that lack it
 * and watches the move to its end; it never signs a second table for the
 * same change.
 */

import { resolve } from 'node:path'
import { createInterface } from 'node:readline'
import { peerIdFromString } from '@libp2p/peer-id'
import { InvalidSlotTableError, TableConflictError } from '../errors.js'
import { openSignedTable, signTable } from '../membership/signed-table.js'
import { assertMovable } from '../slots/table.js'
import { readAdminKey } from './admin-key.js'
import { CONFIG_OPTION, PROGRAM, configPath, integerOption, stringOption } from './args.js'
import { withClient } from './client.js'
import { adminKeyFromBase64 } from '../validate.js'
import { CliError, EXIT, UsageError, messageOf } from './errors.js'
import { askHealth } from './health.js'
import { write } from './io.js'
import type { TablePlan } from '../membership/planner.js'
import type { SignedSlotTable } from '../membership/signed-table.js'
import type { SlotTable } from '../slots/table.js'
import type { Args, Command, OptionSpec } from './args.js'
import type { Client } from './client.js'
import type { Health } from './health.js'
import type { CliIO } from './io.js'
import type { PeerId, PrivateKey, PublicKey } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

/** Default milliseconds a node has to answer one request */
export const DEFAULT_CHANGE_TIMEOUT = 5000

/** Milliseconds between two looks at the nodes while data moves */
const WATCH_INTERVAL = 1000

/** Milliseconds between two progress lines when stderr is not a terminal */
const PLAIN_PROGRESS_INTERVAL = 5000

/** The options every table change takes */
export const CHANGE_OPTIONS: Record<string, OptionSpec> = {
  config: CONFIG_OPTION,
  'admin-key': { type: 'string', short: 'k', arg: 'FILE', help: 'the cluster\'s admin key file (init writes DIR/admin.key); not needed with --dry-run' },
  replicas: { type: 'string', short: 'r', arg: 'N', help: 'owners per slot in the new table (default: as now)' },
  yes: { type: 'boolean', short: 'y', help: 'apply the plan without asking (needed when stdin is not a terminal)' },
  'dry-run': { type: 'boolean', short: 'n', help: 'show the plan and change nothing' },
  json: { type: 'boolean', help: 'print the plan (and the outcome) as JSON' },
  timeout: { type: 'string', short: 't', arg: 'MS', help: `how long a node has to answer one request (default ${DEFAULT_CHANGE_TIMEOUT})` }
}

/** What the description of each table change command ends with */
export const CHANGE_DESCRIPTION = `
The current table is the newest one the nodes hold (every node of the
config's table, and of any newer table they know, is asked), checked against
the admin key. The plan shows, per node, the slots it holds replicas of
before and after, those it gains and loses, the slots it is primary of, and
an estimate of the bytes it sends and receives (its store's size times the
share of its slots that move). Nothing changes before you confirm: --yes
confirms, --dry-run only shows the plan; with stdin not a terminal and
neither, the command refuses.

Then the new table is signed with the admin key and handed to every node,
old and new (a node that cannot be reached gets it as soon as it answers,
or from any peer), and the command shows the move on stderr (slots synced,
bytes and keys copied, rate, time left) until every node reports it done.
Stopped (Ctrl-C, a crash), the move goes on in the cluster: run the same
command again, it finds the new table in force and watches the move to its
end. The nodes keep the newest signed table in their stores, so the configs
need no change (nodes and clients catch up from any peer).`

/**
 * One table change: how to plan it from the newest table
 */
export interface TableChange {
  command: string
  /**
   * The plan from the table in force, or undefined when that table already
   * makes the change (a run that was stopped after signing it)
   *
   * @param original - the table of the config, to tell a change made from one never asked for
   */
  plan(table: SlotTable, replicas: number | undefined, original: SlotTable): TablePlan | undefined
  /** A node no table lists yet, with the addresses to reach it on */
  newcomer?: { id: PeerId, addrs: Multiaddr[] }
  /** Said once the move is done */
  done?(table: SlotTable): string | undefined
}

/** What the tool learnt about one node */
interface NodeView {
  id: PeerId
  /** Undefined: it did not answer */
  health?: Health
  error?: string
}

/**
 * Run a table change: plan, show, confirm, sign, hand over, watch
 */
export async function runChange (args: Args, io: CliIO, change: TableChange): Promise<number> {
  const command = change.command
  const file = configPath(args, io, command)
  const timeout = integerOption(args, 'timeout', command, { min: 1, max: 600_000, fallback: DEFAULT_CHANGE_TIMEOUT }) ?? DEFAULT_CHANGE_TIMEOUT
  const replicas = integerOption(args, 'replicas', command, { min: 1, max: 16384 })
  const dryRun = args.values['dry-run'] === true
  const json = args.values.json === true
  const keyFile = stringOption(args, 'admin-key')

  if (keyFile == null && !dryRun) {
    throw new UsageError('give the admin key file with --admin-key FILE (init writes DIR/admin.key), or --dry-run to only see the plan', command)
  }

  const adminKey = keyFile != null ? await readAdminKey(resolve(io.cwd, keyFile)) : undefined

  return withClient(file, io, timeout, async (client) => {
    const verifier = adminKey?.publicKey ?? configuredAdminKey(client)

    if (verifier == null) {
      throw new CliError(`${file} has no adminKey, so the nodes' tables cannot be checked: give --admin-key FILE`, EXIT.CONFIG)
    }

    if (change.newcomer != null) {
      await client.libp2p.peerStore.merge(change.newcomer.id, { multiaddrs: change.newcomer.addrs })
    }

    const newest = await newestTable(client, verifier, timeout, change.newcomer?.id)

    if (adminKey != null && newest.signed != null && !newest.signed.signer.equals(adminKey.publicKey)) {
      throw new CliError(`the nodes' table is signed by another key than ${keyFile ?? ''}: give this cluster's admin key`, EXIT.CONFIG)
    }

    const table = newest.table
    const plan = change.plan(table, replicas, client.store.slots)

    if (plan != null) {
      refuseStranding(command, table, plan.table)
    }
    // a node declared dead is not asked anything: it would only cost a dial timeout each time
    const alive = (id: PeerId): boolean => !(plan?.table.dead.some(dead => dead.equals(id)) ?? false)
    const views = await look(client, peersOf(table, plan?.table, change.newcomer?.id).filter(alive), timeout)

    if (plan == null) {
      return resume(io, client, change, table, newest.signed, views, { adminKey, json, dryRun, timeout })
    }

    // a node being added may be on any older table: it is brought onto this one below
    const moving = [...views.values()].filter(view => table.hasPeer(view.id) && view.health != null && !settled(view.health, table.epoch))

    // a table declaring a node dead may follow a move that node holds up: the move in progress ends without it, then this one begins
    if (moving.length > 0 && plan.table.dead.length === 0) {
      throw new CliError(`the move to slot table epoch ${table.epoch} is not finished (${moving.map(view => `${short(view.id)}: ${describeState(view.health, table.epoch)}`).join('; ')}): run \`${PROGRAM} rebalance --config ${file} --admin-key FILE\` to watch it to its end, then ${command} again`)
    }

    const estimate = estimateBytes(plan, views)

    if (json) {
      await write(io.stdout, JSON.stringify(planJSON(plan, estimate, views), null, 2) + '\n')
    } else {
      await write(io.stdout, renderPlan(command, plan, estimate))
    }

    if (dryRun) {
      return EXIT.OK
    }

    if (plan.moved === 0 && plan.table.equals(table.withEpoch(plan.table.epoch))) {
      await write(io.stderr, 'nothing to change: the table in force already looks like this\n')
      return EXIT.OK
    }

    if (change.newcomer != null && views.get(change.newcomer.id.toString())?.health == null) {
      throw new CliError(`the node to add, ${change.newcomer.id.toString()}, does not answer on ${change.newcomer.addrs.join(', ')}: start it first (${PROGRAM} serve on a copy of a node config with its own key, peerId, listen address and store), then run this again`)
    }

    if (args.values.yes !== true && !await confirm(io, command, plan)) {
      await write(io.stderr, 'nothing changed\n')
      return EXIT.FAILED
    }

    if (change.newcomer != null && newest.signed != null) {
      await catchUp(client, newest.signed, change.newcomer.id, timeout)
    }

    const signed = await signTable(plan.table, adminKey as PrivateKey)
    await write(io.stderr, `signed slot table epoch ${signed.table.epoch} (hash ${signed.hash.slice(0, 16)}…)\n`)
    await handOver(io, client, signed, [...table.peers.map(peer => peer.id), ...plan.table.peers.map(peer => peer.id)].filter(alive), timeout, true)
    return watch(io, client, change, signed, plan.table.peers.map(peer => peer.id), peersOf(table, plan.table).filter(alive), estimate.total, timeout)
  })
}

/**
 * The next table is in force somewhere already: hand it to the nodes that
 * lack it and watch the move to its end
 */
async function resume (io: CliIO, client: Client, change: TableChange, table: SlotTable, signed: SignedSlotTable | undefined, views: Map<string, NodeView>, run: { adminKey?: PrivateKey, json: boolean, dryRun: boolean, timeout: number }): Promise<number> {
  const members = table.peers.map(peer => peer.id)
  const finished = members.every(id => { const health = views.get(id.toString())?.health; return health != null && settled(health, table.epoch) })
  const state = finished ? 'in force on every node' : 'being moved to'

  if (run.json) {
    await write(io.stdout, JSON.stringify({ epoch: table.epoch, inForce: true, finished, nodes: nodesJSON(views), table: table.toJSON() }, null, 2) + '\n')
  } else {
    await write(io.stdout, `the slot table of epoch ${table.epoch} already makes this change; it is ${state}\n`)
  }

  if (run.dryRun || finished) {
    return EXIT.OK
  }

  if (signed == null) {
    throw new CliError(`the nodes hold no signed table of epoch ${table.epoch} to hand over`)
  }

  await handOver(io, client, signed, [...views.values()].map(view => view.id), run.timeout, false)
  return watch(io, client, change, signed, members, [...views.values()].map(view => view.id), 0, run.timeout)
}

/** The admin public key of the client's config, if it has one */
export function configuredAdminKey (client: Client): PublicKey | undefined {
  const configured = client.config.options.adminKey
  return typeof configured === 'string' ? adminKeyFromBase64(configured, 'adminKey of the config') : configured
}

/**
 * Bring the client onto the newest table the nodes hold, when its config
 * names the admin key: a config's table may be older than the one in force
 */
export async function catchUpClient (client: Client, timeout: number): Promise<void> {
  const adminKey = configuredAdminKey(client)

  if (adminKey == null) {
    return
  }

  let newest

  try {
    newest = await newestTable(client, adminKey, timeout)
  } catch {
    // no node answered: the caller reports them down
    return
  }

  if (newest.signed != null && newest.table.epoch > client.store.slots.epoch) {
    client.store.updateSlotTable(newest.signed)
  }
}

/**
 * Ask the nodes for their signed tables, following newer tables to their
 * peers, and return the newest that opens with the admin key
 */
export async function newestTable (client: Client, adminKey: PublicKey, timeout: number, newcomer?: PeerId): Promise<{ table: SlotTable, signed?: SignedSlotTable }> {
  let best: { table: SlotTable, signed?: SignedSlotTable } = { table: client.store.slots, signed: client.store.signedSlots }
  const asked = new Set<string>()
  let answered = 0

  for (let round = 0; round < 4; round++) {
    const peers = [...best.table.peers.map(peer => peer.id), ...(newcomer != null ? [newcomer] : [])].filter(id => !asked.has(id.toString()))

    if (peers.length === 0) {
      break
    }

    // the addresses of a newer table's peers, so they can be dialled
    await Promise.all(best.table.peers.filter(peer => peer.addrs.length > 0).map(async peer => client.libp2p.peerStore.merge(peer.id, { multiaddrs: [...peer.addrs] })))

    const found = await Promise.all(peers.map(async (id) => {
      asked.add(id.toString())

      try {
        const answer = await client.store.peerTable(id, { signal: AbortSignal.timeout(timeout) })
        answered++
        return answer.signedTable != null ? await openSignedTable(answer.signedTable, adminKey) : undefined
      } catch {
        // unreachable, or a table this admin key did not sign: others tell
        return undefined
      }
    }))

    for (const signed of found) {
      if (signed != null && signed.table.epoch > best.table.epoch) {
        best = { table: signed.table, signed }
      } else if (signed != null && signed.table.epoch === best.table.epoch && best.signed == null) {
        best = { table: signed.table, signed }
      }
    }
  }

  if (answered === 0) {
    throw new CliError(`no node answered within ${timeout} ms (${[...asked].map(id => short(peerIdFromString(id))).join(', ')}), so the table in force is unknown: check that the nodes run, or give a longer --timeout`)
  }

  return best
}

/**
 * Bring a node being added onto the table in force before it gets the next
 * one: a node copies the slots it gains from their owners under the table
 * it moves from, so that must be the table the others move from, not
 * whatever older table its config carried
 */
async function catchUp (client: Client, current: SignedSlotTable, id: PeerId, timeout: number): Promise<void> {
  const deadline = Date.now() + Math.max(timeout * 4, 10_000)

  for (;;) {
    let epoch = -1

    try {
      epoch = (await askHealth(client.libp2p, id, { signal: AbortSignal.timeout(timeout) })).epoch

      if (epoch < current.table.epoch) {
        await client.store.sendTable(id, current, { signal: AbortSignal.timeout(timeout) })
      }
    } catch (err) {
      if (Date.now() > deadline) {
        throw new CliError(`the node to add, ${id.toString()}, did not take the slot table in force (epoch ${current.table.epoch}): ${messageOf(err)}`)
      }
    }

    if (epoch >= current.table.epoch) {
      return
    }

    if (Date.now() > deadline) {
      throw new CliError(`the node to add, ${id.toString()}, is still on slot table epoch ${epoch}, not ${current.table.epoch}: is its config one of this cluster's (same adminKey)?`)
    }

    await sleep(200)
  }
}

/** Every node of either table, and the newcomer */
function peersOf (table: SlotTable, next?: SlotTable, newcomer?: PeerId): PeerId[] {
  const peers = new Map<string, PeerId>()

  for (const peer of [...table.peers, ...(next?.peers ?? [])]) {
    peers.set(peer.id.toString(), peer.id)
  }

  if (newcomer != null) {
    peers.set(newcomer.toString(), newcomer)
  }

  return [...peers.values()]
}

/** Ask each node for its health (epoch, stored bytes, move progress) */
async function look (client: Client, peers: PeerId[], timeout: number): Promise<Map<string, NodeView>> {
  const views = await Promise.all(peers.map(async (id): Promise<NodeView> => {
    try {
      return { id, health: await askHealth(client.libp2p, id, { signal: AbortSignal.timeout(timeout) }) }
    } catch (err) {
      return { id, error: messageOf(err) }
    }
  }))

  return new Map(views.map(view => [view.id.toString(), view]))
}

/** The node holds `epoch` and nothing moves on it any more */
function settled (health: Health, epoch: number): boolean {
  if (health.epoch < epoch) {
    return false
  }

  // a node that does not report moves: holding the table is all it does
  return health.layout == null || (health.layout.done && (health.layout.epochs[0] ?? health.epoch) >= epoch)
}

function describeState (health: Health | undefined, epoch: number): string {
  if (health == null) {
    return 'not answering'
  }

  if (health.epoch < epoch) {
    return `on epoch ${health.epoch}`
  }

  const layout = health.layout

  if (layout != null && !layout.done) {
    return layout.slotsToSync > 0 ? `${layout.slotsToSync} slots to copy` : `epochs ${layout.epochs.join(', ')} in force`
  }

  return 'done'
}

/**
 * Hand the signed table to every node, the members of the table in force
 * first
 */
async function handOver (io: CliIO, client: Client, signed: SignedSlotTable, peers: PeerId[], timeout: number, loud: boolean): Promise<void> {
  const unique = [...new Map(peers.map(id => [id.toString(), id])).values()]
  await Promise.all(signed.table.peers.filter(peer => peer.addrs.length > 0).map(async peer => client.libp2p.peerStore.merge(peer.id, { multiaddrs: [...peer.addrs] })))

  let newer: string | undefined
  const results = await Promise.all(unique.map(async (id) => {
    try {
      const epoch = await client.store.sendTable(id, signed, { signal: AbortSignal.timeout(timeout) })

      if (epoch > signed.table.epoch) {
        newer = `${short(id)} holds slot table epoch ${epoch}`
      }

      return `${short(id)}: ${epoch >= signed.table.epoch ? `holds epoch ${epoch}` : `still on epoch ${epoch}`}`
    } catch (err) {
      if (err instanceof TableConflictError) {
        newer = `${short(id)} holds another table of epoch ${signed.table.epoch}`
      }

      return `${short(id)}: not handed over yet (${messageOf(err)}); it gets the table when it answers, or from any peer`
    }
  }))

  if (loud) {
    for (const line of results) {
      await write(io.stderr, `${line}\n`)
    }
  }

  // the table this run started from was not the newest: the one signed is void (older, or refused)
  if (loud && newer != null) {
    throw new CliError(`${newer}: the nodes that answered when this command began did not have the newest table, so the table signed now (epoch ${signed.table.epoch}) is refused or outdated; run the command again`)
  }
}

/**
 * Watch the move until every member of the new table holds it and reports
 * nothing left to move, handing the table again to any node still behind.
 * The progress goes to stderr: one line redrawn on a terminal, a line every
 * few seconds otherwise.
 */
async function watch (io: CliIO, client: Client, change: TableChange, signed: SignedSlotTable, members: PeerId[], everyone: PeerId[], estimatedBytes: number, timeout: number): Promise<number> {
  const epoch = signed.table.epoch
  const tty = (io.stderr as { isTTY?: boolean }).isTTY === true
  const started = Date.now()
  let lastPlain = 0
  let lastLine = ''
  let first: { at: number, bytes: number, fraction: number } | undefined

  for (;;) {
    if (io.interrupt?.aborted === true) {
      await write(io.stderr, `${tty ? '\n' : ''}stopped watching; the move to epoch ${epoch} goes on in the cluster: run the same command again to watch it to its end\n`)
      return EXIT.SIGINT
    }

    const views = await look(client, everyone, timeout)
    const behind = everyone.filter(id => { const health = views.get(id.toString())?.health; return health != null && health.epoch < epoch })

    if (behind.length > 0) {
      await handOver(io, client, signed, behind, timeout, false)
    }

    const memberViews = members.map(id => views.get(id.toString()) ?? { id })
    const done = memberViews.filter(view => view.health != null && settled(view.health, epoch)).length
    const progress = measure(memberViews, epoch)
    first ??= { at: Date.now(), bytes: progress.bytes, fraction: progress.fraction }
    const line = progressLine(epoch, progress, done, members.length, memberViews, estimatedBytes, first, started)

    if (done === members.length) {
      await write(io.stderr, tty ? `\r\x1b[K${line}\n` : `${line}\n`)
      await write(io.stdout, `slot table epoch ${epoch} is in force on every node and nothing is left to move${change.done != null ? `; ${change.done(signed.table) ?? ''}` : ''}\n`)
      return EXIT.OK
    }

    if (tty) {
      await write(io.stderr, `\r\x1b[K${line}`)
    } else if (line !== lastLine && Date.now() - lastPlain >= PLAIN_PROGRESS_INTERVAL) {
      await write(io.stderr, `${line}\n`)
      lastPlain = Date.now()
      lastLine = line
    }

    await sleep(WATCH_INTERVAL, io.interrupt)
  }
}

interface Progress {
  /** Share of the slots to copy that are copied, from 0 to 1; 1 when none are reported */
  fraction: number
  slotsLeft: number
  slotsTotal: number
  bytes: number
  keys: number
}

function measure (views: NodeView[], epoch: number): Progress {
  let slotsLeft = 0
  let slotsTotal = 0
  let bytes = 0
  let keys = 0

  for (const view of views) {
    const layout = view.health?.layout

    if (layout != null && view.health != null && view.health.epoch >= epoch) {
      slotsLeft += layout.slotsToSync
      slotsTotal += layout.slotsTotal
      bytes += layout.bytesCopied
      keys += layout.keysCopied
    }
  }

  return { fraction: slotsTotal === 0 ? 1 : (slotsTotal - slotsLeft) / slotsTotal, slotsLeft, slotsTotal, bytes, keys }
}

function progressLine (epoch: number, progress: Progress, done: number, members: number, views: NodeView[], estimatedBytes: number, first: { at: number, bytes: number, fraction: number }, started: number): string {
  const elapsed = (Date.now() - first.at) / 1000
  const rate = elapsed > 0 ? (progress.bytes - first.bytes) / elapsed : 0
  let left = ''

  if (estimatedBytes > progress.bytes && rate > 0) {
    left = `, about ${duration((estimatedBytes - progress.bytes) / rate)} left`
  } else if (progress.fraction > first.fraction && progress.fraction < 1) {
    left = `, about ${duration(elapsed * (1 - progress.fraction) / (progress.fraction - first.fraction))} left`
  }

  const waiting = views.filter(view => view.health == null || !settled(view.health, epoch)).map(view => `${short(view.id)} ${describeState(view.health, epoch)}`)
  const slots = progress.slotsTotal > 0 ? `${Math.floor(progress.fraction * 100)}% of slots copied (${progress.slotsTotal - progress.slotsLeft}/${progress.slotsTotal}), ` : ''

  return `epoch ${epoch}: ${slots}${formatBytes(progress.bytes)} in ${progress.keys} keys copied, ${formatBytes(rate)}/s${left}; ${done} of ${members} nodes done${waiting.length > 0 ? ` (waiting for ${waiting.join(', ')})` : ''} [${duration((Date.now() - started) / 1000)}]`
}

/** Per node, the bytes it sends and receives, and the total */
interface Estimate {
  /** peer ID -> bytes sent, received; undefined when its store size is unknown */
  nodes: Map<string, { stored?: number, send?: number, receive?: number }>
  total: number
}

/**
 * A node sends its store's size times the share of its replicas it loses,
 * and receives the average bytes per replica times the replicas it gains
 */
function estimateBytes (plan: TablePlan, views: Map<string, NodeView>): Estimate {
  let stored = 0
  let replicas = 0

  for (const node of plan.nodes) {
    const bytes = views.get(node.id.toString())?.health?.storedBytes ?? 0

    if (bytes > 0) {
      stored += bytes
      replicas += node.before
    }
  }

  const perReplica = replicas > 0 ? stored / replicas : 0
  const nodes = new Map<string, { stored?: number, send?: number, receive?: number }>()
  let total = 0

  for (const node of plan.nodes) {
    const bytes = views.get(node.id.toString())?.health?.storedBytes ?? 0
    const receive = perReplica > 0 ? Math.round(node.gained * perReplica) : undefined
    nodes.set(node.id.toString(), {
      stored: bytes > 0 ? bytes : undefined,
      send: bytes > 0 && node.before > 0 ? Math.round(bytes * node.lost / node.before) : undefined,
      receive
    })
    total += receive ?? 0
  }

  return { nodes, total }
}

function renderPlan (command: string, plan: TablePlan, estimate: Estimate): string {
  const rows = [['NODE', 'PEER ID', 'CHANGE', 'WEIGHT', 'SLOTS HELD', 'GAINED', 'LOST', 'PRIMARY OF', 'STORED', 'SENDS', 'RECEIVES']]

  plan.nodes.forEach((node, i) => {
    const bytes = estimate.nodes.get(node.id.toString())
    rows.push([
      `${i + 1}`,
      node.id.toString(),
      plan.table.dead.some(dead => dead.equals(node.id)) ? 'leaving (dead)' : node.change,
      node.change === 'leaving' ? '-' : `${Math.round(node.weight * 100) / 100}`,
      `${node.before} -> ${node.after}`,
      `${node.gained}`,
      `${node.lost}`,
      `${node.primaryBefore} -> ${node.primaryAfter}`,
      bytes?.stored != null ? formatBytes(bytes.stored) : '-',
      bytes?.send != null ? `~${formatBytes(bytes.send)}` : '-',
      bytes?.receive != null ? `~${formatBytes(bytes.receive)}` : '-'
    ])
  })

  const widths = rows[0].map((_, c) => Math.max(...rows.map(row => row[c].length)))
  const lines = [`${command} plan: ${plan.summary}`, '']

  for (const row of rows) {
    lines.push(row.map((cell, c) => c === row.length - 1 ? cell : cell.padEnd(widths[c])).join('  ').trimEnd())
  }

  lines.push('', `${plan.moves.length} replica move${plan.moves.length === 1 ? '' : 's'} (runs of slots); about ${formatBytes(estimate.total)} to copy in all${estimate.total === 0 ? ' (store sizes unknown or empty)' : ''}`)
  return lines.join('\n') + '\n'
}

function planJSON (plan: TablePlan, estimate: Estimate, views: Map<string, NodeView>): unknown {
  return {
    epoch: plan.from.epoch,
    next: plan.table.epoch,
    inForce: false,
    replicas: plan.replicas,
    moved: plan.moved,
    minimum: plan.minimum,
    ranges: plan.ranges,
    summary: plan.summary,
    bytes: estimate.total,
    plan: plan.nodes.map(node => ({
      peerId: node.id.toString(),
      change: node.change,
      ...(plan.table.dead.some(dead => dead.equals(node.id)) ? { dead: true } : {}),
      weight: node.weight,
      before: node.before,
      after: node.after,
      gained: node.gained,
      lost: node.lost,
      primaryBefore: node.primaryBefore,
      primaryAfter: node.primaryAfter,
      ...estimate.nodes.get(node.id.toString())
    })),
    table: plan.table.toJSON(),
    nodes: nodesJSON(views)
  }
}

function nodesJSON (views: Map<string, NodeView>): unknown[] {
  return [...views.values()].map(view => ({
    peerId: view.id.toString(),
    reachable: view.health != null,
    ...(view.health != null ? { epoch: view.health.epoch, storedBytes: view.health.storedBytes, ...(view.health.layout != null ? { layout: view.health.layout } : {}) } : { error: view.error })
  }))
}

/**
 * Ask on the terminal whether to go ahead
 *
 * @throws {UsageError} when stdin is not a terminal: --yes is needed
 */
async function confirm (io: CliIO, command: string, plan: TablePlan): Promise<boolean> {
  if (io.stdin.isTTY !== true) {
    throw new UsageError('stdin is not a terminal, so nobody can confirm the plan: run again with --yes to apply it, or --dry-run to only see it', command)
  }

  const rl = createInterface({ input: io.stdin, output: io.stderr, terminal: false })

  try {
    await write(io.stderr, `sign slot table epoch ${plan.table.epoch} with the admin key and move the data? [y/N] `)
    const answer = await new Promise<string>(resolve => {
      rl.once('line', resolve)
      rl.once('close', () => { resolve('') })
    })
    return /^y(es)?$/i.test(answer.trim())
  } finally {
    rl.close()
  }
}

/** The first characters of a peer ID, enough to tell nodes apart */
function short (id: PeerId): string {
  const text = id.toString()
  return text.length > 16 ? `${text.slice(0, 8)}…${text.slice(-6)}` : text
}

/** Bytes for people: 1.5 MB */
export function formatBytes (bytes: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB']
  let value = bytes
  let unit = 0

  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000
    unit++
  }

  return `${unit === 0 ? Math.round(value) : value.toFixed(1)} ${units[unit]}`
}

function duration (seconds: number): string {
  if (!Number.isFinite(seconds)) {
    return '?'
  }

  const s = Math.round(seconds)
  return s < 60 ? `${s} s` : s < 3600 ? `${Math.floor(s / 60)} min ${s % 60} s` : `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`
}

async function sleep (ms: number, signal?: AbortSignal): Promise<void> {
  await new Promise<void>(resolve => {
    const timer = setTimeout(done, ms)
    function done (): void {
      clearTimeout(timer)
      signal?.removeEventListener('abort', done)
      resolve()
    }
    signal?.addEventListener('abort', done, { once: true })
  })
}

/** For commands built on runChange: the command with the shared options and description */
export function changeCommand (command: Omit<Command, 'options' | 'run'> & { options: Record<string, OptionSpec>, change(args: Args): TableChange }): Command {
  return {
    ...command,
    description: command.description + '\n' + CHANGE_DESCRIPTION,
    options: { ...command.options, ...CHANGE_OPTIONS },
    run: async (args, io) => runChange(args, io, command.change(args))
  }
}

/**
 * A plan that moves single-owner slots to other nodes is refused before
 * anything is signed: nodes switch to a table with one owner everywhere at
 * once, so the values of those slots would stay behind on their old owner,
 * out of reach (and a change to replicated slots that moves them is refused
 * by every node). The way to grow such a cluster is to raise the replicas
 * first, keeping each slot's owner.
 */
function refuseStranding (command: string, from: SlotTable, to: SlotTable): void {
  try {
    assertMovable(from, to)
  } catch (err) {
    if (!(err instanceof InvalidSlotTableError)) {
      throw err
    }

    const way = from.replicas === 1
      ? `Raise the replicas first: \`${PROGRAM} rebalance --replicas 2\` gives every slot a second owner and keeps the first; then run ${command} again`
      : 'Keep 2 or more owners per slot (--replicas 2 or more)'
    throw new UsageError(`${err.message}. The plan would leave the values of those slots behind on their owner. ${way}`, command)
  }
}
