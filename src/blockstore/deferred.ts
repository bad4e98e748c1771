import { NotStartedError } from '../errors.js'
import type { AbortOptions } from '@libp2p/interface'
import type { Batch, Datastore, Key, KeyQuery, Pair, Query } from 'interface-datastore'

/**
 * A datastore that forwards every call to a target set later.
 *
 * Helia takes its blockstore and datastore when it is created, but creates
 * libp2p — which the cluster needs — only when it starts. This stands in for
 * the cluster until then; a call made while nothing is bound fails with
 * `NotStartedError` rather than waiting, so a misconfigured node cannot hang.
 */
export class DeferredDatastore implements Datastore {
  private target?: Datastore
  private readonly reason: string | (() => string)

  /**
   * @param reason - what the caller has to do before the store can be used,
   * said in the `NotStartedError` (a function: worked out when it is thrown)
   */
  constructor (reason: string | (() => string)) {
    this.reason = reason
  }

  /** Forward to `target` from now on, or to nothing (`undefined`) */
  bind (target: Datastore | undefined): void {
    this.target = target
  }

  /** Whether a target is bound */
  isBound (): boolean {
    return this.target != null
  }

  async put (key: Key, val: Uint8Array, options?: AbortOptions): Promise<Key> {
    return this.current().put(key, val, options)
  }

  async get (key: Key, options?: AbortOptions): Promise<Uint8Array> {
    return this.current().get(key, options)
  }

  async has (key: Key, options?: AbortOptions): Promise<boolean> {
    return this.current().has(key, options)
  }

  async delete (key: Key, options?: AbortOptions): Promise<void> {
    await this.current().delete(key, options)
  }

  async * putMany (source: Iterable<Pair> | AsyncIterable<Pair>, options?: AbortOptions): AsyncGenerator<Key> {
    yield * this.current().putMany(source, options)
  }

  async * getMany (source: Iterable<Key> | AsyncIterable<Key>, options?: AbortOptions): AsyncGenerator<Pair> {
    yield * this.current().getMany(source, options)
  }

  async * deleteMany (source: Iterable<Key> | AsyncIterable<Key>, options?: AbortOptions): AsyncGenerator<Key> {
    yield * this.current().deleteMany(source, options)
  }

  batch (): Batch {
    // bound at commit, so a batch can be filled before the cluster is up
    const puts: Pair[] = []
    const deletes: Key[] = []

    return {
      put: (key, value) => { puts.push({ key, value }) },
      delete: (key) => { deletes.push(key) },
      commit: async (options) => {
        const batch = this.current().batch()

        for (const { key, value } of puts) {
          batch.put(key, value)
        }

        for (const key of deletes) {
          batch.delete(key)
        }

        await batch.commit(options)
      }
    }
  }

  async * query (q: Query, options?: AbortOptions): AsyncGenerator<Pair> {
    yield * this.current().query(q, options)
  }

  async * queryKeys (q: KeyQuery, options?: AbortOptions): AsyncGenerator<Key> {
    yield * this.current().queryKeys(q, options)
  }

  private current (): Datastore {
    if (this.target == null) {
      throw new NotStartedError(typeof this.reason === 'string' ? this.reason : this.reason())
    }

    return this.target
  }
}
