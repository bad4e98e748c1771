import type { Response } from '../../pb/message.js'
import type { HandlerContext } from '../server.js'

export async function handleDelete (ctx: HandlerContext): Promise<Partial<Response>> {
  const key = ctx.owner.decodeKey(ctx.req.key)
  await ctx.owner.delete(key, { signal: ctx.signal, epoch: ctx.req.epoch })

  return {}
}
