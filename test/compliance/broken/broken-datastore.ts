/**
 * A datastore that misbehaves on purpose, to show that the compliance suites
 * as run under vitest (through the shims in `test/setup`) report a store that
 * loses and corrupts data. Wraps any datastore, so it can sit in front of a
 * cluster as well as a `MemoryDatastore`.
 *
 * @module
 */
import type { AbortOptions } from 'abort-error'
import type { Batch, Datastore, Key, KeyQuery, Pair, Query } from 'interface-datastore'

/** How a {@link BrokenDatastore} misbehaves. A count of 0 turns a fault off. */
export interface BrokenDatastoreInit {
  /**
   * Silently drop every nth write (counted over `put`, `putMany` entries and
   * batch puts); the caller is told it succeeded. Default 3.
   */
  dropPutEvery?: number

  /**
   * Return altered bytes on every nth value read (counted over `get`,
   * `getMany` and `query` results). Default 4.
   */
  corruptGetEvery?: number
}

/** Flips the bits of the first byte, or adds one to an empty value. */
export function corrupt (value: Uint8Array): Uint8Array {
  if (value.byteLength === 0) {
    return Uint8Array.of(0xff)
  }

  const copy = Uint8Array.from(value)
  copy[0] = copy[0] ^ 0xff
  return copy
}

/**
 * When a broken store misbehaves: every `dropPutEvery`th write is lost and
 * every `corruptGetEvery`th read is altered (0 turns a fault off). Counters
 * are per instance, so a fresh store per test fails the same way every run.
 */
export class Faults {
  private readonly dropPutEvery: number
  private readonly corruptGetEvery: number
  private puts = 0
  private reads = 0

  constructor (init: { dropPutEvery?: number, corruptGetEvery?: number }) {
    this.dropPutEvery = init.dropPutEvery ?? 3
    this.corruptGetEvery = init.corruptGetEvery ?? 4
  }

  /** Counts a write and says whether to lose it. */
  drop (): boolean {
    this.puts++
    return this.dropPutEvery > 0 && this.puts % this.dropPutEvery === 0
  }

  /** Counts a read and says whether to alter it. */
  corrupt (): boolean {
    this.reads++
    return this.corruptGetEvery > 0 && this.reads % this.corruptGetEvery === 0
  }
}

/**
 * A datastore that loses every `dropPutEvery`th write and corrupts every
 * `corruptGetEvery`th read of the datastore it wraps, and passes everything
 * else (including abort signals) through. Counters are per instance, so a
 * fresh instance per test gives the same failures on every run.
 */
export class BrokenDatastore implements Datastore {
  readonly child: Datastore
  private readonly faults: Faults

  constructor (child: Datastore, init: BrokenDatastoreInit = {}) {
    this.child = child
    this.faults = new Faults(init)
  }

  /** The value the caller gets to see. */
  private tamper (value: Uint8Array): Uint8Array {
    return this.faults.corrupt() ? corrupt(value) : value
  }

  async has (key: Key, options?: AbortOptions): Promise<boolean> {
    return this.child.has(key, options)
  }

  async put (key: Key, value: Uint8Array, options?: AbortOptions): Promise<Key> {
    options?.signal?.throwIfAborted()

    if (this.faults.drop()) {
      return key
    }

    return this.child.put(key, value, options)
  }

  async * putMany (source: Iterable<Pair> | AsyncIterable<Pair>, options?: AbortOptions): AsyncGenerator<Key> {
    for await (const { key, value } of source) {
      yield await this.put(key, value, options)
    }
  }

  async get (key: Key, options?: AbortOptions): Promise<Uint8Array> {
    return this.tamper(await this.child.get(key, options))
  }

  async * getMany (source: Iterable<Key> | AsyncIterable<Key>, options?: AbortOptions): AsyncGenerator<Pair> {
    for await (const { key, value } of this.child.getMany(source, options)) {
      yield { key, value: this.tamper(value) }
    }
  }

  async delete (key: Key, options?: AbortOptions): Promise<void> {
    await this.child.delete(key, options)
  }

  async * deleteMany (source: Iterable<Key> | AsyncIterable<Key>, options?: AbortOptions): AsyncGenerator<Key> {
    yield * this.child.deleteMany(source, options)
  }

  batch (): Batch {
    const ops: Array<{ key: Key, value?: Uint8Array }> = []

    return {
      put: (key, value) => {
        ops.push({ key, value })
      },
      delete: (key) => {
        ops.push({ key })
      },
      commit: async (options) => {
        options?.signal?.throwIfAborted()
        const batch = this.child.batch()

        for (const { key, value } of ops) {
          if (value == null) {
            batch.delete(key)
          } else if (!this.faults.drop()) {
            batch.put(key, value)
          }
        }

        await batch.commit(options)
      }
    }
  }

  async * query (query: Query, options?: AbortOptions): AsyncGenerator<Pair> {
    for await (const { key, value } of this.child.query(query, options)) {
      yield { key, value: this.tamper(value) }
    }
  }

  async * queryKeys (query: KeyQuery, options?: AbortOptions): AsyncGenerator<Key> {
    yield * this.child.queryKeys(query, options)
  }
}
