import { writeFile } from 'node:fs/promises'
import { resolve } from 'node:path'
import { NotFoundError } from 'interface-store'
import { CONFIG_OPTION, PROGRAM, TIMEOUT_OPTION, configPath, integerOption, stringOption } from '../args.js'
import { withClient } from '../client.js'
import { CliError, EXIT, UsageError } from '../errors.js'
import { LineWriter, readLines, write } from '../io.js'
import { formatKey, parseKey, parseKeyLine, valueAsLine } from '../keys.js'
import type { Command } from '../args.js'
import type { CliIO } from '../io.js'
import type { ClusterDatastore } from '../../datastore/cluster-datastore.js'
import type { Key } from 'interface-datastore'

/** Gets of a batch in flight at once: they are pipelined on one stream per node */
const BATCH_WINDOW = 256

/**
 * `get`: print one value, or many as KEY VALUE lines
 */
export const get: Command = {
  name: 'get',
  summary: 'print the value of a key, or of many keys as KEY VALUE lines',
  usage: 'get --config CLIENT_CONFIG KEY [--output FILE] | get --config CLIENT_CONFIG --batch [--file FILE]',
  description: `
Print the value of KEY to stdout, byte for byte (no newline is added), or
write it to --output FILE. Exits 4 if KEY has no value.

With --batch, read keys one per line from --file FILE or stdin and print
"KEY VALUE" lines in the same order - the format put --batch reads. A key
with spaces, tabs, line breaks or control characters is printed (and read) as
a JSON string, e.g. "/my key". Keys without a value are reported on stderr and the exit code is then 4; values
that are not one line of UTF-8 text are reported and skipped (exit code 1;
read them with get KEY).`,
  options: {
    config: CONFIG_OPTION,
    output: { type: 'string', short: 'o', arg: 'FILE', help: 'write the value to FILE instead of stdout' },
    batch: { type: 'boolean', short: 'b', help: 'read keys one per line, print KEY VALUE lines' },
    file: { type: 'string', short: 'f', arg: 'FILE', help: 'with --batch: read the keys from FILE instead of stdin' },
    timeout: TIMEOUT_OPTION
  },
  positionals: { min: 0, max: 1, name: 'KEY' },
  examples: [
    `${PROGRAM} get -c client.json greeting`,
    `${PROGRAM} get -c client.json photo --output photo.jpg`,
    `${PROGRAM} ls -c client.json /users | ${PROGRAM} get -c client.json --batch`
  ],
  run: runGet
}

async function runGet (args: Parameters<Command['run']>[0], io: CliIO): Promise<number> {
  const file = configPath(args, io, 'get')
  const timeout = integerOption(args, 'timeout', 'get', { min: 1, max: 3_600_000 })

  if (args.values.batch === true) {
    if (args.positionals.length > 0 || args.values.output != null) {
      throw new UsageError('--batch reads the keys from stdin or --file and prints to stdout; give no KEY and no --output', 'get')
    }

    const input = stringOption(args, 'file')
    const source = input == null || input === '-' ? undefined : resolve(io.cwd, input)

    return withClient(file, io, timeout, async ({ store }) => getBatch(store, io, source))
  }

  if (args.values.file != null) {
    throw new UsageError('--file is for --batch; the key of a single get is an argument', 'get')
  }

  if (args.positionals.length === 0) {
    throw new UsageError('missing KEY', 'get')
  }

  const key = parseKey(args.positionals[0], 'KEY', 'get')
  const output = stringOption(args, 'output')

  return withClient(file, io, timeout, async ({ store }) => {
    const value = await store.get(key)

    if (output != null) {
      await writeFile(resolve(io.cwd, output), value)
    } else {
      await write(io.stdout, value)
    }

    return EXIT.OK
  })
}

async function getBatch (store: ClusterDatastore, io: CliIO, source: string | undefined): Promise<number> {
  const out = new LineWriter(io.stdout)
  let missing = 0
  let unprintable = 0
  let skipped = 0
  let window: Array<{ key: Key, value: Promise<Uint8Array> }> = []

  const drain = async (): Promise<void> => {
    for (const { key, value } of window) {
      try {
        const line = valueAsLine(await value)

        if (line == null) {
          unprintable++
          io.stderr.write(`${formatKey(key)}: the value is not one line of UTF-8 text, skipped (read it with get ${shellWord(key.toString())})\n`)
          continue
        }

        await out.line(`${formatKey(key)} ${line}`)
      } catch (err) {
        if (err instanceof NotFoundError || (err as Error | undefined)?.name === 'NotFoundError') {
          missing++
          io.stderr.write(`not found: ${formatKey(key)}\n`)
          continue
        }

        throw err
      }
    }

    window = []
  }

  let n = 0

  for await (const line of readLines(io, source)) {
    n++
    let key: Key | undefined

    try {
      key = parseKeyLine(line, n)
    } catch (err) {
      if (!(err instanceof CliError)) {
        throw err
      }

      skipped++
      io.stderr.write(`${err.message}; skipped\n`)
    }

    if (key == null) {
      continue
    }

    const value = store.get(key)
    // awaited in order by drain(); a rejection must not count as unhandled meanwhile
    value.catch(() => {})
    window.push({ key, value })

    if (window.length >= BATCH_WINDOW) {
      await drain()
    }
  }

  await drain()
  await out.flush()

  if (missing > 0) {
    return EXIT.NOT_FOUND
  }

  return unprintable > 0 || skipped > 0 ? EXIT.FAILED : EXIT.OK
}

/** `text` as one word for a POSIX shell, for a command line to copy */
function shellWord (text: string): string {
  return /^[\w/.:@%+=,-]+$/.test(text) ? text : `'${text.replaceAll("'", "'\\''")}'`
}
