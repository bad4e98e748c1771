/**
 * Only the admin key changes a slot table (DESIGN.md, "Membership changes and
 * signed tables"). Every table a member, an allowed client or a stranger
 * pushes is judged by its signature, never by its sender: unsigned, signed by
 * another key, older, the same epoch with other content, or an epoch jump to
 * 2^53-1 signed by a wrong key - all refused, nothing changes, and the node
 * keeps serving. A correctly signed newer table is adopted from anyone, a
 * node behind catches up from a peer, and a restart keeps the newest table.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { RecordEnvelope } from '@libp2p/peer-record'
import { lpStream } from '@libp2p/utils'
import { MemoryDatastore } from 'datastore-core'
import { LevelDatastore } from 'datastore-level'
import { Key } from 'interface-datastore'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { ClusterDatastore, PROTOCOL, SlotTable, signTable } from '../../src/index.js'
import { tableToMessage } from '../../src/rpc/table.js'
import { Request, Response, SlotTable as SlotTableMessage } from '../../src/pb/message.js'
import { createCluster, createNode } from '../utils/cluster.js'
import type { TestCluster } from '../utils/cluster.js'
import type { SignedSlotTable } from '../../src/index.js'
import type { Libp2p, PrivateKey } from '@libp2p/interface'

const enc = new TextEncoder()
const dec = new TextDecoder()

/** The same peers and clients, range owners rotated by `shift` */
function rotated (table: SlotTable, epoch: number, shift: number, clients = [...table.clients]): SlotTable {
  const owners = table.ranges.map(r => r.owners)
  return SlotTable.fromRanges({
    epoch,
    ranges: table.ranges.map((r, i) => ({ start: r.start, end: r.end, owners: [...owners[(i + shift) % owners.length]] })),
    peers: table.peers.map(p => ({ id: p.id, addrs: [...p.addrs] })),
    clients
  })
}

/** Send one TABLE request from `from` to `to` on a raw stream and read the answer */
async function push (from: Libp2p, to: Libp2p, req: Partial<Request>): Promise<Response> {
  // by address: a stranger has no other way to know it
  const lp = lpStream(await from.dialProtocol(to.getMultiaddrs(), PROTOCOL))
  await lp.write(Request.encode({ id: 1, type: Request.Type.TABLE, epoch: 1, ...req }))
  const res = Response.decode(await lp.read())
  await lp.unwrap().close().catch(() => {})
  return res
}

