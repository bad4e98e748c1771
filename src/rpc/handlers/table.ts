import type { Response } from '../../pb/message.js'
import { refusalStatus } from '../../membership/table-keeper.js'
import { RequestError } from '../request-error.js'
import type { HandlerContext } from '../server.js'

/**
 * A peer sends its slot table because ours is older. Any peer allowed to call
 * may: the admin key's signature, not the sender, is what is trusted (see
 * `TableKeeper`). An older table is answered with ours, so the sender learns.
 */
export async function handleTable (ctx: HandlerContext): Promise<Partial<Response>> {
  let verdict

  try {
    verdict = await ctx.tables.receive(ctx.req.signedTable, `peer ${ctx.remote.toString()}`, { signal: ctx.signal })
  } catch (err: any) {
    const status = refusalStatus(err)

    if (status == null) {
      throw err
    }

    ctx.log('refused the slot table of %p - %e', ctx.remote, err)
    throw new RequestError(status, err.message)
  }

  if (verdict.kind === 'older') {
    return { signedTable: ctx.tables.offer() }
  }

  return {}
}
