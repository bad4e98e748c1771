import { Key } from 'interface-datastore'
import { NotFoundError } from 'interface-store'
import { GET_MANY_CHUNK } from '../constants.js'
import { UnavailableError } from '../errors.js'
import { Request, Response } from '../pb/message.js'
import { encodeRequest } from '../rpc/client.js'
import { errorFromResponse } from '../rpc/errors.js'
import { RequestError } from '../rpc/request-error.js'
import { MovedAnswer, fromRefusal } from '../routing/router.js'
import { keySlot } from '../slots/hash.js'
import { REQUEST_OVERHEAD } from '../validate.js'
import { consistencyOf, required } from './consistency.js'
import { compareVersions } from './record.js'
import type { Consistency, ConsistencyOptions } from './consistency.js'
import type { HybridClock } from './clock.js'
import type { Hints } from './hints.js'
import type { FailureDetector } from '../membership/failure-detector.js'
import type { SlotFilter, VersionedRecord } from '../owner/owner.js'
import type { Record as WireRecord } from '../pb/message.js'
import type { Router } from '../routing/router.js'
import type { Ownership } from '../slots/ownership.js'
import type { SlotTable } from '../slots/table.js'
import type { AbortOptions, Logger, PeerId } from '@libp2p/interface'
import type { Pair } from 'interface-datastore'

/** A versioned value, or a tombstone, as owners hold it and the wire carries it */
export type ReplicaRecord = VersionedRecord

/** Bytes of a record on the wire besides its key and value: the version (HLC + peer ID) and field tags */
const RECORD_OVERHEAD = 64

const utf8 = new TextDecoder()
const utf8Encoder = new TextEncoder()

/** Errors that say an owner will not take the request, as opposed to could not be reached */
const REFUSALS = new Set(['UnauthorizedError', 'TooLargeError', 'BadRequestError', 'MovedError', 'InvalidParametersError'])

/** Batches of single writes in flight at once; the writes made meanwhile wait, and go as one batch (see `flush`) */
const MAX_WRITE_BATCHES = 4

/** Times a write at `one` is made again with a newer version after an owner held a newer one */
const MAX_REFUSALS = 3

/** The owner service's replica side, as the coordinator uses it for this node's share */
export interface ReplicaOwner {
  /** The record held for `key` (tombstones included), or undefined */
  getRecord(key: Key, options: AbortOptions & { epoch: number, markDamaged?: boolean }): Promise<ReplicaRecord | undefined>
  /** Apply each record unless a newer one is held; per record, the newer record held instead, or undefined when applied */
  applyRecords(records: ReplicaRecord[], options: AbortOptions & { epoch: number }): Promise<Array<ReplicaRecord | undefined>>
  /** The records of `keys` in order, undefined where none is held */
  recordsOf(keys: Key[], options: AbortOptions & { epoch: number, markDamaged?: boolean }): AsyncIterable<ReplicaRecord | undefined>
  /** The versions held for `keys` in order, undefined where none is held; checksums unchecked */
  versionsOf(keys: Key[], options: AbortOptions & { epoch: number }): Promise<Array<{ version: Uint8Array, tombstone: boolean } | undefined>>
  /** Every record under `prefix` in the slots this node owns in any position */
  queryRecords(prefix: string | undefined, keysOnly: boolean, options: AbortOptions & { epoch: number }, slots?: SlotFilter): AsyncIterable<ReplicaRecord>
}

export interface CoordinatorInit {
  self: PeerId
  /** The last write in flight under some table epoch ended (see `writingBefore`) */
  drained?(): void
  log: Logger
  owner: ReplicaOwner
  /** This node's clock: the owner service's, so local writes and answers share it */
  clock: HybridClock
  router: Router
  detector: FailureDetector
  hints: Hints
  /** The store's consistency, for operations that name none */
  consistency: Consistency
  maxMessageSize: number
}

/** A single write (put or delete) waiting to share requests with others */
interface QueuedWrite {
  key: Key
  value?: Uint8Array
  resolve(): void
  reject(err: Error): void
  /** Set once settled: an abort may settle it first */
  done: boolean
}

/** The outcome of writing records to the owners of one slot range */
interface Replicated {
  /** Per record: acknowledged by W owners */
  acked: boolean[]
  /** Per record: the newer record an owner held instead, when W was missed because of it */
  refusedBy: Array<ReplicaRecord | undefined>
  /** The owners that failed, and why */
  failures: Map<string, Error>
  moved?: MovedAnswer
}

/**
 * The coordinator of replicated slots (slot ranges with several owners): it
 * writes to every owner and acknowledges after W of them, reads from R of
 * them and repairs the ones that answered older, and keeps hints for owners
 * that missed a write. Any node coordinates the operations it is asked,
 * members and clients alike; this node's own share goes through the owner
 * service, never the network.
 */
export class Coordinator {
  private readonly init: CoordinatorInit
  private readonly selfBytes: Uint8Array
  /** Writes in flight, by the epoch of the table they were routed with */
  private readonly writing: Map<number, number>
  /** Single writes (`write`) in flight, sent or waiting to be */
  private singles: number
  /** Per consistency, the single writes waiting for the next turn of the event loop */
  private readonly waiting: Map<Consistency, QueuedWrite[]>
  private flushing?: ReturnType<typeof setImmediate>
  /** Batches of single writes in flight (see `flush`) */
  private batches: number
  /** Per key written and not versioned yet, the last of this node's writes of it (see `reserve`) */
  private readonly versioning: Map<string, Promise<void>>

  constructor (init: CoordinatorInit) {
    this.init = init
    this.versioning = new Map()
    this.batches = 0
    this.selfBytes = init.self.toMultihash().bytes
    this.writing = new Map()
    this.singles = 0
    this.waiting = new Map()
  }

  /**
   * A write routed by a table older than `epoch` is still in flight: this
   * node must not report `epoch` adopted yet (see `Layout`)
   */
  writingBefore (epoch: number): boolean {
    for (const [at, count] of this.writing) {
      if (at < epoch && count > 0) {
        return true
      }
    }

    return false
  }

  /** The store's consistency, or the operation's */
  level (options?: ConsistencyOptions): Consistency {
    return consistencyOf(options?.consistency, this.init.consistency)
  }

