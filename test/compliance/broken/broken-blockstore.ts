/**
 * A blockstore that misbehaves on purpose: the blockstore counterpart of
 * {@link BrokenDatastore}, for the interface-blockstore-tests half of the
 * shim check.
 *
 * @module
 */
import { Faults, corrupt } from './broken-datastore.js'
import type { AbortOptions } from 'abort-error'
import type { Blockstore, InputPair, Pair } from 'interface-blockstore'
import type { CID } from 'multiformats/cid'

/** How a {@link BrokenBlockstore} misbehaves. A count of 0 turns a fault off. */
export interface BrokenBlockstoreInit {
  /** Silently drop every nth `put`/`putMany` block. Default 3. */
  dropPutEvery?: number

  /** Alter the first chunk of every nth block read (`get`, `getMany`, `getAll`). Default 4. */
  corruptGetEvery?: number
}

/**
 * A blockstore that loses every `dropPutEvery`th block written and corrupts
 * every `corruptGetEvery`th block read of the blockstore it wraps, and passes
 * everything else (including abort signals) through.
 */
export class BrokenBlockstore implements Blockstore {
  readonly child: Blockstore
  private readonly faults: Faults

  constructor (child: Blockstore, init: BrokenBlockstoreInit = {}) {
    this.child = child
    this.faults = new Faults(init)
  }

  /** Counts a block read and returns the chunks the caller gets to see. */
  private async * tamper (chunks: Generator<Uint8Array> | AsyncGenerator<Uint8Array>): AsyncGenerator<Uint8Array> {
    let first = this.faults.corrupt()

    for await (const chunk of chunks) {
      yield first ? corrupt(chunk) : chunk
      first = false
    }
  }

  async has (cid: CID, options?: AbortOptions): Promise<boolean> {
    return this.child.has(cid, options)
  }

  async put (cid: CID, bytes: InputPair['bytes'], options?: AbortOptions): Promise<CID> {
    options?.signal?.throwIfAborted()

    if (this.faults.drop()) {
      return cid
    }

    return this.child.put(cid, bytes, options)
  }

  async * putMany (source: Iterable<InputPair> | AsyncIterable<InputPair>, options?: AbortOptions): AsyncGenerator<CID> {
    for await (const { cid, bytes } of source) {
      yield await this.put(cid, bytes, options)
    }
  }

  async * get (cid: CID, options?: AbortOptions): AsyncGenerator<Uint8Array> {
    yield * this.tamper(this.child.get(cid, options))
  }

  async * getMany (source: Iterable<CID> | AsyncIterable<CID>, options?: AbortOptions): AsyncGenerator<Pair> {
    for await (const { cid, bytes } of this.child.getMany(source, options)) {
      yield { cid, bytes: this.tamper(bytes) }
    }
  }

  async * getAll (options?: AbortOptions): AsyncGenerator<Pair> {
    for await (const { cid, bytes } of this.child.getAll(options)) {
      yield { cid, bytes: this.tamper(bytes) }
    }
  }

  async delete (cid: CID, options?: AbortOptions): Promise<void> {
    await this.child.delete(cid, options)
  }

  async * deleteMany (source: Iterable<CID> | AsyncIterable<CID>, options?: AbortOptions): AsyncGenerator<CID> {
    yield * this.child.deleteMany(source, options)
  }
}
