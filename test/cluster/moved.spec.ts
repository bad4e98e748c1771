import { Key } from 'interface-datastore'
import all from 'it-all'
import { afterEach, describe, expect, it } from 'vitest'
import { SlotTable, keySlot, signTable } from '../../src/index.js'
import { createCluster, localKeys } from '../utils/cluster.js'
import type { ClusterNode, TestCluster } from '../utils/cluster.js'
import type { SignedSlotTable } from '../../src/index.js'
import type { PeerId } from '@libp2p/interface'

const enc = new TextEncoder()

/** The same peers, with the range owners rotated by `shift` */
function rotated (table: SlotTable, epoch: number, shift: number): SlotTable {
  const owners = table.ranges.map(r => r.owners[0])
  return SlotTable.fromRanges({
    epoch,
    ranges: table.ranges.map((r, i) => ({ start: r.start, end: r.end, owners: [owners[(i + shift) % owners.length]] })),
    peers: table.peers.map(p => ({ id: p.id, addrs: [...p.addrs] })),
    clients: [...table.clients]
  })
}

/** A key whose primary is `a` under one table and `b` under another */
function keyOwnedBy (t1: SlotTable, a: PeerId, t2: SlotTable, b: PeerId, prefix: string): Key {
  for (let i = 0; i < 100_000; i++) {
    const key = new Key(`${prefix}/${i}`)
    const slot = keySlot(key)

    if (t1.primary(slot).equals(a) && t2.primary(slot).equals(b)) {
      return key
    }
  }

  throw new Error('no such key: the tables never give the slot to these owners')
}

