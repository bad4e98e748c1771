import { resolve } from 'node:path'
import { CONFIG_OPTION, PROGRAM, TIMEOUT_OPTION, configPath, integerOption, stringOption } from '../args.js'
import { withClient } from '../client.js'
import { CliError, EXIT, UsageError, messageOf } from '../errors.js'
import { count, keysWord, readLines, write } from '../io.js'
import { parseKey } from '../keys.js'
import type { Command } from '../args.js'
import type { CliIO } from '../io.js'
import type { Key } from 'interface-datastore'

/**
 * `rm`: delete keys
 */
export const rm: Command = {
  name: 'rm',
  summary: 'delete one or more keys',
  usage: 'rm --config CLIENT_CONFIG KEY... | rm --config CLIENT_CONFIG --batch [--file FILE]',
  description: `
Delete the given keys. Deleting a key that has no value is not an error.

With --batch, read the keys one per line from --file FILE or stdin, and print
how many were deleted.`,
  options: {
    config: CONFIG_OPTION,
    batch: { type: 'boolean', short: 'b', help: 'read the keys one per line' },
    file: { type: 'string', short: 'f', arg: 'FILE', help: 'with --batch: read the keys from FILE instead of stdin' },
    timeout: TIMEOUT_OPTION
  },
  positionals: { min: 0, max: Number.MAX_SAFE_INTEGER, name: 'KEY' },
  examples: [
    `${PROGRAM} rm -c client.json greeting`,
    `${PROGRAM} ls -c client.json /tmp | ${PROGRAM} rm -c client.json --batch`
  ],
  run: runRm
}

async function runRm (args: Parameters<Command['run']>[0], io: CliIO): Promise<number> {
  const file = configPath(args, io, 'rm')
  const timeout = integerOption(args, 'timeout', 'rm', { min: 1, max: 3_600_000 })

  if (args.values.batch === true) {
    if (args.positionals.length > 0) {
      throw new UsageError('--batch reads the keys from stdin or --file; give no KEY arguments', 'rm')
    }

    const input = stringOption(args, 'file')
    const source = input == null || input === '-' ? undefined : resolve(io.cwd, input)

    return withClient(file, io, timeout, async ({ store }) => {
      await write(io.stdout, `deleted ${keysWord(await count(store.deleteMany(keyLines(io, source))))}\n`)
      return EXIT.OK
    })
  }

  if (args.values.file != null) {
    throw new UsageError('--file is for --batch; keys to delete are arguments', 'rm')
  }

  if (args.positionals.length === 0) {
    throw new UsageError('missing KEY', 'rm')
  }

  const keys = args.positionals.map((text, i) => parseKey(text, `KEY ${i + 1}`, 'rm'))

  return withClient(file, io, timeout, async ({ store }) => {
    if (keys.length === 1) {
      await store.delete(keys[0])
    } else {
      for await (const _ of store.deleteMany(keys)) {
        // drained for its effect
      }
    }

    return EXIT.OK
  })
}

async function * keyLines (io: CliIO, file?: string): AsyncGenerator<Key> {
  let n = 0

  try {
    for await (const line of readLines(io, file)) {
      n++

      if (line.trim() !== '') {
        yield parseKey(line.trim(), `line ${n}`)
      }
    }
  } catch (err) {
    if (err instanceof CliError) {
      throw err
    }

    throw new CliError(`cannot read ${file ?? 'stdin'}: ${messageOf(err)}`, EXIT.FAILED)
  }
}
