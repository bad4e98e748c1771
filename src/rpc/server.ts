import { NotFoundError } from 'interface-store'
import { Request, Response } from '../pb/message.js'
import type { Tracker } from '../pb/message.js'
import { plain } from './bytes.js'
import * as varint from 'uint8-varint'
import { Uint8ArrayList } from 'uint8arraylist'
import { FrameWriter, readFrames } from './framing.js'
import { handleBatch } from './handlers/batch.js'
import { handleDelete } from './handlers/delete.js'
import { handleDigests } from './handlers/digests.js'
import { handleGetMany } from './handlers/get-many.js'
import { handleGet } from './handlers/get.js'
import { handleGetTable } from './handlers/get-table.js'
import { handleHas } from './handlers/has.js'
import { handlePing } from './handlers/ping.js'
import { handlePut } from './handlers/put.js'
import { handleQuery } from './handlers/query.js'
import { handleReplicaGetMany } from './handlers/replica-get-many.js'
import { handleReplicaGet } from './handlers/replica-get.js'
import { handleReplicaQuery } from './handlers/replica-query.js'
import { handleReplicaVersions } from './handlers/replica-versions.js'
import { handleReplicaWrite } from './handlers/replica-write.js'
import { handleSlotEntries } from './handlers/slot-entries.js'
import { handleTable } from './handlers/table.js'
import { RequestError, badRequest } from './request-error.js'
import type { TableKeeper } from '../membership/table-keeper.js'
import type { Owner } from '../owner/owner.js'
import type { Ownership } from '../slots/ownership.js'
import type { Connection, Logger, PeerId, Stream } from '@libp2p/interface'
import type { FrameReader } from './framing.js'
import type { StreamLimits } from './limits.js'

/** What a remote peer may do */
export type Access = 'member' | 'client' | 'read-only'

export interface RpcServerInit {
  self: PeerId
  /** The owner service: every handler reads and writes through it */
  owner: Owner
  log: Logger
  /** What one stream may make this node hold */
  limits: StreamLimits
  /** The current ownership (and through it the table) */
  ownership(): Ownership
  /** Who may call, or undefined for a stranger */
  access(peer: string): Access | undefined
  /** Judges and adopts tables from peers, and offers ours */
  tables: TableKeeper
  /**
   * Trackers of slot table transitions: learn those a member sent (a PING),
   * and return this node's for the answer (PING and MOVED answers carry them)
   */
  gossip?(trackers: Tracker[] | undefined, access: Access | undefined): Tracker[]
}

/**
 * Everything a handler gets: the request's validated caller, the owner service,
 * the table in force when the request arrived and the means to answer.
 */
export interface HandlerContext {
  readonly req: Request
  readonly remote: PeerId
  /** This node */
  readonly self: PeerId
  readonly access: Access
  readonly ownership: Ownership
  /** The owner service: key checks, roles, the child store */
  readonly owner: Owner
  readonly log: Logger
  readonly maxMessageSize: number
  /** Aborted when the stream closes or the answer is cancelled */
  readonly signal: AbortSignal
  /** Size of the request's frame in bytes */
  readonly frameBytes: number
  /** Open a streamed answer paced by the caller's credit */
  answer(): AnswerStream
  /** Judges and adopts tables from peers, and offers ours */
  readonly tables: TableKeeper
  /** Learn the trackers a member sent (none from others) and return this node's */
  gossip(trackers: Tracker[]): Tracker[]
}

const WRITES = new Set([Request.Type.PUT, Request.Type.DELETE, Request.Type.BATCH, Request.Type.REPLICA_WRITE])

type Handler = (ctx: HandlerContext) => Promise<Partial<Response> | undefined>

