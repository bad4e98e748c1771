import type { Response } from '../../pb/message.js'
import type { HandlerContext } from '../server.js'

export async function handleGet (ctx: HandlerContext): Promise<Partial<Response>> {
  const key = ctx.owner.decodeKey(ctx.req.key)
  const value = await ctx.owner.get(key, { signal: ctx.signal, epoch: ctx.req.epoch })

  return { value: value as Uint8Array<ArrayBuffer> }
}
