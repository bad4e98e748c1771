import { NotStartedError, ProtocolError, TooLargeError, UnavailableError } from '../errors.js'
import { PROTOCOL } from '../constants.js'
import { Request, Response } from '../pb/message.js'
import { plain } from './bytes.js'
import { errorFromResponse } from './errors.js'
import { FrameWriter, readFrames } from './framing.js'
import type { StreamLimits } from './limits.js'
import type { ClusterLibp2p } from '../index.js'
import type { AbortOptions, Logger, PeerId, Stream } from '@libp2p/interface'
import type { Uint8ArrayList } from 'uint8arraylist'

export interface RpcClientInit {
  libp2p: ClusterLibp2p
  log: Logger
  /** The same limits the owners apply to this node's streams: kept here, so they never trip */
  limits: StreamLimits
  maxOutboundStreams: number
  streamWindow: number
  /** Every single answer's slot table epoch, so a node behind learns it is (see `TableKeeper.observe`) */
  observeEpoch?(peer: PeerId, epoch: number): void
}

export interface CallOptions extends AbortOptions {
  /** The slot the request is for, named in errors */
  slot?: number
  /** Told the size of each answer frame as it is taken (a byte count without encoding the answer again) */
  onBytes?(this: void, bytes: number): void
}

/**
 * A frame of a streamed answer, kept encoded until the reader takes it: a
 * window of decoded entries would outlive the young generation and be
 * promoted, so memory under a slow reader would grow with the garbage of
 * every frame rather than stay at the window
 */
export interface ResponseFrame {
  bytes: Uint8Array
}

interface PendingCall {
  deadline: number
  slot?: number
  /** Bytes of the request, counted until its answer arrives */
  bytes: number
  /** The caller gave up (abort): the owner still works on it, so it still counts */
  abandoned: boolean
  /** Told the size of the answer frame */
  onBytes?(this: void, bytes: number): void
  resolve(res: Response): void
  reject(err: Error): void
}

/** A request waiting for the stream, or for the owner to have room for it */
interface Waiter {
  bytes: number
  /** Write it now: called in the order the requests were made */
  go(): void
  fail(err: Error): void
}

interface StreamedCall {
  push(frame: ResponseFrame): void
  fail(err: Error): void
}

/**
 * Outbound side of the data protocol: one persistent stream per peer, opened on
 * first use, with requests pipelined on it and matched to answers by id.
 */
export class RpcClient {
  private readonly init: RpcClientInit
  private readonly channels: Map<string, PeerChannel>
  private closed: boolean

  constructor (init: RpcClientInit) {
    this.init = init
    this.channels = new Map()
    this.closed = false
  }

  channel (peer: PeerId): PeerChannel {
    if (this.closed) {
      throw new NotStartedError('The cluster datastore is stopped')
    }

    const key = peer.toString()
    let channel = this.channels.get(key)

    if (channel == null) {
      channel = new PeerChannel(peer, this.init)
      this.channels.set(key, channel)
    }

    return channel
  }

  /** Fail every request in flight with `err` and close every stream */
  close (err: Error): void {
    this.closed = true

    for (const channel of this.channels.values()) {
      channel.close(err)
    }

    this.channels.clear()
  }
}

/**
 * The connection to one peer
 */
export class PeerChannel {
  readonly peer: PeerId
  private readonly peerString: string
  private readonly init: RpcClientInit
  private readonly log: Logger
  private stream?: Stream
  private writer?: FrameWriter
  private opening?: Promise<void>
  private readonly calls: Map<number, PendingCall>
  private readonly streamed: Map<number, StreamedCall>
  private nextId: number
  private sweepTimer?: ReturnType<typeof setInterval>
  private closedWith?: Error
  /** Aborts a dial in progress when the channel closes */
  private readonly closing: AbortController
  /** Requests sent on the current stream and not yet answered, and their bytes */
  private outstanding: number
  private outstandingBytes: number
  private readonly waiters: Waiter[]

