/**
 * Benchmarks of the cluster under load (issue 8): many large values in
 * flight at once, and small requests that share a stream with large ones
 * (head-of-line blocking).
 */

import { latencySummary, now } from './stats.js'
import type { ClusterDatastore } from '../../src/index.js'
import type { Key, Pair } from 'interface-datastore'

/**
 * Put every pair, then get every key, `concurrency` in flight; bytes per
 * second of values each way
 */
export async function bigInFlight (store: ClusterDatastore, pairs: Pair[], concurrency: number): Promise<{ putBps: number, getBps: number }> {
  const bytes = pairs.reduce((n, p) => n + p.value.byteLength, 0)
  let next = 0
  let t = now()

  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < pairs.length) {
      const { key, value } = pairs[next++]
      await store.put(key, value)
    }
  }))

  const putBps = bytes / ((now() - t) / 1000)
  next = 0
  t = now()
  let got = 0

  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < pairs.length) {
      // not `got += await …`: that reads `got` before the await and loses the other workers' additions
      const value = await store.get(pairs[next++].key)
      got += value.byteLength
    }
  }))

  if (got !== bytes) {
    throw new Error(`read back ${got} of ${bytes} bytes`)
  }

  return { putBps, getBps: bytes / ((now() - t) / 1000) }
}

export interface HeadOfLine {
  /** Small gets, sequential, nothing else running: p50/p99 ms */
  alone: { p50: number, p99: number }
  /** The same small gets while large values stream from the same owner */
  mixed: { p50: number, p99: number }
  /** Bytes per second of large values during the mixed run */
  largeBps: number
}

/**
 * Sequential small gets from one owner, first alone, then while
 * `largeConcurrency` gets of large values from the same owner (so on the
 * same stream) run back to back
 */
export async function headOfLine (store: ClusterDatastore, small: Key[], large: Key[], ops: number, largeConcurrency: number): Promise<HeadOfLine> {
  const measure = async (): Promise<{ p50: number, p99: number }> => {
    const samples: number[] = []

    for (let i = 0; i < ops; i++) {
      const t0 = now()
      await store.get(small[i % small.length])
      samples.push(now() - t0)
    }

    return latencySummary(samples)
  }

  const alone = await measure()
  let streaming = true
  let largeBytes = 0
  let j = 0
  const t = now()
  const background = Promise.all(Array.from({ length: largeConcurrency }, async () => {
    while (streaming) {
      const value = await store.get(large[j++ % large.length])
      largeBytes += value.byteLength
    }
  }))

  // let the large answers fill the stream first
  await new Promise(resolve => setTimeout(resolve, 20))
  let mixed: { p50: number, p99: number }

  try {
    mixed = await measure()
  } finally {
    streaming = false
    await background
  }

  return { alone, mixed, largeBps: largeBytes / ((now() - t) / 1000) }
}
