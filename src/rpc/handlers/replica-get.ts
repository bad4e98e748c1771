import { Response } from '../../pb/message.js'
import { observeCaller, recordMessage } from './context.js'
import type { HandlerContext } from '../server.js'

/** The versioned record of a key (a tombstone included), or NOT_FOUND when none is held */
export async function handleReplicaGet (ctx: HandlerContext): Promise<Partial<Response>> {
  const clock = observeCaller(ctx)
  const key = ctx.owner.decodeKey(ctx.req.key)
  const record = await ctx.owner.getRecord(key, { signal: ctx.signal, epoch: ctx.req.epoch })

  if (record == null) {
    return { status: Response.Status.NOT_FOUND, clock, done: true }
  }

  return { record: recordMessage(record), clock }
}
