/**
 * Key -> slot mapping: CRC16/XMODEM of the key bytes modulo 16384, with Redis
 * Cluster's hash tags. This is exactly Redis Cluster's mapping so users can
 * reason with a known standard (see DESIGN.md, "Key -> slot").
 */

import { SLOT_COUNT } from '../constants.js'
import { InvalidParametersError } from '../errors.js'
import type { Key } from 'interface-datastore'

const OPEN_BRACE = 0x7b // '{'
const CLOSE_BRACE = 0x7d // '}'
// SLOT_COUNT is a power of two, so `& SLOT_MASK` is `mod SLOT_COUNT`
const SLOT_MASK = SLOT_COUNT - 1

/**
 * CRC16/XMODEM lookup table: the CRC of each possible high byte, so the
 * per-byte loop is one lookup instead of eight shift/xor steps
 */
const CRC16_TABLE = (() => {
  const table = new Uint16Array(256)

  for (let i = 0; i < 256; i++) {
    let crc = i << 8

    for (let bit = 0; bit < 8; bit++) {
      crc = (crc & 0x8000) !== 0 ? (crc << 1) ^ 0x1021 : crc << 1
    }

    table[i] = crc & 0xffff
  }

  return table
})()

/**
 * Unchecked CRC over `bytes[start..end)`, for callers that computed the bounds
 * themselves
 */
function crcBytes (bytes: Uint8Array, start: number, end: number): number {
  let crc = 0

  for (let i = start; i < end; i++) {
    crc = ((crc << 8) ^ CRC16_TABLE[((crc >>> 8) ^ bytes[i]) & 0xff]) & 0xffff
  }

  return crc
}

/**
 * CRC of the UTF-8 encoding of `str[start..end)`, encoding on the fly so a
 * string key needs no byte copy. It must produce exactly the bytes
 * `TextEncoder` would, including U+FFFD for lone surrogates, or a string and
 * its encoded bytes would land in different slots.
 */
function crcString (str: string, start: number, end: number): number {
  let crc = 0

  for (let i = start; i < end; i++) {
    let c = str.charCodeAt(i)

    if (c < 0x80) {
      crc = ((crc << 8) ^ CRC16_TABLE[((crc >>> 8) ^ c) & 0xff]) & 0xffff
      continue
    }

    if (c < 0x800) {
      crc = ((crc << 8) ^ CRC16_TABLE[((crc >>> 8) ^ (0xc0 | (c >> 6))) & 0xff]) & 0xffff
      crc = ((crc << 8) ^ CRC16_TABLE[((crc >>> 8) ^ (0x80 | (c & 0x3f))) & 0xff]) & 0xffff
      continue
    }

    if (c >= 0xd800 && c <= 0xdfff) {
      // a high surrogate followed by a low one is one 4-byte code point;
      // anything else is a lone surrogate, which UTF-8 encoders replace
      if (c <= 0xdbff && i + 1 < end) {
        const low = str.charCodeAt(i + 1)

        if (low >= 0xdc00 && low <= 0xdfff) {
          const cp = 0x10000 + ((c - 0xd800) << 10) + (low - 0xdc00)
          i++
          crc = ((crc << 8) ^ CRC16_TABLE[((crc >>> 8) ^ (0xf0 | (cp >> 18))) & 0xff]) & 0xffff
          crc = ((crc << 8) ^ CRC16_TABLE[((crc >>> 8) ^ (0x80 | ((cp >> 12) & 0x3f))) & 0xff]) & 0xffff
          crc = ((crc << 8) ^ CRC16_TABLE[((crc >>> 8) ^ (0x80 | ((cp >> 6) & 0x3f))) & 0xff]) & 0xffff
          crc = ((crc << 8) ^ CRC16_TABLE[((crc >>> 8) ^ (0x80 | (cp & 0x3f))) & 0xff]) & 0xffff
          continue
        }
      }

      c = 0xfffd
    }

    crc = ((crc << 8) ^ CRC16_TABLE[((crc >>> 8) ^ (0xe0 | (c >> 12))) & 0xff]) & 0xffff
    crc = ((crc << 8) ^ CRC16_TABLE[((crc >>> 8) ^ (0x80 | ((c >> 6) & 0x3f))) & 0xff]) & 0xffff
    crc = ((crc << 8) ^ CRC16_TABLE[((crc >>> 8) ^ (0x80 | (c & 0x3f))) & 0xff]) & 0xffff
  }

  return crc
}

