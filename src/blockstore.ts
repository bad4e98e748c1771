import { defaultLogger } from '@libp2p/logger'
import { Key } from 'interface-datastore'
import { base32upper } from 'multiformats/bases/base32'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import * as Digest from 'multiformats/hashes/digest'
import { identity } from 'multiformats/hashes/identity'
import { sha256, sha512 } from 'multiformats/hashes/sha2'
import { Uint8ArrayList } from 'uint8arraylist'
import { ClusterDatastore } from './datastore/cluster-datastore.js'
import { InvalidParametersError } from './errors.js'
import type { ConsistencyOptions } from './replication/consistency.js'
import type { AbortOptions, ComponentLogger, Logger } from '@libp2p/interface'
import type { Blockstore, InputPair, Pair } from 'interface-blockstore'
import type { Datastore, Pair as DatastorePair } from 'interface-datastore'

/** The namespace blocks are kept under, as in Kubo and js-ipfs repos */
export const DEFAULT_BLOCKS_PREFIX = '/blocks'

/**
 * Options of {@link ClusterBlockstore}. Every one is optional.
 */
export interface ClusterBlockstoreInit {
  /**
   * The datastore namespace the blocks live under. Change it only to keep
   * several independent blockstores in one cluster.
   *
   * @default '/blocks'
   */
  prefix?: string

  /**
   * Where to log. Defaults to the libp2p node's logger when the datastore is
   * a {@link ClusterDatastore}.
   */
  logger?: ComponentLogger
}

/**
 * The datastore key a block is stored under: the namespace, then the block's
 * multihash in RFC 4648 base32, upper case, without padding or multibase
 * prefix, e.g. `/blocks/CIQ…` for a sha2-256 block.
 *
 * This is exactly the key Kubo writes (`dshelp.MultihashToDsKey` under
 * `/blocks`) and js-ipfs repos wrote, so a data node's local store can be read
 * with the usual IPFS tooling. Keying by multihash, not CID, is what every
 * blockstore does: one block serves every CID that hashes to it, whatever its
 * codec or version.
 *
 * @param cid - the block's CID
 * @param prefix - the namespace (default `/blocks`)
 */
export function blockKey (cid: CID, prefix: string = DEFAULT_BLOCKS_PREFIX): Key {
  const parsed = CID.asCID(cid)

  if (parsed == null) {
    throw new InvalidParametersError(`Expected a CID, got ${describe(cid)}`)
  }

  return new Key(`${normalizePrefix(prefix)}/${base32upper.baseEncode(parsed.multihash.bytes)}`, false)
}

/**
 * The CID of the block stored under `key` (see {@link blockKey}). Only the
 * multihash is in the key, so the CID has the `raw` codec and version 1, as
 * blockstore-core's stores return from `getAll`.
 *
 * Throws `InvalidParametersError` when the key is not a block key.
 */
export function blockCid (key: Key): CID {
  try {
    return CID.createV1(raw.code, Digest.decode(base32upper.baseDecode(key.baseNamespace())))
  } catch (err) {
    throw new InvalidParametersError(`${key.toString()} is not a block key: ${err instanceof Error ? err.message : String(err)}`)
  }
}

/**
 * An interface-blockstore `Blockstore` kept in a datastore — made for a
 * {@link ClusterDatastore}, so blocks spread over the cluster by slot and
 * travel on the cluster's own protocol, but any interface-datastore
 * `Datastore` works.
 *
 * Each block is one datastore value under {@link blockKey}: a block's bytes
 * are stored and fetched whole (blocks are small, at most the cluster's
 * `maxMessageSize` less a few bytes, 4 MiB by default; IPFS blocks are at most
 * 2 MiB). `get` yields them as a single chunk.
 *
 * The cluster datastore's lifecycle is the caller's: start it before use.
 *
 * @example
 * ```ts
 * const cluster = new ClusterDatastore(libp2p, new MemoryDatastore(), slots)
 * await cluster.start()
 * const blockstore = new ClusterBlockstore(cluster)
 * await blockstore.put(cid, bytes)
 * ```
 */
export class ClusterBlockstore implements Blockstore {
  /** The datastore the blocks live in */
  readonly child: Datastore
  /** The namespace of block keys, e.g. `/blocks` */
  readonly prefix: string
  private readonly log: Logger

