/**
 * The line-based commands at their edges, on a 3-node cluster of `serve`
 * processes: keys that do not fit a bare word, output cut by a signal or a
 * reader that goes away, and many-key writes with a node down.
 */

import { spawn } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import { keySlot, SlotTable } from '../../src/index.js'
import { BUILD_TIMEOUT, buildCli, freeBasePort, runCli, startServe } from './utils/cli.js'
import type { BuiltCli, CliResult, ServeProcess } from './utils/cli.js'

const NODES = 3

/** Keys under /nasty/ that a bare word per line cannot carry, and a few it can */
const NASTY = [
  'with space',
  'two  spaces and trailing ',
  ' leading space',
  'tab\there',
  'new\nline',
  'carriage\rreturn',
  'back\\slash',
  'back\\slash and space',
  '"quoted"',
  'ünïcødé/日本語',
  'emoji 🎉',
  'line\u2028separator',
  'control\u0001char',
  'nul\u0000byte',
  'plain'
].map(name => `/nasty/${name}`)

/** A line as put --batch reads it: the key as a JSON string works for any key */
const pairLine = (key: string, value: string): string => `${JSON.stringify(key)} ${value}`

/** The key a bare or JSON-quoted field stands for */
const unquote = (field: string): string => field.startsWith('"') ? JSON.parse(field) : field

