/**
 * Three Helia nodes whose blockstore is one 3-node cluster, over TCP on
 * 127.0.0.1, wired as docs/helia.md shows.
 */
import { unixfs } from '@helia/unixfs'
import { Key } from 'interface-datastore'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { keySlot } from '../src/index.js'
import { concatAll, createHeliaCluster, deterministicBytes, fixedChunker, localBlockKeys } from './utils/helia.js'
import type { HeliaTestCluster } from './utils/helia.js'

const FILE_SIZE = 5 * 1024 * 1024

describe('Helia on a 3-node cluster', () => {
  let cluster: HeliaTestCluster
  const data = deterministicBytes(FILE_SIZE)
  let fileCid: CID

  beforeAll(async () => {
    cluster = await createHeliaCluster({ nodes: 3 })
    fileCid = await unixfs(cluster.nodes[0].helia).addBytes(data, { chunker: fixedChunker(256 * 1024) })
  })

  afterAll(async () => {
    await cluster?.stop()
  })

  it('reads a 5 MiB file added on one node back byte for byte on the other two, from the cluster alone', async () => {
    for (const node of cluster.nodes.slice(1)) {
      // offline: Helia may not fetch a block by bitswap, so every byte came from the cluster
      const bytes = await concatAll(unixfs(node.helia).cat(fileCid, { offline: true }))
      expect(bytes.byteLength).toBe(data.byteLength)
      expect(Buffer.compare(bytes, data)).toBe(0)
    }
  })

  it('spreads the blocks over every data node, each on its slot owner', async () => {
    const counts: number[] = []
    let total = 0

    for (const node of cluster.nodes) {
      const keys = await localBlockKeys(node.local)
      counts.push(keys.length)
      total += keys.length

      for (const key of keys) {
        expect(cluster.table.primary(keySlot(new Key(key))).equals(node.helia.libp2p.peerId)).toBe(true)
      }
    }

    // 20 leaves of 256 KiB and the root
    expect(total).toBe(21)

    for (const count of counts) {
      expect(count).toBeGreaterThan(0)
    }

    // and the cluster's view, from any node, is the union of the local stores
    let listed = 0

    for await (const { cid } of cluster.nodes[2].cluster.blockstore.getAll()) {
      expect(await cluster.nodes[1].helia.blockstore.has(cid)).toBe(true)
      listed++
    }

    expect(listed).toBe(total)
  })

  it('stores blocks under Kubo-style keys a standard datastore reader can list', async () => {
    const keys = (await Promise.all(cluster.nodes.map(async n => localBlockKeys(n.local)))).flat()

    for (const key of keys) {
      // sha2-256 multihashes in unpadded upper-case base32: /blocks/CIQ…
      expect(key).toMatch(/^\/blocks\/CIQ[A-Z2-7]+$/)
    }

    const leaf = (await localBlockKeys(cluster.nodes[0].local))[0]
    const bytes = await cluster.nodes[0].local.get(new Key(leaf))
    const digest = await sha256.digest(bytes)
    expect(cluster.nodes[0].cluster.blockstore.keyOf(CID.createV1(raw.code, digest)).toString()).toBe(leaf)
  })

  it('answers NotFound for a block missing from the cluster instead of hanging', async () => {
    const missing = CID.createV1(raw.code, await sha256.digest(new TextEncoder().encode('never stored')))
    const node = cluster.nodes[1]

    await expect(node.cluster.blockstore.has(missing)).resolves.toBe(false)
    await expect(concatAll(node.cluster.blockstore.get(missing))).rejects.toHaveProperty('name', 'NotFoundError')
    // through Helia: offline, a block the cluster lacks is not looked for on the network
    await expect(concatAll(node.helia.blockstore.get(missing, { offline: true }))).rejects.toHaveProperty('name', 'BlockNotFoundWhileOfflineError')
  })
})
