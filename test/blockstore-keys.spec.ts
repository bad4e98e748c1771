/**
 * ClusterBlockstore beyond the compliance suite: where blocks are kept (keys
 * a standard tool can read), how CIDs map to them, argument checks, and
 * getAll's key-only listing.
 */
import { MemoryDatastore } from 'datastore-core'
import all from 'it-all'
import { Key } from 'interface-datastore'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { blockCid, blockKey, ClusterBlockstore } from '../src/blockstore.js'
import { keySlot } from '../src/index.js'
import { createCluster, localKeys } from './utils/cluster.js'
import type { TestCluster } from './utils/cluster.js'

const DAG_PB = 0x70

async function block (text: string) {
  const bytes = new TextEncoder().encode(text)
  const digest = await sha256.digest(bytes)
  return { cid: CID.createV1(raw.code, digest), digest, bytes }
}

async function concat (source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>): Promise<Uint8Array> {
  return Buffer.concat(await all(source))
}

describe('block keys', () => {
  it('are the namespace and the multihash in unpadded upper-case base32, as Kubo writes them', async () => {
    const empty = CID.createV1(raw.code, await sha256.digest(new Uint8Array(0)))
    // base64.b32encode(bytes.fromhex('1220e3b0c4…b855')) in Python, '=' stripped
    expect(blockKey(empty).toString()).toBe('/blocks/CIQOHMGEIKMPYHAUTL57JSEZN64SIJ5OIHSGJG4TJSSJLGI3PBJLQVI')
    expect(blockKey(empty, '/other').toString()).toBe('/other/CIQOHMGEIKMPYHAUTL57JSEZN64SIJ5OIHSGJG4TJSSJLGI3PBJLQVI')
  })

  it('are the same for every CID of one multihash, and decode to a raw CIDv1', async () => {
    const { cid, digest } = await block('shared by three CIDs')
    const v0 = CID.createV0(digest)
    const dagPb = CID.createV1(DAG_PB, digest)
    expect(blockKey(v0).toString()).toBe(blockKey(cid).toString())
    expect(blockKey(dagPb).toString()).toBe(blockKey(cid).toString())
    expect(blockCid(blockKey(dagPb)).equals(cid)).toBe(true)
  })

  it('reject what is not a CID or a namespace', () => {
    expect(() => blockKey('bafy' as any)).toThrow(expect.objectContaining({ name: 'InvalidParametersError' }))
    expect(() => blockKey(CID.parse('bafkqaaa'), 'blocks')).toThrow(expect.objectContaining({ name: 'InvalidParametersError' }))
    expect(() => blockCid(new Key('/blocks/not-base32!'))).toThrow(expect.objectContaining({ name: 'InvalidParametersError' }))
  })
})

