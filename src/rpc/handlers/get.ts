import type { Response } from '../../pb/message.js'
import type { HandlerContext } from '../server.js'

export async function handleGet (ctx: HandlerContext): Promise<Partial<Response>> {
  const key = ctx.key(ctx.req.key)
  const value = await ctx.local.get(key, { signal: ctx.signal })

  return { value: value as Uint8Array<ArrayBuffer> }
}
