/**
 * The trackers a node learns from members' messages: each only grows, never
 * past the newest table the node holds, its own are never taken from
 * others, and bytes that are no peer ID are skipped.
 */

import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { describe, expect, it } from 'vitest'
import { SlotTable } from '../../src/index.js'
import { Layout } from '../../src/membership/layout.js'
import { Ownership } from '../../src/slots/ownership.js'
import type { PeerId } from '@libp2p/interface'

async function peers (n: number): Promise<PeerId[]> {
  return Promise.all(Array.from({ length: n }, async () => peerIdFromPrivateKey(await generateKeyPair('Ed25519'))))
}

describe('layout trackers', () => {
  it('learns from messages within the tables it holds, and no more', async () => {
    const [self, a, b] = await peers(3)
    const t1 = SlotTable.even([self, a, b].map(id => ({ id })), { epoch: 1, replicas: 3 })
    const layout = new Layout(new Ownership(t1, self), self)
    layout.begin(t1.withEpoch(2))

    layout.learn([
      // a claims an epoch nobody has: counted as the newest this node holds
      { peer: a.toMultihash().bytes, ack: Number.MAX_SAFE_INTEGER, sync: 2, syncAck: 1 },
      // this node's own trackers are never taken from others
      { peer: self.toMultihash().bytes, ack: 2, sync: 2, syncAck: 2 },
      // not a peer ID: skipped
      { peer: Uint8Array.of(1, 2, 3), ack: 2, sync: 2, syncAck: 2 },
      // beyond what a JS number holds exactly: nothing
      { peer: b.toMultihash().bytes, ack: 2 ** 60, sync: -1, syncAck: 1.5 }
    ])

    expect(layout.trackersOf(a)).toEqual({ ack: 2, sync: 2, syncAck: 1 })
    expect(layout.trackersOf(b)).toEqual({ ack: 0, sync: 0, syncAck: 0 })
    expect(layout.trackersOf(self)).toEqual({ ack: 1, sync: 1, syncAck: 1 })

    // trackers only grow
    layout.learn([{ peer: a.toMultihash().bytes, ack: 1, sync: 0, syncAck: 2 }])
    expect(layout.trackersOf(a)).toEqual({ ack: 2, sync: 2, syncAck: 2 })

    // reads stay on the old table until every member (this node included) synced
    expect(layout.readOwnership().table.epoch).toBe(1)
    layout.own.sync = 2
    layout.learn([{ peer: b.toMultihash().bytes, ack: 2, sync: 2, syncAck: 0 }])
    expect(layout.readOwnership().table.epoch).toBe(2)

    // what it tells others: its own first, then every member it learnt of
    const message = layout.message()
    expect(message[0].peer).toEqual(self.toMultihash().bytes)
    expect(message.slice(1).map(t => t.peer)).toEqual([a.toMultihash().bytes, b.toMultihash().bytes])
  })
})