describe('signed slot tables: what a peer may push', () => {
  let cluster: TestCluster
  let stranger: Libp2p
  let other: PrivateKey
  let honest: { stop(): Promise<number> }

  beforeAll(async () => {
    cluster = await createCluster({ nodes: 3, clients: 1, signed: true })
    stranger = await createNode()
    other = await generateKeyPair('Ed25519')
    await cluster.nodes[2].store.put(new Key('/before'), enc.encode('kept'))

    // honest traffic through the target all along: every call must succeed
    const [target, , caller] = cluster.nodes
    let running = true
    let done = 0
    const loop = (async () => {
      for (let i = 0; running; i++) {
        const key = new Key(`/honest/${i % 50}`)
        await caller.store.put(key, enc.encode(`v${i}`))
        expect(dec.decode(await target.store.get(key))).toBe(`v${i}`)
        done++
      }
    })()
    honest = {
      async stop () {
        running = false
        await loop
        return done
      }
    }
  })

  afterAll(async () => {
    await stranger?.stop()
    await cluster?.stop()
  })

  /** The target's table is still the one the cluster started with */
  function unchanged (): void {
    const target = cluster.nodes[0].store
    expect(target.slots.epoch).toBe(1)
    expect(target.slots.equals(cluster.table)).toBe(true)
    expect(target.signedSlots?.hash).toBe(cluster.signed!.hash)
  }

  const pushers = [
    { name: 'a member', from: () => cluster.nodes[1].libp2p },
    { name: 'an allowed client', from: () => cluster.clients[0].libp2p },
    { name: 'a stranger', from: () => stranger }
  ]

  for (const pusher of pushers) {
    describe(`pushed by ${pusher.name}`, () => {
      /**
       * Send `req` and check the answer: a stranger is refused at stream
       * open, before anything is read; others get `status`, with a message
       * matching each of `message`
       */
      async function expectAnswer (req: Partial<Request>, status: Response.Status, ...message: Array<RegExp | string>): Promise<Response> {
        const res = await push(pusher.from(), cluster.nodes[0].libp2p, req)

        if (pusher.name === 'a stranger') {
          expect(res.id).toBe(0)
          expect(res.status).toBe(Response.Status.UNAUTHORIZED)
          expect(res.message).toMatch(/neither a member .* nor an allowed client/)
          return res
        }

        expect(res.id).toBe(1)
        expect(res.status).toBe(status)

        for (const m of message) {
          expect(res.message).toMatch(m)
        }

        return res
      }

      it('an unsigned newer table is refused', async () => {
        const t2 = rotated(cluster.table, 2, 1)
        await expectAnswer({ epoch: 2, table: tableToMessage(t2) }, Response.Status.UNAUTHORIZED, /not signed/)
        unchanged()
      })

      it('a newer table signed by another key is refused', async () => {
        const forged = await signTable(rotated(cluster.table, 2, 1), other)
        await expectAnswer({ epoch: 2, signedTable: forged.bytes as Uint8Array<ArrayBuffer> }, Response.Status.UNAUTHORIZED, /not by the admin key/)
        unchanged()
      })

      it('an older table, even signed by the admin key, is ignored and answered with the newer one', async () => {
        const older = await signTable(rotated(cluster.table, 0, 1), cluster.admin!)
        const res = await expectAnswer({ epoch: 0, signedTable: older.bytes as Uint8Array<ArrayBuffer> }, Response.Status.OK)

        if (res.id !== 0) {
          expect(Uint8Array.from(res.signedTable ?? [])).toEqual(Uint8Array.from(cluster.signed!.bytes))
        }

        unchanged()
      })

      it('another table with the same epoch is refused: as a conflict when the admin key signed it', async () => {
        const same = await signTable(rotated(cluster.table, 1, 2), cluster.admin!)
        await expectAnswer({ epoch: 1, signedTable: same.bytes as Uint8Array<ArrayBuffer> }, Response.Status.CONFLICT, same.hash, cluster.signed!.hash)

        const forged = await signTable(rotated(cluster.table, 1, 2), other)
        await expectAnswer({ epoch: 1, signedTable: forged.bytes as Uint8Array<ArrayBuffer> }, Response.Status.UNAUTHORIZED, /not by the admin key/)
        unchanged()
      })

      it('an epoch jump to 2^53-1 signed by a wrong key is refused', async () => {
        const jump = await signTable(rotated(cluster.table, Number.MAX_SAFE_INTEGER, 1, []), other)
        await expectAnswer({ epoch: Number.MAX_SAFE_INTEGER, signedTable: jump.bytes as Uint8Array<ArrayBuffer> }, Response.Status.UNAUTHORIZED, /not by the admin key/)
        unchanged()
      })

      it('a newer table under the admin key whose signature does not verify is refused', async () => {
        const real = await signTable(rotated(cluster.table, 2, 1), cluster.admin!)
        const envelope = RecordEnvelope.createFromProtobuf(real.bytes)
        // the admin's signature of another table: the payload was altered after signing
        const altered = new RecordEnvelope({ ...envelope, payload: SlotTableMessage.encode(tableToMessage(rotated(cluster.table, 2, 2))) }).marshal()
        await expectAnswer({ epoch: 2, signedTable: altered as Uint8Array<ArrayBuffer> }, Response.Status.UNAUTHORIZED, /does not verify/)
        unchanged()
      })

      it('bytes that are no envelope at all are refused', async () => {
        await expectAnswer({ epoch: 9, signedTable: enc.encode('not an envelope') }, Response.Status.UNAUTHORIZED, /not a signed envelope/)
        unchanged()
      })
    })
  }

  it('kept serving honest reads and writes throughout, and the data written before', async () => {
    expect(await honest.stop()).toBeGreaterThan(0)
    expect(dec.decode(await cluster.nodes[0].store.get(new Key('/before')))).toBe('kept')
    unchanged()
  })
})