  /**
   * Store `value` under `key` (a tombstone when undefined) on W owners.
   *
   * Alone, a write is sent at once. While other single writes are in flight
   * it waits for the end of the event loop's turn, and the writes gathered
   * by then share one REPLICA_WRITE per owner and slot range, each record
   * with its own version, taken in the order the writes were made (so a
   * later write of a key still wins) and each acknowledged on its own: under
   * many writes in flight, owners and caller handle a request for several
   * records instead of one per record. Aborting `options.signal` rejects the
   * write; one already sent may still be applied, as for any write.
   */
  async write (key: Key, value: Uint8Array | undefined, options: ConsistencyOptions = {}): Promise<void> {
    options.signal?.throwIfAborted()
    this.singles++

    try {
      if (this.singles === 1) {
        const failed = await this.writeOps([{ key, value }], options)

        if (failed.length > 0) {
          throw failed[0].error
        }

        return
      }

      await this.queue(key, value, options)
    } finally {
      this.singles--
    }
  }

  /**
   * Puts and deletes on W owners each, ranges in parallel; every key is
   * written with one version. Never throws for an owner's failure: returns
   * the keys whose write was not acknowledged, each with its error.
   */
  async writeMany (puts: Pair[], deletes: Key[], options: ConsistencyOptions = {}): Promise<Array<{ key: Key, error: Error }>> {
    // puts, then deletes: the order a single store's batch applies them in
    return this.writeOps([...puts, ...deletes.map(key => ({ key }))], options)
  }

  /** Wait for the next turn of the event loop, and be written with the writes gathered by then */
  private async queue (key: Key, value: Uint8Array | undefined, options: ConsistencyOptions): Promise<void> {
    const level = this.level(options)

    await new Promise<void>((resolve, reject) => {
      const signal = options.signal
      const onAbort = (): void => { op.reject(signal?.reason) }
      const op: QueuedWrite = {
        key,
        value,
        done: false,
        resolve: () => {
          if (!op.done) {
            op.done = true
            signal?.removeEventListener('abort', onAbort)
            resolve()
          }
        },
        reject: (err) => {
          if (!op.done) {
            op.done = true
            signal?.removeEventListener('abort', onAbort)
            reject(err)
          }
        }
      }

      signal?.addEventListener('abort', onAbort, { once: true })
      const ops = this.waiting.get(level)

      if (ops == null) {
        this.waiting.set(level, [op])
      } else {
        ops.push(op)
      }

      this.flushing ??= setImmediate(() => { this.flush() })
    })
  }

  /**
   * Send the writes gathered, one batch per consistency level. While
   * `MAX_WRITE_BATCHES` batches are in flight the writes wait for one of
   * them to end, and go in one batch then: under many writes in flight,
   * fewer and larger requests (each a version read and a write per owner)
   * instead of one pair of requests per handful of writes.
   */
  private flush (): void {
    this.flushing = undefined

    if (this.batches >= MAX_WRITE_BATCHES) {
      return
    }

    const batches = [...this.waiting]
    this.waiting.clear()

    for (const [level, queued] of batches) {
      // an aborted write is not sent
      const ops = queued.filter(op => !op.done)

      if (ops.length === 0) {
        continue
      }

      this.batches++
      const sent = this.writeOps(ops, { consistency: level })

      sent.finally(() => {
        this.batches--

        if (this.waiting.size > 0) {
          this.flushing ??= setImmediate(() => { this.flush() })
        }
      }).catch(() => {})

      sent.then(failed => {
        const errors = new Map(failed.map(f => [f.key.toString(), f.error]))

        for (const op of ops) {
          const err = errors.get(op.key.toString())

          if (err == null) {
            op.resolve()
          } else {
            op.reject(err)
          }
        }
      }, (err: Error) => {
        for (const op of ops) {
          op.reject(err)
        }
      })
    }
  }

  /**
   * Writes (a tombstone where there is no value) on W owners each; the last
   * write of a key in `ops` is the one made. Returns the keys whose write was
   * not acknowledged, each with its error.
   */
  private async writeOps (ops: Array<{ key: Key, value?: Uint8Array }>, options: ConsistencyOptions): Promise<Array<{ key: Key, error: Error }>> {
    const epoch = this.ownership().table.epoch
    this.writing.set(epoch, (this.writing.get(epoch) ?? 0) + 1)

    try {
      return await this.writeAttempt(ops, options, 0)
    } finally {
      const left = (this.writing.get(epoch) ?? 1) - 1

      if (left === 0) {
        this.writing.delete(epoch)
        this.init.drained?.()
      } else {
        this.writing.set(epoch, left)
      }
    }
  }

  /**
   * A place in the order this node's writes of `keys` are versioned in:
   * `after` settles once every earlier write of any of them took its
   * versions, and `done` says this one took its own. A write whose version
   * read ends first still waits for an earlier write of the same key, so a
   * later write of a key wins, as in a single store.
   */
  private reserve (keys: string[]): { after?: Promise<unknown>, done(): void } {
    let taken!: () => void
    const mine = new Promise<void>(resolve => { taken = resolve })
    const earlier = new Set<Promise<void>>()

    for (const key of keys) {
      const before = this.versioning.get(key)

      if (before != null) {
        earlier.add(before)
      }

      this.versioning.set(key, mine)
    }

    let over = false

    return {
      after: earlier.size === 0 ? undefined : Promise.all(earlier),
      done: () => {
        if (over) {
          return
        }

        over = true

        for (const key of keys) {
          if (this.versioning.get(key) === mine) {
            this.versioning.delete(key)
          }
        }

        taken()
      }
    }
  }

  /**
   * The first phase of a write at quorum or all (the multi-writer ABD
   * register): read the versions `keys` have on a quorum of owners and
   * advance this node's clock past them, so the versions written next are
   * above that of every write acknowledged before this one began (its W
   * owners and this quorum share an owner). An owner that then refuses the
   * write because it holds a newer version holds a write concurrent with
   * this one: the write is acknowledged, ordered just before it.
   *
   * Without this phase, a write refused for a newer version held could only
   * be made again with a version above it, and that is wrong when its first
   * version was already read on the owners that took it: the write would
   * come back over a newer acknowledged one (a lost update), or, when it is
   * acknowledged as refused instead, a writer whose clock is behind would
   * lose its write to one acknowledged before it began.
   */
  private async versionRead (keys: Key[], options: ConsistencyOptions): Promise<void> {
    const held = await this.readMany(keys, { signal: options.signal, consistency: 'quorum' }, 0, true)

    for (const record of held) {
      if (record != null) {
        this.init.clock.observe(record.version)
      }
    }
  }

