import { NotStartedError, ProtocolError, TooLargeError, UnavailableError } from '../errors.js'
import { PROTOCOL } from '../constants.js'
import { Request, Response } from '../pb/message.js'
import { plain } from './bytes.js'
import { FrameWriter, readFrames } from './framing.js'
import type { ClusterLibp2p } from '../index.js'
import type { AbortOptions, Logger, PeerId, Stream } from '@libp2p/interface'
import type { Uint8ArrayList } from 'uint8arraylist'

export interface RpcClientInit {
  libp2p: ClusterLibp2p
  log: Logger
  requestTimeout: number
  maxMessageSize: number
  maxOutboundStreams: number
  streamWindow: number
}

export interface CallOptions extends AbortOptions {
  /** The slot the request is for, named in errors */
  slot?: number
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
  resolve(res: Response): void
  reject(err: Error): void
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

  constructor (peer: PeerId, init: RpcClientInit) {
    this.peer = peer
    this.peerString = peer.toString()
    this.init = init
    this.log = init.log.newScope(this.peerString.slice(-8))
    this.calls = new Map()
    this.streamed = new Map()
    this.nextId = 0
  }

  /**
   * Send a request and wait for its single answer. Non-OK statuses are
   * returned, not thrown: the router decides what they mean.
   */
  async call (req: Partial<Request>, options: CallOptions = {}): Promise<Response> {
    options.signal?.throwIfAborted()
    await this.open(options)

    const id = this.allocateId()
    req.id = id
    const body = this.encode(req)
    const writer = this.writer

    if (writer == null) {
      throw this.unavailable('the stream closed before the request could be sent', options.slot)
    }

    return new Promise<Response>((resolve, reject) => {
      const signal = options.signal
      const deadline = Date.now() + this.init.requestTimeout

      if (signal == null) {
        // the common case allocates no wrapper closures
        this.calls.set(id, { deadline, slot: options.slot, resolve, reject })
      } else {
        const onAbort = (): void => {
          this.calls.delete(id)
          reject(signal.reason)
        }
        signal.addEventListener('abort', onAbort, { once: true })
        this.calls.set(id, {
          deadline,
          slot: options.slot,
          resolve: (res) => {
            signal.removeEventListener('abort', onAbort)
            resolve(res)
          },
          reject: (err) => {
            signal.removeEventListener('abort', onAbort)
            reject(err)
          }
        })
      }

      this.startSweep()
      writer.write(body)
    })
  }

