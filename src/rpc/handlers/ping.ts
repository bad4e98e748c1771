import { observeCaller } from './context.js'
import type { Response } from '../../pb/message.js'
import type { HandlerContext } from '../server.js'

/** Heartbeat of the failure detector: OK with this node's clock */
export async function handlePing (ctx: HandlerContext): Promise<Partial<Response>> {
  return { clock: observeCaller(ctx) }
}
