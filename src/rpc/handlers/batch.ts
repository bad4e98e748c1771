import { EMPTY } from '../bytes.js'
import { keepValues, ownCopy } from './values.js'
import type { Response } from '../../pb/message.js'
import type { HandlerContext } from '../server.js'
import type { Pair } from 'interface-datastore'

/**
 * Puts and deletes applied as one batch of the owner. Every key is checked
 * before anything is written, so a request with one bad key writes nothing.
 */
export async function handleBatch (ctx: HandlerContext): Promise<Partial<Response>> {
  const { owner, req } = ctx
  const asViews = keepValues(req.puts.map(entry => entry.value ?? EMPTY), ctx.frameBytes)
  const puts: Pair[] = req.puts.map(entry => ({
    key: owner.decodeKey(entry.key),
    value: asViews ? entry.value ?? EMPTY : ownCopy(entry.value ?? EMPTY)
  }))
  const deletes = req.keys.map(bytes => owner.decodeKey(bytes))

  await owner.batch(puts, deletes, { signal: ctx.signal, epoch: req.epoch })

  return {}
}
