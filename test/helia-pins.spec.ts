/**
 * Pins made at the same time on several Helia nodes sharing one cluster.
 * Helia updates a block's pin record by reading, changing and writing it
 * back; two nodes pinning DAGs that share blocks at once must still both
 * hold every shared block, so that unpinning one DAG and collecting garbage
 * leaves the other whole.
 */
import { unixfs } from '@helia/unixfs'
import all from 'it-all'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { concatAll, createHeliaCluster, deterministicBytes, fixedChunker, localBlockKeys } from './utils/helia.js'
import type { HeliaTestCluster } from './utils/helia.js'

/** Small leaves, so the two DAGs share many blocks and the two pin walks meet on many of them */
const chunker = fixedChunker(1024)
/** A file of shared bytes (from `sharedSeed`) followed by bytes of its own */
function fileWith (seed: number, sharedSeed = 7, sharedSize = 120 * 1024): Uint8Array {
  const shared = deterministicBytes(sharedSize, sharedSeed)
  const own = deterministicBytes(8 * 1024, seed)
  const bytes = new Uint8Array(shared.byteLength + own.byteLength)
  bytes.set(shared)
  bytes.set(own, shared.byteLength)
  return bytes
}

async function blockCount (cluster: HeliaTestCluster): Promise<number> {
  const counts = await Promise.all(cluster.nodes.map(async n => (await localBlockKeys(n.local)).length))
  return counts.reduce((a, b) => a + b, 0)
}

describe('pins made concurrently on two Helia nodes', () => {
  let cluster: HeliaTestCluster

  beforeAll(async () => {
    cluster = await createHeliaCluster({ nodes: 3 })
  })

  afterAll(async () => {
    await cluster?.stop()
  })

  it('keeps every block of the DAG still pinned when the other, overlapping one is unpinned and GC runs on either node', async () => {
    const [a, b, c] = cluster.nodes
    const dataA = fileWith(1)
    const dataB = fileWith(2)
    const [cidA, cidB] = await Promise.all([
      unixfs(a.helia).addBytes(dataA, { chunker }),
      unixfs(b.helia).addBytes(dataB, { chunker })
    ])
    // both pins walk their DAGs at once and update the shared blocks' records together
    const [pinnedA, pinnedB] = await Promise.all([
      all(a.helia.pins.add(cidA)),
      all(b.helia.pins.add(cidB))
    ])
    const shared = pinnedA.filter(cid => pinnedB.some(other => other.equals(cid)))
    expect(shared.length).toBeGreaterThan(100)

    for (const node of cluster.nodes) {
      await expect(node.helia.pins.isPinned(cidA)).resolves.toBe(true)
      await expect(node.helia.pins.isPinned(cidB)).resolves.toBe(true)
    }

    await all(a.helia.pins.rm(cidA))
    const before = await blockCount(cluster)

    await b.helia.gc()
    await c.helia.gc()

    // the blocks only A's DAG had are gone, so GC did run
    expect(await blockCount(cluster)).toBeLessThan(before)
    await expect(concatAll(unixfs(c.helia).cat(cidA, { offline: true }))).rejects.toHaveProperty('name', 'BlockNotFoundWhileOfflineError')

    // every block of B's DAG is still there, read from each node
    for (const cid of pinnedB) {
      await expect(c.helia.blockstore.has(cid)).resolves.toBe(true)
      await expect(a.helia.pins.isPinned(cid)).resolves.toBe(true)
    }

    for (const node of cluster.nodes) {
      const bytes = await concatAll(unixfs(node.helia).cat(cidB, { offline: true }))
      expect(Buffer.compare(bytes, dataB)).toBe(0)
    }
  })

  it('counts one CID pinned on two nodes at once as one pin: a single unpin lets GC collect it', async () => {
    const [a, b, c] = cluster.nodes
    const data = fileWith(3, 8, 32 * 1024)
    const cid = await unixfs(a.helia).addBytes(data, { chunker })
    const blocks = await all(a.helia.pins.add(cid))
    await all(a.helia.pins.rm(cid))

    // both may pass Helia's "already pinned?" check before either writes the pin
    const pinned = await Promise.allSettled([all(a.helia.pins.add(cid)), all(b.helia.pins.add(cid))])
    expect(pinned.some(p => p.status === 'fulfilled')).toBe(true)

    await all(c.helia.pins.rm(cid))
    await expect(a.helia.pins.isPinned(cid)).resolves.toBe(false)
    await c.helia.gc()

    // every block of it is gone: none is held by a pin counted twice
    for (const block of blocks) {
      await expect(b.helia.blockstore.has(block)).resolves.toBe(false)
    }
  })

  it('releases a pin once when two nodes unpin it at once, keeping an overlapping pin\'s blocks', async () => {
    const [a, b, c] = cluster.nodes
    const dataX = fileWith(4, 9, 32 * 1024)
    const dataY = fileWith(5, 9, 32 * 1024)
    const cidX = await unixfs(a.helia).addBytes(dataX, { chunker })
    const cidY = await unixfs(a.helia).addBytes(dataY, { chunker })
    await all(a.helia.pins.add(cidX))
    const pinnedY = await all(b.helia.pins.add(cidY))

    // both may read the pin before either deletes it, and walk X's blocks twice
    const removed = await Promise.allSettled([all(a.helia.pins.rm(cidX)), all(b.helia.pins.rm(cidX))])
    expect(removed.some(r => r.status === 'fulfilled')).toBe(true)

    await c.helia.gc()

    for (const cid of pinnedY) {
      await expect(c.helia.blockstore.has(cid)).resolves.toBe(true)
    }

    const bytes = await concatAll(unixfs(a.helia).cat(cidY, { offline: true }))
    expect(Buffer.compare(bytes, dataY)).toBe(0)
  })
})
