/**
 * Slot tables from the wire: the epoch is compared before anything else, so
 * a peer cannot make a node verify or validate (and pay for) tables it would
 * not adopt anyway; and adopting a table of thousands of owners builds the
 * node's ownership index without comparing every range with every owner.
 */
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { lpStream } from '@libp2p/utils'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { RecordEnvelope } from '@libp2p/peer-record'
import { PROTOCOL, SLOT_COUNT, SLOT_TABLE_CODEC, SLOT_TABLE_DOMAIN, SlotTable } from '../../src/index.js'
import { Request, Response, SlotTable as SlotTableMessage } from '../../src/pb/message.js'
import { tableFromMessage, tableToMessage } from '../../src/rpc/table.js'
import { Ownership } from '../../src/slots/ownership.js'
import { createCluster } from '../utils/cluster.js'
import type { TestCluster } from '../utils/cluster.js'
import type { PeerId } from '@libp2p/interface'

describe('slot tables from the wire', () => {
  let cluster: TestCluster

  beforeAll(async () => {
    cluster = await createCluster({ nodes: 2, signed: true })
  })

  afterAll(async () => {
    await cluster?.stop()
  })

  async function sendTable (signedTable: Uint8Array): Promise<Response> {
    const [from, to] = cluster.nodes
    const lp = lpStream(await from.libp2p.dialProtocol(to.libp2p.peerId, PROTOCOL))
    await lp.write(Request.encode({ id: 1, type: Request.Type.TABLE, epoch: from.store.slots.epoch, signedTable: signedTable as Uint8Array<ArrayBuffer> }))
    return Response.decode(await lp.read())
  }

  /** An envelope of the right domain and payload type around `table`, with a signature that cannot verify */
  function forged (table: Parameters<typeof SlotTableMessage.encode>[0]): Uint8Array {
    return new RecordEnvelope({
      publicKey: cluster.admin!.publicKey,
      payloadType: SLOT_TABLE_CODEC,
      payload: SlotTableMessage.encode(table),
      signature: new Uint8Array(64)
    }).marshal()
  }

  it('ignores an older table without checking its signature or validating it, and answers with its own', async () => {
    const current = cluster.nodes[1].store.slots
    // garbage ranges and peers and a bad signature: checking either would refuse it
    const res = await sendTable(forged({
      epoch: current.epoch - 1,
      ranges: [{ start: 5, end: 1, owners: [new Uint8Array([1, 2, 3])] }],
      peers: [{ id: new Uint8Array([9]), addrs: [new Uint8Array([0xff])] }],
      clients: []
    }))

    expect(res.status).toBe(Response.Status.OK)
    expect(cluster.nodes[1].store.slots).toBe(current)
    // the sender learns the newer table it can adopt
    expect(Uint8Array.from(res.signedTable ?? [])).toEqual(Uint8Array.from(cluster.signed!.bytes))
  })

  it('refuses an invalid table signed by the admin key that claims a newer epoch', async () => {
    const current = cluster.nodes[1].store.slots
    const payload = SlotTableMessage.encode({ epoch: current.epoch + 1, ranges: [{ start: 5, end: 1, owners: [new Uint8Array([1, 2, 3])] }], peers: [], clients: [] })
    const envelope = await RecordEnvelope.seal({ domain: SLOT_TABLE_DOMAIN, codec: SLOT_TABLE_CODEC, marshal: () => payload, equals: () => false }, cluster.admin!)
    const res = await sendTable(envelope.marshal())

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
