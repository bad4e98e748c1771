/**
 * Timing loops shared by every benchmark: sequential latency, a fixed number
 * of operations in flight, and data generation outside the timed part.
 */

import { randomFillSync } from 'node:crypto'
import { Key } from 'interface-datastore'
import { latencySummary, now } from './stats.js'
import type { Pair } from 'interface-datastore'

/** Run `op` `count` times one after another; latency of each in ms */
export async function sequential (count: number, op: (i: number) => Promise<unknown>): Promise<{ p50: number, p99: number, opsPerSec: number }> {
  const samples = new Array<number>(count)
  const start = now()

  for (let i = 0; i < count; i++) {
    const t0 = now()
    await op(i)
    samples[i] = now() - t0
  }

  const elapsed = now() - start
  return { ...latencySummary(samples), opsPerSec: count / (elapsed / 1000) }
}

/** Run `op` `count` times with `concurrency` in flight; operations per second */
export async function concurrent (count: number, concurrency: number, op: (i: number) => Promise<unknown>): Promise<number> {
  let next = 0
  const start = now()

  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < count) {
      await op(next++)
    }
  }))

  return count / ((now() - start) / 1000)
}

/** `count` random values of `size` bytes, each its own buffer */
export function randomValues (count: number, size: number): Uint8Array[] {
  return Array.from({ length: count }, () => randomFillSync(new Uint8Array(size)))
}

/** Keys `/bench/<name>/<zero-padded i>` */
export function benchKeys (name: string, count: number): Key[] {
  const width = String(count - 1).length
  return Array.from({ length: count }, (_, i) => new Key(`/bench/${name}/${String(i).padStart(width, '0')}`))
}

/** Pairs of `benchKeys` and fresh random values */
export function benchPairs (name: string, count: number, size: number): Pair[] {
  const keys = benchKeys(name, count)
  const values = randomValues(count, size)
  return keys.map((key, i) => ({ key, value: values[i] }))
}

/** Key plus value bytes: what a put carries that a transport must carry too */
export function payloadBytes (pairs: Pair[]): number {
  let total = 0

  for (const { key, value } of pairs) {
    total += key.uint8Array().byteLength + value.byteLength
  }

  return total
}

/** Wait until `check` holds, polling */
export async function until (check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs

  while (!check()) {
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}`)
    }

    await new Promise(resolve => setTimeout(resolve, 20))
  }
}
