import { TARGET_FRAME_SIZE } from '../../constants.js'
import { keySlot } from '../../slots/hash.js'
import { notOwned } from '../server.js'
import type { Entry, Response } from '../../pb/message.js'
import type { HandlerContext } from '../server.js'
import type { Key, Pair } from 'interface-datastore'

const EMPTY = new Uint8Array(0)

/**
 * Every pair (or key) under the prefix in slots this node is the primary owner
 * of, streamed back. Keys of other slots that the local store also holds are
 * never sent, so owners' answers never overlap. Both sides must agree on the
 * table, or the caller could miss or double-count slots.
 */
export async function handleQuery (ctx: HandlerContext): Promise<Partial<Response> | undefined> {
  const { req, ownership } = ctx

  if (req.epoch !== ownership.table.epoch) {
    throw notOwned(undefined, req, ownership, ctx.self)
  }

  const prefix = req.prefix === '' ? undefined : req.prefix
  const source = req.keysOnly
    ? keysAsPairs(ctx.local.queryKeys({ prefix }, { signal: ctx.signal }))
    : ctx.local.query({ prefix }, { signal: ctx.signal })
  const answer = ctx.answer()

  try {
    let entries: Entry[] = []
    let bytes = 0

    for await (const { key, value } of source) {
      const keyBytes = key.uint8Array()

      if (!ownership.isPrimary(keySlot(keyBytes))) {
        continue
      }

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

async function * keysAsPairs (keys: AsyncIterable<Key> | Iterable<Key>): AsyncGenerator<Pair> {
  for await (const key of keys) {
    yield { key, value: EMPTY }
  }
}
