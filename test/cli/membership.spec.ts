/**
 * add-node, remove-node and rebalance against a running 3-node cluster of
 * `serve` processes on LevelDB: the plan and --dry-run change nothing, a
 * 4th node ends up in the table of every node, and the tool killed in the
 * middle of a change and run again finishes it without signing a second
 * table.
 */

import { spawn } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { PassThrough, Readable } from 'node:stream'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id'
import { Key } from 'interface-datastore'
import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import { SlotTable } from '../../src/index.js'
import { FAST_OPTIONS, FaultCluster, sleep } from '../utils/fault/cluster.js'
import { BUILD_TIMEOUT, buildCli, newNodeConfig, runCli, runMain, startServe } from './utils/cli.js'
import type { NodeConfigJSON } from '../../src/cli/config.js'
import type { SlotTableJSON } from '../../src/index.js'
import type { ServeProcess } from './utils/cli.js'

interface PlanJSON {
  epoch: number
  next: number
  inForce: boolean
  moved: number
  minimum: number
  plan: Array<{ peerId: string, change: string, before: number, after: number, gained: number, lost: number, stored?: number }>
  table: { peers: Array<{ id: string }> }
  nodes: Array<{ peerId: string, reachable: boolean, epoch?: number }>
}

interface InForceJSON {
  epoch: number
  inForce: true
  finished: boolean
  nodes: Array<{ peerId: string, reachable: boolean, epoch?: number }>
  table: SlotTableJSON
}

const KEYS = Array.from({ length: 300 }, (_, i) => `/move/k-${i}`)

