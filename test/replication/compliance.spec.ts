/**
 * interface-datastore-tests against replicated clusters (3 nodes, every
 * range owned by all 3: N=3) over TCP on 127.0.0.1, at each consistency
 * (compliance-degraded.spec.ts: a client-only node, one owner stopped). Each
 * case gets a fresh cluster.
 */
import { interfaceDatastoreTests } from 'interface-datastore-tests'
import { describe } from 'vitest'
import { clusterPerCase } from '../utils/cluster.js'
import type { ClusterDatastore, Consistency } from '../../src/index.js'
import type { TestCluster } from '../utils/cluster.js'

function suite (name: string, consistency: Consistency, clients: number, pick: (cluster: TestCluster) => ClusterDatastore): void {
  describe(name, () => {
    interfaceDatastoreTests(clusterPerCase({ nodes: 3, clients, replicas: 3, options: { consistency } }, pick))
  })
}

suite('N=3, consistency one (interface-datastore-tests)', 'one', 0, c => c.nodes[0].store)
suite('N=3, consistency quorum (interface-datastore-tests)', 'quorum', 0, c => c.nodes[1].store)
suite('N=3, consistency all (interface-datastore-tests)', 'all', 0, c => c.nodes[2].store)