  private async writeAttempt (ops: Array<{ key: Key, value?: Uint8Array }>, options: ConsistencyOptions, attempt: number): Promise<Array<{ key: Key, error: Error }>> {
    const level = this.level(options)
    const ownership = this.ownership()
    const epoch = ownership.table.epoch
    // later operations on a key win
    const last = new Map<string, { key: Key, value?: Uint8Array }>()

    for (const op of ops) {
      last.set(op.key.toString(), op)
    }

    const groups = groupBySets(this.init.router, [...last.values()], op => op.key)
    const failed: Array<{ key: Key, error: Error }> = []
    let moved: MovedAnswer | undefined
    const retry: Array<{ key: Key, value?: Uint8Array }> = []
    // routed by a table this node has replaced since: routed again by the new one
    const stale: Array<{ key: Key, value?: Uint8Array }> = []

    const parts = groups.flatMap(({ sets, items }) => this.splitBySize(items).map(part => ({ sets, items: part })))

    await Promise.all(parts.map(async ({ sets, items }) => {
      let pending = items
      const owners = union(sets)
      const w = Math.max(...sets.map(set => required(set.length, level)))
      // at quorum and all: versions above every version a quorum holds (see `versionRead`)
      const linearizable = level !== 'one'
      // taken before anything is awaited: this node's writes of a key get versions in the order they were made
      const turn = this.reserve(items.map(op => op.key.toString()))

      try {
        if (linearizable) {
          await this.versionRead(items.map(op => op.key), options)
        }

        await turn.after
      } catch (err: any) {
        turn.done()
        options.signal?.throwIfAborted()
        failed.push(...items.map(op => ({ key: op.key, error: err })))
        return
      }

      // this node moved to a newer table meanwhile: its owners (this node's own share too) refuse the old epoch
      if (this.ownership().table.epoch !== epoch) {
        turn.done()
        stale.push(...items)
        return
      }

      for (let refusals = 0; pending.length > 0; refusals++) {
        let records: ReplicaRecord[]

        try {
          records = pending.map(op => this.record(op.key, op.value))
        } finally {
          // versioned (or failed to be): later writes of these keys may take their versions
          turn.done()
        }

        const slot = keySlot(pending[0].key)
        const result = await this.replicate(sets, level, records, epoch, slot, options, linearizable)

        if (result.moved != null) {
          moved ??= result.moved
          retry.push(...pending)
          return
        }

        const again: typeof pending = []

        pending.forEach((op, i) => {
          if (result.acked[i]) {
            return
          }

          const newer = result.refusedBy[i]

          if (newer != null && refusals < MAX_REFUSALS) {
            this.init.clock.observe(newer.version)
            again.push(op)
            return
          }

          failed.push({ key: op.key, error: this.unavailable(owners, w, level, result.failures, slot, newer != null) })
        })

        pending = again
      }
    }))

    if (stale.length > 0) {
      failed.push(...await this.writeAttempt(stale, options, attempt))
    }

    if (moved != null) {
      try {
        await this.init.router.redirect(moved.res, moved.peer, attempt, 'A replicated write', options)
      } catch (err: any) {
        return [...failed, ...retry.map(op => ({ key: op.key, error: err }))]
      }

      return [...failed, ...await this.writeAttempt(retry, options, attempt + 1)]
    }

    return failed
  }

  /**
   * The newest record of `key` among R owners, repaired onto those that
   * answered older before it is returned; undefined when none holds one
   */
  async read (key: Key, options: ConsistencyOptions = {}): Promise<ReplicaRecord | undefined> {
    const found = await this.readMany([key], options)
    return found[0]
  }

  /** `read` for the value: a tombstone or no record is a `NotFoundError` */
  async get (key: Key, options: ConsistencyOptions = {}): Promise<Uint8Array> {
    const record = await this.read(key, options)

    if (record == null || record.tombstone) {
      throw new NotFoundError(`Not Found: ${key.toString()}`)
    }

    return record.value ?? new Uint8Array(0)
  }

  async has (key: Key, options: ConsistencyOptions = {}): Promise<boolean> {
    const record = await this.read(key, options)
    return record != null && !record.tombstone
  }

  /**
   * The newest record of each key (in order) among R owners of its slot,
   * ranges in parallel, owners that answered older repaired first
   */
  async readMany (keys: Key[], options: ConsistencyOptions = {}, attempt = 0, versionsOnly = false): Promise<Array<ReplicaRecord | undefined>> {
    const level = this.level(options)
    const epoch = this.ownership().table.epoch
    // during a transition: the old owners until the new ones copied their slots
    const ownership = this.init.router.readOwnership()
    const out: Array<ReplicaRecord | undefined> = new Array(keys.length)
    const groups = groupByOwners(ownership, keys.map((key, index) => ({ key, index })), item => item.key)
    let moved: MovedAnswer | undefined

    await Promise.all([...groups.values()].map(async ({ owners, items }) => {
      const r = required(owners.length, level)
      const groupKeys = items.map(item => item.key)
      const slot = keySlot(groupKeys[0])
      const answers: Array<{ peer: PeerId, records: Array<ReplicaRecord | undefined> }> = []
      const failures = new Map<string, Error>()
      const order = this.preference(owners)
      let next = 0
      // owners left that askers giving up on a suspected owner counted on and have not taken yet: when
      // several owners are suspected in one tick, each asker must count on a different one
      let promised = 0
      // requests of owners that failed or were given up on, for their late answers
      const given: Array<{ peer: PeerId, answer: Promise<Array<ReplicaRecord | undefined>> }> = []

      // ask R owners; each failure makes room to ask the next one
      const ask = async (): Promise<void> => {
        let counted = false
        const another = (): boolean => {
          if (next + promised < order.length) {
            promised++
            counted = true
            return true
          }

          return false
        }

        while (next < order.length) {
          const peer = order[next++]

          if (counted) {
            promised--
            counted = false
          }

          const answer = this.fetch(peer, groupKeys, epoch, slot, options, versionsOnly)

          try {
            const records = await this.orOnSuspicion(peer, answer, another, options)
            answers.push({ peer, records })

            // a damaged copy (this node's own, see Owner) is no answer: ask one owner more; read repair rewrites it
            if (!records.some(record => record?.damaged === true)) {
              return
            }
          } catch (err: any) {
            if (err instanceof MovedAnswer) {
              moved ??= err
              return
            }

            options.signal?.throwIfAborted()
            failures.set(peer.toString(), err)
            given.push({ peer, answer })
          }
        }
      }

      await Promise.all(Array.from({ length: r }, ask))

      // an owner given up on when it was suspected still runs the request (suspicion can be wrong
      // under load): when the owners asked instead failed too, its late answer counts
      for (const { peer, answer } of given) {
        if (answers.length >= r || moved != null) {
          break
        }

        try {
          answers.push({ peer, records: await answer })
          failures.delete(peer.toString())
        } catch {
          // failed after all: its first error stays in `failures`
        }
      }

      if (moved != null) {
        return
      }

      if (answers.length < r) {
        throw this.unavailable(owners, r, level, failures, slot, false)
      }

      if (versionsOnly) {
        // records without their values: nothing to repair with
        items.forEach((item, i) => {
          out[item.index] = newestOf(answers, i)
        })
        return
      }

      const stale = new Map<string, { peer: PeerId, records: ReplicaRecord[] }>()

      items.forEach((item, i) => {
        const newest = newestOf(answers, i)
        out[item.index] = newest

        if (newest == null) {
          return
        }

        for (const answer of answers) {
          const record = answer.records[i]

          if (record == null || record.damaged === true || compareVersions(record.version, newest.version) < 0) {
            const entry = stale.get(answer.peer.toString()) ?? { peer: answer.peer, records: [] }
            entry.records.push(newest)
            stale.set(answer.peer.toString(), entry)
          }
        }
      })

      // read repair: the newest version is on R owners before anyone is told of it
      await Promise.all([...stale.values()].map(async ({ peer, records }) => {
        try {
          await this.send(peer, records, epoch, slot, options)
        } catch (err: any) {
          this.init.log('read repair of %d records on %p failed, hinted - %e', records.length, peer, err)
          await this.hint(peer, records, err)
        }
      }))
    }))

    if (moved != null) {
      await this.init.router.redirect(moved.res, moved.peer, attempt, 'A replicated read', options)
      return this.readMany(keys, options, attempt + 1, versionsOnly)
    }

    return out
  }

