/**
 * The raw libp2p baselines the cluster is measured against.
 *
 * - The echo: varint length-prefixed messages on one reused stream, written
 *   and read with the data protocol's own FrameWriter and readFrames, so it
 *   has exactly the protocol's framing and write coalescing and nothing else
 *   (no protobuf, no routing, no datastore). The ratio to it is the cost of
 *   the cluster's own code, and a change to the framing moves both.
 * - The joined echo: the same, written by an independent writer that sends
 *   each flush as ONE buffer. It shows what the transport can do (see
 *   CoalescingWriter for why it differs so much).
 * - The bulk transfer: plain bytes on one stream, acknowledged at the end.
 */

import * as varint from 'uint8-varint'
import { Uint8ArrayList } from 'uint8arraylist'
import { FrameWriter, readFrames } from '../../src/rpc/framing.js'
import type { Libp2p, PeerId, Stream } from '@libp2p/interface'

export const ECHO_PROTOCOL = '/datastore-cluster-bench/echo/1.0.0'
/** The echo with each flush joined into one buffer: what the transport can do */
export const ECHO_JOINED_PROTOCOL = '/datastore-cluster-bench/echo-joined/1.0.0'
export const BULK_PROTOCOL = '/datastore-cluster-bench/bulk/1.0.0'

const MAX_FRAME = 8 * 1024 * 1024

/** What both echo writers offer */
interface Writer {
  write(body: Uint8Array): void
}

/**
 * Frames written in one tick go out in one `send`, as one joined buffer.
 *
 * Joining matters: @libp2p/noise encrypts a list of 1200 bytes or more
 * buffer by buffer (node:crypto `update` per buffer) and @libp2p/tcp writes
 * each resulting buffer with its own `socket.write`, so a list of 64
 * prefixes and bodies costs 128+ system calls; one buffer costs a handful.
 */
class JoiningWriter implements Writer {
  private pending = new Uint8ArrayList()
  private scheduled = false
  private draining = false

  constructor (private readonly stream: Stream) {}

  write (body: Uint8Array): void {
    this.pending.append(varint.encode(body.byteLength))
    this.pending.append(body)

    if (!this.scheduled && !this.draining) {
      this.scheduled = true
      queueMicrotask(this.flush)
    }
  }

  private readonly flush = (): void => {
    this.scheduled = false

    if (this.draining || this.pending.byteLength === 0 || this.stream.writeStatus !== 'writable') {
      return
    }

    const out = this.pending.subarray()
    this.pending = new Uint8ArrayList()

    if (!this.stream.send(out)) {
      this.draining = true
      this.stream.onDrain().then(() => {
        this.draining = false
        this.flush()
      }, (err: Error) => {
        this.stream.abort(err)
      })
    }
  }
}

/** Register the echo and bulk handlers on a node */
export async function handleRawProtocols (libp2p: Libp2p): Promise<void> {
  for (const [protocol, join] of [[ECHO_PROTOCOL, false], [ECHO_JOINED_PROTOCOL, true]] as const) {
    await libp2p.handle(protocol, (stream) => {
      const writer = makeWriter(stream, join)
      readFrames(stream, MAX_FRAME, (frame) => { writer.write(frame.subarray()) }, (err) => { stream.abort(err) })
      stream.addEventListener('remoteCloseWrite', () => {
        stream.close().catch(err => { stream.abort(err) })
      })
    }, { maxInboundStreams: 64 })
  }

  await libp2p.handle(BULK_PROTOCOL, (stream) => {
    let received = 0

    stream.addEventListener('message', (evt) => {
      received += evt.data.byteLength
    })
    stream.addEventListener('remoteCloseWrite', () => {
      const ack = new Uint8Array(8)
      new DataView(ack.buffer).setBigUint64(0, BigInt(received))
      stream.send(ack)
      stream.close().catch(err => { stream.abort(err) })
    })
  }, { maxInboundStreams: 64 })
}

function makeWriter (stream: Stream, join: boolean): Writer {
  return join ? new JoiningWriter(stream) : new FrameWriter(stream, (err) => { stream.abort(err) })
}

/**
 * The caller's end of an echo stream. Answers come back in order on one
 * stream, so a FIFO of waiters matches them (cheaper than ids: the bar is the
 * transport, not another protocol).
 */
export class EchoClient {
  private readonly waiters: Array<(frame: Uint8ArrayList) => void> = []
  private readonly writer: Writer

  private constructor (readonly stream: Stream, join: boolean) {
    this.writer = makeWriter(stream, join)
    readFrames(stream, MAX_FRAME, (frame) => { this.waiters.shift()?.(frame) }, (err) => { stream.abort(err) })
  }

  /** `joined`: both ends send each flush as one buffer (see JoiningWriter) */
  static async open (libp2p: Libp2p, peer: PeerId, joined = false): Promise<EchoClient> {
    return new EchoClient(await libp2p.dialProtocol(peer, joined ? ECHO_JOINED_PROTOCOL : ECHO_PROTOCOL), joined)
  }

  async call (payload: Uint8Array): Promise<Uint8ArrayList> {
    return new Promise(resolve => {
      this.waiters.push(resolve)
      this.writer.write(payload)
    })
  }

  async close (): Promise<void> {
    await this.stream.close()
  }
}

/**
 * Send `data` on a new bulk stream in `chunkSize` pieces, honouring
 * backpressure, and resolve when the receiver has acknowledged every byte.
 */
export async function bulkSend (libp2p: Libp2p, peer: PeerId, data: Uint8Array, chunkSize = 256 * 1024): Promise<void> {
  const stream = await libp2p.dialProtocol(peer, BULK_PROTOCOL)
  const acked = new Promise<number>((resolve, reject) => {
    const buf = new Uint8ArrayList()
    stream.addEventListener('message', (evt) => {
      buf.append(evt.data)

      if (buf.byteLength >= 8) {
        resolve(Number(new DataView(buf.subarray(0, 8).buffer, buf.subarray(0, 8).byteOffset).getBigUint64(0)))
      }
    })
    stream.addEventListener('close', (evt) => {
      if (evt.error != null) {
        reject(evt.error)
      }
    })
  })

  for (let offset = 0; offset < data.byteLength; offset += chunkSize) {
    if (!stream.send(data.subarray(offset, offset + chunkSize))) {
      await stream.onDrain()
    }
  }

  await stream.close()
  const received = await acked

  if (received !== data.byteLength) {
    throw new Error(`bulk receiver acknowledged ${received} of ${data.byteLength} bytes`)
  }
}
