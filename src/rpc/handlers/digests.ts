import { Response } from '../../pb/message.js'
import { RequestError } from '../request-error.js'
import { observeCaller } from './context.js'
import type { HandlerContext } from '../server.js'

/**
 * The digests of slots `slot_start`..`slot_end`, 8 bytes each (or per
 * group of 2^slot_group slots), for anti-entropy between owners: members only
 */
export async function handleDigests (ctx: HandlerContext): Promise<Partial<Response>> {
  memberOnly(ctx)
  observeCaller(ctx)
  const digests = await ctx.owner.slotDigests(ctx.req.slotStart, ctx.req.slotEnd, { signal: ctx.signal, epoch: ctx.req.epoch }, ctx.req.slotGroup)

  return { digests: digests as Uint8Array<ArrayBuffer>, clock: ctx.owner.clock.current }
}

/** Anti-entropy runs between owners; clients have no replicas to repair */
export function memberOnly (ctx: HandlerContext): void {
  if (ctx.access !== 'member') {
    throw new RequestError(Response.Status.UNAUTHORIZED, `peer ${ctx.remote.toString()} is not a member and may not send ${ctx.req.type}`)
  }
}
