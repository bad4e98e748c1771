import { memberOnly } from './digests.js'
import { observeCaller, streamEntries } from './context.js'
import { recordEntry } from './replica-get-many.js'
import type { SlotEntry, VersionedRecord } from '../../owner/owner.js'
import type { Entry, Response } from '../../pb/message.js'
import type { HandlerContext } from '../server.js'

/**
 * Keys, versions and tombstone flags (no values) of the records of slots
 * `slot_start`..`slot_end` (just `slot_start` when `slot_end` is 0), or of
 * those of them `slot_set` marks, streamed back: members only. With
 * `with_values`, the whole records (the bulk copy of a slot table
 * transition). One request costs the owner one scan.
 */
export async function handleSlotEntries (ctx: HandlerContext): Promise<Partial<Response> | undefined> {
  memberOnly(ctx)
  observeCaller(ctx)
  const { req } = ctx
  const end = req.slotEnd === 0 ? req.slotStart : req.slotEnd
  const options = { signal: ctx.signal, epoch: req.epoch }

  if (req.withValues) {
    return streamEntries(ctx, recordsOf(ctx.owner.slotRecords(req.slotStart, end, options, req.slotSet)))
  }

  return streamEntries(ctx, entriesOf(ctx.owner.slotEntries(req.slotStart, end, options, req.slotSet)))
}

async function * entriesOf (entries: AsyncIterable<SlotEntry>): AsyncGenerator<Entry> {
  for await (const { key, version, tombstone } of entries) {
    yield { key: key as Uint8Array<ArrayBuffer>, version: version as Uint8Array<ArrayBuffer>, tombstone, missing: false }
  }
}

async function * recordsOf (records: AsyncIterable<VersionedRecord>): AsyncGenerator<Entry> {
  for await (const record of records) {
    yield recordEntry(record)
  }
}
