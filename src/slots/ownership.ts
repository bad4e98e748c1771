import { SLOT_COUNT } from '../constants.js'
import type { SlotTable } from './table.js'
import type { PeerId } from '@libp2p/interface'

const OWNER = 1
const PRIMARY = 2

/**
 * What one node owns under one slot table, as 16384-entry indexes so the hot
 * paths answer "is this key mine?" and "whose is it?" without touching the
 * table or comparing peer IDs.
 */
export class Ownership {
  readonly table: SlotTable
  /** The distinct primary owners, in range order */
  readonly primaries: readonly PeerId[]
  /** Index into `primaries` of this node, or -1 when it is primary for nothing */
  readonly selfIndex: number
  private readonly mask: Uint8Array
  private readonly primaryOf: Uint16Array

  constructor (table: SlotTable, self: PeerId) {
    this.table = table
    this.mask = new Uint8Array(SLOT_COUNT)
    this.primaryOf = new Uint16Array(SLOT_COUNT)
    this.primaries = table.ownerPeers()
    this.selfIndex = this.primaries.findIndex(p => p.equals(self))

    // a validated table's owners are the very PeerId objects of its peer
    // list, so an identity map finds them: no comparison per range and owner,
    // which made adopting a table of thousands of owners take seconds
    const indexOf = new Map<PeerId, number>()
    this.primaries.forEach((peer, i) => indexOf.set(peer, i))
    const primaryIndex = (peer: PeerId): number => indexOf.get(peer) ?? this.primaries.findIndex(p => p.equals(peer))

    for (const range of table.ranges) {
      this.primaryOf.fill(primaryIndex(range.owners[0]), range.start, range.end + 1)
      const index = range.owners.findIndex(o => o.equals(self))

      if (index !== -1) {
        this.mask.fill(index === 0 ? PRIMARY | OWNER : OWNER, range.start, range.end + 1)
      }
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

  /** Index into `primaries` of the slot's primary owner */
  primaryIndex (slot: number): number {
    return this.primaryOf[slot]
  }
}
