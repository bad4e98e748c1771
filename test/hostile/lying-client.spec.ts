/**
 * A client allowed by the table that lies in what comes with a slot table:
 * a node catching up from it gets a genuine signed newer table (the
 * signature is what is trusted) with `settled` set and trackers claiming
 * every member finished moving to it. Neither is signed, so a node takes
 * them from members only: it must begin a transition to the table, not
 * adopt it at once, and must not believe the members moved. Believing it
 * would send its reads to new owners that have copied nothing.
 */
import { LengthPrefixedDecoder } from '@libp2p/utils'
import * as varint from 'uint8-varint'
import { Key } from 'interface-datastore'
import { concat } from 'uint8arrays/concat'
import { afterEach, describe, expect, it } from 'vitest'
import { PROTOCOL, signTable } from '../../src/index.js'
import { Request, Response } from '../../src/pb/message.js'
import { createCluster } from '../utils/cluster.js'
import { RawStream, requestFrame } from '../utils/hostile/raw.js'
import type { TestCluster } from '../utils/cluster.js'
import type { Stream } from '@libp2p/interface'

const OPTIONS = { heartbeatInterval: 200, suspectAfter: 5, antiEntropyInterval: 3_600_000 }

describe('a client lying about the move to a table it shows', () => {
  let cluster: TestCluster | undefined

  afterEach(async () => {
    await cluster?.stop()
    cluster = undefined
  })

  it('a node catching up from it begins the move and believes no tracker of it', async () => {
    cluster = await createCluster({ nodes: 3, replicas: 3, clients: 1, signed: true, options: OPTIONS })
    const target = cluster.nodes[0]
    const liar = cluster.clients[0]
    const admin = cluster.admin
    expect(admin).toBeDefined()
    // genuinely signed: only what comes with it is a lie (no other node has it, so no member can have moved)
    const next = await signTable(cluster.table.withEpoch(2), admin!)

    // the liar's end of the protocol: every request answered OK at epoch 2, GET_TABLE with the table,
    // `settled`, and trackers saying every member acked, synced and saw every member synced epoch 2
    await liar.store.stop()
    const trackers = cluster.nodes.map(n => ({ peer: n.libp2p.peerId.toMultihash().bytes, ack: 2, sync: 2, syncAck: 2 }))
    let tablesShown = 0
    await liar.libp2p.handle(PROTOCOL, (stream: Stream) => {
      const decoder = new LengthPrefixedDecoder({ maxDataLength: 4 * 1024 * 1024 })
      stream.addEventListener('message', (evt) => {
        for (const frame of decoder.decode(evt.data)) {
          const req = Request.decode(frame)
          const res: Partial<Response> = { id: req.id, status: Response.Status.OK, epoch: 2, done: true }

          if (req.type === Request.Type.GET_TABLE) {
            tablesShown++
            Object.assign(res, { signedTable: next.bytes, settled: true, trackers })
          }

          const body = Response.encode(res)
          stream.send(concat([varint.encode(body.byteLength), body]))
        }
      })
    })

    await cluster.nodes[1].store.put(new Key('/liar/before'), new Uint8Array([7]))

    // a request from the liar carrying epoch 2: the target catches up from it
    const raw = await RawStream.open(liar.libp2p, target.libp2p.peerId)
    await raw.send(requestFrame({ id: 1, type: Request.Type.PING, epoch: 2 }))

    const deadline = Date.now() + 20_000

    while (target.store.slots.epoch !== 2) {
      if (Date.now() > deadline) {
        throw new Error(`the target did not catch up with epoch 2 from the liar (${tablesShown} GET_TABLE answered)`)
      }

      await new Promise(resolve => setTimeout(resolve, 20))
    }

    expect(tablesShown).toBeGreaterThan(0)
    // the table is taken (its signature is good), the rest is not: a transition from epoch 1 begins ...
    expect(target.store.status().layout).toMatchObject({ epochs: [1, 2], done: false })
    // ... and no member is believed to have acked it (they are on epoch 1: nobody told them of epoch 2)
    const acked = target.store.status().peers.map(p => p.trackers.ack)
    expect(acked.every(ack => ack < 2)).toBe(true)
    // and it goes on serving what was written before
    expect(await target.store.get(new Key('/liar/before'))).toEqual(new Uint8Array([7]))
  }, 60_000)
})
