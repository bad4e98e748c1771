/**
 * Helia nodes whose blocks (and pins) live in a cluster, for tests: each
 * Helia node is a data node, on loopback TCP only — no bootstrap peers, no
 * mDNS, no DHT, no delegated routers or gateways.
 */
import { noise } from '@libp2p/noise'
import { tcp } from '@libp2p/tcp'
import { yamux } from '@libp2p/yamux'
import { MemoryDatastore } from 'datastore-core'
import { createHelia } from 'helia'
import { Uint8ArrayList } from 'uint8arraylist'
import { heliaCluster } from '../../src/blockstore/helia.js'
import { SlotTable } from '../../src/index.js'
import type { HeliaCluster } from '../../src/blockstore/helia.js'
import type { ClusterDatastoreOptions } from '../../src/index.js'
import type { Datastore } from 'interface-datastore'

export interface HeliaTestNode {
  helia: Awaited<ReturnType<typeof createHeliaNode>>['helia']
  cluster: HeliaCluster
  local: MemoryDatastore
}

export interface HeliaTestCluster {
  nodes: HeliaTestNode[]
  table: SlotTable
  stop(): Promise<void>
}

/** One Helia node with a cluster blockstore, started, not yet given a table */
export async function createHeliaNode (init: { sharePins?: boolean, options?: ClusterDatastoreOptions } = {}) {
  const local = new MemoryDatastore()
  const cluster = heliaCluster({ local, sharePins: init.sharePins, options: init.options })
  const helia = createHelia({
    blockstore: cluster.blockstore,
    datastore: cluster.datastore,
    // no delegated routers or public gateways: this test stays on loopback
    http: { delegatedRouters: [], recursiveGateways: [] },
    libp2p: {
      addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
      transports: [tcp()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      peerDiscovery: [],
      services: { cluster: cluster.service }
    }
  })
  await helia.start()
  return { helia, cluster, local }
}

/** `nodes` Helia nodes, then one even slot table over all of them */
export async function createHeliaCluster (init: { nodes: number, sharePins?: boolean }): Promise<HeliaTestCluster> {
  const nodes = await Promise.all(Array.from({ length: init.nodes }, async () => createHeliaNode(init)))
  const table = SlotTable.even(nodes.map(n => ({ id: n.helia.libp2p.peerId, addrs: n.helia.libp2p.getMultiaddrs() })), { epoch: 1 })
  await Promise.all(nodes.map(async n => n.cluster.join(table)))

  return {
    nodes,
    table,
    async stop () {
      await Promise.all(nodes.map(async n => n.helia.stop()))
    }
  }
}

/** Keys of a local store under `/blocks/` */
export async function localBlockKeys (store: Datastore): Promise<string[]> {
  const out: string[] = []

  for await (const key of store.queryKeys({ prefix: '/blocks/' })) {
    out.push(key.toString())
  }

  return out
}

/**
 * `size` pseudo-random bytes, the same every run (xorshift32): the file's
 * CIDs, and so where its blocks land, do not change between runs
 */
export function deterministicBytes (size: number, seed = 0x2545F491): Uint8Array {
  const out = new Uint8Array(size)
  let x = seed

  for (let i = 0; i < size; i++) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    out[i] = x & 0xff
  }

  return out
}

/**
 * `size` pseudo-random bytes from `seed` (xorshift32 words), generated as a
 * stream of 256 KiB chunks so a large file is never held whole; `onChunk`
 * sees each chunk as it goes (e.g. to hash what was sent)
 */
export async function * seededStream (size: number, seed: number, onChunk?: (chunk: Uint8Array) => void): AsyncGenerator<Uint8Array> {
  const CHUNK = 256 * 1024
  let x = seed | 0 || 1

  for (let offset = 0; offset < size; offset += CHUNK) {
    const length = Math.min(CHUNK, size - offset)
    const words = new Uint32Array(Math.ceil(length / 4))

    for (let i = 0; i < words.length; i++) {
      x ^= x << 13
      x ^= x >>> 17
      x ^= x << 5
      words[i] = x
    }

    const chunk = new Uint8Array(words.buffer, 0, length)
    onChunk?.(chunk)
    yield chunk
  }
}

/**
 * A fixed-size chunker for @helia/unixfs (`addBytes(bytes, { chunker })`).
 * 256 KiB, Kubo's default, gives a 5 MiB file 20 leaves rather than
 * Helia's 1 MiB chunks' 5, so there are enough blocks to spread.
 */
export function fixedChunker (size: number) {
  return async function * (source: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
    const buf = new Uint8ArrayList()

    for await (const chunk of source) {
      buf.append(chunk)

      while (buf.byteLength >= size) {
        yield buf.subarray(0, size)
        buf.consume(size)
      }
    }

    if (buf.byteLength > 0) {
      yield buf.subarray()
    }
  }
}

/** All chunks of an async iterable of bytes, as one Uint8Array */
export async function concatAll (source: Iterable<Uint8Array> | AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const list = new Uint8ArrayList()

  for await (const chunk of source) {
    list.append(chunk)
  }

  return list.subarray()
}
