/**
 * The process streams a command talks through. Commands get them passed in,
 * so tests can run a command in-process and read what it printed.
 */

import { once } from 'node:events'
import { createReadStream } from 'node:fs'
import { createInterface } from 'node:readline'
import type { Readable, Writable } from 'node:stream'

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
}

/**
 * The real process streams
 */
export function processIO (): CliIO {
  return { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr, env: process.env, cwd: process.cwd() }
}

/**
 * Write and wait while the stream's buffer is full, so a large output to a
 * slow reader does not pile up in memory
 */
export async function write (stream: Writable, data: string | Uint8Array): Promise<void> {
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
 * The lines of a file, or of stdin when `file` is undefined or `-`. Trailing
 * `\r` is dropped, so files written on Windows read the same.
 */
export async function * readLines (io: CliIO, file?: string): AsyncGenerator<string> {
  const input = file == null || file === '-' ? io.stdin : createReadStream(file)
  const lines = createInterface({ input, crlfDelay: Infinity })

  try {
    for await (const line of lines) {
      yield line
    }
  } finally {
    lines.close()
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
