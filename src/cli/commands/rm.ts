import { resolve } from 'node:path'
import { CONFIG_OPTION, PROGRAM, TIMEOUT_OPTION, configPath, integerOption, stringOption } from '../args.js'
import { withClient } from '../client.js'
import { reportBatch, writeBatch } from '../batch.js'
import { UsageError } from '../errors.js'
import { readLines } from '../io.js'
import { parseKey, parseKeyLine } from '../keys.js'
import type { Command } from '../args.js'
import type { CliIO } from '../io.js'

/**
 * `rm`: delete keys
 */
export const rm: Command = {
  name: 'rm',
  summary: 'delete one or more keys',
  usage: 'rm --config CLIENT_CONFIG KEY... | rm --config CLIENT_CONFIG --batch [--file FILE]',
  description: `
Delete the given keys. Deleting a key that has no value is not an error.

With --batch, read the keys one per line (bare, or as JSON strings such as
"/my key", the form ls prints keys with spaces in) from --file FILE or stdin,
and print how many were deleted.

If a node fails, rm stops: every key given that was not deleted is printed on
stderr as "failed: KEY", and the exit code is 1.`,
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
      const result = await writeBatch(io, { lines: readLines(io, source), parse: parseKeyLine }, key => key, keys => store.deleteMany(keys))
      return reportBatch(io, 'deleted', result)
    })
  }

  if (args.values.file != null) {
    throw new UsageError('--file is for --batch; keys to delete are arguments', 'rm')
  }

  if (args.positionals.length === 0) {
    throw new UsageError('missing KEY', 'rm')
  }

  // checked before connecting: a bad argument is a usage error, not a failed key
  args.positionals.forEach((text, i) => parseKey(text, `KEY ${i + 1}`, 'rm'))

  return withClient(file, io, timeout, async ({ store }) => {
    const input = { lines: args.positionals, parse: (text: string, n: number) => parseKey(text, `KEY ${n}`) }
    // quiet on success, as rm is; a failure names each key left
    return reportBatch(io, undefined, await writeBatch(io, input, key => key, keys => store.deleteMany(keys)))
  })
}
