/**
 * Who may change this node's slot table: the admin key, never the sender.
 * Every table that arrives from a peer (a TABLE request, a MOVED answer, a
 * GET_TABLE answer) or from this node's store passes here before it reaches
 * the one place a table is adopted (`ClusterDatastore.updateSlotTable`).
 */

import { MovedError, TableConflictError, TableSignatureError, UnauthorizedError } from '../errors.js'
import { Request, Response } from '../pb/message.js'
import { errorFromResponse } from '../rpc/errors.js'
import { openSignedTable, peekSignedTable, tableHash } from './signed-table.js'
import type { SignedSlotTable } from './signed-table.js'
import type { Tracker } from '../pb/message.js'
import type { PeerChannel } from '../rpc/client.js'
import type { SlotTable } from '../slots/table.js'
import type { AbortOptions, Logger, PeerId, PublicKey } from '@libp2p/interface'

/** The table in force and, when this node holds it, its signed form */
export interface HeldTable {
  table: SlotTable
  signed?: SignedSlotTable
  /** The only table in force: no transition to it (or from it) is in progress here */
  settled?: boolean
}

/** Where a table being caught up with came from, and what came with it */
export interface TableSender {
  peer: PeerId
  /** The sender's transition trackers */
  trackers: Tracker[]
  /** The sender said the table is the only one in force there (see `Response.settled`) */
  settled: boolean
}

export interface TableKeeperInit {
  /** The key every table must be signed by; none: the table is fixed by configuration */
  adminKey?: PublicKey
  log: Logger
  current(): HeldTable
  /**
   * Adopt a verified newer table (`updateSlotTable`); `from`: the peer it came
   * from and the transition trackers it sent with it, if any
   */
  adopt(signed: SignedSlotTable, from?: TableSender): boolean
  /** The channel to a peer, to ask it for its table */
  channel(peer: PeerId): PeerChannel
}

/** What a signed table from elsewhere is to this node */
export type Verdict =
  /** newer, verified: adopt it */
  | { kind: 'newer', signed: SignedSlotTable }
  /** the table this node holds, or an older one: nothing to do */
  | { kind: 'same' | 'older', epoch: number }

/**
 * Checks tables from elsewhere against the admin key and the table held:
 *
 * - without an admin key no table is adopted from the network
 *   (`UnauthorizedError`): the table is the one configured;
 * - an unsigned table, one signed by another key, or one whose signature does
 *   not verify is refused (`TableSignatureError`);
 * - an older epoch is ignored without checking its signature (cheap);
 * - the same epoch with another hash is refused (`TableConflictError`,
 *   logged as an error with both hashes) once its signature verifies: only
 *   the admin can sign two tables of one epoch;
 * - a newer epoch is adopted once its signature verifies.
 */
export class TableKeeper {
  private readonly init: TableKeeperInit
  /** The hash of an unsigned held table, computed once when first needed */
  private unsignedHash?: { table: SlotTable, hash: string }
  /** A catch-up in progress (one at a time, whoever triggered it) */
  private catchingUp?: Promise<void>
  /** The highest epoch each peer claimed and failed to deliver: not asked again for it */
  private readonly failedClaims: Map<string, number>
  /**
   * The newest epoch verified so far, adopted or not (a node in the middle of
   * a move keeps a newer table for later): no peer is asked for it again
   */
  private verified: number

  constructor (init: TableKeeperInit) {
    this.init = init
    this.failedClaims = new Map()
    this.verified = 0
  }

  /** The node has an admin key: it adopts signed tables from the network */
  get signed (): boolean {
    return this.init.adminKey != null
  }

  /** The signed form of the table held, to offer peers */
  offer (): Uint8Array<ArrayBuffer> | undefined {
    return this.init.current().signed?.bytes as Uint8Array<ArrayBuffer> | undefined
  }

  /** The table offered is the only one in force here (see `Response.settled`) */
  offersSettled (): boolean {
    return this.init.current().settled === true
  }

  /** The hash of the table held (see `SignedSlotTable.hash`) */
  heldHash (): string {
    const held = this.init.current()

    if (held.signed != null && held.signed.table === held.table) {
      return held.signed.hash
    }

    if (this.unsignedHash?.table !== held.table) {
      this.unsignedHash = { table: held.table, hash: tableHash(held.table) }
    }

    return this.unsignedHash.hash
  }

