/**
 * Config for the child vitest that `test/compliance/broken-store.spec.ts`
 * starts: the project's config (same shims, alias, timeouts) with only the
 * deliberately broken specs included.
 */
import { defineConfig } from 'vitest/config'
import base, { BROKEN_SPECS } from '../../../vitest.config.js'

export default defineConfig({
  ...base,
  test: {
    ...base.test,
    include: [`${BROKEN_SPECS}/*.spec.ts`],
    exclude: ['**/node_modules/**']
  }
})
