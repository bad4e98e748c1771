/**
 * Commands over Node's IPC channel between a parent and a forked child: the
 * benchmark's data node processes and the hostile tests' target node both
 * use it. A command is `{ id, cmd, args }`; its answer `{ id, result }` or
 * `{ id, error }`; the child says `{ ready: true }` once it listens.
 */

import type { ChildProcess } from 'node:child_process'

export type Commands = Record<string, (args: any) => Promise<unknown>>

/** Child side: answer every command, exit with the parent, then say ready */
export function serveCommands (commands: Commands): void {
  process.on('message', (msg: { id: number, cmd: string, args: unknown }) => {
    const command = commands[msg.cmd]

    if (command == null) {
      process.send?.({ id: msg.id, error: `unknown command ${msg.cmd}` })
      return
    }

    command(msg.args).then(result => {
      process.send?.({ id: msg.id, result })
    }, (err: Error) => {
      process.send?.({ id: msg.id, error: err.stack ?? err.message })
    })
  })

  // the parent is gone: do not linger
  process.on('disconnect', () => process.exit(0))
  process.send?.({ ready: true })
}

/**
 * Parent side: commands to one child, each answered or failed when the
 * child exits. `describe` names the child in errors (and may add, say, the
 * end of its stderr).
 */
export class CommandChannel {
  private readonly child: ChildProcess
  private readonly describe: () => string
  private nextId = 0
  private readonly waiting = new Map<number, { resolve(v: any): void, reject(e: Error): void }>()
  /** Resolves once the child said it is ready; rejects if it exits first */
  readonly ready: Promise<void>

  constructor (child: ChildProcess, describe: () => string) {
    this.child = child
    this.describe = describe
    this.ready = new Promise<void>((resolve, reject) => {
      child.once('exit', code => { reject(new Error(`${describe()} exited with ${code} before it was ready`)) })
      child.on('message', (msg: { ready?: boolean }) => {
        if (msg?.ready === true) resolve()
      })
    })
    // observed by whoever awaits it; an exit after ready must not be unhandled
    this.ready.catch(() => {})

    child.on('message', (msg: { id?: number, result?: unknown, error?: string }) => {
      if (msg?.id == null) return
      const w = this.waiting.get(msg.id)
      this.waiting.delete(msg.id)

      if (msg.error != null) {
        w?.reject(new Error(`${describe()}: ${msg.error}`))
      } else {
        w?.resolve(msg.result)
      }
    })
    child.on('exit', (code, signal) => {
      for (const w of this.waiting.values()) {
        w.reject(new Error(`${describe()} exited (code ${code}, signal ${signal})`))
      }

      this.waiting.clear()
    })
  }

  async call (cmd: string, args?: unknown): Promise<any> {
    const id = this.nextId++
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject })
      this.child.send({ id, cmd, args })
    })
  }
}
