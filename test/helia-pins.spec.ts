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
const SHARED = deterministicBytes(120 * 1024, 7)

/** A file of the shared bytes followed by bytes of its own */
function fileWith (seed: number): Uint8Array {
  const own = deterministicBytes(8 * 1024, seed)
  const bytes = new Uint8Array(SHARED.byteLength + own.byteLength)
  bytes.set(SHARED)
  bytes.set(own, SHARED.byteLength)
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
})