describe('signed slot tables: adoption', () => {
  let cluster: TestCluster | undefined
  const dirs: string[] = []

  afterEach(async () => {
    await cluster?.stop()
    cluster = undefined
    await Promise.all(dirs.splice(0).map(async dir => rm(dir, { recursive: true, force: true })))
  })

  it('a member adopts a correctly signed newer table pushed by a client, clients and all', async () => {
    cluster = await createCluster({ nodes: 2, clients: 1, signed: true })
    const [target] = cluster.nodes
    const client = cluster.clients[0]
    // the new table makes the client read-only
    const t2 = await signTable(rotated(cluster.table, 2, 1, [{ id: client.libp2p.peerId, readOnly: true }]), cluster.admin!)
    const res = await push(client.libp2p, target.libp2p, { epoch: 2, signedTable: t2.bytes as Uint8Array<ArrayBuffer> })

    expect(res.status).toBe(Response.Status.OK)
    expect(target.store.slots.epoch).toBe(2)
    expect(target.store.slots.equals(t2.table)).toBe(true)
    expect(target.store.signedSlots?.hash).toBe(t2.hash)

    // access comes from the signed table: the client may read, not write
    await target.store.put(new Key('/ro'), enc.encode('x'))
    client.store.updateSlotTable(t2)
    expect(dec.decode(await client.store.get(new Key('/ro')))).toBe('x')
    await expect(client.store.put(new Key('/ro'), enc.encode('y'))).rejects.toHaveProperty('name', 'UnauthorizedError')
  })

  it('a node behind catches up from a peer\'s answers, with no MOVED and no push', async () => {
    cluster = await createCluster({ nodes: 3, replicas: 3, signed: true, options: { heartbeatInterval: 50 } })
    const [a, b, behind] = cluster.nodes
    const t2 = await signTable(rotated(cluster.table, 2, 1), cluster.admin!)
    a.store.updateSlotTable(t2)
    b.store.updateSlotTable(t2)

    // heartbeat answers carry epoch 2: the node behind asks a peer for its table
    await expect.poll(() => behind.store.slots.epoch, { timeout: 20_000, interval: 50 }).toBe(2)
    expect(behind.store.signedSlots?.hash).toBe(t2.hash)
  })

  it('a MOVED answer from an owner hands the caller the signed newer table', async () => {
    cluster = await createCluster({ nodes: 3, signed: true })
    const [a, b, c] = cluster.nodes
    const t2 = await signTable(rotated(cluster.table, 2, 1), cluster.admin!)
    b.store.updateSlotTable(t2)
    c.store.updateSlotTable(t2)

    for (let i = 0; i < 20; i++) {
      await a.store.put(new Key(`/moved/${i}`), enc.encode('v'))
    }

    expect(a.store.slots.epoch).toBe(2)
    expect(a.store.signedSlots?.hash).toBe(t2.hash)
  })

  it('a restart over LevelDB keeps the newest table adopted, and refuses a different one of the same epoch', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'signed-table-'))
    dirs.push(dir)
    const admin = await generateKeyPair('Ed25519')
    let level = new LevelDatastore(join(dir, 'a'))
    await level.open()
    cluster = await createCluster({ nodes: 2, signed: admin, local: (i) => i === 0 ? level : new MemoryDatastore() })
    const [a, b] = cluster.nodes
    const t1 = cluster.signed as SignedSlotTable
    const t2 = await signTable(rotated(cluster.table, 2, 1), admin)
    expect((await push(b.libp2p, a.libp2p, { epoch: 2, signedTable: t2.bytes as Uint8Array<ArrayBuffer> })).status).toBe(Response.Status.OK)
    expect(a.store.slots.epoch).toBe(2)

    // a real restart: the store stopped, LevelDB closed and opened again, the constructor given the old table
    await a.store.stop()
    await level.close()
    level = new LevelDatastore(join(dir, 'a'))
    await level.open()
    const restarted = new ClusterDatastore(a.libp2p, level, t1, { adminKey: admin.publicKey })
    await restarted.start()
    expect(restarted.slots.epoch).toBe(2)
    expect(restarted.signedSlots?.hash).toBe(t2.hash)
    await restarted.stop()

    // the same epoch as persisted, other content: refused loudly, nothing served
    const conflicting = await signTable(rotated(cluster.table, 2, 0), admin)
    const wrong = new ClusterDatastore(a.libp2p, level, conflicting, { adminKey: admin.publicKey })
    await expect(wrong.start()).rejects.toHaveProperty('name', 'TableConflictError')
    expect(wrong.isStarted()).toBe(false)
    await level.close()
  })
})

