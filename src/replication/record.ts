import { createHash, hash } from 'node:crypto'

/**
 * What the child store of a replicated slot holds under a user's key: a
 * header, then the value, written with one put so the version can never be
 * separated from its value.
 *
 * | byte | meaning |
 * | --- | --- |
 * | 0 | `0xDC`, the magic |
 * | 1 | `2`, the format (`1`: no checksum, written before format 2) |
 * | 2 | flags: bit 0 = tombstone |
 * | 3 | L, the length of the version |
 * | 4 .. 4+L | the version |
 * | 4+L .. 12+L | format 2 only: the checksum, 8 bytes big-endian |
 * | 12+L .. | the value (empty for a tombstone) |
 *
 * The checksum is `recordDigest(key, record)`: the first 8 bytes of the
 * sha256 of the key, the version, the tombstone flag and the value. It was
 * chosen over a CRC32C because the owner computes exactly this hash for
 * every record it writes anyway (it is the record's term in its slot's
 * digest), so checking costs no second pass and no new code or dependency,
 * and 64 bits of a cryptographic hash miss no realistic damage (a CRC32C
 * would let one damaged record in 2^32 through, and a CRC is not keyed on
 * the key unless fed it too). It also covers the key, so a record copied
 * under another key reads as damaged. Format 1 records (no checksum) are
 * still read, and count as intact, as they did before.
 */
export const RECORD_MAGIC = 0xdc
export const RECORD_FORMAT = 2
/** The format written before records carried a checksum */
export const RECORD_FORMAT_UNCHECKED = 1
const TOMBSTONE = 1
const HEADER = 4
const CHECKSUM = 8

/** A record as held by an owner, decoded from its stored form */
export interface StoredRecord {
  /** Empty for a value stored before its slot was replicated: older than any version */
  version: Uint8Array
  tombstone: boolean
  /** Empty for a tombstone */
  value: Uint8Array
  /** Format 2: the checksum stored with the record (absent in format 1 records) */
  checksum?: bigint
  /**
   * Format 2 bytes whose header cannot be read (a length past the end, an
   * unknown flag): damaged whatever the checksum says
   */
  broken?: true
}

const EMPTY = new Uint8Array(0)

/**
 * Versions compare as bytes (big-endian clock first, then the writer's peer
 * ID): negative when `a` is older, positive when newer, 0 when equal. An empty
 * version is older than every other.
 */
export function compareVersions (a: Uint8Array, b: Uint8Array): number {
  const length = Math.min(a.byteLength, b.byteLength)

  for (let i = 0; i < length; i++) {
    if (a[i] !== b[i]) {
      return a[i] - b[i]
    }
  }

  return a.byteLength - b.byteLength
}

/** A version: the clock value (8 bytes big-endian) then the writer's peer ID bytes */
export function makeVersion (clock: bigint, writer: Uint8Array): Uint8Array {
  const version = new Uint8Array(8 + writer.byteLength)
  new DataView(version.buffer).setBigUint64(0, BigInt.asUintN(64, clock))
  version.set(writer, 8)
  return version
}

/** The clock value of a version (0 for a version shorter than 8 bytes) */
export function versionClock (version: Uint8Array): bigint {
  if (version.byteLength < 8) {
    return 0n
  }

  // read by hand: a DataView per call cost a copy's receiver more than the rest of its checks
  const hi = ((version[0] << 24) | (version[1] << 16) | (version[2] << 8) | version[3]) >>> 0
  const lo = ((version[4] << 24) | (version[5] << 16) | (version[6] << 8) | version[7]) >>> 0
  return (BigInt(hi) << 32n) | BigInt(lo)
}

/**
 * The stored form of a record: format 2, with its checksum, when `key` is
 * given (the owner always gives it); without a key, format 1, without one,
 * as nodes wrote before format 2 (kept for tools and tests that forge old
 * records). A version longer than 255 bytes cannot be stored (a peer ID's
 * multihash is at most ~40 bytes).
 *
 * With `checksum` (and a key), the record is stored with that checksum as
 * given, without hashing it again: the checksum an owner holding the record
 * checked before it sent it (a bulk copy). A wrong one costs no data: the
 * stored record then reads as damaged (`isIntact`), counts as absent, and a
 * repair writes an intact copy over it.
 */
export function encodeStored (record: { version: Uint8Array, tombstone: boolean, value?: Uint8Array }, key?: Uint8Array, checksum?: bigint): Uint8Array {
  const version = record.version
  const value = record.tombstone ? EMPTY : record.value ?? EMPTY
  const room = key == null ? 0 : CHECKSUM

  if (version.byteLength > 255) {
    throw new RangeError(`a version is at most 255 bytes, got ${version.byteLength}`)
  }

  const stored = new Uint8Array(HEADER + version.byteLength + room + value.byteLength)
  stored[0] = RECORD_MAGIC
  stored[1] = key == null ? RECORD_FORMAT_UNCHECKED : RECORD_FORMAT
  stored[2] = record.tombstone ? TOMBSTONE : 0
  stored[3] = version.byteLength
  stored.set(version, HEADER)

  if (key != null) {
    new DataView(stored.buffer).setBigUint64(HEADER + version.byteLength, checksum ?? recordDigest(key, { version, tombstone: record.tombstone, value }))
  }

  stored.set(value, HEADER + version.byteLength + room)
  return stored
}

