/**
 * Nodes run by `serve` from the configs `init` wrote: a newer table signed
 * with admin.key reaches them from a client, is kept in their store, and a
 * node restarted with its old config resumes it; a table signed by another
 * key is refused and changes nothing.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { lpStream } from '@libp2p/utils'
import { Key } from 'interface-datastore'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { readAdminKey } from '../../src/cli/admin-key.js'
import { openClient } from '../../src/cli/client.js'
import { loadConfig } from '../../src/cli/config.js'
import { PROTOCOL, SlotTable, keySlot, signTable } from '../../src/index.js'
import { Request, Response } from '../../src/pb/message.js'
import { BUILD_TIMEOUT, buildCli, freeBasePort, runCli, startServe } from './utils/cli.js'
import type { Client } from '../../src/cli/client.js'
import type { BuiltCli, ServeProcess } from './utils/cli.js'

const enc = new TextEncoder()

describe('datastore-cluster serve with signed tables', () => {
  let cli: BuiltCli
  let dir: string
  let nodes: ServeProcess[] = []
  let client: Client | undefined
  let table: SlotTable

  const io = { stdin: Readable.from([]), stdout: process.stdout, stderr: process.stderr, env: {}, cwd: tmpdir() }
  const nodeConfig = (i: number): string => join(dir, `node-${i + 1}.json`)

  beforeAll(async () => {
    let basePort: number
    ;[cli, dir, basePort] = await Promise.all([buildCli(), mkdtemp(join(tmpdir(), 'datastore-cluster-signed-')), freeBasePort(2)])
    const init = await runCli(cli.bin, ['init', '--nodes', '2', '--replicas', '1', '--base-port', `${basePort}`, dir])
    expect(init.code, init.stderr).toBe(0)
    expect(init.stdout).toContain('admin.key signs every slot table')
    table = (await loadConfig(join(dir, 'client.json'), 'client')).slots
    nodes = await Promise.all([0, 1].map(async i => startServe(cli.bin, nodeConfig(i))))
  }, BUILD_TIMEOUT)

  afterAll(async () => {
    await client?.close()

    for (const node of nodes) {
      node.child.kill('SIGTERM')
      await node.exited
    }

    await rm(dir, { recursive: true, force: true })
    await cli?.cleanup()
  })

  /** A key whose slot node `i` owns */
  function keyOf (i: number, prefix: string): Key {
    for (let n = 0; ; n++) {
      const key = new Key(`/${prefix}/${n}`)
      if (table.primary(keySlot(key)).equals(table.peers[i].id)) return key
    }
  }

  /** The table epoch node `i` answers with */
  async function nodeEpoch (i: number): Promise<number> {
    const lp = lpStream(await client!.libp2p.dialProtocol(table.peers[i].id, PROTOCOL))
    await lp.write(Request.encode({ id: 1, type: Request.Type.GET_TABLE, epoch: 1 }))
    const res = Response.decode(await lp.read())
    await lp.unwrap().close()
    return res.epoch
  }

  /** Epoch 2: the same slots, and a second, read-only client */
  async function nextTable (): Promise<SlotTable> {
    const reader = await generateKeyPair('Ed25519')
    return SlotTable.fromRanges({ ...table.toJSON(), epoch: 2, clients: [...table.clients, { id: peerIdFromPrivateKey(reader), readOnly: true }] })
  }

  it('serve says only tables signed by the admin key change its table', () => {
    for (const node of nodes) {
      expect(node.stdout()).toContain('slot table epoch 1:')
      expect(node.stdout()).toMatch(/table changes: only tables signed by the admin key \(this one's hash [0-9a-f]{16}…\)/)
    }
  })

  it('a table signed by another key, pushed by the client, is refused and changes nothing', async () => {
    client = await openClient(join(dir, 'client.json'), io)
    const forged = await signTable(await nextTable(), await generateKeyPair('Ed25519'))
    expect(() => client!.store.updateSlotTable(forged)).toThrow(/not by the admin key/)

    const lp = lpStream(await client.libp2p.dialProtocol(table.peers[0].id, PROTOCOL))
    await lp.write(Request.encode({ id: 1, type: Request.Type.TABLE, epoch: 2, signedTable: forged.bytes as Uint8Array<ArrayBuffer> }))
    const res = Response.decode(await lp.read())
    expect(res.status).toBe(Response.Status.UNAUTHORIZED)
    expect(res.message).toMatch(/not by the admin key/)
    await lp.unwrap().close()

    await client.store.put(keyOf(0, 'forged'), enc.encode('v'))
    expect(client.store.slots.epoch).toBe(1)
  })

  it('a newer table signed with admin.key reaches the nodes from the client, and a restarted node resumes it from its store', async () => {
    const t2 = await signTable(await nextTable(), await readAdminKey(join(dir, 'admin.key')))
    expect(client!.store.updateSlotTable(t2)).toBe(true)

    // each node, on epoch 1, answers MOVED (older); the client sends it the signed table and retries
    for (const i of [0, 1]) {
      await client!.store.put(keyOf(i, 'signed'), enc.encode(`on ${i}`))
    }

    // a node that saw epoch 2 in a request asks the caller for the table: wait until both hold it
    for (const i of [0, 1]) {
      await expect.poll(async () => nodeEpoch(i), { timeout: 20_000, interval: 100 }).toBe(2)
    }

    // restart node-1 with its config, which still says epoch 1
    nodes[0].child.kill('SIGTERM')
    expect(await nodes[0].exited).toEqual({ code: 0, signal: null })
    nodes[0] = await startServe(cli.bin, nodeConfig(0))
    expect(nodes[0].stdout()).toContain('slot table epoch 2:')
    expect(nodes[0].stdout()).toContain(`this one's hash ${t2.hash.slice(0, 16)}…`)
    expect(new TextDecoder().decode(await client!.store.get(keyOf(0, 'signed')))).toBe('on 0')
  })
})
