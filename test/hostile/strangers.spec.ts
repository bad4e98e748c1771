/**
 * Strangers — peers that are neither in the slot table nor allowed clients —
 * opening every data-protocol stream they may, on several connections, and
 * sending the start of frames as large as the limit allows, never the rest.
 * Access is known when a stream opens, so nothing a stranger sends needs to
 * be kept: the target answers UNAUTHORIZED once and closes the stream, and
 * its memory does not grow with what strangers send.
 */

import * as varint from 'uint8-varint'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Response } from '../../src/pb/message.js'
import { createHostileCluster, expectSurvived, underAttack } from '../utils/hostile/harness.js'
import { RawStream } from '../utils/hostile/raw.js'
import type { HostileCluster } from '../utils/hostile/harness.js'

const MAX_MESSAGE_SIZE = 4 * 1024 * 1024
const STRANGERS = 6
/** The target's default inbound stream limit is 32 per connection; try a few more */
const STREAMS_PER_STRANGER = 36

describe('strangers opening every stream they may (target in a child process)', () => {
  let cluster: HostileCluster

  beforeAll(async () => {
    cluster = await createHostileCluster({ strangers: STRANGERS, options: { maxMessageSize: MAX_MESSAGE_SIZE, requestTimeout: 2_000 } })
  }, 60_000)

  afterAll(async () => {
    await cluster?.stop()
  })

  it('a stranger\'s stream is refused when it opens: one UNAUTHORIZED frame, then closed', async () => {
    const raw = await RawStream.open(cluster.strangers[0], cluster.target.peerId)
    // the stranger sends nothing at all
    const closed = await raw.waitClosed(5_000)
    const answers = raw.answers.map(a => `${a.status}${a.message !== '' ? ` (${a.message})` : ''}`)
    raw.abort()
    console.log(`stranger's idle stream: ${closed ? 'closed' : 'still open after 5 s'}; answers ${JSON.stringify(answers)}`)
    expect.soft(answers).toHaveLength(1)
    expect.soft(raw.answers[0]?.status).toBe(Response.Status.UNAUTHORIZED)
    expect.soft(closed, 'the stream was closed by the target').toBe(true)
  })

  it(`${STRANGERS} strangers × ${STREAMS_PER_STRANGER} streams, each with an unfinished frame of almost ${MAX_MESSAGE_SIZE / 1024 / 1024} MiB`, async () => {
    let opened = 0
    let refused = 0
    let closedEarly = 0
    let bytesSent = 0

    const outcome = await underAttack(cluster, 'stranger streams', async () => {
      const streams = (await Promise.all(cluster.strangers.map(async stranger => Promise.all(Array.from({ length: STREAMS_PER_STRANGER }, async () => {
        try {
          const raw = await RawStream.open(stranger, cluster.target.peerId)
          opened++
          return raw
        } catch (err: any) {
          if (refused++ === 0) console.log(`first refused stream: ${err.name}: ${err.message}`)
          return undefined
        }
      }))))).flat().filter(s => s != null)

      // claim a frame just under the limit and send all of it but the last 64 KiB
      const claimed = MAX_MESSAGE_SIZE - 16
      const body = new Uint8Array(claimed - 64 * 1024).fill(0x2f)
      const prefix = varint.encode(claimed)

      await Promise.all(streams.map(async raw => {
        if (await raw.send(prefix) && await raw.send(body)) {
          bytesSent += prefix.byteLength + body.byteLength
        } else {
          closedEarly++
        }
      }))

      return () => {
        console.log(`stranger streams: ${opened} opened, ${refused} refused, ${closedEarly} closed by the target before the frame was sent, ${(bytesSent / 2 ** 20).toFixed(0)} MiB sent; ${streams.filter(s => !s.isClosed).length} still open at the end`)
        streams.forEach(s => { s.abort() })
      }
    }, 5_000)

    await expectSurvived(expect, cluster, 'stranger streams', outcome)
  })
})
