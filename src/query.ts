import { Key } from 'interface-datastore'
import { MovedError } from './errors.js'
import { Request, Response } from './pb/message.js'
import { plain } from './rpc/bytes.js'
import { errorFromResponse } from './rpc/errors.js'
import { keySlot } from './slots/hash.js'
import type { ClusterDatastore } from './cluster-datastore.js'
import type { AbortOptions, PeerId } from '@libp2p/interface'
import type { Pair } from 'interface-datastore'

/** Pairs of the local store handed on together, like one remote frame */
const LOCAL_BATCH = 256
const EMPTY = new Uint8Array(0)

/**
 * Every pair (or key, with `keysOnly`) under `prefix` across the cluster,
 * unordered. The prefix is pushed down to every primary owner, each answers
 * only for its own slots, and the answers are merged as they arrive — one
 * frame per owner at most waits here, so memory stays bounded. Filters,
 * orders, offset and limit are applied on top by BaseDatastore, exactly as
 * for a single store. An owner that fails fails the query with an error
 * naming it.
 */
export async function * fanOutQuery (store: ClusterDatastore, prefix: string | undefined, keysOnly: boolean, options: AbortOptions): AsyncGenerator<Pair> {
  for (let attempt = 0; ; attempt++) {
    const table = store.slots
    const sources: Array<AsyncGenerator<Pair[]>> = table.ownerPeers().map(peer => peer.equals(store.self)
      ? queryLocal(store, prefix, keysOnly, options)
      : queryRemote(store, peer, prefix, keysOnly, options))
    const firsts: Array<IteratorResult<Pair[]>> = []
    let moved: { res: Response, peer: PeerId } | undefined

    try {
      // nothing is yielded until every owner has answered once, so a MOVED
      // answer can still restart the query under the newer table
      const settled = await Promise.allSettled(sources.map(async s => s.next()))

      for (const result of settled) {
        if (result.status === 'rejected') {
          if (result.reason instanceof Moved) {
            moved ??= result.reason.moved
            continue
          }

          throw result.reason
        }

        firsts.push(result.value)
      }

      if (moved == null) {
        yield * merge(sources, firsts, options)
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

/**
 * Yield from all sources as their batches arrive. `firsts` holds each
 * source's first result, already read.
 */
async function * merge (sources: Array<AsyncGenerator<Pair[]>>, firsts: Array<IteratorResult<Pair[]>>, options: AbortOptions): AsyncGenerator<Pair> {
  const pending = new Map<number, Promise<{ index: number, result: IteratorResult<Pair[]> }>>()
  const arm = (index: number): void => {
    const next = sources[index].next().then(result => ({ index, result }))
    // raced below; when the caller stops early nobody awaits it
    next.catch(() => {})
    pending.set(index, next)
  }

  for (let i = 0; i < sources.length; i++) {
    const first = firsts[i]

    if (first.done !== true) {
      yield * first.value
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
    yield * result.value
  }
}

async function * queryLocal (store: ClusterDatastore, prefix: string | undefined, keysOnly: boolean, options: AbortOptions): AsyncGenerator<Pair[]> {
  const owned = store.ownership
  let batch: Pair[] = []

  if (keysOnly) {
    for await (const key of store.child.queryKeys({ prefix }, options)) {
      if (owned.isPrimary(keySlot(key))) {
        batch.push({ key, value: EMPTY })

        if (batch.length >= LOCAL_BATCH) {
          yield batch
          batch = []
        }
      }
    }
  } else {
    for await (const pair of store.child.query({ prefix }, options)) {
      if (owned.isPrimary(keySlot(pair.key))) {
        batch.push(pair)

        if (batch.length >= LOCAL_BATCH) {
          yield batch
          batch = []
        }
      }
    }
  }

  yield batch
}

async function * queryRemote (store: ClusterDatastore, peer: PeerId, prefix: string | undefined, keysOnly: boolean, options: AbortOptions): AsyncGenerator<Pair[]> {
  const frames = store.channel(peer).callStreamed({
    type: Request.Type.QUERY,
    epoch: store.slots.epoch,
    prefix: prefix ?? '',
    keysOnly
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
    yield res.entries.map(entry => ({ key: new Key(plain(entry.key), false), value: plain(entry.value) }))
  }
}
