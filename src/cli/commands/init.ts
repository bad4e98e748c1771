import { mkdir, access } from 'node:fs/promises'
import { isIP } from 'node:net'
import { join, resolve } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { SLOT_COUNT } from '../../constants.js'
import { signTable } from '../../membership/signed-table.js'
import { SlotTable } from '../../slots/table.js'
import { ADMIN_KEY_FILE, writeAdminKey } from '../admin-key.js'
import { PROGRAM, integerOption, stringOption } from '../args.js'
import { CONFIG_VERSION, STORE_TYPES, adminKeyString, writeConfigFile, writeKeyFile } from '../config.js'
import { CliError, EXIT, UsageError } from '../errors.js'
import { write } from '../io.js'
import type { Command } from '../args.js'
import type { ClientConfigJSON, NodeConfigJSON, StoreType } from '../config.js'
import type { CliIO } from '../io.js'

/** Default owners per slot range (fewer when there are fewer nodes) */
export const DEFAULT_REPLICAS = 3

/** Default first TCP port */
export const DEFAULT_BASE_PORT = 7001

/**
 * `init`: write the configs and keys of a new cluster
 */
export const init: Command = {
  name: 'init',
  summary: 'write the config and key files of a new N-node cluster',
  usage: 'init --nodes N [options] DIR',
  description: `
Write one config file per data node (node-1.json … node-N.json, each with its
own key file node-K.key) and a client config (client.json, client.key) into
DIR, creating DIR if needed. Every config carries the same slot table: the
16384 slots split evenly over the nodes, with each node's peer ID and address,
and the client's peer ID among the table's allowed clients.

It also writes the cluster's admin key, admin.key (mode 0600): every table is
signed by it (the configs carry the table, its signature "signedTable" and
the admin public key "adminKey"), and nodes adopt a new table only when it
is signed by this key and has a higher epoch. The admin key is never put in
a config nor sent over the network: move it off the nodes' machines, to
where the operator signs tables, and keep a backup - without it the table
can no longer be changed.

With --replicas R (default: 3, or the number of nodes if fewer), every slot
range has R owners: node K's range is also held by the next R-1 nodes, and
operations wait for a quorum of them (consistency "quorum"), so a cluster of
3 nodes with 3 replicas keeps answering, and loses no acknowledged write,
when any one node is down. --replicas 1 gives each range one owner, as
before replication: a node down makes its keys unavailable.

Key files are written with mode 0600 and are only referenced by path from the
configs. Existing files are never overwritten.

Nodes on one host get consecutive ports from --base-port. With --hosts, node K
gets the K-th host; nodes sharing a host get consecutive ports.`,
  options: {
    nodes: { type: 'string', short: 'n', arg: 'N', help: 'number of data nodes (required)' },
    host: { type: 'string', arg: 'HOST', help: 'IP address or DNS name of every node (default 127.0.0.1)' },
    hosts: { type: 'string', arg: 'H1,H2,…', help: 'one host per node, comma-separated, for nodes on several machines' },
    'base-port': { type: 'string', short: 'p', arg: 'PORT', help: `first TCP port (default ${DEFAULT_BASE_PORT})` },
    'listen-host': { type: 'string', arg: 'IP', help: 'address the nodes listen on, e.g. 0.0.0.0 (default: each node\'s IP; 0.0.0.0 for a DNS name)' },
    store: { type: 'string', arg: 'TYPE', help: 'local store of the nodes: level (default), fs or memory' },
    replicas: { type: 'string', short: 'r', arg: 'R', help: 'owners of each slot range, 1 to N (default min(3, N))' }
  },
  positionals: { min: 1, max: 1, name: 'DIR (the directory to write the configs into)' },
  examples: [
    `${PROGRAM} init --nodes 3 ./cluster`,
    `${PROGRAM} init --nodes 5 --replicas 3 ./cluster`,
    `${PROGRAM} init --nodes 3 --hosts 10.0.0.1,10.0.0.2,10.0.0.3 --listen-host 0.0.0.0 ./cluster`
  ],
  run: runInit
}

