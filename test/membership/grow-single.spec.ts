/**
 * Growing a cluster whose slots each have one owner: a single owner's slot
 * cannot move while the cluster runs, so the documented way is to raise the
 * replicas first (each owner keeps its slots and gains a second owner), then
 * add nodes. The values written while the slots had one owner carry no
 * version; the new owner copies them as they are (the oldest a record can
 * be), and any write made during the move, versioned, wins over them. Real
 * libp2p nodes over TCP on 127.0.0.1, MemoryDatastore children, a client
 * writing while the data moves.
 */

import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { MemoryDatastore } from 'datastore-core'
import { LevelDatastore } from 'datastore-level'
import { Key } from 'interface-datastore'
import all from 'it-all'
import { fromString as uint8ArrayFromString } from 'uint8arrays/from-string'
import { toString as uint8ArrayToString } from 'uint8arrays/to-string'
import { afterEach, describe, expect, it } from 'vitest'
import { ClusterDatastore, keySlot, planAddNode, planRebalance, signTable } from '../../src/index.js'
import { createCluster, createNode, localKeys } from '../utils/cluster.js'
import { waitFor } from '../utils/wait.js'
import type { SlotTable } from '../../src/index.js'
import type { SignedSlotTable } from '../../src/membership/signed-table.js'
import type { ClusterNode, TestCluster } from '../utils/cluster.js'
import type { PrivateKey } from '@libp2p/interface'

const KEYS = 300
const OPTIONS = { heartbeatInterval: 300, antiEntropyInterval: 60_000 }

const enc = (s: string): Uint8Array => uint8ArrayFromString(s)
const dec = (b: Uint8Array): string => uint8ArrayToString(b)

