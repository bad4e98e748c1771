/**
 * Meant to FAIL: interface-datastore-tests on a 3-node TCP cluster where one
 * data node's local store loses and corrupts data. The store under test is a
 * healthy node, so the faults reach the suite only through the cluster's
 * routing and protocol. Run only by `test/compliance/broken-store.spec.ts`.
 */
import { MemoryDatastore } from 'datastore-core/memory'
import { interfaceDatastoreTests } from 'interface-datastore-tests'
import { describe } from 'vitest'
import { clusterPerCase } from '../../utils/cluster.js'
import { BrokenDatastore } from './broken-datastore.js'

describe('ClusterDatastore with a broken data node (interface-datastore-tests)', () => {
  interfaceDatastoreTests(clusterPerCase({
    nodes: 3,
    local: (i) => (i === 1 ? new BrokenDatastore(new MemoryDatastore()) : new MemoryDatastore()) as MemoryDatastore
  }, cluster => cluster.nodes[0].store))
})
