/**
 * The command on a Node.js older than 22: one line saying what is needed,
 * not a libp2p stack trace.
 */

import { execFileSync } from 'node:child_process'
import { existsSync, realpathSync } from 'node:fs'
import { delimiter, join } from 'node:path'
import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import { MIN_NODE_MAJOR, nodeVersionProblem } from '../../src/cli/node-version.js'
import { BUILD_TIMEOUT, buildCli, runCli } from './utils/cli.js'
import type { BuiltCli } from './utils/cli.js'

/**
 * A node binary older than MIN_NODE_MAJOR on this machine, if there is one:
 * the system node, not the one npm puts first on PATH from node_modules
 */
function oldNode (): { path: string, version: string } | undefined {
  const candidates = [
    ...(process.env.PATH ?? '').split(delimiter).filter(dir => !dir.includes('node_modules')).map(dir => join(dir, 'node')),
    '/usr/bin/node',
    '/usr/local/bin/node'
  ]

  for (const path of new Set(candidates)) {
    if (!existsSync(path)) {
      continue
    }

    try {
      const version = execFileSync(path, ['--version'], { encoding: 'utf8' }).trim().replace(/^v/, '')

      if (Number.parseInt(version, 10) < MIN_NODE_MAJOR) {
        return { path, version }
      }
    } catch {
      // not runnable: try the next one
    }
  }

  return undefined
}

describe('datastore-cluster on an old Node.js', () => {
  let cli: BuiltCli

  beforeAll(async () => {
    cli = await buildCli()
  }, BUILD_TIMEOUT)

  afterAll(async () => {
    await cli?.cleanup()
  })

  it('names the Node.js needed, the one running, and how to get one', () => {
    for (const version of ['20.20.2', '18.0.0', '21.99.0']) {
      const message = nodeVersionProblem(version, '/usr/bin/node')
      expect(message).toBe(`datastore-cluster needs Node.js 22 or newer (libp2p 3 does), but this is Node.js ${version} (/usr/bin/node): run it with a newer Node, e.g. \`npx -p node@24 datastore-cluster …\`, or install one with nvm (\`nvm install 24\`)`)
    }

    expect(nodeVersionProblem('22.0.0')).toBeUndefined()
    expect(nodeVersionProblem('24.21.0')).toBeUndefined()
    expect(nodeVersionProblem(process.versions.node)).toBeUndefined()
  })

  it('exits 1 with that one line when run by an older node binary (or, with none on this machine, runs normally on this one)', async () => {
    const old = oldNode()

    if (old == null) {
      // nothing older to run: the check must at least let this Node through
      const res = await runCli(cli.bin, ['--version'])
      expect(res).toMatchObject({ code: 0, stderr: '' })
      return
    }

    let res: { code: number | null, stdout: string, stderr: string }

    try {
      const stdout = execFileSync(old.path, [cli.bin, 'status', '--config', 'client.json'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
      res = { code: 0, stdout, stderr: '' }
    } catch (err) {
      res = { ...(err as { stdout: string, stderr: string }), code: (err as { status: number | null }).status }
    }

    expect(res.code).toBe(1)
    expect(res.stdout).toBe('')
    // the running binary as Node reports it: symlinks resolved
    expect(res.stderr).toBe(`${nodeVersionProblem(old.version, realpathSync(old.path))}\n`)
  })
})
