/**
 * The command line with replicas: `init` gives 3 nodes 3 owners per range
 * by default, `status` shows a killed node down and suspected by the others
 * (with its lag), `put`/`get` go on with it down, and a `serve` restarted on
 * the same store catches up with no command run: its records equal the
 * others' (the CLI writer held its hints in memory and exited, so
 * anti-entropy alone brings them); one restarted on an empty store
 * directory (a lost disk) is refilled the same way.
 */

import { readFile, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import { SlotTable } from '../../src/index.js'
import { FaultCluster, differences, sleep } from '../utils/fault/cluster.js'
import { BUILD_TIMEOUT, buildCli, runCli, runMain } from './utils/cli.js'
import type { FaultClient } from '../utils/fault/cluster.js'
import type { CliResult } from './utils/cli.js'

interface StatusJSON {
  replicas: number
  up: number
  nodes: Array<{ state: string, hints?: number, hintsFor?: number, lag?: number, suspectedBy?: number[], keys?: number }>
}

describe('datastore-cluster command line: replicas', () => {
  let bin: string
  let cluster: FaultCluster
  let client: string

  const run = async (args: string[], input?: string): Promise<CliResult> => runCli(bin, [args[0], '--config', client, ...args.slice(1)], { input, cwd: cluster.dir })
  const status = async (): Promise<{ code: number | null, json: StatusJSON }> => {
    const res = await run(['status', '--json', '--timeout', '5000'])
    return { code: res.code, json: JSON.parse(res.stdout) }
  }
  /** Poll status until `done` holds, for at most 60 s (a bound, not a timing assertion) */
  const statusUntil = async (done: (s: StatusJSON) => boolean): Promise<{ code: number | null, json: StatusJSON }> => {
    const deadline = Date.now() + 60_000
    let last = await status()

    while (!done(last.json) && Date.now() < deadline) {
      await sleep(500)
      last = await status()
    }

    return last
  }

  beforeAll(async () => {
    bin = (await buildCli()).bin
    // init's default replicas
    cluster = await FaultCluster.create({ bin, nodes: 3, clients: 1 })
    client = cluster.clientConfigs[0]

    for (let i = 0; i < 3; i++) {
      await cluster.start(i, bin)
    }
  }, BUILD_TIMEOUT)

  afterAll(async () => {
    await cluster?.cleanup()
  })

  it('init gives every range 3 owners by default, min(3, N), and checks --replicas', async () => {
    const table = SlotTable.fromJSON(JSON.parse(await readFile(client, 'utf8')).slots)
    expect(table.replicas).toBe(3)

    for (const file of cluster.nodeConfigs) {
      expect(JSON.parse(await readFile(file, 'utf8')).slots).toEqual(table.toJSON())
    }

    expect(cluster.initOutput).toContain('3 owners per slot range (quorum 2)')
    expect(cluster.initOutput).toMatch(/node-1\.json .* slots 0-5461 \(also held by node-2, node-3\)/)

    const two = await runMain(['init', '--nodes', '2', '--store', 'memory', join(cluster.dir, 'two')])
    expect(two.code).toBe(0)
    expect(SlotTable.fromJSON(JSON.parse(await readFile(join(cluster.dir, 'two', 'client.json'), 'utf8')).slots).replicas).toBe(2)

    const five = await runMain(['init', '--nodes', '5', '--replicas', '1', '--store', 'memory', join(cluster.dir, 'five')])
    expect(five.code).toBe(0)
    expect(five.stdout).toContain('one owner per slot range (no replicas)')
    expect(SlotTable.fromJSON(JSON.parse(await readFile(join(cluster.dir, 'five', 'client.json'), 'utf8')).slots).replicas).toBe(1)

    expect(await runMain(['init', '--nodes', '3', '--replicas', '4', join(cluster.dir, 'bad')])).toMatchObject({ code: 2, stderr: expect.stringContaining('--replicas must be an integer from 1 to 3, got "4"') })
    expect(await runMain(['init', '--nodes', '3', '--replicas', '0', join(cluster.dir, 'bad')])).toMatchObject({ code: 2 })
  })

  it('status: every node up, no hints, replicas 3; the table shows the replica columns', async () => {
    const all = await statusUntil(s => s.up === 3)
    expect(all.code).toBe(0)
    expect(all.json.replicas).toBe(3)
    expect(all.json.nodes.map(n => [n.state, n.hints, n.hintsFor])).toEqual([['up', 0, 0], ['up', 0, 0], ['up', 0, 0]])

    const table = await run(['status'])
    expect(table.code).toBe(0)
    expect(table.stdout).toContain('3 nodes, 16384 slots, 3 owners per range')
    expect(table.stdout).toMatch(/STATE\s+KEYS\s+HINTS HELD\s+HINTS FOR IT\s+LAG MS/)
  })

  it('with one node killed, status reports it down and suspected by the others, and put and get go on; restarted, it catches up with no command run', async () => {
    const before = Array.from({ length: 50 }, (_, i) => `/rep/before-${i}\tb${i}`).join('\n') + '\n'
    expect((await run(['put', '--batch'], before)).code).toBe(0)

    await cluster.kill(2)

    // the others suspect it after a few missed heartbeats
    const down = await statusUntil(s => (s.nodes[2].suspectedBy ?? []).length === 2)
    expect(down.code).toBe(1)
    expect(down.json.nodes[2]).toMatchObject({ state: 'down', suspectedBy: [1, 2] })
    expect(down.json.nodes[2].lag).toBeGreaterThan(0)
    expect(down.json.nodes.slice(0, 2).map(n => n.state)).toEqual(['up', 'up'])

    const text = await run(['status'])
    expect(text.stdout).toContain('2 of 3 nodes up')

    // writes and reads with it down: a quorum of 2 of 3 is up
    const during = Array.from({ length: 50 }, (_, i) => `/rep/during-${i}\td${i}`).join('\n') + '\n'
    const put = await run(['put', '--batch'], during)
    expect(put.stderr).toBe('')
    expect(put.code).toBe(0)
    expect(await run(['rm', '/rep/before-0'])).toMatchObject({ code: 0 })
    const got = await run(['get', '/rep/during-7'])
    expect(got).toMatchObject({ code: 0, stdout: 'd7' })

    // restarted on the same config and LevelDB directory: no repair command
    await cluster.start(2, bin)
    const up = await statusUntil(s => s.up === 3 && s.nodes.every(n => (n.suspectedBy ?? []).length === 0))
    expect(up.code).toBe(0)

    // the restarted node's records equal the others' (polled: anti-entropy runs every 5 s by default)
    const reader: FaultClient = await cluster.client(0)
    const deadline = Date.now() + 60_000
    let diff: string[]

    do {
      const [one, three] = await Promise.all([cluster.held(reader, cluster.peers[0], '/rep'), cluster.held(reader, cluster.peers[2], '/rep')])
      diff = differences(one, three)

      if (diff.length === 0) {
        expect(one.size).toBe(100)
        expect(one.get('/rep/before-0')?.tombstone).toBe(true)
        expect(three.get('/rep/during-49')?.value).toBe('d49')
        break
      }

      await sleep(1000)
    } while (Date.now() < deadline)

    expect(diff, 'node 3 has not caught up 60 s after its restart').toEqual([])
  })

  it('a node whose store directory was lost is refilled after a restart, with no command run', async () => {
    const reader = await cluster.client(0)
    const want = await cluster.held(reader, cluster.peers[0], '/rep')
    expect(want.size).toBe(100)

    await cluster.kill(1)
    await rm(join(cluster.dir, 'node-2.data'), { recursive: true, force: true })
    await cluster.start(1, bin)

    const deadline = Date.now() + 60_000
    let diff: string[]

    do {
      diff = differences(want, await cluster.held(reader, cluster.peers[1], '/rep'))

      if (diff.length === 0) {
        break
      }

      await sleep(1000)
    } while (Date.now() < deadline)

    expect(diff, 'node 2 is not refilled 60 s after its restart on an empty store').toEqual([])
  })
})
