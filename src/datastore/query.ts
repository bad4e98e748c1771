import { Key } from 'interface-datastore'
import { MovedError } from '../errors.js'
import { wirePrefix } from '../owner/keys.js'
import { Request, Response } from '../pb/message.js'
import { EMPTY } from '../rpc/bytes.js'
import { errorFromResponse } from '../rpc/errors.js'
import { MovedAnswer, fromRefusal } from '../routing/router.js'
import { keySlot } from '../slots/hash.js'
import type { DatastoreComponents } from './components.js'
import type { ConsistencyOptions } from '../replication/consistency.js'
import type { Entry } from '../pb/message.js'
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
 * The slot of every key under `prefix`, when the prefix holds a whole hash
 * tag (a `{`, then a `}` with something between): keys that extend it have
 * the same tag, so the same slot
 */
function tagSlot (prefix: string | undefined): number | undefined {
  const open = prefix?.indexOf('{') ?? -1

  if (prefix == null || open === -1) {
    return undefined
  }

  return prefix.indexOf('}', open + 1) > open + 1 ? keySlot(prefix) : undefined
}

/**
 * Queries over every owner of a `ClusterDatastore`
 */
export class QueryFanOut {
  private readonly components: DatastoreComponents

  constructor (components: DatastoreComponents) {
    this.components = components
  }

  /**
   * Every pair (or key) under `prefix` across the cluster, unordered. The
   * prefix is pushed down to every primary owner, each answers only for its
   * own slots, and the answers are merged as they arrive — one frame per
   * owner at most waits here, so memory stays bounded. Filters, orders,
   * offset and limit (and the exact prefix, when the pushed-down one had to
   * be cut) are applied on top by BaseDatastore, exactly as for a single
   * store. An owner that fails fails the query with an error naming it.
   *
   * One generator from the owners' frames to the caller: every extra layer
   * would cost a promise per item.
   */
  run<T> (prefix: string | undefined, shape: QueryShape<T>, options: ConsistencyOptions): AsyncGenerator<T> {
    // the generator itself, not one wrapping it: a layer costs a promise per item
    return this.components.router.hasReplicas() ? this.replicated(prefix, shape, options) : this.plain(prefix, shape, options)
  }

  /**
   * A query over a table with replicated ranges: the records of replicated
   * slots from enough of their owners, merged per key at the newest version
   * (see `Coordinator.query`), and the keys of single-owner slots from their
   * owners as `plain` gives them
   */
  private async * replicated<T> (prefix: string | undefined, shape: QueryShape<T>, options: ConsistencyOptions): AsyncGenerator<T> {
    this.components.assertStarted()
    const router = this.components.router

    for await (const record of this.components.coordinator.query(wirePrefix(prefix), shape.keysOnly, options)) {
      yield shape.remote({ key: record.key as Uint8Array<ArrayBuffer>, value: record.value as Uint8Array<ArrayBuffer> | undefined, missing: false })
    }

    if (router.ownership().table.ranges.every(range => range.owners.length > 1)) {
      return
    }

    // primaries answer plain queries for replicated slots too: those keys came above
    for await (const item of this.plain(prefix, shape, options)) {
      const key = (item as Pair).key ?? item as Key

      if (!router.isReplicated(keySlot(key.uint8Array()))) {
        yield item
      }
    }
  }

  private async * plain<T> (prefix: string | undefined, shape: QueryShape<T>, options: AbortOptions): AsyncGenerator<T> {
    this.components.assertStarted()
    const pushed = wirePrefix(prefix)

    for (let attempt = 0; ; attempt++) {
      const routes = this.components.router.routes('read')
      // leaving early must not wait for an owner's next frame: the owners'
      // calls are aborted before their readers are closed
      const fanOut = new AbortController()
      const signal = options.signal == null ? fanOut.signal : AbortSignal.any([options.signal, fanOut.signal])
      const slot = tagSlot(prefix)
      // a prefix that holds a whole {hash tag} names one slot: only its owner has such keys
      const asked = slot == null ? routes.peers.map((_, i) => i) : [routes.target(slot)]
      const sources: Array<AsyncGenerator<T[]>> = asked.map(i => i === routes.selfIndex
        ? this.queryLocal(pushed, routes.epoch, shape, signal)
        : this.queryRemote(routes.peers[i], routes.epoch, pushed, shape, signal))
      let moved: MovedAnswer | undefined

      try {
        // nothing is yielded until every owner has answered once, so a MOVED
        // answer can still restart the query under the newer table
        const firsts = await Promise.allSettled(sources.map(async s => s.next()))

        for (const result of firsts) {
          if (result.status === 'rejected') {
            if (result.reason instanceof MovedAnswer) {
              moved ??= result.reason
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
        fanOut.abort()
        await Promise.allSettled(sources.map(async s => s.return(undefined)))
      }

      await this.components.router.redirect(moved.res, moved.peer, attempt, 'The query', options)

      if (this.components.router.hasReplicas()) {
        // the table learnt has replicated ranges: their owners answer with records
        yield * this.replicated(prefix, shape, options)
        return
      }
    }
  }

  /**
   * How many keys `peer` holds as primary, asked of that node alone (this
   * node's owner service when it is this node). A peer on another table
   * epoch is reported with `MovedError`, not followed: the count is for the
   * table this node has.
   */
  async count (peer: PeerId, options: AbortOptions): Promise<number> {
    this.components.assertStarted()
    const routes = this.components.router.routes('read')

    if (routes.selfIndex !== -1 && routes.peers[routes.selfIndex].equals(peer)) {
      return this.components.owner.countKeys(options)
    }

    const frames = this.components.router.channel(peer).callStreamed({
      type: Request.Type.QUERY,
      epoch: routes.epoch,
      prefix: '',
      keysOnly: true
    }, options)
    let count = 0

    for await (const res of frames) {
      if (res.status === Response.Status.MOVED) {
        throw new MovedError(`Peer ${peer.toString()} answers with slot table epoch ${res.epoch}, this node has epoch ${routes.epoch}: give every node the same table`)
      }

      if (res.status !== Response.Status.OK) {
        throw errorFromResponse(res, peer.toString())
      }

      count += res.entries.length
    }

    return count
  }

  private async * queryLocal<T> (prefix: string | undefined, epoch: number, shape: QueryShape<T>, signal: AbortSignal): AsyncGenerator<T[]> {
    let pairs: AsyncGenerator<Pair>

    try {
      pairs = this.components.owner.query(prefix, shape.keysOnly, { signal, epoch })
    } catch (err) {
      throw fromRefusal(err)
    }

    let batch: T[] = []

    for await (const pair of pairs) {
      batch.push(shape.local(pair))

      if (batch.length >= LOCAL_BATCH) {
        yield batch
        batch = []
      }
    }

    yield batch
  }

  private async * queryRemote<T> (peer: PeerId, epoch: number, prefix: string | undefined, shape: QueryShape<T>, signal: AbortSignal): AsyncGenerator<T[]> {
    const frames = this.components.router.channel(peer).callStreamed({
      type: Request.Type.QUERY,
      epoch,
      prefix: prefix ?? '',
      keysOnly: shape.keysOnly
    }, { signal })
    let first = true

    for await (const res of frames) {
      if (res.status === Response.Status.MOVED && first) {
        throw new MovedAnswer(res, peer)
      }

      if (res.status !== Response.Status.OK) {
        throw errorFromResponse(res, peer.toString())
      }

      first = false
      yield res.entries.map(shape.remote)
    }
  }
}