async function runInit (args: Parameters<Command['run']>[0], io: CliIO): Promise<number> {
  const nodes = integerOption(args, 'nodes', 'init', { min: 1, max: SLOT_COUNT })

  if (nodes == null) {
    throw new UsageError('--nodes N is required', 'init')
  }

  const replicas = integerOption(args, 'replicas', 'init', { min: 1, max: nodes, fallback: Math.min(DEFAULT_REPLICAS, nodes) }) ?? Math.min(DEFAULT_REPLICAS, nodes)
  const basePort = integerOption(args, 'base-port', 'init', { min: 1, max: 65535, fallback: DEFAULT_BASE_PORT }) ?? DEFAULT_BASE_PORT
  const storeType = (stringOption(args, 'store') ?? 'level') as StoreType

  if (!STORE_TYPES.includes(storeType)) {
    throw new UsageError(`--store must be one of ${STORE_TYPES.join(', ')}, got ${JSON.stringify(storeType)}`, 'init')
  }

  const hosts = nodeHosts(args.values.host as string | undefined, args.values.hosts as string | undefined, nodes)
  const listenHost = stringOption(args, 'listen-host')

  if (listenHost != null && isIP(listenHost) === 0) {
    throw new UsageError(`--listen-host must be an IP address such as 0.0.0.0, got ${JSON.stringify(listenHost)}`, 'init')
  }

  // ports: consecutive per host, so nodes sharing a machine do not clash
  const nextPort = new Map<string, number>()
  const ports = hosts.map(host => {
    const port = nextPort.get(host) ?? basePort
    nextPort.set(host, port + 1)
    return port
  })

  if (Math.max(...ports) > 65535) {
    throw new UsageError(`--base-port ${basePort} leaves no room for ${nodes} ports on one host (the last would be ${Math.max(...ports)})`, 'init')
  }

  const dir = resolve(io.cwd, args.positionals[0])
  const names = [...Array.from({ length: nodes }, (_, i) => [`node-${i + 1}.json`, `node-${i + 1}.key`]).flat(), 'client.json', 'client.key', ADMIN_KEY_FILE]

  for (const name of names) {
    if (await exists(join(dir, name))) {
      throw new CliError(`${join(dir, name)} already exists; init never overwrites configs or keys. Choose another directory or remove the old files.`, EXIT.FAILED)
    }
  }

  await mkdir(dir, { recursive: true })

  const keys = await Promise.all(Array.from({ length: nodes + 2 }, async () => generateKeyPair('Ed25519')))
  const nodeKeys = keys.slice(0, nodes)
  const clientKey = keys[nodes]
  const adminKey = keys[nodes + 1]
  const clientId = peerIdFromPrivateKey(clientKey).toString()

  const table = SlotTable.even(nodeKeys.map((key, i) => ({
    id: peerIdFromPrivateKey(key),
    addrs: [`${addrPrefix(hosts[i])}/tcp/${ports[i]}`]
  })), { epoch: 1, replicas, clients: [{ id: clientId }] })
  const slots = table.toJSON()
  const signing = {
    adminKey: adminKeyString(adminKey.publicKey),
    signedTable: Buffer.from((await signTable(table, adminKey)).bytes).toString('base64')
  }

  // first: a cluster whose admin key was not written could never change its table
  await writeAdminKey(join(dir, ADMIN_KEY_FILE), adminKey)

  for (let i = 0; i < nodes; i++) {
    const name = `node-${i + 1}`
    const listenOn = listenHost ?? (isIP(hosts[i]) !== 0 ? hosts[i] : '0.0.0.0')
    const config: NodeConfigJSON = {
      version: CONFIG_VERSION,
      role: 'node',
      peerId: peerIdFromPrivateKey(nodeKeys[i]).toString(),
      privateKeyFile: `${name}.key`,
      listen: [`${addrPrefix(listenOn)}/tcp/${ports[i]}`],
      store: storeType === 'memory' ? { type: 'memory' } : { type: storeType, path: `${name}.data` },
      slots,
      ...signing
    }

    await writeKeyFile(join(dir, `${name}.key`), nodeKeys[i])
    await writeConfigFile(join(dir, `${name}.json`), config)
  }

  const client: ClientConfigJSON = {
    version: CONFIG_VERSION,
    role: 'client',
    peerId: clientId,
    privateKeyFile: 'client.key',
    slots,
    ...signing
  }

  await writeKeyFile(join(dir, 'client.key'), clientKey)
  await writeConfigFile(join(dir, 'client.json'), client)

  // the directory as the user wrote it, so the printed commands can be pasted
  const shown = args.positionals[0]
  const lines = [`wrote a ${nodes}-node cluster to ${dir}, ${replicas === 1 ? 'one owner per slot range (no replicas)' : `${replicas} owners per slot range (quorum ${Math.floor(replicas / 2) + 1})`}:`]

  table.ranges.forEach((range, i) => {
    const also = range.owners.slice(1).map(o => `node-${table.peers.findIndex(p => p.id.equals(o)) + 1}`)
    lines.push(`  node-${i + 1}.json  ${range.owners[0].toString()}  ${table.peers[i].addrs[0].toString()}  slots ${range.start}-${range.end}${also.length > 0 ? ` (also held by ${also.join(', ')})` : ''}`)
  })
  lines.push(`  client.json  ${clientId}`)
  lines.push('key files (*.key, mode 0600) hold the identities: keep each on its node\'s machine.')
  lines.push(`${ADMIN_KEY_FILE} signs every slot table: move it off the nodes' machines and back it up; without it the table cannot change.`)
  lines.push('', 'start the nodes (one terminal or service each):')

  for (let i = 0; i < Math.min(nodes, 3); i++) {
    lines.push(`  ${PROGRAM} serve --config ${join(shown, `node-${i + 1}.json`)}`)
  }

  if (nodes > 3) {
    lines.push('  …')
  }

  lines.push('then:', `  ${PROGRAM} status --config ${join(shown, 'client.json')}`)
  await write(io.stdout, lines.join('\n') + '\n')

  return EXIT.OK
}

