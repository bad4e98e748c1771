import { NotFoundError } from 'interface-store'
import { ClusterAggregateError, MovedError, ProtocolError } from './errors.js'
import { GET_MANY_CHUNK, WRITE_CHUNK_BYTES } from './constants.js'
import { Request, Response } from './pb/message.js'
import { EMPTY } from './rpc/bytes.js'
import { errorFromResponse } from './rpc/errors.js'
import { keySlot } from './slots/hash.js'
import { assertKey, assertValue, REQUEST_OVERHEAD } from './validate.js'
import type { ClusterDatastore } from './cluster-datastore.js'
import type { Entry } from './pb/message.js'
import type { AbortOptions, PeerId } from '@libp2p/interface'
import type { Key, Pair } from 'interface-datastore'

/** How many chunks of a putMany/deleteMany may be in flight at once */
const WRITE_PIPELINE_DEPTH = 4
/** Entries of a putMany/deleteMany chunk */
const WRITE_CHUNK_ENTRIES = 4096

/** The keys and values bound for one owner */
interface Group<T> {
  /** undefined for this node's own group */
  owner: PeerId | undefined
  items: T[]
}

/**
 * Split items by primary owner under the current table, by the owners' index
 * in the ownership: no peer ID is compared or stringified per key
 */
function groupByOwner<T> (store: ClusterDatastore, items: T[], keyOf: (item: T) => Key): Array<Group<T>> {
  const owned = store.ownership
  const byIndex: Array<Group<T> | undefined> = new Array(owned.primaries.length)

  for (const item of items) {
    const index = owned.primaryIndex(keySlot(keyOf(item)))
    let group = byIndex[index]

    if (group == null) {
      group = { owner: index === owned.selfIndex ? undefined : owned.primaries[index], items: [] }
      byIndex[index] = group
    }

    group.items.push(item)
  }

  return byIndex.filter(g => g != null)
}

/**
 * Run `work` for every group in parallel; one failure is thrown as it is,
 * several as one `ClusterAggregateError` naming every failed owner.
 */
async function allOwners<T extends { owner: PeerId | undefined }> (groups: T[], work: (group: T) => Promise<void>): Promise<void> {
  if (groups.length === 1) {
    await work(groups[0])
    return
  }

  const results = await Promise.allSettled(groups.map(work))
  const failures = results.flatMap((r, i) => r.status === 'rejected' ? [{ owner: groups[i].owner, err: r.reason }] : [])

  if (failures.length === 1) {
    throw failures[0].err
  }

  if (failures.length > 1) {
    throw new ClusterAggregateError(failures.map(f => f.err), `${failures.length} owners failed: ${failures.map(f => `${f.owner?.toString() ?? 'this node'} (${f.err?.message})`).join(', ')}`)
  }
}

/** One owner's share of a batch */
interface Share {
  owner: PeerId | undefined
  puts: Pair[]
  deletes: Key[]
}

/**
 * Apply puts and deletes: grouped by owner, each group one batch of the
 * owner's local store (split only when it exceeds the maximum message size),
 * groups in parallel. Not atomic across owners.
 */
