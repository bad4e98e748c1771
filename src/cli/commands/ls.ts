import { CONFIG_OPTION, PROGRAM, TIMEOUT_OPTION, configPath, integerOption } from '../args.js'
import { withClient } from '../client.js'
import { EXIT } from '../errors.js'
import { count, LineWriter, write } from '../io.js'
import { formatKey } from '../keys.js'
import type { Command } from '../args.js'
import type { CliIO } from '../io.js'

/**
 * `ls`: list keys
 */
export const ls: Command = {
  name: 'ls',
  summary: 'list the keys (under a prefix) across all nodes',
  usage: 'ls --config CLIENT_CONFIG [PREFIX] [--count] [--unsorted]',
  description: `
Print every key of the cluster that starts with PREFIX (default: all keys),
one per line, sorted. A key with spaces, tabs, line breaks or control
characters is printed as a JSON string ("/my key"), which get --batch and
rm --batch read back as the same key. PREFIX is a string prefix of the key: "users" and
"/users" both match /users/1 and /usersettings. Every node must answer;
if one is down, ls fails naming it.`,
  options: {
    config: CONFIG_OPTION,
    count: { type: 'boolean', help: 'print only the number of keys' },
    unsorted: { type: 'boolean', short: 'u', help: 'print keys as the nodes send them, without collecting them to sort' },
    timeout: TIMEOUT_OPTION
  },
  positionals: { min: 0, max: 1, name: 'PREFIX' },
  examples: [
    `${PROGRAM} ls -c client.json`,
    `${PROGRAM} ls -c client.json /users --count`
  ],
  run: runLs
}

async function runLs (args: Parameters<Command['run']>[0], io: CliIO): Promise<number> {
  const file = configPath(args, io, 'ls')
  const timeout = integerOption(args, 'timeout', 'ls', { min: 1, max: 3_600_000 })
  const given = args.positionals[0]
  const prefix = given == null || given === '' || given === '/' ? undefined : given.startsWith('/') ? given : `/${given}`

  return withClient(file, io, timeout, async ({ store }) => {
    const keys = store.queryKeys({ prefix })

    if (args.values.count === true) {
      await write(io.stdout, `${await count(keys)}\n`)
      return EXIT.OK
    }

    const out = new LineWriter(io.stdout)

    if (args.values.unsorted === true) {
      for await (const key of keys) {
        await out.line(formatKey(key))
      }
    } else {
      const all: string[] = []

      for await (const key of keys) {
        all.push(key.toString())
      }

      // by the key itself, not its printed form: quoting must not move a key
      all.sort()

      for (const key of all) {
        await out.line(formatKey(key))
      }
    }

    await out.flush()
    return EXIT.OK
  })
}
