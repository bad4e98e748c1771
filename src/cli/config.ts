/**
 * Config files of the command line: their format (docs/config.md), loading
 * with validation that names every wrong field and how to fix it, and the
 * key files that hold identities.
 *
 * A config is JSON. Private keys are never inside it: each config names a
 * key file (mode 0600) by path, so a config - which carries the slot table
 * every node and client shares - can be copied around while the key stays
 * on its machine.
 */

import { readFile, stat, writeFile, chmod } from 'node:fs/promises'
import { dirname, isAbsolute, resolve } from 'node:path'
import { privateKeyFromProtobuf, privateKeyToProtobuf, publicKeyToProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { InvalidSlotTableError } from '../errors.js'
import { openSignedTable } from '../membership/signed-table.js'
import { SlotTable } from '../slots/table.js'
import { adminKeyFromBase64 } from '../validate.js'
import { ConfigError, codeOf, messageOf } from './errors.js'
import type { ClusterDatastoreOptions, SlotTableJSON } from '../index.js'
import type { SignedSlotTable } from '../membership/signed-table.js'
import type { ConfigProblem } from './errors.js'
import type { PeerId, PrivateKey, PublicKey } from '@libp2p/interface'

/** The config format version this program reads and writes */
export const CONFIG_VERSION = 1

/** Local stores a data node can keep its share of the keys in */
export const STORE_TYPES = ['level', 'fs', 'memory'] as const

/** A local store type */
export type StoreType = typeof STORE_TYPES[number]

/**
 * The `store` field of a node config
 */
export interface StoreConfigJSON {
  /** `level` (datastore-level, the default), `fs` (datastore-fs, one file per key) or `memory` (lost on exit) */
  type: StoreType
  /** Directory of the store; relative paths are resolved from the config file's directory. Not used by `memory`. */
  path?: string
}

/**
 * A client allowed to call a data node
 */
export interface ClientEntryJSON {
  peerId: string
  /** Refuse its writes, default false */
  readOnly?: boolean
}

/**
 * ClusterDatastore options a config may set; every one is optional (clients
 * have a field of their own)
 */
export type OptionsJSON = Omit<ClusterDatastoreOptions, 'clients' | 'consistency' | 'adminKey'>

/**
 * A data node's config file, as JSON
 */
export interface NodeConfigJSON {
  version: typeof CONFIG_VERSION
  role: 'node'
  peerId: string
  privateKeyFile: string
  listen: string[]
  store: StoreConfigJSON
  clients?: Array<string | ClientEntryJSON>
  options?: OptionsJSON
  slots: SlotTableJSON
  /** The cluster's admin public key, protobuf in base64 (see `adminKeyString`) */
  adminKey?: string
  /** `slots` signed by the admin key: a marshaled signed envelope in base64 */
  signedTable?: string
}

/**
 * A client's config file, as JSON
 */
export interface ClientConfigJSON {
  version: typeof CONFIG_VERSION
  role: 'client'
  peerId: string
  privateKeyFile: string
  options?: OptionsJSON
  slots: SlotTableJSON
  adminKey?: string
  signedTable?: string
}

/** Either config file, as JSON */
export type ConfigJSON = NodeConfigJSON | ClientConfigJSON

/**
 * What every loaded config has
 */
interface LoadedBase {
  /** Absolute path of the config file */
  file: string
  peerId: PeerId
  /** Absolute path of the key file */
  privateKeyFile: string
  privateKey: PrivateKey
  slots: SlotTable
  /** `slots` as signed by the admin key, when the config has `signedTable` */
  signed?: SignedSlotTable
  /** With `adminKey` in the config, `options.adminKey` is set */
  options: ClusterDatastoreOptions
  /** Things that work but are probably not what was meant */
  warnings: string[]
}

/**
 * A loaded, validated data node config, identity included
 */
export interface NodeConfig extends LoadedBase {
  role: 'node'
  listen: string[]
  store: { type: StoreType, path?: string }
  clients: ClientEntryJSON[]
}

/**
 * A loaded, validated client config, identity included
 */
export interface ClientConfig extends LoadedBase {
  role: 'client'
}

const COMMON_FIELDS = ['version', 'role', 'peerId', 'privateKeyFile', 'options', 'slots', 'adminKey', 'signedTable']
const NODE_FIELDS = [...COMMON_FIELDS, 'listen', 'store', 'clients']

/** Option name -> smallest value the core accepts */
const OPTION_MINIMUMS: Record<keyof OptionsJSON, number> = {
  requestTimeout: 1,
  maxMessageSize: 1024,
  maxRedirects: 0,
  maxInboundStreams: 1,
  maxOutboundStreams: 1,
  streamWindow: 1024,
  maxInFlightPerStream: 1,
  maxInFlightBytes: 1024,
  maxQueuedBytes: 1024,
  maxConcurrentPerStream: 1,
  antiEntropyInterval: 10,
  tombstoneGracePeriod: 0,
  scrubInterval: 0,
  heartbeatInterval: 10,
  suspectAfter: 1
}

const TABLE_FIX = 'every node and client of a cluster must carry the same "slots" table: copy it from a config init wrote for this cluster, or fix it so that each slot 0-16383 is in exactly one range and every owner is listed in slots.peers (see docs/config.md)'

/**
 * The fields of a config that passed validation, before the key file is read
 */
export interface ValidatedConfig {
  role: 'node' | 'client'
  peerId: PeerId
  /** As written in the file */
  privateKeyFile: string
  slots: SlotTable
  options: ClusterDatastoreOptions
  listen: string[]
  store: { type: StoreType, path?: string }
  clients: ClientEntryJSON[]
  adminKey?: PublicKey
  /** The marshaled signed envelope; checked against `adminKey` and `slots` by `loadConfig` */
  signedTable?: Uint8Array
  warnings: string[]
}

/**
 * Check a parsed config file. Collects every problem rather than stopping at
 * the first, so one run shows everything to fix.
 *
 * @param input - the parsed JSON
 * @param expectRole - the role the command needs; a config of the other role is a problem
 * @returns the validated fields, or the problems found
 */
export function validateConfig (input: unknown, expectRole?: 'node' | 'client'): { config?: ValidatedConfig, problems: ConfigProblem[] } {
  const problems: ConfigProblem[] = []
  const warnings: string[] = []

  if (!isRecord(input)) {
    return { problems: [{ field: '', message: `the file must hold a JSON object, it holds ${describe(input)}`, fix: 'generate configs with `datastore-cluster init` (see docs/config.md)' }] }
  }

  // version first: a newer format may legitimately differ in everything else
  if (!('version' in input)) {
    problems.push({ field: 'version', message: 'is missing', fix: `add "version": ${CONFIG_VERSION}` })
  } else if (input.version !== CONFIG_VERSION) {
    problems.push({
      field: 'version',
      message: `must be ${CONFIG_VERSION}, got ${describe(input.version)}`,
      fix: typeof input.version === 'number' && input.version > CONFIG_VERSION
        ? 'this file was written by a newer datastore-cluster: upgrade this one'
        : `set "version": ${CONFIG_VERSION}`
    })
    return { problems }
  }

  let role: 'node' | 'client' | undefined

  if (!('role' in input)) {
    problems.push({ field: 'role', message: 'is missing', fix: 'add "role": "node" for a data node or "role": "client" for a client' })
  } else if (input.role !== 'node' && input.role !== 'client') {
    problems.push({ field: 'role', message: `must be "node" or "client", got ${describe(input.role)}`, fix: 'use "node" for a data node (serve) and "client" for the client commands' })
  } else {
    role = input.role
  }

  if (role != null && expectRole != null && role !== expectRole) {
    problems.push(expectRole === 'node'
      ? { field: 'role', message: 'is "client", but serve runs a data node', fix: 'give serve a node config (node-N.json written by init); client configs are for put, get, rm, ls and status' }
      : { field: 'role', message: 'is "node", but this command is a client', fix: 'give the client config (client.json written by init); a second process with a data node\'s identity would take over that node\'s connections' })
  }

  // unknown fields are usually misspelt optional ones, which would otherwise be silently ignored
  const known = role === 'client' ? COMMON_FIELDS : NODE_FIELDS

  for (const field of Object.keys(input)) {
    if (!known.includes(field)) {
      const guess = closest(field, known)
      problems.push({
        field,
        message: `is not a field of a ${role ?? 'config'} config`,
        fix: guess != null ? `did you mean "${guess}"?` : `remove it; the fields are ${known.join(', ')}`
      })
    }
  }

  const peerId = checkPeerId(input.peerId, 'peerId', problems, 'set it to the peer ID of the key in privateKeyFile (init writes both)')

  let privateKeyFile: string | undefined

  if (!('privateKeyFile' in input)) {
    problems.push({ field: 'privateKeyFile', message: 'is missing', fix: 'add "privateKeyFile": "<path of this config\'s key file>", relative to the config file\'s directory' })
  } else if (typeof input.privateKeyFile !== 'string' || input.privateKeyFile === '') {
    problems.push({ field: 'privateKeyFile', message: `must be a path, got ${describe(input.privateKeyFile)}`, fix: 'give the key file\'s path, relative to the config file\'s directory' })
  } else {
    privateKeyFile = input.privateKeyFile
  }

  const options = checkOptions(input.options, problems)
  let slots: SlotTable | undefined

  if (!('slots' in input)) {
    problems.push({ field: 'slots', message: 'is missing', fix: TABLE_FIX })
  } else if (!isRecord(input.slots)) {
    problems.push({ field: 'slots', message: `must be a slot table object { epoch, ranges, peers }, got ${describe(input.slots)}`, fix: TABLE_FIX })
  } else {
    try {
      slots = SlotTable.fromJSON(input.slots as unknown as SlotTableJSON)
    } catch (err) {
      if (!(err instanceof InvalidSlotTableError)) {
        throw err
      }

      for (const problem of err.problems) {
        // problems start with the field they are about, e.g. "ranges[1].start must be…"
        const match = /^((?:epoch|ranges|peers)(?:\[\d+\])?(?:\.[a-z]+(?:\[\d+\])?)*)\s+(.*)$/s.exec(problem)
        problems.push(match != null
          ? { field: `slots.${match[1]}`, message: match[2], fix: TABLE_FIX }
          : { field: 'slots', message: problem, fix: TABLE_FIX })
      }
    }
  }

  let listen: string[] = []
  let store: ValidatedConfig['store'] = { type: 'memory' }
  let clients: ClientEntryJSON[] = []
  const { adminKey, signedTable } = checkSigning(input, problems, warnings)

  if (role === 'node') {
    listen = checkListen(input.listen, problems)
    store = checkStore(input.store, problems)
    clients = checkClients(input.clients, problems)

    if (adminKey != null && clients.length > 0) {
      problems.push({ field: 'clients', message: 'is given together with adminKey', fix: 'with an admin key the allowed clients are part of the signed table (slots.clients), so they change everywhere at once: remove "clients" and sign a table that lists them' })
    } else if (adminKey != null && slots != null) {
      clients = slots.clients.map(c => ({ peerId: c.id.toString(), readOnly: c.readOnly }))
    }

    if (peerId != null && slots != null) {
      if (!slots.hasPeer(peerId) && adminKey != null) {
        // a node being added: it serves nothing until a signed table listing it arrives
        warnings.push(`${peerId.toString()} is not in the slot table of this config: the node joins the cluster when a table signed by the admin key lists it (datastore-cluster add-node), and serves no slots until then`)
      } else if (!slots.hasPeer(peerId)) {
        problems.push({
          field: 'peerId',
          message: `${peerId.toString()} is not listed in slots.peers, so the other nodes do not know this node`,
          fix: 'use the slots table init wrote for this cluster, or add { "id": this peer ID, "addrs": [its address] } to slots.peers of every config'
        })
      } else {
        warnings.push(...addressWarnings(peerId, slots, listen))
      }
    }
  }

  if (problems.length > 0 || role == null || peerId == null || privateKeyFile == null || slots == null) {
    return { problems }
  }

  return { config: { role, peerId, privateKeyFile, slots, options, listen, store, clients, adminKey, signedTable, warnings }, problems }
}

/**
 * `adminKey` and `signedTable`: base64 strings, the table only with the key
 */
function checkSigning (input: Record<string, unknown>, problems: ConfigProblem[], warnings: string[]): { adminKey?: PublicKey, signedTable?: Uint8Array } {
  let adminKey: PublicKey | undefined
  let signedTable: Uint8Array | undefined
  const keyFix = 'copy "adminKey" from a config init wrote for this cluster (it is the admin public key, protobuf in base64), or remove it for a fixed table'

  if (input.adminKey !== undefined) {
    if (typeof input.adminKey !== 'string' || !/^[A-Za-z0-9+/]+={0,2}$/.test(input.adminKey)) {
      problems.push({ field: 'adminKey', message: `must be a base64 string, got ${describe(input.adminKey)}`, fix: keyFix })
    } else {
      try {
        adminKey = adminKeyFromBase64(input.adminKey)
      } catch (err) {
        problems.push({ field: 'adminKey', message: `is not a public key: ${messageOf(err)}`, fix: keyFix })
      }
    }
  }

  if (input.signedTable !== undefined) {
    if (typeof input.signedTable !== 'string' || !/^[A-Za-z0-9+/]+={0,2}$/.test(input.signedTable)) {
      problems.push({ field: 'signedTable', message: `must be a base64 string, got ${describe(input.signedTable)}`, fix: 'copy "signedTable" together with "slots" from a config init wrote for this cluster' })
    } else if (input.adminKey === undefined) {
      problems.push({ field: 'signedTable', message: 'is given without adminKey, so nothing can check it', fix: 'add the cluster\'s "adminKey", or remove "signedTable"' })
    } else {
      signedTable = Buffer.from(input.signedTable, 'base64')
    }
  } else if (adminKey != null) {
    warnings.push('the config has adminKey but no signedTable: this node adopts tables signed by the admin key, but has no signed table of its own to hand to peers')
  }

  return { adminKey, signedTable }
}

/**
 * The config's signed table, checked: it opens with the admin key and holds
 * the config's `slots`
 *
 * @throws {ConfigError} naming signedTable when it does not
 */
async function openConfigTable (file: string, config: ValidatedConfig): Promise<SignedSlotTable | undefined> {
  if (config.signedTable == null || config.adminKey == null) {
    return undefined
  }

  const fix = 'copy "slots" and "signedTable" together from a config written for this cluster (init, or the command that signed the latest table)'
  let signed: SignedSlotTable

  try {
    signed = await openSignedTable(config.signedTable, config.adminKey)
  } catch (err) {
    throw new ConfigError(file, [{ field: 'signedTable', message: `cannot be used: ${messageOf(err)}`, fix }])
  }

  if (!signed.table.equals(config.slots)) {
    throw new ConfigError(file, [{ field: 'signedTable', message: `holds another table than "slots" (signed epoch ${signed.table.epoch}, slots epoch ${config.slots.epoch})`, fix }])
  }

  return signed
}

/** A public key as configs carry it: protobuf in base64 */
export function adminKeyString (key: PublicKey): string {
  return Buffer.from(publicKeyToProtobuf(key)).toString('base64')
}

/**
 * Read, parse and validate a config file and the key file it names
 *
 * @param file - path of the config file
 * @param expectRole - the role the command needs
 * @throws {ConfigError} listing every problem found
 */
export async function loadConfig (file: string, expectRole: 'node'): Promise<NodeConfig>
export async function loadConfig (file: string, expectRole: 'client'): Promise<ClientConfig>
export async function loadConfig (file: string, expectRole?: 'node' | 'client'): Promise<NodeConfig | ClientConfig>
export async function loadConfig (file: string, expectRole?: 'node' | 'client'): Promise<NodeConfig | ClientConfig> {
  const path = resolve(file)
  let text: string

  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    throw new ConfigError(file, [{
      field: '',
      message: `cannot read the file: ${fsReason(err)}`,
      fix: codeOf(err) === 'ENOENT'
        ? 'check the path; `datastore-cluster init --nodes 3 DIR` writes node-1.json … and client.json into DIR'
        : 'make the file readable by the user running this command'
    }])
  }

  let input: unknown

  try {
    input = JSON.parse(text)
  } catch (err) {
    throw new ConfigError(file, [{ field: '', message: `is not valid JSON: ${messageOf(err)}`, fix: 'config files are plain JSON: no comments, no trailing commas, keys in double quotes' }])
  }

  const { config, problems } = validateConfig(input, expectRole)

  if (config == null) {
    throw new ConfigError(file, problems)
  }

  const keyPath = isAbsolute(config.privateKeyFile) ? config.privateKeyFile : resolve(dirname(path), config.privateKeyFile)
  const signed = await openConfigTable(file, config)
  const { privateKey, warnings } = await loadKeyFile(file, keyPath, config.peerId)
  const base = {
    file: path,
    peerId: config.peerId,
    privateKeyFile: keyPath,
    privateKey,
    slots: config.slots,
    signed,
    options: config.adminKey != null ? { ...config.options, adminKey: config.adminKey } : config.options,
    warnings: [...config.warnings, ...warnings]
  }

  if (config.role === 'client') {
    return { ...base, role: 'client' }
  }

  return {
    ...base,
    role: 'node',
    listen: config.listen,
    store: {
      type: config.store.type,
      path: config.store.path == null ? undefined : resolve(dirname(path), config.store.path)
    },
    clients: config.clients
  }
}

