import { NotFoundError } from 'interface-store'
import { ProtocolError } from '../errors.js'
import { GET_MANY_CHUNK, WRITE_CHUNK_BYTES } from '../constants.js'
import { Request, Response } from '../pb/message.js'
import { EMPTY } from '../rpc/bytes.js'
import { errorFromResponse } from '../rpc/errors.js'
import { fromRefusal } from '../routing/router.js'
import { keySlot } from '../slots/hash.js'
import { assertKey, assertValue } from '../validate.js'
import { outcome, partialWriteError, writeShares } from './batch.js'
import type { ShareResult } from './batch.js'
import type { DatastoreComponents } from './components.js'
import type { ConsistencyOptions } from '../replication/consistency.js'
import type { AbortOptions, PeerId } from '@libp2p/interface'
import type { Key, Pair } from 'interface-datastore'

/** How many chunks of a putMany/deleteMany may be in flight at once */
const WRITE_PIPELINE_DEPTH = 4
/** Entries of a putMany/deleteMany chunk */
const WRITE_CHUNK_ENTRIES = 4096

/**
 * The many-key operations of a `ClusterDatastore`: keys are read from the
 * caller's source in chunks, each chunk grouped by owner and sent in
 * parallel, several chunks in flight at once.
 */
export class ManyKeys {
  private readonly components: DatastoreComponents

  constructor (components: DatastoreComponents) {
    this.components = components
  }

  /** The keys of the pairs, yielded once stored: see ClusterDatastore.putMany */
  putMany (source: Iterable<Pair> | AsyncIterable<Pair>, options: ConsistencyOptions): AsyncGenerator<Key> {
    const max = this.components.maxMessageSize
    const sized = chunks(source, (pair: Pair) => {
      // checked as read, so a bad pair fails before anything of its chunk is sent
      assertKey(pair?.key)
      assertValue(pair.key, pair.value, max)
      return pair.value.byteLength + pair.key.uint8Array().byteLength
    }, options)

    return this.pipelined('putMany', sized, async (chunk) => writeShares(this.components, chunk, [], options), pair => pair.key, options)
  }

  /** The keys, yielded once deleted: see ClusterDatastore.deleteMany */
  deleteMany (source: Iterable<Key> | AsyncIterable<Key>, options: ConsistencyOptions): AsyncGenerator<Key> {
    const sized = chunks(source, (key: Key) => {
      assertKey(key)
      return key.uint8Array().byteLength
    }, options)

    return this.pipelined('deleteMany', sized, async (chunk) => writeShares(this.components, [], chunk, options), key => key, options)
  }

  /**
   * Values of many keys, yielded in input order. Keys are read in chunks; each
   * owner streams its part of a chunk back under flow control, so memory stays
   * bounded whatever the values' size. A missing key throws `NotFoundError`
   * when its turn comes, after the pairs before it have been yielded.
   */
  async * getMany (source: Iterable<Key> | AsyncIterable<Key>, options: ConsistencyOptions): AsyncGenerator<Pair> {
    this.components.assertStarted()
    let chunk: Key[] = []

    for await (const key of source) {
      assertKey(key)
      chunk.push(key)

      if (chunk.length >= GET_MANY_CHUNK) {
        yield * this.fetch(chunk, options)
        chunk = []
      }
    }

    if (chunk.length > 0) {
      yield * this.fetch(chunk, options)
    }
  }

  /** A chunk of a getMany, without a layer per item on tables with no replicated range */
  private fetch (keys: Key[], options: ConsistencyOptions): AsyncGenerator<Pair> {
    return this.components.router.hasReplicas() ? this.fetchChunk(keys, options, 0) : this.fetchInOrder(keys, options, 0)
  }

  /** One chunk of a getMany: keys of replicated slots through the coordinator, the others as before */
  private async * fetchChunk (keys: Key[], options: ConsistencyOptions, attempt: number): AsyncGenerator<Pair> {
    const router = this.components.router

    if (!router.hasReplicas()) {
      yield * this.fetchInOrder(keys, options, attempt)
      return
    }

    const replicated = keys.map(key => router.isReplicated(keySlot(key)))
    const plainKeys = keys.filter((_, i) => !replicated[i])
    const plain = plainKeys.length > 0 ? this.fetchInOrder(plainKeys, options, attempt) : undefined

    try {
      const records = await this.components.coordinator.readMany(keys.filter((_, i) => replicated[i]), options)
      let next = 0

      for (let i = 0; i < keys.length; i++) {
        if (!replicated[i]) {
          const result = await (plain as AsyncGenerator<Pair>).next()
          yield result.value as Pair
          continue
        }

        const record = records[next++]

        if (record == null || record.tombstone) {
          throw new NotFoundError(`Not Found: ${keys[i].toString()}`)
        }

        yield { key: keys[i], value: record.value ?? EMPTY }
      }
    } finally {
      await plain?.return(undefined)
    }
  }