export async function applyBatch (store: ClusterDatastore, puts: Pair[], deletes: Key[], options: AbortOptions, attempt = 0): Promise<void> {
  const shares = new Map<PeerId | undefined, Share>()
  const share = (group: Group<unknown>): Share => {
    let found = shares.get(group.owner)

    if (found == null) {
      found = { owner: group.owner, puts: [], deletes: [] }
      shares.set(group.owner, found)
    }

    return found
  }

  for (const group of groupByOwner(store, puts, pair => pair.key)) {
    share(group).puts = group.items
  }

  for (const group of groupByOwner(store, deletes, key => key)) {
    share(group).deletes = group.items
  }

  await allOwners([...shares.values()], async ({ owner, puts, deletes }) => {
    options.signal?.throwIfAborted()

    if (owner == null) {
      const batch = store.child.batch()

      for (const { key, value } of puts) {
        batch.put(key, value)
      }

      for (const key of deletes) {
        batch.delete(key)
      }

      await batch.commit(options)
      return
    }

    const parts = splitBySize(store, puts, deletes)
    const sendPart = async ({ puts, deletes }: { puts: Pair[], deletes: Key[] }): Promise<void> => {
      const res = await store.channel(owner).call({
        type: Request.Type.BATCH,
        epoch: store.slots.epoch,
        puts: puts.map(p => ({ key: p.key.uint8Array() as Uint8Array<ArrayBuffer>, value: p.value as Uint8Array<ArrayBuffer>, missing: false })),
        keys: deletes.map(k => k.uint8Array() as Uint8Array<ArrayBuffer>)
      }, options)

      if (res.status === Response.Status.MOVED) {
        if (attempt >= store.options.maxRedirects) {
          throw new MovedError(`A batch for peer ${owner.toString()} was still misrouted after ${store.options.maxRedirects} redirects (${res.message})`)
        }

        await store.onMoved(res, owner, options)
        await applyBatch(store, puts, deletes, options, attempt + 1)
        return
      }

      if (res.status !== Response.Status.OK) {
        throw errorFromResponse(res, owner.toString())
      }
    }

    if (parts.length === 1) {
      await sendPart(parts[0])
    } else {
      await Promise.all(parts.map(sendPart))
    }
  })
}

/**
 * Cut one owner's operations into requests that fit the maximum message size
 */
function splitBySize (store: ClusterDatastore, puts: Pair[], deletes: Key[]): Array<{ puts: Pair[], deletes: Key[] }> {
  const limit = store.options.maxMessageSize - REQUEST_OVERHEAD
  const parts: Array<{ puts: Pair[], deletes: Key[] }> = []
  let current = { puts: [] as Pair[], deletes: [] as Key[] }
  let size = 0

  const room = (bytes: number): void => {
    if (size + bytes > limit && (current.puts.length > 0 || current.deletes.length > 0)) {
      parts.push(current)
      current = { puts: [], deletes: [] }
      size = 0
    }

    size += bytes
  }

  for (const put of puts) {
    room(put.key.uint8Array().byteLength + put.value.byteLength + 12)
    current.puts.push(put)
  }

  for (const key of deletes) {
    room(key.uint8Array().byteLength + 4)
    current.deletes.push(key)
  }

  parts.push(current)
  return parts
}

/**
 * Read a source in chunks of at most `entries` items or about
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
 * Several chunks in flight at once; keys are yielded in input order once the
 * chunk that holds them is stored.
 */
async function * pipelined<T> (store: ClusterDatastore, source: AsyncIterable<T[]>, apply: (chunk: T[]) => Promise<void>, keyOf: (item: T) => Key): AsyncGenerator<Key> {
  store.assertStarted()
  const inFlight: Array<{ chunk: T[], done: Promise<void> }> = []

  try {
    for await (const chunk of source) {
      const done = apply(chunk)
      // observed below; this keeps a failure from being reported as unhandled meanwhile
      done.catch(() => {})
      inFlight.push({ chunk, done })

      if (inFlight.length >= WRITE_PIPELINE_DEPTH) {
        const head = inFlight.shift() as { chunk: T[], done: Promise<void> }
        await head.done

        for (const item of head.chunk) {
          yield keyOf(item)
        }
      }
    }

    while (inFlight.length > 0) {
      const head = inFlight.shift() as { chunk: T[], done: Promise<void> }
      await head.done

      for (const item of head.chunk) {
        yield keyOf(item)
      }
    }
  } finally {
    // a consumer that stops early still gets its writes finished, not abandoned half-sent
    await Promise.allSettled(inFlight.map(f => f.done))
  }
}

/** The keys of the pairs, yielded once stored: see ClusterDatastore.putMany */
export function putMany (store: ClusterDatastore, source: Iterable<Pair> | AsyncIterable<Pair>, options: AbortOptions): AsyncGenerator<Key> {
  const max = store.options.maxMessageSize
  const sized = chunks(source, (pair: Pair) => {
    // checked as read, so a bad pair fails its chunk before anything of it is sent
    assertKey(pair?.key)
    assertValue(pair.key, pair.value, max)
    return pair.value.byteLength + pair.key.uint8Array().byteLength
  }, options)

  return pipelined(store, sized, async (chunk) => {
    await applyBatch(store, chunk, [], options)
  }, pair => pair.key)
}

