/**
 * Slot tables signed by the cluster's admin key (DESIGN.md, "Membership
 * changes and signed tables"): a libp2p signed envelope (RFC 0002) with this
 * protocol's own domain and payload type, whose payload is the protobuf
 * `SlotTable` message. Nodes adopt a table from the network only in this
 * form, signed by the admin key their config names.
 */

import { createHash } from 'node:crypto'
import { peerIdFromPublicKey } from '@libp2p/peer-id'
import { RecordEnvelope } from '@libp2p/peer-record'
import { equals as uint8ArrayEquals } from 'uint8arrays/equals'
import { InvalidParametersError, InvalidSlotTableError, TableSignatureError } from '../errors.js'
import { SlotTable as SlotTableMessage } from '../pb/message.js'
import { tableFromMessage, tableToMessage } from '../rpc/table.js'
import { SlotTable } from '../slots/table.js'
import type { AbortOptions, PrivateKey, PublicKey, Record } from '@libp2p/interface'

/** The signature domain: a signature made for another purpose never verifies as a table */
export const SLOT_TABLE_DOMAIN = 'datastore-cluster-slot-table'

/** The envelope's payload type: a protobuf `SlotTable` of `/datastore-cluster/1.0.0` */
export const SLOT_TABLE_CODEC = new TextEncoder().encode('/datastore-cluster/slot-table/1')

/**
 * A slot table with its signed envelope, as made by {@link signTable} or
 * checked by {@link openSignedTable}
 */
export interface SignedSlotTable {
  /** The validated table */
  readonly table: SlotTable
  /** The marshaled envelope: what is sent to peers and persisted */
  readonly bytes: Uint8Array
  /** sha256 of the signed payload, hex: two tables of one epoch must have the same hash */
  readonly hash: string
  /** The key that signed it */
  readonly signer: PublicKey
}

/** A slot table as the payload of a signed envelope */
class SlotTableRecord implements Record {
  readonly domain = SLOT_TABLE_DOMAIN
  readonly codec = SLOT_TABLE_CODEC
  readonly table: SlotTable

  constructor (table: SlotTable) {
    this.table = table
  }

  marshal (): Uint8Array {
    return SlotTableMessage.encode(tableToMessage(this.table))
  }

  equals (other: Record): boolean {
    return other instanceof SlotTableRecord && other.table.equals(this.table)
  }
}

/**
 * Sign a slot table with the admin key
 *
 * @example
 * ```ts
 * const admin = await generateKeyPair('Ed25519')
 * const signed = await signTable(SlotTable.even(peers, { epoch: 2 }), admin)
 * new ClusterDatastore(libp2p, local, signed, { adminKey: admin.publicKey })
 * ```
 *
 * @param table - the table to sign
 * @param adminKey - the cluster's admin private key
 * @throws {InvalidParametersError} if `table` is not a SlotTable or `adminKey` not a private key
 */
export async function signTable (table: SlotTable, adminKey: PrivateKey, options?: AbortOptions): Promise<SignedSlotTable> {
  if (!(table instanceof SlotTable)) {
    throw new InvalidParametersError('signTable needs a SlotTable (build one with SlotTable.even, fromRanges or fromJSON)')
  }

  if (adminKey == null || typeof adminKey.sign !== 'function' || adminKey.publicKey == null) {
    throw new InvalidParametersError('signTable needs the admin private key (a libp2p PrivateKey)')
  }

  const envelope = await RecordEnvelope.seal(new SlotTableRecord(table), adminKey, options)

  return Object.freeze({ table, bytes: envelope.marshal(), hash: payloadHash(envelope.payload), signer: envelope.publicKey })
}

/**
 * Check a signed table from a peer, a config file or a store: a signed
 * envelope of this protocol's domain and payload type, signed by `adminKey`,
 * whose signature verifies, holding a valid table.
 *
 * @param bytes - a marshaled envelope, as in {@link SignedSlotTable.bytes}
 * @param adminKey - the cluster's admin public key
 * @throws {TableSignatureError} naming what is wrong: not an envelope, another payload type, another signer, a signature that does not verify
 * @throws {InvalidSlotTableError} if the signed payload is not a valid table
 */
export async function openSignedTable (bytes: Uint8Array, adminKey: PublicKey, options?: AbortOptions): Promise<SignedSlotTable> {
  const envelope = decodeEnvelope(bytes)

  if (!envelope.publicKey.equals(adminKey)) {
    throw new TableSignatureError(`the slot table is signed by key ${keyName(envelope.publicKey)}, not by the admin key ${keyName(adminKey)}`)
  }

  if (!await envelope.validate(SLOT_TABLE_DOMAIN, options)) {
    throw new TableSignatureError(`the slot table's signature does not verify (domain ${SLOT_TABLE_DOMAIN}): the table was altered after signing, or signed for another purpose`)
  }

  let table: SlotTable

  try {
    table = tableFromMessage(SlotTableMessage.decode(envelope.payload))
  } catch (err: any) {
    if (err instanceof InvalidSlotTableError) {
      throw err
    }

    throw new InvalidSlotTableError(`the signed payload is not a SlotTable message: ${err.message}`)
  }

  return Object.freeze({ table, bytes, hash: payloadHash(envelope.payload), signer: envelope.publicKey })
}

/**
 * The epoch and hash a signed table claims, read without checking its
 * signature or validating the table: enough to ignore one that is not newer
 * (as a table of thousands of peers costs milliseconds to validate)
 *
 * @throws {TableSignatureError} if `bytes` is not a signed slot table envelope
 */
export function peekSignedTable (bytes: Uint8Array): { epoch: number, hash: string } {
  const envelope = decodeEnvelope(bytes)
  let epoch: number

  try {
    epoch = SlotTableMessage.decode(envelope.payload).epoch
  } catch (err: any) {
    throw new TableSignatureError(`the signed payload is not a SlotTable message: ${err.message}`)
  }

  return { epoch, hash: payloadHash(envelope.payload) }
}

/**
 * The hash a table has once signed (sha256 of its protobuf form, hex), for a
 * table held unsigned (given to a node as local config)
 */
export function tableHash (table: SlotTable): string {
  return payloadHash(SlotTableMessage.encode(tableToMessage(table)))
}

/** `value` is a {@link SignedSlotTable} (rather than a table or its JSON) */
export function isSignedSlotTable (value: unknown): value is SignedSlotTable {
  return typeof value === 'object' && value != null && (value as any).table instanceof SlotTable &&
    (value as any).bytes instanceof Uint8Array && typeof (value as any).hash === 'string' && (value as any).signer != null
}

/** A key as its peer ID string, the form operators see in configs and logs */
export function keyName (key: PublicKey): string {
  try {
    return peerIdFromPublicKey(key).toString()
  } catch {
    return key.type
  }
}

function decodeEnvelope (bytes: Uint8Array): RecordEnvelope {
  if (!(bytes instanceof Uint8Array) || bytes.byteLength === 0) {
    throw new TableSignatureError('the slot table is not signed: this node accepts only tables signed by the admin key')
  }

  let envelope: RecordEnvelope

  try {
    envelope = RecordEnvelope.createFromProtobuf(bytes)
  } catch (err: any) {
    throw new TableSignatureError(`the slot table is not a signed envelope: ${err.message}`)
  }

  if (!uint8ArrayEquals(envelope.payloadType, SLOT_TABLE_CODEC)) {
    throw new TableSignatureError('the signed envelope does not hold a slot table (another payload type)')
  }

  return envelope
}

function payloadHash (payload: Uint8Array): string {
  return createHash('sha256').update(payload).digest('hex')
}
