import { LengthPrefixedDecoder } from '@libp2p/utils'
import * as varint from 'uint8-varint'
import { Uint8ArrayList } from 'uint8arraylist'
import type { Stream } from '@libp2p/interface'

/** Buffers smaller than this on average are joined before sending */
const JOIN_BELOW = 16 * 1024

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

  constructor (stream: Stream, onError: (err: Error) => void) {
    this.stream = stream
    this.onError = onError
    this.pending = new Uint8ArrayList()
    this.frames = 0
    this.scheduled = false
    this.draining = false
  }

  /** Bytes accepted but not yet handed to the stream */
  get bufferedBytes (): number {
    return this.pending.byteLength
  }

  write (body: Uint8Array): void {
    this.pending.append(varint.encode(body.byteLength))
    this.pending.append(body)
    this.frames++

    if (!this.scheduled && !this.draining) {
      this.scheduled = true
      queueMicrotask(this.flush)
    }
  }

  private readonly flush = (): void => {
    this.scheduled = false

    if (this.draining || this.pending.byteLength === 0) {
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
        }, (err: Error) => {
          this.onError(err)
        })
      }
    } catch (err: any) {
      this.onError(err)
    }
  }
}

/**
 * Feeds the stream's `message` events through a length-prefixed decoder and
 * hands each complete frame to `onFrame`. A frame over `maxFrameSize` or a
 * buffer that cannot be parsed is reported to `onError`.
 */
export function readFrames (stream: Stream, maxFrameSize: number, onFrame: (frame: Uint8ArrayList) => void, onError: (err: Error) => void): void {
  const decoder = new LengthPrefixedDecoder({
    maxDataLength: maxFrameSize,
    // room for one whole frame plus the start of the next
    maxBufferSize: maxFrameSize * 2 + 16
  })

  stream.addEventListener('message', (evt) => {
    try {
      for (const frame of decoder.decode(evt.data)) {
        onFrame(frame)
      }
    } catch (err: any) {
      onError(err)
    }
  })
}
