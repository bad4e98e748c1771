/**
 * Raw bytes on the data protocol, as a misbehaving peer would send them. Each
 * gets an error answer or a closed stream, nothing is written, and the node
 * goes on serving everyone else.
 */
import { lpStream } from '@libp2p/utils'
import { Key } from 'interface-datastore'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { PROTOCOL, keySlot } from '../../src/index.js'
import { Request, Response } from '../../src/pb/message.js'
import { createCluster, localKeys } from '../utils/cluster.js'
import type { TestCluster } from '../utils/cluster.js'
import type { Libp2p } from '@libp2p/interface'
import type { LengthPrefixedStream } from '@libp2p/utils'

const enc = new TextEncoder()
const MAX = 64 * 1024

describe('bad input from a peer', () => {
  let cluster: TestCluster
  let target: TestCluster['nodes'][number]

  beforeAll(async () => {
    cluster = await createCluster({ nodes: 3, clients: 1, options: { maxMessageSize: MAX, requestTimeout: 5000 } })
    target = cluster.nodes[0]
    await cluster.nodes[1].store.put(new Key('/before'), enc.encode('kept'))
  })

  afterAll(async () => {
    await cluster?.stop()
  })

  /** A raw stream to the target node from `from` */
  async function raw (from: Libp2p = cluster.clients[0].libp2p): Promise<LengthPrefixedStream> {
    const stream = await from.dialProtocol(target.libp2p.peerId, PROTOCOL)
    return lpStream(stream, { maxDataLength: 4 * MAX })
  }

  async function ask (lp: LengthPrefixedStream, req: Partial<Request>): Promise<Response> {
    await lp.write(Request.encode({ epoch: target.store.slots.epoch, ...req }))
    return Response.decode(await lp.read())
  }

  /** A key the target node owns, or does not own */
  function keyFor (owned: boolean, prefix: string): Key {
    for (let i = 0; ; i++) {
      const key = new Key(`${prefix}/${i}`)
      if (target.store.slots.primary(keySlot(key)).equals(target.libp2p.peerId) === owned) return key
    }
  }

  /** The target still answers other peers, over the cluster and over a fresh stream */
  async function stillServes (): Promise<void> {
    const key = keyFor(true, '/alive')
    await cluster.nodes[2].store.put(key, enc.encode('yes'))
    expect(new TextDecoder().decode(await cluster.nodes[1].store.get(key))).toBe('yes')
    const res = await ask(await raw(), { id: 1, type: Request.Type.GET, key: key.uint8Array() as Uint8Array<ArrayBuffer> })
    expect(res.status).toBe(Response.Status.OK)
  }

  async function expectClosed (lp: LengthPrefixedStream): Promise<void> {
    await expect(lp.read()).rejects.toThrow()
  }

  it('closes the stream on a frame that is not a protobuf message', async () => {
    const lp = await raw()
    await lp.write(Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0x0f, 0x01]))
    await expectClosed(lp)
    await stillServes()
  })

  it('closes the stream on an unknown message type', async () => {
    const lp = await raw()
    // field 1 (id) = 7, field 2 (type) = 99: a type this protocol version does not have
    await lp.write(Uint8Array.from([0x08, 0x07, 0x10, 0x63]))
    await expectClosed(lp)
    await stillServes()
  })

  it('answers BAD_REQUEST to an UNKNOWN request type and keeps the stream', async () => {
    const lp = await raw()
    const res = await ask(lp, { id: 3, type: Request.Type.UNKNOWN })
    expect(res.id).toBe(3)
    expect(res.status).toBe(Response.Status.BAD_REQUEST)
    expect(res.message).toMatch(/unknown request type/)
    const key = keyFor(true, '/after-unknown')
    expect((await ask(lp, { id: 4, type: Request.Type.HAS, key: key.uint8Array() as Uint8Array<ArrayBuffer> })).status).toBe(Response.Status.OK)
  })

  it('closes the stream on a frame over the maximum message size and writes nothing', async () => {
    const before = await localKeys(target.local)
    const lp = await raw()
    const key = keyFor(true, '/huge')
    await lp.write(Request.encode({ id: 5, type: Request.Type.PUT, epoch: 1, key: key.uint8Array() as Uint8Array<ArrayBuffer>, value: new Uint8Array(MAX * 2) }))
    await expectClosed(lp)
    expect(await localKeys(target.local)).toEqual(before)
    await stillServes()
  })

  it('refuses a value over the limit from the API before anything is sent', async () => {
    const key = keyFor(false, '/api-huge')
    await expect(cluster.nodes[0].store.put(key, new Uint8Array(MAX))).rejects.toHaveProperty('name', 'TooLargeError')
    const batch = cluster.nodes[0].store.batch()
    expect(() => { batch.put(key, new Uint8Array(MAX)) }).toThrow(/maximum message size/)
  })

  it('answers a key in a slot the node does not own with an error naming the slot', async () => {
    const lp = await raw()
    const key = keyFor(false, '/wrong-slot')
    const res = await ask(lp, { id: 6, type: Request.Type.PUT, key: key.uint8Array() as Uint8Array<ArrayBuffer>, value: enc.encode('x') })
    expect(res.status).toBe(Response.Status.BAD_REQUEST)
    expect(res.message).toContain(`slot ${keySlot(key)}`)
    expect(await localKeys(target.local)).not.toContain(key.toString())

    // the same stream still works
    const mine = keyFor(true, '/right-slot')
    expect((await ask(lp, { id: 7, type: Request.Type.PUT, key: mine.uint8Array() as Uint8Array<ArrayBuffer>, value: enc.encode('ok') })).status).toBe(Response.Status.OK)
  })

  it('writes nothing of a batch with one key in a foreign slot', async () => {
    const lp = await raw()
    const mine = keyFor(true, '/batch-mine')
    const foreign = keyFor(false, '/batch-foreign')
    const res = await ask(lp, {
      id: 8,
      type: Request.Type.BATCH,
      puts: [
        { key: mine.uint8Array() as Uint8Array<ArrayBuffer>, value: enc.encode('a'), missing: false },
        { key: foreign.uint8Array() as Uint8Array<ArrayBuffer>, value: enc.encode('b'), missing: false }
      ]
    })
    expect(res.status).toBe(Response.Status.BAD_REQUEST)
    expect(await localKeys(target.local)).not.toContain(mine.toString())
  })

  it('rejects malformed keys', async () => {
    const lp = await raw()

    for (const key of [new Uint8Array(0), enc.encode('no-leading-slash')]) {
      const res = await ask(lp, { id: 9, type: Request.Type.GET, key })
      expect(res.status).toBe(Response.Status.BAD_REQUEST)
      expect(res.message).toMatch(/starting with "\/"/)
    }
  })

  it('refuses slot tables from clients and members alike: this node has no admin key, so its table is fixed', async () => {
    const fromClient = await ask(await raw(), { id: 10, type: Request.Type.TABLE, epoch: 99, table: { epoch: 99, ranges: [], peers: [], clients: [], dead: [] } })
    expect(fromClient.status).toBe(Response.Status.UNAUTHORIZED)
    expect(fromClient.message).toMatch(/no admin key/)

    const member = await raw(cluster.nodes[1].libp2p)
    const invalid = await ask(member, { id: 11, type: Request.Type.TABLE, epoch: 99, table: { epoch: 99, ranges: [{ start: 0, end: 10, owners: [] }], peers: [], clients: [], dead: [] } })
    expect(invalid.status).toBe(Response.Status.UNAUTHORIZED)
    expect(invalid.message).toMatch(/no admin key/)
    const garbage = await ask(member, { id: 12, type: Request.Type.TABLE, epoch: 99, signedTable: new Uint8Array([1, 2, 3]) })
    expect(garbage.status).toBe(Response.Status.UNAUTHORIZED)
    expect(target.store.slots.epoch).toBe(1)
    await stillServes()
  })

  it('keeps the data written before the abuse', async () => {
    expect(new TextDecoder().decode(await cluster.nodes[2].store.get(new Key('/before')))).toBe('kept')
  })
})