  /**
   * Send a request whose answer comes as several frames (GET_MANY, QUERY) and
   * yield the frames as the caller reads them. The owner sends at most
   * `streamWindow` bytes ahead of the reader: credit is granted back as frames
   * are consumed, so a slow reader holds the owner back instead of filling
   * memory. Ending the iteration early cancels the answer on the owner.
   */
  async * callStreamed (req: Partial<Request>, options: CallOptions = {}): AsyncGenerator<Response> {
    options.signal?.throwIfAborted()
    await this.open(options)

    const id = this.allocateId()
    const window = this.init.streamWindow
    const queue: ResponseFrame[] = []
    let failure: Error | undefined
    let wake: (() => void) | undefined
    let finished = false
    let consumed = 0

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

    req.id = id
    req.credit = window

    try {
      const writer = this.writer

      if (writer == null) {
        throw this.unavailable('the stream closed before the request could be sent', options.slot)
      }

      writer.write(this.encode(req))

      while (true) {
        if (queue.length === 0) {
          if (failure != null) {
            throw failure
          }

          await this.waitForFrame(() => queue.length > 0 || failure != null, (fn) => { wake = fn }, options)
          continue
        }

        const frame = queue.shift() as ResponseFrame
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
      this.streamed.delete(id)

      if (!finished && this.closedWith == null) {
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
    this.fail(err)
    this.stream?.abort(err)
    this.stream = undefined
    this.writer = undefined
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
        reject(new UnavailableError(`Peer ${this.peerString} sent nothing for ${this.init.requestTimeout} ms during a streamed answer${options.slot != null ? ` for slot ${options.slot}` : ''}`, { peer: this.peerString, slot: options.slot }))
      }, this.init.requestTimeout)

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

  private encode (req: Partial<Request>): Uint8Array {
    const body = Request.encode(req)

    if (body.byteLength > this.init.maxMessageSize) {
      throw new TooLargeError(`A ${req.type} request of ${body.byteLength} bytes exceeds the maximum message size of ${this.init.maxMessageSize} bytes; nothing was sent`)
    }

    return body
  }

  private allocateId (): number {
    // uint32 on the wire; ids of finished requests may be reused after a wrap.
    // Never 0: a zero id is not encoded, and answers are matched by their id
    this.nextId = ((this.nextId + 1) >>> 0) || 1
    return this.nextId
  }

  private async open (options: CallOptions): Promise<void> {
    if (this.closedWith != null) {
      throw this.closedWith
    }

    if (this.stream != null) {
      return
    }

    this.opening ??= this.dial(options).finally(() => {
      this.opening = undefined
    })

    await this.opening
  }

  private async dial (options: CallOptions): Promise<void> {
    const timeout = AbortSignal.timeout(this.init.requestTimeout)
    const signal = options.signal == null ? timeout : AbortSignal.any([options.signal, timeout])
    let stream: Stream

    try {
      stream = await this.init.libp2p.dialProtocol(this.peer, PROTOCOL, {
        signal,
        maxOutboundStreams: this.init.maxOutboundStreams
      })
    } catch (err: any) {
      options.signal?.throwIfAborted()
      const why = timeout.aborted ? `no stream within ${this.init.requestTimeout} ms` : err.message
      throw new UnavailableError(`Could not reach peer ${this.peerString}${options.slot != null ? ` (owner of slot ${options.slot})` : ''}: ${why}`, { peer: this.peerString, slot: options.slot, cause: err })
    }

    if (this.closedWith != null) {
      stream.abort(this.closedWith)
      throw this.closedWith
    }

    const onError = (err: Error): void => {
      this.log.error('stream failed - %e', err)
      stream.abort(err)
    }

    readFrames(stream, this.init.maxMessageSize, (frame) => {
      this.onFrame(frame, stream)
    }, (err) => {
      onError(new ProtocolError(`Peer ${this.peerString} sent an invalid frame: ${err.message}`))
    })

    stream.addEventListener('close', (evt) => {
      this.onStreamEnd(stream, evt.error)
    })
    stream.addEventListener('remoteCloseWrite', () => {
      // the owner will send no more answers on this stream
      this.onStreamEnd(stream, new Error('the remote closed its end'))
      stream.abort(new Error('the remote closed its end'))
    })

    this.stream = stream
    this.writer = new FrameWriter(stream, onError)
    this.log('opened stream %s', stream.id)
  }

  private onFrame (frame: Uint8ArrayList, stream: Stream): void {
    // decoded from a plain Uint8Array, every bytes field is a plain view too
    const bytes = plain(frame.subarray())
    let id: number | undefined
    let res: Response | undefined

    try {
      if (this.streamed.size === 0) {
        // no streamed answer in progress: this can only be a single answer
        res = Response.decode(bytes)
        id = res.id
      } else {
        id = answerId(bytes)
      }
    } catch (err: any) {
      stream.abort(new ProtocolError(`Peer ${this.peerString} sent a malformed answer: ${err.message}`))
      return
    }

    const call = id == null ? undefined : this.calls.get(id)

    if (id != null && call != null) {
      try {
        res ??= Response.decode(bytes)
      } catch (err: any) {
        stream.abort(new ProtocolError(`Peer ${this.peerString} sent a malformed answer: ${err.message}`))
        return
      }

      this.calls.delete(id)
      call.resolve(res)
      return
    }

    const streamed = id == null ? undefined : this.streamed.get(id)

    if (streamed != null) {
      streamed.push({ bytes })
    }
    // else: the request timed out or was aborted, drop the late answer
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

    for (const call of calls) {
      call.reject(err instanceof UnavailableError && call.slot != null
        ? new UnavailableError(`${err.message} (request for slot ${call.slot})`, { peer: err.peer, slot: call.slot, cause: err.cause })
        : err)
    }

    for (const s of streamed) {
      s.fail(err)
    }

    this.stopSweep()
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

    const interval = Math.max(10, Math.min(1000, Math.floor(this.init.requestTimeout / 10)))
    this.sweepTimer = setInterval(() => {
      const now = Date.now()

      for (const [id, call] of this.calls) {
        if (call.deadline > now) {
          break
        }

        this.calls.delete(id)
        call.reject(new UnavailableError(`Peer ${this.peerString} did not answer within ${this.init.requestTimeout} ms${call.slot != null ? ` (request for slot ${call.slot})` : ''}`, { peer: this.peerString, slot: call.slot }))
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
