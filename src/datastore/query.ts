import { Key } from 'interface-datastore'
import { MovedError } from './errors.js'
import { Request, Response } from './pb/message.js'
import { EMPTY } from './rpc/bytes.js'
import { errorFromResponse } from './rpc/errors.js'
import { keySlot } from './slots/hash.js'
import type { ClusterDatastore } from './cluster-datastore.js'
import type { Entry } from './pb/message.js'
import type { AbortOptions, PeerId } from '@libp2p/interface'
import type { Pair } from 'interface-datastore'

/** Items of the local store handed on together, like one remote frame */
const LOCAL_BATCH = 256

/** What a query yields: pairs, or keys only */
export interface QueryShape<T> {
  keysOnly: boolean
  /** An item from the local store */
  local: (pair: Pair) => T
  /** An item from an owner's answer */
  remote: (entry: Entry) => T
}

export const PAIRS: QueryShape<Pair> = {
  keysOnly: false,
  local: pair => pair,
  remote: entry => ({ key: new Key(entry.key ?? EMPTY, false), value: entry.value ?? EMPTY })
}

export const KEYS: QueryShape<Key> = {
  keysOnly: true,
  local: pair => pair.key,
  remote: entry => new Key(entry.key ?? EMPTY, false)
}

/**
 * Every pair (or key) under `prefix` across the cluster, unordered. The
 * prefix is pushed down to every primary owner, each answers only for its own
 * slots, and the answers are merged as they arrive — one frame per owner at
 * most waits here, so memory stays bounded. Filters, orders, offset and limit
 * are applied on top by BaseDatastore, exactly as for a single store. An owner
 * that fails fails the query with an error naming it.
 *
 * One generator from the owners' frames to the caller: every extra layer
 * would cost a promise per item.
 */
export async function * fanOutQuery<T> (store: ClusterDatastore, prefix: string | undefined, shape: QueryShape<T>, options: AbortOptions): AsyncGenerator<T> {
  store.assertStarted()

  for (let attempt = 0; ; attempt++) {
    const owned = store.ownership
    const sources: Array<AsyncGenerator<T[]>> = owned.primaries.map((peer, i) => i === owned.selfIndex
      ? queryLocal(store, prefix, shape, options)
      : queryRemote(store, peer, prefix, shape, options))
    let moved: { res: Response, peer: PeerId } | undefined

    try {
      // nothing is yielded until every owner has answered once, so a MOVED
      // answer can still restart the query under the newer table
      const firsts = await Promise.allSettled(sources.map(async s => s.next()))

      for (const result of firsts) {
        if (result.status === 'rejected') {
          if (result.reason instanceof Moved) {
            moved ??= result.reason.moved
            continue
          }

          throw result.reason
        }
      }

      if (moved == null) {
        // merge: yield each owner's batches as they arrive
        const pending = new Map<number, Promise<{ index: number, result: IteratorResult<T[]> }>>()
        const arm = (index: number): void => {
          const next = sources[index].next().then(result => ({ index, result }))
          // raced below; when the caller stops early nobody awaits it
          next.catch(() => {})
          pending.set(index, next)
        }

        for (let i = 0; i < sources.length; i++) {
          const first = firsts[i] as PromiseFulfilledResult<IteratorResult<T[]>>

          if (first.value.done !== true) {
            for (const item of first.value.value) {
              yield item
            }

            arm(i)
          }
        }

        while (pending.size > 0) {
          options.signal?.throwIfAborted()
          const { index, result } = await Promise.race(pending.values())

          if (result.done === true) {
            pending.delete(index)
            continue
          }

          arm(index)

          for (const item of result.value) {
            yield item
          }
        }

        return
      }
    } finally {
      await Promise.allSettled(sources.map(async s => s.return(undefined)))
    }

    if (attempt >= store.options.maxRedirects) {
      throw new MovedError(`The query was still misrouted after ${store.options.maxRedirects} redirects (${moved.res.message})`)
    }

    await store.onMoved(moved.res, moved.peer, options)
  }
}

/** A MOVED first answer, carried out of an owner's reader */
class Moved extends Error {
  readonly moved: { res: Response, peer: PeerId }

  constructor (res: Response, peer: PeerId) {
    super(res.message)
    this.moved = { res, peer }
  }
}

async function * queryLocal<T> (store: ClusterDatastore, prefix: string | undefined, shape: QueryShape<T>, options: AbortOptions): AsyncGenerator<T[]> {
  const owned = store.ownership
  let batch: T[] = []
  const source = shape.keysOnly
    ? keysAsPairs(store.child.queryKeys({ prefix }, options))
    : store.child.query({ prefix }, options)

  for await (const pair of source) {
    if (owned.isPrimary(keySlot(pair.key))) {
      batch.push(shape.local(pair))

      if (batch.length >= LOCAL_BATCH) {
        yield batch
        batch = []
      }
    }
  }

  yield batch
}

async function * keysAsPairs (keys: AsyncIterable<Key> | Iterable<Key>): AsyncGenerator<Pair> {
  for await (const key of keys) {
    yield { key, value: EMPTY }
  }
}

async function * queryRemote<T> (store: ClusterDatastore, peer: PeerId, prefix: string | undefined, shape: QueryShape<T>, options: AbortOptions): AsyncGenerator<T[]> {
  const frames = store.channel(peer).callStreamed({
    type: Request.Type.QUERY,
    epoch: store.slots.epoch,
    prefix: prefix ?? '',
    keysOnly: shape.keysOnly
  }, options)
  let first = true

  for await (const res of frames) {
    if (res.status === Response.Status.MOVED && first) {
      throw new Moved(res, peer)
    }

    if (res.status !== Response.Status.OK) {
      throw errorFromResponse(res, peer.toString())
    }

    first = false
    yield res.entries.map(shape.remote)
  }
}
