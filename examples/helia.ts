/**
 * Three Helia nodes whose blocks live in one cluster, all in this process on
 * 127.0.0.1 (no other network): a file added on one node is read on the
 * others, the example prints which node holds which block, then pins the
 * file on one node and runs garbage collection on another.
 *
 * Run with `npm run example:helia`.
 */
import { unixfs } from '@helia/unixfs'
import { noise } from '@libp2p/noise'
import { tcp } from '@libp2p/tcp'
import { yamux } from '@libp2p/yamux'
import { MemoryDatastore } from 'datastore-core'
import { createHelia } from 'helia'
import type { Key } from 'interface-datastore'
import { Uint8ArrayList } from 'uint8arraylist'
import { heliaCluster } from '../src/blockstore/helia.js'
import { keySlot, SlotTable } from '../src/index.js'

const NODES = 3
const FILE_SIZE = 5 * 1024 * 1024

// 1. Each Helia node gets its cluster stores and the libp2p service that
//    binds them. Here every node is a data node with an in-memory share.
const nodes = await Promise.all(Array.from({ length: NODES }, async () => {
  const cluster = heliaCluster({ local: new MemoryDatastore() })
  const helia = createHelia({
    blockstore: cluster.blockstore,
    datastore: cluster.datastore,
    // loopback only: no delegated routers, public gateways, bootstrap or mDNS
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
  return { helia, cluster }
}))

// 2. Once every node is up and its address known, all get the same table.
const table = SlotTable.even(nodes.map(({ helia }) => ({ id: helia.libp2p.peerId, addrs: helia.libp2p.getMultiaddrs() })), { epoch: 1 })
await Promise.all(nodes.map(async ({ cluster }) => cluster.join(table)))

const name = (i: number): string => `node ${i} (${nodes[i].helia.libp2p.peerId.toString().slice(-8)})`
console.log('slot table, epoch %d:', table.epoch)
for (const [i, { helia }] of nodes.entries()) {
  const ranges = table.rangesOf(helia.libp2p.peerId).map(r => `${r.start}-${r.end}`).join(', ')
  console.log('  %s  slots %s  %s', name(i), ranges, helia.libp2p.getMultiaddrs()[0].toString())
}

// 3. Add 5 MiB on node 0. 256 KiB chunks (Kubo's default; Helia's is 1 MiB)
//    make 20 leaves and a root, enough blocks to see them spread.
const data = new Uint8Array(FILE_SIZE).map((_, i) => (i * 2654435761) >>> 24)
const fs0 = unixfs(nodes[0].helia)
const cid = await fs0.addBytes(data, { chunker: chunker(256 * 1024) })
console.log('\nadded %d bytes on %s: %s', FILE_SIZE, name(0), cid.toString())

// 4. Where did the blocks go? Each data node's own share, by slot.
console.log('\nblocks per data node:')
for (const [i, { cluster }] of nodes.entries()) {
  const keys: Key[] = []
  for await (const key of cluster.local.queryKeys({ prefix: '/blocks/' })) {
    keys.push(key)
  }
  console.log('  %s: %d blocks', name(i), keys.length)
  for (const key of keys.sort((a, b) => keySlot(a) - keySlot(b))) {
    console.log('    slot %s  %s', String(keySlot(key)).padStart(5), key.toString())
  }
}

// 5. Read it back on the other nodes. offline: Helia may not ask bitswap,
//    so every byte comes from the cluster.
for (const i of [1, 2]) {
  const bytes = await collect(unixfs(nodes[i].helia).cat(cid, { offline: true }))
  console.log('\nread on %s: %d bytes, %s', name(i), bytes.byteLength, Buffer.compare(bytes, data) === 0 ? 'identical' : 'DIFFERENT')
}

// 6. Pin on node 0, collect garbage on node 2: the pin set is in the cluster
//    too, so node 2 sees the pin and keeps the file.
for await (const _ of nodes[0].helia.pins.add(cid)) { /* each block pinned */ }
const unpinned = await fs0.addBytes(new TextEncoder().encode('nobody pinned me'))
await nodes[2].helia.gc()
const after = await collect(unixfs(nodes[1].helia).cat(cid, { offline: true }))
console.log('\npinned on %s, GC on %s: the pinned file is %s', name(0), name(2), Buffer.compare(after, data) === 0 ? 'still whole' : 'DAMAGED')
console.log('the unpinned %s is %s', unpinned.toString(), await nodes[0].helia.blockstore.has(unpinned) ? 'still there' : 'collected')

await Promise.all(nodes.map(async ({ helia }) => helia.stop()))

/** Fixed-size chunker for @helia/unixfs */
function chunker (size: number) {
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

async function collect (source: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const list = new Uint8ArrayList()
  for await (const chunk of source) {
    list.append(chunk)
  }
  return list.subarray()
}
