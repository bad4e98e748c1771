import { generateKeyPair } from '@libp2p/crypto/keys'
import { noise } from '@libp2p/noise'
import { memory } from '@libp2p/memory'
import { tcp } from '@libp2p/tcp'
import { yamux } from '@libp2p/yamux'
import { MemoryDatastore } from 'datastore-core'
import { createLibp2p } from 'libp2p'
import { Key } from 'interface-datastore'
import { CONNECTION_MONITOR, ClusterDatastore, RESERVED_NAMESPACE, SlotTable, keySlot, signTable } from '../../src/index.js'
import type { ClusterDatastoreOptions, SignedSlotTable } from '../../src/index.js'
import type { Libp2p, PrivateKey } from '@libp2p/interface'
import type { Datastore } from 'interface-datastore'

export interface ClusterNode {
  libp2p: Libp2p
  local: Datastore
  store: ClusterDatastore
}

export interface TestCluster {
  /** Data nodes: members of the table that own slots */
  nodes: ClusterNode[]
  /** Client nodes: not in the table, allowed by every data node */
  clients: ClusterNode[]
  table: SlotTable
  /** With `signed`: the admin key every node trusts, and the table as signed by it */
  admin?: PrivateKey
  signed?: SignedSlotTable
  stop(): Promise<void>
}

export interface CreateClusterOptions {
  nodes: number
  clients?: number
  transport?: 'tcp' | 'memory'
  options?: ClusterDatastoreOptions
  /** Owners per slot range (SlotTable.even's `replicas`), default 1 */
  replicas?: number
  /** Build each node's local store (default MemoryDatastore) */
  local?(index: number): Datastore
  /**
   * Give every node an admin key (this one, or a new one when `true`), the
   * table signed by it, and the clients in the table rather than in the
   * options
   */
  signed?: boolean | PrivateKey
}

let memoryCounter = 0

/**
 * A libp2p node listening on loopback TCP (or the in-memory transport)
 */
export async function createNode (transport: 'tcp' | 'memory' = 'tcp'): Promise<Libp2p> {
  return createLibp2p({
    addresses: {
      listen: [transport === 'tcp' ? '/ip4/127.0.0.1/tcp/0' : `/memory/cluster-test-${process.pid}-${memoryCounter++}`]
    },
    transports: [transport === 'tcp' ? tcp() : memory()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionMonitor: CONNECTION_MONITOR
  })
}

/**
 * Several libp2p nodes in this process, an even slot table over the data
 * nodes, and a started ClusterDatastore on each
 */
export async function createCluster (init: CreateClusterOptions): Promise<TestCluster> {
  const transport = init.transport ?? 'tcp'
  const dataLibp2p = await Promise.all(Array.from({ length: init.nodes }, async () => createNode(transport)))
  const clientLibp2p = await Promise.all(Array.from({ length: init.clients ?? 0 }, async () => createNode(transport)))

  const clientIds = clientLibp2p.map(node => node.peerId)
  const admin = init.signed === true ? await generateKeyPair('Ed25519') : init.signed === false ? undefined : init.signed
  const table = SlotTable.even(dataLibp2p.map(node => ({ id: node.peerId, addrs: node.getMultiaddrs() })), {
    epoch: 1,
    ...(init.replicas != null ? { replicas: init.replicas } : {}),
    ...(admin != null ? { clients: clientIds.map(id => ({ id })) } : {})
  })
  const signed = admin != null ? await signTable(table, admin) : undefined

  const make = (libp2p: Libp2p, index: number): ClusterNode => {
    const local = init.local?.(index) ?? new MemoryDatastore()
    const store = signed != null && admin != null
      ? new ClusterDatastore(libp2p, local, signed, { adminKey: admin.publicKey, ...init.options })
      : new ClusterDatastore(libp2p, local, table, { clients: clientIds, ...init.options })
    return { libp2p, local, store }
  }

  const nodes = dataLibp2p.map((libp2p, i) => make(libp2p, i))
  const clients = clientLibp2p.map((libp2p, i) => make(libp2p, init.nodes + i))
  await Promise.all([...nodes, ...clients].map(async n => n.store.start()))

  return {
    nodes,
    clients,
    table,
    admin,
    signed,
    async stop () {
      await Promise.all([...nodes, ...clients].map(async n => {
        await n.store.stop()
        await n.libp2p.stop()
      }))
    }
  }
}

/** Every data key held by a local store, as strings (not the cluster's own records under /.cluster) */
export async function localKeys (store: Datastore): Promise<string[]> {
  const out: string[] = []

  for await (const key of store.queryKeys({})) {
    if (!key.toString().startsWith(`${RESERVED_NAMESPACE}/`)) {
      out.push(key.toString())
    }
  }

  return out.sort()
}

/**
 * setup/teardown for a compliance suite: every case gets a fresh cluster, and
 * the store under test is what `pick` makes of it
 */
export function clusterPerCase<S extends object> (init: CreateClusterOptions, pick: (cluster: TestCluster) => S): { setup(): Promise<S>, teardown(store: S): Promise<void> } {
  const clusters = new Map<S, TestCluster>()

  return {
    async setup () {
      const cluster = await createCluster(init)
      const store = pick(cluster)
      clusters.set(store, cluster)
      return store
    },
    async teardown (store) {
      await clusters.get(store)?.stop()
      clusters.delete(store)
    }
  }
}

/** The first key `${prefix}/${i}` whose slot `node` is primary of in `table` */
export function keyOwnedBy (table: SlotTable, node: ClusterNode, prefix: string): Key {
  for (let i = 0; ; i++) {
    const key = new Key(`${prefix}/${i}`)
    if (table.primary(keySlot(key)).equals(node.libp2p.peerId)) return key
  }
}