describe('datastore-cluster add-node, remove-node, rebalance', () => {
  let bin: string
  let cluster: FaultCluster
  let client: string
  let adminKey: string
  const extra: ServeProcess[] = []

  /** Runs a command in this process, with the client config and admin key */
  const change = async (args: string[], input?: string): Promise<{ code: number, stdout: string, stderr: string }> =>
    runMain([args[0], '--config', client, '--admin-key', adminKey, '--timeout', '10000', ...args.slice(1)], { cwd: cluster.dir, input })

  /** The cluster as the nodes report it: the newest table's epoch and each node's */
  const survey = async (): Promise<InForceJSON> => {
    const res = await change(['rebalance', '--dry-run', '--json'])
    expect(res.stderr).toBe('')
    expect(res.code).toBe(0)
    return JSON.parse(res.stdout)
  }

  /** A config for a new node: a copy of node 1's with its own key, port and store */
  const newNode = async (n: number): Promise<{ config: string, id: string, addr: string }> => newNodeConfig(cluster.dir, cluster.nodeConfigs[0], n)


  beforeAll(async () => {
    bin = (await buildCli()).bin
    cluster = await FaultCluster.create({ bin, nodes: 3, clients: 1, options: FAST_OPTIONS })
    client = cluster.clientConfigs[0]
    adminKey = join(cluster.dir, 'admin.key')

    for (let i = 0; i < 3; i++) {
      await cluster.start(i, bin)
    }

    const lines = KEYS.map((key, i) => `${key}\tvalue-${i}`).join('\n') + '\n'
    const put = await runCli(bin, ['put', '--config', client, '--batch'], { input: lines, cwd: cluster.dir })
    expect(put.code).toBe(0)
  }, BUILD_TIMEOUT)

  afterAll(async () => {
    await Promise.all(extra.map(async proc => {
      proc.child.kill('SIGKILL')
      await proc.exited
    }))
    await cluster?.cleanup()
  })

  it('add-node --dry-run shows the plan, and neither it nor a run without --yes changes anything', async () => {
    const node = await newNode(4)
    extra.push(await startServe(bin, node.config))
    const before = await survey()

    const dry = await change(['add-node', '--peer-id', node.id, '--addr', node.addr, '--dry-run', '--json'])
    expect(dry.stderr).toBe('')
    expect(dry.code).toBe(0)
    const plan = JSON.parse(dry.stdout) as PlanJSON

    // 3 nodes, 3 replicas: the 4th takes a quarter of the 3 x 16384 replicas, each old node gives 4096
    expect(plan.next).toBe(before.epoch + 1)
    expect(plan.moved).toBe(12288)
    expect(plan.minimum).toBe(12288)
    expect(plan.plan.map(n => [n.change, n.before, n.after, n.gained, n.lost])).toEqual([
      ['staying', 16384, 12288, 0, 4096],
      ['staying', 16384, 12288, 0, 4096],
      ['staying', 16384, 12288, 0, 4096],
      ['joining', 0, 12288, 12288, 0]
    ])
    // the old nodes' LevelDB stores have a size to estimate from
    expect(plan.plan.slice(0, 3).every(n => (n.stored ?? 0) > 0)).toBe(true)

    const text = await change(['add-node', '--peer-id', node.id, '--addr', node.addr, '--dry-run'])
    expect(text.code).toBe(0)
    expect(text.stdout).toContain(`add-node plan: epoch ${before.epoch} -> ${before.epoch + 1}: 4 members (1 joining), 3 replicas per slot; 12288 of 49152 slot replicas move (minimum 12288)`)
    expect(text.stdout).toMatch(new RegExp(`4\\s+${node.id}\\s+joining\\s+1\\s+0 -> 12288\\s+12288\\s+0`))

    // stdin is not a terminal and no --yes: refused
    const unconfirmed = await change(['add-node', '--peer-id', node.id, '--addr', node.addr])
    expect(unconfirmed.code).toBe(2)
    expect(unconfirmed.stderr).toContain('stdin is not a terminal')

    const after = await survey()
    expect(after.epoch).toBe(before.epoch)
    expect(after.nodes.map(n => n.epoch)).toEqual(before.nodes.map(() => before.epoch))
  })

  it('add-node brings a 4th node into the table of every node', async () => {
    const before = await survey()
    const node = JSON.parse(await readFile(join(cluster.dir, 'node-4.json'), 'utf8')) as NodeConfigJSON

    const res = await change(['add-node', '--peer-id', node.peerId, '--addr', node.listen[0], '--yes'])
    expect(res.code).toBe(0)
    expect(res.stderr).toContain(`signed slot table epoch ${before.epoch + 1}`)
    expect(res.stdout).toContain(`slot table epoch ${before.epoch + 1} is in force on every node`)

    const after = await survey()
    expect(after.epoch).toBe(before.epoch + 1)
    expect(after.finished).toBe(true)
    expect(after.nodes).toHaveLength(4)
    expect(after.nodes.map(n => n.epoch)).toEqual([1, 2, 3, 4].map(() => before.epoch + 1))
    expect(after.nodes.map(n => n.peerId)).toContain(node.peerId)

    // status, from the client config's older table, shows the table the nodes hold
    const status = await runCli(bin, ['status', '--config', client, '--json'], { cwd: cluster.dir })
    expect(status.code).toBe(0)
    const shown = JSON.parse(status.stdout) as { epoch: number, nodes: Array<{ peerId: string, epoch?: number, layout?: { done: boolean, epochs: number[] } }> }
    expect(shown.epoch).toBe(before.epoch + 1)
    expect(shown.nodes.map(n => [n.epoch, n.layout?.done, n.layout?.epochs])).toEqual([1, 2, 3, 4].map(() => [before.epoch + 1, true, [before.epoch + 1]]))

    // run again: the change is in force, nothing is signed
    const again = await change(['add-node', '--peer-id', node.peerId, '--addr', node.listen[0], '--yes'])
    expect(again.code).toBe(0)
    expect(again.stdout).toContain(`the slot table of epoch ${before.epoch + 1} already makes this change; it is in force on every node`)
    expect((await survey()).epoch).toBe(before.epoch + 1)
  })

  it('a node started on an older table is brought onto the one in force first, and copies the slots it gains', async () => {
    const before = await survey()
    // node 5's config is a copy of node 1's: the table of epoch 0, not the one in force
    const node = await newNode(5)
    extra.push(await startServe(bin, node.config))

    const res = await change(['add-node', '--peer-id', node.id, '--addr', node.addr, '--yes'])
    expect(res.stderr).toContain(`signed slot table epoch ${before.epoch + 1}`)
    expect(res.code).toBe(0)
    expect(res.stdout).toContain(`slot table epoch ${before.epoch + 1} is in force on every node`)

    const after = await survey()
    expect(after.epoch).toBe(before.epoch + 1)
    expect(after.nodes.map(n => n.epoch)).toEqual([1, 2, 3, 4, 5].map(() => before.epoch + 1))

    // node 5 holds every key of the slots it owns now
    const table = SlotTable.fromJSON(after.table)
    const via = await cluster.client(0)
    expect(new TextDecoder().decode(await via.store.get(new Key('/move/k-1')))).toBe('value-1')
    expect(via.store.slots.epoch).toBe(after.epoch)
    const held = await cluster.held(via, peerIdFromString(node.id), '/move/')
    const owned = KEYS.filter(key => table.ownersOfKey(new Key(key)).some(owner => owner.toString() === node.id))
    expect(owned.length).toBeGreaterThan(0)
    expect([...held.keys()].sort()).toEqual(owned.sort())

    const got = await runCli(bin, ['get', '--config', client, '--batch'], { input: KEYS.join('\n') + '\n', cwd: cluster.dir })
    expect(got.code).toBe(0)
    expect(got.stdout.split('\n').filter(Boolean)).toHaveLength(KEYS.length)
  })

  it('killed while a node cannot take the new table, the tool run again finishes the change without signing another table', async () => {
    const before = await survey()
    const first = before.nodes[0].peerId
    const args = ['rebalance', '--config', client, '--admin-key', adminKey, '--timeout', '2000', '--weight', `${first}=2`, '--yes']

    // node 3 stopped (SIGSTOP): the others take the table, the move waits for node 3
    cluster.pause(2)
    const tool = spawn(process.execPath, [bin, ...args], { cwd: cluster.dir, stdio: ['ignore', 'pipe', 'pipe'] })
    let stderr = ''
    tool.stderr.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk })
    const exited = new Promise(resolve => tool.on('close', resolve))
    const deadline = Date.now() + 60_000

    while (!/waiting for/.test(stderr) && Date.now() < deadline && tool.exitCode == null) {
      await sleep(100)
    }

    expect(stderr).toContain(`signed slot table epoch ${before.epoch + 1}`)
    expect(stderr).toMatch(/waiting for .*not answering/)
    tool.kill('SIGKILL')
    await exited

    const during = await survey()
    expect(during.epoch).toBe(before.epoch + 1)
    expect(during.finished).toBe(false)

    cluster.resume(2)
    const res = await runCli(bin, args, { cwd: cluster.dir })
    expect(res.code).toBe(0)
    // node 3 may have finished the move with the others before the tool looks
    expect(res.stdout).toMatch(new RegExp(`the slot table of epoch ${before.epoch + 1} already makes this change; it is (being moved to[^]*slot table epoch ${before.epoch + 1} is in force on every node|in force on every node)`))
    expect(res.stderr).not.toContain('signed slot table')

    const after = await survey()
    // one table for the change, not two
    expect(after.epoch).toBe(before.epoch + 1)
    expect(after.finished).toBe(true)
    expect(after.nodes.map(n => n.epoch)).toEqual(before.nodes.map(() => before.epoch + 1))
  }, 120_000)

  it('rebalance moves only the difference, and remove-node takes a node out of every table', async () => {
    const before = await survey()
    const [, second, third] = before.nodes.map(n => n.peerId)
    const dry = await change(['rebalance', '--weight', `${third}=1.5`, '--dry-run', '--json'])
    expect(dry.code).toBe(0)
    const plan = JSON.parse(dry.stdout) as PlanJSON
    expect(plan.plan.find(n => n.peerId === third)?.gained).toBeGreaterThan(0)
    expect(plan.plan.filter(n => n.peerId !== third).every(n => n.gained === 0)).toBe(true)

    const removed = await change(['remove-node', '--peer-id', second, '--yes'])
    expect(removed.code).toBe(0)
    expect(removed.stdout).toContain(`${second} is no longer a member`)

    const after = await survey()
    expect(after.epoch).toBe(before.epoch + 1)
    expect(after.nodes.map(n => n.peerId)).not.toContain(second)
    expect(after.nodes.every(n => n.epoch === before.epoch + 1)).toBe(true)
  })

  it('on a terminal, asks before it signs: anything but yes changes nothing, yes applies the plan', async () => {
    const before = await survey()
    const third = before.nodes[2].peerId
    const ask = async (answer: string): Promise<{ code: number, stdout: string, stderr: string }> => {
      const { main } = await import('../../src/cli/index.js')
      const stdin = Object.assign(Readable.from([Buffer.from(answer)]), { isTTY: true })
      const out = { stdout: '', stderr: '' }
      const stdout = new PassThrough().setEncoding('utf8').on('data', (chunk: string) => { out.stdout += chunk })
      const stderr = new PassThrough().setEncoding('utf8').on('data', (chunk: string) => { out.stderr += chunk })
      const code = await main(['rebalance', '--config', client, '--admin-key', adminKey, '--weight', `${third}=0.5`], { stdin, stdout, stderr, env: {}, cwd: cluster.dir })
      return { code, ...out }
    }

    const no = await ask('n\n')
    expect(no.stderr).toContain(`sign slot table epoch ${before.epoch + 1} with the admin key and move the data? [y/N]`)
    expect(no.stderr).toContain('nothing changed')
    expect(no.code).toBe(1)
    expect((await survey()).epoch).toBe(before.epoch)

    const yes = await ask('y\n')
    expect(yes.code).toBe(0)
    expect(yes.stdout).toContain(`slot table epoch ${before.epoch + 1} is in force on every node`)
    expect((await survey()).epoch).toBe(before.epoch + 1)
  })

  it('refuses bad input with a usage error and changes nothing', async () => {
    const before = await survey()
    const stranger = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()

    for (const [args, message] of [
      [['remove-node', '--peer-id', stranger, '--yes'], 'owns no slots'],
      [['rebalance', '--weight', `${stranger}=2`, '--yes'], 'owns no slots'],
      [['rebalance', '--weight', `${before.nodes[0].peerId}=0`, '--yes'], 'must be a number > 0'],
      [['rebalance', '--weight', 'nonsense', '--yes'], '--weight takes ID=W'],
      [['add-node', '--peer-id', stranger, '--yes'], '--addr'],
      [['add-node', '--peer-id', 'not-a-peer', '--addr', '/ip4/127.0.0.1/tcp/1', '--yes'], 'is not a peer ID'],
      [['rebalance', '--replicas', '9', '--yes'], 'need at least 9 nodes'],
      // a single owner per slot, on another node than before: refused before anything is signed
      [['rebalance', '--replicas', '1', '--yes'], 'Keep 2 or more owners per slot']
    ] as Array<[string[], string]>) {
      const res = await change(args)
      expect(res.code, args.join(' ')).toBe(2)
      expect(res.stderr).toContain(message)
    }

    const noKey = await runMain(['rebalance', '--config', client], { cwd: cluster.dir })
    expect(noKey.code).toBe(2)
    expect(noKey.stderr).toContain('--admin-key')

    const after = await survey()
    expect(after.epoch, JSON.stringify(after.nodes)).toBe(before.epoch)
  })
})
