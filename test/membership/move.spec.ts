/**
 * Live slot table changes (Garage's layout history): two tables in force
 * while data moves. Real libp2p nodes over TCP on 127.0.0.1, quorum clients
 * recording every operation for the history checker while a node is added,
 * removed, or weighted, and a node restarted over LevelDB mid-move.
 */

import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { noise } from '@libp2p/noise'
import { tcp } from '@libp2p/tcp'
import { yamux } from '@libp2p/yamux'
import { MemoryDatastore } from 'datastore-core'
import { LevelDatastore } from 'datastore-level'
import { Key } from 'interface-datastore'
import all from 'it-all'
import { createLibp2p } from 'libp2p'
import { fromString as uint8ArrayFromString } from 'uint8arrays/from-string'
import { toString as uint8ArrayToString } from 'uint8arrays/to-string'
import { afterEach, describe, expect, it } from 'vitest'
import { StoreHealth, askHealth, serveHealth, unserveHealth } from '../../src/cli/health.js'
import { ClusterDatastore, SlotTable, keySlot, planAddNode, planRemoveNode, signTable } from '../../src/index.js'
import { RESERVED_NAMESPACE } from '../../src/owner/keys.js'
import { checkHistory } from '../utils/history/checker.js'
import { HistoryRecorder } from '../utils/history/recorder.js'
import { waitFor } from '../utils/wait.js'
import type { ClusterDatastoreOptions } from '../../src/index.js'
import type { SignedSlotTable } from '../../src/membership/signed-table.js'
import type { Libp2p, PeerId, PrivateKey } from '@libp2p/interface'
import type { Datastore } from 'interface-datastore'

const OPTIONS: ClusterDatastoreOptions = { heartbeatInterval: 300, suspectAfter: 10, antiEntropyInterval: 60_000 }
/** Keys written before the move: they must all be read back after it */
const PRELOADED = 300
/** Keys the concurrent clients work on */
const HOT_KEYS = 24

interface Node {
  name: string
  libp2p: Libp2p
  local: Datastore
  store: ClusterDatastore
}

/**
 * A libp2p node on loopback TCP. Nodes that join start outside the table,
 * and the members refuse their heartbeats until the new table lists them:
 * all from 127.0.0.1, more than libp2p's default of 5 inbound connections
 * per second and host
 */
async function createNode (): Promise<Libp2p> {
  return createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionManager: { inboundConnectionThreshold: 1000 }
  })
}

const enc = (s: string): Uint8Array => uint8ArrayFromString(s)
const dec = (b: Uint8Array): string => uint8ArrayToString(b)
const sleep = async (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms))

/** A table over `peers` with `replicas` owners per range, each peer primary of a share of the slots proportional to its weight */
function weighted (epoch: number, peers: Libp2p[], weights: number[], replicas: number, clients: PeerId[]): SlotTable {
  const total = weights.reduce((a, b) => a + b, 0)
  const ranges: Array<{ start: number, end: number, owners: PeerId[] }> = []
  let start = 0

  peers.forEach((peer, i) => {
    const end = i === peers.length - 1 ? 16383 : start + Math.round(16384 * weights[i] / total) - 1
    ranges.push({ start, end, owners: Array.from({ length: replicas }, (_, r) => peers[(i + r) % peers.length].peerId) })
    start = end + 1
  })

  return SlotTable.fromRanges({ epoch, ranges, peers: peers.map(p => ({ id: p.peerId, addrs: p.getMultiaddrs() })), clients: clients.map(id => ({ id })) })
}

function even (epoch: number, peers: Libp2p[], replicas: number, clients: PeerId[]): SlotTable {
  return SlotTable.even(peers.map(p => ({ id: p.peerId, addrs: p.getMultiaddrs() })), { epoch, replicas, clients: clients.map(id => ({ id })) })
}

/** The non-reserved keys of a local store with their stored bytes */
async function held (local: Datastore): Promise<Map<string, string>> {
  const out = new Map<string, string>()

  for await (const { key, value } of local.query({})) {
    if (!key.toString().startsWith(RESERVED_NAMESPACE)) {
      out.set(key.toString(), Buffer.from(value).toString('base64'))
    }
  }

  return out
}