/**
 * CRC16/XMODEM (polynomial 0x1021, initial value 0, no reflection, no final
 * xor) of `bytes[start..end)` — the checksum Redis Cluster hashes keys with.
 *
 * @param bytes - the bytes to checksum
 * @param start - index of the first byte, default 0
 * @param end - index after the last byte, default `bytes.length`
 * @returns the CRC, 0 to 0xffff
 * @throws {InvalidParametersError} if the bounds are not integers with `0 <= start <= end <= bytes.length`
 *
 * @example
 * ```ts
 * crc16(new TextEncoder().encode('123456789')) // 0x31c3
 * ```
 */
export function crc16 (bytes: Uint8Array, start: number = 0, end: number = bytes.length): number {
  if (!Number.isInteger(start) || !Number.isInteger(end) || start < 0 || end > bytes.length || start > end) {
    throw new InvalidParametersError(`crc16 bounds must satisfy 0 <= start <= end <= ${bytes.length}, got start ${start} and end ${end}`)
  }

  return crcBytes(bytes, start, end)
}

/**
 * The slot, 0 to 16383, that a key belongs to.
 *
 * Redis Cluster hash tags apply: if the key contains `{` and a `}` follows it
 * with at least one byte between, only the bytes between the first `{` and the
 * first `}` after it are hashed, so `{user1000}.following` and
 * `{user1000}.followers` share a slot. Otherwise the whole key is hashed.
 *
 * A `Key` is hashed by its bytes (`key.uint8Array()`), which are the UTF-8 of
 * its string form; a string is hashed as its UTF-8 encoding. Neither path
 * allocates, since this runs for every key of every operation.
 *
 * @param key - a datastore `Key`, its bytes, or its string form
 * @returns the slot
 * @throws {InvalidParametersError} if `key` is none of these types
 *
 * @example
 * ```ts
 * keySlot(new Key('/foo')) === keySlot('/foo') // true
 * keySlot('{user1000}.following') // 3443
 * ```
 */
export function keySlot (key: Key | Uint8Array | string): number {
  if (typeof key === 'string') {
    // '{' and '}' are ASCII and never occur inside a multi-byte UTF-8
    // sequence, so searching the string finds the same tag as the bytes
    const open = key.indexOf('{')

    if (open !== -1) {
      const close = key.indexOf('}', open + 1)

      if (close > open + 1) {
        return crcString(key, open + 1, close) & SLOT_MASK
      }
    }

    return crcString(key, 0, key.length) & SLOT_MASK
  }

  const bytes = key instanceof Uint8Array ? key : bytesOfKey(key)
  const open = bytes.indexOf(OPEN_BRACE)

  if (open !== -1) {
    const close = bytes.indexOf(CLOSE_BRACE, open + 1)

    if (close > open + 1) {
      return crcBytes(bytes, open + 1, close) & SLOT_MASK
    }
  }

  return crcBytes(bytes, 0, bytes.length) & SLOT_MASK
}

/**
 * Duck-typed rather than `instanceof Key` so a `Key` from another copy of
 * interface-datastore in the dependency tree still works
 */
function bytesOfKey (key: unknown): Uint8Array {
  if (key != null && typeof (key as Key).uint8Array === 'function') {
    const bytes = (key as Key).uint8Array()

    if (bytes instanceof Uint8Array) {
      return bytes
    }
  }

  throw new InvalidParametersError(`keySlot expects a Key, Uint8Array or string, got ${key === null ? 'null' : typeof key}`)
}
