import { makeVersion, versionClock } from './record.js'
import type { PeerId } from '@libp2p/interface'

export interface HybridClockInit {
  /** The writer named in the versions this clock makes (`version()`) */
  self?: PeerId
  /** Wall clock in milliseconds, default `Date.now` */
  now?: () => number
  /**
   * How far ahead of this node's wall clock, in milliseconds, a clock or
   * version it is sent may be and still count (default one day). Machines
   * disagree by seconds; a clock days ahead is a misconfigured or hostile
   * peer, and following it would pin every later version near the end of
   * the clock's range.
   */
  maxAhead?: number
}

/** Default `maxAhead`: one day */
export const DEFAULT_MAX_CLOCK_AHEAD = 24 * 60 * 60 * 1000

const COUNTER_BITS = 16n
const MAX_CLOCK = (1n << 64n) - 1n

/**
 * A hybrid logical clock: 48 bits of milliseconds and a 16-bit counter in one
 * 64-bit value. Each value it issues is greater than every value it issued or
 * observed before, and follows the wall clock when the wall clock is ahead.
 * Wall clocks of different machines never have to agree: owners refuse older
 * versions, and every node observes the clocks and versions it is sent, so a
 * value issued after seeing another is greater than it.
 */
export class HybridClock {
  private last: bigint
  private readonly wall: () => number
  private readonly writer?: Uint8Array
  /** See `HybridClockInit.maxAhead` */
  readonly maxAhead: number

  constructor (init: HybridClockInit = {}) {
    this.last = 0n
    this.wall = init.now ?? (() => Date.now())
    this.writer = init.self?.toMultihash().bytes
    this.maxAhead = init.maxAhead ?? DEFAULT_MAX_CLOCK_AHEAD
  }

  /**
   * Whether a clock value from elsewhere is at most `maxAhead` ms ahead of
   * this node's wall clock: owners refuse versions that are not, and the
   * clock does not follow them
   */
  plausible (value: bigint): boolean {
    return value <= BigInt(Math.max(0, Math.floor(this.wall() + this.maxAhead))) << COUNTER_BITS
  }

  /** The last value issued or observed: what requests and answers carry in `clock` */
  get current (): bigint {
    return this.last
  }

  /** A new value, greater than every value issued or observed so far */
  now (): bigint {
    const wall = BigInt(Math.max(0, Math.floor(this.wall()))) << COUNTER_BITS
    const next = this.last + 1n > wall ? this.last + 1n : wall

    // past 2^64 a value would not fit the version bytes: stay at the top
    // rather than wrap to the past (only a peer sending absurd clocks gets here)
    this.last = next > MAX_CLOCK ? MAX_CLOCK : next
    return this.last
  }

  /**
   * A new version: the next value (8 bytes big-endian) followed by this
   * node's peer ID bytes, which breaks ties between writers
   */
  version (): Uint8Array {
    if (this.writer == null) {
      throw new Error('this clock was made without a peer ID and cannot make versions')
    }

    return makeVersion(this.now(), this.writer)
  }

  /**
   * Advance past a clock value from the wire, or past the clock of a version
   * (its first 8 bytes). An absent or zero clock, and one more than
   * `maxAhead` ms ahead of the wall clock, are ignored.
   */
  observe (seen: bigint | Uint8Array | undefined | null): void {
    if (seen == null) {
      return
    }

    const value = typeof seen === 'bigint' ? seen : versionClock(seen)

    if (value > this.last && this.plausible(value)) {
      this.last = value
    }
  }
}