describe('MOVED: slot tables of different epochs', () => {
  let cluster: TestCluster

  afterEach(async () => {
    await cluster?.stop()
  })

  /** The table signed by the cluster's admin key, as nodes with an admin key adopt only */
  async function signed (table: SlotTable): Promise<SignedSlotTable> {
    return signTable(table, cluster.admin!)
  }

  it('a caller with an older table is sent the newer one, adopts it and succeeds', async () => {
    cluster = await createCluster({ nodes: 3, clients: 1, signed: true })
    const [a, b, c] = cluster.nodes
    const t2 = rotated(cluster.table, 2, 1)
    expect(b.store.updateSlotTable(await signed(t2))).toBe(true)
    expect(c.store.updateSlotTable(await signed(t2))).toBe(true)

    // a (epoch 1) sends this key to b, which under epoch 2 belongs to c
    const key = keyOwnedBy(cluster.table, b.libp2p.peerId, t2, c.libp2p.peerId, '/moved')
    await a.store.put(key, enc.encode('v'))

    expect(a.store.slots.epoch).toBe(2)
    expect(await localKeys(c.local)).toContain(key.toString())
    expect(await localKeys(b.local)).not.toContain(key.toString())
    expect(new TextDecoder().decode(await a.store.get(key))).toBe('v')
  })

  it('an owner with an older table learns the caller\'s newer one', async () => {
    cluster = await createCluster({ nodes: 3, signed: true })
    const [a, b] = cluster.nodes
    const t2 = rotated(cluster.table, 2, 1)
    a.store.updateSlotTable(await signed(t2))

    // under epoch 1 this key is not b's, under epoch 2 it is: b refuses, a sends its table, b adopts it
    const key = keyOwnedBy(cluster.table, a.libp2p.peerId, t2, b.libp2p.peerId, '/learn')
    await a.store.put(key, enc.encode('v'))

    expect(b.store.slots.epoch).toBe(2)
    expect(await localKeys(b.local)).toContain(key.toString())
  })

  it('many-key operations and queries follow MOVED too', async () => {
    cluster = await createCluster({ nodes: 3, clients: 1, signed: true })
    const [, b, c] = cluster.nodes
    const client = cluster.clients[0].store
    const keys = Array.from({ length: 500 }, (_, i) => new Key(`/mm/${i}`))
    const t2 = await signed(rotated(cluster.table, 2, 2))

    for (const node of cluster.nodes) {
      node.store.updateSlotTable(t2)
    }

    // the client still has epoch 1
    for await (const _ of client.putMany(keys.map(key => ({ key, value: enc.encode(key.toString()) })))) {} // eslint-disable-line no-empty
    expect(client.slots.epoch).toBe(2)

    for (const key of keys) {
      const owner = t2.table.primary(keySlot(key))
      const node = cluster.nodes.find(n => n.libp2p.peerId.equals(owner))
      expect(await localKeys(node!.local)).toContain(key.toString())
    }

    const t3 = await signed(rotated(cluster.table, 3, 1))
    b.store.updateSlotTable(t3)
    c.store.updateSlotTable(t3)
    cluster.nodes[0].store.updateSlotTable(t3)
    // the data stays where epoch 2 put it; a query under epoch 3 only checks that the client is corrected
    const found: string[] = []
    for await (const key of client.queryKeys({ prefix: '/nothing-here' })) found.push(key.toString())
    expect(found).toEqual([])
    expect(client.slots.epoch).toBe(3)
  })

  it('getMany, batch and deleteMany follow MOVED too', async () => {
    cluster = await createCluster({ nodes: 3, clients: 1, signed: true })
    const client = cluster.clients[0].store
    const keys = Array.from({ length: 300 }, (_, i) => new Key(`/mv/${i}`))
    const owned = (table: SlotTable, key: Key): ClusterNode => cluster.nodes.find(n => n.libp2p.peerId.equals(table.primary(keySlot(key)))) as ClusterNode
    const moveTo = async (table: SlotTable): Promise<void> => {
      const next = await signed(table)
      cluster.nodes.forEach(n => n.store.updateSlotTable(next))
    }

    // written where epoch 2 puts them; the client still routes by epoch 1
    const t2 = rotated(cluster.table, 2, 1)
    await moveTo(t2)
    await all(cluster.nodes[0].store.putMany(keys.map(key => ({ key, value: enc.encode(key.toString()) }))))
    const pairs = await all(client.getMany(keys))
    expect(pairs.map(p => new TextDecoder().decode(p.value))).toEqual(keys.map(k => k.toString()))
    expect(client.slots.epoch).toBe(2)

    const t3 = rotated(cluster.table, 3, 2)
    await moveTo(t3)
    const batch = client.batch()
    keys.forEach(key => { batch.put(key, enc.encode('3')) })
    await batch.commit()
    expect(client.slots.epoch).toBe(3)

    for (const key of keys.slice(0, 30)) {
      expect(await localKeys(owned(t3, key).local)).toContain(key.toString())
    }

    const t4 = rotated(cluster.table, 4, 0)
    await moveTo(t4)
    expect(await all(client.deleteMany(keys))).toHaveLength(keys.length)
    expect(client.slots.epoch).toBe(4)
  })

  it('the number of redirects followed is bounded', async () => {
    cluster = await createCluster({ nodes: 3, clients: 1, options: { maxRedirects: 1 }, signed: true })
    const [a, b, c] = cluster.nodes
    const t2 = rotated(cluster.table, 2, 1)
    const t3 = rotated(cluster.table, 3, 2)
    b.store.updateSlotTable(await signed(t2))
    c.store.updateSlotTable(await signed(t3))

    // a key owned by b under epoch 1, by c under epoch 2 and by a under epoch 3
    let key: Key | undefined
    for (let i = 0; key == null && i < 100_000; i++) {
      const k = new Key(`/bound/${i}`)
      const slot = keySlot(k)
      if (cluster.table.primary(slot).equals(b.libp2p.peerId) && t2.primary(slot).equals(c.libp2p.peerId) && t3.primary(slot).equals(a.libp2p.peerId)) {
        key = k
      }
    }

    // client -> b: MOVED (t2) -> c: MOVED (t3) -> bound of 1 reached
    expect(key).toBeDefined()
    await expect(cluster.clients[0].store.put(key!, enc.encode('v'))).rejects.toHaveProperty('name', 'MovedError')

    for (const node of cluster.nodes) {
      expect(await localKeys(node.local)).toEqual([])
    }
  })

  it('a MOVED answer carrying an invalid table is not adopted', async () => {
    cluster = await createCluster({ nodes: 2 })
    // validation happens in SlotTable: a table with a gap can never be built, let alone adopted
    expect(() => SlotTable.fromRanges({
      epoch: 9,
      ranges: [{ start: 0, end: 100, owners: [cluster.nodes[0].libp2p.peerId] }],
      peers: [{ id: cluster.nodes[0].libp2p.peerId }]
    })).toThrow(/not covered/)
    expect(cluster.nodes[0].store.slots.epoch).toBe(1)
  })

  it('without an admin key a newer table is never adopted from a MOVED answer: the call fails saying so', async () => {
    cluster = await createCluster({ nodes: 3, clients: 1 })
    const [a, b, c] = cluster.nodes
    const t2 = rotated(cluster.table, 2, 1)
    // local configuration may still change the table of a node without an admin key
    expect(b.store.updateSlotTable(t2)).toBe(true)
    expect(c.store.updateSlotTable(t2)).toBe(true)

    const key = keyOwnedBy(cluster.table, b.libp2p.peerId, t2, c.libp2p.peerId, '/fixed')
    await expect(a.store.put(key, enc.encode('v'))).rejects.toThrow(/without an admin key this node adopts no table/)
    expect(a.store.slots.epoch).toBe(1)

    for (const node of cluster.nodes) {
      expect(await localKeys(node.local)).not.toContain(key.toString())
    }
  })

  it('a store with an admin key refuses an unsigned table from its own API too, and keeps serving', async () => {
    cluster = await createCluster({ nodes: 2, signed: true })
    const [a, b] = cluster.nodes
    const t2 = rotated(cluster.table, 2, 1)
    expect(() => a.store.updateSlotTable(t2)).toThrow(/adopts only slot tables signed by it/)
    expect(() => a.store.updateSlotTable(t2.toJSON())).toThrow(/adopts only slot tables signed by it/)
    expect(a.store.slots.epoch).toBe(1)
    expect(b.store.slots.epoch).toBe(1)
    await a.store.put(new Key('/still'), enc.encode('served'))
    expect(new TextDecoder().decode(await b.store.get(new Key('/still')))).toBe('served')
  })
})
