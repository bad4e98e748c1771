import { EMPTY } from '../bytes.js'
import { ownCopy } from './values.js'
import type { Response } from '../../pb/message.js'
import type { HandlerContext } from '../server.js'

export async function handlePut (ctx: HandlerContext): Promise<Partial<Response>> {
  const key = ctx.owner.decodeKey(ctx.req.key)
  await ctx.owner.put(key, ownCopy(ctx.req.value ?? EMPTY), { signal: ctx.signal, epoch: ctx.req.epoch })

  return {}
}
