/**
 * The `repair` phase: how long anti-entropy takes to refill a replica whose
 * store was wiped, and what it sends over the network for it.
 *
 * Three data nodes in this process (libp2p over TCP on 127.0.0.1, each with
 * a MemoryDatastore), one slot table with every range owned by all three
 * (N = 3). 100,000 keys of 256 B are written through node A (which holds
 * them all); then one node's store is replaced by an empty one and one
 * anti-entropy round is run
 * — on the wiped node (it pulls from its peers), then, after another wipe,
 * on a peer (it pushes). Each is timed until the round ends, when the wiped
 * node holds every record again (checked, not assumed). Bytes on the network
 * are the encoded requests and answers of the rounds, counted by the
 * repairing node; bytes repaired are the keys, versions and values of the
 * records the wiped node lacked.
 *
 * A last measure: 10 of the 100,000 keys changed while a node was stopped,
 * and what one round sends to repair them — the bytes grow with the
 * difference, not the data.
 *
 * In one process the three nodes share one event loop: the times are those of
 * one core doing all three nodes' work.
 */

import { MemoryDatastore } from 'datastore-core'
import { ClusterDatastore, SlotTable } from '../../src/index.js'
import { createCallerNode } from './harness.js'
import { benchPairs } from './measure.js'
import { fmt, now } from './stats.js'
import type { Libp2p } from '@libp2p/interface'
import type { Datastore } from 'interface-datastore'

export type RecordMetric = (name: string, unit: string, what: string, value: number) => void

const KEYS = 100_000
const VALUE_SIZE = 256
const CHANGED = 10
// rounds run only when the benchmark asks; no hint is handed over by a heartbeat during a measure
const OPTIONS = { antiEntropyInterval: 3_600_000, heartbeatInterval: 3_600_000 }

interface Node {
  libp2p: Libp2p
  local: Datastore
  store: ClusterDatastore
}

async function drain (it: AsyncIterable<unknown>): Promise<void> {
  for await (const _ of it) {
    // only the side effect counts
  }
}

/** Records a child holds, and their stored bytes (key, header with version, value) */
async function held (local: Datastore): Promise<{ records: number, bytes: number }> {
  let records = 0
  let bytes = 0

  for await (const { key, value } of local.query({})) {
    if (!key.toString().startsWith('/.cluster')) {
      records++
      bytes += key.uint8Array().byteLength + value.byteLength
    }
  }

  return { records, bytes }
}

export async function repairPhase (runs: number, record: RecordMetric, log: (msg: string) => void): Promise<void> {
  log(`repair: 3 in-process nodes, N=3, ${KEYS} keys of ${VALUE_SIZE} B`)
  const peers = await Promise.all([0, 1, 2].map(async () => createCallerNode(false)))
  const table = SlotTable.even(peers.map(p => ({ id: p.peerId, addrs: p.getMultiaddrs() })), { epoch: 1, replicas: 3 })
  const nodes: Node[] = peers.map(libp2p => {
    const local = new MemoryDatastore()
    return { libp2p, local, store: new ClusterDatastore(libp2p, local, table, OPTIONS) }
  })

  const restart = async (node: Node, local: Datastore): Promise<void> => {
    await node.store.stop()
    node.local = local
    node.store = new ClusterDatastore(node.libp2p, local, table, OPTIONS)
    await node.store.start()
  }

  try {
    await Promise.all(nodes.map(async n => n.store.start()))
    const [a, , c] = nodes
    const data = benchPairs('repair', KEYS, VALUE_SIZE)
    await drain(a.store.putMany(data))
    const full = await held(a.local)

    for (let round = 0; round <= runs; round++) {
      const rec = round === 0 ? () => {} : record

      for (const [who, repairer] of [['wiped node pulls', c], ['peer pushes', a]] as const) {
        await restart(c, new MemoryDatastore())
        const before = repairer.store.repairStats()
        const t = now()
        const after = await repairer.store.repair()
        const ms = now() - t
        const got = await held(c.local)

        if (got.records !== full.records) {
          throw new Error(`repair (${who}) left the wiped node with ${got.records} of ${full.records} records`)
        }

        const net = after.bytesSent + after.bytesReceived - before.bytesSent - before.bytesReceived
        const tag = who === 'wiped node pulls' ? 'pull' : 'push'
        rec(`repair.${tag}.ms`, 'ms', `wiped replica of ${fmt(KEYS)} keys refilled by one anti-entropy round (${who})`, ms)
        rec(`repair.${tag}.keys`, 'keys/s', `records repaired per second (${who})`, full.records / (ms / 1000))
        rec(`repair.${tag}.net`, 'x', `bytes on the network / bytes repaired (${who})`, net / full.bytes)
      }

      // a small difference: 10 keys changed while the node was stopped
      await c.store.stop()
      await drain(a.store.putMany(data.slice(0, CHANGED).map(p => ({ key: p.key, value: new Uint8Array(VALUE_SIZE).fill(round) }))))
      await c.store.start()
      const before = c.store.repairStats()
      const after = await c.store.repair()
      rec('repair.small.bytes', 'B', `bytes on the network to repair ${CHANGED} changed keys of ${fmt(KEYS)} (${fmt(full.bytes)} B held)`,
        after.bytesSent + after.bytesReceived - before.bytesSent - before.bytesReceived)
    }
  } finally {
    await Promise.all(nodes.map(async n => {
      await n.store.stop()
      await n.libp2p.stop()
    }))
  }
}
