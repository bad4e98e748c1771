import { createHash } from 'node:crypto'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { describe, it, expect } from 'vitest'
import { Request, Response } from '../../src/pb/message.js'
import { HybridClock } from '../../src/replication/clock.js'
import { compareVersions, decodeStored, encodeStored, isIntact, makeVersion, recordDigest, versionClock } from '../../src/replication/record.js'

const MS = 1n << 16n

describe('HybridClock', () => {
  it('follows the wall clock while it moves forward', () => {
    let wall = 1_700_000_000_000
    const clock = new HybridClock({ now: () => wall })

    expect(clock.now()).toBe(BigInt(wall) * MS)
    wall += 5
    expect(clock.now()).toBe(BigInt(wall) * MS)
  })

  it('counts within a millisecond and never goes back when the wall clock does', () => {
    let wall = 1_700_000_000_000
    const clock = new HybridClock({ now: () => wall })
    const first = clock.now()

    expect(clock.now()).toBe(first + 1n)
    wall -= 60_000
    expect(clock.now()).toBe(first + 2n)
  })

  it('issues values greater than any clock or version it observed', async () => {
    const wall = 1_700_000_000_000
    const clock = new HybridClock({ now: () => wall })
    const ahead = BigInt(wall + 3_600_000) * MS + 77n

    clock.observe(ahead)
    expect(clock.current).toBe(ahead)
    expect(clock.now()).toBe(ahead + 1n)

    const writer = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
    const version = makeVersion(ahead + 1000n, writer.toMultihash().bytes)
    clock.observe(version)
    expect(clock.now()).toBe(ahead + 1001n)

    // older or absent clocks change nothing
    clock.observe(5n)
    clock.observe(undefined)
    clock.observe(0n)
    expect(clock.now()).toBe(ahead + 1002n)
  })

  it('does not follow a clock further ahead of its wall clock than maxAhead', () => {
    const wall = 1_700_000_000_000
    const clock = new HybridClock({ now: () => wall, maxAhead: 60_000 })
    const near = BigInt(wall + 59_000) * MS
    const far = BigInt(wall + 61_000) * MS

    expect(clock.plausible(near)).toBe(true)
    expect(clock.plausible(far)).toBe(false)
    clock.observe(far)
    clock.observe((1n << 64n) - 1n)
    expect(clock.now()).toBe(BigInt(wall) * MS)
    clock.observe(near)
    expect(clock.now()).toBe(near + 1n)
    expect(new HybridClock().maxAhead).toBe(24 * 60 * 60 * 1000)
  })

  it('makes versions that name the writer and grow', async () => {
    const self = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
    const clock = new HybridClock({ self })
    const a = clock.version()
    const b = clock.version()

    expect(compareVersions(b, a)).toBeGreaterThan(0)
    expect(a.subarray(8)).toEqual(self.toMultihash().bytes)
    expect(versionClock(b)).toBe(versionClock(a) + 1n)
    expect(() => new HybridClock().version()).toThrow(/peer ID/)
  })

  it('crosses the wire exactly although its values exceed 2^53', () => {
    const clock = new HybridClock()
    const value = clock.now() + 3n

    expect(value).toBeGreaterThan(BigInt(Number.MAX_SAFE_INTEGER))
    expect(Request.decode(Request.encode({ id: 1, clock: value } as any)).clock).toBe(value)
    expect(Response.decode(Response.encode({ id: 1, clock: value } as any)).clock).toBe(value)
  })
})

describe('versions', () => {
  it('compare as bytes: clock first, then the writer; an empty version is the oldest', () => {
    const low = new Uint8Array([1, 2, 3])
    const high = new Uint8Array([1, 2, 4])

    expect(compareVersions(makeVersion(5n, high), makeVersion(6n, low))).toBeLessThan(0)
    expect(compareVersions(makeVersion(6n, high), makeVersion(6n, low))).toBeGreaterThan(0)
    expect(compareVersions(makeVersion(6n, low), makeVersion(6n, low))).toBe(0)
    // a clock carried into the next byte still compares greater
    expect(compareVersions(makeVersion(256n, low), makeVersion(255n, high))).toBeGreaterThan(0)
    expect(compareVersions(new Uint8Array(0), makeVersion(0n, low))).toBeLessThan(0)
  })
})

