import type { Response } from '../../pb/message.js'
import type { HandlerContext } from '../server.js'

/**
 * A peer that saw a newer epoch in one of our answers asks for our table.
 * Empty when this node holds no signed table.
 */
export async function handleGetTable (ctx: HandlerContext): Promise<Partial<Response>> {
  // with how far the members are in moving to it, as this node knows: a node that catches up
  // with a move already over learns at once that it is over
  return { signedTable: ctx.tables.offer(), settled: ctx.tables.offersSettled(), trackers: ctx.gossip([]) }
}