/**
 * Read a key file and check it holds the key of `peerId`
 *
 * @throws {ConfigError} naming privateKeyFile when it cannot be read, is not a key, or is another peer's key
 */
async function loadKeyFile (configFile: string, keyPath: string, peerId: PeerId): Promise<{ privateKey: PrivateKey, warnings: string[] }> {
  const field = 'privateKeyFile'
  const warnings: string[] = []
  let bytes: Uint8Array

  try {
    bytes = await readFile(keyPath)
  } catch (err) {
    const fix = codeOf(err) === 'ENOENT'
      ? 'point privateKeyFile at this config\'s key file (init writes it next to the config; a relative path is resolved from the config file\'s directory)'
      : codeOf(err) === 'EISDIR'
        ? 'point privateKeyFile at the key file itself, not a directory'
        : 'run as the user that owns the key file, or fix its owner (chmod 600 keeps it private)'
    throw new ConfigError(configFile, [{ field, message: `cannot read key file ${keyPath}: ${fsReason(err)}`, fix }])
  }

  const privateKey = decodePrivateKey(bytes)

  if (privateKey == null) {
    throw new ConfigError(configFile, [{
      field,
      message: `${keyPath} does not hold a libp2p private key (expected the protobuf encoding written by init, or that base64-encoded)`,
      fix: 'point privateKeyFile at the key file init wrote for this config; a lost key cannot be recovered: generate a new cluster config with init'
    }])
  }

  const owner = peerIdFromPrivateKey(privateKey)

  if (!owner.equals(peerId)) {
    throw new ConfigError(configFile, [{
      field,
      message: `${keyPath} holds the key of peer ${owner.toString()}, but peerId is ${peerId.toString()}`,
      fix: 'point privateKeyFile at the key file written together with this config (each node has its own)'
    }])
  }

  try {
    const info = await stat(keyPath)

    // like ssh: a private key others can read is a leak waiting to happen
    if ((info.mode & 0o077) !== 0) {
      warnings.push(`key file ${keyPath} can be read by other users (mode ${(info.mode & 0o777).toString(8).padStart(4, '0')}): run chmod 600 ${keyPath}`)
    }
  } catch {
    // the key was just read; a failing stat only loses the warning
  }

  return { privateKey, warnings }
}

