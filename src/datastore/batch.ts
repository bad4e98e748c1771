import { PartialWriteError, UnavailableError } from '../errors.js'
import { Request, Response } from '../pb/message.js'
import { errorFromResponse } from '../rpc/errors.js'
import { local } from '../routing/router.js'
import { keySlot } from '../slots/hash.js'
import { REQUEST_OVERHEAD } from '../validate.js'
import type { DatastoreComponents } from './components.js'
import type { ConsistencyOptions } from '../replication/consistency.js'
import type { Routes } from '../routing/router.js'
import type { AbortOptions, PeerId } from '@libp2p/interface'
import type { Key, Pair } from 'interface-datastore'

/** Puts and deletes bound for one owner in one request */
export interface Share {
  /** undefined for this node */
  owner: PeerId | undefined
  puts: Pair[]
  deletes: Key[]
  /** Who failed, when not one owner (a replicated range's owners) */
  label?: string
}

/** What became of one share: written, or failed with `error` */
export interface ShareResult extends Share {
  error?: Error
}

/**
 * Apply puts and deletes: grouped by owner, each owner's group one batch of
 * its store (split into several requests only when it exceeds the maximum
 * message size; sent in order on one stream, the owner applies them in that
 * order), owners in parallel. Never throws: every share's outcome is in the
 * results, so the caller can say exactly what was written. Not atomic across
 * owners.
 */
export async function writeShares (components: DatastoreComponents, puts: Pair[], deletes: Key[], options: ConsistencyOptions, attempt = 0): Promise<ShareResult[]> {
  if (components.router.hasReplicas()) {
    return writeSplit(components, puts, deletes, options, attempt)
  }

  return writePlain(components, puts, deletes, options, attempt)
}

/**
 * Keys of replicated slots through the coordinator (W owners each), the
 * others as `writePlain` does, both at once
 */
async function writeSplit (components: DatastoreComponents, puts: Pair[], deletes: Key[], options: ConsistencyOptions, attempt: number): Promise<ShareResult[]> {
  const router = components.router
  const replicated = (key: Key): boolean => router.isReplicated(keySlot(key))
  const plainPuts = puts.filter(p => !replicated(p.key))
  const plainDeletes = deletes.filter(k => !replicated(k))
  const repPuts = plainPuts.length === puts.length ? [] : puts.filter(p => replicated(p.key))
  const repDeletes = plainDeletes.length === deletes.length ? [] : deletes.filter(k => replicated(k))

  const [plain, failed] = await Promise.all([
    plainPuts.length + plainDeletes.length > 0 ? writePlain(components, plainPuts, plainDeletes, options, attempt) : [],
    components.coordinator.writeMany(repPuts, repDeletes, options).catch((err: Error) => [...repPuts.map(p => p.key), ...repDeletes].map(key => ({ key, error: err })))
  ])

  if (failed.length === 0) {
    return [...plain, { owner: undefined, puts: repPuts, deletes: repDeletes }]
  }

  // one result per error: the keys it failed, named by the error's message
  const byError = new Map<Error, Set<string>>()

  for (const { key, error } of failed) {
    const keys = byError.get(error) ?? new Set()
    keys.add(key.toString())
    byError.set(error, keys)
  }

  const lost = new Set(failed.map(f => f.key.toString()))
  const results: ShareResult[] = [...plain, { owner: undefined, puts: repPuts.filter(p => !lost.has(p.key.toString())), deletes: repDeletes.filter(k => !lost.has(k.toString())) }]

  for (const [error, keys] of byError) {
    results.push({ owner: undefined, label: 'the owners of a replicated range', puts: repPuts.filter(p => keys.has(p.key.toString())), deletes: repDeletes.filter(k => keys.has(k.toString())), error })
  }

  return results
}

async function writePlain (components: DatastoreComponents, puts: Pair[], deletes: Key[], options: AbortOptions, attempt: number): Promise<ShareResult[]> {
  const routes = components.router.routes('write')
  const shares = group(routes, puts, deletes)
  const results = await Promise.all(shares.map(async (share) => {
    try {
      if (share.owner == null) {
        await local(components.owner.batch(share.puts, share.deletes, { signal: options.signal, epoch: routes.epoch }))
        return [share]
      }

      return await sendShare(components, routes.epoch, share as Share & { owner: PeerId }, options, attempt)
    } catch (err: any) {
      return [{ ...share, error: err }]
    }
  }))

  return results.length === 1 ? results[0] : results.flat()
}

