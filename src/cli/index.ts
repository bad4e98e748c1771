/**
 * The `datastore-cluster` command line: generate cluster configs, run data
 * nodes, and talk to a running cluster. `bin/datastore-cluster.js` calls
 * {@link run}; tests call {@link main} with their own streams.
 */

import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { PROGRAM, commandHelp, parseCommandArgs } from './args.js'
import { addNode } from './commands/add-node.js'
import { get } from './commands/get.js'
import { init } from './commands/init.js'
import { keygen } from './commands/keygen.js'
import { ls } from './commands/ls.js'
import { put } from './commands/put.js'
import { rebalance } from './commands/rebalance.js'
import { removeNode } from './commands/remove-node.js'
import { rm } from './commands/rm.js'
import { serve } from './commands/serve.js'
import { status } from './commands/status.js'
import { CliError, EXIT, InterruptedError, UsageError, codeOf } from './errors.js'
import { finishesOnInterrupt, flush, processIO, stopWrites, write } from './io.js'
import type { Command } from './args.js'
import type { CliIO } from './io.js'

export { EXIT, CliError, ConfigError, UsageError } from './errors.js'
export type { CliIO } from './io.js'

/** Every subcommand, in the order help lists them */
export const COMMANDS: readonly Command[] = [init, serve, status, put, get, rm, ls, addNode, removeNode, rebalance, keygen]

/**
 * Run the command line with `argv` (the arguments after the program name)
 * and resolve to the exit code. Errors are printed, never thrown.
 *
 * @param argv - e.g. `['serve', '--config', 'node-1.json']`
 * @param io - the streams to use, default the process's
 */
export async function main (argv: string[], io: CliIO = processIO()): Promise<number> {
  const [name, ...rest] = argv

  try {
    if (name == null || name === '--help' || name === '-h' || name === 'help') {
      const topic = name === 'help' ? rest[0] : undefined

      if (topic != null) {
        await write(io.stdout, commandHelp(findCommand(topic)))
      } else {
        await write(io.stdout, programHelp())
      }

      // no command at all is a usage error, asking for help is not
      return name == null ? EXIT.USAGE : EXIT.OK
    }

    if (name === '--version' || name === '-v' || name === 'version') {
      await write(io.stdout, `${version()}\n`)
      return EXIT.OK
    }

    const command = findCommand(name)
    const args = parseCommandArgs(command, rest)

    if (args.values.help === true) {
      await write(io.stdout, commandHelp(command))
      return EXIT.OK
    }

    return await command.run(args, io)
  } catch (err) {
    return report(err, io)
  } finally {
    await flush(io.stdout)
  }
}

/**
 * {@link main} on the process's arguments and streams, then exit with its
 * code. What the `datastore-cluster` bin calls.
 */
export async function run (argv: string[] = process.argv.slice(2)): Promise<void> {
  // a reader that went away (`ls | head`) is not an error worth a crash;
  // write() notices the closed stream and the command stops
  process.stdout.on('error', () => {})

  const interrupt = new AbortController()

  // serve shuts down on signals its own way
  if (argv[0] !== serve.name) {
    stopOnSignals(interrupt)
  }

  const code = await main(argv, { ...processIO(), interrupt: interrupt.signal })
  process.exitCode = code
  await flush(process.stderr)

  // libp2p may leave timers behind after stop(); they must not keep a
  // finished command alive, but let pending output drain first
  setTimeout(() => process.exit(code), 100).unref()
}

/**
 * On SIGINT or SIGTERM, a client command ends at a line boundary: no write
 * starts any more, the ones queued (whole lines) drain, and the process
 * exits with 130 or 143. Killed outright instead, the process would leave
 * half a line in a pipe. A many-key write instead finishes what it sent and
 * says what it stored (see finishingOnInterrupt). A second signal exits at
 * once.
 */
function stopOnSignals (interrupt: AbortController): void {
  let stopping = false
  const onSignal = (signal: 'SIGINT' | 'SIGTERM'): void => {
    if (stopping) {
      process.exit(EXIT[signal])
    }

    stopping = true
    stopWrites(process.stdout, signal)
    interrupt.abort(signal)

    if (!finishesOnInterrupt()) {
      void Promise.all([flush(process.stdout), flush(process.stderr)]).then(() => process.exit(EXIT[signal]))
    }
  }

  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
}

function findCommand (name: string): Command {
  const command = COMMANDS.find(c => c.name === name)

  if (command == null && name.startsWith('-')) {
    throw new UsageError(`expected a command before ${name}: options go after the command, e.g. \`${PROGRAM} status --config client.json\``)
  }

  if (command == null) {
    throw new UsageError(`unknown command ${JSON.stringify(name)}; the commands are ${COMMANDS.map(c => c.name).join(', ')}`)
  }

  return command
}

async function report (err: unknown, io: CliIO): Promise<number> {
  if (codeOf(err) === 'EPIPE') {
    return EXIT.OK
  }

  // the signal handler exits once the output is flushed; nothing to add to it
  if (err instanceof InterruptedError) {
    return err.exitCode
  }

  if (err instanceof UsageError) {
    const hint = err.command != null ? `${PROGRAM} ${err.command} --help` : `${PROGRAM} --help`
    await write(io.stderr, `${PROGRAM}: ${err.message}\nrun \`${hint}\` for usage\n`)
    return err.exitCode
  }

  if (err instanceof CliError) {
    await write(io.stderr, `${PROGRAM}: ${err.message}\n`)
    return err.exitCode
  }

  // a bug or an error nobody turned into a message: show everything
  await write(io.stderr, `${PROGRAM}: unexpected error: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`)
  return EXIT.FAILED
}

function programHelp (): string {
  const width = Math.max(...COMMANDS.map(c => c.name.length)) + 2
  const lines = [
    `Usage: ${PROGRAM} <command> [options]`,
    '',
    'Run a datastore-cluster from the command line: generate the configs of an',
    'N-node cluster, run its data nodes, and read and write keys.',
    '',
    'Commands:'
  ]

  for (const command of COMMANDS) {
    lines.push(`  ${command.name.padEnd(width)}${command.summary}`)
  }

  lines.push(
    '',
    `Run \`${PROGRAM} <command> --help\` for a command's options.`,
    '',
    'A 3-node cluster on this machine:',
    `  ${PROGRAM} init --nodes 3 ./cluster`,
    `  ${PROGRAM} serve --config ./cluster/node-1.json   # and node-2, node-3`,
    `  ${PROGRAM} status --config ./cluster/client.json`,
    '',
    'Exit codes: 0 ok, 1 failed, 2 usage error, 3 invalid config, 4 key not found,',
    '130/143 stopped by SIGINT/SIGTERM (after the last whole line of output).'
  )

  return lines.join('\n') + '\n'
}

/**
 * The package version, from the package.json above this file (src/cli or
 * dist/src/cli)
 */
function version (): string {
  let dir = dirname(fileURLToPath(import.meta.url))

  for (let i = 0; i < 5; i++) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string, version?: string }

      if (pkg.name === PROGRAM) {
        return `${PROGRAM} ${pkg.version}`
      }
    } catch {
      // no package.json here: look further up
    }

    dir = dirname(dir)
  }

  return PROGRAM
}
