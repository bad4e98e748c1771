import { Key } from 'interface-datastore'
import { describe, it, expect } from 'vitest'
import { SLOT_COUNT } from '../../src/constants.js'
import { crc16, keySlot } from '../../src/slots/hash.js'

const encoder = new TextEncoder()

/**
 * Deliberately naive reference: bit-by-bit CRC16/XMODEM, no table
 */
function referenceCrc16 (bytes: Uint8Array): number {
  let crc = 0

  for (const byte of bytes) {
    for (let bit = 7; bit >= 0; bit--) {
      const inBit = (byte >> bit) & 1
      const topBit = (crc >> 15) & 1
      crc = (crc << 1) & 0xffff

      if ((inBit ^ topBit) === 1) {
        crc ^= 0x1021
      }
    }
  }

  return crc
}

/**
 * Deliberately naive reference: string-based hash tag extraction, then encode
 */
function referenceSlot (key: string): number {
  let hashed = key
  const open = key.indexOf('{')

  if (open !== -1) {
    const close = key.indexOf('}', open + 1)

    if (close !== -1 && close - open > 1) {
      hashed = key.slice(open + 1, close)
    }
  }

  return referenceCrc16(encoder.encode(hashed)) % SLOT_COUNT
}

/**
 * A seeded PRNG (mulberry32) so a failure reproduces
 */
