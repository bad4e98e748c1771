/**
 * Meant to FAIL: interface-datastore-tests on a datastore that loses and
 * corrupts data. Run only by `test/compliance/broken-store.spec.ts`.
 */
import { MemoryDatastore } from 'datastore-core/memory'
import { interfaceDatastoreTests } from 'interface-datastore-tests'
import { describe } from 'vitest'
import { BrokenDatastore } from './broken-datastore.js'

describe('BrokenDatastore(MemoryDatastore) (interface-datastore-tests)', () => {
  interfaceDatastoreTests({
    setup: () => new BrokenDatastore(new MemoryDatastore()),
    teardown: () => {}
  })
})