  /**
   * @param datastore - where the blocks live, normally a {@link ClusterDatastore}
   * @param init - see {@link ClusterBlockstoreInit}
   */
  constructor (datastore: Datastore, init: ClusterBlockstoreInit = {}) {
    for (const method of ['get', 'put', 'has', 'delete', 'putMany', 'getMany', 'deleteMany', 'queryKeys'] as const) {
      if (typeof (datastore as unknown as Record<string, unknown> | undefined)?.[method] !== 'function') {
        throw new InvalidParametersError(`datastore must be an interface-datastore Datastore; it has no ${method}() method`)
      }
    }

    this.child = datastore
    this.prefix = normalizePrefix(init.prefix ?? DEFAULT_BLOCKS_PREFIX)
    const logger = init.logger ?? (datastore instanceof ClusterDatastore ? datastore.libp2p.logger : defaultLogger())
    this.log = logger.forComponent('datastore-cluster:blockstore')
  }

  /** The datastore key of a block (see {@link blockKey}) */
  keyOf (cid: CID): Key {
    return blockKey(cid, this.prefix)
  }

  /**
   * On a cluster, a block of a replicated slot is there as soon as one owner
   * holds it (consistency `one`, unless `options.consistency` says otherwise)
   */
  async has (cid: CID, options: ConsistencyOptions = {}): Promise<boolean> {
    options.signal?.throwIfAborted()
    const key = this.keyOf(cid)
    return this.child instanceof ClusterDatastore ? this.child.hasAny(key, options) : this.child.has(key, options)
  }

  async put (cid: CID, bytes: Uint8Array | Iterable<Uint8Array> | AsyncIterable<Uint8Array>, options: AbortOptions = {}): Promise<CID> {
    options.signal?.throwIfAborted()
    const key = this.keyOf(cid)
    const value = await collect(bytes, cid, options)
    await this.child.put(key, value, options)
    return cid
  }

  /**
   * On a cluster, a block of a replicated slot is read from the first owner
   * that has it (consistency `one`, unless `options.consistency` says
   * otherwise) and its hash checked: a miss, a failure or a bad hash falls
   * through to the next owner
   */
  async * get (cid: CID, options: ConsistencyOptions = {}): AsyncGenerator<Uint8Array> {
    options.signal?.throwIfAborted()
    const key = this.keyOf(cid)

    if (this.child instanceof ClusterDatastore) {
      yield await this.child.getChecked(key, async (bytes) => hashMatches(cid, bytes), options)
      return
    }

    yield await this.child.get(key, options)
  }

  async delete (cid: CID, options: AbortOptions = {}): Promise<void> {
    options.signal?.throwIfAborted()
    await this.child.delete(this.keyOf(cid), options)
  }

  /**
   * Stores blocks as the datastore's `putMany` does: on a cluster, grouped by
   * owner and sent in parallel, not atomic across owners. CIDs are yielded in
   * input order once stored.
   */
  async * putMany (source: Iterable<InputPair> | AsyncIterable<InputPair>, options: AbortOptions = {}): AsyncGenerator<CID> {
    options.signal?.throwIfAborted()
    const cids = new CidQueue()

    for await (const key of this.child.putMany(this.toPairs(source, cids, options), options)) {
      options.signal?.throwIfAborted()
      yield cids.take(key)
    }
  }

  /**
   * Blocks in input order, each yielded as a single chunk. A block missing
   * from the cluster throws `NotFoundError` when its turn comes.
   */
  async * getMany (source: Iterable<CID> | AsyncIterable<CID>, options: AbortOptions = {}): AsyncGenerator<Pair> {
    options.signal?.throwIfAborted()
    const cids = new CidQueue()
    const keys = this.toKeys(source, cids, options)

    for await (const { key, value } of this.child.getMany(keys, options)) {
      options.signal?.throwIfAborted()
      yield { cid: cids.take(key), bytes: single(value) }
    }
  }

  async * deleteMany (source: Iterable<CID> | AsyncIterable<CID>, options: AbortOptions = {}): AsyncGenerator<CID> {
    options.signal?.throwIfAborted()
    const cids = new CidQueue()
    const keys = this.toKeys(source, cids, options)

    for await (const key of this.child.deleteMany(keys, options)) {
      options.signal?.throwIfAborted()
      yield cids.take(key)
    }
  }

  /**
   * Every block in the store, unordered, as `raw` CIDv1s (only the multihash
   * is stored). Only the keys are listed up front — on a cluster, by one
   * keys-only query to every owner — and each pair's `bytes` fetches its
   * block when read. Helia's garbage collector reads no bytes, so a GC pass
   * moves keys, not the cluster's contents, over the network. A block
   * deleted between the listing and the read throws `NotFoundError` from
   * its `bytes`.
   */
  async * getAll (options: AbortOptions = {}): AsyncGenerator<Pair> {
    options.signal?.throwIfAborted()

    for await (const key of this.child.queryKeys({ prefix: `${this.prefix}/` }, options)) {
      options.signal?.throwIfAborted()

      // another writer may keep its own keys below the namespace: they are not blocks
      if (key.parent().toString() !== this.prefix) {
        continue
      }

      let cid: CID

      try {
        cid = blockCid(key)
      } catch (err) {
        this.log('skipping %s, not a block key - %e', key.toString(), err)
        continue
      }

      yield { cid, bytes: this.get(cid, options) }
    }
  }

