import { Key } from 'interface-datastore'
import { Record as WireRecord } from '../pb/message.js'
import { RESERVED_NAMESPACE } from '../owner/keys.js'
import { compareVersions } from './record.js'
import type { VersionedRecord } from '../owner/owner.js'
import type { AbortOptions, Logger, PeerId } from '@libp2p/interface'
import type { Datastore } from 'interface-datastore'

/** Where hints live in the coordinator's child store: `<HINTS_PREFIX>/<peer ID><key>` */
export const HINTS_PREFIX = `${RESERVED_NAMESPACE}/hints`

/** Records handed over in one REPLICA_WRITE */
const DELIVERY_BATCH = 256

const decoder = new TextDecoder()

export interface HintsInit {
  /** The coordinator's child store: hints survive a restart with it */
  child: Datastore
  log: Logger
  /**
   * Hand records over to `peer` (REPLICA_WRITE with their own versions).
   * Resolves once the peer holds each record or a newer one; throws when the
   * peer could not take them.
   */
  send(peer: PeerId, records: VersionedRecord[], options: AbortOptions): Promise<void>
}

/**
 * Hinted handoff: a write an owner missed (it was suspected down, or did not
 * answer in time) is kept by the coordinator, durably in its own child store
 * under the reserved namespace, and handed over when the owner is seen up
 * again. One hint per owner and key, the newest version kept: delivering the
 * newest record is enough, since an owner keeps only the newest anyway.
 */
export class Hints {
  private readonly init: HintsInit
  private readonly counts: Map<string, number>
  private readonly delivering: Map<string, Promise<void>>
  private readonly locks: Map<string, Promise<void>>
  private loaded?: Promise<void>

  constructor (init: HintsInit) {
    this.init = init
    this.counts = new Map()
    this.delivering = new Map()
    this.locks = new Map()
  }

  /** Count the hints a previous run left in the child store */
  async load (options: AbortOptions = {}): Promise<void> {
    this.loaded ??= (async () => {
      for await (const key of this.init.child.queryKeys({ prefix: `${HINTS_PREFIX}/` }, options)) {
        const peer = key.toString().slice(HINTS_PREFIX.length + 1).split('/', 1)[0]
        this.counts.set(peer, (this.counts.get(peer) ?? 0) + 1)
      }
    })()

    await this.loaded
  }

  /** Hints held per peer (peer ID string -> count), only peers with hints */
  held (): Map<string, number> {
    return new Map([...this.counts].filter(([, count]) => count > 0))
  }

  /** Keep `records` for `peer`, each unless a hint of a newer version is held */
  async add (peer: PeerId, records: VersionedRecord[], options: AbortOptions = {}): Promise<void> {
    const id = peer.toString()

    await this.exclusive(id, async () => {
      const batch = this.init.child.batch()
      let added = 0

      for (const record of records) {
        const key = hintKey(id, record.key)
        // most hints are new: `has` first, since a store's NotFoundError (with its stack trace) costs more than the rest
        const held = await this.init.child.has(key, options) ? await this.read(key, options) : undefined

        if (held != null && compareVersions(held.version, record.version) >= 0) {
          continue
        }

        batch.put(key, WireRecord.encode(record as WireRecord))
        added += held == null ? 1 : 0
      }

      await batch.commit(options)
      this.counts.set(id, (this.counts.get(id) ?? 0) + added)
    })
  }

  /**
   * Hints of one peer are written and deleted one change at a time, so the
   * count held stays exact and a newer hint is never deleted as delivered
   */
  private async exclusive<T> (peer: string, fn: () => Promise<T>): Promise<T> {
    const before = this.locks.get(peer) ?? Promise.resolve()
    const run = before.then(fn, fn)
    const settled = run.then(() => {}, () => {})
    this.locks.set(peer, settled)

    try {
      return await run
    } finally {
      if (this.locks.get(peer) === settled) {
        this.locks.delete(peer)
      }
    }
  }

  /**
   * Hand every hint held for `peer` over to it and delete those delivered.
   * One delivery per peer at a time; a call during one waits for it.
   */
  async deliver (peer: PeerId, options: AbortOptions = {}): Promise<void> {
    const id = peer.toString()
    const running = this.delivering.get(id)

    if (running != null) {
      return running
    }

    if ((this.counts.get(id) ?? 0) === 0) {
      return
    }

    const delivery = this.handOver(peer, options).finally(() => {
      this.delivering.delete(id)
    })
    this.delivering.set(id, delivery)
    return delivery
  }

  /**
   * Delete the hints held for `peer` whose key `keep` refuses (all of them
   * without `keep`): a slot table transition ended and the peer no longer
   * owns their slots, so it would refuse them. Returns how many went.
   */
  async drop (peer: PeerId | string, keep?: (key: Uint8Array) => boolean, options: AbortOptions = {}): Promise<number> {
    const id = peer.toString()

    if ((this.counts.get(id) ?? 0) === 0) {
      return 0
    }

    return this.exclusive(id, async () => {
      const deletes = this.init.child.batch()
      let removed = 0

      for await (const { key, value } of this.init.child.query({ prefix: `${HINTS_PREFIX}/${id}/` }, options)) {
        if (keep == null || !keep(WireRecord.decode(value).key)) {
          deletes.delete(key)
          removed++
        }
      }

      await deletes.commit(options)
      this.counts.set(id, Math.max(0, (this.counts.get(id) ?? 0) - removed))
      return removed
    })
  }

  private async handOver (peer: PeerId, options: AbortOptions): Promise<void> {
    const id = peer.toString()
    let batch: Array<{ key: Key, record: WireRecord }> = []
    let delivered = 0

    const flush = async (): Promise<void> => {
      await this.init.send(peer, batch.map(b => b.record), options)

      const sent = batch

      await this.exclusive(id, async () => {
        const deletes = this.init.child.batch()
        let removed = 0

        for (const { key, record } of sent) {
          // a newer hint written meanwhile stays for the next delivery
          const now = await this.read(key, options)

          if (now != null && compareVersions(now.version, record.version) === 0) {
            deletes.delete(key)
            removed++
          }
        }

        await deletes.commit(options)
        this.counts.set(id, Math.max(0, (this.counts.get(id) ?? 0) - removed))
        delivered += removed
      })

      batch = []
    }

    for await (const { key, value } of this.init.child.query({ prefix: `${HINTS_PREFIX}/${id}/` }, options)) {
      batch.push({ key, record: WireRecord.decode(value) })

      if (batch.length >= DELIVERY_BATCH) {
        await flush()
      }
    }

    if (batch.length > 0) {
      await flush()
    }

    this.init.log('handed %d hints over to %p', delivered, peer)
  }

  private async read (key: Key, options: AbortOptions): Promise<WireRecord | undefined> {
    try {
      return WireRecord.decode(await this.init.child.get(key, options))
    } catch (err: any) {
      if (err?.name === 'NotFoundError') {
        return undefined
      }

      throw err
    }
  }
}

function hintKey (peer: string, key: Uint8Array): Key {
  return new Key(`${HINTS_PREFIX}/${peer}${decoder.decode(key)}`, false)
}
