import { Response } from '../pb/message.js'
import { RequestError, badRequest } from '../rpc/request-error.js'
import type { Ownership } from '../slots/ownership.js'
import type { PeerId } from '@libp2p/interface'

/**
 * The refusal for a request about a slot this node is not the primary of (or,
 * for a query, from a caller whose table differs from ours). Whose table is
 * newer decides the answer: ours is sent with MOVED (signed, when this node
 * holds it so; the caller adopts only that), or the caller is told to send
 * its own; on the same table the caller sent it to a replica (MOVED,
 * naming the primary) or to a node that does not own the slot at all.
 */
export function notOwned (slot: number | undefined, callerEpoch: number, ownership: Ownership, self: PeerId): RequestError {
  const table = ownership.table
  const what = slot == null ? 'the query' : `slot ${slot}`

  if (table.epoch > callerEpoch) {
    const owner = slot == null ? '' : `, now owned by ${table.primary(slot).toString()}`
    return new RequestError(Response.Status.MOVED, `${what} moved${owner} (table epoch ${table.epoch}, the caller has ${callerEpoch})`, true)
  }

  if (table.epoch < callerEpoch) {
    // no table attached: the caller sees ours is older and sends its own
    return new RequestError(Response.Status.MOVED, `this node's slot table (epoch ${table.epoch}) is older than the caller's (epoch ${callerEpoch})`)
  }

  if (slot != null && ownership.owns(slot)) {
    // a listed replica: until replication lands only the primary serves a
    // slot, or writes acknowledged here would never be read
    return new RequestError(Response.Status.MOVED, `slot ${slot} is served by its primary ${table.primary(slot).toString()}; ${self.toString()} is a replica of it in slot table epoch ${table.epoch}`)
  }

  return badRequest(`${what} is not owned by ${self.toString()} in slot table epoch ${table.epoch}`)
}