function prng (seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0
    let t = seed
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

// pieces random keys are made of: ASCII, braces (often, to exercise tags),
// 2-, 3- and 4-byte UTF-8 characters
const PIECES = ['a', 'b', 'z', '0', '9', '/', ':', '-', '.', ' ', '{', '}', '{', '}', '{}', 'é', 'ß', 'Ω', '€', '中', '文', 'ー', '😀', '🚀', '\u{10ffff}', '\u0000', '\u007f', '\u0080', '\u07ff', '\u0800', '\uffff']

function randomKey (rand: () => number, maxLength: number): string {
  const length = Math.floor(rand() * (maxLength + 1))
  let key = ''

  for (let i = 0; i < length; i++) {
    key += PIECES[Math.floor(rand() * PIECES.length)]
  }

  return key
}

describe('crc16', () => {
  it('matches the CRC16/XMODEM check value', () => {
    expect(crc16(encoder.encode('123456789'))).toBe(0x31c3)
  })

  it('is 0 for no bytes', () => {
    expect(crc16(new Uint8Array(0))).toBe(0)
  })

  it('checksums a sub-range', () => {
    const bytes = encoder.encode('xx123456789yy')
    expect(crc16(bytes, 2, 11)).toBe(0x31c3)
    expect(crc16(bytes, 2)).toBe(referenceCrc16(bytes.subarray(2)))
  })

  it('rejects bounds outside the array', () => {
    const bytes = encoder.encode('abc')
    expect(() => crc16(bytes, -1)).toThrow(/start -1/)
    expect(() => crc16(bytes, 0, 4)).toThrow(expect.objectContaining({ name: 'InvalidParametersError' }))
    expect(() => crc16(bytes, 2, 1)).toThrow(/start 2 and end 1/)
    expect(() => crc16(bytes, 0.5)).toThrow(/start 0.5/)
  })

  it('agrees with a bitwise reference on random bytes', () => {
    const rand = prng(1)

    for (let n = 0; n < 300; n++) {
      const bytes = new Uint8Array(Math.floor(rand() * 64))

      for (let i = 0; i < bytes.length; i++) {
        bytes[i] = Math.floor(rand() * 256)
      }

      expect(crc16(bytes)).toBe(referenceCrc16(bytes))
    }
  })
})

describe('keySlot', () => {
  it('matches the public Redis Cluster vectors', () => {
    expect(keySlot('foo')).toBe(12182)
    expect(keySlot('somekey')).toBe(11058)
    expect(keySlot('{user1000}.following')).toBe(3443)
    expect(keySlot('{user1000}.followers')).toBe(3443)
  })

  it('hashes the whole key when the braces are empty: "foo{}{bar}"', () => {
    expect(keySlot('foo{}{bar}')).toBe(crc16(encoder.encode('foo{}{bar}')) % SLOT_COUNT)
    expect(keySlot('foo{}{bar}')).not.toBe(keySlot('bar'))
  })

  it('hashes "{bar" for "foo{{bar}}zap"', () => {
    expect(keySlot('foo{{bar}}zap')).toBe(crc16(encoder.encode('{bar')) % SLOT_COUNT)
    expect(keySlot('foo{{bar}}zap')).toBe(keySlot('{bar'))
  })

  it('hashes "bar" for "foo{bar}{zap}"', () => {
    expect(keySlot('foo{bar}{zap}')).toBe(keySlot('bar'))
    expect(keySlot('foo{bar}{zap}')).toBe(crc16(encoder.encode('bar')) % SLOT_COUNT)
  })

  it('hashes the whole key when no "}" follows the "{"', () => {
    expect(keySlot('}foo{bar')).toBe(crc16(encoder.encode('}foo{bar')) % SLOT_COUNT)
    expect(keySlot('{')).toBe(crc16(encoder.encode('{')) % SLOT_COUNT)
  })

  it('gives the same slot for a Key, its bytes and its string form', () => {
    for (const s of ['/foo', '/a/b/c', '/{user1000}/following', '/héllo/wörld', '/日本語/キー', '/emoji/😀']) {
      const key = new Key(s)
      const slot = keySlot(key)

      expect(slot).toBe(keySlot(key.toString()))
      expect(slot).toBe(keySlot(key.uint8Array()))
      expect(slot).toBe(keySlot(encoder.encode(s)))
      expect(slot).toBe(referenceSlot(s))
    }
  })

  it('groups Keys sharing a hash tag in one slot', () => {
    expect(keySlot(new Key('/{user1000}/following'))).toBe(keySlot(new Key('/{user1000}/followers')))
    expect(keySlot(new Key('/{user1000}/following'))).toBe(keySlot('user1000'))
  })

  it('hashes non-ASCII keys as UTF-8', () => {
    for (const s of ['é', 'ß', '€', '中文', '😀', '{😀}x', 'x{é}', '\u{10ffff}']) {
      expect(keySlot(s)).toBe(referenceSlot(s))
      expect(keySlot(s)).toBe(keySlot(encoder.encode(s)))
    }

    // 'é' is two bytes, so it must not hash like the single code unit 0xe9
    expect(keySlot('é')).toBe(crc16(Uint8Array.of(0xc3, 0xa9)) % SLOT_COUNT)
    expect(keySlot('é')).not.toBe(crc16(Uint8Array.of(0xe9)) % SLOT_COUNT)
  })

  it('hashes lone surrogates in strings as U+FFFD, as TextEncoder does', () => {
    for (const s of ['\ud800', 'a\udc00b', '\ud83d', '\ud83d{x}', '{\udfff}', '\ud83d\ud83d\ude00']) {
      expect(keySlot(s)).toBe(keySlot(encoder.encode(s)))
    }
  })

  it('always returns an integer slot within range', () => {
    const rand = prng(2)

    for (let n = 0; n < 200; n++) {
      const slot = keySlot(randomKey(rand, 20))
      expect(Number.isInteger(slot)).toBe(true)
      expect(slot).toBeGreaterThanOrEqual(0)
      expect(slot).toBeLessThan(SLOT_COUNT)
    }
  })

  it('agrees with a naive reference on random keys with random braces', () => {
    const rand = prng(3)
    let tagged = 0

    for (let n = 0; n < 500; n++) {
      const s = randomKey(rand, 16)
      const expected = referenceSlot(s)

      expect(keySlot(s), JSON.stringify(s)).toBe(expected)
      expect(keySlot(encoder.encode(s)), JSON.stringify(s)).toBe(expected)

      const key = new Key(`/${s}`, false)
      expect(keySlot(key), JSON.stringify(s)).toBe(referenceSlot(`/${s}`))

      const open = s.indexOf('{')

      if (open !== -1 && s.indexOf('}', open + 1) > open + 1) {
        tagged++
      }
    }

    // the generator must actually exercise hash tags
    expect(tagged).toBeGreaterThan(50)
  })

  it('rejects other types', () => {
    expect(() => keySlot(42 as any)).toThrow(expect.objectContaining({ name: 'InvalidParametersError' }))
    expect(() => keySlot(null as any)).toThrow(/got null/)
    expect(() => keySlot({} as any)).toThrow(/got object/)
  })
})