/**
 * A private key from a key file: its protobuf encoding, or that in base64
 */
export function decodePrivateKey (bytes: Uint8Array): PrivateKey | undefined {
  try {
    return privateKeyFromProtobuf(bytes)
  } catch {
    // not raw protobuf: maybe base64 text
  }

  // a key pasted as text
  const text = new TextDecoder().decode(bytes).trim()

  if (/^[A-Za-z0-9+/_-]+={0,2}$/.test(text)) {
    try {
      return privateKeyFromProtobuf(Buffer.from(text, 'base64'))
    } catch {
      // not a key either way
    }
  }

  return undefined
}

/**
 * Write a private key to a new file readable only by its owner. Fails if the
 * file exists: overwriting a node's key would change its identity.
 */
export async function writeKeyFile (path: string, key: PrivateKey): Promise<void> {
  await writeFile(path, privateKeyToProtobuf(key), { mode: 0o600, flag: 'wx' })
  // the mode given to writeFile is filtered by the umask; make sure
  await chmod(path, 0o600)
}

/**
 * Write a config file (no secrets in it, so readable by others as usual).
 * Fails if the file exists.
 */
export async function writeConfigFile (path: string, config: ConfigJSON): Promise<void> {
  await writeFile(path, JSON.stringify(config, null, 2) + '\n', { flag: 'wx' })
}

