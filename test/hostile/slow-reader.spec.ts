/**
 * Callers that ask for a lot and never read the answers. Their streams are
 * paused (yamux stops granting window), so every answer the target makes for
 * them backs up on the target. It must bound what it queues per stream
 * (and stop serving a stream that does not read) rather than hold answers
 * without limit; meanwhile an honest member and client are served as usual.
 *
 * The target runs in a child process with 64 values of 2 MiB (128 MiB) and
 * requestTimeout 2 s; each attack asks for over 1 GiB of answers.
 */

import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Request, Response } from '../../src/pb/message.js'
import { createHostileCluster, expectSurvived, underAttack } from '../utils/hostile/harness.js'
import { RawStream, requestFrames } from '../utils/hostile/raw.js'
import type { HostileCluster } from '../utils/hostile/harness.js'
import type { Key } from 'interface-datastore'

const VALUE_SIZE = 2 * 1024 * 1024
const VALUES = 64
const REQUEST_TIMEOUT = 2_000

describe('a reader that never reads (target in a child process)', () => {
  let cluster: HostileCluster
  let big: Key[]
  let epoch: number

  beforeAll(async () => {
    cluster = await createHostileCluster({ options: { requestTimeout: REQUEST_TIMEOUT } })
    epoch = cluster.table.epoch
    big = cluster.targetKeys('big', VALUES)
    await cluster.target.call('populate', { keys: big.map(k => k.toString()), size: VALUE_SIZE, fill: 7 })
  }, 60_000)

  afterAll(async () => {
    await cluster?.stop()
  })

  const keyBytes = (key: Key): Uint8Array<ArrayBuffer> => key.uint8Array() as Uint8Array<ArrayBuffer>

  it('many GETs of 2 MiB values (1.2 GiB in all) on four streams, never read', async () => {
    const outcome = await underAttack(cluster, 'unread GETs', async () => {
      const streams = await Promise.all(Array.from({ length: 4 }, async () => RawStream.open(cluster.evilClient, cluster.target.peerId, { neverRead: true })))

      await Promise.all(streams.map(async (raw, s) => {
        const reqs = Array.from({ length: 150 }, (_, i) => ({ id: i + 1, type: Request.Type.GET, epoch, key: keyBytes(big[(s * 150 + i) % VALUES]) }))
        await raw.send(requestFrames(reqs))
      }))

      return () => {
        console.log(`unread GETs: attacker streams ${streams.map(s => s.describe()).join('; ')}`)
        streams.forEach(s => { s.abort() })
      }
    })

    await expectSurvived(expect, cluster, 'unread GETs', outcome)
  })

  it('GET_MANY and QUERY with the largest credit a caller can claim, never read', async () => {
    const outcome = await underAttack(cluster, 'unread GET_MANY/QUERY, credit 2^32-1', async () => {
      const getMany = await RawStream.open(cluster.evilClient, cluster.target.peerId, { neverRead: true })
      const query = await RawStream.open(cluster.evilClient, cluster.target.peerId, { neverRead: true })
      // every value 8 times over: 1 GiB in one answer
      const keys = Array.from({ length: 8 }, () => big.map(keyBytes)).flat()
      await getMany.send(requestFrames([{ id: 1, type: Request.Type.GET_MANY, epoch, keys, credit: 0xffffffff }]))
      // 8 queries of the 128 MiB the target holds
      await query.send(requestFrames(Array.from({ length: 8 }, (_, i) => ({ id: i + 1, type: Request.Type.QUERY, epoch, prefix: '/big', credit: 0xffffffff }))))

      return () => {
        console.log(`huge credit: GET_MANY stream ${getMany.describe()}; QUERY stream ${query.describe()}`)
        getMany.abort()
        query.abort()
      }
    })

    await expectSurvived(expect, cluster, 'unread GET_MANY/QUERY', outcome)
  })

  it('GET_MANY and QUERY with zero credit, never read', async () => {
    const outcome = await underAttack(cluster, 'unread GET_MANY/QUERY, credit 0', async () => {
      const raw = await RawStream.open(cluster.evilClient, cluster.target.peerId, { neverRead: true })
      await raw.send(requestFrames([
        { id: 1, type: Request.Type.GET_MANY, epoch, keys: big.map(keyBytes), credit: 0 },
        { id: 2, type: Request.Type.QUERY, epoch, prefix: '/big', credit: 0 }
      ]))
      return () => {
        console.log(`zero credit: attacker stream ${raw.describe()}`)
        raw.abort()
      }
    })

    await expectSurvived(expect, cluster, 'unread GET_MANY/QUERY, zero credit', outcome)
  })

  it('a streamed answer that gets no credit is ended by the owner, not held open (requestTimeout 2 s)', async () => {
    const raw = await RawStream.open(cluster.evilClient, cluster.target.peerId)
    await raw.send(requestFrames([
      { id: 1, type: Request.Type.GET_MANY, epoch, keys: big.map(keyBytes), credit: 0 },
      { id: 2, type: Request.Type.QUERY, epoch, prefix: '/big', credit: 64 * 1024 }
    ]))

    // the answer ends (a final frame: done, or an error status) or the owner closes the stream
    const limit = 3 * REQUEST_TIMEOUT + 2_000
    const ended = async (id: number): Promise<string> => {
      const res = await raw.waitAnswer(r => r.id === id && (r.done || r.status !== Response.Status.OK), limit)
      return res != null ? `ended: ${res.status} ${res.message}` : raw.isClosed ? 'stream closed' : `still open after ${limit} ms`
    }

    const [getMany, query] = await Promise.all([ended(1), ended(2)])
    raw.abort()
    console.log(`zero credit: GET_MANY ${getMany}; QUERY with 64 KiB credit ${query}`)
    expect.soft(getMany).not.toMatch(/still open/)
    expect.soft(query).not.toMatch(/still open/)
    expect(cluster.target.alive, cluster.target.describeExit()).toBe(true)
  })
})
