import { Key } from 'interface-datastore'
import { RESERVED_NAMESPACE } from './keys.js'
import type { AbortOptions } from '@libp2p/interface'
import type { Datastore } from 'interface-datastore'

/** Where the latest adopted signed slot table is kept in the child store */
export const TABLE_KEY = new Key(`${RESERVED_NAMESPACE}/table`)

/**
 * The latest signed slot table this node adopted, kept in its child store so
 * that a restart starts from it rather than from an older configured table.
 * Saves run one after the other and each writes the latest table handed
 * over, so a slow save never overwrites a newer one.
 */
export class TableStore {
  private readonly child: Datastore
  private pending?: Uint8Array
  private saving?: Promise<void>

  constructor (child: Datastore) {
    this.child = child
  }

  /** The table saved by an earlier run, or undefined */
  async load (options?: AbortOptions): Promise<Uint8Array | undefined> {
    try {
      return await this.child.get(TABLE_KEY, options)
    } catch (err: any) {
      if (err?.name === 'NotFoundError') {
        return undefined
      }

      throw err
    }
  }

  /**
   * Save `bytes` (a signed table newer than the one saved before). Resolves
   * once it, or a newer table handed over meanwhile, is written.
   */
  async save (bytes: Uint8Array): Promise<void> {
    this.pending = bytes
    this.saving ??= this.drain().finally(() => {
      this.saving = undefined
    })

    return this.saving
  }

  /** Wait for the saves in progress */
  async flushed (): Promise<void> {
    await this.saving
  }

  private async drain (): Promise<void> {
    while (this.pending != null) {
      const bytes = this.pending
      this.pending = undefined
      await this.child.put(TABLE_KEY, bytes)
    }
  }
}