function checkPeerId (value: unknown, field: string, problems: ConfigProblem[], fix: string): PeerId | undefined {
  if (value === undefined) {
    problems.push({ field, message: 'is missing', fix })
    return undefined
  }

  if (typeof value !== 'string') {
    problems.push({ field, message: `must be a peer ID string, got ${describe(value)}`, fix })
    return undefined
  }

  try {
    const id = peerIdFromString(value)

    if (id.type !== 'url') {
      return id
    }
  } catch {
    // reported below
  }

  problems.push({ field, message: `${describe(value)} is not a valid peer ID`, fix })
  return undefined
}

function checkOptions (value: unknown, problems: ConfigProblem[]): ClusterDatastoreOptions {
  const options: ClusterDatastoreOptions = {}

  if (value === undefined) {
    return options
  }

  if (!isRecord(value)) {
    problems.push({ field: 'options', message: `must be an object, got ${describe(value)}`, fix: `remove it for the defaults, or give some of ${Object.keys(OPTION_MINIMUMS).join(', ')}` })
    return options
  }

  for (const [name, raw] of Object.entries(value)) {
    const field = `options.${name}`

    if (!(name in OPTION_MINIMUMS)) {
      const guess = closest(name, Object.keys(OPTION_MINIMUMS))
      problems.push({ field, message: 'is not an option', fix: guess != null ? `did you mean "${guess}"?` : `the options are ${Object.keys(OPTION_MINIMUMS).join(', ')}` })
      continue
    }

    const min = OPTION_MINIMUMS[name as keyof OptionsJSON]

    if (typeof raw !== 'number' || !Number.isSafeInteger(raw) || raw < min) {
      problems.push({ field, message: `must be an integer >= ${min}, got ${describe(raw)}`, fix: 'give a number without quotes, or remove it for the default (docs/config.md lists them)' })
      continue
    }

    options[name as keyof OptionsJSON] = raw
  }

  return options
}

