import { TARGET_FRAME_SIZE } from '../../constants.js'
import type { Entry, Response } from '../../pb/message.js'
import type { HandlerContext } from '../server.js'

/**
 * Values of many keys, streamed back in request order. A missing key is an
 * entry marked `missing`, so the caller can fail at exactly that key.
 */
export async function handleGetMany (ctx: HandlerContext): Promise<Partial<Response> | undefined> {
  const { owner, req } = ctx
  // every key is checked before any value is read
  const values = owner.getMany(req.keys.map(bytes => owner.decodeKey(bytes)), { signal: ctx.signal, epoch: req.epoch })
  const answer = ctx.answer()

  try {
    let entries: Entry[] = []
    let bytes = 0
    let i = 0

    for await (const value of values) {
      const key = req.keys[i++]
      const entry: Entry = value == null
        ? { key, missing: true }
        : { key, value: value as Uint8Array<ArrayBuffer>, missing: false }
      const size = key.byteLength + (value?.byteLength ?? 0) + 8

      if (entries.length > 0 && bytes + size > TARGET_FRAME_SIZE) {
        if (!await answer.send(entries)) {
          return
        }

        entries = []
        bytes = 0
      }

      entries.push(entry)
      bytes += size
    }

    answer.end(entries)
  } catch (err) {
    answer.close()
    throw err
  }
}
