import * as varint from 'uint8-varint'
import { Uint8ArrayList } from 'uint8arraylist'
import type { Stream } from '@libp2p/interface'

/** Buffers smaller than this on average are joined before sending */
const JOIN_BELOW = 16 * 1024
/** A uint32 length needs at most five varint bytes; more is not a length we accept */
const MAX_PREFIX_BYTES = 5

/**
 * Writes varint length-prefixed frames to a stream. Frames written in the same
 * tick are coalesced into one `send` (one noise/yamux frame instead of many),
 * and while the transport asks us to wait for `drain` frames accumulate here
 * instead of in the stream's own buffer.
 */
export class FrameWriter {
  private readonly stream: Stream
  private readonly onError: (err: Error) => void
  private pending: Uint8ArrayList
  /** Frames in `pending` (each is a length prefix and a body) */
  private frames: number
  private scheduled: boolean
  private draining: boolean
  /** Failed or closed: nothing more is written */
  private closed: boolean
  private ending: boolean
  private readonly progress: Set<() => void>

  constructor (stream: Stream, onError: (err: Error) => void) {
    this.stream = stream
    this.onError = onError
    this.pending = new Uint8ArrayList()
    this.frames = 0
    this.scheduled = false
    this.draining = false
    this.closed = false
    this.ending = false
    this.progress = new Set()

    // bytes leave the stream's own buffer on drain, and it reports idle when empty
    const notify = (): void => { this.notify() }
    stream.addEventListener('drain', notify)
    stream.addEventListener('idle', notify)
    stream.addEventListener('close', notify)
  }

  /**
   * Bytes written here and not yet handed to the network: what a peer that
   * does not read makes this node hold
   */
  get queuedBytes (): number {
    return this.pending.byteLength + (this.stream.writeBufferLength ?? 0)
  }

  /** Called whenever queued bytes may have gone down (and when the stream closes) */
  onProgress (fn: () => void): () => void {
    this.progress.add(fn)
    return () => { this.progress.delete(fn) }
  }

  /**
   * Close the write side once everything written so far is handed to the
   * stream: answers queued just before are not lost to the close
   */
  end (): void {
    if (this.ending || this.closed) {
      return
    }

    this.ending = true
    this.closeIfFlushed()
  }

  write (body: Uint8Array): void {
    if (this.closed || this.ending) {
      return
    }

    this.pending.append(varint.encode(body.byteLength))
    this.pending.append(body)
    this.frames++

    if (!this.scheduled && !this.draining) {
      this.scheduled = true
      queueMicrotask(this.flush)
    }
  }

  private notify (): void {
    for (const fn of [...this.progress]) {
      fn()
    }
  }

  private closeIfFlushed (): void {
    if (!this.ending || this.closed || this.scheduled || this.draining || this.pending.byteLength > 0) {
      return
    }

    this.closed = true
    this.stream.close().catch((err: Error) => {
      this.stream.abort(err)
    })
  }

  private readonly flush = (): void => {
    this.scheduled = false

    if (this.draining || this.closed || this.pending.byteLength === 0) {
      this.closeIfFlushed()
      return
    }

    const out = this.pending
    this.pending = new Uint8ArrayList()
    const frames = this.frames
    this.frames = 0

    try {
      if (this.stream.writeStatus !== 'writable') {
        throw new Error(`stream is ${this.stream.writeStatus}`)
      }

      // small frames go as one joined buffer: @libp2p/noise encrypts a list of
      // 1200+ bytes buffer by buffer and @libp2p/tcp writes each result with its
      // own socket.write, two system calls per frame. Large frames go as they
      // are: joining would copy every byte once more for one saved write.
      const joined = out.byteLength < JOIN_BELOW * frames * 2 ? out.subarray() : out

      if (!this.stream.send(joined)) {
        this.draining = true
        this.stream.onDrain().then(() => {
          this.draining = false
          this.flush()
          this.notify()
          this.closeIfFlushed()
        }, (err: Error) => {
          this.fail(err)
        })
      } else {
        this.closeIfFlushed()
      }
    } catch (err: any) {
      this.fail(err)
    }
  }

  private fail (err: Error): void {
    if (this.closed) {
      return
    }

    this.closed = true
    this.pending = new Uint8ArrayList()
    this.frames = 0
    this.onError(err)
    this.notify()
  }
}

/**
 * Splits a byte stream into varint length-prefixed frames.
 *
 * Any number of complete frames may arrive in one chunk (yamux hands over as
 * much as its window, up to 16 MiB): they are all accepted. What is bounded is
 * the incomplete frame kept between chunks, which is never more than one frame
 * of at most `maxFrameSize` bytes plus its prefix.
 *
 * Decoding can be paused between frames (`onFrame` returns false): the rest
 * of the chunk stays here until `resume()`, so a consumer that wants no more
 * requests gets none, whatever arrived together.
 */
export class FrameReader {
  private readonly maxFrameSize: number
  private readonly onFrame: (frame: Uint8ArrayList) => boolean | undefined
  private buffer: Uint8ArrayList
  private paused: boolean

  constructor (maxFrameSize: number, onFrame: (frame: Uint8ArrayList) => boolean | undefined) {
    this.maxFrameSize = maxFrameSize
    this.onFrame = onFrame
    this.buffer = new Uint8ArrayList()
    this.paused = false
  }

  /** Bytes received and not yet handed on */
  get bufferedBytes (): number {
    return this.buffer.byteLength
  }

  /** Throws on a length over the maximum or a prefix that is not a varint */
  push (chunk: Uint8Array | Uint8ArrayList): void {
    this.buffer.append(chunk)

    if (!this.paused) {
      this.drain()
    }
  }

  pause (): void {
    this.paused = true
  }

  /** Continue with what was held back; throws like `push` */
  resume (): void {
    if (!this.paused) {
      return
    }

    this.paused = false
    this.drain()
  }

  private drain (): void {
    while (!this.paused && this.buffer.byteLength > 0) {
      let length: number

      try {
        length = varint.decode(this.buffer)
      } catch (err) {
        if (err instanceof RangeError && this.buffer.byteLength < MAX_PREFIX_BYTES) {
          // the prefix itself is split between chunks
          return
        }

        throw new Error('invalid frame length prefix', { cause: err })
      }

      if (length > this.maxFrameSize) {
        throw new Error(`a frame of ${length} bytes exceeds the maximum of ${this.maxFrameSize} bytes`)
      }

      const prefix = varint.encodingLength(length)

      if (this.buffer.byteLength < prefix + length) {
        return
      }

      const frame = this.buffer.sublist(prefix, prefix + length)
      this.buffer.consume(prefix + length)

      if (this.onFrame(frame) === false) {
        this.paused = true
      }
    }
  }
}

/**
 * Feeds the stream's `message` events through a frame reader and hands each
 * complete frame to `onFrame`. A frame over `maxFrameSize` or a buffer that
 * cannot be parsed is reported to `onError`, once.
 */
export function readFrames (stream: Stream, maxFrameSize: number, onFrame: (frame: Uint8ArrayList) => boolean | undefined, onError: (err: Error) => void): FrameReader {
  const reader = new FrameReader(maxFrameSize, onFrame)
  let failed = false

  stream.addEventListener('message', (evt) => {
    if (failed) {
      return
    }

    try {
      reader.push(evt.data)
    } catch (err: any) {
      failed = true
      onError(err)
    }
  })

  return reader
}