  /**
   * Several chunks in flight at once; keys are yielded in input order once
   * the chunk that holds them is stored. When a write fails, every key that
   * was stored is still yielded — the rest of that chunk's, and those of the
   * chunks in flight behind it — no more of the source is read, and a
   * `PartialWriteError` lists the keys that were not written. An error from
   * the source itself (a bad pair, a failing iterator) is thrown once the
   * chunks before it are stored and yielded.
   */
  private async * pipelined<T> (what: string, source: AsyncIterable<T[]>, apply: (chunk: T[]) => Promise<ShareResult[]>, keyOf: (item: T) => Key, options: AbortOptions): AsyncGenerator<Key> {
    this.components.assertStarted()
    const inFlight: Array<{ chunk: T[], done: Promise<ShareResult[]> }> = []
    const failures: ShareResult[] = []
    const failedKeys: Key[] = []
    let written = 0
    let sourceError: Error | undefined

    const start = (chunk: T[]): void => {
      const done = apply(chunk).catch((err: Error) => [{ owner: undefined, puts: [], deletes: chunk.map(keyOf), error: err }])
      inFlight.push({ chunk, done })
    }

    /** The stored keys of the oldest chunk in flight, in input order */
    const settle = async (): Promise<Key[]> => {
      const head = inFlight.shift() as { chunk: T[], done: Promise<ShareResult[]> }
      const results = await head.done
      const { failed, failedKeys: lost, written: stored } = outcome(results)
      written += stored

      if (failed.length === 0) {
        return head.chunk.map(keyOf)
      }

      failures.push(...failed)
      failedKeys.push(...lost)
      const notStored = new Set(lost)
      return head.chunk.map(keyOf).filter(key => !notStored.has(key))
    }

    try {
      try {
        for await (const chunk of source) {
          start(chunk)

          if (inFlight.length >= WRITE_PIPELINE_DEPTH) {
            yield * await settle()

            if (failures.length > 0) {
              break
            }
          }
        }
      } catch (err: any) {
        sourceError = err
      }

      while (inFlight.length > 0) {
        yield * await settle()
      }
    } finally {
      // a consumer that stops early still gets its writes finished, not abandoned half-sent
      await Promise.allSettled(inFlight.map(f => f.done))
    }

    if (failures.length > 0) {
      options.signal?.throwIfAborted()
      throw partialWriteError(what, failures, failedKeys, written, ', and each was yielded')
    }

    if (sourceError != null) {
      throw sourceError
    }
  }

  /**
   * Fetch `keys` from their owners in parallel and yield them in order: each
   * owner's answer comes in its request's order, so the next pair for a key is
   * the next one its owner's reader produces.
   */
  private async * fetchInOrder (keys: Key[], options: AbortOptions, attempt: number): AsyncGenerator<Pair> {
    const routes = this.components.router.routes('read')
    // per key, the index of its owner; per owner, its keys in input order
    const ownerOf = new Uint16Array(keys.length)
    const keysOf: Key[][] = []

    for (let i = 0; i < keys.length; i++) {
      const index = routes.target(keySlot(keys[i]))
      ownerOf[i] = index;
      (keysOf[index] ??= []).push(keys[i])
    }

    // leaving early must not wait for an owner's next frame: this aborts the
    // readers' calls before they are closed
    const fanOut = new AbortController()
    const signal = options.signal == null ? fanOut.signal : AbortSignal.any([options.signal, fanOut.signal])
    const readers: Array<Prefetch<Pair | undefined>> = []

    keysOf.forEach((group, index) => {
      readers[index] = new Prefetch(index === routes.selfIndex
        ? this.fetchLocal(group, routes.epoch, signal)
        : this.fetchRemote(routes.peers[index], routes.epoch, group, signal, options, attempt))
    })

    try {
      for (let i = 0; i < keys.length; i++) {
        const pair = await readers[ownerOf[i]].next()

        if (pair == null) {
          throw new NotFoundError(`Not Found: ${keys[i].toString()}`)
        }

        yield pair
      }
    } finally {
      fanOut.abort()
      await Promise.allSettled(readers.map(async r => r.close()))
    }
  }

