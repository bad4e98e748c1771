import { Key } from 'interface-datastore'
import { badRequest } from '../rpc/request-error.js'
import { keySlot } from '../slots/hash.js'
import { isReserved, keyProblem } from './keys.js'
import { notOwned } from './role.js'
import { SlotWriteOrder } from './write-order.js'
import type { Ownership } from '../slots/ownership.js'
import type { AbortOptions, PeerId } from '@libp2p/interface'
import type { Datastore, Pair } from 'interface-datastore'

export interface OwnerInit {
  self: PeerId
  /** This node's share of the data */
  child: Datastore
  /** The ownership under the table in force */
  ownership(): Ownership
}

export interface OwnerOptions extends AbortOptions {
  /**
   * The slot table epoch the caller routed with: a local call passes the
   * epoch of the table it routed with, a remote one the epoch of its request
   */
  epoch: number
}

const NO_VALUE = new Uint8Array(0)

/**
 * The owner's side of every operation, and the only code that touches the
 * child store. Local calls and RPC handlers both come here, so the two paths
 * apply the same rules:
 *
 * - role: until replication lands, a slot is read and written only on its
 *   primary; anyone else refuses (MOVED or BAD_REQUEST, see `notOwned`);
 * - order: writes sharing a key take effect in the order they arrived
 *   (`SlotWriteOrder`), writes on other slots run concurrently;
 * - queries answer only for the slots this node is primary of, and never show
 *   the reserved namespace (`RESERVED_NAMESPACE`).
 *
 * Keys given to its methods are already well formed (checked by the API, or
 * by `decodeKey` for keys from the wire); the role is checked here, for every
 * key, before anything is read or written.
 */
export class Owner {
  private readonly init: OwnerInit
  private readonly writes: SlotWriteOrder

  constructor (init: OwnerInit) {
    this.init = init
    this.writes = new SlotWriteOrder()
  }

  /**
   * A key from the wire: well formed, valid UTF-8, canonical and outside the
   * reserved namespace, or a BAD_REQUEST naming what is wrong
   */
  decodeKey (bytes: Uint8Array | undefined): Key {
    const problem = bytes == null ? 'a key must be a non-empty path starting with "/"' : keyProblem(bytes)

    if (problem != null) {
      throw badRequest(problem)
    }

    return new Key(bytes as Uint8Array, false)
  }

  async get (key: Key, options: OwnerOptions): Promise<Uint8Array> {
    this.serves(key, options.epoch)
    return this.init.child.get(key, options)
  }

  async has (key: Key, options: OwnerOptions): Promise<boolean> {
    this.serves(key, options.epoch)
    return this.init.child.has(key, options)
  }

  async put (key: Key, value: Uint8Array, options: OwnerOptions): Promise<void> {
    await this.writes.run([this.serves(key, options.epoch)], async () => {
      await this.init.child.put(key, value, options)
    })
  }

  async delete (key: Key, options: OwnerOptions): Promise<void> {
    await this.writes.run([this.serves(key, options.epoch)], async () => {
      await this.init.child.delete(key, options)
    })
  }

  /**
   * Puts, then deletes, as one batch of the child store — the order a single
   * store's batch applies them in, so a later put of a key wins over an
   * earlier one. Every key is checked first: one refused key writes nothing.
   */
  async batch (puts: readonly Pair[], deletes: readonly Key[], options: OwnerOptions): Promise<void> {
    const slots = new Uint16Array(puts.length + deletes.length)
    let i = 0

    for (const { key } of puts) {
      slots[i++] = this.serves(key, options.epoch)
    }

    for (const key of deletes) {
      slots[i++] = this.serves(key, options.epoch)
    }

    await this.writes.run(slots, async () => {
      const batch = this.init.child.batch()

      for (const { key, value } of puts) {
        batch.put(key, value)
      }

      for (const key of deletes) {
        batch.delete(key)
      }

      await batch.commit(options)
    })
  }

  /**
   * The values of `keys` in order, undefined for a missing key. Every key is
   * checked before anything is read.
   */
  getMany (keys: readonly Key[], options: OwnerOptions): AsyncGenerator<Uint8Array | undefined> {
    for (const key of keys) {
      this.serves(key, options.epoch)
    }

    return this.values(keys, options)
  }

  /**
   * Every pair (or key, with an empty value, when `keysOnly`) under `prefix`
   * in the slots this node is primary of, in the child store's order. Both
   * sides must route with the same table, or the caller could miss or
   * double-count slots: a caller on another epoch is refused.
   */
  query (prefix: string | undefined, keysOnly: boolean, options: OwnerOptions): AsyncGenerator<Pair> {
    const ownership = this.init.ownership()

    if (options.epoch !== ownership.table.epoch) {
      throw notOwned(undefined, options.epoch, ownership, this.init.self)
    }

    return this.pairs(ownership, prefix, keysOnly, options)
  }

  /** How many keys this node holds as primary, under the table in force */
  async countKeys (options: AbortOptions = {}): Promise<number> {
    let count = 0

    for await (const _ of this.query(undefined, true, { ...options, epoch: this.init.ownership().table.epoch })) {
      count++
    }

    return count
  }

  /** The key's slot, or a refusal when this node must not serve it under the caller's table */
  private serves (key: Key, callerEpoch: number): number {
    const ownership = this.init.ownership()
    const slot = keySlot(key.uint8Array())

    if (!ownership.isPrimary(slot)) {
      throw notOwned(slot, callerEpoch, ownership, this.init.self)
    }

    return slot
  }

  private async * values (keys: readonly Key[], options: AbortOptions): AsyncGenerator<Uint8Array | undefined> {
    for (const key of keys) {
      options.signal?.throwIfAborted()

      try {
        yield await this.init.child.get(key, options)
      } catch (err: any) {
        if (err?.name !== 'NotFoundError') {
          throw err
        }

        yield undefined
      }
    }
  }

  private async * pairs (ownership: Ownership, prefix: string | undefined, keysOnly: boolean, options: AbortOptions): AsyncGenerator<Pair> {
    if (keysOnly) {
      for await (const key of this.init.child.queryKeys({ prefix }, options)) {
        const bytes = key.uint8Array()

        if (ownership.isPrimary(keySlot(bytes)) && !isReserved(bytes)) {
          yield { key, value: NO_VALUE }
        }
      }

      return
    }

    for await (const pair of this.init.child.query({ prefix }, options)) {
      const bytes = pair.key.uint8Array()

      if (ownership.isPrimary(keySlot(bytes)) && !isReserved(bytes)) {
        yield pair
      }
    }
  }
}
