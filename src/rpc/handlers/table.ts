import { Response } from '../../pb/message.js'
import { RequestError, badRequest } from '../request-error.js'
import { tableFromMessage } from '../table.js'
import type { HandlerContext } from '../server.js'

/**
 * A member sends its slot table because ours is older. Only members may change
 * what this node believes; the table is validated before it is adopted.
 */
export async function handleTable (ctx: HandlerContext): Promise<Partial<Response>> {
  if (ctx.access !== 'member') {
    throw new RequestError(Response.Status.UNAUTHORIZED, `peer ${ctx.remote.toString()} is not a member and may not send slot tables`)
  }

  if (ctx.req.table == null) {
    throw badRequest('a TABLE request must carry a table')
  }

  if (ctx.req.table.epoch <= ctx.ownership.table.epoch) {
    // not newer: not worth validating (a table of thousands of peers costs milliseconds)
    return {}
  }

  let table

  try {
    table = tableFromMessage(ctx.req.table)
  } catch (err: any) {
    throw badRequest(err.message)
  }

  if (ctx.adoptTable(table)) {
    ctx.log('adopted slot table epoch %d from %p', table.epoch, ctx.remote)
  }

  return {}
}
