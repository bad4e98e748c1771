/**
 * Growing a cluster `init`ed with one owner per slot range, with the command
 * line, on `serve` processes over LevelDB: `add-node` as it is would switch
 * a quarter of the slots to the new node and leave their values behind, so
 * it is refused before anything is signed; `rebalance --replicas 2` gives
 * every range a second owner (each keeps its first), then `add-node` moves
 * data live, and every value reads back.
 */

import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import { FAST_OPTIONS, FaultCluster } from '../utils/fault/cluster.js'
import { BUILD_TIMEOUT, buildCli, newNodeConfig, runCli, runMain, startServe } from './utils/cli.js'
import type { ServeProcess } from './utils/cli.js'

const KEYS = Array.from({ length: 200 }, (_, i) => `/grow/k-${i}`)

describe('datastore-cluster: growing a cluster with one owner per range', () => {
  let bin: string
  let cluster: FaultCluster
  let extra: ServeProcess | undefined

  const change = async (args: string[]): Promise<{ code: number, stdout: string, stderr: string }> =>
    runMain([args[0], '--config', cluster.clientConfigs[0], '--admin-key', `${cluster.dir}/admin.key`, '--timeout', '20000', ...args.slice(1)], { cwd: cluster.dir })

  /** The epoch in force and each node's */
  const epochs = async (): Promise<{ epoch: number, nodes: Array<number | undefined> }> => {
    const res = await change(['rebalance', '--dry-run', '--json'])
    expect(res.code, res.stderr).toBe(0)
    const json = JSON.parse(res.stdout) as { epoch: number, nodes: Array<{ epoch?: number }> }
    return { epoch: json.epoch, nodes: json.nodes.map(n => n.epoch) }
  }

  beforeAll(async () => {
    bin = (await buildCli()).bin
    cluster = await FaultCluster.create({ bin, nodes: 2, clients: 1, replicas: 1, options: FAST_OPTIONS })

    for (let i = 0; i < 2; i++) {
      await cluster.start(i, bin)
    }

    const put = await runCli(bin, ['put', '--config', cluster.clientConfigs[0], '--batch'], { input: KEYS.map((key, i) => `${key}\tvalue-${i}`).join('\n') + '\n', cwd: cluster.dir })
    expect(put.code, put.stderr).toBe(0)
  }, BUILD_TIMEOUT)

  afterAll(async () => {
    if (extra != null) {
      extra.child.kill('SIGKILL')
      await extra.exited
    }

    await cluster?.cleanup()
  })

  it('add-node is refused until the replicas are raised, then grows the cluster with every value kept', async () => {
    const node = await newNodeConfig(cluster.dir, cluster.nodeConfigs[0], 3)
    extra = await startServe(bin, node.config)
    const before = await epochs()

    // one owner per range: the plan would strand the values of the slots it moves
    const refused = await change(['add-node', '--peer-id', node.id, '--addr', node.addr, '--yes'])
    expect(refused.code).toBe(2)
    expect(refused.stderr).toContain('leave the values of those slots behind')
    expect(refused.stderr).toContain('rebalance --replicas 2')
    expect(await epochs()).toEqual(before)

    // every range keeps its owner and gains the other node
    const raised = await change(['rebalance', '--replicas', '2', '--yes'])
    expect(raised.code, raised.stderr).toBe(0)
    expect(raised.stdout).toContain(`slot table epoch ${before.epoch + 1} is in force on every node`)

    const added = await change(['add-node', '--peer-id', node.id, '--addr', node.addr, '--yes'])
    expect(added.code, added.stderr).toBe(0)
    expect(added.stdout).toContain(`slot table epoch ${before.epoch + 2} is in force on every node`)
    expect(await epochs()).toEqual({ epoch: before.epoch + 2, nodes: [1, 2, 3].map(() => before.epoch + 2) })

    const got = await runCli(bin, ['get', '--config', cluster.clientConfigs[0], '--batch'], { input: KEYS.join('\n') + '\n', cwd: cluster.dir })
    expect(got.code, got.stderr).toBe(0)
    expect(got.stdout.split('\n').filter(Boolean)).toEqual(KEYS.map((key, i) => `${key} value-${i}`))
  }, 180_000)
})
