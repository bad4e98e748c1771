import type { Response } from '../../pb/message.js'
import type { HandlerContext } from '../server.js'

/**
 * A peer that saw a newer epoch in one of our answers asks for our table.
 * Empty when this node holds no signed table.
 */
export async function handleGetTable (ctx: HandlerContext): Promise<Partial<Response>> {
  return { signedTable: ctx.tables.offer() }
}
