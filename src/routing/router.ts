import { NotFoundError } from 'interface-store'
import { MovedError } from '../errors.js'
import { Request, Response } from '../pb/message.js'
import { errorFromResponse } from '../rpc/errors.js'
import { RequestError } from '../rpc/request-error.js'
import type { Layout } from '../membership/layout.js'
import type { TableKeeper } from '../membership/table-keeper.js'
import type { Tracker } from '../pb/message.js'
import type { PeerChannel } from '../rpc/client.js'
import type { Ownership } from '../slots/ownership.js'
import type { AbortOptions, PeerId } from '@libp2p/interface'

/**
 * What an operation does with a slot. Both go to the primary today;
 * replication will route them by consistency level (a write to every owner,
 * a read to the first R that answer).
 */
export type Intent = 'read' | 'write'

/** What the router needs from the store it serves */
export interface RouterComponents {
  /** MOVED answers followed before an operation fails with `MovedError` */
  maxRedirects: number
  /** The ownership under the table in force (the newest) */
  ownership(): Ownership
  /** Judges and adopts tables from peers (signed by the admin key only), and offers ours */
  tables: TableKeeper
  /** The tables in force: during a transition, writes go to both tables' owners and reads to the old ones until the move is synced */
  layout?(): Layout
  /** Trackers an owner's answer carried (a MOVED from an owner that retired the old table carries them) */
  learn?(trackers: Tracker[]): void
  /** The channel to a peer; throws `NotStartedError` when the store is stopped */
  channel(peer: PeerId): PeerChannel
}

/**
 * Where the keys of one operation go under one table, for the many-key paths
 * that group thousands of keys: owners by index, no peer ID compared per key
 */
export interface Routes {
  /** The epoch of the table these routes come from: send it with every request */
  readonly epoch: number
  /** The peers an operation may be sent to (for a query: every one of them) */
  readonly peers: readonly PeerId[]
  /** Index of this node in `peers`, or -1 */
  readonly selfIndex: number
  /** Index in `peers` of the owner to use for `slot` */
  target(slot: number): number
}

/** A single-key operation: the local call, or the request to send */
export interface SingleOperation<T> {
  /** Run it on this node (the slot's owner) under table `epoch` */
  local(epoch: number): Promise<T>
  /** The request for a remote owner (its epoch is filled in per attempt) */
  request: Partial<Request>
  /** The result from an OK answer */
  decode(res: Response): T
  /**
   * Run it on a replicated slot (the coordinator's way), when the slot is
   * replicated under the table in force — also after a MOVED answer brought
   * a table under which it became so
   */
  replicated(): Promise<T>
}

/**
 * The caller's side of routing, for every operation (single-key, many-key,
 * batch, query): which owners a slot goes to, and what a MOVED answer means —
 * adopt the newer table offered, or send ours to an owner whose table is
 * older, then retry, a bounded number of times.
 */
export class Router {
  private readonly components: RouterComponents

  constructor (components: RouterComponents) {
    this.components = components
  }

  /** The owners to send an operation on `slot` to, in order (today: the primary) */
  route (slot: number, intent: Intent): readonly PeerId[] { // eslint-disable-line @typescript-eslint/no-unused-vars
    return [this.components.ownership().table.primary(slot)]
  }

  /** The routes of every slot under the table in force */
  routes (intent: Intent): Routes { // eslint-disable-line @typescript-eslint/no-unused-vars
    const ownership = this.components.ownership()

    return {
      epoch: ownership.table.epoch,
      peers: ownership.primaries,
      selfIndex: ownership.selfIndex,
      target: (slot) => ownership.primaryIndex(slot)
    }
  }

  /** The ownership under the table in force */
  ownership (): Ownership {
    return this.components.ownership()
  }

  /**
   * The owner sets a write of `slot` must reach a quorum in, each: the
   * slot's owners, or during a transition that changes them the old and the
   * new owners
   */
  writeSets (slot: number): Array<readonly PeerId[]> {
    return this.components.layout?.().writeSets(slot) ?? [this.components.ownership().table.owners(slot)]
  }

  /** Two tables are in force (a transition): writes of the slots it changes go to both owner sets */
  moving (): boolean {
    return this.components.layout?.().moving ?? false
  }

  /** The ownership reads go by: during a transition the old table's until every member reports the move synced */
  readOwnership (): Ownership {
    return this.components.layout?.().readOwnership() ?? this.components.ownership()
  }

  /** The slot's owner list has several owners: its operations go through the replication coordinator */
  isReplicated (slot: number): boolean {
    return this.components.ownership().table.owners(slot).length > 1
  }

