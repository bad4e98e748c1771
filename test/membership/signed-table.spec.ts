/**
 * signTable / openSignedTable: a libp2p signed envelope with this protocol's
 * own domain and payload type, opened only with the admin key
 */
import { generateKeyPair, publicKeyToProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { RecordEnvelope } from '@libp2p/peer-record'
import { MemoryDatastore } from 'datastore-core'
import { beforeAll, describe, expect, it } from 'vitest'
import { ClusterDatastore, SLOT_TABLE_CODEC, SLOT_TABLE_DOMAIN, SlotTable, openSignedTable, signTable } from '../../src/index.js'
import { tableHash } from '../../src/membership/signed-table.js'
import { SlotTable as SlotTableMessage } from '../../src/pb/message.js'
import { tableFromMessage, tableToMessage } from '../../src/rpc/table.js'
import { createNode } from '../utils/cluster.js'
import type { PrivateKey } from '@libp2p/interface'

describe('signed slot tables', () => {
  let admin: PrivateKey
  let other: PrivateKey
  let table: SlotTable

  beforeAll(async () => {
    admin = await generateKeyPair('Ed25519')
    other = await generateKeyPair('Ed25519')
    const peers = await Promise.all([0, 1, 2].map(async i => ({ id: peerIdFromPrivateKey(await generateKeyPair('Ed25519')), addrs: [`/ip4/10.0.0.${i + 1}/tcp/7001`] })))
    const client = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
    table = SlotTable.even(peers, { epoch: 4, replicas: 2, clients: [{ id: client, readOnly: true }] })
  })

  /** An envelope sealed by `key` with any domain and payload type */
  async function seal (payload: Uint8Array, key: PrivateKey, domain = SLOT_TABLE_DOMAIN, codec = SLOT_TABLE_CODEC): Promise<Uint8Array> {
    return (await RecordEnvelope.seal({ domain, codec, marshal: () => payload, equals: () => false }, key)).marshal()
  }

  it('opens what it signs: the same table, clients included, bytes and hash', async () => {
    const signed = await signTable(table, admin)
    const opened = await openSignedTable(signed.bytes, admin.publicKey)

    expect(opened.table.equals(table)).toBe(true)
    expect(opened.table.clients.map(c => [c.id.toString(), c.readOnly])).toEqual(table.clients.map(c => [c.id.toString(), true]))
    expect(opened.hash).toBe(signed.hash)
    expect(opened.hash).toBe(tableHash(table))
    expect(opened.hash).toMatch(/^[0-9a-f]{64}$/)
    expect(opened.signer.equals(admin.publicKey)).toBe(true)
  })

  it('refuses a table signed by another key, naming both keys', async () => {
    const signed = await signTable(table, other)
    const err = await openSignedTable(signed.bytes, admin.publicKey).catch(e => e)

    expect(err).toHaveProperty('name', 'TableSignatureError')
    expect(err.message).toContain(peerIdFromPrivateKey(other).toString())
    expect(err.message).toContain(peerIdFromPrivateKey(admin).toString())
  })

  it('refuses the admin\'s signature made for another domain', async () => {
    const bytes = await seal(SlotTableMessage.encode(tableToMessage(table)), admin, 'libp2p-peer-record')
    await expect(openSignedTable(bytes, admin.publicKey)).rejects.toThrow(/does not verify/)
  })

  it('refuses an envelope of another payload type', async () => {
    const bytes = await seal(SlotTableMessage.encode(tableToMessage(table)), admin, SLOT_TABLE_DOMAIN, Uint8Array.from([0x03, 0x01]))
    await expect(openSignedTable(bytes, admin.publicKey)).rejects.toThrow(/another payload type/)
  })

  it('refuses a payload altered after signing', async () => {
    const envelope = RecordEnvelope.createFromProtobuf((await signTable(table, admin)).bytes)
    const altered = new RecordEnvelope({ ...envelope, payload: SlotTableMessage.encode(tableToMessage(table.withEpoch(5))) }).marshal()
    await expect(openSignedTable(altered, admin.publicKey)).rejects.toHaveProperty('name', 'TableSignatureError')
  })

  it('refuses bytes that are not an envelope, and an empty one', async () => {
    await expect(openSignedTable(new TextEncoder().encode('{"epoch":9}'), admin.publicKey)).rejects.toHaveProperty('name', 'TableSignatureError')
    await expect(openSignedTable(new Uint8Array(0), admin.publicKey)).rejects.toThrow(/not signed/)
  })

  it('refuses an invalid table even when the admin key signed it', async () => {
    const bytes = await seal(SlotTableMessage.encode({ ...tableToMessage(table), ranges: tableToMessage(table).ranges.slice(1) }), admin)
    await expect(openSignedTable(bytes, admin.publicKey)).rejects.toHaveProperty('name', 'InvalidSlotTableError')
  })
})

describe('slot table clients', () => {
  it('are validated: valid peer IDs, no duplicates, not members', async () => {
    const a = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
    const c = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
    const err = (() => {
      try {
        SlotTable.even([{ id: a }], { clients: [{ id: 'nope' }, { id: c }, { id: c.toString() }, { id: a }, { id: c, readOnly: 'yes' as any }] })
      } catch (e: any) {
        return e
      }
    })()

    expect(err).toHaveProperty('name', 'InvalidSlotTableError')
    expect(err.problems).toEqual([
      'clients[0].id "nope" is not a valid peer ID',
      `clients[2] duplicates client ${c.toString()} (already clients[1])`,
      `clients[3] is peer ${a.toString()}, a member (peers[0]): members may always call, list only outsiders as clients`,
      'clients[4].readOnly must be true or false, got "yes"'
    ])
  })

  it('take part in equals and the JSON form, which omits them when there are none', async () => {
    const a = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
    const c = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
    const plain = SlotTable.even([{ id: a }])
    const withClient = SlotTable.even([{ id: a }], { clients: [{ id: c }] })
    const readOnly = SlotTable.even([{ id: a }], { clients: [{ id: c, readOnly: true }] })

    expect(plain.toJSON()).not.toHaveProperty('clients')
    expect(withClient.toJSON().clients).toEqual([{ id: c.toString(), readOnly: false }])
    expect(SlotTable.fromJSON(JSON.stringify(readOnly)).equals(readOnly)).toBe(true)
    expect(withClient.equals(plain)).toBe(false)
    expect(withClient.equals(readOnly)).toBe(false)
    expect(withClient.withEpoch(3).clients).toEqual(withClient.clients)
  })
})

describe('slot table dead members', () => {
  it('are validated: valid peer IDs, no duplicates, neither members nor clients', async () => {
    const [a, c, d] = await Promise.all([0, 1, 2].map(async () => peerIdFromPrivateKey(await generateKeyPair('Ed25519'))))
    const table = SlotTable.even([{ id: a }], { clients: [{ id: c }] })
    const err = (() => {
      try {
        SlotTable.fromRanges({ ...table.toJSON(), dead: ['nope', d, d.toString(), a, c] })
      } catch (e: any) {
        return e
      }
    })()

    expect(err).toHaveProperty('name', 'InvalidSlotTableError')
    expect(err.problems).toEqual([
      'dead[0] "nope" is not a valid peer ID',
      `dead[2] duplicates ${d.toString()} (already dead[1])`,
      `dead[3] is peer ${a.toString()}, a member (peers[0]): only a former member can be declared dead`,
      `dead[4] is peer ${c.toString()}, a client of the table: only a former member can be declared dead`
    ])
    expect(() => SlotTable.fromJSON({ ...table.toJSON(), dead: 'x' } as any)).toThrow(/dead must be an array of peer IDs/)
  })

  it('take part in equals, the JSON form (omitted when none), the wire form and the signature', async () => {
    const [a, d] = await Promise.all([0, 1].map(async () => peerIdFromPrivateKey(await generateKeyPair('Ed25519'))))
    const plain = SlotTable.even([{ id: a, addrs: ['/ip4/127.0.0.1/tcp/1'] }], { epoch: 2 })
    const withDead = SlotTable.fromRanges({ ...plain.toJSON(), dead: [d] })

    expect(plain.toJSON()).not.toHaveProperty('dead')
    expect(withDead.toJSON().dead).toEqual([d.toString()])
    expect(SlotTable.fromJSON(JSON.stringify(withDead)).equals(withDead)).toBe(true)
    expect(withDead.equals(plain)).toBe(false)
    expect(withDead.withEpoch(3).dead).toEqual(withDead.dead)
    expect(tableFromMessage(tableToMessage(withDead)).equals(withDead)).toBe(true)

    // signed: what a node opens lists the dead member, and the hash differs from the same table without it
    const admin = await generateKeyPair('Ed25519')
    const signed = await signTable(withDead, admin)
    const opened = await openSignedTable(signed.bytes, admin.publicKey)
    expect(opened.table.dead.map(String)).toEqual([d.toString()])
    expect(opened.hash).not.toEqual((await signTable(plain, admin)).hash)
  })
})

describe('ClusterDatastore options: adminKey', () => {
  it('takes the key or its base64 protobuf form, refuses garbage, clients next to it, and a table signed by another key', async () => {
    const libp2p = await createNode()

    try {
      const admin = await generateKeyPair('Ed25519')
      const other = await generateKeyPair('Ed25519')
      const table = SlotTable.even([{ id: libp2p.peerId }], { epoch: 1 })
      const signed = await signTable(table, admin)
      const base64 = Buffer.from(publicKeyToProtobuf(admin.publicKey)).toString('base64')

      expect(new ClusterDatastore(libp2p, new MemoryDatastore(), signed, { adminKey: base64 }).signedSlots).toBe(signed)
      expect(() => new ClusterDatastore(libp2p, new MemoryDatastore(), table, { adminKey: 'not a key!' })).toThrow(/options.adminKey is not a base64 protobuf public key/)
      expect(() => new ClusterDatastore(libp2p, new MemoryDatastore(), table, { adminKey: 42 as any })).toThrow(/options.adminKey must be a libp2p PublicKey/)
      expect(() => new ClusterDatastore(libp2p, new MemoryDatastore(), signed, { adminKey: admin.publicKey, clients: [] })).toThrow(/the allowed clients belong in the signed slot table/)
      expect(() => new ClusterDatastore(libp2p, new MemoryDatastore(), signed, { adminKey: other.publicKey })).toThrow(/not by the admin key/)
      // an unsigned table is local configuration: trusted, but there is nothing to hand to peers
      expect(new ClusterDatastore(libp2p, new MemoryDatastore(), table, { adminKey: admin.publicKey }).signedSlots).toBeUndefined()
    } finally {
      await libp2p.stop()
    }
  })
})
