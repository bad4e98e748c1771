/**
 * interface-datastore-tests, the peers' own judgement of correctness, against
 * real clusters over TCP on 127.0.0.1. Each case gets a fresh cluster.
 */
import { interfaceDatastoreTests } from 'interface-datastore-tests'
import { describe } from 'vitest'
import { clusterPerCase } from '../utils/cluster.js'
import type { TestCluster } from '../utils/cluster.js'
import type { ClusterDatastore } from '../../src/index.js'

function suite (name: string, nodes: number, clients: number, pick: (cluster: TestCluster) => ClusterDatastore): void {
  describe(name, () => {
    interfaceDatastoreTests(clusterPerCase({ nodes, clients }, pick))
  })
}

suite('1-node cluster (interface-datastore-tests)', 1, 0, c => c.nodes[0].store)
suite('3-node cluster over TCP, store under test is one data node (interface-datastore-tests)', 3, 0, c => c.nodes[1].store)
suite('client-only node in front of 3 data nodes (interface-datastore-tests)', 3, 1, c => c.clients[0].store)
