/**
 * Keys and `KEY VALUE` lines as the client commands read and print them.
 *
 * A key is printed as it is unless that would break the line apart: a key
 * with whitespace (spaces, tabs, line breaks), a control character, or a
 * leading double quote is printed as a JSON string (`"/my key"`,
 * `"/a\nb"`). Readers accept both forms, so whatever `ls` and `get --batch`
 * print reads back as the same key. docs/cli.md documents this.
 */

import { Key } from 'interface-datastore'
import { CliError, EXIT, UsageError } from './errors.js'

/** What makes a key unsafe to print bare in a line-based format */
const NEEDS_QUOTES = /[\s\p{Cc}]/u

/**
 * A datastore key from the command line: `foo/bar` and `/foo/bar` are the
 * same key
 *
 * @param where - what to name in the error, e.g. `line 3`
 */
export function parseKey (text: string, where: string, command?: string): Key {
  const refuse = (message: string): never => {
    throw command != null ? new UsageError(`${where}: ${message}`, command) : new CliError(`${where}: ${message}`, EXIT.FAILED)
  }

  if (text.trim() === '' || /^\/+$/.test(text)) {
    refuse('the key is empty')
  }

  // UTF-8 cannot carry a lone surrogate: the stored key would silently differ
  if (!text.isWellFormed()) {
    refuse(`the key ${JSON.stringify(text)} holds a lone UTF-16 surrogate, which UTF-8 cannot encode`)
  }

  return new Key(text)
}

/**
 * A key as one field of a line: bare, or quoted as a JSON string when bare
 * text would not read back as the same key
 */
export function formatKey (key: Key | string): string {
  const text = key.toString()
  return NEEDS_QUOTES.test(text) || text.startsWith('"') ? JSON.stringify(text) : text
}

/**
 * A line that holds one key (`get --batch`, `rm --batch`), or undefined for
 * a blank line. Whitespace around a bare key is ignored.
 */
export function parseKeyLine (line: string, lineNumber: number): Key | undefined {
  const text = line.trim()

  if (text === '') {
    return undefined
  }

  const where = `line ${lineNumber}`
  return parseKey(text.startsWith('"') ? unquote(text, where) : text, where)
}

/**
 * A `KEY VALUE` line: the key (bare up to the first space or tab, or a JSON
 * string), one space or tab, and the value, which is the rest of the line
 * (possibly empty)
 */
export function parseLine (line: string, lineNumber: number): { key: Key, value: Uint8Array } {
  const where = `line ${lineNumber}`
  let key: string
  let rest: string

  if (line.startsWith('"')) {
    const end = closingQuote(line)
    key = unquote(line.slice(0, end + 1), where)
    rest = line.slice(end + 1)
  } else {
    const match = /^(\S+)(.*)$/s.exec(line)
    key = match?.[1] ?? ''
    rest = match?.[2] ?? line
  }

  if (key === '' || !/^[ \t]/.test(rest)) {
    throw new CliError(`${where}: expected "KEY VALUE" (key, one space or tab, value), got ${JSON.stringify(line.length > 60 ? `${line.slice(0, 60)}…` : line)}`, EXIT.FAILED)
  }

  return { key: parseKey(key, where), value: new TextEncoder().encode(rest.slice(1)) }
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

/** Index of the quote that ends the JSON string `line` starts with, or the line's length if none does */
function closingQuote (line: string): number {
  for (let i = 1; i < line.length; i++) {
    if (line[i] === '\\') {
      i++
    } else if (line[i] === '"') {
      return i
    }
  }

  return line.length
}

function unquote (text: string, where: string): string {
  let key: unknown

  try {
    key = JSON.parse(text)
  } catch {
    // reported below
  }

  if (typeof key !== 'string') {
    throw new CliError(`${where}: a key that starts with " must be a JSON string, as ls and get --batch print keys with spaces, tabs or line breaks; got ${JSON.stringify(text.length > 60 ? `${text.slice(0, 60)}…` : text)}`, EXIT.FAILED)
  }

  return key
}
