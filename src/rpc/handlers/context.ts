import { TARGET_FRAME_SIZE } from '../../constants.js'
import type { Entry, Record } from '../../pb/message.js'
import type { VersionedRecord } from '../../owner/owner.js'
import type { HandlerContext } from '../server.js'

/**
 * What every replication answer carries: the owner's clock, after it has
 * observed the caller's (so the caller's next version is newer than
 * anything this owner has seen)
 */
export function observeCaller (ctx: HandlerContext): bigint {
  ctx.owner.clock.observe(ctx.req.clock)
  return ctx.owner.clock.current
}

/** A record as the protocol carries it (protons types bytes as `Uint8Array<ArrayBuffer>`) */
export function recordMessage (record: VersionedRecord): Record {
  return record as Record
}

/** The bytes an entry adds to a frame, near enough to cut frames at `TARGET_FRAME_SIZE` */
function entrySize (entry: Entry): number {
  return (entry.key?.byteLength ?? 0) + (entry.value?.byteLength ?? 0) + (entry.version?.byteLength ?? 0) + (entry.checksum == null ? 12 : 21)
}

/**
 * Stream `entries` back in frames of about `TARGET_FRAME_SIZE`, paced by the
 * caller's credit. `entries` is created by the caller before the answer opens,
 * so a refusal (role, table) is thrown before any frame is sent.
 */
export async function streamEntries (ctx: HandlerContext, entries: AsyncIterable<Entry>): Promise<undefined> {
  const answer = ctx.answer()

  try {
    let frame: Entry[] = []
    let bytes = 0

    for await (const entry of entries) {
      const size = entrySize(entry)

      if (frame.length > 0 && bytes + size > TARGET_FRAME_SIZE) {
        if (!await answer.send(frame)) {
          return
        }

        frame = []
        bytes = 0
      }

      frame.push(entry)
      bytes += size
    }

    answer.end(frame)
  } catch (err) {
    answer.close()
    throw err
  }
}
