/**
 * `remove-node --dead` against `serve` processes on LevelDB: a node killed
 * for good (SIGKILL, never restarted) is removed, the move ends without it,
 * and every key is still read at `all` from the nodes left, each node
 * holding exactly the keys of its slots. (The refusal when too few owners
 * would be left is tested on the planner, test/membership/move.spec.ts.)
 */

import { join } from 'node:path'
import { Key } from 'interface-datastore'
import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import { SlotTable } from '../../src/index.js'
import { FAST_OPTIONS, FaultCluster } from '../utils/fault/cluster.js'
import { BUILD_TIMEOUT, buildCli, runCli, runMain } from './utils/cli.js'
import type { SlotTableJSON } from '../../src/index.js'

interface Survey {
  epoch: number
  finished: boolean
  nodes: Array<{ peerId: string, reachable: boolean, epoch?: number }>
  table: SlotTableJSON
}

const KEYS = Array.from({ length: 200 }, (_, i) => `/dead/k-${i}`)

describe('datastore-cluster remove-node --dead', () => {
  let bin: string
  let cluster: FaultCluster
  let client: string
  let adminKey: string

  const change = async (args: string[]): Promise<{ code: number, stdout: string, stderr: string }> =>
    runMain([args[0], '--config', client, '--admin-key', adminKey, '--timeout', '5000', ...args.slice(1)], { cwd: cluster.dir })

  beforeAll(async () => {
    bin = (await buildCli()).bin
    cluster = await FaultCluster.create({ bin, nodes: 4, replicas: 3, clients: 1, options: FAST_OPTIONS })
    client = cluster.clientConfigs[0]
    adminKey = join(cluster.dir, 'admin.key')

    for (let i = 0; i < 4; i++) {
      await cluster.start(i, bin)
    }

    const put = await runCli(bin, ['put', '--config', client, '--batch'], { input: KEYS.map((key, i) => `${key}\tvalue-${i}`).join('\n') + '\n', cwd: cluster.dir })
    expect(put.code).toBe(0)
  }, BUILD_TIMEOUT)

  afterAll(async () => {
    await cluster?.cleanup()
  })

  it('removes a node killed for good: the table declares it dead, the others finish the move, every key is read at all', async () => {
    const dead = cluster.peers[3].toString()
    await cluster.kill(3)

    const dry = await change(['remove-node', '--peer-id', dead, '--dead', '--dry-run', '--json'])
    expect(dry.code).toBe(0)
    const plan = JSON.parse(dry.stdout) as { next: number, plan: Array<{ peerId: string, change: string, dead?: boolean }>, table: SlotTableJSON }
    expect(plan.plan.find(n => n.peerId === dead)).toMatchObject({ change: 'leaving', dead: true })
    expect(plan.table.dead).toEqual([dead])

    const res = await change(['remove-node', '--peer-id', dead, '--dead', '--yes'])
    expect(res.stderr).toContain(`signed slot table epoch ${plan.next}`)
    expect(res.code).toBe(0)
    expect(res.stdout).toContain(`slot table epoch ${plan.next} is in force on every node`)

    const survey = JSON.parse((await change(['rebalance', '--dry-run', '--json'])).stdout) as Survey
    expect(survey.epoch).toBe(plan.next)
    expect(survey.finished).toBe(true)
    expect(survey.nodes.map(n => [n.peerId, n.epoch])).toEqual(cluster.peers.slice(0, 3).map(p => [p.toString(), plan.next]))
    expect(SlotTable.fromJSON(survey.table).hasPeer(dead)).toBe(false)

    // every key, from every owner left (consistency all): nothing was lost with the dead node
    const via = await cluster.client(0)

    for (const [i, key] of KEYS.entries()) {
      expect(new TextDecoder().decode(await via.store.get(new Key(key), { consistency: 'all' })), key).toBe(`value-${i}`)
    }

    // each node left holds exactly the keys of the slots it owns now
    const table = SlotTable.fromJSON(survey.table)

    for (const peer of cluster.peers.slice(0, 3)) {
      const owned = KEYS.filter(key => table.ownersOfKey(new Key(key)).some(owner => owner.equals(peer))).sort()
      expect(owned.length).toBeGreaterThan(0)
      // the slots given away are dropped just after the move ends
      await expect.poll(async () => [...(await cluster.held(via, peer, '/dead/')).keys()].sort(), { timeout: 30_000, message: peer.toString() }).toEqual(owned)
    }
  }, 180_000)
})
