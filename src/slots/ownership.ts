import { SLOT_COUNT } from '../constants.js'
import type { SlotTable } from './table.js'
import type { PeerId } from '@libp2p/interface'

const OWNER = 1
const PRIMARY = 2

/**
 * What one node owns under one slot table, as a 16384-entry mask so the server
 * answers "is this key mine?" without touching the table.
 */
export class Ownership {
  readonly table: SlotTable
  private readonly mask: Uint8Array

  constructor (table: SlotTable, self: PeerId) {
    this.table = table
    this.mask = new Uint8Array(SLOT_COUNT)

    for (const range of table.ranges) {
      const index = range.owners.findIndex(o => o.equals(self))

      if (index === -1) {
        continue
      }

      this.mask.fill(index === 0 ? PRIMARY | OWNER : OWNER, range.start, range.end + 1)
    }
  }

  /** This node is in the slot's owner list */
  owns (slot: number): boolean {
    return this.mask[slot] !== 0
  }

  /** This node is the slot's primary owner: it alone answers queries for it */
  isPrimary (slot: number): boolean {
    return (this.mask[slot] & PRIMARY) !== 0
  }
}
