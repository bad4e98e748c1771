/**
 * Several Helia nodes sharing one cluster blockstore: garbage collection on
 * one node must never delete a block another node pinned. With
 * heliaCluster()'s datastore the pin set lives in the cluster too; the
 * control case without it shows the failure this prevents.
 */
import { unixfs } from '@helia/unixfs'
import all from 'it-all'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { concatAll, createHeliaCluster, deterministicBytes, fixedChunker, localBlockKeys } from './utils/helia.js'
import type { HeliaTestCluster } from './utils/helia.js'
import type { CID } from 'multiformats/cid'

const FILE_SIZE = 1024 * 1024 + 17
const chunker = fixedChunker(256 * 1024)

async function blocksOf (cluster: HeliaTestCluster): Promise<number> {
  const counts = await Promise.all(cluster.nodes.map(async n => (await localBlockKeys(n.local)).length))
  return counts.reduce((a, b) => a + b, 0)
}

describe('GC with the pin set shared in the cluster', () => {
  let cluster: HeliaTestCluster
  const pinnedData = deterministicBytes(FILE_SIZE, 1)
  const unpinnedData = deterministicBytes(FILE_SIZE, 2)
  let pinned: CID
  let unpinned: CID

  beforeAll(async () => {
    cluster = await createHeliaCluster({ nodes: 3 })
    const [a] = cluster.nodes
    pinned = await unixfs(a.helia).addBytes(pinnedData, { chunker })
    unpinned = await unixfs(a.helia).addBytes(unpinnedData, { chunker })
    await all(a.helia.pins.add(pinned))
  })

  afterAll(async () => {
    await cluster?.stop()
  })

  it('shows a pin made on node A to every other node', async () => {
    for (const node of cluster.nodes.slice(1)) {
      await expect(node.helia.pins.isPinned(pinned)).resolves.toBe(true)
      const pins = []

      for await (const pin of node.helia.pins.ls()) {
        pins.push(pin.cid.toString())
      }

      expect(pins).toEqual([pinned.toString()])
    }
  })

  it('refuses a direct delete of a block pinned on another node', async () => {
    const [, b] = cluster.nodes
    await expect(b.helia.blockstore.delete(pinned)).rejects.toHaveProperty('name', 'BlockPinnedError')
  })

  it('keeps the file pinned on node A whole when node B runs GC, and collects the unpinned one cluster-wide', async () => {
    const [a, b, c] = cluster.nodes
    // 5 leaves and a root each
    expect(await blocksOf(cluster)).toBe(12)

    await b.helia.gc()

    expect(await blocksOf(cluster)).toBe(6)

    for (const node of [a, b, c]) {
      const bytes = await concatAll(unixfs(node.helia).cat(pinned, { offline: true }))
      expect(Buffer.compare(bytes, pinnedData)).toBe(0)
    }

    // GC is cluster-wide: a file nobody pinned is gone for every node
    await expect(concatAll(unixfs(a.helia).cat(unpinned, { offline: true }))).rejects.toHaveProperty('name', 'BlockNotFoundWhileOfflineError')
  })

  it('collects the file once any node unpins it', async () => {
    const [a, , c] = cluster.nodes
    await all(c.helia.pins.rm(pinned))
    await expect(a.helia.pins.isPinned(pinned)).resolves.toBe(false)

    await a.helia.gc()

    expect(await blocksOf(cluster)).toBe(0)
  })
})

describe('GC without shared pins (the failure shared pins prevent)', () => {
  let cluster: HeliaTestCluster

  beforeAll(async () => {
    cluster = await createHeliaCluster({ nodes: 2, sharePins: false })
  })

  afterAll(async () => {
    await cluster?.stop()
  })

  it('lets node B collect blocks node A pinned, since B cannot see A\'s pins', async () => {
    const [a, b] = cluster.nodes
    const data = deterministicBytes(FILE_SIZE, 3)
    const cid = await unixfs(a.helia).addBytes(data, { chunker })
    await all(a.helia.pins.add(cid))
    await expect(b.helia.pins.isPinned(cid)).resolves.toBe(false)

    await b.helia.gc()

    expect(await blocksOf(cluster)).toBe(0)
    await expect(concatAll(unixfs(a.helia).cat(cid, { offline: true }))).rejects.toHaveProperty('name', 'BlockNotFoundWhileOfflineError')
  })
})
