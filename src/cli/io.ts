/**
 * The process streams a command talks through. Commands get them passed in,
 * so tests can run a command in-process and read what it printed.
 */

import { once } from 'node:events'
import { createReadStream } from 'node:fs'
import { CliError, EXIT, InterruptedError, messageOf } from './errors.js'
import type { Readable, Writable } from 'node:stream'

/** Streams that take no more writes, and the signal that stopped them */
const stopped = new WeakMap<Writable, 'SIGINT' | 'SIGTERM'>()

/**
 * The streams and environment of one command run
 */
export interface CliIO {
  stdin: Readable & { isTTY?: boolean }
  stdout: Writable & { isTTY?: boolean }
  stderr: Writable
  env: Record<string, string | undefined>
  /** Directory relative paths on the command line are resolved from */
  cwd: string
  /** Aborted, with the signal's name as its reason, when the process gets SIGINT or SIGTERM */
  interrupt?: AbortSignal
}

/** How many command parts are running that wrap up by themselves on an interrupt */
let finishing = 0

/**
 * Run `work`, which on an interrupt (`io.interrupt`) stops by itself and says
 * what it did: meanwhile the signal does not end the process at once
 */
export async function finishingOnInterrupt<T> (work: () => Promise<T>): Promise<T> {
  finishing++

  try {
    return await work()
  } finally {
    finishing--
  }
}

/** Whether an interrupt now is left to the command (see finishingOnInterrupt) */
export function finishesOnInterrupt (): boolean {
  return finishing > 0
}

/**
 * The real process streams
 */
export function processIO (): CliIO {
  return { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr, env: process.env, cwd: process.cwd() }
}

/**
 * Refuse every later write to `stream` with an InterruptedError. What was
 * written before is whole (lines are written whole), so output that stops
 * here never ends mid-line.
 */
export function stopWrites (stream: Writable, signal: 'SIGINT' | 'SIGTERM'): void {
  stopped.set(stream, signal)
}

/**
 * Write and wait while the stream's buffer is full, so a large output to a
 * slow reader does not pile up in memory
 */
export async function write (stream: Writable, data: string | Uint8Array): Promise<void> {
  const signal = stopped.get(stream)

  if (signal != null) {
    throw new InterruptedError(signal)
  }

  if (stream.destroyed) {
    throw Object.assign(new Error('the output was closed'), { code: 'EPIPE' })
  }

  if (!stream.write(data)) {
    await once(stream, 'drain')
  }
}

/**
 * Resolves once everything written so far has been handed to the OS
 */
export async function flush (stream: Writable): Promise<void> {
  if (stream.destroyed) {
    return
  }

  await new Promise<void>((resolve) => {
    // resolves on error too: there is nothing left to wait for
    stream.write('', () => { resolve() })
  })
}

/**
 * Collects output lines and writes them in blocks: ten thousand separate
 * writes to a pipe cost more than the work that produced them
 */
export class LineWriter {
  private readonly stream: Writable
  private buffer: string[]
  private size: number

  constructor (stream: Writable) {
    this.stream = stream
    this.buffer = []
    this.size = 0
  }

  async line (text: string): Promise<void> {
    this.buffer.push(text)
    this.size += text.length + 1

    if (this.size >= 64 * 1024) {
      await this.flush()
    }
  }

  async flush (): Promise<void> {
    if (this.buffer.length === 0) {
      return
    }

    const text = this.buffer.join('\n') + '\n'
    this.buffer = []
    this.size = 0
    await write(this.stream, text)
  }
}

/**
 * The lines of a file, or of stdin when `file` is undefined or `-`. Lines
 * end at LF; a CR before it is dropped, so files written on Windows read the
 * same. Nothing else ends a line (readline would also split at a lone CR and
 * at U+2028/U+2029, which a JSON-quoted key may hold). A read error is
 * thrown as a CliError naming the input.
 */
export async function * readLines (io: CliIO, file?: string): AsyncGenerator<string> {
  const input: Readable = file == null || file === '-' ? io.stdin : createReadStream(file)
  const decoder = new TextDecoder()
  const line = (text: string): string => text.endsWith('\r') ? text.slice(0, -1) : text
  let rest = ''

  try {
    for await (const chunk of input) {
      const text = rest + (typeof chunk === 'string' ? chunk : decoder.decode(chunk as Uint8Array, { stream: true }))
      let start = 0

      for (let end = text.indexOf('\n'); end !== -1; end = text.indexOf('\n', start)) {
        yield line(text.slice(start, end))
        start = end + 1
      }

      rest = text.slice(start)
    }
  } catch (err) {
    throw new CliError(`cannot read ${file == null || file === '-' ? 'stdin' : file}: ${messageOf(err)}`, EXIT.FAILED, { cause: err })
  } finally {
    // a reader that stops early leaves the file open otherwise
    input.destroy()
  }

  rest += decoder.decode()

  if (rest !== '') {
    yield line(rest)
  }
}

/**
 * All bytes of a file, or of stdin when `file` is undefined or `-`
 */
export async function readAll (io: CliIO, file?: string): Promise<Uint8Array> {
  const input: Readable = file == null || file === '-' ? io.stdin : createReadStream(file)
  const chunks: Uint8Array[] = []

  for await (const chunk of input) {
    chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk as Uint8Array)
  }

  return Buffer.concat(chunks)
}

/** Read `items` to the end and return how many there were */
export async function count (items: AsyncIterable<unknown> | Iterable<unknown>): Promise<number> {
  let n = 0

  for await (const _ of items) {
    n++
  }

  return n
}

/** "1 key" / "2 keys" */
export function keysWord (n: number): string {
  return `${n} key${n === 1 ? '' : 's'}`
}