/** The keys, yielded once deleted: see ClusterDatastore.deleteMany */
export function deleteMany (store: ClusterDatastore, source: Iterable<Key> | AsyncIterable<Key>, options: AbortOptions): AsyncGenerator<Key> {
  const sized = chunks(source, (key: Key) => {
    assertKey(key)
    return key.uint8Array().byteLength
  }, options)

  return pipelined(store, sized, async (chunk) => {
    await applyBatch(store, [], chunk, options)
  }, key => key)
}

/**
 * Values of many keys, yielded in input order. Keys are read in chunks; each
 * owner streams its part of a chunk back under flow control, so memory stays
 * bounded whatever the values' size. A missing key throws `NotFoundError`
 * when its turn comes, after the pairs before it have been yielded.
 */
export async function * getMany (store: ClusterDatastore, source: Iterable<Key> | AsyncIterable<Key>, options: AbortOptions): AsyncGenerator<Pair> {
  store.assertStarted()
  let chunk: Key[] = []

  for await (const key of source) {
    assertKey(key)
    chunk.push(key)

    if (chunk.length >= GET_MANY_CHUNK) {
      yield * fetchInOrder(store, chunk, options, 0)
      chunk = []
    }
  }

  if (chunk.length > 0) {
    yield * fetchInOrder(store, chunk, options, 0)
  }
}

/**
 * Fetch `keys` from their owners in parallel and yield them in order: each
 * owner's answer comes in its request's order, so the next pair for a key is
 * the next one its owner's reader produces.
 */
async function * fetchInOrder (store: ClusterDatastore, keys: Key[], options: AbortOptions, attempt: number): AsyncGenerator<Pair> {
  const owned = store.ownership
  // per key, the index of its owner; per owner, its keys in input order
  const ownerOf = new Uint16Array(keys.length)
  const keysOf: Key[][] = []

  for (let i = 0; i < keys.length; i++) {
    const index = owned.primaryIndex(keySlot(keys[i]))
    ownerOf[i] = index;
    (keysOf[index] ??= []).push(keys[i])
  }

  const readers: Array<Prefetch<Pair | undefined>> = []
  keysOf.forEach((group, index) => {
    readers[index] = new Prefetch(index === owned.selfIndex
      ? fetchLocal(store, group, options)
      : fetchRemote(store, owned.primaries[index], group, options, attempt))
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
    await Promise.allSettled(readers.map(async r => r.close()))
  }
}

async function * fetchLocal (store: ClusterDatastore, keys: Key[], options: AbortOptions): AsyncGenerator<Pair | undefined> {
  for (const key of keys) {
    options.signal?.throwIfAborted()

    try {
      yield { key, value: await store.child.get(key, options) }
    } catch (err: any) {
      if (err?.name !== 'NotFoundError') {
        throw err
      }

      yield undefined
    }
  }
}

async function * fetchRemote (store: ClusterDatastore, owner: PeerId, keys: Key[], options: AbortOptions, attempt: number): AsyncGenerator<Pair | undefined> {
  const frames = store.channel(owner).callStreamed({
    type: Request.Type.GET_MANY,
    epoch: store.slots.epoch,
    keys: keys.map(k => k.uint8Array() as Uint8Array<ArrayBuffer>)
  }, options)
  let index = 0

  for await (const res of frames) {
    if (res.status === Response.Status.MOVED && index === 0) {
      if (attempt >= store.options.maxRedirects) {
        throw new MovedError(`getMany keys for peer ${owner.toString()} were still misrouted after ${store.options.maxRedirects} redirects (${res.message})`)
      }

      await store.onMoved(res, owner, options)
      yield * fetchInOrder(store, keys, options, attempt + 1)
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

      yield toPair(key, entry)
    }
  }

  if (index !== keys.length) {
    throw new ProtocolError(`Peer ${owner.toString()} answered ${index} of the ${keys.length} keys asked for`)
  }
}

function toPair (key: Key, entry: Entry): Pair | undefined {
  return entry.missing ? undefined : { key, value: entry.value ?? EMPTY }
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
