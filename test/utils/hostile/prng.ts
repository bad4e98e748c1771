/**
 * A small seeded pseudo-random generator (sfc32, seeded through splitmix32),
 * so a fuzz run is reproduced exactly from its printed seed.
 */
export class Prng {
  private a: number
  private b: number
  private c: number
  private d: number

  constructor (readonly seed: number) {
    let s = seed >>> 0
    const next = (): number => {
      s = (s + 0x9e3779b9) >>> 0
      let z = s
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0
      return (z ^ (z >>> 16)) >>> 0
    }
    this.a = next()
    this.b = next()
    this.c = next()
    this.d = next()

    for (let i = 0; i < 12; i++) {
      this.u32()
    }
  }

  /** A uniformly distributed unsigned 32-bit integer */
  u32 (): number {
    const t = (((this.a + this.b) >>> 0) + this.d) >>> 0
    this.d = (this.d + 1) >>> 0
    this.a = this.b ^ (this.b >>> 9)
    this.b = (this.c + (this.c << 3)) >>> 0
    this.c = (this.c << 21) | (this.c >>> 11)
    this.c = (this.c + t) >>> 0
    return t
  }

  /** A float in [0, 1) */
  float (): number {
    return this.u32() / 4294967296
  }

  /** An integer in [min, max] */
  int (min: number, max: number): number {
    return min + Math.floor(this.float() * (max - min + 1))
  }

  /** True with probability `p` */
  chance (p: number): boolean {
    return this.float() < p
  }

  pick<T> (items: readonly T[]): T {
    return items[Math.floor(this.float() * items.length)]
  }

  /** An item drawn with the given weights */
  weighted<T> (items: ReadonlyArray<readonly [T, number]>): T {
    const total = items.reduce((sum, [, w]) => sum + w, 0)
    let r = this.float() * total

    for (const [item, w] of items) {
      r -= w

      if (r < 0) {
        return item
      }
    }

    return items[items.length - 1][0]
  }

  bytes (length: number): Uint8Array<ArrayBuffer> {
    const out = new Uint8Array(length)

    for (let i = 0; i < length; i += 4) {
      const v = this.u32()
      out[i] = v & 0xff
      if (i + 1 < length) out[i + 1] = (v >>> 8) & 0xff
      if (i + 2 < length) out[i + 2] = (v >>> 16) & 0xff
      if (i + 3 < length) out[i + 3] = v >>> 24
    }

    return out
  }
}

/** The seed from `FUZZ_SEED` (decimal or 0x hex), else a fresh one */
export function seedFromEnv (name = 'FUZZ_SEED'): number {
  const given = process.env[name]

  if (given != null && given !== '') {
    const n = Number(given)

    if (!Number.isInteger(n)) {
      throw new Error(`${name} must be an integer, got ${given}`)
    }

    return n >>> 0
  }

  return (Date.now() ^ (process.pid << 16) ^ Math.floor(Math.random() * 0xffffffff)) >>> 0
}
