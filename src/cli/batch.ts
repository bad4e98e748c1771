/**
 * Many-key writes from lines of input (`put --batch`, `rm`), reported
 * exactly: the library yields each key once it is written, so every key of
 * the input that was not yielded is named as failed, never guessed at.
 */

import { PartialWriteError, UnavailableError } from '../errors.js'
import { clientError } from './client.js'
import { CliError, EXIT, messageOf } from './errors.js'
import { finishingOnInterrupt, keysWord, write } from './io.js'
import { formatKey, parseLine } from './keys.js'
import type { CliIO } from './io.js'
import type { Key, Pair } from 'interface-datastore'

/**
 * The items of a batch: a source of lines and how to read one
 */
export interface BatchInput<T> {
  /** Lines of input, in order */
  lines: AsyncIterable<string> | Iterable<string>
  /** The item on a line, undefined for a line to ignore; throws CliError for a bad line */
  parse(line: string, lineNumber: number): T | undefined
}

/**
 * What a batch did
 */
export interface BatchResult {
  /** Keys the store confirmed */
  done: number
  /** Keys of the input it did not confirm, each printed on stderr */
  failed: number
  /** Lines that could not be read as an item, each reported on stderr */
  skipped: number
  /** Why the store stopped, if it did */
  error?: CliError
  /** Set when SIGINT or SIGTERM stopped the reading: the lines after `line` were not read */
  interrupted?: { signal: 'SIGINT' | 'SIGTERM', line: number }
}

/**
 * Feed the input's items to `writeMany`, count the keys it yields, and, if it
 * fails, print `failed: KEY` on stderr for every key of the input it did not
 * yield (those in flight and those not read yet), and return the reason. Bad
 * lines are reported and skipped. On an interrupt (`io.interrupt`) it reads
 * no further, lets the writes sent finish, and says up to which line.
 */
export async function writeBatch<T> (io: CliIO, input: BatchInput<T>, keyOf: (item: T) => Key, writeMany: (items: AsyncIterable<T>) => AsyncIterable<Key>): Promise<BatchResult> {
  return finishingOnInterrupt(async () => writeUntilInterrupted(io, input, keyOf, writeMany))
}

async function writeUntilInterrupted<T> (io: CliIO, input: BatchInput<T>, keyOf: (item: T) => Key, writeMany: (items: AsyncIterable<T>) => AsyncIterable<Key>): Promise<BatchResult> {
  const lines = toAsyncIterator(input.lines)
  const interrupt = io.interrupt
  const interrupted = interrupt == null
    ? undefined
    : new Promise<'interrupted'>(resolve => {
      interrupt.addEventListener('abort', () => { resolve('interrupted') }, { once: true })
    })
  // keys handed to the store and not yet confirmed, in input order, with how often
  const pending = new Map<string, number>()
  const result: BatchResult = { done: 0, failed: 0, skipped: 0 }
  let lineNumber = 0
  let readFailed = false

  const next = async (): Promise<T | undefined> => {
    for (;;) {
      let line: IteratorResult<string> | 'interrupted'

      if (interrupt?.aborted === true) {
        line = 'interrupted'
      } else {
        try {
          const read = lines.next()
          // a read still waiting for input when the interrupt comes is dropped, and its failure with it
          read.catch(() => {})
          line = interrupted == null ? await read : await Promise.race([read, interrupted])
        } catch (err) {
          readFailed = true
          throw err
        }
      }

      if (line === 'interrupted') {
        result.interrupted = { signal: interrupt?.reason === 'SIGTERM' ? 'SIGTERM' : 'SIGINT', line: lineNumber }
        return undefined
      }

      if (line.done === true) {
        return undefined
      }

      lineNumber++

      try {
        const item = input.parse(line.value, lineNumber)

        if (item !== undefined) {
          return item
        }
      } catch (err) {
        if (!(err instanceof CliError)) {
          throw err
        }

        result.skipped++
        await write(io.stderr, `${err.message}; skipped\n`)
      }
    }
  }

  // not a generator over `lines` itself: the store stopping early must not close the input, whose rest is still to be listed
  const items = async function * (): AsyncGenerator<T> {
    for (let item = await next(); item !== undefined; item = await next()) {
      const key = keyOf(item).toString()
      pending.set(key, (pending.get(key) ?? 0) + 1)
      yield item
    }
  }

  try {
    for await (const key of writeMany(items())) {
      result.done++
      const text = key.toString()
      const left = (pending.get(text) ?? 1) - 1

      if (left === 0) {
        pending.delete(text)
      } else {
        pending.set(text, left)
      }
    }
  } catch (err) {
    const failed = async (key: string): Promise<void> => {
      result.failed++
      await write(io.stderr, `failed: ${formatKey(key)}\n`)
    }

    // a key given twice and confirmed once failed once
    for (const [key, times] of pending) {
      for (let i = 0; i < times; i++) {
        await failed(key)
      }
    }

    if (!readFailed && result.interrupted == null) {
      for (let item = await next(); item !== undefined; item = await next()) {
        await failed(keyOf(item).toString())
      }
    }

    result.error = new CliError(`${result.failed} of ${keysWord(result.done + result.failed)} failed (each listed above as "failed: KEY"): ${reason(err)}`, EXIT.FAILED, { cause: err })
  } finally {
    if (result.interrupted == null) {
      await lines.return?.()
    } else {
      // a read may still wait for input that never comes: the process exits without it
      void lines.return?.()?.catch(() => {})
    }
  }

  return result
}

/**
 * Print `<verb> N keys` (unless `verb` is undefined) and resolve to the exit
 * code; a failure, an interrupt or skipped lines are thrown as a CliError
 */
export async function reportBatch (io: CliIO, verb: string | undefined, result: BatchResult): Promise<number> {
  if (result.interrupted != null) {
    // stdout takes no more output after a signal: the count goes with the message
    const { signal, line } = result.interrupted
    const done = `${verb ?? 'done'}: ${keysWord(result.done)}`
    const failed = result.error != null ? `; ${result.error.message}` : ''
    throw new CliError(`interrupted by ${signal} after line ${line} of the input, whose later lines were not read; ${done}${failed}`, EXIT[signal])
  }

  if (verb != null) {
    await write(io.stdout, `${verb} ${keysWord(result.done)}\n`)
  }

  if (result.error != null) {
    throw result.error
  }

  if (result.skipped > 0) {
    throw new CliError(`${result.skipped} line${result.skipped === 1 ? '' : 's'} skipped (each reported above)`, EXIT.FAILED)
  }

  return EXIT.OK
}

/** `KEY VALUE` lines; empty lines are ignored */
export function parsePairLine (line: string, lineNumber: number): Pair | undefined {
  return line === '' ? undefined : parseLine(line, lineNumber)
}

/**
 * Why a many-key write failed, without the library's pointers to
 * `error.failed` (the keys are listed instead)
 */
function reason (err: unknown): string {
  if (!(err instanceof PartialWriteError)) {
    return messageOf(clientError(err))
  }

  const causes = [...new Set(err.errors.map(messageOf))].join('; ')
  // an owner that timed out may have applied its share after all
  const unsure = err.errors.some(e => e instanceof UnavailableError) ? ' (a node that did not answer may have written some of its keys: read them back to know)' : ''
  return `${causes}${unsure}`
}

function toAsyncIterator<T> (source: AsyncIterable<T> | Iterable<T>): AsyncIterator<T> {
  return Symbol.asyncIterator in source ? source[Symbol.asyncIterator]() : (async function * () { yield * source })()
}
