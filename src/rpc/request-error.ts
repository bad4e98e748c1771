import { Response } from '../pb/message.js'

/**
 * Thrown by handlers to answer with a status other than OK
 */
export class RequestError extends Error {
  readonly status: Response.Status
  /** MOVED: this node's table is newer than the caller's; the answer carries it (signed, when held so) */
  readonly offerTable: boolean

  constructor (status: Response.Status, message: string, offerTable = false) {
    super(message)
    this.status = status
    this.offerTable = offerTable
  }
}

export function badRequest (message: string): RequestError {
  return new RequestError(Response.Status.BAD_REQUEST, message)
}
