/**
 * The README's Helia wiring, run as written: the code blocks of its "Use
 * with Helia" section are taken from README.md and run in two child
 * processes, each in its own directory (the blocks open LevelDB stores at
 * relative paths), with Helia's default libp2p setup. A third data node, a
 * plain ClusterDatastore in this process, shares the slot table. The only
 * change to the code is where `datastore-cluster` is imported from: this
 * repository's source, not the published package.
 *
 * The children are driven over IPC by a few lines appended after the
 * README's code: report the node's address, run the README's join block with
 * the table, add a file, read a file, stop.
 */
import { fork } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { peerIdFromString } from '@libp2p/peer-id'
import { MemoryDatastore } from 'datastore-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ClusterBlockstore, ClusterDatastore, SlotTable } from '../src/index.js'
import { createNode } from './utils/cluster.js'
import { deterministicBytes, localBlockKeys } from './utils/helia.js'
import type { ChildProcess } from 'node:child_process'
import type { Libp2p } from '@libp2p/interface'

const root = fileURLToPath(new URL('..', import.meta.url))
const FILE_SIZE = 3 * 1024 * 1024 + 5

/** The ```ts blocks of one `## ` section of a markdown file */
function codeBlocks (markdown: string, heading: string): string[] {
  const start = `\n${markdown}`.indexOf(`\n## ${heading}\n`)
  expect(start, `a "## ${heading}" section`).toBeGreaterThan(-1)
  const next = markdown.indexOf('\n## ', start + 1)
  const section = markdown.slice(start, next === -1 ? undefined : next)
  return [...section.matchAll(/```ts\n([\s\S]*?)```/g)].map(m => m[1])
}

/** Appended after the README's code, in the same module: it sees `helia`, `cluster`, `local` and `own` */
function harness (joinBlock: string): string {
  return `
// ---- test harness (not from the README) ----
import { unixfs as __unixfs } from '@helia/unixfs'
import { createHash as __createHash } from 'node:crypto'
import { CID as __CID } from 'multiformats/cid'

async function __join (tableJson) {
${joinBlock}
}

const __send = (msg) => new Promise((resolve, reject) => process.send(msg, (err) => err == null ? resolve() : reject(err)))

process.on('message', async ({ id, type, arg }) => {
  try {
    let result
    if (type === 'join') {
      await __join(arg)
      result = cluster.slots?.epoch
    } else if (type === 'add') {
      const bytes = new Uint8Array(Buffer.from(arg, 'base64'))
      result = (await __unixfs(helia).addBytes(bytes)).toString()
    } else if (type === 'cat') {
      const hash = __createHash('sha256')
      let length = 0
      for await (const chunk of __unixfs(helia).cat(__CID.parse(arg), { offline: true })) {
        hash.update(chunk)
        length += chunk.byteLength
      }
      result = { length, sha256: hash.digest('hex') }
    } else if (type === 'stop') {
      await helia.stop()
      await Promise.all([local.close(), own.close()])
    }
    await __send({ id, result })
  } catch (err) {
    await __send({ id, error: String(err?.stack ?? err) })
  }
})

await __send({ id: 0, result: { peerId: helia.libp2p.peerId.toString(), addrs: helia.libp2p.getMultiaddrs().map(String) } })
`
}

/** One Helia node running the README's code in its own process and directory */
class ReadmeNode {
  readonly dir: string
  private readonly child: ChildProcess
  private readonly waiting = new Map<number, { resolve(value: any): void, reject(err: Error): void }>()
  private nextId = 1
  private stderr = ''
  readonly ready: Promise<{ peerId: string, addrs: string[] }>

  static async start (code: string): Promise<ReadmeNode> {
    const dir = await mkdtemp(join(tmpdir(), 'readme-helia-'))
    // the README's imports resolve from this directory
    await symlink(join(root, 'node_modules'), join(dir, 'node_modules'), 'dir')
    await writeFile(join(dir, 'node.mts'), code)
    return new ReadmeNode(dir)
  }