  private async * fetchLocal (keys: Key[], epoch: number, signal: AbortSignal): AsyncGenerator<Pair | undefined> {
    let values: AsyncGenerator<Uint8Array | undefined>

    try {
      values = this.components.owner.getMany(keys, { signal, epoch })
    } catch (err) {
      throw fromRefusal(err)
    }

    let i = 0

    for await (const value of values) {
      const key = keys[i++]
      yield value == null ? undefined : { key, value }
    }
  }

  private async * fetchRemote (owner: PeerId, epoch: number, keys: Key[], signal: AbortSignal, options: AbortOptions, attempt: number): AsyncGenerator<Pair | undefined> {
    const frames = this.components.router.channel(owner).callStreamed({
      type: Request.Type.GET_MANY,
      epoch,
      keys: keys.map(k => k.uint8Array() as Uint8Array<ArrayBuffer>)
    }, { signal })
    let index = 0

    for await (const res of frames) {
      if (res.status === Response.Status.MOVED && index === 0) {
        await this.components.router.redirect(res, owner, attempt, `getMany keys for peer ${owner.toString()}`, options)
        // under this fan-out's signal, so leaving early aborts the retry's owners too
        // the table learnt may have made some of these slots replicated
        yield * this.fetchChunk(keys, { ...options, signal }, attempt + 1)
        return
      }

      if (res.status !== Response.Status.OK) {
        throw errorFromResponse(res, owner.toString())
      }

      for (const entry of res.entries) {
        const key = keys[index++]

        if (key == null) {
          throw new ProtocolError(`Peer ${owner.toString()} answered more values than the ${keys.length} keys asked for`)
        }

        yield entry.missing ? undefined : { key, value: entry.value ?? EMPTY }
      }
    }

    if (index !== keys.length) {
      throw new ProtocolError(`Peer ${owner.toString()} answered ${index} of the ${keys.length} keys asked for`)
    }
  }
}

/**
 * Read a source in chunks of at most `WRITE_CHUNK_ENTRIES` items or about
 * `WRITE_CHUNK_BYTES` bytes
 */
async function * chunks<T> (source: Iterable<T> | AsyncIterable<T>, sizeOf: (item: T) => number, options: AbortOptions): AsyncGenerator<T[]> {
  let chunk: T[] = []
  let size = 0

  /** Add an item; the full chunk when it is full */
  const add = (item: T): T[] | undefined => {
    chunk.push(item)
    size += sizeOf(item)

    if (chunk.length < WRITE_CHUNK_ENTRIES && size < WRITE_CHUNK_BYTES) {
      return
    }

    const full = chunk
    chunk = []
    size = 0
    options.signal?.throwIfAborted()
    return full
  }

  // arrays and other sync sources are read without a promise per item
  if (Symbol.iterator in source) {
    for (const item of source) {
      const full = add(item)
      if (full != null) yield full
    }
  } else {
    for await (const item of source) {
      const full = add(item)
      if (full != null) yield full
    }
  }

  if (chunk.length > 0) {
    options.signal?.throwIfAborted()
    yield chunk
  }
}

/**
 * Keeps one `next()` of an async generator in flight so all owners work in
 * parallel while the caller waits on one of them
 */
class Prefetch<T> {
  private readonly it: AsyncGenerator<T>
  private pending?: Promise<IteratorResult<T>>

  constructor (it: AsyncGenerator<T>) {
    this.it = it
    this.pending = this.pull()
  }

  async next (): Promise<T> {
    const result = await (this.pending ?? this.pull())
    this.pending = result.done === true ? undefined : this.pull()

    if (result.done === true) {
      throw new ProtocolError('An owner answered fewer values than keys were asked for')
    }

    return result.value
  }

  async close (): Promise<void> {
    await this.it.return(undefined as any)
  }

  private pull (): Promise<IteratorResult<T>> {
    const p = this.it.next()
    // observed when the caller asks for it; not unhandled meanwhile
    p.catch(() => {})
    return p
  }
}
