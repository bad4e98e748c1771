import { fileURLToPath } from 'node:url'
import { configDefaults, defineConfig } from 'vitest/config'

const root = fileURLToPath(new URL('.', import.meta.url))

/**
 * Test files that only `test/compliance/broken-store.spec.ts` runs, in a child
 * vitest, because they are meant to fail.
 */
export const BROKEN_SPECS = 'test/compliance/broken/**'

/**
 * vitest 4 config.
 *
 * The aegir/mocha compliance suites (`interface-datastore-tests`,
 * `interface-blockstore-tests`) need: mocha globals (`globals: true` plus
 * `test/setup/mocha-globals.ts`), `aegir/chai` (aliased to
 * `test/setup/chai.ts`), and to be inlined so that vite transforms them and
 * the alias applies to their imports.
 */
export default defineConfig({
  root,
  resolve: {
    alias: [
      { find: /^aegir\/chai$/, replacement: fileURLToPath(new URL('./test/setup/chai.ts', import.meta.url)) }
    ]
  },
  test: {
    globals: true,
    include: ['test/**/*.{test,spec}.ts'],
    // the JSON report is what .ci/run sums up in its closing line
    reporters: ['default', 'json'],
    outputFile: { json: 'test-results/vitest.json' },
    exclude: [...configDefaults.exclude, BROKEN_SPECS],
    setupFiles: ['test/setup/mocha-globals.ts'],
    server: {
      deps: {
        inline: ['interface-datastore-tests', 'interface-blockstore-tests']
      }
    },
    // tests start real multi-node libp2p clusters over TCP on a 2-core machine
    testTimeout: 60_000,
    hookTimeout: 60_000,
    teardownTimeout: 10_000,
    // child processes: a libp2p node left open by a failed test dies with its file
    pool: 'forks',
    // one file per core; more only makes the clusters in each file time out
    maxWorkers: 2
  }
})