  constructor (peer: PeerId, init: RpcClientInit) {
    this.peer = peer
    this.peerString = peer.toString()
    this.init = init
    this.log = init.log.newScope(this.peerString.slice(-8))
    this.calls = new Map()
    this.streamed = new Map()
    this.nextId = 0
    this.closing = new AbortController()
    this.outstanding = 0
    this.outstandingBytes = 0
    this.waiters = []
  }

  /** Requests waiting to be written: for room among those in flight, or for the stream to open */
  get backlog (): number {
    return this.waiters.length
  }

  /** Requests the owner takes in flight on this stream before the next waits */
  get maxInFlight (): number {
    return this.init.limits.maxInFlightPerStream
  }

  /**
   * Send a request and wait for its single answer. Non-OK statuses are
   * returned, not thrown: the router decides what they mean.
   */
  async call (req: Partial<Request>, options: CallOptions = {}): Promise<Response> {
    options.signal?.throwIfAborted()
    return this.callEncoded(this.encode(req), options)
  }

  /**
   * `call` with a request already encoded by `encodeRequest` (so a request
   * sent to several peers is encoded once): the body becomes this call's,
   * its id is written into it in place
   */
  async callEncoded (body: Uint8Array, options: CallOptions = {}): Promise<Response> {
    options.signal?.throwIfAborted()

    if (body.byteLength > this.init.limits.maxMessageSize) {
      throw new TooLargeError(`A request of ${body.byteLength} bytes exceeds the maximum message size of ${this.init.limits.maxMessageSize} bytes; nothing was sent`)
    }

    return new Promise<Response>((resolve, reject) => {
      const signal = options.signal
      const call: PendingCall = { deadline: 0, slot: options.slot, bytes: body.byteLength, abandoned: false, onBytes: options.onBytes, resolve, reject }

      this.submit(body.byteLength, options, (writer) => {
        // the owner's time runs from when it is sent: waiting here for room
        // behind other requests is not the owner failing to answer
        call.deadline = Date.now() + this.init.limits.requestTimeout
        const id = this.allocateId()
        setId(body, id)

        if (signal != null) {
          const onAbort = (): void => {
            // the owner is still working on it: it keeps its place until answered
            call.abandoned = true
            reject(signal.reason)
          }
          signal.addEventListener('abort', onAbort, { once: true })
          call.resolve = (res) => {
            signal.removeEventListener('abort', onAbort)
            resolve(res)
          }
          call.reject = (err) => {
            signal.removeEventListener('abort', onAbort)
            reject(err)
          }
        }

        this.calls.set(id, call)
        this.startSweep()
        writer.write(body)
      }, reject)
    })
  }

  /**
   * Send a request whose answer comes as several frames (GET_MANY, QUERY) and
   * yield the frames as the caller reads them. The owner sends at most
   * `streamWindow` bytes ahead of the reader: credit is granted back as frames
   * are consumed, so a slow reader holds the owner back instead of filling
   * memory. Ending the iteration early cancels the answer on the owner; to
   * end it while a frame is awaited, abort `options.signal`.
   */
  async * callStreamed (req: Partial<Request>, options: CallOptions = {}): AsyncGenerator<Response> {
    options.signal?.throwIfAborted()
    const window = this.init.streamWindow
    req.credit = window
    const body = this.encode(req)
    const queue: ResponseFrame[] = []
    let failure: Error | undefined
    let wake: (() => void) | undefined
    let finished = false
    let consumed = 0
    let id = 0
    let stream: Stream | undefined

    await new Promise<void>((resolve, reject) => {
      this.submit(body.byteLength, options, (writer) => {
        id = this.allocateId()
        setId(body, id)
        stream = this.stream
        this.streamed.set(id, {
          push: (frame) => {
            queue.push(frame)
            wake?.()
          },
          fail: (err) => {
            failure = err
            wake?.()
          }
        })
        writer.write(body)
        resolve()
      }, reject)
    })

    try {
      while (true) {
        if (queue.length === 0) {
          if (failure != null) {
            throw failure
          }

          await this.waitForFrame(() => queue.length > 0 || failure != null, (fn) => { wake = fn }, options)
          continue
        }

        const frame = queue.shift() as ResponseFrame
        options.onBytes?.(frame.bytes.byteLength)
        let res: Response

        try {
          res = Response.decode(frame.bytes)
        } catch (err: any) {
          const error = new ProtocolError(`Peer ${this.peerString} sent a malformed answer: ${err.message}`)
          this.stream?.abort(error)
          throw error
        }

        const done = res.done || res.status !== Response.Status.OK

        if (done) {
          finished = true
        } else {
          consumed += frame.bytes.byteLength

          if (consumed >= window / 2) {
            this.send({ id, type: Request.Type.CREDIT, credit: consumed })
            consumed = 0
          }
        }

        yield res

        if (done) {
          return
        }
      }
    } finally {
      // a stream that failed already gave every place back
      if (this.streamed.delete(id) && this.stream === stream) {
        this.release(body.byteLength)
      }

      if (!finished && this.closedWith == null && this.stream === stream) {
        this.send({ id, type: Request.Type.CANCEL })
      }
    }
  }

