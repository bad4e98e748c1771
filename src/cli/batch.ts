/**
 * Many-key writes from lines of input (`put --batch`, `rm`), reported
 * exactly: the library yields each key once it is written, so every key of
 * the input that was not yielded is named as failed, never guessed at.
 */

import { PartialWriteError, UnavailableError } from '../errors.js'
import { clientError } from './client.js'
import { CliError, EXIT, messageOf } from './errors.js'
import { keysWord, write } from './io.js'
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
}

/**
 * Feed the input's items to `writeMany`, count the keys it yields, and, if it
 * fails, print `failed: KEY` on stderr for every key of the input it did not
 * yield (those in flight and those not read yet), and return the reason. Bad
 * lines are reported and skipped.
 */
export async function writeBatch<T> (io: CliIO, input: BatchInput<T>, keyOf: (item: T) => Key, writeMany: (items: AsyncIterable<T>) => AsyncIterable<Key>): Promise<BatchResult> {
  const lines = toAsyncIterator(input.lines)
  // keys handed to the store and not yet confirmed, in input order, with how often
  const pending = new Map<string, number>()
  const result: BatchResult = { done: 0, failed: 0, skipped: 0 }
  let lineNumber = 0
  let readFailed = false

  const next = async (): Promise<T | undefined> => {
    for (;;) {
      let line: IteratorResult<string>

      try {
        line = await lines.next()
      } catch (err) {
        readFailed = true
        throw err
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

    if (!readFailed) {
      for (let item = await next(); item !== undefined; item = await next()) {
        await failed(keyOf(item).toString())
      }
    }

    result.error = new CliError(`${result.failed} of ${keysWord(result.done + result.failed)} failed (each listed above as "failed: KEY"): ${reason(err)}`, EXIT.FAILED, { cause: err })
  } finally {
    await lines.return?.()
  }

  return result
}

/**
 * Print `<verb> N keys` and resolve to the exit code; a failure or skipped
 * lines are thrown as a CliError
 */
export async function reportBatch (io: CliIO, verb: string, result: BatchResult): Promise<number> {
  await write(io.stdout, `${verb} ${keysWord(result.done)}\n`)

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
