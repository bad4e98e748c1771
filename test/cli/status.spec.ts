/**
 * `status` on a node whose store cannot take writes: a real full disk (a
 * small tmpfs holding the node's LevelDB store, filled up by a file), then
 * the space freed again, with the node running all along.
 */

import { execFileSync } from 'node:child_process'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { noise } from '@libp2p/noise'
import { tcp } from '@libp2p/tcp'
import { yamux } from '@libp2p/yamux'
import { MemoryDatastore } from 'datastore-core'
import { Key } from 'interface-datastore'
import { createLibp2p } from 'libp2p'
import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import { loadConfig } from '../../src/cli/config.js'
import { ClusterDatastore, keySlot, SlotTable } from '../../src/index.js'
import { BUILD_TIMEOUT, buildCli, freeBasePort, oneOwnerPerRange, runCli, startServe } from './utils/cli.js'
import type { BuiltCli, CliResult, ServeProcess } from './utils/cli.js'
import type { Libp2p } from '@libp2p/interface'

/**
 * Mount a small tmpfs at `dir`; false when this process may not mount
 * (not root, or no CAP_SYS_ADMIN in a container)
 */
function mountTmpfs (dir: string, size: string): boolean {
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { stdio: 'pipe' })
    return true
  } catch {
    return false
  }
}

