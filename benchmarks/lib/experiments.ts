/**
 * What-if switches for profiling runs (benchmarks/profile.ts), set through the environment so the
 * node processes get them too. Never on in `npm run bench`.
 *
 * BENCH_EXPERIMENT_CORK=1: every write to a TCP socket is corked until the
 * end of the tick, so the several buffers libp2p writes per frame (noise's
 * length prefix and ciphertext, each a separate `socket.write` in
 * @libp2p/tcp's `sendData`) leave in one `writev` system call. Measures
 * what a fix in the transport would gain.
 *
 * BENCH_EXPERIMENT_FLUSH=immediate: the data protocol's FrameWriter (which
 * the raw echo uses too) flushes in `setImmediate` instead of a microtask,
 * so frames produced by all the socket reads of one event-loop turn leave in
 * one `send`. (Measured: no change; each turn handles one read.)
 *
 * BENCH_EXPERIMENT_CONCAT=1: FrameWriter joins the frames of a flush into
 * one buffer before `send`. Noise encrypts a list of 1200+ bytes buffer by
 * buffer and @libp2p/tcp writes each resulting buffer with its own
 * `socket.write`, so a flush of 64 frames costs 128+ system calls; one
 * buffer costs a handful.
 */

import net from 'node:net'
import * as varint from 'uint8-varint'
import { Uint8ArrayList } from 'uint8arraylist'
import { FrameWriter } from '../../src/rpc/framing.js'

export function applyExperiments (): string[] {
  const on: string[] = []

  if (process.env.BENCH_EXPERIMENT_CORK === '1') {
    const write = net.Socket.prototype.write
    net.Socket.prototype.write = function (this: net.Socket, ...args: any[]) {
      if (this.writableCorked === 0) {
        this.cork()
        process.nextTick(() => { this.uncork() })
      }

      return (write as any).apply(this, args)
    } as any
    on.push('cork')
  }

  if (process.env.BENCH_EXPERIMENT_FLUSH === 'immediate') {
    // same body as FrameWriter.write, with the flush deferred to the check phase
    FrameWriter.prototype.write = function (this: any, body: Uint8Array): void {
      this.pending.append(varint.encode(body.byteLength))
      this.pending.append(body)

      if (this.scheduled === false && this.draining === false) {
        this.scheduled = true
        const flush: () => void = this.flush
        setImmediate(flush)
      }
    }
    on.push('flush=immediate')
  }

  if (process.env.BENCH_EXPERIMENT_CONCAT === '1') {
    FrameWriter.prototype.write = function (this: any, body: Uint8Array): void {
      this.pending.append(varint.encode(body.byteLength))
      this.pending.append(body)

      if (this.scheduled === false && this.draining === false) {
        this.scheduled = true
        queueMicrotask(() => {
          if (this.pending.bufs.length > 1) {
            this.pending = new Uint8ArrayList(this.pending.subarray())
          }

          this.flush()
        })
      }
    }
    on.push('concat')
  }

  return on
}
