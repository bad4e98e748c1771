/**
 * The compliance suites on the reference in-memory stores. Every case must
 * pass here: this proves the mocha/aegir shims in `test/setup` work, so a
 * failure in the cluster's compliance run is the cluster's.
 */
import { MemoryBlockstore } from 'blockstore-core/memory'
import { MemoryDatastore } from 'datastore-core/memory'
import { interfaceBlockstoreTests } from 'interface-blockstore-tests'
import { interfaceDatastoreTests } from 'interface-datastore-tests'
import { describe } from 'vitest'

describe('MemoryDatastore (interface-datastore-tests)', () => {
  interfaceDatastoreTests({
    setup: () => new MemoryDatastore(),
    teardown: () => {}
  })
})

describe('MemoryBlockstore (interface-blockstore-tests)', () => {
  interfaceBlockstoreTests({
    setup: () => new MemoryBlockstore(),
    teardown: () => {}
  })
})
