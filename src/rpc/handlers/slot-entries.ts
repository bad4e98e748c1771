import { memberOnly } from './digests.js'
import { observeCaller, streamEntries } from './context.js'
import type { SlotEntry } from '../../owner/owner.js'
import type { Entry, Response } from '../../pb/message.js'
import type { HandlerContext } from '../server.js'

/**
 * Keys, versions and tombstone flags (no values) of the records of slots
 * `slot_start`..`slot_end` (just `slot_start` when `slot_end` is 0), or of
 * those of them `slot_set` marks, streamed back: members only. One request
 * costs the owner one scan.
 */
export async function handleSlotEntries (ctx: HandlerContext): Promise<Partial<Response> | undefined> {
  memberOnly(ctx)
  observeCaller(ctx)
  const { req } = ctx
  const end = req.slotEnd === 0 ? req.slotStart : req.slotEnd
  const entries = ctx.owner.slotEntries(req.slotStart, end, { signal: ctx.signal, epoch: req.epoch }, req.slotSet)

  return streamEntries(ctx, entriesOf(entries))
}

async function * entriesOf (entries: AsyncIterable<SlotEntry>): AsyncGenerator<Entry> {
  for await (const { key, version, tombstone } of entries) {
    yield { key: key as Uint8Array<ArrayBuffer>, version: version as Uint8Array<ArrayBuffer>, tombstone, missing: false }
  }
}