  /**
   * The value of `key` from the first owner that holds one `accept` takes,
   * asking the owners one after the other (this node first, then owners up,
   * then those suspected down): a read at consistency `one` that falls
   * through a miss, a failure or a value refused (a block whose hash does not
   * match) to the next owner. NotFoundError when every owner answered
   * without one; UnavailableError when some could not answer.
   */
  async first (key: Key, accept: (value: Uint8Array) => boolean | Promise<boolean>, options: AbortOptions = {}): Promise<Uint8Array> {
    const epoch = this.ownership().table.epoch
    const ownership = this.init.router.readOwnership()
    const slot = keySlot(key)
    const owners = ownership.table.owners(slot)
    const failures = new Map<string, Error>()

    for (const peer of this.preference(owners)) {
      let record: ReplicaRecord | undefined

      try {
        [record] = await this.fetch(peer, [key], epoch, slot, options)
      } catch (err: any) {
        options.signal?.throwIfAborted()
        failures.set(peer.toString(), err instanceof MovedAnswer ? errorFromResponse(err.res, peer.toString(), slot) : err)
        continue
      }

      if (record != null && record.damaged !== true && !record.tombstone && await accept(record.value ?? new Uint8Array(0))) {
        return record.value ?? new Uint8Array(0)
      }
    }

    if (failures.size > 0) {
      throw this.unavailable(owners, 1, 'one', failures, slot, false)
    }

    throw new NotFoundError(`Not Found: ${key.toString()}`)
  }

  /**
   * Hand `records` to `peer` with their own versions (hinted handoff, read
   * repair): resolves once it holds each of them or a newer one
   */
  async handOver (peer: PeerId, records: ReplicaRecord[], options: AbortOptions = {}): Promise<void> {
    await this.send(peer, records, this.ownership().table.epoch, undefined, options)
  }

  /**
   * Every record under `prefix` at its newest version among the owners a
   * slot needs, tombstones dropped. Fails naming the slots left with fewer
   * than R owners answering, before anything is yielded.
   *
   * In two passes, so the query holds keys and versions, never the values:
   * first the keys and versions of every owner asked (merged per key,
   * newest wins); then the values from one owner per range, streamed
   * through as they come, each record yielded when it is the newest version
   * found. The keys that owner lacked or held older (a replica behind, a
   * damaged copy), or could not send, are read by key last, at the query's
   * consistency (repairing the owners behind). A key written between the
   * passes may show at its newer version or not at all, as a query is no
   * snapshot.
   */
  async * query (prefix: string | undefined, keysOnly: boolean, options: ConsistencyOptions = {}, attempt = 0): AsyncGenerator<ReplicaRecord> {
    const level = this.level(options)
    // during a move, the old owners until the new ones copied their slots; asked by the old
    // table's epoch, so one that retired it since (and dropped what it gave away) refuses
    // instead of answering for slots it no longer holds
    const ownership = this.init.router.readOwnership()
    const table = ownership.table
    const epoch = table.epoch
    const peers = distinctOwners(ownership)
    // per key, the newest version found, as a string of its bytes (a Uint8Array per key would cost several
    // times the key; a view of the answer's frame would keep the frame whole), and the keys it deletes
    const newest = new Map<string, string>()
    const deleted = new Set<string>()
    const failures = new Map<string, Error>()
    let moved: MovedAnswer | undefined

    this.init.log('query of prefix %s at consistency %s over %d owners', prefix ?? '/', level, peers.length)

    // an owner suspected down is asked only when its slots would be short of R without it
    const suspected = new Set(peers.filter(p => this.init.detector.isSuspected(p)).map(p => p.toString()))
    const shortWithout = table.ranges.some(range => range.owners.filter(o => !suspected.has(o.toString())).length < required(range.owners.length, level))
    const asked = shortWithout ? peers : peers.filter(p => !suspected.has(p.toString()))

    await Promise.all(asked.map(async (peer) => {
      try {
        for await (const record of this.queryOwner(peer, prefix, true, epoch, options, undefined, true)) {
          const id = utf8.decode(record.key)
          const held = newest.get(id)
          const version = versionString(record.version)

          if (held == null || version > held) {
            newest.set(id, version)

            if (record.tombstone) {
              deleted.add(id)
            } else if (held != null) {
              deleted.delete(id)
            }
          }
        }
      } catch (err: any) {
        if (err instanceof MovedAnswer) {
          moved ??= err
          return
        }

        options.signal?.throwIfAborted()
        failures.set(peer.toString(), err)
      }
    }))

    if (moved != null) {
      // what this attempt gathered is not held while the next one runs
      newest.clear()
      deleted.clear()
      await this.init.router.redirect(moved.res, moved.peer, attempt, 'The query', options)
      yield * this.query(prefix, keysOnly, options, attempt + 1)
      return
    }

    const answered = new Set(asked.map(p => p.toString()).filter(p => !failures.has(p)))
    const short = table.ranges.filter(range => range.owners.filter(o => answered.has(o.toString())).length < required(range.owners.length, level))

    if (short.length > 0) {
      const slots = short.map(r => r.start === r.end ? `${r.start}` : `${r.start}-${r.end}`).join(', ')
      const why = [...failures].map(([peer, err]) => `${peer}: ${err.message}`).join('; ')
      throw new UnavailableError(`The query at consistency ${level} could not reach enough owners of slots ${slots} (${why || 'owners suspected down'}); results would be incomplete`, { peer: failures.keys().next().value })
    }

    // deleted keys: nothing to yield (a value of theirs met next is older, or written since: skipped alike)
    for (const id of deleted) {
      newest.delete(id)
    }

    deleted.clear()

    if (keysOnly) {
      for (const [id, version] of newest) {
        options.signal?.throwIfAborted()
        yield { key: utf8Encoder.encode(id), version: versionBytes(version), tombstone: false }
      }

      return
    }

    // the values: each range from one owner that answered (this node first when it owns it)
    for (const { peer, slots } of valueSources(table, owners => this.preference(owners).find(o => answered.has(o.toString())))) {
      try {
        for await (const record of this.queryOwner(peer, prefix, false, epoch, options, slots)) {
          const id = utf8.decode(record.key)
          const held = newest.get(id)

          if (held == null || versionString(record.version) < held) {
            continue
          }

          newest.delete(id)

          if (!record.tombstone) {
            yield record
          }
        }
      } catch (err: any) {
        options.signal?.throwIfAborted()
        this.init.log('query: %p did not send all the values asked for, the rest are read by key - %e', peer, err)
      }
    }

    // what the owners asked lacked, held older or did not send
    const left = [...newest.keys()]
    newest.clear()

    for (let i = 0; i < left.length; i += GET_MANY_CHUNK) {
      const records = await this.readMany(left.slice(i, i + GET_MANY_CHUNK).map(id => new Key(id)), options)

      for (const record of records) {
        if (record != null && !record.tombstone) {
          yield record
        }
      }
    }
  }

