import type { Response } from '../../pb/message.js'
import type { HandlerContext } from '../server.js'

export async function handleHas (ctx: HandlerContext): Promise<Partial<Response>> {
  const key = ctx.key(ctx.req.key)

  return { exists: await ctx.local.has(key, { signal: ctx.signal }) }
}