  /**
   * What `bytes` (a signed table from `from`) is to this node
   *
   * @throws {UnauthorizedError} this node has no admin key
   * @throws {TableSignatureError} unsigned, not signed by the admin key, or the signature does not verify
   * @throws {TableConflictError} the same epoch as the table held, another table
   * @throws {InvalidSlotTableError} signed by the admin key but not a valid table
   */
  async judge (bytes: Uint8Array | undefined, from: string, options?: AbortOptions): Promise<Verdict> {
    const adminKey = this.init.adminKey

    if (adminKey == null) {
      throw new UnauthorizedError(`this node has no admin key, so its slot table is the one it was configured with: the table from ${from} is refused (give every node options.adminKey to let signed tables change it)`)
    }

    if (bytes == null || bytes.byteLength === 0) {
      throw new TableSignatureError(`the slot table from ${from} is not signed: this node accepts only tables signed by the admin key`)
    }

    const held = this.init.current().table
    const claim = peekSignedTable(bytes)

    if (claim.epoch < held.epoch) {
      return { kind: 'older', epoch: claim.epoch }
    }

    if (claim.epoch === held.epoch && claim.hash === this.heldHash()) {
      return { kind: 'same', epoch: claim.epoch }
    }

    let signed: SignedSlotTable

    try {
      signed = await openSignedTable(bytes, adminKey, options)
    } catch (err: any) {
      err.message = `slot table epoch ${claim.epoch} from ${from} refused: ${err.message}`
      throw err
    }

    if (signed.table.epoch === held.epoch) {
      const ours = this.heldHash()
      this.init.log.error('slot table conflict: %s sent epoch %d with hash %s, this node holds epoch %d with hash %s; keeping ours. Sign the intended table again with a higher epoch', from, signed.table.epoch, signed.hash, held.epoch, ours)
      throw new TableConflictError(`slot table epoch ${held.epoch} from ${from} has hash ${signed.hash}, but this node holds another table of that epoch (hash ${ours}): two tables signed with one epoch; sign the intended one again with a higher epoch`, { epoch: held.epoch, ours, theirs: signed.hash })
    }

    return { kind: 'newer', signed }
  }

  /**
   * Judge a table and adopt it when newer
   *
   * @returns the verdict
   * @throws as {@link judge}
   */
  async receive (bytes: Uint8Array | undefined, from: string, options?: AbortOptions, sender?: TableSender): Promise<Verdict> {
    const verdict = await this.judge(bytes, from, options)

    if (verdict.kind === 'newer') {
      this.verified = Math.max(this.verified, verdict.signed.table.epoch)

      if (this.init.adopt(verdict.signed, sender)) {
        this.init.log('adopted slot table epoch %d (hash %s) from %s', verdict.signed.table.epoch, verdict.signed.hash, from)
      }
    }

    return verdict
  }

  /**
   * Catch up with a peer known to hold a newer table: adopt `bytes` (its
   * signed table, from a MOVED answer) or, without them, ask it for its
   * table (GET_TABLE). What came with the table (from the MOVED answer
   * `moved`, or the GET_TABLE answer) goes to `adopt`: the sender's
   * transition trackers, and whether the table is settled there.
   *
   * @throws {MovedError} this node has no admin key, or the peer offered no signed table
   * @throws as {@link judge}
   */
  async learn (peer: PeerId, epoch: number, bytes: Uint8Array | undefined, options?: AbortOptions, moved?: { trackers: Tracker[], settled: boolean }): Promise<void> {
    let trackers = moved?.trackers ?? []
    let settled = moved?.settled ?? false

    if (this.init.adminKey == null) {
      throw new MovedError(`Peer ${peer.toString()} is on slot table epoch ${epoch} and this node on epoch ${this.init.current().table.epoch}, but without an admin key this node adopts no table from the network: give every node the same table, or an admin key and signed tables`)
    }

    if (bytes == null || bytes.byteLength === 0) {
      const res = await this.init.channel(peer).call({ type: Request.Type.GET_TABLE, epoch: this.init.current().table.epoch }, options)

      if (res.status !== Response.Status.OK) {
        throw errorFromResponse(res, peer.toString())
      }

      bytes = res.signedTable
      trackers = res.trackers
      settled = res.settled
    }

    if (bytes == null || bytes.byteLength === 0) {
      throw new MovedError(`Peer ${peer.toString()} claims slot table epoch ${epoch} but holds no signed table to show for it`)
    }

    await this.receive(bytes, `peer ${peer.toString()}`, options, { peer, trackers, settled })
  }

  /**
   * A request or answer from `peer` carried table `epoch`: when it is newer
   * than ours (and than any verified already), catch up from that peer in the
   * background (one catch-up at a time; a peer that failed to show a table
   * for an epoch is not asked for it again)
   */
  observe (peer: PeerId, epoch: number): void {
    if (this.init.adminKey == null || this.catchingUp != null || epoch <= this.init.current().table.epoch || epoch <= this.verified) {
      return
    }

    const id = peer.toString()

    if ((this.failedClaims.get(id) ?? -1) >= epoch) {
      return
    }

    this.catchingUp = this.learn(peer, epoch, undefined)
      .catch(err => {
        this.failedClaims.set(id, epoch)
        this.init.log('could not catch up with slot table epoch %d of %p - %e', epoch, peer, err)
      })
      .finally(() => {
        this.catchingUp = undefined
      })
  }

  /** Wait for a catch-up in progress (on stop) */
  async catchUpDone (): Promise<void> {
    await this.catchingUp
  }
}

/**
 * The answer status for a refused table: signature problems and a node
 * without an admin key are UNAUTHORIZED, a conflict CONFLICT, an invalid
 * table BAD_REQUEST
 */
export function refusalStatus (err: unknown): Response.Status | undefined {
  if (err instanceof TableSignatureError || err instanceof UnauthorizedError) {
    return Response.Status.UNAUTHORIZED
  }

  if (err instanceof TableConflictError) {
    return Response.Status.CONFLICT
  }

  if ((err as any)?.name === 'InvalidSlotTableError') {
    return Response.Status.BAD_REQUEST
  }

  return undefined
}