function checkListen (value: unknown, problems: ConfigProblem[]): string[] {
  const fix = 'give the TCP addresses this node listens on, e.g. ["/ip4/0.0.0.0/tcp/7001"]'

  if (value === undefined) {
    problems.push({ field: 'listen', message: 'is missing', fix })
    return []
  }

  if (!Array.isArray(value) || value.length === 0) {
    problems.push({ field: 'listen', message: `must be a non-empty array of multiaddrs, got ${describe(value)}`, fix })
    return []
  }

  const out: string[] = []

  value.forEach((addr: unknown, i: number) => {
    const field = `listen[${i}]`

    if (typeof addr !== 'string') {
      problems.push({ field, message: `must be a multiaddr string, got ${describe(addr)}`, fix })
      return
    }

    let components

    try {
      components = multiaddr(addr).getComponents()
    } catch (err) {
      problems.push({ field, message: `${JSON.stringify(addr)} is not a valid multiaddr: ${messageOf(err)}`, fix })
      return
    }

    if (components.length !== 2 || (components[0].name !== 'ip4' && components[0].name !== 'ip6') || components[1].name !== 'tcp') {
      problems.push({ field, message: `${JSON.stringify(addr)} is not an /ip4/…/tcp/… or /ip6/…/tcp/… address (the node listens on TCP only)`, fix })
      return
    }

    out.push(addr)
  })

  return out
}

