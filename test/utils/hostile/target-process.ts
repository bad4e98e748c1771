/**
 * The test's handle on the target data node running in a child process
 * (see target.ts).
 */

import { fork } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { peerIdFromString } from '@libp2p/peer-id'
import { CommandChannel } from '../../../benchmarks/lib/ipc.js'
import type { TargetMemory, TargetPopulate, TargetStart } from './target.js'
import type { PeerId } from '@libp2p/interface'
import type { ChildProcess } from 'node:child_process'

const SCRIPT = fileURLToPath(new URL('./target.ts', import.meta.url))
const ROOT = fileURLToPath(new URL('../../../', import.meta.url))
const MiB = 1024 * 1024

export function mib (bytes: number): string {
  return `${(bytes / MiB).toFixed(1)} MiB`
}

export class TargetProcess {
  readonly child: ChildProcess
  peerId!: PeerId
  addrs: string[] = []
  /** The last lines the target wrote to stderr, for failure messages */
  private stderr = ''
  private readonly commands: CommandChannel
  exit?: { code: number | null, signal: NodeJS.Signals | null }

  private constructor (child: ChildProcess) {
    this.child = child
    this.commands = new CommandChannel(child, () => `target process ${child.pid}${this.exit == null ? '' : ` (its stderr ended with:\n${this.stderr})`}`)
    child.stderr?.on('data', (chunk: Buffer) => {
      process.stderr.write(chunk)
      this.stderr = (this.stderr + chunk.toString()).slice(-8000)
    })
    child.stdout?.on('data', (chunk: Buffer) => {
      process.stdout.write(chunk)
    })
    // before the command channel's own exit listener, so its errors carry the stderr
    child.prependListener('exit', (code, signal) => {
      this.exit = { code, signal }
    })
  }

  /**
   * Start `node --import tsx --expose-gc target.ts` with an IPC channel and
   * its libp2p node. `node` is the Node that runs this test (node_modules/.bin
   * under npm scripts and npx).
   */
  static async spawn (): Promise<TargetProcess> {
    const child = fork(SCRIPT, [], {
      cwd: ROOT,
      execPath: process.execPath,
      execArgv: ['--import', 'tsx', '--expose-gc'],
      stdio: ['ignore', 'pipe', 'pipe', 'ipc']
    })
    const target = new TargetProcess(child)

    await target.commands.ready.catch((err: Error) => {
      throw new Error(`${err.message}:\n${target.stderr}`)
    })

    const { peerId, addrs } = await target.call('init')
    target.peerId = peerIdFromString(peerId)
    target.addrs = addrs
    return target
  }

  get alive (): boolean {
    return this.exit == null && this.child.exitCode == null && this.child.signalCode == null
  }

  /** Why the target is not alive, for assertion messages */
  describeExit (): string {
    return this.exit == null ? 'alive' : `exited (code ${this.exit.code}, signal ${this.exit.signal}); stderr ended with:\n${this.stderr}`
  }

  async call (cmd: 'init'): Promise<{ peerId: string, addrs: string[] }>
  async call (cmd: 'start', args: TargetStart): Promise<null>
  async call (cmd: 'populate', args: TargetPopulate): Promise<null>
  async call (cmd: 'memory'): Promise<TargetMemory>
  async call (cmd: 'errors'): Promise<string[]>
  async call (cmd: 'stop'): Promise<null>
  async call (cmd: string, args?: unknown): Promise<any> {
    if (!this.alive) {
      throw new Error(`target process ${this.describeExit()}`)
    }

    return this.commands.call(cmd, args)
  }

  async memory (): Promise<TargetMemory> {
    return this.call('memory')
  }

  async errors (): Promise<string[]> {
    return this.call('errors')
  }

  async stop (): Promise<void> {
    if (!this.alive) return
    const exited = new Promise<void>(resolve => this.child.once('exit', () => { resolve() }))
    await this.call('stop').catch(() => {})
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5_000)
    await exited
    clearTimeout(timer)
  }
}

/**
 * Samples the target's memory (after GC) until stopped; keeps the largest
 * figures seen
 */
export class MemoryWatch {
  readonly samples: TargetMemory[] = []
  private running = true
  private readonly loop: Promise<void>

  constructor (private readonly target: TargetProcess, intervalMs = 250) {
    this.loop = (async () => {
      while (this.running && target.alive) {
        try {
          this.samples.push(await target.memory())
        } catch {
          return
        }

        await new Promise(resolve => setTimeout(resolve, intervalMs))
      }
    })()
  }

  /** Take one more sample now (the state at the end of an attack) */
  async sample (): Promise<void> {
    if (this.target.alive) {
      this.samples.push(await this.target.memory())
    }
  }

  async stop (): Promise<{ rss: number, arrayBuffers: number, heapUsed: number, maxRss: number }> {
    this.running = false
    await this.loop
    const max = (f: (m: TargetMemory) => number): number => Math.max(0, ...this.samples.map(f))
    return { rss: max(m => m.rss), arrayBuffers: max(m => m.arrayBuffers), heapUsed: max(m => m.heapUsed), maxRss: max(m => m.maxRss) }
  }
}
