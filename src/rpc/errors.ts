import { NotFoundError } from 'interface-store'
import { BadRequestError, InternalError, MovedError, TableConflictError, TooLargeError, UnauthorizedError, UnavailableError } from '../errors.js'
import { Response } from '../pb/message.js'

/**
 * The typed error for a non-OK answer from `peer`. MOVED is normally handled by
 * the router before it gets here.
 */
export function errorFromResponse (res: Response, peer: string, slot?: number): Error {
  const detail = res.message !== '' ? `: ${res.message}` : ''

  switch (res.status) {
    case Response.Status.NOT_FOUND:
      return new NotFoundError(`Not Found${detail}`)
    case Response.Status.UNAUTHORIZED:
      return new UnauthorizedError(`Peer ${peer} refused the request${detail}`)
    case Response.Status.TOO_LARGE:
      return new TooLargeError(`Peer ${peer} refused the request as too large${detail}`)
    case Response.Status.BAD_REQUEST:
      return new BadRequestError(`Peer ${peer} rejected the request${detail}`)
    case Response.Status.UNAVAILABLE:
      return new UnavailableError(`Peer ${peer} is unavailable${detail}`, { peer, slot })
    case Response.Status.CONFLICT:
      return new TableConflictError(`Peer ${peer} refused the slot table${detail}`)
    case Response.Status.MOVED:
      return new MovedError(`Peer ${peer} no longer owns the slot${slot != null ? ` ${slot}` : ''}${detail}`)
    default:
      return new InternalError(`Peer ${peer} failed to serve the request${detail}`)
  }
}
