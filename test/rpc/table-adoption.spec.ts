/**
 * Slot tables from the wire: the epoch is compared before anything else, so
 * a member cannot make a node validate (and pay for) tables it would not
 * adopt anyway; and adopting a table of thousands of owners builds the
 * node's ownership index without comparing every range with every owner.
 */
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { lpStream } from '@libp2p/utils'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { PROTOCOL, SLOT_COUNT, SlotTable } from '../../src/index.js'
import { Request, Response } from '../../src/pb/message.js'
import { tableFromMessage, tableToMessage } from '../../src/rpc/table.js'
import { Ownership } from '../../src/slots/ownership.js'
import { createCluster } from '../utils/cluster.js'
import type { TestCluster } from '../utils/cluster.js'
import type { PeerId } from '@libp2p/interface'

describe('slot tables from the wire', () => {
  let cluster: TestCluster

  beforeAll(async () => {
    cluster = await createCluster({ nodes: 2 })
  })

  afterAll(async () => {
    await cluster?.stop()
  })

  async function sendTable (table: Request['table']): Promise<Response> {
    const [from, to] = cluster.nodes
    const lp = lpStream(await from.libp2p.dialProtocol(to.libp2p.peerId, PROTOCOL))
    await lp.write(Request.encode({ id: 1, type: Request.Type.TABLE, epoch: from.store.slots.epoch, table }))
    return Response.decode(await lp.read())
  }

  it('ignores a table that is not newer without validating it', async () => {
    const current = cluster.nodes[1].store.slots
    // garbage ranges and peers: validating it would answer BAD_REQUEST
    const res = await sendTable({
      epoch: current.epoch,
      ranges: [{ start: 5, end: 1, owners: [new Uint8Array([1, 2, 3])] }],
      peers: [{ id: new Uint8Array([9]), addrs: [new Uint8Array([0xff])] }]
    })

    expect(res.status).toBe(Response.Status.OK)
    expect(cluster.nodes[1].store.slots).toBe(current)
  })

  it('still refuses an invalid table that claims a newer epoch', async () => {
    const current = cluster.nodes[1].store.slots
    const res = await sendTable({
      epoch: current.epoch + 1,
      ranges: [{ start: 5, end: 1, owners: [new Uint8Array([1, 2, 3])] }],
      peers: []
    })

    expect(res.status).toBe(Response.Status.BAD_REQUEST)
    expect(res.message).toMatch(/not a valid peer ID|greater than its end/)
    expect(cluster.nodes[1].store.slots).toBe(current)
  })

  it('indexes a table with an owner per slot range of thousands of peers, each slot to its own owner', async () => {
    const peers: Array<{ id: PeerId, addrs: string[] }> = []

    for (let i = 0; i < 2048; i++) {
      peers.push({ id: peerIdFromPrivateKey(await generateKeyPair('Ed25519')), addrs: [`/ip4/127.0.0.1/tcp/${10000 + i}`] })
    }

    // through the wire form, as a peer would send it: owners are new PeerId objects
    const table = tableFromMessage(tableToMessage(SlotTable.even(peers, { epoch: 7 })))
    const self = peers[1000].id
    const owned = new Ownership(table, self)

    expect(owned.primaries.length).toBe(2048)
    expect(owned.primaries[owned.selfIndex].equals(self)).toBe(true)

    for (let slot = 0; slot < SLOT_COUNT; slot += 97) {
      expect(owned.primaries[owned.primaryIndex(slot)].equals(table.primary(slot))).toBe(true)
      expect(owned.isPrimary(slot)).toBe(table.primary(slot).equals(self))
    }
  })
})
