import { resolve } from 'node:path'
import { CONFIG_OPTION, PROGRAM, TIMEOUT_OPTION, configPath, integerOption, stringOption } from '../args.js'
import { withClient } from '../client.js'
import { CliError, EXIT, UsageError, messageOf } from '../errors.js'
import { parsePairLine, reportBatch, writeBatch } from '../batch.js'
import { readAll, readLines } from '../io.js'
import { parseKey } from '../keys.js'
import type { Command } from '../args.js'
import type { CliIO } from '../io.js'

/**
 * `put`: store one value, or many `KEY VALUE` lines
 */
export const put: Command = {
  name: 'put',
  summary: 'store a value (from an argument, a file or stdin), or many KEY VALUE lines',
  usage: 'put --config CLIENT_CONFIG KEY [VALUE] | put --config CLIENT_CONFIG --batch [--file FILE]',
  description: `
Store VALUE under KEY. Without VALUE, the value is the bytes of --file FILE,
or of stdin ("-" as VALUE also reads stdin). Keys are datastore keys:
"users/1" and "/users/1" are the same key.

With --batch, read lines "KEY VALUE" (the key runs to the first space or tab,
or is a JSON string such as "/my key"; the value is the rest of the line, as
UTF-8 text) from --file FILE or stdin and store them all, grouped per node;
prints the number stored. Empty lines are ignored; a line that is not
"KEY VALUE" is reported and skipped (exit code 1). If a node fails, put stops:
every key of the input that was not stored is printed on stderr as
"failed: KEY", and the exit code is 1. On SIGINT or SIGTERM it reads no
further, finishes the writes sent, and says up to which line it stored.`,
  options: {
    config: CONFIG_OPTION,
    file: { type: 'string', short: 'f', arg: 'FILE', help: 'read the value (or, with --batch, the lines) from FILE; "-" is stdin' },
    batch: { type: 'boolean', short: 'b', help: 'store many KEY VALUE lines' },
    timeout: TIMEOUT_OPTION
  },
  positionals: { min: 0, max: 2, name: 'KEY' },
  examples: [
    `${PROGRAM} put -c client.json greeting "hello world"`,
    `${PROGRAM} put -c client.json photo --file photo.jpg`,
    `echo hi | ${PROGRAM} put -c client.json greeting`,
    `printf 'a 1\\nb 2\\n' | ${PROGRAM} put -c client.json --batch`
  ],
  run: runPut
}

async function runPut (args: Parameters<Command['run']>[0], io: CliIO): Promise<number> {
  const file = configPath(args, io, 'put')
  const input = stringOption(args, 'file')
  const timeout = integerOption(args, 'timeout', 'put', { min: 1, max: 3_600_000 })

  if (args.values.batch === true) {
    if (args.positionals.length > 0) {
      throw new UsageError('--batch reads KEY VALUE lines; give no KEY or VALUE arguments', 'put')
    }

    const source = input == null || input === '-' ? undefined : resolve(io.cwd, input)

    return withClient(file, io, timeout, async ({ store }) => {
      const result = await writeBatch(io, { lines: readLines(io, source), parse: parsePairLine }, pair => pair.key, pairs => store.putMany(pairs))
      return reportBatch(io, 'stored', result)
    })
  }

  if (args.positionals.length === 0) {
    throw new UsageError('missing KEY', 'put')
  }

  const key = parseKey(args.positionals[0], 'KEY', 'put')
  const inline = args.positionals[1]

  if (inline != null && inline !== '-' && input != null) {
    throw new UsageError('give the value as VALUE or with --file, not both', 'put')
  }

  let value: Uint8Array

  if (inline != null && inline !== '-') {
    value = new TextEncoder().encode(inline)
  } else {
    const from = input == null || input === '-' ? undefined : resolve(io.cwd, input)

    if (from == null && io.stdin.isTTY === true) {
      throw new UsageError('missing VALUE: give it as an argument, with --file FILE, or on stdin', 'put')
    }

    try {
      value = await readAll(io, from)
    } catch (err) {
      throw new CliError(`cannot read ${from ?? 'stdin'}: ${messageOf(err)}`, EXIT.FAILED)
    }
  }

  return withClient(file, io, timeout, async ({ store }) => {
    await store.put(key, value)
    return EXIT.OK
  })
}
