import type { Response } from '../../pb/message.js'
import type { HandlerContext } from '../server.js'

export async function handleHas (ctx: HandlerContext): Promise<Partial<Response>> {
  const key = ctx.owner.decodeKey(ctx.req.key)

  return { exists: await ctx.owner.has(key, { signal: ctx.signal, epoch: ctx.req.epoch }) }
}