const HANDLERS: Partial<Record<Request.Type, Handler>> = {
  [Request.Type.GET]: handleGet,
  [Request.Type.HAS]: handleHas,
  [Request.Type.PUT]: handlePut,
  [Request.Type.DELETE]: handleDelete,
  [Request.Type.BATCH]: handleBatch,
  [Request.Type.GET_MANY]: handleGetMany,
  [Request.Type.QUERY]: handleQuery,
  [Request.Type.TABLE]: handleTable,
  [Request.Type.GET_TABLE]: handleGetTable,
  [Request.Type.REPLICA_GET]: handleReplicaGet,
  [Request.Type.REPLICA_WRITE]: handleReplicaWrite,
  [Request.Type.REPLICA_GET_MANY]: handleReplicaGetMany,
  [Request.Type.REPLICA_QUERY]: handleReplicaQuery,
  [Request.Type.REPLICA_VERSIONS]: handleReplicaVersions,
  [Request.Type.PING]: handlePing,
  [Request.Type.DIGESTS]: handleDigests,
  [Request.Type.SLOT_ENTRIES]: handleSlotEntries
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

  /**
   * The libp2p stream handler. Access is decided here, before anything of the
   * stream is read: a peer that may not call costs no buffers.
   */
  readonly handle = (stream: Stream, connection: Connection): void => {
    try {
      const remote = connection.remotePeer.toString()

      if (this.init.access(remote) == null) {
        refuse(stream, `peer ${remote} is neither a member of this node's slot table nor an allowed client`, this.init)
        return
      }

      const session = new InboundSession(this.init, stream, connection.remotePeer, () => {
        this.sessions.delete(session)
      })
      this.sessions.add(session)
    } catch (err: any) {
      this.init.log.error('could not serve a stream from %p - %e', connection.remotePeer, err)
      stream.abort(err)
    }
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
 * Answer a stranger once, for the whole stream (id 0: no request of theirs is
 * read), then close. What they send meanwhile is dropped as it arrives.
 */
function refuse (stream: Stream, why: string, init: RpcServerInit): void {
  init.log('refusing a data-protocol stream: %s', why)
  stream.addEventListener('message', () => {})
  const timer = setTimeout(() => {
    stream.abort(new Error('the refused peer kept the stream open'))
  }, init.limits.requestTimeout)
  timer.unref?.()
  stream.addEventListener('close', () => { clearTimeout(timer) })

  try {
    const body = Response.encode({ id: 0, status: Response.Status.UNAUTHORIZED, message: why, done: true })
    stream.send(Uint8ArrayList.fromUint8Arrays([varint.encode(body.byteLength), body]))
    stream.close().catch((err: Error) => { stream.abort(err) })
  } catch (err: any) {
    stream.abort(err)
  }
}

/** A request read from the stream, waiting for its turn or in progress */
interface Work {
  req: Request
  bytes: number
  /** It opened a streamed answer and no longer holds a place among the concurrent requests */
  released: boolean
}

/**
 * One inbound stream. Requests are served concurrently, at most
 * `maxConcurrentPerStream` at once and only while the answers queued for the
 * caller stay under `maxQueuedBytes`; reading stops while the caller has more
 * requests (or bytes of requests) in progress than the limits allow. So a
 * caller that never reads its answers, or sends without end, holds a bounded
 * amount of this node's memory.
 */
class InboundSession {
  readonly init: RpcServerInit
  private readonly stream: Stream
  readonly remote: PeerId
  private readonly remoteString: string
  readonly log: Logger
  readonly writer: FrameWriter
  private readonly reader: FrameReader
  private readonly answers: Map<number, AnswerStream>
  readonly controller: AbortController
  /** Read and not yet answered */
  private inFlight: number
  private inFlightBytes: number
  /** Being worked on (not counting released streamed answers) */
  private active: number
  private readonly waiting: Work[]
  private paused: boolean
  private stalledTimer?: ReturnType<typeof setTimeout>
  private readonly onClose: () => void

  constructor (init: RpcServerInit, stream: Stream, remote: PeerId, onClose: () => void) {
    this.init = init
    this.stream = stream
    this.remote = remote
    this.remoteString = remote.toString()
    this.log = init.log.newScope(`in:${this.remoteString.slice(-8)}`)
    this.answers = new Map()
    this.controller = new AbortController()
    this.inFlight = 0
    this.inFlightBytes = 0
    this.active = 0
    this.waiting = []
    this.paused = false
    this.writer = new FrameWriter(stream, (err) => {
      this.abort(err)
    })
    this.writer.onProgress(() => {
      this.dispatch()
    })

    this.reader = readFrames(stream, init.limits.maxMessageSize, (frame) => this.onFrame(frame), (err) => {
      this.log.error('closing stream from %p after an invalid frame - %e', remote, err)
      this.abort(badRequest(err.message))
    })

    this.onClose = () => {
      clearTimeout(this.stalledTimer)
      this.waiting.length = 0
      onClose()
    }
    stream.addEventListener('close', () => {
      this.controller.abort(new Error('stream closed'))
      this.onClose()
    })
    stream.addEventListener('remoteCloseWrite', () => {
      // the caller sends no more requests; finish what is in flight, then close
      this.closeWhenIdle()
    })
  }

  abort (err: Error): void {
    this.controller.abort(err)
    this.stream.abort(err)
    // a stream already gone sends no close event: stop tracking it here too
    this.onClose()
  }

  /** Returns false to stop decoding until the caller is back within the limits */
  private onFrame (frame: Uint8ArrayList): boolean {
    if (this.controller.signal.aborted) {
      return false
    }

    let req: Request
    // decoded from a plain Uint8Array, every bytes field is a plain view too
    const bytes = plain(frame.subarray())

    try {
      req = Request.decode(bytes)
    } catch (err: any) {
      // without a decodable id there is nobody to answer: drop the stream
      this.log.error('malformed request from %p - %e', this.remote, err)
      this.abort(badRequest(`malformed request: ${err.message}`))
      return false
    }

    if (req.type === Request.Type.CREDIT) {
      this.answers.get(req.id)?.grant(req.credit)
      return true
    }

    if (req.type === Request.Type.CANCEL) {
      this.answers.get(req.id)?.cancel()
      return true
    }

    this.inFlight++
    this.inFlightBytes += bytes.byteLength
    this.waiting.push({ req, bytes: bytes.byteLength, released: false })
    this.dispatch()

    if (this.overLimits()) {
      this.pause()
      return false
    }

    return true
  }

  /** An honest caller keeps within the limits; only one that does not is paused */
  private overLimits (): boolean {
    return this.inFlight > this.init.limits.maxInFlightPerStream || this.inFlightBytes > this.init.limits.maxInFlightBytes
  }

  private pause (): void {
    if (this.paused) {
      return
    }

    this.paused = true
    this.log('pausing %p: %d requests, %d bytes in progress', this.remote, this.inFlight, this.inFlightBytes)

    try {
      if (this.stream.readStatus === 'readable') {
        this.stream.pause()
      }
    } catch (err: any) {
      this.log.error('could not pause the stream - %e', err)
    }
  }

  private maybeResume (): void {
    if (!this.paused || this.overLimits() || this.controller.signal.aborted) {
      return
    }

    this.paused = false

    try {
      if (this.stream.readStatus === 'paused') {
        this.stream.resume()
      }

      // frames that arrived with the ones before the pause
      this.reader.resume()
    } catch (err: any) {
      this.log.error('closing stream from %p after an invalid frame - %e', this.remote, err)
      this.abort(badRequest(err.message))
    }
  }

  /**
   * Start waiting requests while there is room: few enough at once, and the
   * caller reading what it was sent. A caller that reads nothing for
   * `requestTimeout` while requests wait loses the stream.
   */
  private dispatch (): void {
    const limits = this.init.limits

    while (this.waiting.length > 0 && this.active < limits.maxConcurrentPerStream && !this.controller.signal.aborted) {
      if (this.writer.queuedBytes >= limits.maxQueuedBytes) {
        this.stalledTimer ??= setTimeout(() => {
          this.log.error('%p read none of %d queued bytes for %d ms, closing the stream', this.remote, this.writer.queuedBytes, limits.requestTimeout)
          this.abort(new Error(`the caller read none of its answers for ${limits.requestTimeout} ms`))
        }, limits.requestTimeout)
        return
      }

      const work = this.waiting.shift() as Work
      this.active++
      this.run(work)
    }

    if (this.stalledTimer != null && this.writer.queuedBytes < limits.maxQueuedBytes) {
      clearTimeout(this.stalledTimer)
      this.stalledTimer = undefined
    }
  }

  private run (work: Work): void {
    const { req } = work

    this.serve(work)
      .then(res => {
        if (res != null) {
          this.respond(req, res)
        }
      }, (err: any) => {
        this.respond(req, this.errorResponse(req, err))
      })
      .catch((err: any) => {
        this.log.error('could not answer %s request from %p - %e', req.type, this.remote, err)
      })
      .finally(() => {
        this.served(work)
      })
  }

  /** A request is answered: make room, resume reading, or close once the caller is done */
  private served (work: Work): void {
    if (!work.released) {
      this.active--
    }

    this.inFlight--
    this.inFlightBytes -= work.bytes
    this.dispatch()
    this.maybeResume()

    if (this.inFlight === 0 && this.stream.remoteWriteStatus !== 'writable') {
      this.closeWhenIdle()
    }
  }

  private async serve (work: Work): Promise<Partial<Response> | undefined> {
    const { req } = work
    const access = this.init.access(this.remoteString)

    if (access == null) {
      throw new RequestError(Response.Status.UNAUTHORIZED, `peer ${this.remoteString} is neither a member of this node's slot table nor an allowed client`)
    }

    if (access === 'read-only' && WRITES.has(req.type)) {
      throw new RequestError(Response.Status.UNAUTHORIZED, `peer ${this.remoteString} is a read-only client and may not ${req.type}`)
    }

    // a caller on a newer table than ours: catch up from it (it holds the signed table)
    if (req.type !== Request.Type.TABLE) {
      this.init.tables.observe(this.remote, req.epoch)
    }

    const handler = HANDLERS[req.type]

    if (handler == null) {
      throw badRequest(`unknown request type ${String(req.type)}`)
    }

    return handler(this.context(work, access))
  }

  private context (work: Work, access: Access): HandlerContext {
    return new RequestContext(this, work.req, access, this.init.ownership(), work.bytes, () => {
      // a streamed answer is paced by credit, not by a place among the concurrent requests
      if (!work.released) {
        work.released = true
        this.active--
        queueMicrotask(() => { this.dispatch() })
      }
    })
  }

  /** @internal a streamed answer to `req`, tracked until it ends */
  openAnswer (req: Request): AnswerStream {
    const limits = this.init.limits
    const answer = new AnswerStream({
      id: req.id,
      credit: Math.min(req.credit, limits.maxCredit),
      maxCredit: limits.maxCredit,
      timeout: limits.requestTimeout,
      signal: this.controller.signal,
      writer: this.writer,
      maxQueuedBytes: limits.maxQueuedBytes,
      sendFrame: (res) => this.respond(req, res),
      onEnd: () => {
        this.answers.delete(req.id)
      }
    })
    this.answers.get(req.id)?.cancel()
    this.answers.set(req.id, answer)
    return answer
  }

  /**
   * Returns the bytes of the frame sent (what the caller will count against
   * its credit), 0 when nothing could be sent, -1 when the answer was too
   * large and an error went instead
   */
  private respond (req: Request, res: Partial<Response>): number {
    if (this.stream.writeStatus !== 'writable') {
      return 0
    }

    res.id = req.id
    res.epoch = this.init.ownership().table.epoch
    let body = Response.encode(res)

    if (body.byteLength > this.init.limits.maxMessageSize) {
      body = Response.encode({
        id: req.id,
        epoch: res.epoch,
        status: Response.Status.TOO_LARGE,
        message: `the answer of ${body.byteLength} bytes exceeds the maximum message size of ${this.init.limits.maxMessageSize} bytes`,
        done: true
      })
      this.writer.write(body)
      return -1
    }

    this.writer.write(body)
    return body.byteLength
  }

  private errorResponse (req: Request, err: any): Partial<Response> {
    if (err instanceof RequestError) {
      // a MOVED answer from a node with a newer table carries it, signed, so
      // the caller can adopt it; and tells how far this node is in a
      // transition: the caller may retire the old table on it
      const moved = err.status === Response.Status.MOVED
      return { status: err.status, message: err.message, signedTable: err.offerTable ? this.init.tables.offer() : undefined, settled: err.offerTable && this.init.tables.offersSettled(), trackers: moved ? this.init.gossip?.(undefined, undefined) : undefined, done: true }
    }

    if (err instanceof NotFoundError || err?.name === 'NotFoundError') {
      return { status: Response.Status.NOT_FOUND, done: true }
    }

    if (this.controller.signal.aborted) {
      // the stream is gone: nobody to tell
      return { status: Response.Status.UNAVAILABLE, message: 'the stream closed', done: true }
    }

    this.log.error('%s request from %p failed - %e', req.type, this.remote, err)
    return { status: Response.Status.INTERNAL, message: err?.message ?? String(err), done: true }
  }

  private closeWhenIdle (): void {
    if (this.inFlight > 0 || this.stream.writeStatus !== 'writable') {
      return
    }

    this.writer.end()
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
  private readonly release: () => void

  constructor (session: InboundSession, req: Request, access: Access, ownership: Ownership, frameBytes: number, release: () => void) {
    this.session = session
    this.release = release
    this.req = req
    this.access = access
    this.ownership = ownership
    this.frameBytes = frameBytes
  }

  get remote (): PeerId { return this.session.remote }
  get self (): PeerId { return this.session.init.self }
  get owner (): Owner { return this.session.init.owner }
  get log (): Logger { return this.session.log }
  get maxMessageSize (): number { return this.session.init.limits.maxMessageSize }
  get signal (): AbortSignal { return this.session.controller.signal }

  answer (): AnswerStream {
    this.release()
    return this.session.openAnswer(this.req)
  }

  get tables (): TableKeeper { return this.session.init.tables }

  gossip (trackers: Tracker[]): Tracker[] {
    return this.session.init.gossip?.(trackers, this.access) ?? []
  }
}

export interface AnswerStreamInit {
  id: number
  /** Credit granted with the request */
  credit: number
  maxCredit: number
  /** Milliseconds to wait for the reader before the answer is abandoned */
  timeout: number
  signal: AbortSignal
  writer: FrameWriter
  maxQueuedBytes: number
  /** Returns the bytes sent, or -1 when the frame was too large and an error went instead */
  sendFrame(res: Partial<Response>): number
  onEnd(): void
}

/**
 * The owner's side of a streamed answer: frames go out only while the caller
 * has granted credit for them and reads what it was sent. A reader that
 * grants nothing for `timeout` ms is told so and the answer ends.
 */
export class AnswerStream {
  readonly id: number
  private readonly init: AnswerStreamInit
  private credit: number
  private wake?: () => void
  private cancelled: boolean
  private ended: boolean

  constructor (init: AnswerStreamInit) {
    this.init = init
    this.id = init.id
    this.credit = init.credit
    this.cancelled = false
    this.ended = false
  }

  /** The caller stopped reading, the stream closed or the answer ended */
  get stopped (): boolean {
    return this.cancelled || this.ended || this.init.signal.aborted
  }

  grant (bytes: number): void {
    this.credit = Math.min(this.credit + bytes, this.init.maxCredit)
    this.wake?.()
  }

  cancel (): void {
    this.cancelled = true
    this.wake?.()
  }

  /**
   * Send one frame of entries, first waiting until the caller has credit and
   * has read what was queued for it. Returns false when the answer is over
   * (the caller is gone, cancelled, timed out, or the frame was too large)
   * and the handler should stop.
   */
  async send (entries: Response['entries']): Promise<boolean> {
    if (!this.stopped && !this.ready()) {
      await this.waitForReader()
    }

    if (this.stopped) {
      this.finish()
      return false
    }

    // debit exactly what the caller credits back (the encoded frame), or an
    // estimate that is off by a byte per entry leaks credit until the answer stalls
    const sent = this.init.sendFrame({ status: Response.Status.OK, entries })

    if (sent < 0) {
      this.finish()
      return false
    }

    this.credit -= sent
    return true
  }

  /** The last frame */
  end (entries: Response['entries'] = []): void {
    const send = !this.stopped
    this.finish()

    if (send) {
      this.init.sendFrame({ status: Response.Status.OK, entries, done: true })
    }
  }

  /** Stop tracking without sending (the handler failed; the error answer follows) */
  close (): void {
    this.finish()
  }

  private finish (): void {
    if (!this.ended) {
      this.ended = true
      this.init.onEnd()
    }
  }

  private ready (): boolean {
    return this.credit > 0 && this.init.writer.queuedBytes < this.init.maxQueuedBytes
  }

  private async waitForReader (): Promise<void> {
    const { signal, writer, timeout } = this.init
    let timedOut = false

    await new Promise<void>(resolve => {
      const check = (): void => {
        if (this.stopped || this.ready()) {
          done()
        }
      }
      const done = (): void => {
        clearTimeout(timer)
        signal.removeEventListener('abort', done)
        stopProgress()
        this.wake = undefined
        resolve()
      }
      const timer = setTimeout(() => {
        timedOut = true
        done()
      }, timeout)
      const stopProgress = writer.onProgress(check)
      signal.addEventListener('abort', done, { once: true })
      this.wake = check
    })

    if (timedOut && !this.stopped) {
      this.init.sendFrame({
        status: Response.Status.UNAVAILABLE,
        message: `the reader took none of the answer for ${timeout} ms; the owner abandoned it`,
        done: true
      })
      this.finish()
    }
  }
}
