/**
 * Meant to FAIL: interface-blockstore-tests on a blockstore that loses and
 * corrupts blocks. Run only by `test/compliance/broken-store.spec.ts`.
 */
import { MemoryBlockstore } from 'blockstore-core/memory'
import { interfaceBlockstoreTests } from 'interface-blockstore-tests'
import { describe } from 'vitest'
import { BrokenBlockstore } from './broken-blockstore.js'

describe('BrokenBlockstore(MemoryBlockstore) (interface-blockstore-tests)', () => {
  interfaceBlockstoreTests({
    setup: () => new BrokenBlockstore(new MemoryBlockstore()),
    teardown: () => {}
  })
})