describe('growing a cluster of single-owner slots: raise the replicas, then add a node', () => {
  const cleanup: Array<() => Promise<void>> = []

  afterEach(async () => {
    for (const fn of cleanup.splice(0).reverse()) {
      await fn().catch(() => {})
    }
  })

  /** Hand `table`, signed, to every member; write `during` meanwhile; wait until every member finished the move */
  async function move (members: ClusterDatastore[], table: SlotTable, admin: PrivateKey, during: () => Promise<void>): Promise<SignedSlotTable> {
    const signed = await signTable(table, admin)

    for (const store of members) {
      store.updateSlotTable(signed)
    }

    await during()
    await waitFor(`every member to finish the move to epoch ${table.epoch}`, () => members.every(s => s.status().layout.done && s.status().layout.epochs[0] === table.epoch), 60_000, 50)
    return signed
  }

  it('2 nodes with 1 owner per range become 2 owners per range, then 3 nodes: every value written before and during the moves reads back, and every owner holds its slots', async () => {
    const cluster: TestCluster = await createCluster({ nodes: 2, clients: 1, signed: true, replicas: 1, options: OPTIONS })
    cleanup.push(async () => { await cluster.stop() })
    const admin = cluster.admin as PrivateKey
    const client = cluster.clients[0].store
    const expected = new Map<string, string>()
    const write = async (from: number, to: number, tag: string): Promise<void> => {
      await Promise.all(Array.from({ length: to - from }, async (_, i) => {
        const name = `/k/${from + i}`
        await client.put(new Key(name), enc(`${tag}-${from + i}`))
        expected.set(name, `${tag}-${from + i}`)
      }))
    }

    // written while every slot has one owner: plain values, no versions
    await write(0, KEYS, 'single')

    // each range keeps its owner and gains the other node; the client overwrites a third of the keys meanwhile
    const raise = planRebalance(cluster.table, {}, { replicas: 2 })
    expect(raise.table.ranges.every(r => r.owners.length === 2)).toBe(true)
    const raised = await move(cluster.nodes.map(n => n.store), raise.table, admin, async () => { await write(0, KEYS / 3, 'raised') })

    for (const node of cluster.nodes) {
      expect(await localKeys(node.local)).toHaveLength(KEYS)
    }

    // a third node joins (started on the table in force, outside it); the client overwrites another third meanwhile
    const libp2p = await createNode()
    const local = new MemoryDatastore()
    const third: ClusterNode = { libp2p, local, store: new ClusterDatastore(libp2p, local, raised, { ...OPTIONS, adminKey: admin.publicKey }) }
    cleanup.push(async () => { await third.store.stop(); await libp2p.stop() })
    await third.store.start()
    const add = planAddNode(raise.table, { id: libp2p.peerId, addrs: libp2p.getMultiaddrs() })
    const members = [...cluster.nodes.map(n => n.store), third.store]
    await move(members, add.table, admin, async () => { await write(KEYS / 3, 2 * KEYS / 3, 'added') })

    // every value as last written, by key and by query
    const values = await Promise.all([...expected.keys()].map(async name => [name, dec(await client.get(new Key(name)))] as const))
    expect(new Map(values)).toEqual(expected)
    const queried = await all(client.query({ prefix: '/k' }))
    expect(new Map(queried.map(p => [p.key.toString(), dec(p.value)]))).toEqual(expected)

    // each key is on exactly the 2 owners of its slot, the new node included
    const nodes = [...cluster.nodes, third]
    const held = await Promise.all(nodes.map(async n => new Set(await localKeys(n.local))))
    expect(held[2].size).toBeGreaterThan(0)

    for (const name of expected.keys()) {
      const owners = add.table.owners(keySlot(new Key(name)))
      const holders = nodes.filter((_, i) => held[i].has(name)).map(n => n.libp2p.peerId.toString())
      expect(holders.sort(), name).toEqual(owners.map(o => o.toString()).sort())
    }
  }, 120_000)

  it('the node gaining replicas, stopped in the middle of copying plain values and started again on its LevelDB store, finishes the raise with every value', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'grow-single-'))
    cleanup.push(async () => { await rm(dir, { recursive: true, force: true }) })
    const levels = [0, 1].map(i => new LevelDatastore(join(dir, `node${i}`)))
    await Promise.all(levels.map(async l => l.open()))
    cleanup.push(async () => { await Promise.all(levels.map(async l => l.close())) })
    const cluster: TestCluster = await createCluster({ nodes: 2, clients: 1, signed: true, replicas: 1, options: OPTIONS, local: i => levels[i] })
    cleanup.push(async () => { await cluster.stop() })
    const admin = cluster.admin as PrivateKey
    const client = cluster.clients[0].store
    // 2,000 plain values of 4 KiB: several batches of the copy each way
    const value = (i: number, tag: string): Uint8Array => enc(`${tag}-${i}-`.padEnd(4096, 'x'))

    for (let i = 0; i < 2000; i += 200) {
      await Promise.all(Array.from({ length: 200 }, async (_, j) => { await client.put(new Key(`/big/${i + j}`), value(i + j, 'single')) }))
    }

    // node 1 takes the first batch of plain values it copies, then holds the next until its copy is aborted (its stop)
    const victim = cluster.nodes[1]
    const owner = (victim.store as unknown as { owner: { applyRecords(records: unknown[], options: { signal?: AbortSignal }): Promise<unknown> } }).owner
    const apply = owner.applyRecords.bind(owner)
    let batches = 0
    owner.applyRecords = async (records, options) => {
      if (batches++ === 0 || options.signal == null) {
        return apply(records, options)
      }

      const signal = options.signal
      return new Promise((_resolve, reject) => {
        signal.addEventListener('abort', () => { reject(signal.reason) }, { once: true })
      })
    }

    const raise = planRebalance(cluster.table, {}, { replicas: 2 })
    const raised = await signTable(raise.table, admin)
    const own = (await localKeys(victim.local)).length

    for (const node of cluster.nodes) {
      node.store.updateSlotTable(raised)
    }

    await waitFor('node 1 to have copied a first batch and to hold the next', () => batches >= 2, 60_000, 20)
    expect(victim.store.status().layout.sync).toBeLessThan(raise.table.epoch)
    const copied = (await localKeys(victim.local)).length
    // part of the other node's values, not all
    expect(copied).toBeGreaterThan(own)
    expect(copied).toBeLessThan(2000)
    await victim.store.stop()

    // started again from its config's table: its store says the raise is under way, with part of the values copied
    const again = new ClusterDatastore(victim.libp2p, victim.local, cluster.signed as SignedSlotTable, { ...OPTIONS, adminKey: admin.publicKey })
    cleanup.push(async () => { await again.stop() })
    await again.start()
    expect(again.status().layout.epochs).toEqual([1, raise.table.epoch])
    expect((await localKeys(victim.local)).length).toBe(copied)
    await waitFor('both nodes to finish the raise', () => [cluster.nodes[0].store, again].every(s => s.status().layout.done && s.status().layout.epochs[0] === raise.table.epoch), 60_000, 50)

    // every value on both nodes, read at all (both owners must answer)
    expect((await localKeys(victim.local)).length).toBe(2000)
    const values = await Promise.all(Array.from({ length: 2000 }, async (_, i) => Buffer.from(await client.get(new Key(`/big/${i}`), { consistency: 'all' })).equals(value(i, 'single'))))
    expect(values.every(Boolean)).toBe(true)
  }, 120_000)
})
