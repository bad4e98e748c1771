import { Response } from '../pb/message.js'
import type { SlotTable } from '../pb/message.js'

/**
 * Thrown by handlers to answer with a status other than OK
 */
export class RequestError extends Error {
  readonly status: Response.Status
  readonly table?: SlotTable

  constructor (status: Response.Status, message: string, table?: SlotTable) {
    super(message)
    this.status = status
    this.table = table
  }
}

export function badRequest (message: string): RequestError {
  return new RequestError(Response.Status.BAD_REQUEST, message)
}