describe('moving data between slot tables while clients read and write (R=3, quorum)', () => {
  const cleanup: Array<() => Promise<void>> = []

  afterEach(async () => {
    for (const fn of cleanup.splice(0).reverse()) {
      await fn().catch(() => {})
    }
  })

  async function makeNode (name: string, table: SignedSlotTable, admin: PrivateKey, local: Datastore = new MemoryDatastore(), libp2p?: Libp2p): Promise<Node> {
    libp2p ??= await createNode()
    const store = new ClusterDatastore(libp2p, local, table, { ...OPTIONS, adminKey: admin.publicKey })
    const node = { name, libp2p, local, store }
    cleanup.push(async () => {
      await node.store.stop()
      await libp2p?.stop()
    })
    return node
  }

  /**
   * Members on `initial` (a table over the first `members` libp2p nodes),
   * the rest started on it too (outside it: they join by adopting the next
   * table), two clients
   */
  async function setup (count: number, initial: (nodes: Libp2p[], clients: PeerId[]) => SlotTable, local?: (i: number) => Datastore): Promise<{ nodes: Node[], clients: Node[], libp2p: Libp2p[], clientIds: PeerId[], t1: SignedSlotTable, admin: PrivateKey }> {
    const admin = await generateKeyPair('Ed25519')
    const libp2p = await Promise.all(Array.from({ length: count }, async () => createNode()))
    const clientLibp2p = await Promise.all(Array.from({ length: 2 }, async () => createNode()))
    const clientIds = clientLibp2p.map(c => c.peerId)
    const t1 = await signTable(initial(libp2p, clientIds), admin)
    const nodes = await Promise.all(libp2p.map(async (p, i) => makeNode(`node${i}`, t1, admin, local?.(i), p)))
    const clients = await Promise.all(clientLibp2p.map(async (p, i) => makeNode(`client${i}`, t1, admin, new MemoryDatastore(), p)))
    await Promise.all([...nodes, ...clients].map(async n => n.store.start()))
    return { nodes, clients, libp2p, clientIds, t1, admin }
  }

  /** Keys written (and recorded) before the move: reads of them during the move must find them */
  async function preload (recorder: HistoryRecorder, node: Node): Promise<void> {
    for (let i = 0; i < PRELOADED; i += 50) {
      await Promise.all(Array.from({ length: 50 }, async (_, j) => {
        const name = `/pre/k${i + j}`
        await recorder.record(node.name, name, 'put', `v${i + j}`, async () => node.store.put(new Key(name), enc(`v${i + j}`)))
      }))
    }
  }

  /** Read every preloaded key at once, recorded: run the moment the new table is adopted */
  async function probe (recorder: HistoryRecorder, node: Node): Promise<void> {
    await Promise.all(Array.from({ length: PRELOADED }, async (_, i) => {
      const name = `/pre/k${i}`
      await recorder.record(`${node.name}-probe`, name, 'get', undefined, async () => node.store.get(new Key(name))).catch(() => {})
    }))
  }

  /** Quorum puts, deletes and gets (of the hot keys, and of the preloaded ones) from every client and one member until stopped, recorded */
  function load (recorder: HistoryRecorder, coordinators: Node[]): { stop(): Promise<string[]> } {
    const errors: string[] = []
    let running = true
    let seq = 0

    const worker = async (node: Node, w: number): Promise<void> => {
      let n = 0

      while (running) {
        await new Promise(resolve => setImmediate(resolve))
        const dice = (n++ * 37 + w) % 10
        const name = dice === 9 ? `/pre/k${(n * 13 + w) % PRELOADED}` : `/hot/k${(n * 7 + w * 3 + seq) % HOT_KEYS}`
        const key = new Key(name)

        try {
          if (dice < 4) {
            const value = `${node.name}-w${w}-${seq++}`
            await recorder.record(node.name, name, 'put', value, async () => node.store.put(key, enc(value)))
          } else if (dice < 5) {
            await recorder.record(node.name, name, 'delete', undefined, async () => { await node.store.delete(key) })
          } else {
            await recorder.record(node.name, name, 'get', undefined, async () => node.store.get(key))
          }
        } catch (err: any) {
          if (err?.name !== 'NotFoundError') {
            errors.push(`${node.name} ${name}: ${err?.name}: ${err?.message}`)
          }
        }
      }
    }

    const workers = coordinators.flatMap(node => [0, 1].map(async w => worker(node, w)))

    return {
      async stop () {
        running = false
        await Promise.all(workers)
        return errors
      }
    }
  }

  /**
   * Adopt `next` on every member (clients learn it from MOVED answers), read
   * every preloaded key from `prober` at once, then wait until every member
   * retired the old table
   */
  async function move (recorder: HistoryRecorder, nodes: Node[], next: SlotTable, prober: Node, admin: PrivateKey): Promise<void> {
    const signed = await signTable(next, admin)

    for (const node of nodes) {
      node.store.updateSlotTable(signed)
    }

    await probe(recorder, prober)

    await waitFor(`every member to finish the move to epoch ${next.epoch}`, () => nodes.every(n => {
      const { layout } = n.store.status()
      return layout.done && layout.epochs[0] === next.epoch
    })).catch(err => {
      // what each node saw, to tell which tracker held the move up
      for (const n of [...nodes, prober]) {
        const st = n.store.status()
        console.info(`${n.name} (${n.libp2p.peerId.toString().slice(-6)}): ${JSON.stringify(st.layout)}; ${st.peers.map(p => `${p.peer.slice(-6)} ${p.state} ${JSON.stringify(p.trackers)}`).join(' | ')}`)
      }

      throw err
    })
  }

  /**
   * After the move: every preloaded key reads back; no member holds a record
   * of a slot it does not own; and, after a repair round, every owner of a
   * slot holds the same records
   */
  async function checkPlacement (nodes: Node[], table: SlotTable, reader: ClusterDatastore): Promise<void> {
    for (let i = 0; i < PRELOADED; i++) {
      expect(dec(await reader.get(new Key(`/pre/k${i}`))), `/pre/k${i}`).toBe(`v${i}`)
    }

    // the old owners drop what they gave away once the old table is retired
    await waitFor('the old owners to drop the slots they gave away', async () => {
      for (const node of nodes) {
        for (const key of (await held(node.local)).keys()) {
          if (!table.owners(keySlot(new Key(key))).some(o => o.equals(node.libp2p.peerId))) {
            return false
          }
        }
      }

      return true
    })

    for (const node of nodes) {
      await node.store.repair()
    }

    const stores = await Promise.all(nodes.map(async n => held(n.local)))
    const bySlot = new Map<number, Set<string>>()

    for (const store of stores) {
      for (const key of store.keys()) {
        const slot = keySlot(new Key(key))
        bySlot.set(slot, (bySlot.get(slot) ?? new Set()).add(key))
      }
    }

    for (const [slot, keys] of bySlot) {
      const owners = table.owners(slot).map(o => nodes.findIndex(n => n.libp2p.peerId.equals(o)))

      for (const key of keys) {
        const copies = owners.map(i => stores[i].get(key))
        expect(new Set(copies).size, `${key} (slot ${slot}) on its owners ${owners.join(', ')}`).toBe(1)
        expect(copies[0], `${key} on its owners`).toBeDefined()
      }
    }
  }

  /** Preload, then run the move under load; the history of everything must be linearizable, with no error */
  async function underLoad (recorder: HistoryRecorder, coordinators: Node[], run: () => Promise<void>): Promise<void> {
    await preload(recorder, coordinators[0])
    const running = load(recorder, coordinators)
    await sleep(500)

    try {
      await run()
      await sleep(500)
    } finally {
      const errors = await running.stop()
      const history = recorder.history()
      const result = checkHistory(history)
      expect(errors, errors.slice(0, 5).join('\n')).toEqual([])
      expect(history.filter(o => o.outcome === 'ok').length).toBeGreaterThan(50)
      expect(result.ok, result.summary).toBe(true)
    }
  }

  it('adds a 4th node to 3: reads stay on the old owners until the new ones copied, nothing is lost or read stale', async () => {
    const { nodes, clients, libp2p, clientIds, admin } = await setup(4, (all, c) => even(1, all.slice(0, 3), 3, c))
    const t2 = even(2, libp2p, 3, clientIds)
    const recorder = new HistoryRecorder()

    await underLoad(recorder, [...clients, nodes[0]], async () => { await move(recorder, nodes, t2, clients[1], admin) })

    // the 4th node copied its share and answers for it
    const { layout } = nodes[3].store.status()
    expect(layout).toMatchObject({ epochs: [2], readEpoch: 2, ack: 2, sync: 2, syncAck: 2, slotsToSync: 0, done: true })
    expect(layout.slotsTotal).toBeGreaterThan(0)
    expect(layout.keysCopied).toBeGreaterThan(0)
    expect(layout.bytesCopied).toBeGreaterThan(0)
    expect((await held(nodes[3].local)).size).toBeGreaterThan(0)

    // the command line's health protocol carries the same progress
    await serveHealth(nodes[3].libp2p, new StoreHealth(nodes[3].local, undefined, () => {}), () => true, () => nodes[3].store.status())
    cleanup.push(async () => { await unserveHealth(nodes[3].libp2p) })
    const health = await askHealth(clients[0].libp2p, nodes[3].libp2p.peerId, {})
    expect(health.layout).toEqual(layout)
    await checkPlacement(nodes, t2, clients[1].store)
  }, 120_000)

  it('adds a 4th node while the wall clocks of members and clients are seconds apart', async () => {
    const { nodes, clients, libp2p, clientIds, admin } = await setup(4, (all, c) => even(1, all.slice(0, 3), 3, c))
    const t2 = even(2, libp2p, 3, clientIds)
    const recorder = new HistoryRecorder()

    // from 6 s behind to 6 s ahead: versions and heartbeats carry no wall clock agreement
    ;[...nodes, ...clients].forEach((node, i) => {
      const offset = ((i * 5) % 7 - 3) * 2000
      ;(node.store as unknown as { clock: { wall(): number } }).clock.wall = () => Date.now() + offset
    })

    await underLoad(recorder, [...clients, nodes[0], nodes[2]], async () => { await move(recorder, nodes, t2, clients[1], admin) })

    await checkPlacement(nodes, t2, clients[0].store)
  }, 120_000)

  it('replaces every owner: 3 nodes hand all their slots to 3 new ones', async () => {
    const { nodes, clients, libp2p, clientIds, admin } = await setup(6, (all, c) => even(1, all.slice(0, 3), 3, c))
    const t2 = even(2, libp2p.slice(3), 3, clientIds)
    const recorder = new HistoryRecorder()

    await underLoad(recorder, clients, async () => { await move(recorder, nodes, t2, clients[1], admin) })

    for (const node of nodes.slice(0, 3)) {
      await waitFor(`${node.name} to drop every record`, async () => (await held(node.local)).size === 0)
    }

    await checkPlacement(nodes.slice(3), t2, clients[1].store)
  }, 120_000)

  it('removes a node, 4 to 3: the leaving node gives everything away and ends holding nothing', async () => {
    const { nodes, clients, libp2p, clientIds, admin } = await setup(4, (all, c) => even(1, all, 3, c))
    const t2 = even(2, libp2p.slice(0, 3), 3, clientIds)
    const recorder = new HistoryRecorder()

    await underLoad(recorder, [...clients, nodes[1]], async () => { await move(recorder, nodes, t2, clients[1], admin) })

    await waitFor('the leaving node to drop every record', async () => (await held(nodes[3].local)).size === 0)
    await checkPlacement(nodes.slice(0, 3), t2, clients[1].store)
  }, 120_000)

  it('changes ownership by weight (2:1:1 to 1:1:2) on the same 3 nodes plus one', async () => {
    const { nodes, clients, libp2p, clientIds, admin } = await setup(4, (all, c) => weighted(1, all, [2, 1, 1, 1], 3, c))
    const t2 = weighted(2, libp2p, [1, 1, 2, 3], 3, clientIds)
    const recorder = new HistoryRecorder()

    await underLoad(recorder, [...clients, nodes[2]], async () => { await move(recorder, nodes, t2, clients[1], admin) })

    await checkPlacement(nodes, t2, clients[1].store)
  }, 120_000)

  it('a node restarted over LevelDB mid-move resumes the move from its store, and the move completes', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'move-'))
    cleanup.push(async () => { await rm(dir, { recursive: true, force: true }) })
    const stores = Array.from({ length: 4 }, (_, i) => new LevelDatastore(join(dir, `node${i}`)))
    await Promise.all(stores.map(async s => s.open()))
    cleanup.push(async () => { await Promise.all(stores.map(async s => s.close())) })

    const { nodes, clients, libp2p, clientIds, t1, admin } = await setup(4, (all, c) => even(1, all.slice(0, 3), 3, c), i => stores[i])
    const t2 = even(2, libp2p, 3, clientIds)
    const recorder = new HistoryRecorder()

    await underLoad(recorder, clients, async () => {
      const signed = await signTable(t2, admin)

      for (const node of nodes) {
        node.store.updateSlotTable(signed)
      }

      // node 1 stops before it could finish the move (a remote member's ack has not even come back yet)
      const victim = nodes[1]
      expect(victim.store.status().layout.done).toBe(false)
      await victim.store.stop()
      await sleep(1000)
      // the move cannot finish without it
      expect(nodes[0].store.status().layout.done).toBe(false)

      // started again from its config's table (epoch 1): the store says a move to epoch 2 is under way
      const again = new ClusterDatastore(victim.libp2p, victim.local, t1, { ...OPTIONS, adminKey: admin.publicKey })
      victim.store = again
      await again.start()
      expect(again.status().layout.epochs).toEqual([1, 2])

      await waitFor('every member to finish the move to epoch 2', () => nodes.every(n => {
        const { layout } = n.store.status()
        return layout.done && layout.epochs[0] === 2
      }))
    })

    await checkPlacement(nodes, t2, clients[1].store)
  }, 120_000)

  it('without an admin key, a node restarted from its configured table resumes the move it persisted', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'move-'))
    cleanup.push(async () => { await rm(dir, { recursive: true, force: true }) })
    const libp2p = await Promise.all(Array.from({ length: 4 }, async () => createNode()))
    const stores = libp2p.map((_, i) => new LevelDatastore(join(dir, `node${i}`)))
    await Promise.all(stores.map(async s => s.open()))
    cleanup.push(async () => { await Promise.all(stores.map(async s => s.close())) })
    const t1 = even(1, libp2p.slice(0, 3), 3, [])
    const t2 = even(2, libp2p, 3, [])
    const make = (i: number, table: SlotTable): Node => {
      const node = { name: `node${i}`, libp2p: libp2p[i], local: stores[i], store: new ClusterDatastore(libp2p[i], stores[i], table, OPTIONS) }
      cleanup.push(async () => {
        await node.store.stop()
        await node.libp2p.stop()
      })
      return node
    }
    const nodes = libp2p.map((_, i) => make(i, t1))
    await Promise.all(nodes.map(async n => n.store.start()))

    for (let i = 0; i < PRELOADED; i++) {
      await nodes[0].store.put(new Key(`/pre/k${i}`), enc(`v${i}`))
    }

    for (const node of nodes) {
      node.store.updateSlotTable(t2)
    }

    await nodes[1].store.stop()
    // its configuration still says epoch 1: the store says a move to epoch 2 is under way
    nodes[1].store = new ClusterDatastore(libp2p[1], stores[1], t1, OPTIONS)
    await nodes[1].store.start()
    expect(nodes[1].store.status().layout.epochs).toEqual([1, 2])
    expect(nodes[1].store.slots.epoch).toBe(2)

    await waitFor('every member to finish the move to epoch 2', () => nodes.every(n => {
      const { layout } = n.store.status()
      return layout.done && layout.epochs[0] === 2
    }))
    await checkPlacement(nodes, t2, nodes[0].store)
  }, 120_000)

  /** Stop a node for good: no store left to come back with */
  async function kill (node: Node): Promise<void> {
    await node.store.stop()
    await node.libp2p.stop()
  }

  it('removes a node that is dead for good: the table declares it dead and the move goes on without it', async () => {
    const { nodes, clients, admin, t1 } = await setup(4, (all, c) => even(1, all, 3, c))
    const live = nodes.slice(0, 3)
    const recorder = new HistoryRecorder()
    await preload(recorder, clients[0])
    await kill(nodes[3])

    // planned from the table in force, with the dead node's slots copied from their other owners
    const t2 = planRemoveNode(t1.table, nodes[3].libp2p.peerId, { dead: true }).table
    expect(t2.dead.map(String)).toEqual([nodes[3].libp2p.peerId.toString()])
    expect(t2.hasPeer(nodes[3].libp2p.peerId)).toBe(false)

    await underLoad(recorder, [...clients, live[0]], async () => { await move(recorder, live, t2, clients[1], admin) })

    await checkPlacement(live, t2, clients[1].store)
  }, 120_000)

  /**
   * Three clients on epoch 1 that send no heartbeat after their first, while
   * the members remove node 3, dead, in epoch 2. `before`: their heartbeats
   * were answered before the move, so they hear of epoch 2 from the MOVED
   * answers to their first operation; otherwise they start after the move
   * and catch up from their first heartbeat's answers. Either way a client
   * that adopted epoch 2 must learn from the same answer that the move is
   * over, or it reads from the old owners, the dead node among them, until
   * its next heartbeat.
   */
  async function lateClients (before: boolean): Promise<void> {
    const extra = await createNode()
    cleanup.push(async () => { await extra.stop() })
    const { nodes, clients, admin, t1 } = await setup(4, (all, c) => even(1, all, 3, [...c, extra.peerId]))
    const live = nodes.slice(0, 3)
    const recorder = new HistoryRecorder()
    await preload(recorder, clients[0])
    const t2 = planRemoveNode(t1.table, nodes[3].libp2p.peerId, { dead: true }).table

    const start = async (): Promise<ClusterDatastore[]> => Promise.all([clients[0].libp2p, clients[1].libp2p, extra].map(async (libp2p, i) => {
      await clients[i]?.store.stop()
      const store = new ClusterDatastore(libp2p, new MemoryDatastore(), t1, { ...OPTIONS, heartbeatInterval: 3_600_000, adminKey: admin.publicKey })
      cleanup.push(async () => { await store.stop() })
      await store.start()
      return store
    }))

    let late: ClusterDatastore[] = []

    if (before) {
      late = await start()
      // their one heartbeat answered by every member (the answer carries the member's trackers)
      await waitFor('the late clients to hear from every member', () => late.every(store => store.status().peers.every(p => p.trackers.ack >= 1)))
    }

    await kill(nodes[3])
    await move(recorder, live, t2, live[0], admin)

    if (before) {
      expect(late.map(store => store.slots.epoch)).toEqual([1, 1, 1])
    } else {
      late = await start()
      // the moment each adopts epoch 2 it knows the move is over: the trackers came with the table (before
      // its next heartbeat could bring them, which needs a network round trip: the check runs every turn)
      const deadline = Date.now() + 30_000
      const doneOnAdoption = await Promise.all(late.map(async store => {
        while (store.slots.epoch !== 2) {
          if (Date.now() > deadline) {
            throw new Error('a late client did not adopt epoch 2 within 30 s')
          }

          await new Promise(resolve => setImmediate(resolve))
        }

        return store.status().layout.done
      }))
      expect(doneOnAdoption).toEqual([true, true, true])
    }

    // first a get at all of a key whose old owners are the dead node and two that still own it: they
    // answer, no MOVED comes back, and only trackers learnt with the table end the client's transition
    const dead = nodes[3].libp2p.peerId
    const index = Array.from({ length: PRELOADED }, (_, i) => i).find(i => {
      const slot = keySlot(new Key(`/pre/k${i}`))
      const before = t1.table.owners(slot)
      return before.some(o => o.equals(dead)) && before.filter(o => !o.equals(dead)).every(o => t2.owners(slot).some(p => p.equals(o)))
    })
    expect(index).toBeDefined()
    expect(dec(await late[0].get(new Key(`/pre/k${index}`), { consistency: 'all' }))).toBe(`v${index}`)

    // then every key at all, at once
    const values = await Promise.all(Array.from({ length: PRELOADED }, async (_, i) => dec(await late[0].get(new Key(`/pre/k${i}`), { consistency: 'all' }))))
    expect(values).toEqual(Array.from({ length: PRELOADED }, (_, i) => `v${i}`))
    expect(late[0].status().layout).toMatchObject({ epochs: [2], done: true })

    // a query at all
    expect((await all(late[1].query({ prefix: '/pre' }, { consistency: 'all' }))).length).toBe(PRELOADED)

    // puts at all
    await Promise.all(Array.from({ length: 50 }, async (_, i) => { await late[2].put(new Key(`/late/k${i}`), enc(`late-${i}`), { consistency: 'all' }) }))
    expect(await Promise.all(Array.from({ length: 50 }, async (_, i) => dec(await live[0].store.get(new Key(`/late/k${i}`), { consistency: 'all' })))))
      .toEqual(Array.from({ length: 50 }, (_, i) => `late-${i}`))
    expect(late.map(store => store.slots.epoch)).toEqual([2, 2, 2])
  }

  it('clients on the table from before a node was removed dead: their first operation, refused with the new table, succeeds at all', async () => {
    await lateClients(true)
  }, 120_000)

  it('clients started from the table before a node was removed dead catch up from their first heartbeat and succeed at all', async () => {
    await lateClients(false)
  }, 120_000)

  it('a client started from a table two moves old (a member of it left for good in between) adopts the newest at once and reads and writes at all', async () => {
    // epoch 1: nodes 0-3; epoch 2: node 0 removed (then shut down for good); epoch 3: node 4 added
    const { nodes, clients, admin, t1 } = await setup(4, (all, c) => even(1, all, 3, c))
    const recorder = new HistoryRecorder()
    await preload(recorder, clients[0])
    await clients[1].store.stop()

    const t2 = planRemoveNode(t1.table, nodes[0].libp2p.peerId).table
    await move(recorder, nodes, t2, nodes[1], admin)
    await kill(nodes[0])
    // the newcomer starts on the table in force, as add-node brings it onto it
    const newcomer = await makeNode('node4', await signTable(t2, admin), admin)
    await newcomer.store.start()
    const t3 = planAddNode(t2, { id: newcomer.libp2p.peerId, addrs: newcomer.libp2p.getMultiaddrs() }).table
    await move(recorder, [...nodes.slice(1), newcomer], t3, nodes[1], admin)

    const late = new ClusterDatastore(clients[1].libp2p, new MemoryDatastore(), t1, { ...OPTIONS, heartbeatInterval: 3_600_000, adminKey: admin.publicKey })
    cleanup.push(async () => { await late.stop() })
    await late.start()

    // its table names node 0 and owners long gone: the move to epoch 3 is over, so there is nothing to move from
    await waitFor('the late client to adopt epoch 3', () => late.slots.epoch === 3, 30_000)
    await waitFor('the late client to end its transition', () => late.status().layout.done, 10_000)

    const values = await Promise.all(Array.from({ length: PRELOADED }, async (_, i) => dec(await late.get(new Key(`/pre/k${i}`), { consistency: 'all' }))))
    expect(values).toEqual(Array.from({ length: PRELOADED }, (_, i) => `v${i}`))
    expect((await all(late.query({ prefix: '/pre' }, { consistency: 'all' }))).length).toBe(PRELOADED)
    await Promise.all(Array.from({ length: 50 }, async (_, i) => { await late.put(new Key(`/late/k${i}`), enc(`late-${i}`), { consistency: 'all' }) }))
    expect(await Promise.all(Array.from({ length: 50 }, async (_, i) => dec(await newcomer.store.get(new Key(`/late/k${i}`), { consistency: 'all' })))))
      .toEqual(Array.from({ length: 50 }, (_, i) => `late-${i}`))
  }, 120_000)

  it('a client that catches up in the middle of a move learns how far each member is from the answer that brought the table', async () => {
    // a weight change that cannot end (node 3 died): the members stay in the transition to epoch 2
    const { nodes, clients, libp2p, clientIds, admin, t1 } = await setup(4, (all, c) => even(1, all, 3, c))
    const live = nodes.slice(0, 3)
    await clients[0].store.stop()
    await clients[1].store.stop()
    const start = async (i: number): Promise<ClusterDatastore> => {
      const store = new ClusterDatastore(clients[i].libp2p, new MemoryDatastore(), t1, { ...OPTIONS, heartbeatInterval: 3_600_000, adminKey: admin.publicKey })
      cleanup.push(async () => { await store.stop() })
      await store.start()
      return store
    }
    // heard from every member on epoch 1; no heartbeat after that
    const refused = await start(0)
    await waitFor('the first late client to hear from every member', () => refused.status().peers.every(p => p.trackers.ack >= 1))

    await kill(nodes[3])
    const s2 = await signTable(weighted(2, libp2p, [2, 1, 1, 1], 3, clientIds), admin)

    for (const node of live) {
      expect(node.store.updateSlotTable(s2)).toBe(true)
    }

    await waitFor('every live member to ack epoch 2', () => live.every(n => live.every(m => n.store.status().peers.find(p => p.peer === m.libp2p.peerId.toString())?.trackers.ack === 2 || n === m)))
    const acked = (store: ClusterDatastore): number[] => live.map(n => store.status().peers.find(p => p.peer === n.libp2p.peerId.toString())?.trackers.ack ?? -1)

    // a write by epoch 1 (at one: no version read first, whose answers would start a catch-up) is refused
    // (MOVED, with the table and the members' trackers): the client moves to epoch 2 and knows at once that
    // the live members acked it (its next heartbeat is an hour away)
    await refused.put(new Key('/mid/k'), enc('v'), { consistency: 'one' })
    expect(refused.status().layout.epochs).toEqual([1, 2])
    expect(acked(refused)).toEqual([2, 2, 2])

    // a client started now catches up from its first heartbeat's answers (GET_TABLE): the trackers come with the table
    const caught = await start(1)
    const deadline = Date.now() + 30_000

    while (caught.slots.epoch !== 2) {
      if (Date.now() > deadline) {
        throw new Error('the second late client did not adopt epoch 2 within 30 s')
      }

      await new Promise(resolve => setImmediate(resolve))
    }

    expect(caught.status().layout.epochs).toEqual([1, 2])
    expect(acked(caught)).toEqual([2, 2, 2])
  }, 120_000)

  it('a member declared dead that comes back adopts the table that removed it at once and drops what it held, so nothing it held can come back', async () => {
    const { nodes, clients, admin, t1 } = await setup(4, (all, c) => even(1, all, 3, c))
    const live = nodes.slice(0, 3)
    const recorder = new HistoryRecorder()
    await preload(recorder, clients[0])
    const returning = nodes[3]
    expect((await held(returning.local)).size).toBeGreaterThan(0)

    // its store stops (its child store is kept); the others remove it as dead and finish the move
    await returning.store.stop()
    const t2 = planRemoveNode(t1.table, returning.libp2p.peerId, { dead: true }).table
    await move(recorder, live, t2, clients[1], admin)

    // back, from the table it holds (epoch 1): it hears epoch 2 from its first heartbeats, a table the
    // move to which is over, so it takes it at once (no transition from epoch 1, whose owners moved on)
    const back = new ClusterDatastore(returning.libp2p, returning.local, t1, { ...OPTIONS, adminKey: admin.publicKey })
    cleanup.push(async () => { await back.stop() })
    await back.start()
    await waitFor('the returning node to adopt epoch 2', () => back.slots.epoch === 2, 30_000)
    expect(back.status().layout).toMatchObject({ epochs: [2], done: true })

    // the records of the slots it no longer owns (all of them) are dropped, as a move's end drops them: were
    // it given those slots again later, keys deleted meanwhile (tombstones purged) would come back from it
    await waitFor('the returning node to drop its records', async () => (await held(returning.local)).size === 0, 30_000)
  }, 120_000)

  it('a member that died during a move: a newer table declaring it dead lets that move end, then removes it', async () => {
    const { nodes, clients, libp2p, clientIds, admin } = await setup(4, (all, c) => even(1, all, 3, c))
    const live = nodes.slice(0, 3)
    const recorder = new HistoryRecorder()

    await underLoad(recorder, [...clients, live[0]], async () => {
      // a weight change begins, and node 3 dies before it can report anything
      await kill(nodes[3])
      const t2 = weighted(2, libp2p, [2, 1, 1, 1], 3, clientIds)
      const s2 = await signTable(t2, admin)

      for (const node of live) {
        expect(node.store.updateSlotTable(s2)).toBe(true)
      }

      // every member must report each step: without node 3 the move cannot end
      await sleep(2000)
      expect(live.map(n => n.store.status().layout.epochs)).toEqual(live.map(() => [1, 2]))

      // the table removing node 3 is kept until the move to epoch 2 is over, and declares it dead
      const t3 = planRemoveNode(t2, nodes[3].libp2p.peerId, { dead: true }).table
      const s3 = await signTable(t3, admin)

      for (const node of live) {
        expect(node.store.updateSlotTable(s3)).toBe(false)
      }

      await waitFor('every live member to finish both moves', () => live.every(n => {
        const { layout } = n.store.status()
        return layout.done && layout.epochs[0] === 3
      }))
      await probe(recorder, clients[1])
    })

    await checkPlacement(live, live[0].store.slots, clients[1].store)
  }, 120_000)

  it('refuses to declare a node dead when a slot would keep fewer old owners than a quorum', async () => {
    const peers = await Promise.all(Array.from({ length: 3 }, async () => generateKeyPair('Ed25519')))
    const ids = peers.map(k => peerIdFromPrivateKey(k))
    const two = SlotTable.even(ids.map(id => ({ id, addrs: ['/ip4/127.0.0.1/tcp/1'] })), { epoch: 1, replicas: 2 })

    // 2 owners per slot: without one, 1 is left, fewer than the quorum of 2 a move copies from
    expect(() => planRemoveNode(two, ids[0], { dead: true })).toThrow(expect.objectContaining({ name: 'InvalidPlanError', reason: 'too-few-copies' }))
    // alive, it can still hand its slots over
    expect(planRemoveNode(two, ids[0]).table.dead).toEqual([])
  })

  it('refuses a table that moves a single-owner slot to another node, and keeps serving', async () => {
    const { nodes, libp2p, clientIds, admin } = await setup(3, (all, c) => even(1, all.slice(0, 2), 1, c))
    await nodes[0].store.put(new Key('/single'), enc('one'))
    const r2 = await signTable(even(2, libp2p, 2, clientIds), admin)

    // a replicated table that takes single-owner slots from their owner: refused on every node, nothing changes
    for (const node of nodes) {
      expect(() => node.store.updateSlotTable(r2)).toThrow(/single owner/)
      expect(node.store.slots.epoch).toBe(1)
      expect(node.store.status().layout.epochs).toEqual([1])
    }

    expect(dec(await nodes[1].store.get(new Key('/single')))).toBe('one')
  }, 60_000)
})
