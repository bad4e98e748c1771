import { start, stop } from '@libp2p/interface'
import * as cborg from 'cborg'
import { BaseDatastore } from 'datastore-core/base'
import { Key } from 'interface-datastore'
import { NotFoundError } from 'interface-store'
import { base32 } from 'multiformats/bases/base32'
import { base36 } from 'multiformats/bases/base36'
import { CID } from 'multiformats/cid'
import { equals } from 'uint8arrays/equals'
import { InvalidParametersError } from '../errors.js'
import type { AbortOptions, Startable } from '@libp2p/interface'
import type { Datastore, KeyQuery, Pair, Query } from 'interface-datastore'

/**
 * The namespaces of Helia's pin set: `/pin/<cid>` holds a pin,
 * `/pinned-block/<multihash>` says which pins hold a block. Helia's GC
 * keeps a block exactly when `/pinned-block/…` exists for it.
 */
export const HELIA_PIN_NAMESPACES: readonly string[] = Object.freeze(['/pin', '/pinned-block'])

const PIN = '/pin/'
const PINNED_BLOCK = '/pinned-block/'
/** Markers of pins in progress: `/pin-pending/<cid>/<writer>`, outside Helia's namespaces */
const PENDING = '/pin-pending/'
/**
 * The field this store adds to the `/pinned-block` record it hands Helia.
 * Helia decodes the record, changes `pinCount` and `pinnedBy` and encodes the
 * same object again, so the record it writes back carries what it read: the
 * difference is exactly what this one pin operation changed.
 */
const READ = 'clusterRead'
const EMPTY = new Uint8Array(0)

/** Helia's `/pinned-block/<multihash>` record */
interface PinnedBlock {
  pinCount: number
  pinnedBy: Uint8Array[]
  [READ]?: { pinCount: number, pinnedBy: Uint8Array[] }
}

/** Options of {@link SharedPinsDatastore} */
export interface SharedPinsInit {
  /**
   * Who this node is among the nodes sharing the pin set, as it appears in
   * the pin records it writes (no `/`). Each node writes only records under
   * its own name. heliaCluster() uses the libp2p peer ID.
   *
   * @default a random name per instance
   */
  writer?: string | (() => string)
}

/**
 * A datastore for Helia that keeps the pin set in a shared store (the
 * cluster) and everything else in the node's own store.
 *
 * Keys under the shared namespaces (`/pin` and `/pinned-block` by default)
 * go to `shared`, so every Helia node on the cluster sees every pin; all
 * other keys — libp2p's peer store, the keychain holding the node's private
 * key, Helia's datastore version — stay in `own`. Queries are split the same
 * way and merged; filters, orders, offset and limit apply to the merged
 * result as for a single store.
 *
 * `/pinned-block/<multihash>` is not stored as Helia writes it. Helia reads
 * the record, changes it and writes it back, with no compare-and-swap: two
 * nodes pinning DAGs that share a block at the same time would each write
 * their own version and one pin would be lost. Instead each node keeps its
 * own record per block, `/pinned-block/{<multihash>}/<writer>` (the hash tag
 * puts every node's record for a block on one owner), listing the pins it
 * saw hold the block; nobody else writes it. A read merges every node's
 * record and keeps the pins that still exist (`/pin/<cid>`) or are being
 * made (a marker the pinning node writes before its first record and
 * deletes once Helia has written the pin). So a pin is never lost to a
 * concurrent one, an unpin only ever releases its own pin, and two nodes
 * pinning or unpinning the same CID count once.
 *
 * The shared store may be unavailable (not started yet) without affecting
 * the node's own keys: Helia and libp2p read those before the cluster is up.
 */
export class SharedPinsDatastore extends BaseDatastore implements Startable {
  /** Where this node's own keys live */
  readonly own: Datastore
  /** Where the pin set lives (the cluster) */
  readonly shared: Datastore
  /** Each shared namespace with its trailing slash, e.g. `/pin/` */
  private readonly spaces: string[]
  /** Per-node pin records, when both of Helia's pin namespaces are shared */
  private readonly records?: PinRecords

  /**
   * @param own - the node's own datastore
   * @param shared - the store shared by all nodes, normally the cluster
   * @param namespaces - the namespaces kept in `shared`
   * @param init - see {@link SharedPinsInit}
   */
  constructor (own: Datastore, shared: Datastore, namespaces: readonly string[] = HELIA_PIN_NAMESPACES, init: SharedPinsInit = {}) {
    super()

    const list: unknown[] = Array.isArray(namespaces) ? namespaces : []

    if (list.length === 0 || list.some(ns => typeof ns !== 'string' || !ns.startsWith('/') || ns.length < 2)) {
      throw new InvalidParametersError('namespaces must be a non-empty array of namespaces like "/pin"')
    }

    if (typeof init.writer === 'string' && (init.writer === '' || init.writer.includes('/'))) {
      throw new InvalidParametersError('writer must be a non-empty name without "/"')
    }

    this.own = own
    this.shared = shared
    this.spaces = namespaces.map(ns => `${new Key(ns).toString()}/`)

    if (this.spaces.includes(PIN) && this.spaces.includes(PINNED_BLOCK)) {
      const writer = init.writer ?? randomWriter()
      this.records = new PinRecords(shared, typeof writer === 'string' ? () => writer : writer)
    }
  }

