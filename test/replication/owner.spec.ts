/**
 * The owner side of replication over real libp2p: raw REPLICA_*, PING,
 * DIGESTS and SLOT_ENTRIES requests to one node of a 3-node cluster whose
 * ranges have 2 owners each, on LevelDB children.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { lpStream } from '@libp2p/utils'
import { LevelDatastore } from 'datastore-level'
import { Key } from 'interface-datastore'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { PROTOCOL, keySlot } from '../../src/index.js'
import { Owner } from '../../src/owner/owner.js'
import { Request, Response } from '../../src/pb/message.js'
import { makeVersion, versionClock } from '../../src/replication/record.js'
import { Ownership } from '../../src/slots/ownership.js'
import { createCluster } from '../utils/cluster.js'
import type { TestCluster } from '../utils/cluster.js'
import type { Libp2p, PeerId } from '@libp2p/interface'
import type { LengthPrefixedStream } from '@libp2p/utils'

const enc = new TextEncoder()
const dec = new TextDecoder()
type Bytes = Uint8Array<ArrayBuffer>
/** Decoded bytes may be Buffers: compare contents only */
const plain = (bytes?: Uint8Array): Uint8Array | undefined => bytes == null ? undefined : Uint8Array.from(bytes)

describe('replica owner over the wire (N=2 of 3, LevelDB children)', () => {
  let cluster: TestCluster
  let dir: string
  const levels: LevelDatastore[] = []
  let target: TestCluster['nodes'][number]
  let streams: Map<Libp2p, LengthPrefixedStream>
  let nextId = 1
  /** A writer id for versions made by the test */
  let writer: Uint8Array

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'replica-owner-'))

    for (let i = 0; i < 4; i++) {
      const level = new LevelDatastore(join(dir, `node-${i}`))
      await level.open()
      levels.push(level)
    }

    cluster = await createCluster({ nodes: 3, clients: 1, replicas: 2, local: (i) => levels[i] })
    target = cluster.nodes[0]
    streams = new Map()
    writer = cluster.clients[0].libp2p.peerId.toMultihash().bytes
  })

  afterAll(async () => {
    await cluster?.stop()

    for (const level of levels) {
      await level.close()
    }

    await rm(dir, { recursive: true, force: true })
  })

  /** One persistent raw stream per sender to the target (or `to`) */
  async function ask (req: Partial<Request>, from: Libp2p = cluster.clients[0].libp2p, to: Libp2p = target.libp2p): Promise<Response[]> {
    let lp = to === target.libp2p ? streams.get(from) : undefined

    if (lp == null) {
      lp = lpStream(await from.dialProtocol(to.peerId, PROTOCOL), { maxDataLength: 8 * 1024 * 1024 })

      if (to === target.libp2p) {
        streams.set(from, lp)
      }
    }

    const id = nextId++
    await lp.write(Request.encode({ id, epoch: cluster.table.epoch, credit: 1024 * 1024, ...req }))
    const frames: Response[] = []

    for (;;) {
      const res = Response.decode(await lp.read())
      expect(res.id).toBe(id)
      frames.push(res)

      if (res.done || res.status !== Response.Status.OK || !isStreamed(req.type)) {
        return frames
      }
    }
  }

  function isStreamed (type?: Request.Type): boolean {
    return type === Request.Type.REPLICA_GET_MANY || type === Request.Type.REPLICA_QUERY || type === Request.Type.SLOT_ENTRIES || type === Request.Type.QUERY
  }

  async function ask1 (req: Partial<Request>, from?: Libp2p, to?: Libp2p): Promise<Response> {
    return (await ask(req, from, to))[0]
  }

  /** The first key `${prefix}/${i}` whose owners include (or exclude) `peer`, with `peer` first when `primary` */
  function keyFor (prefix: string, test: (owners: readonly PeerId[]) => boolean): Key {
    for (let i = 0; ; i++) {
      const key = new Key(`${prefix}/${i}`)
      if (test(cluster.table.owners(keySlot(key)))) return key
    }
  }

  const ownedBy = (peer: PeerId) => (owners: readonly PeerId[]): boolean => owners.some(o => o.equals(peer))
  const primaryIs = (peer: PeerId) => (owners: readonly PeerId[]): boolean => owners[0].equals(peer)

  function version (ms: number, counter = 0): Bytes {
    return makeVersion((BigInt(ms) << 16n) | BigInt(counter), writer) as Bytes
  }

  function record (key: Key, v: Uint8Array, value?: string): Request['records'][number] {
    return { key: key.uint8Array() as Bytes, version: v as Bytes, tombstone: value == null, ...(value != null ? { value: enc.encode(value) } : {}) }
  }

  async function write (key: Key, v: Uint8Array, value?: string, from?: Libp2p, to?: Libp2p): Promise<Response> {
    return ask1({ type: Request.Type.REPLICA_WRITE, records: [record(key, v, value)] }, from, to)
  }

  it('applies a newer record, refuses an older one answering the record held, and takes the same version again', async () => {
    const key = keyFor('/apply', ownedBy(target.libp2p.peerId))
    const v1 = version(1_000)
    const v2 = version(2_000)

    let res = await write(key, v2, 'two')
    expect(res.status).toBe(Response.Status.OK)
    expect(res.records).toEqual([])
    expect(res.clock).toBeGreaterThanOrEqual(versionClock(v2))

    res = await write(key, v1, 'one')
    expect(res.status).toBe(Response.Status.OK)
    expect(res.records).toHaveLength(1)
    expect(dec.decode(res.records[0].value)).toBe('two')
    expect(plain(res.records[0].version)).toEqual(v2)
    expect(plain(res.records[0].key)).toEqual(key.uint8Array())

    res = await write(key, v2, 'two')
    expect(res.records).toEqual([])

    const got = await ask1({ type: Request.Type.REPLICA_GET, key: key.uint8Array() as Bytes })
    expect(got.status).toBe(Response.Status.OK)
    expect(dec.decode(got.record?.value)).toBe('two')
    expect(plain(got.record?.version)).toEqual(v2)
    expect(got.record?.tombstone).toBe(false)

    // one child write holds header, version, checksum (format 2, 8 bytes) and value together
    const stored = await target.local.get(key)
    expect([...stored.subarray(0, 4)]).toEqual([0xdc, 2, 0, v2.byteLength])
    expect(plain(stored.subarray(4, 4 + v2.byteLength))).toEqual(v2)
    expect(dec.decode(stored.subarray(4 + v2.byteLength + 8))).toBe('two')
  })

  it('applies the records of one request in order and answers only the refused ones', async () => {
    const a = keyFor('/order-a', ownedBy(target.libp2p.peerId))
    const b = keyFor('/order-b', ownedBy(target.libp2p.peerId))
    const res = await ask1({
      type: Request.Type.REPLICA_WRITE,
      records: [record(a, version(10), 'a10'), record(a, version(30), 'a30'), record(a, version(20), 'a20'), record(b, version(5), 'b5')]
    })

    expect(res.records.map(r => dec.decode(r.value))).toEqual(['a30'])
    expect(dec.decode((await ask1({ type: Request.Type.REPLICA_GET, key: a.uint8Array() as Bytes })).record?.value)).toBe('a30')
    expect(dec.decode((await ask1({ type: Request.Type.REPLICA_GET, key: b.uint8Array() as Bytes })).record?.value)).toBe('b5')
  })

  it('hides tombstones from plain queries and refuses plain reads, but returns them to REPLICA_*', async () => {
    const gone = keyFor('/tomb/gone', primaryIs(target.libp2p.peerId))
    const kept = keyFor('/tomb/kept', primaryIs(target.libp2p.peerId))
    const never = keyFor('/tomb/never', primaryIs(target.libp2p.peerId))

    await write(gone, version(100), 'soon deleted')
    await write(kept, version(100), 'kept')
    const deleted = await write(gone, version(200))
    expect(deleted.records).toEqual([])

    // a plain read of a replicated slot names the requests to use instead
    for (const type of [Request.Type.GET, Request.Type.HAS, Request.Type.PUT, Request.Type.DELETE]) {
      const plain = await ask1({ type, key: gone.uint8Array() as Bytes, value: enc.encode('x') })
      expect(plain.status).toBe(Response.Status.BAD_REQUEST)
      expect(plain.message).toMatch(/REPLICA_GET, REPLICA_WRITE/)
    }

    // the plain query (primary's slots) strips headers and drops tombstones
    const plainQuery = (await ask({ type: Request.Type.QUERY, prefix: '/tomb' })).flatMap(res => res.entries)
    expect(plainQuery.map(e => [dec.decode(e.key), dec.decode(e.value)])).toEqual([[kept.toString(), 'kept']])

    const got = await ask1({ type: Request.Type.REPLICA_GET, key: gone.uint8Array() as Bytes })
    expect(got.status).toBe(Response.Status.OK)
    expect(got.record?.tombstone).toBe(true)
    expect(plain(got.record?.version)).toEqual(version(200))
    expect(got.record?.value).toBeUndefined()

    const missing = await ask1({ type: Request.Type.REPLICA_GET, key: never.uint8Array() as Bytes })
    expect(missing.status).toBe(Response.Status.NOT_FOUND)

    const many = (await ask({ type: Request.Type.REPLICA_GET_MANY, keys: [gone, kept, never].map(k => k.uint8Array() as Bytes) })).flatMap(res => res.entries)
    expect(many.map(e => [dec.decode(e.key), e.missing, e.tombstone, e.value == null ? undefined : dec.decode(e.value)])).toEqual([
      [gone.toString(), false, true, undefined],
      [kept.toString(), false, false, 'kept'],
      [never.toString(), true, undefined, undefined]
    ])
    expect(plain(many[0].version)).toEqual(version(200))

    // a writer's version read: one answer, in request order, no keys and no values
    const versions = await ask1({ type: Request.Type.REPLICA_VERSIONS, keys: [gone, kept, never].map(k => k.uint8Array() as Bytes) })
    expect(versions.status).toBe(Response.Status.OK)
    expect(versions.entries.map(e => [e.key, e.value, e.missing, e.tombstone])).toEqual([
      [undefined, undefined, false, true],
      [undefined, undefined, false, false],
      [undefined, undefined, true, undefined]
    ])
    expect(plain(versions.entries[0].version)).toEqual(version(200))
    expect(plain(versions.entries[1].version)).toEqual(plain(many[1].version))

    // more keys than one answer may carry: refused, nothing read
    const tooMany = await ask1({ type: Request.Type.REPLICA_VERSIONS, keys: Array.from({ length: 1025 }, () => kept.uint8Array() as Bytes) })
    expect(tooMany.status).toBe(Response.Status.BAD_REQUEST)
    expect(tooMany.message).toMatch(/at most 1024 keys, got 1025/)

    const query = (await ask({ type: Request.Type.REPLICA_QUERY, prefix: '/tomb' })).flatMap(res => res.entries)
    expect(query.map(e => [dec.decode(e.key), e.tombstone, e.version != null]).sort()).toEqual([
      [gone.toString(), true, true],
      [kept.toString(), false, true]
    ].sort())

    const keysOnly = (await ask({ type: Request.Type.REPLICA_QUERY, prefix: '/tomb', keysOnly: true })).flatMap(res => res.entries)
    expect(keysOnly).toHaveLength(2)
    expect(keysOnly.every(e => e.value == null && e.version != null)).toBe(true)
  })

  it('answers REPLICA_QUERY for every slot it owns in any position, not only as primary', async () => {
    const asReplica = keyFor('/pos/replica', owners => owners[1].equals(target.libp2p.peerId))
    await write(asReplica, version(50), 'second owner')

    const query = (await ask({ type: Request.Type.REPLICA_QUERY, prefix: '/pos' })).flatMap(res => res.entries)
    expect(query.map(e => dec.decode(e.key))).toEqual([asReplica.toString()])

    // the plain query answers only for the slots it is primary of
    const plainQuery = (await ask({ type: Request.Type.QUERY, prefix: '/pos' })).flatMap(res => res.entries)
    expect(plainQuery).toEqual([])
  })

  it('refuses records of slots it does not own, and callers on another table', async () => {
    const foreign = keyFor('/foreign', owners => !ownedBy(target.libp2p.peerId)(owners))
    let res = await write(foreign, version(1), 'x')
    expect(res.status).toBe(Response.Status.BAD_REQUEST)
    expect(res.message).toMatch(/not owned/)
    expect(await cluster.nodes.find(n => n !== target)?.local.has(foreign)).toBe(false)
    expect(await target.local.has(foreign)).toBe(false)

    const mine = keyFor('/epoch', ownedBy(target.libp2p.peerId))
    res = await ask1({ type: Request.Type.REPLICA_WRITE, epoch: cluster.table.epoch + 1, records: [record(mine, version(1), 'x')] })
    expect(res.status).toBe(Response.Status.MOVED)
    res = await ask1({ type: Request.Type.REPLICA_WRITE, epoch: cluster.table.epoch - 1, records: [record(mine, version(1), 'x')] })
    expect(res.status).toBe(Response.Status.MOVED)
    expect(res.epoch).toBe(cluster.table.epoch)
    expect(await target.local.has(mine)).toBe(false)

    // a bad key in a batch of records writes none of them
    res = await ask1({ type: Request.Type.REPLICA_WRITE, records: [record(mine, version(1), 'x'), { key: enc.encode('/.cluster/x'), version: version(1), tombstone: false }] })
    expect(res.status).toBe(Response.Status.BAD_REQUEST)
    res = await ask1({ type: Request.Type.REPLICA_WRITE, records: [record(mine, new Uint8Array(256).fill(1), 'x')] })
    expect(res.status).toBe(Response.Status.BAD_REQUEST)
    expect(res.message).toMatch(/version of 256 bytes/)
    expect(await target.local.has(mine)).toBe(false)

    // an empty version (a value written while its slot had one owner, copied as it is to the
    // owners it gained) is the oldest a record can be: applied where the key holds nothing, never over a versioned record
    const empty = keyFor('/empty', ownedBy(target.libp2p.peerId))
    res = await ask1({ type: Request.Type.REPLICA_WRITE, records: [record(empty, new Uint8Array(0), 'plain')] })
    expect(res.status).toBe(Response.Status.OK)
    expect(res.records).toEqual([])
    res = await ask1({ type: Request.Type.REPLICA_GET, key: empty.uint8Array() as Bytes })
    expect([res.record?.version.byteLength, dec.decode(res.record?.value ?? new Uint8Array(0))]).toEqual([0, 'plain'])
    res = await ask1({ type: Request.Type.REPLICA_WRITE, records: [record(empty, version(5_000), 'versioned')] })
    expect(res.records).toEqual([])
    res = await ask1({ type: Request.Type.REPLICA_WRITE, records: [record(empty, new Uint8Array(0), 'plain again')] })
    expect(res.status).toBe(Response.Status.OK)
    expect(res.records.map(r => dec.decode(r.value ?? new Uint8Array(0)))).toEqual(['versioned'])
    res = await ask1({ type: Request.Type.REPLICA_GET, key: empty.uint8Array() as Bytes })
    expect(dec.decode(res.record?.value ?? new Uint8Array(0))).toBe('versioned')
  })

  it('keeps digests equal exactly when owners hold the same records, whatever the order of writes', async () => {
    const other = cluster.nodes.find(n => n !== target && cluster.table.ranges.some(r => r.owners[0].equals(target.libp2p.peerId) && r.owners.some(o => o.equals(n.libp2p.peerId)))) as TestCluster['nodes'][number]
    const shared = (prefix: string): Key => keyFor(prefix, owners => owners[0].equals(target.libp2p.peerId) && owners.some(o => o.equals(other.libp2p.peerId)))
    const keys = [shared('/digest/a'), shared('/digest/b'), shared('/digest/c')]
    const slots = keys.map(k => keySlot(k))
    const member = cluster.nodes[2].libp2p

    async function digestsOf (node: Libp2p): Promise<bigint[]> {
      const res = await ask1({ type: Request.Type.DIGESTS, slotStart: 0, slotEnd: 16383 }, member === node ? cluster.nodes[1].libp2p : member, node)
      expect(res.status).toBe(Response.Status.OK)
      expect(res.digests?.byteLength).toBe(16384 * 8)
      const view = new DataView(res.digests?.buffer as ArrayBuffer, res.digests?.byteOffset, res.digests?.byteLength)
      return slots.map(slot => view.getBigUint64(slot * 8))
    }

    const before = await digestsOf(target.libp2p)
    expect(before).toEqual(await digestsOf(other.libp2p))

    // the same records, written in opposite orders, with an older version overwritten on one
    for (const key of keys) {
      await write(key, version(7), 'v7', undefined, target.libp2p)
    }

    await write(keys[0], version(5), 'v5', undefined, other.libp2p)

    for (const key of [...keys].reverse()) {
      await write(key, version(7), 'v7', undefined, other.libp2p)
    }

    const after = await digestsOf(target.libp2p)
    expect(after).toEqual(await digestsOf(other.libp2p))
    expect(after).not.toEqual(before)

    // one more record on one owner: its slot differs, until the other holds it too
    await write(keys[1], version(8), 'v8', undefined, target.libp2p)
    const ahead = await digestsOf(target.libp2p)
    const behind = await digestsOf(other.libp2p)
    expect(ahead[1]).not.toBe(behind[1])
    expect(ahead[0]).toBe(behind[0])

    await write(keys[1], version(8), 'v8', undefined, other.libp2p)
    expect(await digestsOf(other.libp2p)).toEqual(await digestsOf(target.libp2p))

    // other content under the same version differs, and converges on the greater content
    await write(keys[2], version(9), 'aaa', undefined, target.libp2p)
    await write(keys[2], version(9), 'zzz', undefined, other.libp2p)
    expect((await digestsOf(target.libp2p))[2]).not.toBe((await digestsOf(other.libp2p))[2])
    await write(keys[2], version(9), 'zzz', undefined, target.libp2p)
    await write(keys[2], version(9), 'aaa', undefined, other.libp2p)
    expect(await digestsOf(other.libp2p)).toEqual(await digestsOf(target.libp2p))
    expect(dec.decode((await ask1({ type: Request.Type.REPLICA_GET, key: keys[2].uint8Array() as Bytes }, undefined, other.libp2p)).record?.value)).toBe('zzz')

    // a slot this node does not own reads 0
    const foreign = keySlot(keyFor('/digest/foreign', owners => !ownedBy(target.libp2p.peerId)(owners)))
    const res = await ask1({ type: Request.Type.DIGESTS, slotStart: foreign, slotEnd: foreign }, member)
    expect(plain(res.digests)).toEqual(new Uint8Array(8))
  })

  it('lists key, version and tombstone of a slot range without values, to members only', async () => {
    const key = keyFor('/entries', ownedBy(target.libp2p.peerId))
    const slot = keySlot(key)
    await write(key, version(42), 'not sent')
    const member = cluster.nodes[1].libp2p

    const entries = (await ask({ type: Request.Type.SLOT_ENTRIES, slotStart: slot }, member)).flatMap(res => res.entries)
    const mine = entries.find(e => dec.decode(e.key) === key.toString())
    expect(plain(mine?.version)).toEqual(version(42))
    expect(mine?.tombstone).toBe(false)
    expect(entries.every(e => e.value == null && keySlot(e.key as Uint8Array) === slot)).toBe(true)

    const range = (await ask({ type: Request.Type.SLOT_ENTRIES, slotStart: 0, slotEnd: 16383 }, member)).flatMap(res => res.entries)
    expect(range.map(e => dec.decode(e.key))).toContain(key.toString())

    const client = await ask1({ type: Request.Type.SLOT_ENTRIES, slotStart: slot })
    expect(client.status).toBe(Response.Status.UNAUTHORIZED)
    const bad = await ask1({ type: Request.Type.DIGESTS, slotStart: 10, slotEnd: 5 }, member)
    expect(bad.status).toBe(Response.Status.BAD_REQUEST)
  })

  it('lists only the slots a SLOT_ENTRIES slot set marks, and refuses a slot set longer than its range', async () => {
    const keys = [keyFor('/set-a', ownedBy(target.libp2p.peerId)), keyFor('/set-b', ownedBy(target.libp2p.peerId)), keyFor('/set-c', ownedBy(target.libp2p.peerId))]
    const slots = keys.map(k => keySlot(k))
    expect(new Set(slots).size).toBe(3)

    for (const key of keys) {
      await write(key, version(43), 'v')
    }

    const member = cluster.nodes[1].libp2p
    const start = Math.min(...slots)
    const end = Math.max(...slots)
    // the first and the last slot of the three, not the middle one
    const marked = slots.filter(s => s !== [...slots].sort((a, b) => a - b)[1])
    const slotSet = new Uint8Array(((end - start) >> 3) + 1)

    for (const slot of marked) {
      slotSet[(slot - start) >> 3] |= 1 << ((slot - start) & 7)
    }

    const entries = (await ask({ type: Request.Type.SLOT_ENTRIES, slotStart: start, slotEnd: end, slotSet }, member)).flatMap(res => res.entries)
    const listed = new Set(entries.map(e => keySlot(e.key as Uint8Array)))
    expect([...listed].sort((a, b) => a - b)).toEqual([...marked].sort((a, b) => a - b))
    expect(entries.map(e => dec.decode(e.key))).toEqual(expect.arrayContaining(keys.filter(k => marked.includes(keySlot(k))).map(k => k.toString())))

    const tooLong = await ask1({ type: Request.Type.SLOT_ENTRIES, slotStart: start, slotEnd: end, slotSet: new Uint8Array(slotSet.byteLength + 1) }, member)
    expect(tooLong.status).toBe(Response.Status.BAD_REQUEST)
  })

  it('advances its clock past the clocks and versions a peer sends', async () => {
    const far = (BigInt(Date.now() + 3_600_000) << 16n) + 12345n
    let res = await ask1({ type: Request.Type.PING, clock: far })
    expect(res.status).toBe(Response.Status.OK)
    expect(res.clock).toBeGreaterThanOrEqual(far)

    const later = versionClock(version(Date.now() + 7_200_000, 99))
    await write(keyFor('/clock', ownedBy(target.libp2p.peerId)), version(Date.now() + 7_200_000, 99), 'x')
    res = await ask1({ type: Request.Type.PING })
    expect(res.clock).toBeGreaterThanOrEqual(later)
  })

  it('rebuilds its digests from the LevelDB child after a restart', async () => {
    const member = cluster.nodes[1].libp2p
    const res = await ask1({ type: Request.Type.DIGESTS, slotStart: 0, slotEnd: 16383 }, member)
    expect(res.digests?.some(b => b !== 0)).toBe(true)

    await target.store.stop()
    const reopened = new LevelDatastore(join(dir, 'node-0'))
    await levels[0].close()
    await reopened.open()
    levels[0] = reopened

    const owner = new Owner({ self: target.libp2p.peerId, child: reopened, ownership: () => new Ownership(cluster.table, target.libp2p.peerId) })
    await owner.start()
    expect(await owner.slotDigests(0, 16383, { epoch: cluster.table.epoch })).toEqual(plain(res.digests))
  })
})
