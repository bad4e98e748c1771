/**
 * interface-datastore-tests against replicated clusters (3 nodes, every range
 * owned by all 3: N=3) over TCP on 127.0.0.1, at quorum: from a client-only
 * node, and with one of the three owners stopped. Each case gets a fresh
 * cluster.
 */
import { interfaceDatastoreTests } from 'interface-datastore-tests'
import { describe } from 'vitest'
import { clusterPerCase, createCluster } from '../utils/cluster.js'
import type { ClusterDatastore } from '../../src/index.js'
import type { TestCluster } from '../utils/cluster.js'

describe('N=3, quorum, client-only node (interface-datastore-tests)', () => {
  interfaceDatastoreTests(clusterPerCase({ nodes: 3, clients: 1, replicas: 3, options: { consistency: 'quorum' } }, c => c.clients[0].store))
})

describe('N=3, quorum, one owner stopped (interface-datastore-tests)', () => {
  const clusters = new Map<ClusterDatastore, TestCluster>()

  interfaceDatastoreTests({
    async setup () {
      const cluster = await createCluster({ nodes: 3, replicas: 3, options: { consistency: 'quorum' } })
      await cluster.nodes[2].store.stop()
      await cluster.nodes[2].libp2p.stop()
      clusters.set(cluster.nodes[0].store, cluster)
      return cluster.nodes[0].store
    },
    async teardown (store) {
      await clusters.get(store)?.stop()
      clusters.delete(store)
    }
  })
})
