/**
 * A range that lists several owners is replicated: callers write it to every
 * owner with versioned records (REPLICA_*), and an owner refuses the plain,
 * unversioned operations on it rather than acknowledge a write that would
 * never reach the other owners.
 */
import { lpStream } from '@libp2p/utils'
import { afterEach, describe, expect, it } from 'vitest'
import { PROTOCOL, SlotTable, signTable } from '../../src/index.js'
import { Request, Response } from '../../src/pb/message.js'
import { createCluster, keyOwnedBy, localKeys } from '../utils/cluster.js'
import type { ClusterNode, TestCluster } from '../utils/cluster.js'
import type { Key } from 'interface-datastore'

async function all<T> (source: AsyncIterable<T> | Iterable<T>): Promise<T[]> {
  const out: T[] = []

  for await (const item of source) {
    out.push(item)
  }

  return out
}

const enc = new TextEncoder()
const dec = new TextDecoder()

/** The same ranges, with `primary` put first in `replica`'s ranges and `replica` kept second */
function withPrimary (table: SlotTable, epoch: number, replica: ClusterNode, primary: ClusterNode): SlotTable {
  return SlotTable.fromRanges({
    epoch,
    ranges: table.ranges.map(r => ({
      start: r.start,
      end: r.end,
      owners: r.owners[0].equals(replica.libp2p.peerId) ? [primary.libp2p.peerId, replica.libp2p.peerId] : [...r.owners]
    })),
    peers: table.peers.map(p => ({ id: p.id, addrs: [...p.addrs] })),
    clients: [...table.clients]
  })
}

describe('owner roles', () => {
  let cluster: TestCluster

  afterEach(async () => {
    await cluster?.stop()
  })

  /** A key under `prefix` whose slot `node` is primary of in the first table */
  const keyOf = (node: ClusterNode, prefix: string): Key => keyOwnedBy(cluster.table, node, prefix)

  it('a caller on an older table learns from an owner\'s MOVED that the slot is replicated, and writes it to every owner', async () => {
    cluster = await createCluster({ nodes: 3, clients: 1, signed: true })
    const [a, b] = cluster.nodes
    const t2 = await signTable(withPrimary(cluster.table, 2, b, a), cluster.admin!)
    a.store.updateSlotTable(t2)
    b.store.updateSlotTable(t2)

    // the client (epoch 1) sends this key to b, one of its slot's two owners under epoch 2
    const key = keyOf(b, '/roles/older')
    await cluster.clients[0].store.put(key, enc.encode('kept'))

    expect(cluster.clients[0].store.slots.epoch).toBe(2)
    expect(await localKeys(a.local)).toContain(key.toString())
    expect(await localKeys(b.local)).toContain(key.toString())
    expect(dec.decode(await cluster.nodes[2].store.get(key))).toBe('kept')
  })

  it('an owner of a replicated slot refuses plain reads and writes naming REPLICA_*, and stores nothing', async () => {
    cluster = await createCluster({ nodes: 3, clients: 1 })
    const [a, b] = cluster.nodes
    const t2 = withPrimary(cluster.table, 2, b, a)

    for (const node of [...cluster.nodes, ...cluster.clients]) {
      node.store.updateSlotTable(t2)
    }

    const key = keyOf(b, '/roles/same')
    const lp = lpStream(await cluster.clients[0].libp2p.dialProtocol(b.libp2p.peerId, PROTOCOL))

    for (const [id, req] of [
      [1, { type: Request.Type.PUT, key: key.uint8Array() as Uint8Array<ArrayBuffer>, value: enc.encode('lost?') }],
      [2, { type: Request.Type.GET, key: key.uint8Array() as Uint8Array<ArrayBuffer> }],
      [3, { type: Request.Type.BATCH, keys: [key.uint8Array() as Uint8Array<ArrayBuffer>] }]
    ] as Array<[number, Partial<Request>]>) {
      await lp.write(Request.encode({ id, epoch: 2, ...req }))
      const res = Response.decode(await lp.read())
      expect(res.status, `request ${id}`).toBe(Response.Status.BAD_REQUEST)
      expect(res.message).toContain('REPLICA_WRITE')
    }

    // nothing but the node's own records (the transition it is in) under the reserved namespace
    expect((await localKeys(b.local)).filter(k => !k.startsWith('/.cluster/'))).toEqual([])

    // through the API every node writes it to both owners
    await cluster.clients[0].store.put(key, enc.encode('v'))
    expect(await localKeys(a.local)).toContain(key.toString())
    expect(await localKeys(b.local)).toContain(key.toString())
    // and a query counts the slot once, on its primary
    expect(await cluster.nodes[2].store.countKeys(a.libp2p.peerId)).toBe(1)
    expect(await cluster.nodes[2].store.countKeys(b.libp2p.peerId)).toBe(0)
    expect((await all(cluster.nodes[2].store.queryKeys({ prefix: '/roles' }))).map(k => k.toString())).toEqual([key.toString()])
  })
})
