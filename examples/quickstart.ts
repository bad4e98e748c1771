/**
 * The README's quick start, kept here so the type check compiles it.
 * One data node; add peers to the table for more.
 */
import { noise } from '@libp2p/noise'
import { tcp } from '@libp2p/tcp'
import { yamux } from '@libp2p/yamux'
import { MemoryDatastore } from 'datastore-core'
import { Key } from 'interface-datastore'
import { createLibp2p } from 'libp2p'
import { ClusterDatastore, SlotTable } from '../src/index.js'

const libp2p = await createLibp2p({
  addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
  transports: [tcp()],
  connectionEncrypters: [noise()],
  streamMuxers: [yamux()]
})

// every node of the cluster gets the same table: who owns which slots, and where to dial them
const slots = SlotTable.even([
  { id: libp2p.peerId, addrs: libp2p.getMultiaddrs() }
  // , { id: '12D3KooW…', addrs: ['/ip4/10.0.0.2/tcp/4001'] }
])

const store = new ClusterDatastore(libp2p, new MemoryDatastore(), slots)
await store.start()

await store.put(new Key('/hello'), new TextEncoder().encode('world'))
console.log(new TextDecoder().decode(await store.get(new Key('/hello'))))

await store.stop()
await libp2p.stop()