  /** Fire-and-forget control message (CREDIT, CANCEL, TABLE) */
  send (req: Partial<Request>): void {
    if (this.writer == null) {
      return
    }

    try {
      this.writer.write(this.encode(req))
    } catch (err: any) {
      this.log.error('could not send %s - %e', req.type, err)
    }
  }

  close (err: Error): void {
    this.closedWith = err
    this.closing.abort(err)
    this.fail(err)
    this.stream?.abort(err)
    this.stream = undefined
    this.writer = undefined
    this.wakeWaiters()
  }

  /**
   * Write a request once the stream is open and the owner has room for it:
   * as many requests and bytes in flight as it accepts per stream. Requests
   * are written in the order they were made, whatever each waits for (a
   * dial, room, nothing), so one caller's writes reach the owner in the
   * order it issued them. A request alone on the stream always has room.
   *
   * Waiting for room has no deadline of its own: every request in flight is
   * answered or times out within `requestTimeout` of being sent, so room
   * comes back unless streamed answers are being read slowly, which the
   * caller controls (and may abort). A dial that fails fails the waiters.
   */
  private submit (bytes: number, options: CallOptions, send: (writer: FrameWriter) => void, fail: (err: Error) => void): void {
    if (this.closedWith != null) {
      fail(this.closedWith)
      return
    }

    if (this.waiters.length === 0 && this.writer != null && this.hasRoom(bytes)) {
      this.outstanding++
      this.outstandingBytes += bytes
      send(this.writer)
      return
    }

    const signal = options.signal
    const cleanup = (): void => {
      signal?.removeEventListener('abort', onAbort)
      const index = this.waiters.indexOf(waiter)

      if (index !== -1) {
        this.waiters.splice(index, 1)
      }
    }
    const waiter: Waiter = {
      bytes,
      go: () => {
        cleanup()
        send(this.writer as FrameWriter)
      },
      fail: (err) => {
        cleanup()
        fail(err)
      }
    }
    const onAbort = (): void => {
      waiter.fail(signal?.reason)
      this.wakeWaiters()
    }
    signal?.addEventListener('abort', onAbort, { once: true })
    this.waiters.push(waiter)

    if (this.writer == null) {
      this.open(options.slot)
    }
  }

  private hasRoom (bytes: number): boolean {
    const { maxInFlightPerStream, maxInFlightBytes } = this.init.limits
    return this.closedWith != null || this.outstanding === 0 ||
      (this.outstanding < maxInFlightPerStream && this.outstandingBytes + bytes <= maxInFlightBytes)
  }

  /** A request is answered (or its stream is gone): let the next waiting ones go */
  private release (bytes: number): void {
    this.outstanding = Math.max(0, this.outstanding - 1)
    this.outstandingBytes = Math.max(0, this.outstandingBytes - bytes)
    this.wakeWaiters()
  }