  /** Cut writes into parts that each fit one REPLICA_WRITE */
  private splitBySize<T extends { key: Key, value?: Uint8Array }> (items: T[]): T[][] {
    const limit = this.init.maxMessageSize - REQUEST_OVERHEAD
    const parts: T[][] = [[]]
    let size = 0

    for (const item of items) {
      const bytes = item.key.uint8Array().byteLength + (item.value?.byteLength ?? 0) + RECORD_OVERHEAD

      if (size + bytes > limit && parts[parts.length - 1].length > 0) {
        parts.push([])
        size = 0
      }

      size += bytes
      parts[parts.length - 1].push(item)
    }

    return parts
  }

  /**
   * `answer`, unless `peer` is suspected down first while `another` owner is
   * left to ask: a read then asks it instead of waiting out the request
   * timeout on one that stopped answering (the request itself runs on)
   */
  private async orOnSuspicion<T> (peer: PeerId, answer: Promise<T>, another: () => boolean, options: AbortOptions): Promise<T> {
    // an owner already suspected is asked only when no other is left: its
    // answer is the last hope (suspicion may be wrong under load), so wait for it
    if (peer.equals(this.init.self) || this.init.detector.isSuspected(peer)) {
      return answer
    }

    let forget = (): void => {}
    const suspected = new Promise<void>(resolve => { forget = this.init.detector.onSuspected(peer, resolve) })
    answer.catch(() => {})

    try {
      return await Promise.race([
        answer,
        suspected.then(async () => {
          if (options.signal?.aborted === true || !another()) {
            // no other owner to ask: this one's answer, late or not, is all there is
            return answer
          }

          throw new UnavailableError(`Peer ${peer.toString()} is suspected down: no answer to its heartbeats`, { peer: peer.toString() })
        })
      ])
    } finally {
      forget()
    }
  }

  /**
   * Owners in the order reads ask them: this node, then owners up (those
   * whose stream has no backlog first), then those suspected down
   */
  private preference (owners: readonly PeerId[]): PeerId[] {
    const self = owners.filter(o => o.equals(this.init.self))
    const up = owners.filter(o => !o.equals(this.init.self) && !this.init.detector.isSuspected(o))
      .map(o => ({ o, congested: this.congested(o) ? 1 : 0 }))
      .sort((a, b) => a.congested - b.congested)
      .map(({ o }) => o)
    const down = owners.filter(o => !o.equals(this.init.self) && this.init.detector.isSuspected(o))
    return [...self, ...up, ...down]
  }

  private record (key: Key, value: Uint8Array | undefined): ReplicaRecord {
    return {
      key: key.uint8Array(),
      value: value,
      version: this.init.clock.version(),
      tombstone: value == null
    }
  }