  /**
   * Helia starts and stops its datastore: pass that on to the node's own
   * store, which Helia would otherwise have been given directly. The shared
   * store's lifecycle is the cluster's.
   */
  async start (): Promise<void> {
    await start(this.own)
  }

  async stop (): Promise<void> {
    await stop(this.own)
  }

  /** Whether `key` lives in the shared store */
  isShared (key: Key): boolean {
    // not Key.isAncestorOf: it compares strings, so it counts /pinx as under /pin
    const str = key.toString()
    return this.spaces.some(space => str.startsWith(space))
  }

  override async put (key: Key, val: Uint8Array, options?: AbortOptions): Promise<Key> {
    const block = this.pinnedBlockOf(key)

    if (block != null) {
      await this.records?.write(block, val, options)
      return key
    }

    await this.storeOf(key).put(key, val, options)

    const pin = this.pinOf(key)

    if (pin != null) {
      await this.records?.pinWritten(pin, options)
    }

    return key
  }

  override async get (key: Key, options?: AbortOptions): Promise<Uint8Array> {
    const block = this.pinnedBlockOf(key)

    if (block != null) {
      const record = await this.records?.read(block, options)

      if (record == null) {
        throw new NotFoundError(`${key.toString()} not found`)
      }

      return record
    }

    return this.storeOf(key).get(key, options)
  }

  override async has (key: Key, options?: AbortOptions): Promise<boolean> {
    const block = this.pinnedBlockOf(key)

    if (block != null) {
      return (await this.records?.holders(block, options) ?? []).length > 0
    }

    return this.storeOf(key).has(key, options)
  }

  override async delete (key: Key, options?: AbortOptions): Promise<void> {
    const block = this.pinnedBlockOf(key)

    if (block != null) {
      // Helia deletes the record when its last pin goes; other nodes' pins
      // may have come since it read it, so only this node's stale ones go
      await this.records?.prune(block, options)
      return
    }

    await this.storeOf(key).delete(key, options)
  }

  /** @internal BaseDatastore applies filters, orders, offset and limit on top */
  override async * _all (q: Query, options?: AbortOptions): AsyncGenerator<Pair> {
    for (const part of this.split(q.prefix)) {
      if (part.store === this.shared && this.records != null && part.prefix?.startsWith(PINNED_BLOCK) === true) {
        yield * this.records.query(part.prefix, options)
        continue
      }

      for await (const pair of part.store.query({ prefix: part.prefix }, options)) {
        if (part.store === this.own && this.isShared(pair.key)) {
          continue
        }

        yield pair
      }
    }
  }

  /** @internal */
  override async * _allKeys (q: KeyQuery, options?: AbortOptions): AsyncGenerator<Key> {
    for (const part of this.split(q.prefix)) {
      if (part.store === this.shared && this.records != null && part.prefix?.startsWith(PINNED_BLOCK) === true) {
        for await (const pair of this.records.query(part.prefix, options)) {
          yield pair.key
        }

        continue
      }

      for await (const key of part.store.queryKeys({ prefix: part.prefix }, options)) {
        if (part.store === this.own && this.isShared(key)) {
          continue
        }

        yield key
      }
    }
  }

  private storeOf (key: Key): Datastore {
    return this.isShared(key) ? this.shared : this.own
  }

  /** The multihash part of Helia's `/pinned-block/<multihash>` key, if it is one */
  private pinnedBlockOf (key: Key): string | undefined {
    return this.records == null ? undefined : lastPart(key.toString(), PINNED_BLOCK)
  }

  /** The CID part of Helia's `/pin/<cid>` key, if it is one */
  private pinOf (key: Key): string | undefined {
    return this.records == null ? undefined : lastPart(key.toString(), PIN)
  }

  /**
   * The stores, and the prefix to ask each, that can hold keys starting with
   * `prefix` (a plain string prefix, as interface-datastore queries use)
   */
  private split (prefix: string | undefined): Array<{ store: Datastore, prefix: string | undefined }> {
    const wanted = prefix ?? ''
    const spaces = this.spaces

    // entirely inside one shared namespace: only the shared store can match
    if (spaces.some(space => wanted.startsWith(space))) {
      return [{ store: this.shared, prefix }]
    }

    // the prefix may cover whole shared namespaces: ask the shared store for
    // exactly those, so it never lists its other keys (the blocks)
    const covered = spaces.filter(space => space.startsWith(wanted))

    return [
      { store: this.own, prefix },
      ...covered.map(space => ({ store: this.shared, prefix: space }))
    ]
  }
}