  private constructor (dir: string) {
    this.dir = dir
    this.child = fork(join(dir, 'node.mts'), [], {
      cwd: dir,
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'ignore', 'pipe', 'ipc']
    })
    this.child.stderr?.on('data', (chunk: Buffer) => { this.stderr += chunk.toString() })
    this.ready = new Promise((resolve, reject) => this.waiting.set(0, { resolve, reject }))
    this.child.on('message', ({ id, result, error }: { id: number, result?: unknown, error?: string }) => {
      const waiter = this.waiting.get(id)
      this.waiting.delete(id)

      if (error != null) {
        waiter?.reject(new Error(error))
      } else {
        waiter?.resolve(result)
      }
    })
    this.child.on('exit', (code) => {
      for (const waiter of this.waiting.values()) {
        waiter.reject(new Error(`The README node exited with ${code}:\n${this.stderr}`))
      }

      this.waiting.clear()
    })
  }

  async call<T = unknown> (type: string, arg?: unknown): Promise<T> {
    const id = this.nextId++
    const answer = new Promise<T>((resolve, reject) => this.waiting.set(id, { resolve, reject }))
    this.child.send({ id, type, arg })
    return answer
  }

  async stop (): Promise<void> {
    if (this.child.exitCode == null && this.child.connected) {
      await this.call('stop').catch(() => {})
      this.child.disconnect()
    }

    if (this.child.exitCode == null) {
      await new Promise(resolve => this.child.once('exit', resolve))
    }

    await rm(this.dir, { recursive: true, force: true })
  }
}

describe('the README\'s Helia wiring, run as written', () => {
  const nodes: ReadmeNode[] = []
  let plain: { libp2p: Libp2p, store?: ClusterDatastore }

  beforeAll(async () => {
    const readme = await readFile(join(root, 'README.md'), 'utf8')
    const [wiring, joinBlock] = codeBlocks(readme, 'Use with Helia')
    expect(wiring).toContain('cluster.service')
    expect(joinBlock).toContain('cluster.join(tableJson)')
    // docs/helia.md shows the same code, so it cannot drift from what runs here
    const docs = await readFile(join(root, 'docs/helia.md'), 'utf8')
    expect(codeBlocks(docs, 'Use with Helia').slice(0, 2)).toEqual([wiring, joinBlock])

    const code = wiring.replaceAll("from 'datastore-cluster'", `from '${join(root, 'src/index.ts')}'`) + harness(joinBlock)
    nodes.push(...await Promise.all([0, 1].map(async () => ReadmeNode.start(code))))
    plain = { libp2p: await createNode() }
  }, 120_000)

  afterAll(async () => {
    await Promise.all(nodes.map(async n => n.stop()))
    await plain?.store?.stop()
    await plain?.libp2p.stop()
  })

  it('adds a file on one Helia node and reads it back on the other, with blocks on every data node', async () => {
    const helias = await Promise.all(nodes.map(async n => n.ready))
    // the Helia nodes listen on every interface; the table lists their loopback TCP address
    const loopback = (addrs: string[]): string[] => addrs.filter(a => /^\/ip4\/127\.0\.0\.1\/tcp\/\d+\/p2p\//.test(a)).map(a => a.replace(/\/p2p\/.*$/, ''))
    const table = SlotTable.even([
      ...helias.map(h => ({ id: peerIdFromString(h.peerId), addrs: loopback(h.addrs) })),
      { id: plain.libp2p.peerId, addrs: plain.libp2p.getMultiaddrs() }
    ], { epoch: 1 })

    const local = new MemoryDatastore()
    plain.store = new ClusterDatastore(plain.libp2p, local, table)
    await plain.store.start()
    await expect(Promise.all(nodes.map(async n => n.call('join', JSON.stringify(table.toJSON()))))).resolves.toEqual([1, 1])

    const data = deterministicBytes(FILE_SIZE, 11)
    const cid = await nodes[0].call<string>('add', Buffer.from(data).toString('base64'))
    const read = await nodes[1].call<{ length: number, sha256: string }>('cat', cid)

    expect(read).toEqual({ length: FILE_SIZE, sha256: createHash('sha256').update(data).digest('hex') })

    // the data node without Helia holds part of the file and serves it too
    expect((await localBlockKeys(local)).length).toBeGreaterThan(0)
    const blockstore = new ClusterBlockstore(plain.store)
    let blocks = 0

    for await (const _ of blockstore.getAll()) {
      blocks++
    }

    // Helia's default 1 MiB chunks: four leaves and a root
    expect(blocks).toBe(5)
  }, 120_000)
})
