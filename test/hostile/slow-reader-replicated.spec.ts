/**
 * A member that never reads, on a replicated table (3 owners per range over
 * the target, an honest member and the evil member): the requests only
 * members make for replication and moves ask for the most. The bulk copy of
 * a move (SLOT_ENTRIES with values, every slot), record reads
 * (REPLICA_GET_MANY) and writers' version reads (REPLICA_VERSIONS), with
 * the largest credit a caller can claim, on streams never read. The target
 * (a child process, 96 MiB of records, requestTimeout 2 s) must bound what
 * it queues for them while the honest member and client go on with quorum
 * writes and reads.
 */

import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { GET_MANY_CHUNK } from '../../src/constants.js'
import { Request } from '../../src/pb/message.js'
import { createHostileCluster, expectSurvived, underAttack } from '../utils/hostile/harness.js'
import { RawStream, requestFrames } from '../utils/hostile/raw.js'
import type { HostileCluster } from '../utils/hostile/harness.js'
import type { Key } from 'interface-datastore'

const VALUE_SIZE = 2 * 1024 * 1024
const VALUES = 48

describe('a member that never reads, on a replicated table (target in a child process)', () => {
  let cluster: HostileCluster
  let big: Key[]
  let epoch: number

  beforeAll(async () => {
    cluster = await createHostileCluster({ replicas: 3, options: { requestTimeout: 2_000 } })
    epoch = cluster.table.epoch
    big = cluster.targetKeys('big', VALUES)

    // replicated records, written at quorum by the honest member: the target and the member take them
    for (const [i, key] of big.entries()) {
      await cluster.member.store.put(key, new Uint8Array(VALUE_SIZE).fill(i))
    }
  }, 120_000)

  afterAll(async () => {
    await cluster?.stop()
  })

  const keyBytes = (key: Key): Uint8Array<ArrayBuffer> => key.uint8Array() as Uint8Array<ArrayBuffer>

  it('bulk copies of every slot with values (SLOT_ENTRIES), largest credit, on eight streams never read', async () => {
    const outcome = await underAttack(cluster, 'unread SLOT_ENTRIES with values', async () => {
      const streams = await Promise.all(Array.from({ length: 8 }, async () => RawStream.open(cluster.evilMember, cluster.target.peerId, { neverRead: true })))

      await Promise.all(streams.map(async raw => {
        await raw.send(requestFrames(Array.from({ length: 4 }, (_, i) => ({ id: i + 1, type: Request.Type.SLOT_ENTRIES, epoch, slotStart: 0, slotEnd: 16383, withValues: true, credit: 0xffffffff }))))
      }))

      return () => {
        console.log(`unread SLOT_ENTRIES: attacker streams ${streams.map(s => s.describe()).join('; ')}`)
        streams.forEach(s => { s.abort() })
      }
    })

    await expectSurvived(expect, cluster, 'unread SLOT_ENTRIES', outcome)
  })

  it('record reads (REPLICA_GET_MANY) and version reads (REPLICA_VERSIONS), never read', async () => {
    const outcome = await underAttack(cluster, 'unread REPLICA_GET_MANY/REPLICA_VERSIONS', async () => {
      const many = await RawStream.open(cluster.evilMember, cluster.target.peerId, { neverRead: true })
      const versions = await RawStream.open(cluster.evilMember, cluster.target.peerId, { neverRead: true })
      // every value 8 times over in one answer: 768 MiB
      await many.send(requestFrames([{ id: 1, type: Request.Type.REPLICA_GET_MANY, epoch, keys: Array.from({ length: 8 }, () => big.map(keyBytes)).flat(), credit: 0xffffffff }]))
      // 2,000 version reads of the most keys one may name
      const names = Array.from({ length: GET_MANY_CHUNK }, (_, i) => keyBytes(big[i % VALUES]))
      await versions.send(requestFrames(Array.from({ length: 2000 }, (_, i) => ({ id: i + 1, type: Request.Type.REPLICA_VERSIONS, epoch, keys: names }))))

      return () => {
        console.log(`unread replica reads: REPLICA_GET_MANY stream ${many.describe()}; REPLICA_VERSIONS stream ${versions.describe()}`)
        many.abort()
        versions.abort()
      }
    })

    await expectSurvived(expect, cluster, 'unread REPLICA_GET_MANY/REPLICA_VERSIONS', outcome)
  })
})
