/**
 * One rule for keys, on the caller and on the owner: valid UTF-8, canonical
 * (what `new Key(str)` leaves unchanged), outside the reserved namespace.
 * Keys from the wire are checked on their bytes before anything is stored, so
 * a key can never land under another name, in a slot this node does not own.
 */
import { lpStream } from '@libp2p/utils'
import { MemoryDatastore } from 'datastore-core'
import { Key } from 'interface-datastore'
import all from 'it-all'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { PROTOCOL } from '../../src/index.js'
import { Request, Response } from '../../src/pb/message.js'
import { createCluster, localKeys } from '../utils/cluster.js'
import type { TestCluster } from '../utils/cluster.js'
import type { LengthPrefixedStream } from '@libp2p/utils'

const enc = new TextEncoder()
const dec = new TextDecoder()

/** '/' 'a' then a lone high surrogate as WTF-8 (ED A0 80): not UTF-8 */
const LONE_SURROGATE = Uint8Array.from([0x2f, 0x61, 0xed, 0xa0, 0x80])
const NOT_UTF8 = Uint8Array.from([0x2f, 0x62, 0xff, 0xfe])

describe('keys', () => {
  let cluster: TestCluster

  beforeAll(async () => {
    cluster = await createCluster({ nodes: 3, clients: 1 })
  })

  afterAll(async () => {
    await cluster?.stop()
  })

  async function raw (): Promise<LengthPrefixedStream> {
    const stream = await cluster.clients[0].libp2p.dialProtocol(cluster.nodes[0].libp2p.peerId, PROTOCOL)
    return lpStream(stream)
  }

  async function ask (lp: LengthPrefixedStream, req: Partial<Request>): Promise<Response> {
    await lp.write(Request.encode({ epoch: 1, ...req }))
    return Response.decode(await lp.read())
  }

  async function everyLocalKey (): Promise<string[]> {
    return (await Promise.all(cluster.nodes.map(async n => localKeys(n.local)))).flat()
  }

  describe('from the wire', () => {
    const cases: Array<[string, Uint8Array, RegExp]> = [
      ['invalid UTF-8', NOT_UTF8, /valid UTF-8/],
      ['a lone surrogate (WTF-8)', LONE_SURROGATE, /valid UTF-8/],
      ['a trailing "/"', enc.encode('/unclean/'), /must not end with "\/"/],
      ['the reserved namespace', enc.encode('/.cluster/versions/x'), /reserved/],
      ['the reserved namespace itself', enc.encode('/.cluster'), /reserved/]
    ]

    for (const [what, key, message] of cases) {
      it(`answers BAD_REQUEST to ${what} and stores nothing`, async () => {
        const before = await everyLocalKey()
        const lp = await raw()

        for (const [id, req] of [
          [1, { type: Request.Type.PUT, key: key as Uint8Array<ArrayBuffer>, value: enc.encode('x') }],
          [2, { type: Request.Type.BATCH, puts: [{ key: enc.encode('/fine/one'), value: enc.encode('x'), missing: false }, { key: key as Uint8Array<ArrayBuffer>, value: enc.encode('x'), missing: false }] }],
          [3, { type: Request.Type.DELETE, key: key as Uint8Array<ArrayBuffer> }],
          [4, { type: Request.Type.GET, key: key as Uint8Array<ArrayBuffer> }]
        ] as Array<[number, Partial<Request>]>) {
          const res = await ask(lp, { id, ...req })
          expect(res.status, `request ${id}`).toBe(Response.Status.BAD_REQUEST)
          expect(res.message).toMatch(message)
        }

        expect(await everyLocalKey()).toEqual(before)
      })
    }

    it('accepts a non-ASCII UTF-8 key and stores it under the same name', async () => {
      const key = new Key('/ключ/😀/wire')
      // sent to its owner; the API reads it back from any node
      const owner = cluster.nodes.find(n => n.libp2p.peerId.equals(cluster.table.ownersOfKey(key)[0]))
      const stream = await cluster.clients[0].libp2p.dialProtocol(owner!.libp2p.peerId, PROTOCOL)
      const res = await ask(lpStream(stream), { id: 5, type: Request.Type.PUT, key: key.uint8Array() as Uint8Array<ArrayBuffer>, value: enc.encode('yes') })
      expect(res.status).toBe(Response.Status.OK)
      expect(dec.decode(await cluster.nodes[2].store.get(new Key('/ключ/😀/wire')))).toBe('yes')
      expect(await localKeys(owner!.local)).toContain('/ключ/😀/wire')
    })
  })

  describe('from the API', () => {
    it('refuses keys that cannot cross the network unchanged, on every operation', async () => {
      const store = cluster.nodes[0].store

      for (const key of [new Key(LONE_SURROGATE), new Key(NOT_UTF8)]) {
        await expect(store.put(key, enc.encode('x'))).rejects.toThrow(/valid UTF-8/)
        await expect(store.get(key)).rejects.toHaveProperty('name', 'InvalidParametersError')
        await expect(store.has(key)).rejects.toHaveProperty('name', 'InvalidParametersError')
        await expect(store.delete(key)).rejects.toHaveProperty('name', 'InvalidParametersError')
        await expect(all(store.putMany([{ key, value: enc.encode('x') }]))).rejects.toHaveProperty('name', 'InvalidParametersError')
        await expect(all(store.getMany([key]))).rejects.toHaveProperty('name', 'InvalidParametersError')
        expect(() => { store.batch().put(key, enc.encode('x')) }).toThrow(/valid UTF-8/)
      }

      // a string key with a lone surrogate is replaced by U+FFFD when the Key is built:
      // what is stored is what the Key holds, on every node alike
      const replaced = new Key('/lone/\uD800')
      await store.put(replaced, enc.encode('x'))
      expect(dec.decode(await cluster.clients[0].store.get(new Key('/lone/\uFFFD')))).toBe('x')
    })

    it('refuses unclean keys', async () => {
      const store = cluster.clients[0].store
      await expect(store.put(new Key('/unclean/', false), enc.encode('x'))).rejects.toThrow(/must not end with "\/"/)
      await expect(store.put(new Key('/unclean/'), enc.encode('x'))).resolves.toBeDefined()
    })

    it('reserves /.cluster: refused to every call, hidden from every query', async () => {
      const store = cluster.clients[0].store

      for (const key of [new Key('/.cluster'), new Key('/.cluster/hint/1')]) {
        await expect(store.put(key, enc.encode('x'))).rejects.toThrow(/reserved/)
        await expect(store.get(key)).rejects.toHaveProperty('name', 'InvalidParametersError')
        await expect(store.delete(key)).rejects.toHaveProperty('name', 'InvalidParametersError')
        expect(() => { store.batch().delete(key) }).toThrow(/reserved/)
      }

      // neighbours of the namespace are ordinary keys
      await store.put(new Key('/.clusters'), enc.encode('ok'))
      await store.put(new Key('/.clusterx/a'), enc.encode('ok'))

      // an owner's internal records, written into its child store directly
      for (const node of cluster.nodes) {
        await node.local.put(new Key('/.cluster/version/1'), enc.encode('internal'))
        await node.local.put(new Key('/.cluster'), enc.encode('internal'))
      }

      for (const reader of [cluster.nodes[0].store, store]) {
        const keys = (await all(reader.queryKeys({}))).map(k => k.toString())
        expect(keys.filter(k => k.startsWith('/.cluster/') || k === '/.cluster')).toEqual([])
        expect(keys).toContain('/.clusters')
        expect(keys).toContain('/.clusterx/a')
        expect(await all(reader.query({ prefix: '/.cluster/' }))).toEqual([])
      }
    })
  })

  describe('query prefixes', () => {
    it('a prefix that ends inside a surrogate pair finds what a single store finds', async () => {
      const store = cluster.clients[0].store
      const reference = new MemoryDatastore()
      const stem = `/pfx/${'x'.repeat(40)}`
      const keys = [
        ...Array.from({ length: 60 }, (_, i) => new Key(`${stem}😀/${i}`)),
        new Key(`${stem}😁/other`),
        new Key(`${stem}€/no`),
        new Key(`${stem}/no`)
      ]

      for (const key of keys) {
        await store.put(key, enc.encode(key.toString()))
        await reference.put(key, enc.encode(key.toString()))
      }

      // the keys are spread over every owner: the test means something
      expect(new Set(keys.map(k => cluster.table.ownersOfKey(k)[0].toString())).size).toBe(3)

      for (const prefix of [`${stem}\uD83D`, `${stem}😀`, `${stem}😀/1`, '/pfx/\uDE00']) {
        const expected = (await all(reference.queryKeys({ prefix }))).map(k => k.toString()).sort()
        const found = (await all(store.queryKeys({ prefix }))).map(k => k.toString()).sort()
        expect(found, JSON.stringify(prefix)).toEqual(expected)
        const pairs = (await all(cluster.nodes[1].store.query({ prefix }))).map(p => p.key.toString()).sort()
        expect(pairs).toEqual(expected)
      }

      expect((await all(store.queryKeys({ prefix: `${stem}\uD83D` }))).length).toBe(61)
    })
  })
})