  private wakeWaiters (): void {
    while (this.waiters.length > 0 && this.writer != null && this.hasRoom(this.waiters[0].bytes)) {
      const waiter = this.waiters[0]
      this.outstanding++
      this.outstandingBytes += waiter.bytes
      waiter.go()
    }

    if (this.waiters.length > 0 && this.writer == null && this.closedWith == null) {
      // the stream closed under them: their requests were never sent, so they go on a new one
      this.open()
    }
  }

  /** Fail every request that was not written yet */
  private failWaiters (err: Error): void {
    for (const waiter of [...this.waiters]) {
      waiter.fail(err)
    }
  }

  private async waitForFrame (ready: () => boolean, setWake: (fn: (() => void) | undefined) => void, options: CallOptions): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      const signal = options.signal
      const cleanup = (): void => {
        clearTimeout(timer)
        setWake(undefined)
        signal?.removeEventListener('abort', onAbort)
      }
      const onAbort = (): void => {
        cleanup()
        reject(signal?.reason)
      }
      const timer = setTimeout(() => {
        cleanup()
        reject(new UnavailableError(`Peer ${this.peerString} sent nothing for ${this.init.limits.requestTimeout} ms during a streamed answer${options.slot != null ? ` for slot ${options.slot}` : ''}`, { peer: this.peerString, slot: options.slot }))
      }, this.init.limits.requestTimeout)

