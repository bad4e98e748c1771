/**
 * Runs the `datastore-cluster` command as users get it: the bin script over
 * the compiled CLI, in child processes of the same Node as the tests.
 *
 * The package is compiled with the build config into a temporary copy of
 * its layout (dist/, bin/, package.json, a link to node_modules) rather than
 * into the repository's dist/, which may be missing or older than src/.
 * One copy serves every test file while the sources stay the same.
 */

import { execFile, spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync } from 'node:fs'
import { access, cp, mkdir, readFile, readdir, rm, stat, symlink, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { PassThrough, Readable } from 'node:stream'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { writeKeyFile } from '../../../src/cli/config.js'
import type { NodeConfigJSON } from '../../../src/cli/config.js'
import type { ChildProcess } from 'node:child_process'

const ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '../../..')

/** The result of one command */
export interface CliResult {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
}

/**
 * A compiled copy of the package
 */
export interface BuiltCli {
  /** Path of bin/datastore-cluster.js in the copy */
  bin: string
  /** Remove the copy */
  cleanup(): Promise<void>
}

/**
 * Milliseconds for a beforeAll that builds the CLI: the first file to build
 * compiles the project, which on a loaded machine takes longer than a test
 */
export const BUILD_TIMEOUT = 180_000

/** Prefix of the build directories in the system's temp directory */
const BUILD_PREFIX = 'datastore-cluster-cli-'
/** A build older than this, of sources since changed, is removed by the next build */
const STALE_BUILD_MS = 60 * 60 * 1000

/**
 * Compile the package into a temporary directory, once per state of the
 * sources: the CLI test files (running in parallel workers, and in later
 * runs) share it, since compiling the project once per file costs more than
 * the tests. Call it in beforeAll.
 */
export async function buildCli (): Promise<BuiltCli> {
  const dir = join(tmpdir(), `${BUILD_PREFIX}${await sourcesHash()}`)
  const bin = join(dir, 'bin', 'datastore-cluster.js')
  const ready = join(dir, 'ready')

  while (!existsSync(ready)) {
    if (await takeLock(`${dir}.lock`)) {
      try {
        await compileInto(dir)
        await writeFile(ready, '')
      } finally {
        await rm(`${dir}.lock`, { recursive: true, force: true })
      }

      await removeStaleBuilds(dir)
    } else {
      // another worker is compiling the same sources
      await new Promise(resolve => setTimeout(resolve, 250))
    }
  }

  return {
    bin,
    async cleanup () {
      // kept for the other test files; a later build removes it once stale
    }
  }
}

async function compileInto (dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true })
  await mkdir(dir, { recursive: true })
  const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc')

  const output = await new Promise<string>((resolve) => {
    execFile(process.execPath, [tsc, '-p', join(ROOT, 'tsconfig.build.json'), '--outDir', join(dir, 'dist')], { cwd: ROOT }, (_err, stdout, stderr) => {
      // type errors elsewhere in src still emit JavaScript; the type check
      // of `npm test` reports them, here only the output matters
      resolve(`${stdout}${stderr}`)
    })
  })

  try {
    await access(join(dir, 'dist', 'src', 'cli', 'index.js'))
  } catch {
    throw new Error(`compiling the CLI produced no dist/src/cli/index.js:\n${output}`)
  }

  await cp(join(ROOT, 'bin'), join(dir, 'bin'), { recursive: true })
  await cp(join(ROOT, 'package.json'), join(dir, 'package.json'))
  await symlink(join(ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir')
}

/** What the build depends on: every file under src/ and bin/, and the configs, by path, size and mtime */
async function sourcesHash (): Promise<string> {
  const hash = createHash('sha256')
  const files = [
    ...(await readdir(join(ROOT, 'src'), { recursive: true })).map(f => join('src', f)),
    ...(await readdir(join(ROOT, 'bin'), { recursive: true })).map(f => join('bin', f)),
    'package.json', 'tsconfig.json', 'tsconfig.build.json'
  ].sort()

  for (const file of files) {
    const info = await stat(join(ROOT, file))
    hash.update(`${file}\0${info.size}\0${info.mtimeMs}\0`)
  }

  return hash.digest('hex').slice(0, 16)
}

/** Take a lock directory; a lock left by a compile that died long ago is taken over */
async function takeLock (lock: string): Promise<boolean> {
  try {
    await mkdir(lock)
    return true
  } catch {
    const info = await stat(lock).catch(() => undefined)

    if (info != null && Date.now() - info.mtimeMs > 10 * 60 * 1000) {
      await rm(lock, { recursive: true, force: true })
    }

    return false
  }
}

async function removeStaleBuilds (current: string): Promise<void> {
  for (const name of await readdir(tmpdir())) {
    const dir = join(tmpdir(), name)

    if (!name.startsWith(BUILD_PREFIX) || name.endsWith('.lock') || dir === current) {
      continue
    }

    const info = await stat(join(dir, 'ready')).catch(() => undefined)

    if (info != null && Date.now() - info.mtimeMs > STALE_BUILD_MS) {
      await rm(dir, { recursive: true, force: true })
    }
  }
}

/**
 * The `init` arguments for one owner per slot range, for tests whose point
 * is what a single owner's failure does. Empty when this build's `init`
 * has no `--replicas` (one owner is then all it makes).
 */
export async function oneOwnerPerRange (bin: string): Promise<string[]> {
  const help = await runCli(bin, ['init', '--help'])
  return help.stdout.includes('--replicas') ? ['--replicas', '1'] : []
}

/**
 * Options of one command run
 */
export interface RunOptions {
  /** Bytes for stdin; stdin is closed either way */
  input?: string | Uint8Array
  cwd?: string
  env?: Record<string, string>
}

/**
 * Run the command to completion
 */
export async function runCli (bin: string, args: string[], options: RunOptions = {}): Promise<CliResult> {
  const child = spawn(process.execPath, [bin, ...args], {
    cwd: options.cwd,
    env: { ...process.env, ...options.env },
    stdio: ['pipe', 'pipe', 'pipe']
  })
  const stdout: Buffer[] = []
  const stderr: Buffer[] = []
  child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk))
  child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk))
  child.stdin.on('error', () => {})
  child.stdin.end(options.input)

  return new Promise((resolve, reject) => {
    child.on('error', reject)
    child.on('close', (code, signal) => {
      resolve({ code, signal, stdout: Buffer.concat(stdout).toString('utf8'), stderr: Buffer.concat(stderr).toString('utf8') })
    })
  })
}

