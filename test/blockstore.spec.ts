/**
 * interface-blockstore-tests against ClusterBlockstore on real clusters over
 * TCP on 127.0.0.1. Each case gets a fresh cluster.
 */
import { interfaceBlockstoreTests } from 'interface-blockstore-tests'
import { describe } from 'vitest'
import { ClusterBlockstore } from '../src/blockstore.js'
import { clusterPerCase } from './utils/cluster.js'
import type { TestCluster } from './utils/cluster.js'
import type { ClusterDatastore } from '../src/index.js'

function suite (name: string, nodes: number, clients: number, pick: (cluster: TestCluster) => ClusterDatastore): void {
  describe(name, () => {
    interfaceBlockstoreTests(clusterPerCase({ nodes, clients }, cluster => new ClusterBlockstore(pick(cluster))))
  })
}

suite('ClusterBlockstore on a 1-node cluster (interface-blockstore-tests)', 1, 0, c => c.nodes[0].store)
suite('ClusterBlockstore on a 3-node cluster over TCP (interface-blockstore-tests)', 3, 0, c => c.nodes[1].store)
suite('ClusterBlockstore on a client-only node in front of 3 data nodes (interface-blockstore-tests)', 3, 1, c => c.clients[0].store)
