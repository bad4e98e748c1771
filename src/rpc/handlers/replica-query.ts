import { observeCaller, streamEntries } from './context.js'
import { recordEntry } from './replica-get-many.js'
import type { VersionedRecord } from '../../owner/owner.js'
import type { Entry, Response } from '../../pb/message.js'
import type { HandlerContext } from '../server.js'

/**
 * Every record (or key and version, when `keys_only`) under the prefix in the
 * replicated slots this node owns in any position, tombstones included: the
 * caller merges owners' answers by version. A caller on another table epoch
 * is refused.
 */
export async function handleReplicaQuery (ctx: HandlerContext): Promise<Partial<Response> | undefined> {
  observeCaller(ctx)
  const { req } = ctx
  // with `slot_set`: the slots it marks among slot_start..slot_end only (a query's values, one owner per range)
  const slots = req.slotSet == null ? undefined : { start: req.slotStart, end: req.slotEnd, set: req.slotSet }
  const records = ctx.owner.queryRecords(req.prefix === '' ? undefined : req.prefix, req.keysOnly, { signal: ctx.signal, epoch: req.epoch }, slots)

  return streamEntries(ctx, entriesOf(records))
}

async function * entriesOf (records: AsyncIterable<VersionedRecord>): AsyncGenerator<Entry> {
  for await (const record of records) {
    yield recordEntry(record)
  }
}