/**
 * The per-node records behind Helia's `/pinned-block/<multihash>` (see
 * {@link SharedPinsDatastore}). A record lists pins by their CID bytes, as
 * Helia's `pinnedBy` does. Each node writes only its own records, and loses
 * an entry only once its pin is gone, so no write undoes another's.
 */
class PinRecords {
  private readonly shared: Datastore
  private readonly writer: () => string
  /** Pins this node is making: their marker is written, or being written */
  private readonly pending: Map<string, Promise<void>>
  /** Updates of this node's record per block, one at a time */
  private readonly updates: Map<string, Promise<unknown>>

  constructor (shared: Datastore, writer: () => string) {
    this.shared = shared
    this.writer = writer
    this.pending = new Map()
    this.updates = new Map()
  }

  /** Helia's record for a block: the pins that hold it, or nothing */
  async read (block: string, options?: AbortOptions): Promise<Uint8Array | undefined> {
    const pinnedBy = await this.holders(block, options)

    if (pinnedBy.length === 0) {
      return undefined
    }

    const record: PinnedBlock = { pinCount: pinnedBy.length, pinnedBy, [READ]: { pinCount: pinnedBy.length, pinnedBy } }
    return cborg.encode(record)
  }

  /** The pins, by CID bytes, that hold a block: listed by any node and still pinned, or being pinned */
  async holders (block: string, options?: AbortOptions): Promise<Uint8Array[]> {
    const prefix = recordPrefix(block)
    const listed = new Map<string, { cid: Uint8Array, writers: string[] }>()

    for await (const { key, value } of this.shared.query({ prefix }, options)) {
      const writer = key.toString().slice(prefix.length)

      for (const cid of decodeRecord(value)) {
        const pin = pinName(cid)

        if (pin == null) {
          continue
        }

        const entry = listed.get(pin) ?? { cid, writers: [] }
        entry.writers.push(writer)
        listed.set(pin, entry)
      }
    }

    const entries = [...listed]
    const held = await Promise.all(entries.map(async ([pin, { writers }]) => this.isHeld(pin, writers, options)))

    return entries.filter((_, i) => held[i]).map(([, { cid }]) => cid)
  }

  /**
   * Helia wrote its record for a block. A pin being added shows as a CID
   * that was not in the record Helia read: add it to this node's record,
   * marked as in progress first so that GC anywhere keeps the block from
   * now on. A pin being removed lowers the count: drop this node's entries
   * for pins that no longer exist.
   */
  async write (block: string, value: Uint8Array, options?: AbortOptions): Promise<void> {
    const written = decodePinnedBlock(value)
    const read = written[READ] ?? { pinCount: 0, pinnedBy: [] }

    if (written.pinCount <= read.pinCount) {
      await this.prune(block, options)
      return
    }

    const added = written.pinnedBy.filter(cid => !read.pinnedBy.some(r => equals(r, cid)))

    for (const cid of added) {
      const pin = pinName(cid)

      if (pin != null) {
        await this.markPending(pin, options)
      }
    }

    await this.update(block, cids => {
      for (const cid of added) {
        if (!cids.some(c => equals(c, cid))) {
          cids.push(cid)
        }
      }

      return cids
    }, options)
  }

  /** Drop this node's entries for a block's pins that no longer exist */
  async prune (block: string, options?: AbortOptions): Promise<void> {
    await this.update(block, async cids => {
      const held = await Promise.all(cids.map(async cid => {
        const pin = pinName(cid)
        return pin != null && await this.isHeld(pin, [this.writer()], options)
      }))

      return cids.filter((_, i) => held[i])
    }, options)
  }

  /** Helia wrote `/pin/<cid>`: the pin is made, so its marker can go */
  async pinWritten (pin: string, options?: AbortOptions): Promise<void> {
    const marking = this.pending.get(pin)

    if (marking == null) {
      return
    }

    await marking
    await this.shared.delete(pendingKey(pin, this.writer()), options)
    this.pending.delete(pin)
  }

  /** Helia's records for every block under a `/pinned-block/…` prefix */
  async * query (prefix: string, options?: AbortOptions): AsyncGenerator<Pair> {
    // the nodes' records sit at /pinned-block/{<multihash>}/<writer>
    const rest = prefix.slice(PINNED_BLOCK.length)
    const seen = new Set<string>()

    for await (const key of this.shared.queryKeys({ prefix: `${PINNED_BLOCK}{${rest}` }, options)) {
      const block = blockOfRecord(key.toString())

      if (block == null || seen.has(block)) {
        continue
      }

      seen.add(block)
      const value = await this.read(block, options)

      if (value != null) {
        yield { key: new Key(`${PINNED_BLOCK}${block}`), value }
      }
    }
  }