describe('datastore-cluster status: a node whose store fails writes', () => {
  let cli: BuiltCli
  let dir: string
  let disk: string
  let mounted = false
  let client: string
  let table: SlotTable
  const nodes: Array<ServeProcess | undefined> = []

  const run = async (args: string[], input?: string): Promise<CliResult> => runCli(cli.bin, [args[0], '--config', client, ...args.slice(1)], { input, cwd: dir })
  const status = async (): Promise<{ code: number | null, nodes: Array<{ state: string, error?: string, keys?: number }> }> => {
    const res = await run(['status', '--json', '--timeout', '15000'])
    expect(res.stderr).toBe('')
    return { code: res.code, nodes: JSON.parse(res.stdout).nodes }
  }

  beforeAll(async () => {
    const [built, made, basePort] = await Promise.all([buildCli(), mkdtemp(join(tmpdir(), 'datastore-cluster-status-')), freeBasePort(2)])
    cli = built
    dir = made
    disk = join(dir, 'disk')
    await mkdir(disk)
    mounted = mountTmpfs(disk, '4m')
    client = join(dir, 'client.json')
    // one owner per range: node 2's keys live on node 2 alone, so a write it fails is not written elsewhere
    expect((await runCli(cli.bin, ['init', '--nodes', '2', '--base-port', `${basePort}`, ...await oneOwnerPerRange(cli.bin), dir])).code).toBe(0)
    table = SlotTable.fromJSON(JSON.parse(await readFile(client, 'utf8')).slots)

    nodes[0] = await startServe(cli.bin, join(dir, 'node-1.json'))
    // node 2 keeps its LevelDB store on the small disk (with no tmpfs to be had, on the fs store, below)
    nodes[1] = await startServe(cli.bin, join(dir, 'node-2.json'), mounted ? ['--data', join(disk, 'node-2.data')] : ['--store', 'fs', '--data', join(disk, 'node-2.data')])
  }, BUILD_TIMEOUT)

  afterAll(async () => {
    await Promise.all(nodes.map(async node => {
      if (node != null && node.child.exitCode == null && node.child.signalCode == null) {
        node.child.kill('SIGKILL')
        await node.exited
      }
    }))

    if (mounted) {
      execFileSync('umount', ['-l', disk])
    }

    await rm(dir, { recursive: true, force: true })
    await cli?.cleanup()
  })

  it('is reported degraded with the reason while writes fail, and up again once they work, without a restart', async () => {
    const onNode2 = Array.from({ length: 100 }, (_, i) => `/full/key-${i}`).filter(key => table.primary(keySlot(key)).equals(table.ranges[1].owners[0]))
    const pid = nodes[1]?.pid

    expect(await status()).toMatchObject({ code: 0, nodes: [{ state: 'up' }, { state: 'up' }] })

    // fill the disk: the write stops at ENOSPC with the disk full
    // (without root, a read-only store directory is the closest real refusal)
    if (mounted) {
      await expect(writeFile(join(disk, 'filler'), Buffer.alloc(8 * 1024 * 1024, 1))).rejects.toThrow(/ENOSPC/)
    } else {
      execFileSync('chmod', ['-R', 'a-w', join(disk, 'node-2.data')])
    }

    const put = await run(['put', onNode2[0], '--file', '-'], 'x'.repeat(256 * 1024))
    expect(put.code).toBe(1)
    expect(put.stderr).toMatch(mounted ? /No space left on device/ : /EACCES|permission denied/i)

    const degraded = await status()
    expect(degraded.code).toBe(1)
    expect(degraded.nodes[0]).toMatchObject({ state: 'up' })
    expect(degraded.nodes[1]).toMatchObject({ state: 'degraded', keys: 0 })
    expect(degraded.nodes[1].error).toMatch(mounted ? /^the store's disk is full: \d+ bytes free at .*node-2\.data/ : /^the store refuses writes: /)
    const text = await run(['status', '--timeout', '15000'])
    expect(text.stdout).toMatch(/^2\s+\S+\s+\S+\s+\S+ \(\d+\)\s+degraded\s+0$/m)
    expect(text.stdout).toMatch(/^node 2 degraded: the store/m)
    expect(nodes[1]?.stderr()).toMatch(/^warning: store degraded: the store/m)

    // space back: the same process takes writes and reports up
    if (mounted) {
      await rm(join(disk, 'filler'))
    } else {
      execFileSync('chmod', ['-R', 'u+w', join(disk, 'node-2.data')])
    }

    expect(await status()).toMatchObject({ code: 0, nodes: [{ state: 'up' }, { state: 'up', keys: 0 }] })
    expect(await run(['put', onNode2[0], 'stored after all'])).toMatchObject({ code: 0, stderr: '' })
    expect(await run(['get', onNode2[0]])).toMatchObject({ code: 0, stdout: 'stored after all' })
    expect(await status()).toMatchObject({ code: 0, nodes: [{ state: 'up' }, { state: 'up', keys: 1 }] })
    expect(nodes[1]?.stdout()).toMatch(/^store takes writes again: up$/m)
    expect(nodes[1]?.child.exitCode).toBeNull()
    expect(nodes[1]?.pid).toBe(pid)
  })
})

describe('datastore-cluster status: a node run from code, without serve', () => {
  it('is up from its key count, with a note that it did not report its store\'s health', async () => {
    const [cli, dir, port] = await Promise.all([buildCli(), mkdtemp(join(tmpdir(), 'datastore-cluster-status-lib-')), freeBasePort(1)])
    let libp2p: Libp2p | undefined
    let store: ClusterDatastore | undefined

    try {
      expect((await runCli(cli.bin, ['init', '--nodes', '1', '--base-port', `${port}`, dir])).code).toBe(0)
      const config = await loadConfig(join(dir, 'node-1.json'), 'node')
      libp2p = await createLibp2p({ privateKey: config.privateKey, addresses: { listen: config.listen }, transports: [tcp()], connectionEncrypters: [noise()], streamMuxers: [yamux()] })
      store = new ClusterDatastore(libp2p, new MemoryDatastore(), config.slots, { clients: config.clients })
      await store.start()
      await store.put(new Key('/from-code'), Uint8Array.of(1))

      const res = await runCli(cli.bin, ['status', '--config', join(dir, 'client.json'), '--json', '--timeout', '15000'])
      expect(res).toMatchObject({ code: 0, stderr: '' })
      const node = JSON.parse(res.stdout).nodes[0]
      expect(node).toMatchObject({ state: 'up', keys: 1 })
      expect(node.error).toMatch(/^did not report its store's health: /)
    } finally {
      await store?.stop()
      await libp2p?.stop()
      await rm(dir, { recursive: true, force: true })
    }
  }, BUILD_TIMEOUT)
})
