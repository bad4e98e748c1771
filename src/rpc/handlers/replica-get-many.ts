import { observeCaller, streamEntries } from './context.js'
import type { VersionedRecord } from '../../owner/owner.js'
import type { Entry, Response } from '../../pb/message.js'
import type { HandlerContext } from '../server.js'

/**
 * The records of many keys, streamed back in request order: tombstones
 * included, `missing` where no record is held
 */
export async function handleReplicaGetMany (ctx: HandlerContext): Promise<Partial<Response> | undefined> {
  observeCaller(ctx)
  const { owner, req } = ctx
  // every key is checked before any record is read
  const records = owner.recordsOf(req.keys.map(bytes => owner.decodeKey(bytes)), { signal: ctx.signal, epoch: req.epoch })

  return streamEntries(ctx, entriesOf(req.keys, records))
}

async function * entriesOf (keys: Uint8Array[], records: AsyncIterable<VersionedRecord | undefined>): AsyncGenerator<Entry> {
  let i = 0

  for await (const record of records) {
    const key = keys[i++] as Uint8Array<ArrayBuffer>

    yield record == null
      ? { key, missing: true }
      : recordEntry(record, key)
  }
}

/** A record as an entry of a streamed answer */
export function recordEntry (record: VersionedRecord, key = record.key): Entry {
  return {
    key: key as Uint8Array<ArrayBuffer>,
    value: record.value as Uint8Array<ArrayBuffer> | undefined,
    version: record.version as Uint8Array<ArrayBuffer>,
    tombstone: record.tombstone,
    missing: false,
    checksum: record.checksum
  }
}
