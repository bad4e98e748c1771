/**
 * An attacker's end of a data-protocol stream: bytes go out exactly as given
 * (no framing, no limits of ours), answers are parsed as they come, and the
 * stream can be left unread.
 */

import { LengthPrefixedDecoder } from '@libp2p/utils'
import * as varint from 'uint8-varint'
import { PROTOCOL } from '../../../src/index.js'
import { Request, Response } from '../../../src/pb/message.js'
import type { Libp2p, PeerId, Stream } from '@libp2p/interface'

export interface RawStreamOptions {
  /** Largest answer frame we accept (default 64 MiB: we want to see what comes) */
  maxFrame?: number
  /** Pause reading at once: the remote's answers are never consumed */
  neverRead?: boolean
}

export class RawStream {
  readonly stream: Stream
  /** Decoded answers */
  readonly answers: Response[] = []
  /** Answer frames that did not decode as a Response, with the error */
  readonly undecodable: string[] = []
  /** Set when the incoming bytes could not be split into frames */
  framingError?: string
  /** Resolves when the stream is closed (both ways) or reset; `error` set on a reset */
  readonly closed: Promise<{ error?: Error }>
  private closedNow = false
  /** Why the stream closed, when it was reset */
  closeError?: Error
  private readonly listeners: Array<(res: Response) => void> = []

  private constructor (stream: Stream, options: RawStreamOptions) {
    this.stream = stream
    this.closed = new Promise(resolve => {
      stream.addEventListener('close', (evt) => {
        this.closedNow = true
        this.closeError = evt.error
        resolve({ error: evt.error })
      })
    })

    if (options.neverRead === true) {
      // yamux stops granting window: the owner's sends back up into its own buffers
      stream.maxReadBufferLength = 1024 * 1024 * 1024
      stream.pause()
      return
    }

    // no limit on one chunk: a burst of answers may arrive at once
    const decoder = new LengthPrefixedDecoder({ maxDataLength: options.maxFrame ?? 64 * 1024 * 1024, maxBufferSize: Number.MAX_SAFE_INTEGER })
    stream.addEventListener('message', (evt) => {
      if (this.framingError != null) return

      try {
        for (const frame of decoder.decode(evt.data)) {
          try {
            const res = Response.decode(frame)
            this.answers.push(res)
            for (const l of this.listeners) l(res)
          } catch (err: any) {
            this.undecodable.push(err.message)
          }
        }
      } catch (err: any) {
        this.framingError = err.message
      }
    })
  }

  static async open (from: Libp2p, to: PeerId, options: RawStreamOptions = {}): Promise<RawStream> {
    const stream = await from.dialProtocol(to, PROTOCOL, { runOnLimitedConnection: false })
    return new RawStream(stream, options)
  }

  get isClosed (): boolean {
    return this.closedNow
  }

  /** The stream's state in a few words, for the test output */
  describe (): string {
    return this.closedNow ? `closed${this.closeError != null ? ` (${this.closeError.name}: ${this.closeError.message})` : ''}` : `open, ${this.stream.readBufferLength} B unread`
  }

  /**
   * Write bytes, waiting for the transport to drain between chunks. Returns
   * false when the stream closed under us (the owner hung up: often the
   * right answer to what we sent).
   */
  async send (bytes: Uint8Array, chunkSize = 256 * 1024, signal?: AbortSignal): Promise<boolean> {
    for (let offset = 0; offset < bytes.byteLength; offset += chunkSize) {
      if (this.closedNow || this.stream.writeStatus !== 'writable') {
        return false
      }

      try {
        if (!this.stream.send(bytes.subarray(offset, offset + chunkSize))) {
          await Promise.race([this.stream.onDrain({ signal }), this.closed])
        }
      } catch {
        return false
      }
    }

    return !this.closedNow
  }

  /** Half-close: we send nothing more */
  async closeWrite (): Promise<void> {
    try {
      await this.stream.close({ signal: AbortSignal.timeout(5_000) })
    } catch {
      // closed or reset under us
    }
  }

  abort (): void {
    this.stream.abort(new Error('attacker done'))
  }

  /** Wait until the stream is closed, or `ms` pass; true when it closed */
  async waitClosed (ms: number): Promise<boolean> {
    let timer: ReturnType<typeof setTimeout> | undefined
    const timeout = new Promise<false>(resolve => { timer = setTimeout(() => { resolve(false) }, ms) })
    const closed = await Promise.race([this.closed.then(() => true), timeout])
    clearTimeout(timer)
    return closed
  }

  /** Wait for an answer matching `test`, or `ms`; undefined when none came */
  async waitAnswer (test: (res: Response) => boolean, ms: number): Promise<Response | undefined> {
    const found = this.answers.find(test)

    if (found != null) {
      return found
    }

    return new Promise(resolve => {
      let finished = false
      const listener = (res: Response): void => {
        if (test(res)) {
          done(res)
        }
      }
      const done = (res: Response | undefined): void => {
        if (finished) return
        finished = true
        clearTimeout(timer)
        this.listeners.splice(this.listeners.indexOf(listener), 1)
        resolve(res)
      }
      const timer = setTimeout(() => { done(undefined) }, ms)
      this.listeners.push(listener)
      void this.closed.then(() => { setTimeout(() => { done(this.answers.find(test)) }, 50) })
    })
  }
}

/** One request as a length-prefixed frame */
export function requestFrame (req: Partial<Request>): Uint8Array {
  const body = Request.encode(req)
  const prefix = varint.encode(body.byteLength)
  const out = new Uint8Array(prefix.byteLength + body.byteLength)
  out.set(prefix, 0)
  out.set(body, prefix.byteLength)
  return out
}

/** Several requests as one buffer of frames (pipelined) */
export function requestFrames (reqs: Array<Partial<Request>>): Uint8Array {
  const frames = reqs.map(requestFrame)
  const out = new Uint8Array(frames.reduce((n, f) => n + f.byteLength, 0))
  let offset = 0

  for (const f of frames) {
    out.set(f, offset)
    offset += f.byteLength
  }

  return out
}