  /**
   * Write `records` (all of one slot range) to its owners and settle as soon
   * as each record is acknowledged by `w` owners or cannot be. Owners
   * suspected down are not waited for (unless W needs them): they, and
   * owners that fail after the acknowledgement, get hints for the records
   * acknowledged.
   *
   * An owner whose stream already has a backlog (more requests waiting for
   * room than it takes in flight) is not written to either while the other
   * owners can make W: its write would only wait in memory behind the others,
   * and under sustained load that backlog grows without bound. It gets a
   * durable hint once W is met instead (handed over on its next heartbeat,
   * one batch at a time). When W needs it after all, it is written to and
   * waited for, as any owner.
   */
  private async replicate (sets: Array<readonly PeerId[]>, level: Consistency, records: ReplicaRecord[], epoch: number, slot: number, options: AbortOptions, newerAcks = false): Promise<Replicated> {
    // during a transition a record is acknowledged only with W owners of each
    // owner set (old and new table); an owner in both counts in both
    // the tables are distinct objects: peers compare by ID string here
    const owners = union(sets)
    const ids = sets.map(set => new Set(set.map(o => o.toString())))
    const ws = sets.map(set => required(set.length, level))
    const suspected = new Set(owners.filter(o => !o.equals(this.init.self) && this.init.detector.isSuspected(o)).map(o => o.toString()))
    const targeted = new Set(sets.flatMap((set, s) => {
      const up = set.filter(o => !suspected.has(o.toString()))
      return (up.length >= ws[s] ? up : set).map(o => o.toString())
    }))
    const targets = owners.filter(o => targeted.has(o.toString()))
    // suspected owners not written to while the others can make W: written after all if they cannot (one of them failed)
    const skipped = owners.filter(o => !targeted.has(o.toString()))
    const inSets = (peer: PeerId): number[] => ids.flatMap((set, s) => set.has(peer.toString()) ? [s] : [])
    // the most backlogged first: as many deferred as leave W owners of each set to write to
    const congested = targets.filter(o => this.congested(o))
      .map(o => ({ o, backlog: this.init.router.channel(o).backlog }))
      .sort((a, b) => b.backlog - a.backlog)
      .map(({ o }) => o)
    const left = sets.map(set => set.filter(o => targeted.has(o.toString())).length)
    // written only if W cannot be met without them
    const deferred: PeerId[] = []

    for (const peer of congested) {
      const within = inSets(peer)

      if (within.every(s => left[s] - 1 >= ws[s])) {
        within.forEach(s => { left[s]-- })
        deferred.push(peer)
      }
    }

    const applied = sets.map(() => new Array<number>(records.length).fill(0))
    const pending = sets.map(() => 0)
    const refusedBy = new Array<ReplicaRecord | undefined>(records.length)
    const failures = new Map<string, Error>()
    let moved: MovedAnswer | undefined
    const short = (s: number, i: number): boolean => applied[s][i] < ws[s] && applied[s][i] + pending[s] < ws[s]
    const decided = (): boolean => moved != null || sets.every((_, s) => applied[s].every((count, i) => count >= ws[s] || short(s, i)))
    const acked = (): boolean[] => records.map((_, i) => sets.every((_, s) => applied[s][i] >= ws[s]))

    // owners that failed before the write was decided get their hints once it is
    const failedEarly: PeerId[] = []
    let decision: boolean[] | undefined
    // one encoding of the request for every remote owner; each call writes its own id into its copy
    let body: Uint8Array | undefined
    const encoded = (): Uint8Array => {
      if (body == null) {
        body = encodeRequest({ type: Request.Type.REPLICA_WRITE, epoch, records: records as WireRecord[], clock: this.init.clock.current })
        return body
      }

      return body.slice()
    }

    const result = await new Promise<Replicated>((resolve) => {
      const settle = (): void => {
        // a record W cannot reach without the deferred or skipped owners: write to them after all
        if (decision == null && moved == null && (deferred.length > 0 || skipped.length > 0) && sets.some((_, s) => records.some((_, i) => short(s, i)))) {
          for (const peer of [...deferred.splice(0), ...skipped.splice(0)]) {
            write(peer)
          }
        }

        if (decision == null && decided()) {
          decision = acked()
          resolve({ acked: decision, refusedBy, failures, moved })
        }
      }

      const write = (peer: PeerId): void => {
        const within = inSets(peer)
        within.forEach(s => { pending[s]++ })
        this.send(peer, records, epoch, slot, options, encoded).then(refused => {
          records.forEach((_, i) => {
            // refused for a newer write after a version read (`newerAcks`, see
            // `versionRead`), or for a later write of this node (a later
            // putMany chunk that got there first): ordered before it
            if (refused[i] == null || newerAcks || this.writtenByMe(refused[i])) {
              within.forEach(s => { applied[s][i]++ })
            } else {
              refusedBy[i] ??= refused[i]
            }
          })
        }, (err: Error) => {
          if (err instanceof MovedAnswer) {
            moved ??= err
            return
          }

          failures.set(peer.toString(), err)

          if (decision == null) {
            if (!REFUSALS.has(err.name)) {
              failedEarly.push(peer)
            }
          } else {
            // acknowledged writes this owner missed reach it later, as hints
            void this.hint(peer, records.filter((_, i) => decision?.[i] === true), err)
          }
        }).finally(() => {
          within.forEach(s => { pending[s]-- })
          settle()
        })
      }

      for (const peer of targets) {
        if (!deferred.includes(peer)) {
          write(peer)
        }
      }

      settle()
    })

    const ackedRecords = records.filter((_, i) => result.acked[i])
    // deferred owners never written to (W was met without them) get hints
    await Promise.all([...skipped, ...deferred, ...failedEarly].map(async peer => this.hint(peer, ackedRecords)))
    return result
  }

  /**
   * The owner's stream has a backlog: more requests waiting for room than
   * it takes in flight. This node's own share never waits on a stream.
   */
  private congested (peer: PeerId): boolean {
    if (peer.equals(this.init.self)) {
      return false
    }

    const channel = this.init.router.channel(peer)
    return channel.backlog >= channel.maxInFlight
  }

  private writtenByMe (record: ReplicaRecord): boolean {
    const me = this.selfBytes
    const writer = record.version.subarray(8)
    return writer.byteLength === me.byteLength && writer.every((b, i) => b === me[i])
  }

  private async hint (peer: PeerId, records: ReplicaRecord[], cause?: Error): Promise<void> {
    // an owner that refused the write itself would refuse its hint too
    if (records.length === 0 || (cause != null && REFUSALS.has(cause.name))) {
      return
    }

    try {
      await this.init.hints.add(peer, records)
    } catch (err: any) {
      this.init.log.error('could not keep hints of %d records for %p - %e', records.length, peer, err)
    }
  }

  /**
   * Write records to one owner; per record the newer record it held
   * instead, or undefined when applied. `encoded` gives the request for a
   * remote owner already encoded (see `replicate`).
   */
  private async send (peer: PeerId, records: ReplicaRecord[], epoch: number, slot: number | undefined, options: AbortOptions, encoded?: () => Uint8Array): Promise<Array<ReplicaRecord | undefined>> {
    if (peer.equals(this.init.self)) {
      try {
        return await this.init.owner.applyRecords(records, { signal: options.signal, epoch })
      } catch (err) {
        throw fromRefusal(err, slot)
      }
    }

    const res = await this.call(peer, encoded?.() ?? { type: Request.Type.REPLICA_WRITE, epoch, records: records as WireRecord[] }, slot, options)

    if (res.status !== Response.Status.OK) {
      throw errorFromResponse(res, peer.toString(), slot)
    }

    // the answer lists the newer records held instead of those refused
    const held = new Map<string, ReplicaRecord>()

    for (const record of res.records) {
      this.init.clock.observe(record.version)
      held.set(utf8.decode(record.key), record)
    }

    return records.map(r => held.size === 0 ? undefined : held.get(utf8.decode(r.key)))
  }