  /** Some range of the table in force has several owners */
  hasReplicas (): boolean {
    return this.components.ownership().table.ranges.some(range => range.owners.length > 1)
  }

  /** The channel to a peer */
  channel (peer: PeerId): PeerChannel {
    return this.components.channel(peer)
  }

  /**
   * Run a single-key operation on the slot's owner — this node's owner
   * service, or a peer — following MOVED answers. A miss throws
   * `NotFoundError`, any other refusal its typed error.
   */
  async single<T> (slot: number, intent: Intent, describe: () => string, op: SingleOperation<T>, options: AbortOptions = {}): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      const ownership = this.components.ownership()
      const epoch = ownership.table.epoch

      if (ownership.table.owners(slot).length > 1) {
        return op.replicated()
      }

      if (ownership.isPrimary(slot)) {
        return local(op.local(epoch), slot)
      }

      const owner = this.route(slot, intent)[0]
      op.request.epoch = epoch
      const res = await this.channel(owner).call(op.request, { signal: options.signal, slot })

      if (res.status === Response.Status.OK) {
        return op.decode(res)
      }

      if (res.status === Response.Status.NOT_FOUND) {
        throw new NotFoundError(`Not Found: ${describe()}`)
      }

      if (res.status !== Response.Status.MOVED) {
        throw errorFromResponse(res, owner.toString(), slot)
      }

      await this.redirect(res, owner, attempt, `Slot ${slot} of key ${describe()}`, options)
    }
  }

  /**
   * Learn from a MOVED answer so the caller can retry: adopt the peer's newer
   * table (signed by the admin key: the one it sent, or asked for), or send
   * ours when the peer's is the older one. Throws `MovedError` when `attempt`
   * reached the bound, or when there is nothing to learn; a table refused
   * throws why (`TableSignatureError`, `TableConflictError`, ...).
   */
  async redirect (res: Response, peer: PeerId, attempt: number, what: string, options: AbortOptions): Promise<void> {
    if (attempt >= this.components.maxRedirects) {
      throw new MovedError(`${what} was still misrouted after ${this.components.maxRedirects} redirects (last: ${peer.toString()} answered ${res.message})`)
    }

    if (res.trackers != null && res.trackers.length > 0) {
      this.components.learn?.(res.trackers)
    }

    const current = this.components.ownership().table

    if (res.epoch === current.epoch) {
      // this node adopted that table while the request was out, or the peer
      // is a replica naming the primary: retry as we are
      return
    }

    if (res.epoch > current.epoch) {
      await this.components.tables.learn(peer, res.epoch, res.signedTable, options, res)

      // a newer table is in force (this one, or one adopted meanwhile): retry with it
      if (this.components.ownership().table.epoch > current.epoch) {
        return
      }
    } else {
      const signed = this.components.tables.offer()

      if (signed == null) {
        throw new MovedError(`${what}: peer ${peer.toString()} is on an older slot table (epoch ${res.epoch}, this node ${current.epoch}) and this node holds no signed table to send it (${res.message})`)
      }

      const answer = await this.channel(peer).call({
        type: Request.Type.TABLE,
        epoch: current.epoch,
        signedTable: signed
      }, options)

      if (answer.status !== Response.Status.OK) {
        throw errorFromResponse(answer, peer.toString())
      }

      return
    }

    throw new MovedError(`Peer ${peer.toString()} answered MOVED (${res.message}) but offered no newer slot table`)
  }
}

/**
 * A MOVED answer from an owner, carried out of a fan-out (a query's reader, a
 * replicated operation's owners) so the operation can learn from it with
 * `Router.redirect` and start again
 */
export class MovedAnswer extends Error {
  readonly res: Response
  readonly peer: PeerId

  constructor (res: Response, peer: PeerId) {
    super(res.message)
    this.res = res
    this.peer = peer
  }
}

/**
 * The result of a call to this node's owner service. A refusal there means
 * this node routed with the table it refuses by, which only a bug can do; it
 * surfaces as the typed error a peer's refusal would.
 */
export async function local<T> (result: Promise<T>, slot?: number): Promise<T> {
  try {
    return await result
  } catch (err) {
    throw fromRefusal(err, slot)
  }
}

/** An owner service's refusal as the typed error a caller gets; other errors as they are */
export function fromRefusal (err: unknown, slot?: number): unknown {
  if (err instanceof RequestError) {
    return errorFromResponse({ status: err.status, message: err.message } as unknown as Response, 'this node', slot)
  }

  return err
}