  /** Datastore pairs of the caller's blocks, each CID remembered for the answer */
  private async * toPairs (source: Iterable<InputPair> | AsyncIterable<InputPair>, cids: CidQueue, options: AbortOptions): AsyncGenerator<DatastorePair> {
    for await (const pair of source) {
      options.signal?.throwIfAborted()

      if (pair == null || typeof pair !== 'object') {
        throw new InvalidParametersError(`putMany expects { cid, bytes } pairs, got ${describe(pair)}`)
      }

      const key = this.keyOf(pair.cid)
      const value = await collect(pair.bytes, pair.cid, options)
      cids.push(key, pair.cid)
      yield { key, value }
    }
  }

  /** Datastore keys of the caller's CIDs, each CID remembered for the answer */
  private async * toKeys (source: Iterable<CID> | AsyncIterable<CID>, cids: CidQueue, options: AbortOptions): AsyncGenerator<Key> {
    for await (const cid of source) {
      options.signal?.throwIfAborted()
      const key = this.keyOf(cid)
      cids.push(key, cid)
      yield key
    }
  }
}

/**
 * CIDs of the keys sent and not yet answered. A datastore's many-key
 * operations answer in input order, but a key is matched by value so
 * repeated keys and any reordering still map back to the CID the caller gave.
 */
class CidQueue {
  private readonly pending = new Map<string, CID[]>()

  push (key: Key, cid: CID): void {
    const id = key.toString()
    const list = this.pending.get(id)

    if (list == null) {
      this.pending.set(id, [cid])
    } else {
      list.push(cid)
    }
  }

  take (key: Key): CID {
    const id = key.toString()
    const list = this.pending.get(id)
    const cid = list?.shift()

    if (list?.length === 0) {
      this.pending.delete(id)
    }

    // the datastore answered a key never sent: it cannot be mapped back, so decode it
    return cid ?? blockCid(key)
  }
}

/** A block's bytes as one Uint8Array, whatever form they came in */
async function collect (bytes: Uint8Array | Iterable<Uint8Array> | AsyncIterable<Uint8Array>, cid: CID, options: AbortOptions): Promise<Uint8Array> {
  if (bytes instanceof Uint8Array) {
    return bytes
  }

  const iterable = bytes as Partial<Iterable<unknown> & AsyncIterable<unknown>> | undefined

  if (iterable == null || (typeof iterable[Symbol.iterator] !== 'function' && typeof iterable[Symbol.asyncIterator] !== 'function')) {
    throw new InvalidParametersError(`The bytes of block ${String(cid)} must be a Uint8Array or an (async) iterable of Uint8Arrays, got ${describe(bytes)}`)
  }

  const list = new Uint8ArrayList()

  for await (const chunk of bytes) {
    options.signal?.throwIfAborted()

    if (!(chunk instanceof Uint8Array)) {
      throw new InvalidParametersError(`The bytes of block ${String(cid)} must be Uint8Array chunks, got ${describe(chunk)}`)
    }

    list.append(chunk)
  }

  return list.subarray()
}

async function * single (bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  yield bytes
}

function normalizePrefix (prefix: string): string {
  if (typeof prefix !== 'string' || !prefix.startsWith('/') || prefix.length < 2 || prefix.endsWith('/')) {
    throw new InvalidParametersError(`The blocks prefix must be a namespace like "/blocks", got ${describe(prefix)}`)
  }

  return prefix
}

function describe (value: unknown): string {
  if (value === null) {
    return 'null'
  }

  if (typeof value === 'object') {
    return value.constructor?.name ?? 'an object'
  }

  return typeof value === 'string' ? `"${value}"` : typeof value
}

const HASHERS = new Map<number, { digest(bytes: Uint8Array): Digest.Digest<number, number> | Promise<Digest.Digest<number, number>> }>([
  [sha256.code, sha256],
  [sha512.code, sha512],
  [identity.code, identity]
])

/**
 * The block's bytes hash to its CID's multihash. A hash function this
 * library does not carry cannot be checked: the block is taken as it is.
 */
async function hashMatches (cid: CID, bytes: Uint8Array): Promise<boolean> {
  const hasher = HASHERS.get(cid.multihash.code)

  if (hasher == null) {
    return true
  }

  const digest = await hasher.digest(bytes)
  return Digest.equals(digest, cid.multihash)
}