function checkStore (value: unknown, problems: ConfigProblem[]): ValidatedConfig['store'] {
  const fix = 'e.g. "store": { "type": "level", "path": "node-1.data" }; type is level, fs or memory'

  if (value === undefined) {
    problems.push({ field: 'store', message: 'is missing', fix })
    return { type: 'memory' }
  }

  if (!isRecord(value)) {
    problems.push({ field: 'store', message: `must be an object, got ${describe(value)}`, fix })
    return { type: 'memory' }
  }

  for (const field of Object.keys(value)) {
    if (field !== 'type' && field !== 'path') {
      problems.push({ field: `store.${field}`, message: 'is not a field of store', fix: 'store has only type and path' })
    }
  }

  if (!STORE_TYPES.includes(value.type as StoreType)) {
    problems.push({ field: 'store.type', message: `must be one of ${STORE_TYPES.map(t => `"${t}"`).join(', ')}, got ${describe(value.type)}`, fix: '"level" keeps data in a LevelDB directory (default), "fs" one file per key, "memory" loses everything on exit' })
    return { type: 'memory' }
  }

  const type = value.type as StoreType

  if (type === 'memory') {
    return { type }
  }

  if (typeof value.path !== 'string' || value.path === '') {
    problems.push({ field: 'store.path', message: value.path === undefined ? `is missing (a ${type} store needs a directory)` : `must be a directory path, got ${describe(value.path)}`, fix: 'give the store\'s directory, relative to the config file\'s directory, e.g. "node-1.data"' })
    return { type }
  }

  return { type, path: value.path }
}

