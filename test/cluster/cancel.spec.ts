/**
 * Leaving a streamed answer early (`break`, a `limit`) returns at once: the
 * owner's call is aborted rather than waited on. Here the owner's store
 * stalls after the first frame, so without the abort the caller would wait
 * for the owner's next frame until `requestTimeout`.
 */
import { MemoryDatastore } from 'datastore-core'
import { Key } from 'interface-datastore'
import all from 'it-all'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { keySlot } from '../../src/index.js'
import { createCluster } from '../utils/cluster.js'
import type { TestCluster } from '../utils/cluster.js'
import type { AbortOptions } from '@libp2p/interface'
import type { Pair, Query } from 'interface-datastore'

/** Pairs served before the store stalls; with 40 KiB values each frame holds one */
const SERVED = 2
const VALUE = new Uint8Array(40 * 1024).fill(1)

/** A store that stalls, in a query after SERVED pairs and on the keys in `slow`, until released */
class StallingDatastore extends MemoryDatastore {
  readonly slow = new Set<string>()
  private readonly waiting: Array<() => void> = []

  override async * query (q: Query, options?: AbortOptions): AsyncGenerator<Pair> {
    let n = 0

    for await (const pair of super.query(q, options)) {
      if (n++ === SERVED) {
        await this.stall()
      }

      yield pair
    }
  }

  override async get (key: Key, options?: AbortOptions): Promise<Uint8Array> {
    if (this.slow.has(key.toString())) {
      await this.stall()
    }

    return super.get(key, options)
  }

  release (): void {
    this.waiting.splice(0).forEach(resolve => { resolve() })
  }

  private async stall (): Promise<void> {
    await new Promise<void>(resolve => { this.waiting.push(resolve) })
  }
}

const REQUEST_TIMEOUT = 30_000
const TOO_LATE = Symbol('still waiting at requestTimeout / 2')

/** `work`, or TOO_LATE once half the request timeout has passed */
async function beforeHalfTimeout<T> (work: Promise<T>): Promise<T | typeof TOO_LATE> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const late = new Promise<typeof TOO_LATE>(resolve => { timer = setTimeout(() => { resolve(TOO_LATE) }, REQUEST_TIMEOUT / 2) })

  try {
    return await Promise.race([work, late])
  } finally {
    clearTimeout(timer)
  }
}

describe('leaving a streamed answer early', () => {
  let cluster: TestCluster
  const remoteKeys: Key[] = []
  const localKeys: Key[] = []
  const stalling = new StallingDatastore()

  beforeAll(async () => {
    cluster = await createCluster({ nodes: 2, options: { requestTimeout: REQUEST_TIMEOUT }, local: (i) => i === 1 ? stalling : new MemoryDatastore() })
    const remote = cluster.nodes[1].libp2p.peerId

    for (let i = 0; remoteKeys.length < 10 || localKeys.length < 300; i++) {
      const key = new Key(`/cancel/${i}`)
      const mine = cluster.table.primary(keySlot(key)).equals(remote) ? remoteKeys : localKeys
      mine.push(key)
    }

    // the caller keeps reading this node's own pairs while the owner has stalled
    await all(cluster.nodes[1].store.putMany([...remoteKeys, ...localKeys].map(key => ({ key, value: VALUE }))))
    remoteKeys.slice(SERVED).forEach(key => stalling.slow.add(key.toString()))
  })

  afterAll(async () => {
    stalling.release()
    await cluster?.stop()
  })

  it('query: break while an owner has stalled', async () => {
    const store = cluster.nodes[0].store
    const result = await beforeHalfTimeout((async () => {
      let n = 0

      for await (const pair of store.query({ prefix: '/cancel/' })) {
        // past this node's first batch of pairs: the owner's next frame is awaited
        if (++n === 290) {
          return pair
        }
      }
    })())

    expect(result).not.toBe(TOO_LATE)
    // the stream to the owner goes on serving
    expect(await store.has(remoteKeys[0])).toBe(true)
  }, REQUEST_TIMEOUT * 2)

  it('query: a limit', async () => {
    const result = await beforeHalfTimeout(all(cluster.nodes[0].store.query({ prefix: '/cancel/', limit: 290 })))
    expect(result).toHaveLength(290)
  }, REQUEST_TIMEOUT * 2)

  it('getMany: break while an owner has stalled', async () => {
    const store = cluster.nodes[0].store
    const result = await beforeHalfTimeout((async () => {
      // the owner sends the first value, then stalls: its next frame is awaited
      for await (const pair of store.getMany([remoteKeys[0], localKeys[0], ...remoteKeys.slice(1), localKeys[1]])) {
        if (pair.key.toString() === localKeys[0].toString()) {
          return pair
        }
      }
    })())

    expect(result).not.toBe(TOO_LATE)
    expect((result as { key: Key }).key.toString()).toBe(localKeys[0].toString())
    expect(await all(store.getMany(remoteKeys.slice(0, SERVED)))).toHaveLength(SERVED)
  }, REQUEST_TIMEOUT * 2)
})
