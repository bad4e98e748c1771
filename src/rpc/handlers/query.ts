import { TARGET_FRAME_SIZE } from '../../constants.js'
import type { Entry, Response } from '../../pb/message.js'
import type { HandlerContext } from '../server.js'

/**
 * Every pair (or key) under the prefix in slots this node is the primary owner
 * of, streamed back. Keys of other slots that the local store also holds are
 * never sent, so owners' answers never overlap; the owner service refuses a
 * caller on another table epoch.
 */
export async function handleQuery (ctx: HandlerContext): Promise<Partial<Response> | undefined> {
  const { req } = ctx
  const pairs = ctx.owner.query(req.prefix === '' ? undefined : req.prefix, req.keysOnly, { signal: ctx.signal, epoch: req.epoch })
  const answer = ctx.answer()

  try {
    let entries: Entry[] = []
    let bytes = 0

    for await (const { key, value } of pairs) {
      const keyBytes = key.uint8Array()
      const size = keyBytes.byteLength + value.byteLength + 8

      if (entries.length > 0 && bytes + size > TARGET_FRAME_SIZE) {
        if (!await answer.send(entries)) {
          return
        }

        entries = []
        bytes = 0
      }

      entries.push({ key: keyBytes as Uint8Array<ArrayBuffer>, value: value as Uint8Array<ArrayBuffer>, missing: false })
      bytes += size
    }

    answer.end(entries)
  } catch (err) {
    answer.close()
    throw err
  }
}
