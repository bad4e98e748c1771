import { TARGET_FRAME_SIZE } from '../../constants.js'
import type { Entry, Response } from '../../pb/message.js'
import type { HandlerContext } from '../server.js'

/**
 * Values of many keys, streamed back in request order. A missing key is an
 * entry marked `missing`, so the caller can fail at exactly that key.
 */
export async function handleGetMany (ctx: HandlerContext): Promise<Partial<Response> | undefined> {
  // every key is checked before any value is read
  const keys = ctx.req.keys.map(bytes => ctx.key(bytes))
  const answer = ctx.answer()

  try {
    let entries: Entry[] = []
    let bytes = 0

    for (let i = 0; i < keys.length; i++) {
      let value: Uint8Array | undefined

      try {
        value = await ctx.local.get(keys[i], { signal: ctx.signal })
      } catch (err: any) {
        if (err?.name !== 'NotFoundError') {
          throw err
        }
      }

      const entry: Entry = value == null
        ? { key: ctx.req.keys[i], missing: true }
        : { key: ctx.req.keys[i], value: value as Uint8Array<ArrayBuffer>, missing: false }
      const size = ctx.req.keys[i].byteLength + (value?.byteLength ?? 0) + 8

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