describe('ClusterBlockstore on a 3-node cluster', () => {
  let cluster: TestCluster
  let store: ClusterBlockstore

  beforeAll(async () => {
    cluster = await createCluster({ nodes: 3 })
    store = new ClusterBlockstore(cluster.nodes[0].store)
  })

  afterAll(async () => {
    await cluster?.stop()
  })

  it('keeps each block on its slot owner, under its block key', async () => {
    const { cid, bytes } = await block('where does it land')
    await store.put(cid, bytes)
    const key = blockKey(cid)
    const owner = cluster.table.primary(keySlot(key))

    for (const node of cluster.nodes) {
      const keys = await localKeys(node.local)
      expect(keys.includes(key.toString())).toBe(node.libp2p.peerId.equals(owner))
    }

    const holder = cluster.nodes.find(n => n.libp2p.peerId.equals(owner))
    expect(await holder?.local.get(key)).toEqual(bytes)
  })

  it('joins the chunks of a put given as a sync or async iterable', async () => {
    const { cid, bytes } = await block('0123456789abcdef')

    await store.put(cid, [bytes.subarray(0, 3), bytes.subarray(3, 10), bytes.subarray(10)])
    expect(await concat(store.get(cid))).toEqual(Buffer.from(bytes))

    await store.delete(cid)
    await store.put(cid, (async function * () { yield bytes.subarray(0, 8); yield bytes.subarray(8) })())
    expect(await cluster.nodes[2].store.get(blockKey(cid))).toEqual(bytes)
  })

  it('yields the caller\'s own CIDs from the many-block operations', async () => {
    const blocks = await Promise.all(['a', 'b', 'c', 'd'].map(block))
    const v0s = blocks.map(b => CID.createV0(b.digest))

    const put = await all(store.putMany(blocks.map((b, i) => ({ cid: v0s[i], bytes: b.bytes }))))
    expect(put.map(c => c.toString())).toEqual(v0s.map(c => c.toString()))

    const got = await all(store.getMany(v0s))
    expect(got.map(p => p.cid.toString())).toEqual(v0s.map(c => c.toString()))

    for (const [i, pair] of got.entries()) {
      expect(await concat(pair.bytes)).toEqual(Buffer.from(blocks[i].bytes))
    }

    const deleted = await all(store.deleteMany(v0s))
    expect(deleted.map(c => c.toString())).toEqual(v0s.map(c => c.toString()))
    expect(await Promise.all(blocks.map(async b => store.has(b.cid)))).toEqual([false, false, false, false])
  })

  it('lists keys only in getAll: bytes are fetched when read', async () => {
    const { cid, bytes } = await block('listed, then deleted')
    await store.put(cid, bytes)
    const listed = (await all(store.getAll())).find(p => p.cid.multihash.bytes.every((b, i) => b === cid.multihash.bytes[i]))
    expect(listed?.cid.code).toBe(raw.code)

    // gone before its bytes are read: the read, not the listing, misses
    await store.delete(cid)
    await expect(concat(listed!.bytes)).rejects.toHaveProperty('name', 'NotFoundError')
  })

  it('leaves keys in the namespace that are not blocks out of getAll', async () => {
    const { cid, bytes } = await block('the only block')
    const bare = new ClusterBlockstore(cluster.nodes[1].store, { prefix: '/bare' })
    await bare.put(cid, bytes)
    await cluster.nodes[1].store.put(new Key('/bare/not-base32!'), bytes)
    await cluster.nodes[1].store.put(new Key('/bare/sub/dir'), bytes)
    await cluster.nodes[1].store.put(new Key('/barely'), bytes)

    const listed = await all(bare.getAll())
    expect(listed.map(p => p.cid.toString())).toEqual([cid.toString()])
    // and a blockstore under another namespace does not see it
    expect((await all(store.getAll())).some(p => p.cid.equals(cid))).toBe(false)
  })

  it('refuses a block larger than the cluster\'s maximum message size, writing nothing', async () => {
    const bytes = new Uint8Array(5 * 1024 * 1024)
    const cid = CID.createV1(raw.code, await sha256.digest(bytes))
    await expect(store.put(cid, bytes)).rejects.toHaveProperty('name', 'TooLargeError')
    await expect(store.has(cid)).resolves.toBe(false)
  })

  it('checks its arguments', async () => {
    const { cid } = await block('x')
    await expect(store.put('bafy' as any, new Uint8Array(1))).rejects.toHaveProperty('name', 'InvalidParametersError')
    await expect(store.put(cid, 'text' as any)).rejects.toHaveProperty('name', 'InvalidParametersError')
    await expect(store.put(cid, [1, 2, 3] as any)).rejects.toHaveProperty('name', 'InvalidParametersError')
    await expect(all(store.putMany([null as any]))).rejects.toHaveProperty('name', 'InvalidParametersError')
    expect(() => new ClusterBlockstore({} as any)).toThrow(expect.objectContaining({ name: 'InvalidParametersError' }))
  })
})

describe('ClusterBlockstore on a plain datastore', () => {
  it('works on any interface-datastore store, so a data node\'s local share can be read directly', async () => {
    const local = new MemoryDatastore()
    const { cid, bytes } = await block('read without the cluster')
    await new ClusterBlockstore(local).put(cid, bytes)

    expect(await localKeys(local)).toEqual([blockKey(cid).toString()])
    expect(await concat(new ClusterBlockstore(local).get(cid))).toEqual(Buffer.from(bytes))
  })
})