describe('datastore-cluster command line: batches, odd keys, interrupted output, a node down', () => {
  let cli: BuiltCli
  let dir: string
  let client: string
  let table: SlotTable
  const nodes: Array<ServeProcess | undefined> = []

  const run = async (args: string[], input?: string): Promise<CliResult> => runCli(cli.bin, [args[0], '--config', client, ...args.slice(1)], { input, cwd: dir })

  beforeAll(async () => {
    const [built, made, basePort] = await Promise.all([buildCli(), mkdtemp(join(tmpdir(), 'datastore-cluster-batch-')), freeBasePort(NODES)])
    cli = built
    dir = made
    client = join(dir, 'client.json')
    // one owner per range: these tests are about the keys of a node that is down (replicas: test/cli/replication.spec.ts)
    expect((await runCli(cli.bin, ['init', '--nodes', `${NODES}`, '--replicas', '1', '--base-port', `${basePort}`, dir])).code).toBe(0)
    table = SlotTable.fromJSON(JSON.parse(await readFile(client, 'utf8')).slots)

    for (let i = 0; i < NODES; i++) {
      nodes[i] = await startServe(cli.bin, join(dir, `node-${i + 1}.json`))
    }
  }, BUILD_TIMEOUT)

  afterAll(async () => {
    await Promise.all(nodes.map(async node => {
      if (node != null && node.child.exitCode == null && node.child.signalCode == null) {
        node.child.kill('SIGKILL')
        await node.exited
      }
    }))
    await rm(dir, { recursive: true, force: true })
    await cli?.cleanup()
  })

  it('keys with spaces, tabs, line breaks, backslashes, quotes and unicode survive ls | get --batch | put --batch', async () => {
    const put = await run(['put', '--batch'], NASTY.map((key, i) => pairLine(key, `value ${i} ✓`)).join('\n') + '\n')
    expect(put).toMatchObject({ code: 0, stderr: '', stdout: `stored ${NASTY.length} keys\n` })

    // ls quotes exactly the keys a bare word would break, and sorts them
    const ls = await run(['ls', '/nasty'])
    expect(ls).toMatchObject({ code: 0, stderr: '' })
    const listed = ls.stdout.split('\n').slice(0, -1)
    expect(listed.map(unquote)).toEqual([...NASTY].sort())
    expect(listed).toContain('/nasty/plain')
    expect(listed).toContain('/nasty/back\\slash')
    expect(listed).toContain('/nasty/ünïcødé/日本語')
    expect(listed).toContain('"/nasty/with space"')
    expect(listed).toContain('"/nasty/new\\nline"')

    const got = await run(['get', '--batch'], ls.stdout)
    expect(got).toMatchObject({ code: 0, stderr: '' })
    const lines = got.stdout.split('\n').slice(0, -1)
    expect(lines).toHaveLength(NASTY.length)

    // delete everything, then restore it from get's output
    expect(await run(['rm', '--batch'], ls.stdout)).toMatchObject({ code: 0, stderr: '', stdout: `deleted ${NASTY.length} keys\n` })
    expect(await run(['ls', '/nasty', '--count'])).toMatchObject({ code: 0, stdout: '0\n' })
    expect(await run(['put', '--batch'], got.stdout)).toMatchObject({ code: 0, stderr: '', stdout: `stored ${NASTY.length} keys\n` })

    expect(await run(['get', '--batch'], ls.stdout)).toMatchObject({ code: 0, stdout: got.stdout })
    // a single key is an argument: the shell quotes it, the command takes it as it is
    expect(await run(['get', NASTY[4]])).toMatchObject({ code: 0, stdout: 'value 4 ✓' })
  })

  it('a key that cannot be carried, or a quoted key that is not JSON, is reported by line and skipped', async () => {
    const input = [
      pairLine('/refused/before', 'a'),
      '"/refused/lone\\ud800surrogate" b',
      '"/refused/unterminated c',
      '/refused/no-value',
      pairLine('/refused/after', 'd')
    ].join('\n') + '\n'
    const put = await run(['put', '--batch'], input)
    expect(put.code).toBe(1)
    expect(put.stdout).toBe('stored 2 keys\n')
    expect(put.stderr).toBe([
      'line 2: the key "/refused/lone\\ud800surrogate" holds a lone UTF-16 surrogate, which UTF-8 cannot encode; skipped',
      'line 3: a key that starts with " must be a JSON string, as ls and get --batch print keys with spaces, tabs or line breaks; got "\\"/refused/unterminated c"; skipped',
      'line 4: expected "KEY VALUE" (key, one space or tab, value), got "/refused/no-value"; skipped',
      'datastore-cluster: 3 lines skipped (each reported above)',
      ''
    ].join('\n'))
    expect(await run(['ls', '/refused'])).toMatchObject({ code: 0, stdout: '/refused/after\n/refused/before\n' })

    const get = await run(['get', '--batch'], '/refused/before\n"/refused/after\n/refused/after\n')
    expect(get.code).toBe(1)
    expect(get.stdout).toBe('/refused/before a\n/refused/after d\n')
    expect(get.stderr).toMatch(/^line 2: a key that starts with " must be a JSON string.*; skipped\n$/)
  })

  describe('output into a pipe', () => {
    const BIG = 2000
    const value = 'v'.repeat(1024)
    // long keys, so that ls too writes more than a pipe holds
    const bigKeys = Array.from({ length: BIG }, (_, i) => `/big/${'k'.repeat(1000)}-${String(i).padStart(5, '0')}`)
    const expected = bigKeys.map(key => `${key} ${value}`)

    beforeAll(async () => {
      expect(await run(['put', '--batch'], expected.join('\n') + '\n')).toMatchObject({ code: 0, stdout: `stored ${BIG} keys\n` })
    })

    /**
     * Run a command whose stdout is a pipe the test stops reading after the
     * first bytes; then `action` (send a signal, or close the pipe), read the
     * rest, and return all of it
     */
    const interrupted = async (args: string[], input: string, action: (child: ReturnType<typeof spawn>) => void): Promise<CliResult> => {
      const child = spawn(process.execPath, [cli.bin, args[0], '--config', client, ...args.slice(1)], { cwd: dir, stdio: ['pipe', 'pipe', 'pipe'] })
      const out: Buffer[] = []
      const err: Buffer[] = []
      child.stderr.on('data', (chunk: Buffer) => err.push(chunk))
      child.stdin.on('error', () => {})
      child.stdin.end(input)
      const closed = new Promise<{ code: number | null, signal: NodeJS.Signals | null }>((resolve) => {
        child.on('close', (code, signal) => { resolve({ code, signal }) })
      })

      await new Promise<void>((resolve) => {
        child.stdout.once('data', (chunk: Buffer) => {
          out.push(chunk)
          // the pipe fills up behind this: the command is in the middle of its output
          child.stdout.pause()
          resolve()
        })
      })

      action(child)
      child.stdout.on('data', (chunk: Buffer) => out.push(chunk))
      child.stdout.resume()
      const { code, signal } = await closed
      return { code, signal, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') }
    }

    /** Output that is whole lines of `all`, in order, and stops before its end */
    const expectWholeLinesCutShort = (stdout: string, all: string[]): void => {
      expect(stdout.endsWith('\n'), `ends with ${JSON.stringify(stdout.slice(-20))}`).toBe(true)
      const lines = stdout.split('\n').slice(0, -1)
      expect(lines.length).toBeGreaterThan(0)
      expect(lines.length).toBeLessThan(all.length)
      expect(lines).toEqual(all.slice(0, lines.length))
    }

    it('SIGINT during get --batch ends the output after a whole line and exits 130', async () => {
      const res = await interrupted(['get', '--batch'], bigKeys.join('\n') + '\n', child => child.kill('SIGINT'))
      expect(res).toMatchObject({ code: 130, signal: null, stderr: '' })
      expectWholeLinesCutShort(res.stdout, expected)
    })

    it('SIGTERM during ls ends the output after a whole line and exits 143', async () => {
      const res = await interrupted(['ls', '/big', '--unsorted'], '', child => child.kill('SIGTERM'))
      expect(res).toMatchObject({ code: 143, signal: null, stderr: '' })
      // unsorted: the nodes' answers interleave, so only check the lines are whole keys
      expect(res.stdout.endsWith('\n')).toBe(true)
      const lines = res.stdout.split('\n').slice(0, -1)
      expect(lines.length).toBeLessThan(BIG)
      expect(lines.every(line => bigKeys.includes(line)), 'every line is a whole key').toBe(true)
    })

    it('a reader that goes away (like `| head -1`) ends the command quietly with 0', async () => {
      const res = await interrupted(['get', '--batch'], bigKeys.join('\n') + '\n', child => child.stdout?.destroy())
      expect(res).toMatchObject({ code: 0, signal: null, stderr: '' })
    })
  })

  it('SIGINT during put --batch lets the writes sent finish and says up to which line the input is stored', async () => {
    const keys = Array.from({ length: 5000 }, (_, i) => `/int/key-${String(i).padStart(5, '0')}`)
    const value = 'i'.repeat(1024)
    const child = spawn(process.execPath, [cli.bin, 'put', '--config', client, '--batch'], { cwd: dir, stdio: ['pipe', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => { stdout += chunk })
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk })
    const closed = new Promise<number | null>((resolve) => { child.on('close', resolve) })

    // more than a pipe holds: once it is all written, the command has read most of it; stdin stays open
    await new Promise<void>((resolve, reject) => {
      child.stdin.write(keys.map(key => `${key} ${value}`).join('\n') + '\n', err => {
        if (err == null) {
          resolve()
        } else {
          reject(err)
        }
      })
    })
    child.kill('SIGINT')
    const code = await closed
    child.stdin.destroy()

    expect(code).toBe(130)
    expect(stdout).toBe('')
    const match = /^datastore-cluster: interrupted by SIGINT after line (\d+) of the input, whose later lines were not read; stored: (\d+) keys?\n$/.exec(stderr)
    expect(match, stderr).not.toBeNull()
    const line = Number(match?.[1])
    expect(line).toBeGreaterThan(0)
    expect(Number(match?.[2])).toBe(line)

    // exact: the lines read are stored, the others are not
    const got = await run(['get', '--batch'], keys.join('\n') + '\n')
    expect(got.stdout).toBe(keys.slice(0, line).map(key => `${key} ${value}\n`).join(''))
    expect(got.stderr).toBe(keys.slice(line).map(key => `not found: ${key}\n`).join(''))
  })

  describe('with one node down', () => {
    const keys = Array.from({ length: 3000 }, (_, i) => `/down/key-${i}`)
    const ownerIndex = (key: string): number => table.ranges.findIndex(r => r.owners[0].equals(table.primary(keySlot(key))))
    const failedKeys = (stderr: string): string[] => stderr.split('\n').filter(line => line.startsWith('failed: ')).map(line => unquote(line.slice('failed: '.length)))

    beforeAll(async () => {
      expect(await run(['put', '--batch'], keys.map(key => `${key} old`).join('\n') + '\n')).toMatchObject({ code: 0, stdout: 'stored 3000 keys\n' })
      const victim = nodes[1] as ServeProcess
      victim.child.kill('SIGKILL')
      await victim.exited
    })

    it('put --batch names every key it did not store, stores the others, and exits 1', async () => {
      const put = await run(['put', '--batch'], keys.map(key => `${key} new`).join('\n') + '\n')
      expect(put.code).toBe(1)
      const failed = failedKeys(put.stderr)
      const stored = Number(/^stored (\d+) keys\n$/.exec(put.stdout)?.[1])
      expect(stored + failed.length).toBe(keys.length)
      expect(new Set(failed).size).toBe(failed.length)
      expect(put.stderr).toMatch(new RegExp(`\ndatastore-cluster: ${failed.length} of 3000 keys failed \\(each listed above as "failed: KEY"\\): .*${table.ranges[1].owners[0].toString()}`))

      // every key of the dead node failed, and some of the live nodes' were stored
      expect(failed).toEqual(expect.arrayContaining(keys.filter(key => ownerIndex(key) === 1)))
      expect(stored).toBeGreaterThan(0)

      // exact: keys not listed hold the new value, listed keys on live nodes the old one
      const live = keys.filter(key => ownerIndex(key) !== 1)
      const got = await run(['get', '--batch'], live.join('\n') + '\n')
      expect(got).toMatchObject({ code: 0, stderr: '' })
      const failedSet = new Set(failed)
      expect(got.stdout).toBe(live.map(key => `${key} ${failedSet.has(key) ? 'old' : 'new'}`).join('\n') + '\n')
    })

    it('rm --batch and rm KEY... name every key they did not delete, and exit 1', async () => {
      const del = await run(['rm', '--batch'], keys.join('\n') + '\n')
      expect(del.code).toBe(1)
      const failed = failedKeys(del.stderr)
      expect(Number(/^deleted (\d+) keys\n$/.exec(del.stdout)?.[1]) + failed.length).toBe(keys.length)
      expect(failed).toEqual(expect.arrayContaining(keys.filter(key => ownerIndex(key) === 1)))

      // exact: of the live nodes' keys, the listed ones are still there, the others gone
      const live = keys.filter(key => ownerIndex(key) !== 1)
      const failedSet = new Set(failed)
      const left = await run(['get', '--batch'], live.join('\n') + '\n')
      expect(left.stdout.split('\n').slice(0, -1).map(line => line.split(' ')[0])).toEqual(live.filter(key => failedSet.has(key)))
      expect(left.stderr).toBe(live.filter(key => !failedSet.has(key)).map(key => `not found: ${key}\n`).join(''))

      const onDead = keys.find(key => ownerIndex(key) === 1) as string
      const onLive = keys.find(key => ownerIndex(key) === 0) as string
      const args = await run(['rm', onLive, onDead])
      expect(args.code).toBe(1)
      expect(args.stdout).toBe('')
      expect(failedKeys(args.stderr)).toEqual([onDead])
      expect(args.stderr).toMatch(/\ndatastore-cluster: 1 of 2 keys failed/)
    })
  })
})
