/**
 * Command definitions, argument parsing with Node's `util.parseArgs`, and the
 * help text generated from the same definitions, so help and parsing cannot
 * disagree.
 */

import { resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { UsageError, messageOf } from './errors.js'
import type { CliIO } from './io.js'

/** The program name, as users type it */
export const PROGRAM = 'datastore-cluster'

/** Environment variable naming the config file when `--config` is not given */
export const CONFIG_ENV = 'DATASTORE_CLUSTER_CONFIG'

/**
 * One option of a command
 */
export interface OptionSpec {
  type: 'string' | 'boolean'
  short?: string
  /** Name of the value in help, e.g. `FILE` */
  arg?: string
  /** One line of help */
  help: string
  /** May be given more than once: the value is then an array of every one given */
  multiple?: boolean
}

/**
 * Parsed options and positional arguments
 */
export interface Args {
  values: Record<string, string | string[] | boolean | undefined>
  positionals: string[]
}

/**
 * A subcommand
 */
export interface Command {
  name: string
  /** One line for the command list */
  summary: string
  /** Synopsis after the program name, e.g. `init --nodes N [options] DIR` */
  usage: string
  /** Paragraphs shown under the synopsis */
  description: string
  options: Record<string, OptionSpec>
  /** How many positional arguments the command takes */
  positionals: { min: number, max: number, name?: string }
  /** Example command lines */
  examples?: string[]
  /** Runs the command; resolves to the exit code */
  run(args: Args, io: CliIO): Promise<number>
}

const HELP_OPTION: OptionSpec = { type: 'boolean', short: 'h', help: 'show this help' }

/**
 * Parse `argv` (the arguments after the command name) for `command`
 *
 * @throws {UsageError} naming the bad option or argument
 */
export function parseCommandArgs (command: Command, argv: string[]): Args {
  const options = { ...command.options, help: HELP_OPTION }
  let parsed: ReturnType<typeof parseArgs>

  try {
    parsed = parseArgs({
      args: argv,
      options: Object.fromEntries(Object.entries(options).map(([name, spec]) => [name, { type: spec.type, ...(spec.short != null ? { short: spec.short } : {}), ...(spec.multiple === true ? { multiple: true } : {}) }])),
      allowPositionals: true,
      strict: true
    })
  } catch (err) {
    // parseArgs messages are good but mention its own API ("allowPositionals"); keep the first sentence
    const message = messageOf(err).split('. To specify')[0].replace(/\.$/, '')
    throw new UsageError(message, command.name)
  }

  const values = parsed.values as Args['values']

  if (values.help === true) {
    return { values, positionals: parsed.positionals }
  }

  const { min, max, name } = command.positionals

  if (parsed.positionals.length < min) {
    throw new UsageError(`missing ${name ?? 'argument'}`, command.name)
  }

  if (parsed.positionals.length > max) {
    const extra = parsed.positionals.slice(max).map(p => JSON.stringify(p)).join(' ')
    throw new UsageError(max === 0 ? `${command.name} takes no arguments, got ${extra}` : `unexpected argument${parsed.positionals.length - max > 1 ? 's' : ''} ${extra}`, command.name)
  }

  return { values, positionals: parsed.positionals }
}

/**
 * The help text of a command
 */
export function commandHelp (command: Command): string {
  const lines = [`Usage: ${PROGRAM} ${command.usage}`, '', command.description.trim(), '', 'Options:']
  const entries = Object.entries({ ...command.options, help: HELP_OPTION }).map(([name, spec]) => {
    const flag = `${spec.short != null ? `-${spec.short}, ` : '    '}--${name}${spec.arg != null ? ` ${spec.arg}` : ''}`
    return { flag, help: spec.help }
  })
  const width = Math.max(...entries.map(e => e.flag.length)) + 2

  for (const { flag, help } of entries) {
    lines.push(`  ${flag.padEnd(width)}${help}`)
  }

  if (command.examples != null && command.examples.length > 0) {
    lines.push('', 'Examples:')

    for (const example of command.examples) {
      lines.push(`  ${example}`)
    }
  }

  return lines.join('\n') + '\n'
}

/**
 * A string option, or undefined when absent
 */
export function stringOption (args: Args, name: string): string | undefined {
  const value = args.values[name]
  return typeof value === 'string' ? value : undefined
}

/**
 * Every value of an option that may be given more than once
 */
export function stringsOption (args: Args, name: string): string[] {
  const value = args.values[name]
  return Array.isArray(value) ? value : typeof value === 'string' ? [value] : []
}

/**
 * An integer option within bounds
 *
 * @throws {UsageError} if the value is not an integer in `[min, max]`
 */
export function integerOption (args: Args, name: string, command: string, bounds: { min: number, max: number, fallback?: number }): number | undefined {
  const raw = stringOption(args, name)

  if (raw == null) {
    return bounds.fallback
  }

  const value = Number(raw)

  if (!/^-?\d+$/.test(raw.trim()) || !Number.isSafeInteger(value) || value < bounds.min || value > bounds.max) {
    throw new UsageError(`--${name} must be an integer from ${bounds.min} to ${bounds.max}, got ${JSON.stringify(raw)}`, command)
  }

  return value
}

/**
 * The config file: `--config`, else the environment variable, resolved
 * against the working directory
 *
 * @throws {UsageError} if neither is given
 */
export function configPath (args: Args, io: CliIO, command: string): string {
  const given = stringOption(args, 'config') ?? io.env[CONFIG_ENV]

  if (given == null || given === '') {
    throw new UsageError(`no config file: give --config FILE (or set ${CONFIG_ENV})`, command)
  }

  return resolve(io.cwd, given)
}

/** The `--config` option shared by every command that reads a config */
export const CONFIG_OPTION: OptionSpec = {
  type: 'string',
  short: 'c',
  arg: 'FILE',
  help: `config file (default: $${CONFIG_ENV})`
}

/** The `--timeout` option of the client commands */
export const TIMEOUT_OPTION: OptionSpec = {
  type: 'string',
  short: 't',
  arg: 'MS',
  help: 'milliseconds a node has to answer (default: options.requestTimeout of the config, else 10000)'
}
