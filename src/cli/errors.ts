/**
 * What the command line reports when it stops, and with which exit code.
 * Only `src/cli/` prints; library errors are turned into these at the edge.
 */

/**
 * Exit codes, documented in docs/cli.md so scripts can rely on them
 */
export const EXIT = {
  /** Done */
  OK: 0,
  /** The operation failed: a node unreachable, a store that would not open, a node reported down by `status` */
  FAILED: 1,
  /** The command line was wrong: unknown command or option, missing argument */
  USAGE: 2,
  /** A config or key file is missing, unreadable or invalid */
  CONFIG: 3,
  /** `get` found no value for a key */
  NOT_FOUND: 4,
  /** Stopped by SIGINT (128 + 2, as a shell reports it) */
  SIGINT: 130,
  /** Stopped by SIGTERM (128 + 15) */
  SIGTERM: 143
} as const

/**
 * An error the command line reports as a message (no stack) and an exit code
 */
export class CliError extends Error {
  static override name = 'CliError'
  override name = CliError.name

  /** The process exit code */
  readonly exitCode: number

  constructor (message: string, exitCode: number = EXIT.FAILED, options?: ErrorOptions) {
    super(message, options)
    this.exitCode = exitCode
  }
}

/**
 * The command line itself was wrong
 */
export class UsageError extends CliError {
  static override name = 'UsageError'
  override name = UsageError.name

  /** The command whose help the message points to, if any */
  readonly command?: string

  constructor (message: string, command?: string) {
    super(message, EXIT.USAGE)
    this.command = command
  }
}

/**
 * Output stopped because the process received SIGINT or SIGTERM: nothing to
 * print, only the exit code
 */
export class InterruptedError extends CliError {
  static override name = 'InterruptedError'
  override name = InterruptedError.name

  constructor (signal: 'SIGINT' | 'SIGTERM') {
    super(`interrupted by ${signal}`, EXIT[signal])
  }
}

/**
 * One thing wrong with a config file: the field, what is wrong, how to fix it
 */
export interface ConfigProblem {
  /** Path of the field in the file, e.g. `listen[0]` or `slots.ranges[1].owners[0]`; empty for the whole file */
  field: string
  /** What is wrong, one sentence */
  message: string
  /** What to do about it */
  fix?: string
}

/**
 * A config file (or the key file it names) could not be used. `problems`
 * lists everything found, not only the first.
 */
export class ConfigError extends CliError {
  static override name = 'ConfigError'
  override name = ConfigError.name

  /** The config file, as given */
  readonly file: string
  /** Each problem found */
  readonly problems: ConfigProblem[]

  constructor (file: string, problems: ConfigProblem[]) {
    super(formatConfigProblems(file, problems), EXIT.CONFIG)
    this.file = file
    this.problems = problems
  }
}

/**
 * The text shown for an invalid config: one problem per line, each with its
 * fix indented below it
 */
export function formatConfigProblems (file: string, problems: ConfigProblem[]): string {
  const lines = [`invalid config ${file}: ${problems.length} problem${problems.length === 1 ? '' : 's'}`]

  for (const problem of problems) {
    lines.push(`  - ${problem.field === '' ? '' : `${problem.field}: `}${problem.message}`)

    if (problem.fix != null) {
      lines.push(`    fix: ${problem.fix}`)
    }
  }

  return lines.join('\n')
}

/**
 * The message of anything thrown
 */
export function messageOf (err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}

/**
 * The `code` of a thrown Node.js or level error (`ENOENT`, `LEVEL_LOCKED`…), if any
 */
export function codeOf (err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code
  return typeof code === 'string' ? code : undefined
}