function nodeHosts (host: string | undefined, hosts: string | undefined, nodes: number): string[] {
  if (host != null && hosts != null) {
    throw new UsageError('give --host or --hosts, not both', 'init')
  }

  if (hosts != null) {
    const list = hosts.split(',').map(h => h.trim())

    if (list.length !== nodes || list.some(h => h === '')) {
      throw new UsageError(`--hosts must list exactly ${nodes} hosts (one per node, comma-separated), got ${JSON.stringify(hosts)}`, 'init')
    }

    list.forEach(checkHost)
    return list
  }

  const one = host ?? '127.0.0.1'
  checkHost(one)
  return Array.from({ length: nodes }, () => one)
}

function checkHost (host: string): void {
  if (isIP(host) === 0 && !/^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$/.test(host)) {
    throw new UsageError(`${JSON.stringify(host)} is neither an IP address nor a DNS name`, 'init')
  }

  if (host === '0.0.0.0' || host === '::') {
    throw new UsageError(`${host} cannot be dialled: give each node's reachable address with --host/--hosts, and use --listen-host ${host} to listen on every interface`, 'init')
  }
}

/** The multiaddr of a host, without the port */
function addrPrefix (host: string): string {
  switch (isIP(host)) {
    case 4: return `/ip4/${host}`
    case 6: return `/ip6/${host}`
    default: return `/dns/${host}`
  }
}

async function exists (path: string): Promise<boolean> {
  try {
    await access(path)
    return true
  } catch {
    return false
  }
}
