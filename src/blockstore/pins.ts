import { start, stop } from '@libp2p/interface'
import { BaseDatastore } from 'datastore-core/base'
import { Key } from 'interface-datastore'
import { InvalidParametersError } from '../errors.js'
import type { AbortOptions, Startable } from '@libp2p/interface'
import type { Datastore, KeyQuery, Pair, Query } from 'interface-datastore'

/**
 * The namespaces of Helia's pin set: `/pin/<cid>` holds a pin,
 * `/pinned-block/<multihash>` counts the pins holding a block. Helia's GC
 * keeps a block exactly when `/pinned-block/…` exists for it.
 */
export const HELIA_PIN_NAMESPACES: readonly string[] = Object.freeze(['/pin', '/pinned-block'])

/**
 * A datastore for Helia that keeps the pin set in a shared store (the
 * cluster) and everything else in the node's own store.
 *
 * Keys under the shared namespaces (`/pin` and `/pinned-block` by default)
 * go to `shared`, unchanged, so every Helia node on the cluster sees every
 * pin; all other keys — libp2p's peer store, the keychain holding the node's
 * private key, Helia's datastore version — stay in `own`. Queries are split
 * the same way and merged; filters, orders, offset and limit apply to the
 * merged result as for a single store.
 *
 * The shared store may be unavailable (not started yet) without affecting
 * the node's own keys: Helia and libp2p read those before the cluster is up.
 */
export class SharedPinsDatastore extends BaseDatastore implements Startable {
  /** Where this node's own keys live */
  readonly own: Datastore
  /** Where the pin set lives (the cluster) */
  readonly shared: Datastore
  /** Each shared namespace with its trailing slash, e.g. `/pin/` */
  private readonly spaces: string[]

  /**
   * @param own - the node's own datastore
   * @param shared - the store shared by all nodes, normally the cluster
   * @param namespaces - the namespaces kept in `shared`
   */
  constructor (own: Datastore, shared: Datastore, namespaces: readonly string[] = HELIA_PIN_NAMESPACES) {
    super()

    const list: unknown[] = Array.isArray(namespaces) ? namespaces : []

    if (list.length === 0 || list.some(ns => typeof ns !== 'string' || !ns.startsWith('/') || ns.length < 2)) {
      throw new InvalidParametersError('namespaces must be a non-empty array of namespaces like "/pin"')
    }

    this.own = own
    this.shared = shared
    this.spaces = namespaces.map(ns => `${new Key(ns).toString()}/`)
  }

  /**
   * Helia starts and stops its datastore: pass that on to the node's own
   * store, which Helia would otherwise have been given directly. The shared
   * store's lifecycle is the cluster's.
   */
  async start (): Promise<void> {
    await start(this.own)
  }

  async stop (): Promise<void> {
    await stop(this.own)
  }

  /** Whether `key` lives in the shared store */
  isShared (key: Key): boolean {
    // not Key.isAncestorOf: it compares strings, so it counts /pinx as under /pin
    const str = key.toString()
    return this.spaces.some(space => str.startsWith(space))
  }

  override async put (key: Key, val: Uint8Array, options?: AbortOptions): Promise<Key> {
    return this.storeOf(key).put(key, val, options)
  }

  override async get (key: Key, options?: AbortOptions): Promise<Uint8Array> {
    return this.storeOf(key).get(key, options)
  }

  override async has (key: Key, options?: AbortOptions): Promise<boolean> {
    return this.storeOf(key).has(key, options)
  }

  override async delete (key: Key, options?: AbortOptions): Promise<void> {
    await this.storeOf(key).delete(key, options)
  }

  /** @internal BaseDatastore applies filters, orders, offset and limit on top */
  override async * _all (q: Query, options?: AbortOptions): AsyncGenerator<Pair> {
    for (const part of this.split(q.prefix)) {
      for await (const pair of part.store.query({ prefix: part.prefix }, options)) {
        if (part.store === this.own && this.isShared(pair.key)) {
          continue
        }

        yield pair
      }
    }
  }

  /** @internal */
  override async * _allKeys (q: KeyQuery, options?: AbortOptions): AsyncGenerator<Key> {
    for (const part of this.split(q.prefix)) {
      for await (const key of part.store.queryKeys({ prefix: part.prefix }, options)) {
        if (part.store === this.own && this.isShared(key)) {
          continue
        }

        yield key
      }
    }
  }

  private storeOf (key: Key): Datastore {
    return this.isShared(key) ? this.shared : this.own
  }

  /**
   * The stores, and the prefix to ask each, that can hold keys starting with
   * `prefix` (a plain string prefix, as interface-datastore queries use)
   */
  private split (prefix: string | undefined): Array<{ store: Datastore, prefix: string | undefined }> {
    const wanted = prefix ?? ''
    const spaces = this.spaces

    // entirely inside one shared namespace: only the shared store can match
    if (spaces.some(space => wanted.startsWith(space))) {
      return [{ store: this.shared, prefix }]
    }

    // the prefix may cover whole shared namespaces: ask the shared store for
    // exactly those, so it never lists its other keys (the blocks)
    const covered = spaces.filter(space => space.startsWith(wanted))

    return [
      { store: this.own, prefix },
      ...covered.map(space => ({ store: this.shared, prefix: space }))
    ]
  }
}
