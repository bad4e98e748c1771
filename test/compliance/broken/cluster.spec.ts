/**
 * Meant to FAIL: interface-datastore-tests on a 3-node TCP cluster where one
 * data node's local store loses and corrupts data. The store under test is a
 * healthy node, so the faults reach the suite only through the cluster's
 * routing and protocol. Run only by `test/compliance/broken-store.spec.ts`.
 */
import { MemoryDatastore } from 'datastore-core/memory'
import { interfaceDatastoreTests } from 'interface-datastore-tests'
import { describe } from 'vitest'
import { createCluster } from '../../utils/cluster.js'
import { BrokenDatastore } from './broken-datastore.js'
import type { TestCluster } from '../../utils/cluster.js'

describe('ClusterDatastore with a broken data node (interface-datastore-tests)', () => {
  let cluster: TestCluster

  interfaceDatastoreTests({
    async setup () {
      cluster = await createCluster({
        nodes: 3,
        local: (i) => (i === 1 ? new BrokenDatastore(new MemoryDatastore()) : new MemoryDatastore()) as MemoryDatastore
      })
      return cluster.nodes[0].store
    },
    async teardown () {
      await cluster.stop()
    }
  })
})
