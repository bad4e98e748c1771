/**
 * How keys are written into and read from lines: every key reads back as
 * itself, and what cannot be read says so by line.
 */

import { describe, it, expect } from 'vitest'
import { formatKey, parseKeyLine, parseLine } from '../../src/cli/keys.js'

const text = (bytes: Uint8Array): string => new TextDecoder().decode(bytes)

describe('keys in lines', () => {
  it('writes a key bare unless whitespace, a control character or a leading quote would break the line', () => {
    expect(formatKey('/users/1')).toBe('/users/1')
    expect(formatKey('/a\\b')).toBe('/a\\b')
    expect(formatKey('/日本語/🎉')).toBe('/日本語/🎉')
    expect(formatKey('/a"b')).toBe('/a"b')
    expect(formatKey('/my key')).toBe('"/my key"')
    expect(formatKey('/a\tb')).toBe('"/a\\tb"')
    expect(formatKey('/a\nb')).toBe('"/a\\nb"')
    expect(formatKey('/a\u2028b')).toBe('"/a\u2028b"')
    expect(formatKey('/a\u0000b')).toBe('"/a\\u0000b"')
    expect(formatKey('"/quoted')).toBe('"\\"/quoted"')
  })

  it('reads back every key it writes, alone on a line and before a value', () => {
    for (const key of ['/users/1', '/a\\b', '/my key', '/ lead', '/trail ', '/a\tb', '/a\nb', '/a\r\nb', '/a\u2028b', '/a\u0001b', '/a"b', '/\\"', '/日本語 🎉']) {
      expect(parseKeyLine(formatKey(key), 1)?.toString()).toBe(key)
      const pair = parseLine(`${formatKey(key)} the value`, 1)
      expect(pair.key.toString()).toBe(key)
      expect(text(pair.value)).toBe('the value')
    }
  })

  it('splits a KEY VALUE line at the first space or tab after the key, and keeps the value as it is', () => {
    expect(text(parseLine('/k  two spaces ', 1).value)).toBe(' two spaces ')
    expect(text(parseLine('/k\t"quoted value"', 1).value)).toBe('"quoted value"')
    expect(text(parseLine('"/k" ', 1).value)).toBe('')
    expect(parseLine('k v', 1).key.toString()).toBe('/k')
    expect(parseKeyLine('  /k\t', 1)?.toString()).toBe('/k')
    expect(parseKeyLine(' \t ', 1)).toBeUndefined()
  })

  it('refuses, naming the line, what it cannot read as a key', () => {
    expect(() => parseLine('/only-a-key', 3)).toThrow('line 3: expected "KEY VALUE" (key, one space or tab, value), got "/only-a-key"')
    expect(() => parseLine('"/k"v', 4)).toThrow('line 4: expected "KEY VALUE"')
    expect(() => parseLine('"/unterminated v', 5)).toThrow('line 5: a key that starts with " must be a JSON string')
    expect(() => parseKeyLine('"/k" extra', 6)).toThrow('line 6: a key that starts with " must be a JSON string')
    expect(() => parseKeyLine('"\\ud800"', 7)).toThrow('line 7: the key "\\ud800" holds a lone UTF-16 surrogate, which UTF-8 cannot encode')
    expect(() => parseKeyLine('"/"', 8)).toThrow('line 8: the key is empty')
  })
})
