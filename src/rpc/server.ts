import { Key } from 'interface-datastore'
import { NotFoundError } from 'interface-store'
import { DEFAULT_MAX_IN_FLIGHT_PER_STREAM } from '../constants.js'
import { Request, Response } from '../pb/message.js'
import { keySlot } from '../slots/hash.js'
import { plain } from './bytes.js'
import { FrameWriter, readFrames } from './framing.js'
import { handleBatch } from './handlers/batch.js'
import { handleDelete } from './handlers/delete.js'
import { handleGetMany } from './handlers/get-many.js'
import { handleGet } from './handlers/get.js'
import { handleHas } from './handlers/has.js'
import { handlePut } from './handlers/put.js'
import { handleQuery } from './handlers/query.js'
import { handleTable } from './handlers/table.js'
import { RequestError, badRequest } from './request-error.js'
import { tableToMessage } from './table.js'
import type { Ownership } from '../slots/ownership.js'
import type { SlotTable } from '../slots/table.js'
import type { Connection, Logger, PeerId, Stream } from '@libp2p/interface'
import type { Datastore } from 'interface-datastore'
import type { Uint8ArrayList } from 'uint8arraylist'

/** What a remote peer may do */
export type Access = 'member' | 'client' | 'read-only'

export interface RpcServerInit {
  self: PeerId
  local: Datastore
  log: Logger
  maxMessageSize: number
  /** The current ownership (and through it the table) */
  ownership(): Ownership
  /** Who may call, or undefined for a stranger */
  access(peer: string): Access | undefined
  /** Adopt a newer, already validated table; false when it is not newer */
  adoptTable(table: SlotTable): boolean
}

/**
 * Everything a handler gets: the request's validated caller, the local store,
 * the table in force when the request arrived and the means to answer.
 */
export interface HandlerContext {
  readonly req: Request
  readonly remote: PeerId
  /** This node */
  readonly self: PeerId
  readonly access: Access
  readonly ownership: Ownership
  readonly local: Datastore
  readonly log: Logger
  readonly maxMessageSize: number
  /** Aborted when the stream closes or the answer is cancelled */
  readonly signal: AbortSignal
  /** A key the caller may touch: well formed and in a slot this node owns */
  key(bytes: Uint8Array | undefined): Key
  /** Size of the request's frame in bytes */
  readonly frameBytes: number
  /** Open a streamed answer paced by the caller's credit */
  answer(): AnswerStream
  adoptTable(table: SlotTable): boolean
}

const WRITES = new Set([Request.Type.PUT, Request.Type.DELETE, Request.Type.BATCH])

type Handler = (ctx: HandlerContext) => Promise<Partial<Response> | undefined>

const HANDLERS: Partial<Record<Request.Type, Handler>> = {
  [Request.Type.GET]: handleGet,
  [Request.Type.HAS]: handleHas,
  [Request.Type.PUT]: handlePut,
  [Request.Type.DELETE]: handleDelete,
  [Request.Type.BATCH]: handleBatch,
  [Request.Type.GET_MANY]: handleGetMany,
  [Request.Type.QUERY]: handleQuery,
  [Request.Type.TABLE]: handleTable
}

/**
 * Inbound side of the data protocol: who is calling, size limits, decoding,
 * dispatch by message type.
 */
export class RpcServer {
  private readonly init: RpcServerInit
  private readonly sessions: Set<InboundSession>

  constructor (init: RpcServerInit) {
    this.init = init
    this.sessions = new Set()
  }

  /** The libp2p stream handler */
  readonly handle = (stream: Stream, connection: Connection): void => {
    const session = new InboundSession(this.init, stream, connection.remotePeer, () => {
      this.sessions.delete(session)
    })
    this.sessions.add(session)
  }

  /** Abort every inbound stream: requests in flight are not answered */
  close (err: Error): void {
    for (const session of this.sessions) {
      session.abort(err)
    }

    this.sessions.clear()
  }
}

/**
 * One inbound stream. Requests are served concurrently; reading pauses while
 * too many are in progress so a caller that never reads its answers cannot
 * make this node buffer without bound.
 */
class InboundSession {
  readonly init: RpcServerInit
  private readonly stream: Stream
  readonly remote: PeerId
  private readonly remoteString: string
  readonly log: Logger
  private readonly writer: FrameWriter
  private readonly answers: Map<number, AnswerStream>
  readonly controller: AbortController
  private inFlight: number
  private paused: boolean

