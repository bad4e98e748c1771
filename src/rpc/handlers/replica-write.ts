import { observeCaller, recordMessage } from './context.js'
import type { VersionedRecord } from '../../owner/owner.js'
import type { Record, Response } from '../../pb/message.js'
import type { HandlerContext } from '../server.js'

/**
 * Records applied where newer than those held. The answer lists the newer
 * records held instead of those refused, so the coordinator can write again
 * with a version past them. Every key is checked before anything is written.
 */
export async function handleReplicaWrite (ctx: HandlerContext): Promise<Partial<Response>> {
  observeCaller(ctx)
  const { owner, req } = ctx
  // encodeStored copies each value into its stored form: no view of the frame is kept
  const records: VersionedRecord[] = req.records.map(record => ({
    key: owner.decodeKey(record.key).uint8Array(),
    value: record.value,
    version: record.version,
    tombstone: record.tombstone
  }))
  const answers = await owner.applyRecords(records, { signal: ctx.signal, epoch: req.epoch })
  const refused: Record[] = []

  for (const held of answers) {
    if (held != null) {
      refused.push(recordMessage(held))
    }
  }

  return { records: refused, clock: owner.clock.current }
}
