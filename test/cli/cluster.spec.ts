/**
 * A 3-node cluster run entirely through the command line: `init`, three
 * `serve` processes, and the client commands, over TCP on 127.0.0.1.
 */

import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { privateKeyToProtobuf, publicKeyFromProtobuf } from '@libp2p/crypto/keys'
import { LevelDatastore } from 'datastore-level'
import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import { readAdminKey } from '../../src/cli/admin-key.js'
import { keySlot, openSignedTable, SlotTable } from '../../src/index.js'
import { BUILD_TIMEOUT, buildCli, freeBasePort, runCli, runCliBytes, startServe } from './utils/cli.js'
import type { BuiltCli, ServeProcess } from './utils/cli.js'

const NODES = 3
const KEYS = 10_000

let cli: BuiltCli

beforeAll(async () => {
  cli = await buildCli()
}, BUILD_TIMEOUT)

afterAll(async () => {
  await cli?.cleanup()
})

/** Kill what a failed test left running */
async function killAll (nodes: Array<ServeProcess | undefined>): Promise<void> {
  await Promise.all(nodes.map(async node => {
    if (node != null && node.child.exitCode == null && node.child.signalCode == null) {
      node.child.kill('SIGKILL')
      await node.exited
    }
  }))
}

describe('datastore-cluster command line: a 3-node cluster', () => {
  let dir: string
  let basePort: number
  const nodes: Array<ServeProcess | undefined> = []
  const config = (i: number): string => join(dir, `node-${i + 1}.json`)
  let client: string
  let table: SlotTable
  let lines: string[]
  let keys: string[]

  const run = async (args: string[], input?: string | Uint8Array): ReturnType<typeof runCli> => runCli(cli.bin, args, { input, cwd: dir })

  beforeAll(async () => {
    ;[dir, basePort] = await Promise.all([mkdtemp(join(tmpdir(), 'datastore-cluster-e2e-')), freeBasePort(NODES)])
    client = join(dir, 'client.json')

    // one owner per range: these tests are about the keys of a node that is down (replicas: test/cli/replication.spec.ts)
    const init = await run(['init', '--nodes', `${NODES}`, '--replicas', '1', '--base-port', `${basePort}`, dir])
    expect(init.stderr).toBe('')
    expect(init.code).toBe(0)

    table = SlotTable.fromJSON(JSON.parse(await readFile(client, 'utf8')).slots)
    keys = Array.from({ length: KEYS }, (_, i) => `/e2e/key-${i}`)
    lines = keys.map((key, i) => `${key} value ${i} ✓`)

    for (let i = 0; i < NODES; i++) {
      nodes[i] = await startServe(cli.bin, config(i))
    }
  })

  afterAll(async () => {
    await killAll(nodes)
    await rm(dir, { recursive: true, force: true })
  })

  it('init wrote one config per node and a client config, keys with mode 0600', async () => {
    for (let i = 0; i < NODES; i++) {
      const json = JSON.parse(await readFile(config(i), 'utf8'))
      expect(json).toMatchObject({ version: 1, role: 'node', privateKeyFile: `node-${i + 1}.key`, listen: [`/ip4/127.0.0.1/tcp/${basePort + i}`] })
      expect(json.store).toEqual({ type: 'level', path: `node-${i + 1}.data` })
      expect(SlotTable.fromJSON(json.slots).equals(table)).toBe(true)
      expect(table.peer(json.peerId)?.addrs.map(a => a.toString())).toEqual([`/ip4/127.0.0.1/tcp/${basePort + i}`])
      expect((await stat(join(dir, `node-${i + 1}.key`))).mode & 0o777).toBe(0o600)
      // the key is only referenced, never inline
      expect(JSON.stringify(json)).not.toMatch(/privateKey"/)
    }

    const clientJson = JSON.parse(await readFile(client, 'utf8'))
    expect(clientJson).toMatchObject({ version: 1, role: 'client', privateKeyFile: 'client.key' })
    expect((await stat(join(dir, 'client.key'))).mode & 0o777).toBe(0o600)
    expect(table.hasPeer(clientJson.peerId)).toBe(false)

    // the table allows the client, and is signed by the admin key init wrote (mode 0600, in no config)
    expect(table.clients.map(c => [c.id.toString(), c.readOnly])).toEqual([[clientJson.peerId, false]])
    const admin = await readAdminKey(join(dir, 'admin.key'))
    expect((await stat(join(dir, 'admin.key'))).mode & 0o777).toBe(0o600)
    const adminPrivate = Buffer.from(privateKeyToProtobuf(admin)).toString('base64')

    for (const file of [...Array.from({ length: NODES }, (_, i) => config(i)), client]) {
      const json = JSON.parse(await readFile(file, 'utf8'))
      expect(json.clients).toBeUndefined()
      expect(publicKeyFromProtobuf(Buffer.from(json.adminKey, 'base64')).equals(admin.publicKey)).toBe(true)
      const signed = await openSignedTable(Buffer.from(json.signedTable, 'base64'), admin.publicKey)
      expect(signed.table.equals(table)).toBe(true)
      expect(JSON.stringify(json)).not.toContain(adminPrivate)
    }
  })

  it('init refuses to overwrite an existing cluster', async () => {
    const again = await run(['init', '--nodes', '3', dir])
    expect(again.code).toBe(1)
    expect(again.stderr).toMatch(/already exists; init never overwrites/)
  })

  it('serve logs where it listens and which slots it owns', () => {
    for (let i = 0; i < NODES; i++) {
      const out = nodes[i]?.stdout() ?? ''
      const range = table.ranges[i]
      expect(out).toContain(`listening on /ip4/127.0.0.1/tcp/${basePort + i}/p2p/${range.owners[0].toString()}`)
      expect(out).toContain(`owns slots ${range.start}-${range.end} (${range.end - range.start + 1} of 16384)`)
      expect(out).toContain(`store: level at ${join(dir, `node-${i + 1}.data`)}`)
    }
  })

  it('a second serve of the same config says the store is locked', async () => {
    const second = await run(['serve', '--config', config(0)])
    expect(second.code).toBe(1)
    expect(second.stderr).toMatch(/locked by another process: is a node with this config already running\?/)
  })

  it(`puts ${KEYS} keys with put --batch and reads them back with get --batch and ls`, async () => {
    const put = await run(['put', '--config', client, '--batch'], lines.join('\n') + '\n')
    expect(put.stderr).toBe('')
    expect(put.stdout).toBe(`stored ${KEYS} keys\n`)
    expect(put.code).toBe(0)

    const get = await run(['get', '--config', client, '--batch'], keys.join('\n') + '\n')
    expect(get.stderr).toBe('')
    expect(get.code).toBe(0)
    expect(get.stdout).toBe(lines.join('\n') + '\n')

    const ls = await run(['ls', '--config', client, '/e2e'])
    expect(ls.code).toBe(0)
    expect(ls.stdout).toBe([...keys].sort().join('\n') + '\n')
  })

  it('status shows every node up with the keys of its slots', async () => {
    const status = await run(['status', '--config', client, '--json', '--timeout', '15000'])
    expect(status.code).toBe(0)
    const report = JSON.parse(status.stdout)
    expect(report.up).toBe(NODES)

    for (const node of report.nodes) {
      const expected = keys.filter(key => table.primary(keySlot(key)).toString() === node.peerId).length
      expect(node).toMatchObject({ state: 'up', keys: expected })
    }

    const text = await run(['status', '--config', client, '--timeout', '15000'])
    expect(text.code).toBe(0)
    expect(text.stdout).toMatch(/3 of 3 nodes up; 10000 keys on the nodes that answered/)
  })

  it('put, get and rm single keys with values from arguments, files and stdin', async () => {
    expect((await run(['put', '-c', client, 'greeting', 'hello world'])).code).toBe(0)
    expect(await run(['get', '-c', client, '/greeting'])).toMatchObject({ code: 0, stdout: 'hello world' })

    const binary = Uint8Array.from({ length: 70_000 }, (_, i) => (i * 31) & 0xff)
    await writeFile(join(dir, 'in.bin'), binary)
    expect((await run(['put', '-c', client, 'blob', '--file', 'in.bin'])).code).toBe(0)
    const bytes = await runCliBytes(cli.bin, ['get', '-c', client, 'blob'], { cwd: dir })
    expect(bytes.code).toBe(0)
    expect(Buffer.compare(bytes.stdout, Buffer.from(binary))).toBe(0)
    expect((await run(['get', '-c', client, 'blob', '--output', 'out.bin'])).code).toBe(0)
    expect(Buffer.compare(await readFile(join(dir, 'out.bin')), Buffer.from(binary))).toBe(0)

    expect((await run(['put', '-c', client, 'piped'], 'from stdin\n')).code).toBe(0)
    expect((await run(['get', '-c', client, 'piped'])).stdout).toBe('from stdin\n')

    expect((await run(['rm', '-c', client, 'greeting', 'piped', 'blob'])).code).toBe(0)
    const missing = await run(['get', '-c', client, 'greeting'])
    expect(missing.code).toBe(4)
    expect(missing.stderr).toMatch(/Not Found: \/greeting/)

    // batch get reports misses and still prints the rest
    const partial = await run(['get', '-c', client, '--batch'], `${keys[0]}\n/no-such-key\n${keys[1]}\n`)
    expect(partial.code).toBe(4)
    expect(partial.stdout).toBe(`${lines[0]}\n${lines[1]}\n`)
    expect(partial.stderr).toBe('not found: /no-such-key\n')
  })

  it('a node killed with SIGKILL is reported down, and after a restart every key is readable', async () => {
    const victim = nodes[1] as ServeProcess
    victim.child.kill('SIGKILL')
    expect(await victim.exited).toEqual({ code: null, signal: 'SIGKILL' })

    const down = await run(['status', '--config', client, '--json', '--timeout', '15000'])
    expect(down.code).toBe(1)
    const report = JSON.parse(down.stdout)
    expect(report.nodes.map((n: any) => n.state), JSON.stringify(report.nodes)).toEqual(['up', 'down', 'up'])
    expect(report.nodes[1].error).toMatch(/Could not reach peer/)

    // reads of its slots fail naming it, the others still work
    const key = keys.find(k => table.primary(keySlot(k)).equals(table.ranges[1].owners[0])) as string
    const failed = await run(['get', '-c', client, key])
    expect(failed.code).toBe(1)
    expect(failed.stderr).toContain(table.ranges[1].owners[0].toString())

    nodes[1] = await startServe(cli.bin, config(1))

    const get = await run(['get', '--config', client, '--batch'], keys.join('\n') + '\n')
    expect(get.stderr).toBe('')
    expect(get.code).toBe(0)
    expect(get.stdout).toBe(lines.join('\n') + '\n')
  })

  it('a node stopped with SIGTERM exits 0 with its store closed, and status reports it down', async () => {
    const node = nodes[2] as ServeProcess
    node.child.kill('SIGTERM')
    expect(await node.exited).toEqual({ code: 0, signal: null })
    expect(node.stdout()).toMatch(/received SIGTERM: shutting down\nstopped serving\nlibp2p stopped\nstore closed\nshut down cleanly\n$/)
    expect(node.stderr()).toBe('')

    // the store was closed cleanly: it opens, and holds exactly the node's keys
    const store = new LevelDatastore(join(dir, 'node-3.data'))
    await store.open()

    try {
      const held: string[] = []

      for await (const key of store.queryKeys({ prefix: '/e2e' })) {
        held.push(key.toString())
      }

      const owner = table.ranges[2].owners[0]
      expect(held.sort()).toEqual(keys.filter(k => table.primary(keySlot(k)).equals(owner)).sort())
    } finally {
      await store.close()
    }

    const status = await run(['status', '--config', client, '--timeout', '15000'])
    expect(status.code).toBe(1)
    expect(status.stdout).toMatch(/^3\s+\S+\s+\S+\s+10923-16383 \(5461\)\s+down\s+-$/m)
    expect(status.stdout).toMatch(/2 of 3 nodes up/)
  })

  it('SIGINT shuts the remaining nodes down cleanly', async () => {
    for (const node of [nodes[0], nodes[1]] as ServeProcess[]) {
      node.child.kill('SIGINT')
      expect(await node.exited).toEqual({ code: 0, signal: null })
      expect(node.stdout()).toMatch(/received SIGINT: shutting down\n[\s\S]*store closed\nshut down cleanly\n$/)
    }
  })
})

describe('datastore-cluster command line: other local stores', () => {
  let dir: string
  const nodes: Array<ServeProcess | undefined> = []

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'datastore-cluster-stores-'))
  })

  afterAll(async () => {
    await killAll(nodes)
    await rm(dir, { recursive: true, force: true })
  })

  it('a node on datastore-fs keeps its data across restarts; --store memory does not', async () => {
    const port = await freeBasePort(1)
    const init = await runCli(cli.bin, ['init', '--nodes', '1', '--base-port', `${port}`, '--store', 'fs', dir])
    expect(init.code).toBe(0)
    const node = join(dir, 'node-1.json')
    const client = join(dir, 'client.json')

    nodes[0] = await startServe(cli.bin, node)
    expect(nodes[0].stdout()).toContain(`store: fs at ${join(dir, 'node-1.data')}`)
    expect(nodes[0].stdout()).toContain('owns slots 0-16383 (16384 of 16384)')
    expect((await runCli(cli.bin, ['put', '-c', client, '--batch'], { input: 'a 1\nb/c 2\n' })).stdout).toBe('stored 2 keys\n')
    nodes[0].child.kill('SIGTERM')
    expect(await nodes[0].exited).toEqual({ code: 0, signal: null })
    expect(await readFile(join(dir, 'node-1.data', 'b', 'c.data'), 'utf8')).toBe('2')

    nodes[0] = await startServe(cli.bin, node)
    expect((await runCli(cli.bin, ['ls', '-c', client])).stdout).toBe('/a\n/b/c\n')
    nodes[0].child.kill('SIGTERM')
    expect(await nodes[0].exited).toEqual({ code: 0, signal: null })

    // the same node on a memory store starts empty
    nodes[0] = await startServe(cli.bin, node, ['--store', 'memory'])
    expect(nodes[0].stdout()).toContain('store: memory (everything is lost when the node stops)')
    expect((await runCli(cli.bin, ['ls', '-c', client, '--count'])).stdout).toBe('0\n')
    nodes[0].child.kill('SIGTERM')
    expect(await nodes[0].exited).toEqual({ code: 0, signal: null })
  })

  it('a node that does not list the client refuses it, and says how to fix that', async () => {
    const node = join(dir, 'node-1.json')
    const closed = join(dir, 'closed.json')
    const config = JSON.parse(await readFile(node, 'utf8'))
    // a node configured without the admin key takes its clients from its own config: none here
    delete config.adminKey
    delete config.signedTable
    config.slots.clients = []
    config.clients = []
    await writeFile(closed, JSON.stringify(config))
    const client = join(dir, 'client.json')

    nodes[0] = await startServe(cli.bin, closed, ['--store', 'memory'])

    const put = await runCli(cli.bin, ['put', '-c', client, 'k', 'v'])
    expect(put.code).toBe(1)
    expect(put.stderr).toContain('is neither a member of this node\'s slot table nor an allowed client')
    expect(put.stderr).toContain('fix: add this client\'s peer ID to the clients of the slot table')

    const status = await runCli(cli.bin, ['status', '-c', client, '--json', '--timeout', '15000'])
    expect(status.code).toBe(1)
    expect(JSON.parse(status.stdout).nodes[0]).toMatchObject({ state: 'refused' })

    nodes[0].child.kill('SIGTERM')
    expect(await nodes[0].exited).toEqual({ code: 0, signal: null })
  })

  it('a port in use stops serve with exit code 1 and says which', async () => {
    const node = join(dir, 'node-1.json')
    const port = Number(JSON.parse(await readFile(node, 'utf8')).listen[0].split('/').pop())
    const blocker = createServer()
    await new Promise<void>((resolve) => { blocker.listen(port, '127.0.0.1', resolve) })

    try {
      const res = await runCli(cli.bin, ['serve', '--config', node])
      expect(res.code).toBe(1)
      expect(res.stderr).toContain(`cannot listen on /ip4/127.0.0.1/tcp/${port}`)
      expect(res.stderr).toContain('EADDRINUSE')
      expect(res.stderr).toContain('fix: another process uses the port')
    } finally {
      await new Promise((resolve) => blocker.close(resolve))
    }
  })
})