/** One remote owner's share, in as many requests as the message size needs */
async function sendShare (components: DatastoreComponents, epoch: number, share: Share & { owner: PeerId }, options: AbortOptions, attempt: number): Promise<ShareResult[]> {
  const owner = share.owner
  const parts = splitBySize(share, components.maxMessageSize - REQUEST_OVERHEAD)
  const channel = components.router.channel(owner)
  // every request is sent before any answer is awaited: in order, on one stream
  const answers = await Promise.allSettled(parts.map(async part => channel.call({
    type: Request.Type.BATCH,
    epoch,
    puts: part.puts.map(p => ({ key: p.key.uint8Array() as Uint8Array<ArrayBuffer>, value: p.value as Uint8Array<ArrayBuffer>, missing: false })),
    keys: part.deletes.map(k => k.uint8Array() as Uint8Array<ArrayBuffer>)
  }, options)))
  const results: ShareResult[][] = []

  // redirected parts are sent again in their order
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]
    const answer = answers[i]

    try {
      if (answer.status === 'rejected') {
        throw answer.reason
      }

      const res = answer.value

      if (res.status === Response.Status.MOVED) {
        await components.router.redirect(res, owner, attempt, `A batch for peer ${owner.toString()}`, options)
        results.push(await writeShares(components, part.puts, part.deletes, options, attempt + 1))
      } else if (res.status !== Response.Status.OK) {
        results.push([{ ...part, error: errorFromResponse(res, owner.toString()) }])
      } else {
        results.push([part])
      }
    } catch (err: any) {
      results.push([{ ...part, error: err }])
    }
  }

  return results.flat()
}

/**
 * Split items by owner under `routes`, by the owners' index: no peer ID is
 * compared or stringified per key
 */
function group (routes: Routes, puts: Pair[], deletes: Key[]): Share[] {
  const byIndex: Array<Share | undefined> = new Array(routes.peers.length)
  const share = (key: Key): Share => {
    const index = routes.target(keySlot(key))
    let found = byIndex[index]

    if (found == null) {
      found = { owner: index === routes.selfIndex ? undefined : routes.peers[index], puts: [], deletes: [] }
      byIndex[index] = found
    }

    return found
  }

  for (const pair of puts) {
    share(pair.key).puts.push(pair)
  }

  for (const key of deletes) {
    share(key).deletes.push(key)
  }

  return byIndex.filter(s => s != null)
}

/**
 * Cut one owner's operations into requests that fit the maximum message
 * size, keeping their order: puts first, then deletes, as a single store's
 * batch applies them
 */
function splitBySize (share: Share, limit: number): Share[] {
  const parts: Share[] = []
  let current: Share = { owner: share.owner, puts: [], deletes: [] }
  let size = 0

  const room = (bytes: number): void => {
    if (size + bytes > limit && (current.puts.length > 0 || current.deletes.length > 0)) {
      parts.push(current)
      current = { owner: share.owner, puts: [], deletes: [] }
      size = 0
    }

    size += bytes
  }

  for (const put of share.puts) {
    room(put.key.uint8Array().byteLength + put.value.byteLength + 12)
    current.puts.push(put)
  }

  for (const key of share.deletes) {
    room(key.uint8Array().byteLength + 4)
    current.deletes.push(key)
  }

  parts.push(current)
  return parts
}

/** The failed results and their keys, the others, and how many keys those wrote */
export function outcome (results: ShareResult[]): { failed: ShareResult[], failedKeys: Key[], succeeded: ShareResult[], written: number } {
  const failed: ShareResult[] = []
  const succeeded: ShareResult[] = []
  const failedKeys: Key[] = []
  let written = 0

  for (const result of results) {
    if (result.error == null) {
      written += result.puts.length + result.deletes.length
      succeeded.push(result)
      continue
    }

    failed.push(result)

    for (const { key } of result.puts) {
      failedKeys.push(key)
    }

    failedKeys.push(...result.deletes)
  }

  return { failed, failedKeys, succeeded, written }
}

/**
 * The error for writes that failed on some owners: which owners' shares
 * failed and why, and what was written — `writtenNote` says where ("each was
 * yielded"), or the shares that were are named when given.
 */
export function partialWriteError (what: string, failed: ShareResult[], failedKeys: Key[], written: number, writtenNote: string, writtenShares: ShareResult[] = []): PartialWriteError {
  const failures = byOwner(failed).map(([name, count, error]) => `${name} (${count} key${count === 1 ? '' : 's'}): ${error?.message}`)
  const unknown = failed.some(r => r.error instanceof UnavailableError)
    ? ' An owner that did not answer may have written its share: read those keys back to know.'
    : ''
  const shares = writtenShares.length === 0
    ? ''
    : `: the share${writtenShares.length === 1 ? '' : 's'} of ${byOwner(writtenShares).map(([name, count]) => `${name} (${count} key${count === 1 ? '' : 's'})`).join(', ')}`
  const message = `${what} failed for ${failedKeys.length} key${failedKeys.length === 1 ? '' : 's'} (listed in error.failed): ${failures.join('; ')}. ` +
    `${written === 0 ? 'Nothing was written' : `${written} key${written === 1 ? ' was' : 's were'} written${writtenNote}${shares}`}.${unknown}`

  return new PartialWriteError(failed.map(r => r.error as Error), message, failedKeys, written)
}

/** Per owner named once: its name, its keys, the first error */
function byOwner (results: ShareResult[]): Array<[string, number, Error | undefined]> {
  const owners = new Map<string, [string, number, Error | undefined]>()

  for (const result of results) {
    const name = result.label ?? result.owner?.toString() ?? 'this node'
    const entry = owners.get(name) ?? [name, 0, result.error]
    entry[1] += result.puts.length + result.deletes.length
    owners.set(name, entry)
  }

  return [...owners.values()]
}