      signal?.addEventListener('abort', onAbort, { once: true })
      setWake(() => {
        if (ready()) {
          cleanup()
          resolve()
        }
      })
    })
  }

  private unavailable (why: string, slot?: number): UnavailableError {
    return new UnavailableError(`Peer ${this.peerString}${slot != null ? ` (owner of slot ${slot})` : ''}: ${why}`, { peer: this.peerString, slot })
  }

  /**
   * Encoded with a placeholder id of the widest size, so the id given once
   * there is room can be written in place (see `setId`)
   */
  private encode (req: Partial<Request>): Uint8Array {
    const body = encodeRequest(req)

    if (body.byteLength > this.init.limits.maxMessageSize) {
      throw new TooLargeError(`A ${req.type} request of ${body.byteLength} bytes exceeds the maximum message size of ${this.init.limits.maxMessageSize} bytes; nothing was sent`)
    }

    return body
  }

  /**
   * uint32 on the wire, never 0 (a zero id is not encoded, and answers are
   * matched by their id), and never one still in use on this stream: after a
   * wrap a long-running answer may still hold an old id
   */
  private allocateId (): number {
    do {
      this.nextId = ((this.nextId + 1) >>> 0) || 1
    } while (this.calls.has(this.nextId) || this.streamed.has(this.nextId))

    return this.nextId
  }

  /**
   * Open the stream to the peer, once, shared by every caller. The dial is
   * bounded by `requestTimeout` and by this channel's life, never by one
   * caller's signal: a caller that aborts stops waiting for it, and the
   * others still get the stream. The waiting requests are written when it
   * opens, or fail with the reason it could not.
   */
  private open (slot?: number): void {
    if (this.opening != null || this.stream != null || this.closedWith != null) {
      return
    }

    // cleared before the waiters are woken: a stream that closed while the
    // dial was finishing must be able to start the next dial from there, or
    // the requests waiting for it would wait forever
    const opening = this.dial(slot)
    this.opening = opening
    opening.then(() => {
      if (this.opening === opening) {
        this.opening = undefined
      }

      this.wakeWaiters()
    }, (err: Error) => {
      if (this.opening === opening) {
        this.opening = undefined
      }

      this.failWaiters(err)
    })
  }

  private async dial (slot?: number): Promise<void> {
    const timeout = AbortSignal.timeout(this.init.limits.requestTimeout)
    const signal = AbortSignal.any([this.closing.signal, timeout])
    let stream: Stream

    try {
      stream = await this.init.libp2p.dialProtocol(this.peer, PROTOCOL, {
        signal,
        maxOutboundStreams: this.init.maxOutboundStreams
      })
    } catch (err: any) {
      if (this.closedWith != null) {
        throw this.closedWith
      }

      const why = timeout.aborted ? `no stream within ${this.init.limits.requestTimeout} ms` : err.message
      throw new UnavailableError(`Could not reach peer ${this.peerString}${slot != null ? ` (owner of slot ${slot})` : ''}: ${why}`, { peer: this.peerString, slot, cause: err })
    }

    if (this.closedWith != null) {
      stream.abort(this.closedWith)
      throw this.closedWith
    }

    if (stream.status !== 'open') {
      // reset by the owner before we could listen: no close event will come
      throw new UnavailableError(`Could not reach peer ${this.peerString}${slot != null ? ` (owner of slot ${slot})` : ''}: the stream was ${stream.status} as it opened`, { peer: this.peerString, slot })
    }

    const onError = (err: Error): void => {
      this.log.error('stream failed - %e', err)
      // a stream that is already gone sends no close event: end it here
      this.onStreamEnd(stream, err)
      stream.abort(err)
    }

    readFrames(stream, this.init.limits.maxMessageSize, (frame) => {
      this.onFrame(frame, stream)
      return true
    }, (err) => {
      onError(new ProtocolError(`Peer ${this.peerString} sent an invalid frame: ${err.message}`))
    })

    stream.addEventListener('close', (evt) => {
      this.onStreamEnd(stream, evt.error)
    })
    // the owner will send no more answers on this stream, but the last ones
    // may still wait to be dispatched (yamux reports the close first)
    const ended = (): void => {
      if (stream.readBufferLength > 0 && stream.status === 'open') {
        setTimeout(ended, 0)
        return
      }

      this.onStreamEnd(stream, new Error('the remote closed its end'))
      stream.abort(new Error('the remote closed its end'))
    }
    stream.addEventListener('remoteCloseWrite', () => {
      setTimeout(ended, 0)
    })

    this.stream = stream
    this.writer = new FrameWriter(stream, onError)
    this.log('opened stream %s', stream.id)
  }

  private onFrame (frame: Uint8ArrayList, stream: Stream): void {
    if (this.stream !== stream) {
      return
    }

    // decoded from a plain Uint8Array, every bytes field is a plain view too
    const bytes = plain(frame.subarray())
    let id: number | undefined
    let res: Response | undefined

    try {
      if (this.streamed.size === 0) {
        // no streamed answer in progress: this can only be a single answer
        res = Response.decode(bytes)
        id = res.id === 0 ? undefined : res.id
      } else {
        id = answerId(bytes)
      }

      if (id == null) {
        // an answer for the whole stream (the owner refuses this node): every request gets it
        res ??= Response.decode(bytes)
        this.onStreamError(res, stream)
        return
      }
    } catch (err: any) {
      stream.abort(new ProtocolError(`Peer ${this.peerString} sent a malformed answer: ${err.message}`))
      return
    }

    const call = this.calls.get(id)

    if (call != null) {
      try {
        res ??= Response.decode(bytes)
      } catch (err: any) {
        stream.abort(new ProtocolError(`Peer ${this.peerString} sent a malformed answer: ${err.message}`))
        return
      }

      this.calls.delete(id)
      this.release(call.bytes)
      call.onBytes?.(bytes.byteLength)
      this.init.observeEpoch?.(this.peer, res.epoch)

      if (!call.abandoned) {
        call.resolve(res)
      }

      return
    }

    this.streamed.get(id)?.push({ bytes })
    // else: the request timed out, drop the late answer
  }

  private onStreamError (res: Response, stream: Stream): void {
    const err = res.status === Response.Status.OK
      ? new ProtocolError(`Peer ${this.peerString} sent an answer without a request id`)
      : errorFromResponse(res, this.peerString)
    this.stream = undefined
    this.writer = undefined
    this.fail(err)
    this.failWaiters(err)
    stream.abort(err)
  }

  private onStreamEnd (stream: Stream, cause?: Error): void {
    if (this.stream !== stream) {
      return
    }

    this.stream = undefined
    this.writer = undefined
    this.fail(new UnavailableError(`The stream to peer ${this.peerString} closed while requests were in flight${cause != null ? `: ${cause.message}` : ''}`, { peer: this.peerString, cause }))
  }

  private fail (err: Error): void {
    const calls = [...this.calls.values()]
    this.calls.clear()
    const streamed = [...this.streamed.values()]
    this.streamed.clear()
    this.outstanding = 0
    this.outstandingBytes = 0

    for (const call of calls) {
      if (call.abandoned) {
        continue
      }

      call.reject(err instanceof UnavailableError && call.slot != null
        ? new UnavailableError(`${err.message} (request for slot ${call.slot})`, { peer: err.peer, slot: call.slot, cause: err.cause })
        : err)
    }

    for (const s of streamed) {
      s.fail(err)
    }

    this.stopSweep()
    this.wakeWaiters()
  }

  /**
   * One timer per channel instead of one per request: calls share one
   * timeout, so they expire in the order they were sent and the sweep stops
   * at the first that has not.
   */
  private startSweep (): void {
    if (this.sweepTimer != null) {
      return
    }

    const interval = Math.max(10, Math.min(1000, Math.floor(this.init.limits.requestTimeout / 10)))
    this.sweepTimer = setInterval(() => {
      const now = Date.now()

      for (const [id, call] of this.calls) {
        if (call.deadline > now) {
          break
        }

        // an owner that does not answer in time gets no more credit for it
        this.calls.delete(id)
        this.release(call.bytes)

        if (!call.abandoned) {
          call.reject(new UnavailableError(`Peer ${this.peerString} did not answer within ${this.init.limits.requestTimeout} ms${call.slot != null ? ` (request for slot ${call.slot})` : ''}`, { peer: this.peerString, slot: call.slot }))
        }
      }

      if (this.calls.size === 0) {
        this.stopSweep()
      }
    }, interval)
    this.sweepTimer.unref?.()
  }

  private stopSweep (): void {
    if (this.sweepTimer != null) {
      clearInterval(this.sweepTimer)
      this.sweepTimer = undefined
    }
  }
}

