/**
 * Config files that cannot be used stop the program with a message naming
 * the field and the fix, and a non-zero exit code. The cases the issue lists
 * run through the installed bin in a child process; the rest run `main()`
 * in-process, which is the same code without the process start-up.
 */

import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPair, publicKeyToProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import { COMMANDS } from '../../src/cli/index.js'
import { BUILD_TIMEOUT, buildCli, runCli, runMain } from './utils/cli.js'
import type { BuiltCli } from './utils/cli.js'

describe('datastore-cluster command line: config validation', () => {
  let cli: BuiltCli
  let dir: string
  let node: any
  let clientJson: any
  let n = 0

  /** Write a variant of node-1.json and return its path */
  const variant = async (change: (config: any) => void, base: any = node): Promise<string> => {
    const config = structuredClone(base)
    change(config)
    const file = join(dir, `variant-${n++}.json`)
    await writeFile(file, JSON.stringify(config, null, 2))
    return file
  }

  beforeAll(async () => {
    ;[cli, dir] = await Promise.all([buildCli(), mkdtemp(join(tmpdir(), 'datastore-cluster-config-'))])
    const init = await runMain(['init', '--nodes', '3', '--store', 'memory', dir])
    expect(init.code).toBe(0)
    node = JSON.parse(await readFile(join(dir, 'node-1.json'), 'utf8'))
    clientJson = JSON.parse(await readFile(join(dir, 'client.json'), 'utf8'))
  }, BUILD_TIMEOUT)

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true })
    await cli?.cleanup()
  })

  describe('through the bin, exit code 3', () => {
    it('a missing field', async () => {
      const file = await variant(c => { delete c.listen })
      const res = await runCli(cli.bin, ['serve', '--config', file])
      expect(res.code).toBe(3)
      expect(res.stdout).toBe('')
      expect(res.stderr).toBe(`datastore-cluster: invalid config ${file}: 1 problem\n` +
        '  - listen: is missing\n' +
        '    fix: give the TCP addresses this node listens on, e.g. ["/ip4/0.0.0.0/tcp/7001"]\n')
    })

    it('a field of the wrong type', async () => {
      const file = await variant(c => {
        c.listen = '/ip4/127.0.0.1/tcp/7001'
        c.options = { requestTimeout: '5000' }
      })
      const res = await runCli(cli.bin, ['serve', '--config', file])
      expect(res.code).toBe(3)
      expect(res.stderr).toContain('invalid config')
      expect(res.stderr).toContain('2 problems')
      expect(res.stderr).toContain('  - listen: must be a non-empty array of multiaddrs, got "/ip4/127.0.0.1/tcp/7001"\n')
      expect(res.stderr).toContain('  - options.requestTimeout: must be an integer >= 1, got "5000"\n    fix: give a number without quotes')
    })

    it('overlapping slot ranges', async () => {
      const file = await variant(c => { c.slots.ranges[1].start = c.slots.ranges[0].end - 9 })
      const res = await runCli(cli.bin, ['serve', '--config', file])
      expect(res.code).toBe(3)
      expect(res.stderr).toContain('  - slots.ranges[1]: (5452-10922) overlaps ranges[0] (0-5461) on slots 5452-5461\n    fix: every node and client of a cluster must carry the same "slots" table')
    })

    it('a range owned by a peer the table does not list', async () => {
      const stranger = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()
      const file = await variant(c => { c.slots.ranges[2].owners = [stranger] })
      const res = await runCli(cli.bin, ['serve', '--config', file])
      expect(res.code).toBe(3)
      expect(res.stderr).toContain(`  - slots.ranges[2].owners[0]: names peer ${stranger} which is not listed in peers\n`)
    })

    it('a node the table does not list, in a cluster without an admin key', async () => {
      // a valid identity, but not one of the cluster's nodes; with an admin
      // key it would be a node waiting for a signed table to add it
      const file = await variant(c => {
        c.peerId = clientJson.peerId
        c.privateKeyFile = 'client.key'
        delete c.adminKey
        delete c.signedTable
      })
      const res = await runCli(cli.bin, ['serve', '--config', file])
      expect(res.code).toBe(3)
      expect(res.stderr).toContain(`  - peerId: ${clientJson.peerId as string} is not listed in slots.peers, so the other nodes do not know this node\n`)
    })

    it('a key file that cannot be read', async () => {
      await mkdir(join(dir, 'a-directory.key'))
      const file = await variant(c => { c.privateKeyFile = 'a-directory.key' })
      const res = await runCli(cli.bin, ['serve', '--config', file])
      expect(res.code).toBe(3)
      expect(res.stderr).toContain(`  - privateKeyFile: cannot read key file ${join(dir, 'a-directory.key')}: it is a directory\n    fix: point privateKeyFile at the key file itself`)
    })

    it('a key file that does not exist', async () => {
      const file = await variant(c => { c.privateKeyFile = 'gone.key' })
      const res = await runCli(cli.bin, ['status', '--config', file.replace('variant', 'nothing')])
      expect(res.code).toBe(3)
      expect(res.stderr).toMatch(/cannot read the file: no such file\n {4}fix: check the path/)

      const missingKey = await runCli(cli.bin, ['serve', '--config', file])
      expect(missingKey.code).toBe(3)
      expect(missingKey.stderr).toContain(`  - privateKeyFile: cannot read key file ${join(dir, 'gone.key')}: no such file\n`)
    })
  })

  describe('in-process', () => {
    it('another node\'s key', async () => {
      const file = await variant(c => { c.privateKeyFile = 'node-2.key' })
      const res = await runMain(['serve', '--config', file])
      expect(res.code).toBe(3)
      expect(res.stderr).toMatch(/privateKeyFile: .*node-2\.key holds the key of peer 12D3\w+, but peerId is 12D3\w+\n/)
    })

    it('a key file with something else in it', async () => {
      await writeFile(join(dir, 'junk.key'), 'not a key\n')
      const file = await variant(c => { c.privateKeyFile = 'junk.key' })
      const res = await runMain(['serve', '--config', file])
      expect(res.code).toBe(3)
      expect(res.stderr).toContain('does not hold a libp2p private key')
    })

    it('a key pasted as base64 text is accepted', async () => {
      const key = await readFile(join(dir, 'node-1.key'))
      await writeFile(join(dir, 'text.key'), key.toString('base64') + '\n', { mode: 0o600 })
      const { loadConfig } = await import('../../src/cli/config.js')
      const file = await variant(c => { c.privateKeyFile = 'text.key' })
      const config = await loadConfig(file, 'node')
      expect(config.peerId.toString()).toBe(node.peerId)
      expect(config.warnings).toEqual([])
    })

    it('a key file others can read gives a warning', async () => {
      const key = await readFile(join(dir, 'node-1.key'))
      await writeFile(join(dir, 'open.key'), key, { mode: 0o644 })
      const { loadConfig } = await import('../../src/cli/config.js')
      const file = await variant(c => { c.privateKeyFile = 'open.key' })
      const config = await loadConfig(file, 'node')
      expect(config.warnings).toEqual([`key file ${join(dir, 'open.key')} can be read by other users (mode 0644): run chmod 600 ${join(dir, 'open.key')}`])
    })

    it('the signed table: checked against adminKey and slots, clients only in the table', async () => {
      const { loadConfig } = await import('../../src/cli/config.js')
      const loaded = await loadConfig(join(dir, 'node-1.json'), 'node')
      expect(loaded.signed?.table.equals(loaded.slots)).toBe(true)
      expect(loaded.options.adminKey).toBeDefined()
      expect(loaded.clients).toEqual([{ peerId: clientJson.peerId, readOnly: false }])

      const garbage = await runMain(['serve', '--config', await variant(c => { c.adminKey = 'bm90IGEga2V5' })])
      expect(garbage.code).toBe(3)
      expect(garbage.stderr).toMatch(/ - adminKey: is not a public key/)

      const unchecked = await runMain(['serve', '--config', await variant(c => { delete c.adminKey })])
      expect(unchecked.code).toBe(3)
      expect(unchecked.stderr).toContain('  - signedTable: is given without adminKey, so nothing can check it\n')

      const other = Buffer.from(publicKeyToProtobuf((await generateKeyPair('Ed25519')).publicKey)).toString('base64')
      const otherKey = await runMain(['serve', '--config', await variant(c => { c.adminKey = other })])
      expect(otherKey.code).toBe(3)
      expect(otherKey.stderr).toMatch(/ - signedTable: cannot be used: the slot table is signed by key 12D3\w+, not by the admin key 12D3\w+/)

      const edited = await runMain(['serve', '--config', await variant(c => { c.slots.epoch = 2 })])
      expect(edited.code).toBe(3)
      expect(edited.stderr).toContain('  - signedTable: holds another table than "slots" (signed epoch 1, slots epoch 2)\n')

      const clients = await runMain(['serve', '--config', await variant(c => { c.clients = [clientJson.peerId] })])
      expect(clients.code).toBe(3)
      expect(clients.stderr).toContain('  - clients: is given together with adminKey\n    fix: with an admin key the allowed clients are part of the signed table')
    })

    it('not JSON', async () => {
      const file = join(dir, 'broken.json')
      await writeFile(file, '{ "version": 1, }')
      const res = await runMain(['serve', '--config', file])
      expect(res.code).toBe(3)
      expect(res.stderr).toMatch(/is not valid JSON: .*\n {4}fix: config files are plain JSON: no comments, no trailing commas/)
    })

    it('a misspelt field', async () => {
      const file = await variant(c => {
        c.clinets = []
      })
      const res = await runMain(['serve', '--config', file])
      expect(res.code).toBe(3)
      expect(res.stderr).toContain('  - clinets: is not a field of a node config\n    fix: did you mean "clients"?\n')
    })

    it('every problem at once', async () => {
      const file = await variant(c => {
        delete c.version
        c.peerId = 'nope'
        c.listen = []
        c.store = { type: 'rocks' }
        c.slots.epoch = -1
      })
      const res = await runMain(['serve', '--config', file])
      expect(res.code).toBe(3)
      expect(res.stderr).toContain('5 problems')
      expect(res.stderr).toContain('  - version: is missing\n    fix: add "version": 1\n')
      expect(res.stderr).toContain('  - peerId: "nope" is not a valid peer ID')
      expect(res.stderr).toContain('  - listen: must be a non-empty array of multiaddrs, got an empty array')
      expect(res.stderr).toContain('  - store.type: must be one of "level", "fs", "memory", got "rocks"')
      expect(res.stderr).toContain('  - slots.epoch: must be a non-negative integer, got -1')

      const role = await runMain(['serve', '--config', await variant(c => { c.role = 'server' })])
      expect(role.code).toBe(3)
      expect(role.stderr).toContain('  - role: must be "node" or "client", got "server"\n    fix: use "node" for a data node')
    })

    it('a newer config version', async () => {
      const file = await variant(c => { c.version = 2 })
      const res = await runMain(['serve', '--config', file])
      expect(res.code).toBe(3)
      expect(res.stderr).toContain('  - version: must be 1, got number 2\n    fix: this file was written by a newer datastore-cluster: upgrade this one\n')
    })

    it('a store without a path', async () => {
      const file = await variant(c => { c.store = { type: 'level' } })
      const res = await runMain(['serve', '--config', file])
      expect(res.code).toBe(3)
      expect(res.stderr).toContain('  - store.path: is missing (a level store needs a directory)')
    })

    it('a listen address that is not TCP', async () => {
      const file = await variant(c => { c.listen = ['/ip4/127.0.0.1/udp/7001/quic-v1', '/ip4/1.2.3/tcp/1'] })
      const res = await runMain(['serve', '--config', file])
      expect(res.code).toBe(3)
      expect(res.stderr).toContain('  - listen[0]: "/ip4/127.0.0.1/udp/7001/quic-v1" is not an /ip4/…/tcp/… or /ip6/…/tcp/… address')
      expect(res.stderr).toContain('  - listen[1]: "/ip4/1.2.3/tcp/1" is not a valid multiaddr')
    })

    it('client commands refuse a node config, serve refuses a client config', async () => {
      for (const command of ['status', 'ls', 'put', 'get', 'rm']) {
        const res = await runMain([command, '--config', join(dir, 'node-1.json'), ...(command === 'put' ? ['k', 'v'] : command === 'get' || command === 'rm' ? ['k'] : [])])
        expect(res.code).toBe(3)
        expect(res.stderr).toContain('  - role: is "node", but this command is a client\n    fix: give the client config (client.json written by init)')
      }

      const serve = await runMain(['serve', '--config', join(dir, 'client.json')])
      expect(serve.code).toBe(3)
      expect(serve.stderr).toContain('  - role: is "client", but serve runs a data node')
    })

    it('the config file can come from DATASTORE_CLUSTER_CONFIG', async () => {
      const res = await runMain(['status'], { env: { DATASTORE_CLUSTER_CONFIG: join(dir, 'missing.json') } })
      expect(res.code).toBe(3)
      expect(res.stderr).toContain(`invalid config ${join(dir, 'missing.json')}`)
    })
  })

  describe('usage', () => {
    it('--help works on every command, through the bin too', async () => {
      for (const command of COMMANDS) {
        const res = await runMain([command.name, '--help'])
        expect(res.code).toBe(0)
        expect(res.stdout).toMatch(new RegExp(`^Usage: datastore-cluster ${command.name} `))
        expect(res.stdout).toContain('-h, --help')
      }

      const top = await runCli(cli.bin, ['--help'])
      expect(top.code).toBe(0)
      expect(top.stdout).toMatch(/^Usage: datastore-cluster <command> \[options\]/)

      for (const command of COMMANDS) {
        expect(top.stdout).toContain(`  ${command.name} `)
      }

      const serve = await runCli(cli.bin, ['serve', '-h'])
      expect(serve.code).toBe(0)
      expect(serve.stdout).toContain('SIGTERM')

      expect((await runMain(['help', 'init'])).stdout).toMatch(/^Usage: datastore-cluster init /)
      expect((await runMain(['--version'])).stdout).toMatch(/^datastore-cluster \d+\.\d+\.\d+\n$/)
    })

    it('mistakes on the command line exit 2 and point to the help', async () => {
      expect(await runMain([])).toMatchObject({ code: 2 })
      expect(await runMain(['frobnicate'])).toMatchObject({ code: 2, stderr: 'datastore-cluster: unknown command "frobnicate"; the commands are init, serve, status, put, get, rm, ls, add-node, remove-node, rebalance, keygen\nrun `datastore-cluster --help` for usage\n' })
      expect(await runMain(['init', dir])).toMatchObject({ code: 2, stderr: 'datastore-cluster: --nodes N is required\nrun `datastore-cluster init --help` for usage\n' })
      expect(await runMain(['init', '--nodes', 'three', dir])).toMatchObject({ code: 2, stderr: expect.stringContaining('--nodes must be an integer from 1 to 16384, got "three"') })
      expect(await runMain(['init', '--nodes', '2', '--hosts', 'a,b,c', dir])).toMatchObject({ code: 2, stderr: expect.stringContaining('--hosts must list exactly 2 hosts') })
      expect(await runMain(['serve', '--confg', 'x.json'])).toMatchObject({ code: 2, stderr: expect.stringContaining("Unknown option '--confg'") })
      expect(await runMain(['serve'])).toMatchObject({ code: 2, stderr: expect.stringContaining('no config file: give --config FILE (or set DATASTORE_CLUSTER_CONFIG)') })
      expect(await runMain(['get', '-c', join(dir, 'client.json')])).toMatchObject({ code: 2, stderr: expect.stringContaining('missing KEY') })
      expect(await runMain(['status', '-c', join(dir, 'client.json'), 'extra'])).toMatchObject({ code: 2, stderr: expect.stringContaining('status takes no arguments, got "extra"') })
    })

    it('keygen writes a new identity that a client config can use', async () => {
      const res = await runMain(['keygen', join(dir, 'client-2.key')])
      expect(res.code).toBe(0)
      expect(res.stdout).toMatch(/^12D3KooW\w+\n$/)
      expect((await stat(join(dir, 'client-2.key'))).mode & 0o777).toBe(0o600)

      const { loadConfig } = await import('../../src/cli/config.js')
      const file = await variant(c => {
        c.peerId = res.stdout.trim()
        c.privateKeyFile = 'client-2.key'
      }, clientJson)
      expect((await loadConfig(file, 'client')).peerId.toString()).toBe(res.stdout.trim())

      expect(await runMain(['keygen', join(dir, 'client-2.key')])).toMatchObject({ code: 1, stderr: expect.stringContaining('already exists; keygen never overwrites a key') })
    })

    it('init --hosts spreads the nodes over machines', async () => {
      const out = join(dir, 'spread')
      const res = await runMain(['init', '--nodes', '3', '--hosts', '10.0.0.1,10.0.0.2,db3.example', '--listen-host', '0.0.0.0', '--base-port', '4100', out])
      expect(res.code).toBe(0)

      const configs = await Promise.all([1, 2, 3].map(async i => JSON.parse(await readFile(join(out, `node-${i}.json`), 'utf8'))))
      expect(configs.map(c => c.listen)).toEqual([['/ip4/0.0.0.0/tcp/4100'], ['/ip4/0.0.0.0/tcp/4100'], ['/ip4/0.0.0.0/tcp/4100']])
      expect(configs[0].slots.peers.map((p: any) => p.addrs)).toEqual([['/ip4/10.0.0.1/tcp/4100'], ['/ip4/10.0.0.2/tcp/4100'], ['/dns/db3.example/tcp/4100']])

      // nodes sharing a host get consecutive ports
      const shared = join(dir, 'shared')
      expect((await runMain(['init', '--nodes', '3', '--hosts', '10.0.0.1,10.0.0.1,10.0.0.2', shared])).code).toBe(0)
      const table = JSON.parse(await readFile(join(shared, 'client.json'), 'utf8')).slots
      expect(table.peers.map((p: any) => p.addrs[0])).toEqual(['/ip4/10.0.0.1/tcp/7001', '/ip4/10.0.0.1/tcp/7002', '/ip4/10.0.0.2/tcp/7001'])
    })
  })
})