  /** The records of `keys` held by one owner, in order */
  private async fetch (peer: PeerId, keys: Key[], epoch: number, slot: number, options: AbortOptions, keysOnly = false): Promise<Array<ReplicaRecord | undefined>> {
    const out: Array<ReplicaRecord | undefined> = []

    if (peer.equals(this.init.self)) {
      try {
        if (keysOnly) {
          const held = await this.init.owner.versionsOf(keys, { signal: options.signal, epoch })
          return held.map((record, i) => record == null ? undefined : { key: keys[i].uint8Array(), ...record })
        }

        if (keys.length === 1) {
          return [await this.init.owner.getRecord(keys[0], { signal: options.signal, epoch, markDamaged: true })]
        }

        for await (const record of this.init.owner.recordsOf(keys, { signal: options.signal, epoch, markDamaged: true })) {
          out.push(record)
        }

        return out
      } catch (err) {
        throw fromRefusal(err, slot)
      }
    }

    if (keysOnly) {
      return this.versions(peer, keys, epoch, slot, options)
    }

    if (keys.length === 1) {
      const res = await this.call(peer, { type: Request.Type.REPLICA_GET, epoch, key: keys[0].uint8Array() as Uint8Array<ArrayBuffer> }, slot, options)

      if (res.status === Response.Status.NOT_FOUND) {
        return [undefined]
      }

      if (res.status !== Response.Status.OK) {
        throw errorFromResponse(res, peer.toString(), slot)
      }

      return [res.record]
    }

    const frames = this.init.router.channel(peer).callStreamed({
      type: Request.Type.REPLICA_GET_MANY,
      epoch,
      clock: this.init.clock.current,
      keys: keys.map(k => k.uint8Array() as Uint8Array<ArrayBuffer>)
    }, { signal: options.signal, slot })

    for await (const res of frames) {
      this.answered(peer, res)

      // anywhere in the answer (nothing of it is used before it is whole): an owner whose move
      // ended while it read ends with MOVED rather than call a key it dropped missing
      if (res.status === Response.Status.MOVED) {
        throw new MovedAnswer(res, peer)
      }

      if (res.status !== Response.Status.OK) {
        throw errorFromResponse(res, peer.toString(), slot)
      }

      for (const entry of res.entries) {
        // streamed frames carry no clock: their versions advance ours
        this.init.clock.observe(entry.version)
        const key = keys[out.length]
        out.push(entry.missing || key == null
          ? undefined
          : { key: key.uint8Array(), value: entry.value, version: entry.version ?? new Uint8Array(0), tombstone: entry.tombstone === true })
      }
    }

    if (out.length !== keys.length) {
      throw new UnavailableError(`Peer ${peer.toString()} answered ${out.length} of the ${keys.length} keys asked for`, { peer: peer.toString(), slot })
    }

    return out
  }

  /**
   * The records of `keys` held by one owner, in order, without their values:
   * REPLICA_VERSIONS of up to `GET_MANY_CHUNK` keys each, pipelined on the
   * owner's stream
   */
  private async versions (peer: PeerId, keys: Key[], epoch: number, slot: number, options: AbortOptions): Promise<Array<ReplicaRecord | undefined>> {
    const chunks: Key[][] = []

    for (let i = 0; i < keys.length; i += GET_MANY_CHUNK) {
      chunks.push(keys.slice(i, i + GET_MANY_CHUNK))
    }

    const answered = await Promise.all(chunks.map(async chunk => {
      const res = await this.call(peer, { type: Request.Type.REPLICA_VERSIONS, epoch, keys: chunk.map(k => k.uint8Array() as Uint8Array<ArrayBuffer>) }, slot, options)

      if (res.status !== Response.Status.OK) {
        throw errorFromResponse(res, peer.toString(), slot)
      }

      if (res.entries.length !== chunk.length) {
        throw new UnavailableError(`Peer ${peer.toString()} answered ${res.entries.length} of the ${chunk.length} versions asked for`, { peer: peer.toString(), slot })
      }

      // the newest of each key advances the clock in `versionRead`
      return res.entries.map((entry, j): ReplicaRecord | undefined => entry.missing || entry.version == null
        ? undefined
        : { key: chunk[j].uint8Array(), version: entry.version, tombstone: entry.tombstone === true })
    }))

    return answered.flat()
  }

  /**
   * One owner's records. A MOVED answer is thrown as `MovedAnswer` when it
   * comes first, or anywhere when `restartable` (the caller yielded nothing
   * of it yet and starts over): an owner whose move ended during its scan
   * ends its answer with MOVED, as records of the slots it gave away may be
   * missing from it.
   */
  private async * queryOwner (peer: PeerId, prefix: string | undefined, keysOnly: boolean, epoch: number, options: AbortOptions, slots?: SlotFilter, restartable = false): AsyncGenerator<ReplicaRecord> {
    if (peer.equals(this.init.self)) {
      let first = true

      try {
        for await (const record of this.init.owner.queryRecords(prefix, keysOnly, { signal: options.signal, epoch }, slots)) {
          first = false
          yield record
        }
      } catch (err) {
        if (err instanceof RequestError && err.status === Response.Status.MOVED && (first || restartable)) {
          // this node's own layout already knows the move ended: retried as it is
          throw new MovedAnswer({ status: err.status, message: err.message, epoch: this.ownership().table.epoch } as unknown as Response, peer)
        }

        throw fromRefusal(err)
      }

      return
    }

    const frames = this.init.router.channel(peer).callStreamed({
      type: Request.Type.REPLICA_QUERY,
      epoch,
      clock: this.init.clock.current,
      prefix: prefix ?? '',
      keysOnly,
      slotStart: slots?.start,
      slotEnd: slots?.end,
      slotSet: slots?.set
    }, { signal: options.signal })
    let first = true

    for await (const res of frames) {
      this.answered(peer, res)

      if (res.status === Response.Status.MOVED && (first || restartable)) {
        throw new MovedAnswer(res, peer)
      }

      if (res.status !== Response.Status.OK) {
        throw errorFromResponse(res, peer.toString())
      }

      first = false

      for (const entry of res.entries) {
        this.init.clock.observe(entry.version)
        yield { key: entry.key ?? new Uint8Array(0), value: entry.value, version: entry.version ?? new Uint8Array(0), tombstone: entry.tombstone === true }
      }
    }
  }

  /**
   * One request to a peer with this node's clock (or already encoded, with
   * it); a MOVED answer is thrown as `MovedAnswer`
   */
  private async call (peer: PeerId, req: Partial<Request> | Uint8Array, slot: number | undefined, options: AbortOptions): Promise<Response> {
    const channel = this.init.router.channel(peer)
    const res = req instanceof Uint8Array
      ? await channel.callEncoded(req, { signal: options.signal, slot })
      : await channel.call({ ...req, clock: this.init.clock.current }, { signal: options.signal, slot })
    this.answered(peer, res)

    if (res.status === Response.Status.MOVED) {
      throw new MovedAnswer(res, peer)
    }

    return res
  }

  private answered (peer: PeerId, res: Response): void {
    this.init.clock.observe(res.clock)

    this.init.detector.heard(peer)
  }