/** An id of five varint bytes, the most a uint32 takes: any real id is written over it */
const ID_PLACEHOLDER = 0xFFFFFFFF

/**
 * A request encoded with a placeholder id of the widest size, so the id
 * given once there is room can be written in place (see `setId`). No copy of
 * the request is made: a request object is the caller's to reuse, and an id
 * already set stays.
 */
export function encodeRequest (req: Partial<Request>): Uint8Array {
  req.id ??= ID_PLACEHOLDER
  return Request.encode(req)
}

/**
 * Write `id` over the placeholder of an encoded request: protons writes
 * fields in order, so the id (field 1, tag 0x08) and its five bytes come
 * first. Smaller ids are written as non-minimal varints of the same length,
 * which every protobuf decoder accepts.
 */
function setId (body: Uint8Array, id: number): void {
  if (body[0] !== 0x08) {
    throw new ProtocolError('the request has no id field to set')
  }

  for (let i = 0; i < 5; i++) {
    const last = i === 4
    body[1 + i] = ((id >>> (7 * i)) & 0x7f) | (last ? 0 : 0x80)
  }
}



/**
 * The id of an answer, read without decoding the rest: protons writes fields
 * in order, so the id (field 1, never 0) comes first
 */
function answerId (bytes: Uint8Array): number | undefined {
  for (const event of Response.stream(bytes)) {
    // typed '$.id'; protons 9 names it '..id' at run time
    return event.field.endsWith('.id') && typeof event.value === 'number' ? event.value : undefined
  }
}