/**
 * A stored record, as views of `stored`. Bytes without a valid header are a
 * value written before its slot was replicated: a record with an empty
 * version, which any replicated write replaces. Whether a record is intact
 * is `isIntact`'s question: decoding does not check the checksum.
 */
export function decodeStored (stored: Uint8Array): StoredRecord {
  if (stored.byteLength >= HEADER && stored[0] === RECORD_MAGIC && stored[1] === RECORD_FORMAT) {
    const end = HEADER + stored[3]

    if ((stored[2] & ~TOMBSTONE) !== 0 || end + CHECKSUM > stored.byteLength) {
      return { version: EMPTY, tombstone: false, value: EMPTY, broken: true }
    }

    return {
      version: stored.subarray(HEADER, end),
      tombstone: (stored[2] & TOMBSTONE) !== 0,
      value: stored.subarray(end + CHECKSUM),
      checksum: new DataView(stored.buffer, stored.byteOffset + end, CHECKSUM).getBigUint64(0)
    }
  }

  if (stored.byteLength < HEADER || stored[0] !== RECORD_MAGIC || stored[1] !== RECORD_FORMAT_UNCHECKED ||
    (stored[2] & ~TOMBSTONE) !== 0 || HEADER + stored[3] > stored.byteLength) {
    return { version: EMPTY, tombstone: false, value: stored }
  }

  const end = HEADER + stored[3]

  return {
    version: stored.subarray(HEADER, end),
    tombstone: (stored[2] & TOMBSTONE) !== 0,
    value: stored.subarray(end)
  }
}

/**
 * The record stored under `key` is the one its writer stored: its checksum
 * matches its key, version, tombstone flag and value. A format 1 record (no
 * checksum) or a value from before replication cannot be checked and counts
 * as intact. A tombstone's checksum covers an empty value, so a tombstone
 * with value bytes is damaged too.
 */
export function isIntact (key: Uint8Array, record: StoredRecord): boolean {
  if (record.broken === true) {
    return false
  }

  if (record.checksum == null) {
    return true
  }

  return (!record.tombstone || record.value.byteLength === 0) && record.checksum === recordDigest(key, record)
}

/** What a record adds to its slot's digest: its checksum when it carries one (the same hash), else `recordDigest` */
export function recordTerm (key: Uint8Array, record: StoredRecord): bigint {
  return record.checksum ?? recordDigest(key, record)
}

/**
 * What one record adds to its slot's digest: the first 8 bytes of the
 * sha256 of the key, the version and the content (tombstone flag and value),
 * each but the value preceded by its length. A slot's digest is the XOR over
 * the records it holds, so it is updated per write (XOR out the old, XOR in
 * the new), and two owners holding the same records have equal digests
 * whatever order they wrote them in. The content counts too, so a value
 * damaged on one owner (same version, other bytes) shows as a difference.
 */
export function recordDigest (key: Uint8Array, record: { version: Uint8Array, tombstone: boolean, value?: Uint8Array }): bigint {
  const value = record.tombstone ? EMPTY : record.value ?? EMPTY
  const size = 6 + key.byteLength + record.version.byteLength + value.byteLength

  if (size <= ONE_SHOT.byteLength) {
    // small records (most): the input gathered in one buffer and hashed in one call, half the cost of a Hash object
    ONE_SHOT.writeUInt32BE(key.byteLength, 0)
    ONE_SHOT[4] = record.version.byteLength
    ONE_SHOT[5] = record.tombstone ? TOMBSTONE : 0
    ONE_SHOT.set(key, 6)
    ONE_SHOT.set(record.version, 6 + key.byteLength)
    ONE_SHOT.set(value, 6 + key.byteLength + record.version.byteLength)
    return hash('sha256', ONE_SHOT.subarray(0, size), 'buffer').readBigUInt64BE(0)
  }

  const lengths = new Uint8Array(6)
  new DataView(lengths.buffer).setUint32(0, key.byteLength)
  lengths[4] = record.version.byteLength
  lengths[5] = record.tombstone ? TOMBSTONE : 0

  return createHash('sha256')
    .update(lengths)
    .update(key)
    .update(record.version)
    .update(value)
    .digest()
    .readBigUInt64BE(0)
}

/** Where `recordDigest` gathers a small record's input (used synchronously, never shared across a call) */
const ONE_SHOT = Buffer.allocUnsafe(16 * 1024)