  constructor (init: RpcServerInit, stream: Stream, remote: PeerId, onClose: () => void) {
    this.init = init
    this.stream = stream
    this.remote = remote
    this.remoteString = remote.toString()
    this.log = init.log.newScope(`in:${this.remoteString.slice(-8)}`)
    this.answers = new Map()
    this.controller = new AbortController()
    this.inFlight = 0
    this.paused = false
    this.writer = new FrameWriter(stream, (err) => {
      this.abort(err)
    })

    readFrames(stream, init.maxMessageSize, (frame) => {
      this.onFrame(frame)
    }, (err) => {
      this.log.error('closing stream from %p after an invalid frame - %e', remote, err)
      this.abort(err)
    })

    stream.addEventListener('close', () => {
      this.controller.abort(new Error('stream closed'))
      onClose()
    })
    stream.addEventListener('remoteCloseWrite', () => {
      // the caller sends no more requests; finish what is in flight, then close
      this.closeWhenIdle()
    })
  }

  abort (err: Error): void {
    this.controller.abort(err)
    this.stream.abort(err)
  }

  private onFrame (frame: Uint8ArrayList): void {
    let req: Request
    // decoded from a plain Uint8Array, every bytes field is a plain view too
    const bytes = plain(frame.subarray())

    try {
      req = Request.decode(bytes)
    } catch (err: any) {
      // without a decodable id there is nobody to answer: drop the stream
      this.log.error('malformed request from %p - %e', this.remote, err)
      this.abort(badRequest(`malformed request: ${err.message}`))
      return
    }

    if (req.type === Request.Type.CREDIT) {
      this.answers.get(req.id)?.grant(req.credit)
      return
    }

    if (req.type === Request.Type.CANCEL) {
      this.answers.get(req.id)?.cancel()
      return
    }

    this.inFlight++

    if (this.inFlight >= DEFAULT_MAX_IN_FLIGHT_PER_STREAM && !this.paused) {
      this.paused = true
      this.stream.pause()
    }

    this.serve(req, bytes.byteLength)
      .then(res => {
        if (res != null) {
          this.respond(req, res)
        }

        this.served()
      }, (err: any) => {
        this.respond(req, this.errorResponse(req, err))
        this.served()
      })
  }

  /** A request is answered: resume reading, or close once the caller is done */
  private served (): void {
    this.inFlight--

    if (this.paused && this.inFlight < DEFAULT_MAX_IN_FLIGHT_PER_STREAM / 2) {
      this.paused = false
      this.stream.resume()
    }

    if (this.inFlight === 0 && this.stream.remoteWriteStatus !== 'writable') {
      this.closeWhenIdle()
    }
  }

  private async serve (req: Request, frameBytes: number): Promise<Partial<Response> | undefined> {
    const access = this.init.access(this.remoteString)

    if (access == null) {
      throw new RequestError(Response.Status.UNAUTHORIZED, `peer ${this.remoteString} is neither a member of this node's slot table nor an allowed client`)
    }

    if (access === 'read-only' && WRITES.has(req.type)) {
      throw new RequestError(Response.Status.UNAUTHORIZED, `peer ${this.remoteString} is a read-only client and may not ${req.type}`)
    }

    const handler = HANDLERS[req.type]

    if (handler == null) {
      throw badRequest(`unknown request type ${String(req.type)}`)
    }

    return handler(this.context(req, access, frameBytes))
  }

  private context (req: Request, access: Access, frameBytes: number): HandlerContext {
    return new RequestContext(this, req, access, this.init.ownership(), frameBytes)
  }

  /** @internal a streamed answer to `req`, tracked until it ends */
  openAnswer (req: Request): AnswerStream {
    const answer = new AnswerStream(req.id, req.credit, this.controller.signal, (res) => this.respond(req, res), () => {
      this.answers.delete(req.id)
    })
    this.answers.set(req.id, answer)
    return answer
  }

  /** Returns the bytes of the frame sent: what the caller will count against its credit */
  private respond (req: Request, res: Partial<Response>): number {
    if (this.stream.writeStatus !== 'writable') {
      return 0
    }

    res.id = req.id
    res.epoch = this.init.ownership().table.epoch
    let body = Response.encode(res)

    if (body.byteLength > this.init.maxMessageSize) {
      body = Response.encode({
        id: req.id,
        epoch: res.epoch,
        status: Response.Status.TOO_LARGE,
        message: `the answer of ${body.byteLength} bytes exceeds the maximum message size of ${this.init.maxMessageSize} bytes`,
        done: true
      })
    }

    this.writer.write(body)
    return body.byteLength
  }

  private errorResponse (req: Request, err: any): Partial<Response> {
    if (err instanceof RequestError) {
      return { status: err.status, message: err.message, table: err.table, done: true }
    }

    if (err instanceof NotFoundError || err?.name === 'NotFoundError') {
      return { status: Response.Status.NOT_FOUND, done: true }
    }

    this.log.error('%s request from %p failed - %e', req.type, this.remote, err)
    return { status: Response.Status.INTERNAL, message: err?.message ?? String(err), done: true }
  }

  private closeWhenIdle (): void {
    if (this.inFlight > 0) {
      return
    }

    this.stream.close().catch((err: Error) => {
      this.stream.abort(err)
    })
  }
}

/**
 * The context of one request: its fields are read from the session on demand
 * rather than copied into closures for every request
 */
