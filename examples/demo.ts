/**
 * Three data nodes on loopback TCP in one process, each keeping its share in
 * a MemoryDatastore. A few thousand keys are written through one node and
 * read back through the others; the demo prints the slot ranges and how many
 * keys each node holds.
 *
 * Run with `npm start`.
 */
import { noise } from '@libp2p/noise'
import { tcp } from '@libp2p/tcp'
import { yamux } from '@libp2p/yamux'
import { MemoryDatastore } from 'datastore-core'
import { Key } from 'interface-datastore'
import { createLibp2p } from 'libp2p'
import { ClusterDatastore, SlotTable } from '../src/index.js'

const KEYS = 5000
const enc = new TextEncoder()
const dec = new TextDecoder()

// 1. three libp2p nodes listening on 127.0.0.1
const nodes = await Promise.all([0, 1, 2].map(async () => createLibp2p({
  addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
  transports: [tcp()],
  connectionEncrypters: [noise()],
  streamMuxers: [yamux()]
})))

// 2. one slot table, the same on every node: 16384 slots split evenly
const slots = SlotTable.even(nodes.map(node => ({ id: node.peerId, addrs: node.getMultiaddrs() })), { epoch: 1 })

// 3. a ClusterDatastore on each node over its own local store
const locals = nodes.map(() => new MemoryDatastore())
const stores = nodes.map((node, i) => new ClusterDatastore(node, locals[i], slots))
await Promise.all(stores.map(async store => store.start()))

// 4. write through node 0 (single puts and one putMany), read through nodes 1 and 2
const started = Date.now()
for (let i = 0; i < KEYS / 2; i++) {
  await stores[0].put(new Key(`/demo/${i}`), enc.encode(`value ${i}`))
}
for await (const _ of stores[0].putMany(Array.from({ length: KEYS / 2 }, (_, j) => {
  const i = KEYS / 2 + j
  return { key: new Key(`/demo/${i}`), value: enc.encode(`value ${i}`) }
}))) { /* each stored key is yielded */ }
const written = Date.now()

let matched = 0
for (let i = 0; i < KEYS; i++) {
  const value = await stores[1 + (i % 2)].get(new Key(`/demo/${i}`))
  if (dec.decode(value) === `value ${i}`) matched++
}
const read = Date.now()

let listed = 0
for await (const _ of stores[2].queryKeys({ prefix: '/demo' })) listed++

console.log(`slot table epoch ${slots.epoch}`)
for (const [i, node] of nodes.entries()) {
  const ranges = slots.rangesOf(node.peerId).map(r => `${r.start}-${r.end}`).join(', ')
  let held = 0
  for await (const _ of locals[i].queryKeys({})) held++
  console.log(`node ${i} ${node.peerId.toString()} ${node.getMultiaddrs()[0].toString()}`)
  console.log(`  slots ${ranges}  keys held: ${held}`)
}
console.log(`wrote ${KEYS} keys through node 0 in ${written - started} ms, read them back through nodes 1 and 2 in ${read - written} ms`)
console.log(`${matched}/${KEYS} values matched; a query through node 2 listed ${listed} keys`)

await Promise.all(stores.map(async store => store.stop()))
await Promise.all(nodes.map(async node => node.stop()))

if (matched !== KEYS || listed !== KEYS) {
  process.exitCode = 1
}
