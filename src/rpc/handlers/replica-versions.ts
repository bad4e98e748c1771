import { GET_MANY_CHUNK } from '../../constants.js'
import { badRequest } from '../request-error.js'
import { observeCaller } from './context.js'
import type { Entry, Response } from '../../pb/message.js'
import type { HandlerContext } from '../server.js'

/**
 * The versions of at most `GET_MANY_CHUNK` keys in one answer, in request
 * order: no keys and no values, so the answer stays a fraction of the
 * request. Every key is checked before any record is read; checksums are
 * not (see `Owner.versionsOf`).
 */
export async function handleReplicaVersions (ctx: HandlerContext): Promise<Partial<Response>> {
  const clock = observeCaller(ctx)
  const { owner, req } = ctx

  if (req.keys.length > GET_MANY_CHUNK) {
    throw badRequest(`REPLICA_VERSIONS takes at most ${GET_MANY_CHUNK} keys, got ${req.keys.length}`)
  }

  const held = await owner.versionsOf(req.keys.map(bytes => owner.decodeKey(bytes)), { signal: ctx.signal, epoch: req.epoch })
  const entries: Entry[] = held.map(record => record == null
    ? { missing: true }
    : { version: record.version as Uint8Array<ArrayBuffer>, tombstone: record.tombstone, missing: false })

  return { entries, clock }
}