class RequestContext implements HandlerContext {
  readonly req: Request
  readonly access: Access
  readonly ownership: Ownership
  readonly frameBytes: number
  private readonly session: InboundSession

  constructor (session: InboundSession, req: Request, access: Access, ownership: Ownership, frameBytes: number) {
    this.session = session
    this.req = req
    this.access = access
    this.ownership = ownership
    this.frameBytes = frameBytes
  }

  get remote (): PeerId { return this.session.remote }
  get self (): PeerId { return this.session.init.self }
  get local (): Datastore { return this.session.init.local }
  get log (): Logger { return this.session.log }
  get maxMessageSize (): number { return this.session.init.maxMessageSize }
  get signal (): AbortSignal { return this.session.controller.signal }

  key (bytes: Uint8Array | undefined): Key {
    return checkKey(bytes, this.req, this.ownership, this.session.init.self)
  }

  answer (): AnswerStream {
    return this.session.openAnswer(this.req)
  }

  adoptTable (table: SlotTable): boolean {
    return this.session.init.adoptTable(table)
  }
}

/**
 * Decide whether a key from the wire may be served here: well formed, and in
 * a slot this node owns. When it is not ours the answer depends on whose table
 * is newer (DESIGN.md, wire protocol).
 */
function checkKey (bytes: Uint8Array | undefined, req: Request, ownership: Ownership, self: PeerId): Key {
  if (bytes == null || bytes.byteLength === 0 || bytes[0] !== 0x2f) {
    throw badRequest('a key must be a non-empty path starting with "/"')
  }

  const key = new Key(bytes, false)
  const slot = keySlot(key)

  if (ownership.owns(slot)) {
    return key
  }

  throw notOwned(slot, req, ownership, self)
}

/**
 * The answer for a request about slots this node does not own (or, for a
 * query, a caller whose table differs from ours)
 */
export function notOwned (slot: number | undefined, req: Request, ownership: Ownership, self: PeerId): RequestError {
  const table = ownership.table
  const what = slot == null ? 'the query' : `slot ${slot}`

  if (table.epoch > req.epoch) {
    const owner = slot == null ? '' : `, now owned by ${table.primary(slot).toString()}`
    return new RequestError(Response.Status.MOVED, `${what} moved${owner} (table epoch ${table.epoch}, the caller has ${req.epoch})`, tableToMessage(table))
  }

  if (table.epoch < req.epoch) {
    // no table attached: the caller sees ours is older and sends its own
    return new RequestError(Response.Status.MOVED, `this node's slot table (epoch ${table.epoch}) is older than the caller's (epoch ${req.epoch})`)
  }

  return badRequest(`${what} is not owned by ${self.toString()} in slot table epoch ${table.epoch}`)
}

/**
 * The owner's side of a streamed answer: frames go out only while the caller
 * has granted credit for them.
 */
export class AnswerStream {
  readonly id: number
  private credit: number
  private readonly signal: AbortSignal
  private readonly sendFrame: (res: Partial<Response>) => number
  private readonly onEnd: () => void
  private wake?: () => void
  private cancelled: boolean

  constructor (id: number, credit: number, signal: AbortSignal, sendFrame: (res: Partial<Response>) => number, onEnd: () => void) {
    this.id = id
    this.credit = credit
    this.signal = signal
    this.sendFrame = sendFrame
    this.onEnd = onEnd
    this.cancelled = false
  }

  /** The caller stopped reading or the stream closed */
  get stopped (): boolean {
    return this.cancelled || this.signal.aborted
  }

  grant (bytes: number): void {
    this.credit += bytes
    this.wake?.()
  }

  cancel (): void {
    this.cancelled = true
    this.wake?.()
  }

  /**
   * Send one frame of entries, first waiting until the caller has credit.
   * Returns false when the caller is gone and the handler should stop.
   */
  async send (entries: Response['entries']): Promise<boolean> {
    while (this.credit <= 0 && !this.stopped) {
      await new Promise<void>(resolve => {
        const onAbort = (): void => { resolve() }
        this.wake = () => {
          this.signal.removeEventListener('abort', onAbort)
          resolve()
        }
        this.signal.addEventListener('abort', onAbort, { once: true })
      })
      this.wake = undefined
    }

    if (this.stopped) {
      this.onEnd()
      return false
    }

    // debit exactly what the caller credits back (the encoded frame), or an
    // estimate that is off by a byte per entry leaks credit until the answer stalls
    this.credit -= this.sendFrame({ status: Response.Status.OK, entries })
    return true
  }

  /** The last frame */
  end (entries: Response['entries'] = []): void {
    this.onEnd()

    if (!this.stopped) {
      this.sendFrame({ status: Response.Status.OK, entries, done: true })
    }
  }

  /** Stop tracking without sending (the handler failed; the error answer follows) */
  close (): void {
    this.onEnd()
  }
}