describe('stored records', () => {
  const version = makeVersion(123456789n << 16n, new Uint8Array([9, 9, 9]))

  it('keep version, flag and value together and decode to the same', () => {
    const value = new TextEncoder().encode('hello')
    const stored = encodeStored({ version, tombstone: false, value })

    expect([...stored.subarray(0, 4)]).toEqual([0xdc, 1, 0, version.byteLength])
    expect(decodeStored(stored)).toEqual({ version, tombstone: false, value })
  })

  it('store a tombstone without a value', () => {
    const stored = encodeStored({ version, tombstone: true, value: new Uint8Array([1, 2]) })

    expect(stored.byteLength).toBe(4 + version.byteLength)
    expect(decodeStored(stored)).toEqual({ version, tombstone: true, value: new Uint8Array(0) })
  })

  it('read bytes without a header as an unversioned value, older than any version', () => {
    for (const bytes of [new Uint8Array(0), new Uint8Array([0xdc, 1, 0]), new Uint8Array([0xdc, 3, 0, 0]), new Uint8Array([0xdc, 1, 4, 0]), new Uint8Array([0xdc, 1, 0, 9, 1]), new Uint8Array([1, 2, 3, 4, 5])]) {
      expect(decodeStored(bytes)).toEqual({ version: new Uint8Array(0), tombstone: false, value: bytes })
    }
  })

  it('with the key: format 2, whose checksum tells an intact record from a damaged one', () => {
    const key = new TextEncoder().encode('/k')
    const value = new TextEncoder().encode('hello')
    const stored = encodeStored({ version, tombstone: false, value }, key)

    expect([...stored.subarray(0, 4)]).toEqual([0xdc, 2, 0, version.byteLength])
    const record = decodeStored(stored)
    expect(record).toMatchObject({ version, tombstone: false, value })
    expect(isIntact(key, record)).toBe(true)
    expect(record.checksum).toBe(recordDigest(key, { version, tombstone: false, value }))

    // a value byte, a version byte, the flag: each one changed is damage; so is another key
    for (const at of [stored.byteLength - 1, 4, 2]) {
      const damaged = stored.slice()
      damaged[at] ^= 1
      expect(isIntact(key, decodeStored(damaged))).toBe(false)
    }

    expect(isIntact(new TextEncoder().encode('/other'), record)).toBe(false)
    // too short for its checksum: damaged, not a value from before replication
    expect(isIntact(key, decodeStored(stored.subarray(0, 4 + version.byteLength + 3)))).toBe(false)
    // format 1 records carry no checksum: intact, as before
    expect(isIntact(key, decodeStored(encodeStored({ version, tombstone: false, value })))).toBe(true)
  })

  it('refuse a version longer than 255 bytes', () => {
    expect(() => encodeStored({ version: new Uint8Array(256), tombstone: false })).toThrow(/255/)
  })
})

describe('recordDigest', () => {
  it('depends on the key, the version and the content', () => {
    const enc = new TextEncoder()
    const v1 = makeVersion(1n, new Uint8Array([1]))
    const v2 = makeVersion(2n, new Uint8Array([1]))
    const value = enc.encode('x')
    const a = recordDigest(enc.encode('/a'), { version: v1, tombstone: false, value })

    expect(a).toBe(recordDigest(enc.encode('/a'), { version: v1, tombstone: false, value: enc.encode('x') }))
    expect(recordDigest(enc.encode('/a'), { version: v2, tombstone: false, value })).not.toBe(a)
    expect(recordDigest(enc.encode('/b'), { version: v1, tombstone: false, value })).not.toBe(a)
    expect(recordDigest(enc.encode('/a'), { version: v1, tombstone: false, value: enc.encode('y') })).not.toBe(a)
    // a tombstone's value is not part of it, but the flag is
    expect(recordDigest(enc.encode('/a'), { version: v1, tombstone: true, value })).toBe(recordDigest(enc.encode('/a'), { version: v1, tombstone: true }))
    expect(recordDigest(enc.encode('/a'), { version: v1, tombstone: true })).not.toBe(recordDigest(enc.encode('/a'), { version: v1, tombstone: false }))
    // lengths keep key and version apart: the same bytes split differently differ
    expect(recordDigest(enc.encode('/ab'), { version: new Uint8Array([1]), tombstone: false })).not.toBe(recordDigest(enc.encode('/a'), { version: enc.encode('b\u0001'), tombstone: false }))
  })

  it('is the first 8 bytes of the sha256 of the lengths, key, version and value, for small and large values alike', () => {
    const key = new TextEncoder().encode('/k')
    const version = makeVersion(7n, new Uint8Array([9, 9]))

    // small values are hashed in one call from a shared buffer, large ones streamed: one definition, as records already stored have it
    for (const size of [0, 1, 300, 16 * 1024, 64 * 1024]) {
      const value = Uint8Array.from({ length: size }, (_, i) => (i * 7) & 0xff)
      const lengths = Uint8Array.of(0, 0, 0, key.byteLength, version.byteLength, 0)
      const expected = createHash('sha256').update(lengths).update(key).update(version).update(value).digest().readBigUInt64BE(0)
      expect(recordDigest(key, { version, tombstone: false, value })).toBe(expected)
    }

    // and as stored: a record written before with the same rule is intact
    expect(recordDigest(key, { version, tombstone: true })).toBe(createHash('sha256').update(Uint8Array.of(0, 0, 0, 2, 10, 1)).update(key).update(version).digest().readBigUInt64BE(0))
  })
})