/**
 * Run the command and return its stdout as bytes (for binary values)
 */
export async function runCliBytes (bin: string, args: string[], options: RunOptions = {}): Promise<{ code: number | null, stdout: Buffer, stderr: string }> {
  const child = spawn(process.execPath, [bin, ...args], { cwd: options.cwd, env: { ...process.env, ...options.env } })
  const stdout: Buffer[] = []
  const stderr: Buffer[] = []
  child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk))
  child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk))
  child.stdin.end(options.input)

  return new Promise((resolve, reject) => {
    child.on('error', reject)
    child.on('close', (code) => {
      resolve({ code, stdout: Buffer.concat(stdout), stderr: Buffer.concat(stderr).toString('utf8') })
    })
  })
}

/**
 * A running `serve` process
 */
export interface ServeProcess {
  child: ChildProcess
  pid: number
  /** Everything printed so far */
  stdout(): string
  stderr(): string
  /** Resolves when the process has exited */
  exited: Promise<{ code: number | null, signal: NodeJS.Signals | null }>
}

/**
 * Start `serve --config file` and wait until it prints "ready"
 *
 * @throws if the process exits before it is ready
 */
export async function startServe (bin: string, config: string, extraArgs: string[] = []): Promise<ServeProcess> {
  const child = spawn(process.execPath, [bin, 'serve', '--config', config, ...extraArgs], { stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8')
  child.stderr.setEncoding('utf8')
  child.stderr.on('data', (chunk: string) => { stderr += chunk })

  const exited = new Promise<{ code: number | null, signal: NodeJS.Signals | null }>((resolve) => {
    child.on('close', (code, signal) => { resolve({ code, signal }) })
  })

  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (chunk: string) => {
      stdout += chunk

      if (/^ready: /m.test(stdout)) {
        resolve()
      }
    })
    exited.then(({ code, signal }) => {
      reject(new Error(`serve ${config} exited before it was ready (code ${code}, signal ${signal}):\n${stdout}\n${stderr}`))
    }, reject)
  })

  return {
    child,
    pid: child.pid as number,
    stdout: () => stdout,
    stderr: () => stderr,
    exited
  }
}

/**
 * A base port with `count` consecutive free ports on 127.0.0.1. The ports
 * are only checked, not held, so another program could still take one.
 */
export async function freeBasePort (count: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20000 + Math.floor(Math.random() * 40000)
    let free = true

    for (let i = 0; i < count && free; i++) {
      free = await isFree(base + i)
    }

    if (free) {
      return base
    }
  }

  throw new Error(`found no ${count} consecutive free ports`)
}

async function isFree (port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer()
    server.once('error', () => { resolve(false) })
    server.listen(port, '127.0.0.1', () => {
      server.close(() => { resolve(true) })
    })
  })
}

/**
 * Run `main()` in this process with captured streams: for commands that do
 * not serve, much faster than a child process
 */
export async function runMain (argv: string[], options: { input?: string, cwd?: string, env?: Record<string, string> } = {}): Promise<{ code: number, stdout: string, stderr: string }> {
  const { main } = await import('../../../src/cli/index.js')
  const stdout = new PassThrough()
  const stderr = new PassThrough()
  let out = ''
  let err = ''
  stdout.setEncoding('utf8').on('data', (chunk: string) => { out += chunk })
  stderr.setEncoding('utf8').on('data', (chunk: string) => { err += chunk })

  const code = await main(argv, {
    stdin: Readable.from(options.input != null ? [Buffer.from(options.input)] : []),
    stdout,
    stderr,
    env: options.env ?? {},
    cwd: options.cwd ?? process.cwd()
  })

  return { code, stdout: out, stderr: err }
}

/**
 * A config for a node to add to an `init`ed cluster in `dir`: a copy of
 * `template` (a node config of it) with its own key, port and LevelDB store,
 * written as `node-<n>.json`
 */
export async function newNodeConfig (dir: string, template: string, n: number): Promise<{ config: string, id: string, addr: string }> {
  const key = await generateKeyPair('Ed25519')
  const id = peerIdFromPrivateKey(key).toString()
  const port = await freeBasePort(1)
  const config = JSON.parse(await readFile(template, 'utf8')) as NodeConfigJSON
  await writeKeyFile(join(dir, `node-${n}.key`), key)
  const addr = `/ip4/127.0.0.1/tcp/${port}`
  const file = join(dir, `node-${n}.json`)
  await writeFile(file, JSON.stringify({ ...config, peerId: id, privateKeyFile: `node-${n}.key`, listen: [addr], store: { type: 'level', path: `node-${n}.data` } }, null, 2))
  return { config: file, id, addr }
}
