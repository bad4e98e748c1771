/**
 * Keys and `KEY VALUE` lines as the client commands read and print them
 */

import { Key } from 'interface-datastore'
import { CliError, EXIT, UsageError } from './errors.js'

/**
 * A datastore key from the command line: `foo/bar` and `/foo/bar` are the
 * same key
 *
 * @param where - what to name in the error, e.g. `line 3`
 */
export function parseKey (text: string, where: string, command?: string): Key {
  if (text.trim() === '' || /^\/+$/.test(text)) {
    const message = `${where}: the key is empty`
    throw command != null ? new UsageError(message, command) : new CliError(message, EXIT.FAILED)
  }

  return new Key(text)
}

/**
 * A `KEY VALUE` line: the key runs to the first space or tab, the value is
 * the rest of the line (possibly empty after the separator)
 */
export function parseLine (line: string, lineNumber: number): { key: Key, value: Uint8Array } {
  const match = /^(\S+)[ \t](.*)$/s.exec(line)

  if (match == null) {
    throw new CliError(`line ${lineNumber}: expected "KEY VALUE" (key, one space or tab, value), got ${JSON.stringify(line.length > 60 ? `${line.slice(0, 60)}…` : line)}; the lines before it may already be stored`, EXIT.FAILED)
  }

  return { key: parseKey(match[1], `line ${lineNumber}`), value: new TextEncoder().encode(match[2]) }
}

/**
 * A value as one line of text, or undefined if it cannot be one (not UTF-8,
 * or holds a line break)
 */
export function valueAsLine (value: Uint8Array): string | undefined {
  let text: string

  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(value)
  } catch {
    return undefined
  }

  return /[\r\n]/.test(text) ? undefined : text
}
