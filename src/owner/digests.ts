import { SLOT_COUNT } from '../constants.js'
import { recordDigest } from '../replication/record.js'

/** What a record's digest covers */
export interface DigestedRecord {
  version: Uint8Array
  tombstone: boolean
  value?: Uint8Array
  /** The checksum a stored (format 2) record carries: it is this record's digest term, not hashed again */
  checksum?: bigint
}

/**
 * Per-slot digests of the records an owner holds: the XOR of
 * `recordDigest` over the slot's records. Kept in memory and
 * updated with every write, so owners compare 8 bytes per slot instead of
 * their data; rebuilt by one scan of the child store at start.
 */
export class SlotDigests {
  private readonly digests: BigUint64Array

  constructor () {
    this.digests = new BigUint64Array(SLOT_COUNT)
  }

  /** Account for the record of `key` changing from `before` (none: absent) to `after` (none: removed) */
  update (slot: number, key: Uint8Array, before: DigestedRecord | undefined, after: DigestedRecord | undefined): void {
    if (before != null) {
      this.digests[slot] ^= before.checksum ?? recordDigest(key, before)
    }

    if (after != null) {
      this.digests[slot] ^= after.checksum ?? recordDigest(key, after)
    }
  }

  /** XOR one term in or out of a slot's digest (a damaged record's, taken out: see `Owner`) */
  xor (slot: number, term: bigint): void {
    this.digests[slot] ^= term
  }

  get (slot: number): bigint {
    return this.digests[slot]
  }

  clear (): void {
    this.digests.fill(0n)
  }

  /**
   * 8 bytes big-endian per slot of `start`..`end`, 0 where `held(slot)` is
   * false; with `group` > 0, per run of 2^group slots from `start` (the last
   * may be shorter), the XOR of its slots' digests
   */
  encode (start: number, end: number, held: (slot: number) => boolean, group = 0): Uint8Array {
    const out = new Uint8Array((((end - start) >> group) + 1) * 8)
    const view = new DataView(out.buffer)

    for (let slot = start; slot <= end; slot++) {
      if (held(slot)) {
        const at = ((slot - start) >> group) * 8
        view.setBigUint64(at, view.getBigUint64(at) ^ this.digests[slot])
      }
    }

    return out
  }
}