describe('signed slot tables: what an owner may answer', () => {
  let honest: Libp2p
  let liar: Libp2p
  let store: ClusterDatastore
  let admin: PrivateKey
  let table: SlotTable
  /** What the lying owner answers to each request */
  let answer: (req: Request) => Partial<Response>
  const asked: Request.Type[] = []

  beforeAll(async () => {
    ;[honest, liar] = await Promise.all([createNode(), createNode()])
    admin = await generateKeyPair('Ed25519')
    table = SlotTable.even([honest, liar].map(n => ({ id: n.peerId, addrs: n.getMultiaddrs() })), { epoch: 1 })
    // a member of the table that runs no datastore: it answers whatever the test says
    await liar.handle(PROTOCOL, (stream) => {
      const lp = lpStream(stream)
      void (async () => {
        try {
          while (true) {
            const req = Request.decode(await lp.read())
            asked.push(req.type)
            await lp.write(Response.encode({ id: req.id, ...answer(req) }))
          }
        } catch {
          // the stream ended
        }
      })()
    })
    store = new ClusterDatastore(honest, new MemoryDatastore(), await signTable(table, admin), { adminKey: admin.publicKey })
    await store.start()
  })

  afterAll(async () => {
    await store?.stop()
    await Promise.all([honest?.stop(), liar?.stop()])
  })

  /** A key the lying owner is primary of */
  function liarsKey (i: number): Key {
    for (let n = 0; ; n++) {
      const key = new Key(`/liar/${i}/${n}`)
      if (table.ownersOfKey(key)[0].equals(liar.peerId)) return key
    }
  }

  // first: once an owner failed to show a table for an epoch, it is not asked again up to that epoch
  it('an answer claiming a newer epoch makes the node ask once, refuse the forged table, and not ask that owner again for that epoch', async () => {
    const forged = await signTable(rotated(table, 7, 1), await generateKeyPair('Ed25519'))
    answer = (req) => req.type === Request.Type.GET_TABLE
      ? { status: Response.Status.OK, epoch: 7, signedTable: forged.bytes as Uint8Array<ArrayBuffer> }
      : { status: Response.Status.OK, epoch: 7, value: enc.encode('lie') }
    asked.length = 0

    // GET answered OK, with an epoch the node does not have: catch-up runs in the background
    await store.get(liarsKey(3))
    await expect.poll(() => asked.filter(t => t === Request.Type.GET_TABLE).length, { timeout: 10_000 }).toBe(1)
    await store.get(liarsKey(3))
    await store.get(liarsKey(3))
    expect(asked.filter(t => t === Request.Type.GET_TABLE)).toHaveLength(1)
    expect(store.slots.epoch).toBe(1)
    expect(store.signedSlots?.table.equals(table)).toBe(true)
  })

  it('a MOVED answer with an epoch jump to 2^53-1 signed by a wrong key fails the call and changes nothing', async () => {
    const jump = await signTable(rotated(table, Number.MAX_SAFE_INTEGER, 1), await generateKeyPair('Ed25519'))
    answer = () => ({ status: Response.Status.MOVED, epoch: Number.MAX_SAFE_INTEGER, message: 'moved', signedTable: jump.bytes as Uint8Array<ArrayBuffer> })

    await expect(store.put(liarsKey(1), enc.encode('v'))).rejects.toHaveProperty('name', 'TableSignatureError')
    expect(store.slots.epoch).toBe(1)
  })

  it('a MOVED answer with an unsigned newer table (the old form) is not adopted: the caller asks for a signed one and refuses the garbage it gets', async () => {
    answer = (req) => req.type === Request.Type.GET_TABLE
      ? { status: Response.Status.OK, epoch: 2, signedTable: enc.encode('garbage') }
      : { status: Response.Status.MOVED, epoch: 2, message: 'moved', table: tableToMessage(rotated(table, 2, 1)) }
    asked.length = 0

    await expect(store.put(liarsKey(2), enc.encode('v'))).rejects.toHaveProperty('name', 'TableSignatureError')
    expect(asked).toContain(Request.Type.GET_TABLE)
    expect(store.slots.epoch).toBe(1)
  })

})