  /** Whether a pin exists, or one of `writers` is making it */
  private async isHeld (pin: string, writers: string[], options?: AbortOptions): Promise<boolean> {
    // asked at once: GC and every pin update wait for this, block after block
    const found = await Promise.all([
      this.shared.has(new Key(`${PIN}${pin}`), options),
      ...writers.map(async writer => this.shared.has(pendingKey(pin, writer), options))
    ])

    return found.includes(true)
  }

  private async markPending (pin: string, options?: AbortOptions): Promise<void> {
    let marking = this.pending.get(pin)

    if (marking == null) {
      const key = pendingKey(pin, this.writer())
      marking = (async () => { await this.shared.put(key, EMPTY, options) })()
      this.pending.set(pin, marking)
      // a failed marker write is retried by the next block of the same pin
      marking.catch(() => this.pending.delete(pin))
    }

    await marking
  }

  /** Read, change and write this node's record for a block; nobody else writes it */
  private async update (block: string, change: (cids: Uint8Array[]) => Uint8Array[] | Promise<Uint8Array[]>, options?: AbortOptions): Promise<void> {
    const previous = this.updates.get(block) ?? Promise.resolve()
    const run = previous.then(async () => {
      const key = new Key(`${recordPrefix(block)}${this.writer()}`)
      let before: Uint8Array[] = []

      try {
        before = decodeRecord(await this.shared.get(key, options))
      } catch (err: any) {
        if (err.name !== 'NotFoundError') {
          throw err
        }
      }

      const after = await change([...before])

      if (after.length === before.length && after.every((cid, i) => equals(cid, before[i]))) {
        return
      }

      if (after.length === 0) {
        await this.shared.delete(key, options)
      } else {
        await this.shared.put(key, cborg.encode(after), options)
      }
    })
    const settled = run.catch(() => {})
    this.updates.set(block, settled)
    // forget the chain once nothing follows it
    void settled.then(() => {
      if (this.updates.get(block) === settled) {
        this.updates.delete(block)
      }
    })

    await run
  }
}

/** Where every node's record for a block lives: `/pinned-block/{<multihash>}/` */
function recordPrefix (block: string): string {
  return `${PINNED_BLOCK}{${block}}/`
}

function pendingKey (pin: string, writer: string): Key {
  return new Key(`${PENDING}${pin}/${writer}`)
}

/** `<multihash>` from `/pinned-block/{<multihash>}/<writer>` */
function blockOfRecord (key: string): string | undefined {
  const match = /^\/pinned-block\/\{([^/{}]+)\}\/[^/]+$/.exec(key)
  return match?.[1]
}

/** The single path segment after `prefix`, if `key` is `<prefix><segment>` */
function lastPart (key: string, prefix: string): string | undefined {
  if (!key.startsWith(prefix)) {
    return undefined
  }

  const rest = key.slice(prefix.length)
  return rest === '' || rest.includes('/') || rest.includes('{') ? undefined : rest
}

/** A pin's name in Helia's `/pin/<cid>` key: CIDv1 in base36 */
function pinName (bytes: Uint8Array): string | undefined {
  try {
    const cid = CID.decode(bytes)
    return (cid.version === 0 ? cid.toV1() : cid).toString(base36)
  } catch {
    return undefined
  }
}

function decodePinnedBlock (value: Uint8Array): PinnedBlock {
  const record: any = cborg.decode(value)

  if (typeof record?.pinCount !== 'number' || !Array.isArray(record.pinnedBy)) {
    throw new InvalidParametersError('Not a Helia /pinned-block record: expected { pinCount, pinnedBy }')
  }

  const read = record[READ]

  return {
    pinCount: record.pinCount,
    pinnedBy: (record.pinnedBy as unknown[]).filter((cid): cid is Uint8Array => cid instanceof Uint8Array),
    [READ]: typeof read?.pinCount === 'number' && Array.isArray(read.pinnedBy) ? read : undefined
  }
}

/**
 * A node's record: the CIDs of the pins it saw hold the block. One that
 * cannot be read throws rather than count as empty: Helia's GC skips a block
 * whose pin check fails, so it is kept.
 */
function decodeRecord (value: Uint8Array): Uint8Array[] {
  const cids: unknown = cborg.decode(value)

  if (!Array.isArray(cids) || cids.some(cid => !(cid instanceof Uint8Array))) {
    throw new InvalidParametersError('Not a pin record: expected a list of CIDs')
  }

  return cids
}

function randomWriter (): string {
  return base32.baseEncode(crypto.getRandomValues(new Uint8Array(10)))
}
