/**
 * A file far larger than any one frame or window, added with Helia's and
 * @helia/unixfs's default settings (1 MiB chunks, default read-ahead) on one
 * node and read on another. Bursts of many blocks in flight at once must
 * pass the framing and flow control unharmed.
 */
import { createHash } from 'node:crypto'
import { unixfs } from '@helia/unixfs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createHeliaCluster, seededStream } from './utils/helia.js'
import type { HeliaTestCluster } from './utils/helia.js'

const MiB = 1024 * 1024
const FILE_SIZE = 100 * MiB + 12_345

describe('Helia with its default settings on a 3-node cluster', () => {
  let cluster: HeliaTestCluster

  beforeAll(async () => {
    cluster = await createHeliaCluster({ nodes: 3 })
  })

  afterAll(async () => {
    await cluster?.stop()
  })

  it('reads a 100 MiB file added on one node back on another, byte for byte', { timeout: 300_000 }, async () => {
    const [a, b] = cluster.nodes
    // the content is generated and hashed as it streams: never held whole
    const added = createHash('sha256')
    const cid = await unixfs(a.helia).addByteStream(seededStream(FILE_SIZE, 42, chunk => added.update(chunk)))

    const read = createHash('sha256')
    let length = 0

    // offline: every block must come from the cluster, none from bitswap
    for await (const chunk of unixfs(b.helia).cat(cid, { offline: true })) {
      read.update(chunk)
      length += chunk.byteLength
    }

    expect(length).toBe(FILE_SIZE)
    expect(read.digest('hex')).toBe(added.digest('hex'))
  })
})
