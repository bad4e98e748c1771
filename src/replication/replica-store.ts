import { Key } from 'interface-datastore'
import { versionClock } from './record.js'
import type { ReplicaStore } from './anti-entropy.js'
import type { Owner, SlotEntry, VersionedRecord } from '../owner/owner.js'
import type { AbortOptions } from '@libp2p/interface'

/**
 * The owner service as anti-entropy sees it: every read and write of a
 * repair goes through the owner, under the epoch of the table in force, so
 * the owner's rules (roles, refusing older versions, digests) apply to it.
 */
export function ownerReplica (owner: Owner, epoch: () => number): ReplicaStore {
  const opts = (options?: AbortOptions): { epoch: number, signal?: AbortSignal } => ({ epoch: epoch(), signal: options?.signal })

  return {
    async slotDigests (start, end, options) {
      return owner.slotDigests(start, end, opts(options))
    },

    async slotEntries (start, end, options, slotSet) {
      const entries: SlotEntry[] = []

      for await (const entry of owner.slotEntries(start, end, opts(options), slotSet)) {
        entries.push(entry)
      }

      return entries
    },

    async recordsOf (keys, options) {
      const records: Array<VersionedRecord | undefined> = []

      for await (const record of owner.recordsOf(keys.map(key => new Key(key, false)), opts(options))) {
        records.push(record)
      }

      return records
    },

    async applyRecords (records, options) {
      await owner.applyRecords(records, opts(options))
    },

    async tombstones (before, options) {
      const old: SlotEntry[] = []
      const clock = BigInt(Math.max(0, Math.floor(before))) << 16n

      for await (const record of owner.queryRecords(undefined, true, opts(options))) {
        if (record.tombstone && versionClock(record.version) < clock) {
          old.push({ key: record.key, version: record.version, tombstone: true })
        }
      }

      return old
    },

    async purgeTombstones (entries, options) {
      return owner.purgeTombstones(entries, opts(options))
    }
  }
}
