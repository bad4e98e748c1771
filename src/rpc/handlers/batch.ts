import { EMPTY } from '../bytes.js'
import { keepValues, ownCopy } from './values.js'
import type { Response } from '../../pb/message.js'
import type { HandlerContext } from '../server.js'
import type { Key } from 'interface-datastore'

/**
 * Puts and deletes applied as one batch of the local store. Every key is
 * checked before anything is written, so a request with one bad key writes
 * nothing.
 */
export async function handleBatch (ctx: HandlerContext): Promise<Partial<Response>> {
  const puts: Array<{ key: Key, value: Uint8Array }> = ctx.req.puts.map(entry => ({
    key: ctx.key(entry.key),
    value: entry.value ?? EMPTY
  }))
  const deletes = ctx.req.keys.map(bytes => ctx.key(bytes))
  const batch = ctx.local.batch()
  const asViews = keepValues(puts.map(put => put.value), ctx.frameBytes)

  for (const { key, value } of puts) {
    batch.put(key, asViews ? value : ownCopy(value))
  }

  for (const key of deletes) {
    batch.delete(key)
  }

  await batch.commit({ signal: ctx.signal })

  return {}
}
