import type { Response } from '../../pb/message.js'
import type { HandlerContext } from '../server.js'

export async function handleDelete (ctx: HandlerContext): Promise<Partial<Response>> {
  const key = ctx.key(ctx.req.key)
  await ctx.local.delete(key, { signal: ctx.signal })

  return {}
}