  private ownership (): Ownership {
    return this.init.router.ownership()
  }

  private unavailable (owners: readonly PeerId[], needed: number, level: Consistency, failures: Map<string, Error>, slot: number, refused: boolean): Error {
    const errors = [...failures.values()]

    // every owner refused alike (a read-only client writing, a value too
    // large): that refusal is the answer, not the owners' availability
    if (errors.length > 0 && errors.every(e => REFUSALS.has(e.name) && e.name === errors[0].name)) {
      return errors[0]
    }

    const why = [...failures].map(([peer, err]) => `${peer}: ${err.message}`).join('; ')
    const suspected = owners.filter(o => this.init.detector.isSuspected(o)).map(o => o.toString())
    const detail = [why, suspected.length > 0 ? `suspected down: ${suspected.join(', ')}` : '', refused ? 'owners kept holding newer versions written concurrently' : '']
      .filter(s => s !== '').join('; ')

    return new UnavailableError(`Slot ${slot} needs ${needed} of its ${owners.length} owners (consistency ${level}) and fewer answered (${detail})`, {
      peer: failures.keys().next().value ?? suspected[0],
      slot
    })
  }
}

/**
 * Items grouped by the owner sets their key's slot is written to (see
 * `Router.writeSets`): each group has one list of sets, one owner list per
 * table in force
 */
function groupBySets<T> (router: Router, items: T[], keyOf: (item: T) => Key): Array<{ sets: Array<readonly PeerId[]>, items: T[] }> {
  if (!router.moving()) {
    // one table in force: one owner set per range
    return [...groupByOwners(router.ownership(), items, keyOf).values()].map(({ owners, items }) => ({ sets: [owners], items }))
  }

  // a range's owner list is one array object: one group per pair of ranges, no peer ID compared per key
  const groups = new Map<readonly PeerId[], Map<readonly PeerId[] | undefined, { sets: Array<readonly PeerId[]>, items: T[] }>>()
  const out: Array<{ sets: Array<readonly PeerId[]>, items: T[] }> = []

  for (const item of items) {
    const sets = router.writeSets(keySlot(keyOf(item)))
    let inner = groups.get(sets[0])

    if (inner == null) {
      inner = new Map()
      groups.set(sets[0], inner)
    }

    let group = inner.get(sets[1])

    if (group == null) {
      group = { sets, items: [] }
      inner.set(sets[1], group)
      out.push(group)
    }

    group.items.push(item)
  }

  return out
}

/** The distinct owners of several owner sets, in order */
function union (sets: Array<readonly PeerId[]>): PeerId[] {
  if (sets.length === 1) {
    return [...sets[0]]
  }

  const seen = new Map<string, PeerId>()

  for (const set of sets) {
    for (const peer of set) {
      if (!seen.has(peer.toString())) {
        seen.set(peer.toString(), peer)
      }
    }
  }

  return [...seen.values()]
}

/**
 * Items grouped by the owners of their key's slot: ranges with the same
 * owners in another order (every range of a 3-node table with 3 replicas)
 * share a group, so a batch sends one request per owner, not one per range.
 * Each group's owner list is the first range's.
 */
function groupByOwners<T> (ownership: Ownership, items: T[], keyOf: (item: T) => Key): Map<readonly PeerId[], { owners: readonly PeerId[], items: T[] }> {
  const table = ownership.table
  // a range's owner list is one array object: its group is found once per range, no peer ID compared per key
  const byList = new Map<readonly PeerId[], { owners: readonly PeerId[], items: T[] }>()
  const bySet = new Map<string, { owners: readonly PeerId[], items: T[] }>()
  const groups = new Map<readonly PeerId[], { owners: readonly PeerId[], items: T[] }>()

  for (const item of items) {
    const owners = table.owners(keySlot(keyOf(item)))
    let group = byList.get(owners)

    if (group == null) {
      const set = owners.map(o => o.toString()).sort().join(' ')
      group = bySet.get(set)

      if (group == null) {
        group = { owners, items: [] }
        bySet.set(set, group)
        groups.set(owners, group)
      }

      byList.set(owners, group)
    }

    group.items.push(item)
  }

  return groups
}

/**
 * A version as a string of one char per byte: compact to hold per key, and
 * strings compare as `compareVersions` compares the bytes (lexicographically,
 * a prefix first)
 */
function versionString (version: Uint8Array): string {
  return String.fromCharCode(...version)
}

function versionBytes (version: string): Uint8Array {
  const out = new Uint8Array(version.length)

  for (let i = 0; i < version.length; i++) {
    out[i] = version.charCodeAt(i)
  }

  return out
}

/**
 * The owner each range's values are asked of (`pick` among its owners), with
 * the slots it is asked for: one request per owner, whatever its ranges
 */
function valueSources (table: SlotTable, pick: (owners: readonly PeerId[]) => PeerId | undefined): Array<{ peer: PeerId, slots: SlotFilter }> {
  const byPeer = new Map<string, { peer: PeerId, ranges: Array<{ start: number, end: number }> }>()

  for (const range of table.ranges) {
    const peer = pick(range.owners)

    // never undefined once every range has R >= 1 owners answering; else its keys are read by key
    if (peer != null) {
      const entry = byPeer.get(peer.toString()) ?? { peer, ranges: [] }
      entry.ranges.push(range)
      byPeer.set(peer.toString(), entry)
    }
  }

  return [...byPeer.values()].map(({ peer, ranges }) => {
    const start = ranges[0].start
    const end = ranges[ranges.length - 1].end
    const set = new Uint8Array(((end - start) >> 3) + 1)

    for (const range of ranges) {
      for (let slot = range.start; slot <= range.end; slot++) {
        set[(slot - start) >> 3] |= 1 << ((slot - start) & 7)
      }
    }

    return { peer, slots: { start, end, set } }
  })
}

/** Every peer that owns a slot in any position */
function distinctOwners (ownership: Ownership): PeerId[] {
  const seen = new Map<string, PeerId>()

  for (const range of ownership.table.ranges) {
    for (const owner of range.owners) {
      seen.set(owner.toString(), owner)
    }
  }

  return [...seen.values()]
}

/** The newest intact record among owners' answers for the key at `i` */
function newestOf (answers: ReadonlyArray<{ records: Array<ReplicaRecord | undefined> }>, i: number): ReplicaRecord | undefined {
  let newest: ReplicaRecord | undefined

  for (const { records } of answers) {
    const record = records[i]

    if (record != null && record.damaged !== true && (newest == null || compareVersions(record.version, newest.version) > 0)) {
      newest = record
    }
  }

  return newest
}
