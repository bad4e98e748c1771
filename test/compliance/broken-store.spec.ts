/**
 * Checks that the mocha/aegir shims in `test/setup` hide nothing: the
 * compliance suites, run on stores that lose and corrupt data
 * (`test/compliance/broken/*.spec.ts`), must fail many cases, with real
 * assertion failures, rather than pass or crash.
 *
 * The broken specs run in a child vitest because their failures are the
 * expected outcome; the main config excludes them.
 */
import { spawn } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

const root = fileURLToPath(new URL('../..', import.meta.url))
const config = fileURLToPath(new URL('./broken/vitest.config.ts', import.meta.url))
const vitestCli = join(root, 'node_modules', 'vitest', 'vitest.mjs')

/** The part of vitest's JSON report that the checks read. */
interface JsonReport {
  numTotalTests: number
  numPassedTests: number
  numFailedTests: number
  testResults: Array<{
    name: string
    status: string
    message: string
    assertionResults: Array<{ fullName: string, status: string, failureMessages: string[] }>
  }>
}

interface ChildRun {
  code: number | null
  signal: NodeJS.Signals | null
  stderr: string
}

/** Runs the child vitest on the same node binary as this worker. */
async function runVitest (args: string[], timeoutMs: number): Promise<ChildRun> {
  // drop this worker's VITEST_* state so the child starts as a fresh top-level run
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('VITEST')))
  env.NO_COLOR = '1'

  const child = spawn(process.execPath, [vitestCli, ...args], { cwd: root, env, stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr.setEncoding('utf8')
  child.stderr.on('data', (chunk: string) => { stderr += chunk })

  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)

  try {
    return await new Promise<ChildRun>((resolve, reject) => {
      child.once('error', reject)
      child.once('close', (code, signal) => { resolve({ code, signal, stderr }) })
    })
  } finally {
    clearTimeout(timer)
  }
}

describe('compliance shims against broken stores', () => {
  let dir: string
  let run: ChildRun
  let report: JsonReport

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'datastore-cluster-broken-'))
    const outputFile = join(dir, 'report.json')
    run = await runVitest(['run', '--config', config, '--reporter=json', `--outputFile=${outputFile}`], 120_000)

    try {
      report = JSON.parse(await readFile(outputFile, 'utf8'))
    } catch (err) {
      throw new Error(`child vitest wrote no report (exit ${run.code ?? run.signal}):\n${run.stderr}`, { cause: err })
    }
  }, 150_000)

  afterAll(async () => {
    if (dir != null) {
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('ran the suites to the end and failed because tests failed', () => {
    expect(run.signal, run.stderr).toBeNull()
    expect(run.code, run.stderr).toBe(1)
    expect(report.numTotalTests).toBeGreaterThanOrEqual(40)
    expect(report.testResults.length).toBeGreaterThanOrEqual(2)

    for (const file of report.testResults) {
      // a non-empty message is a file-level error: the suite did not load or run
      expect(file.message, file.name).toBe('')
      expect(file.assertionResults.length, file.name).toBeGreaterThan(0)
    }
  })

  it('reported a substantial number of failures in every broken store', () => {
    expect(report.numFailedTests).toBeGreaterThanOrEqual(10)

    for (const file of report.testResults) {
      const failed = file.assertionResults.filter(test => test.status === 'failed')
      expect(failed.length, file.name).toBeGreaterThanOrEqual(3)
    }
  })

  it('still passed the cases the faults do not touch', () => {
    // a shim that broke every test would also "fail many cases"
    expect(report.numPassedTests).toBeGreaterThanOrEqual(10)
  })

  it('failed through assertions, not through missing shims', () => {
    const messages = report.testResults.flatMap(file => file.assertionResults.flatMap(test => test.failureMessages))

    // chai-as-promised, dirty-chai calls and mocha globals missing would show up as these
    for (const message of messages) {
      expect(message).not.toMatch(/is not a function|Invalid Chai property|is not defined|Cannot find (module|package)|this\.timeout/)
    }

    const assertionErrors = messages.filter(message => message.startsWith('AssertionError'))
    expect(assertionErrors.length).toBeGreaterThanOrEqual(10)
    // the dirty-chai style `.to.be.true()` asserts
    expect(assertionErrors.some(message => message.startsWith('AssertionError: expected false to be true'))).toBe(true)
  })

  it('caught lost writes in the datastore suite', () => {
    const failed = report.testResults
      .flatMap(file => file.assertionResults)
      .filter(test => test.status === 'failed')
      .map(test => test.fullName)

    expect(failed).toContain('BrokenDatastore(MemoryDatastore) (interface-datastore-tests) put parallel')
    // `query` cases share a store set up in mocha's before(), which the shim maps to beforeAll
    expect(failed).toContain('BrokenDatastore(MemoryDatastore) (interface-datastore-tests) query empty')
    expect(failed).toContain('BrokenBlockstore(MemoryBlockstore) (interface-blockstore-tests) put parallel')
    // the same faults behind one data node of a real cluster reach the suite through routing
    expect(failed).toContain('ClusterDatastore with a broken data node (interface-datastore-tests) put parallel')
  })
})