function checkClients (value: unknown, problems: ConfigProblem[]): ClientEntryJSON[] {
  const fix = 'list the peer IDs of the clients allowed to call this node, e.g. ["12D3KooW…"] or [{ "peerId": "12D3KooW…", "readOnly": true }]'

  if (value === undefined) {
    return []
  }

  if (!Array.isArray(value)) {
    problems.push({ field: 'clients', message: `must be an array, got ${describe(value)}`, fix })
    return []
  }

  const out: ClientEntryJSON[] = []

  value.forEach((entry: unknown, i: number) => {
    const field = `clients[${i}]`

    if (typeof entry === 'string') {
      const id = checkPeerId(entry, field, problems, fix)

      if (id != null) {
        out.push({ peerId: id.toString(), readOnly: false })
      }

      return
    }

    if (!isRecord(entry)) {
      problems.push({ field, message: `must be a peer ID or { peerId, readOnly }, got ${describe(entry)}`, fix })
      return
    }

    const id = checkPeerId(entry.peerId, `${field}.peerId`, problems, fix)

    if (entry.readOnly !== undefined && typeof entry.readOnly !== 'boolean') {
      problems.push({ field: `${field}.readOnly`, message: `must be true or false, got ${describe(entry.readOnly)}`, fix: 'write true or false without quotes' })
      return
    }

    for (const key of Object.keys(entry)) {
      if (key !== 'peerId' && key !== 'readOnly') {
        problems.push({ field: `${field}.${key}`, message: 'is not a field of a client entry', fix: 'a client entry has only peerId and readOnly' })
      }
    }

    if (id != null) {
      out.push({ peerId: id.toString(), readOnly: entry.readOnly === true })
    }
  })

  return out
}

/**
 * A node whose table addresses share no TCP port with what it listens on is
 * probably unreachable for the others: worth saying, not worth refusing
 * (a port may be forwarded).
 */
function addressWarnings (peerId: PeerId, slots: SlotTable, listen: string[]): string[] {
  const peer = slots.peer(peerId)

  if (peer == null) {
    return []
  }

  if (peer.addrs.length === 0) {
    return [`slots.peers lists no address for this node (${peerId.toString()}): the other nodes cannot dial it`]
  }

  const port = (addr: string): string | undefined => multiaddr(addr).getComponents().find(c => c.name === 'tcp')?.value
  const listenPorts = new Set(listen.map(port))
  const tablePorts = peer.addrs.map(a => a.getComponents().find(c => c.name === 'tcp')?.value)

  if (listen.length > 0 && !tablePorts.some(p => listenPorts.has(p))) {
    return [`slots.peers gives this node the address${peer.addrs.length > 1 ? 'es' : ''} ${peer.addrs.map(a => a.toString()).join(', ')} but it listens on ${listen.join(', ')}: the other nodes dial the table's addresses`]
  }

  return []
}

function fsReason (err: unknown): string {
  switch (codeOf(err)) {
    case 'ENOENT': return 'no such file'
    case 'EACCES': return 'permission denied'
    case 'EISDIR': return 'it is a directory'
    default: return messageOf(err)
  }
}

/**
 * The known name within edit distance 2 of `name`, if any
 */
function closest (name: string, known: string[]): string | undefined {
  let best: string | undefined
  let bestDistance = 3

  for (const candidate of known) {
    const d = distance(name.toLowerCase(), candidate.toLowerCase())

    if (d < bestDistance) {
      best = candidate
      bestDistance = d
    }
  }

  return best
}

function distance (a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i)

  for (let i = 1; i <= a.length; i++) {
    let previous = row[0]
    row[0] = i

    for (let j = 1; j <= b.length; j++) {
      const current = row[j]
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, previous + (a[i - 1] === b[j - 1] ? 0 : 1))
      previous = current
    }
  }

  return row[b.length]
}

function isRecord (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function describe (value: unknown): string {
  if (value === undefined) return 'nothing'
  if (value === null) return 'null'
  if (Array.isArray(value)) return value.length === 0 ? 'an empty array' : 'an array'
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}…` : value)
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return `${typeof value} ${value.toString()}`
  return `a ${typeof value}`
}
