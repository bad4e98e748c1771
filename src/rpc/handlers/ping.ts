import { observeCaller } from './context.js'
import type { Response } from '../../pb/message.js'
import type { HandlerContext } from '../server.js'

/**
 * Heartbeat of the failure detector: OK with this node's clock, and the
 * slot table transition trackers both ways (a member's are learnt)
 */
export async function handlePing (ctx: HandlerContext): Promise<Partial<Response>> {
  return { clock: observeCaller(ctx), trackers: ctx.gossip(ctx.req.trackers) }
}
