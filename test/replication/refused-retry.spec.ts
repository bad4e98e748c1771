/**
 * A write refused by an owner that holds a newer record must not come back
 * over that record with a new version once it has been seen: found by
 * test/membership/move-history.spec.ts under load, made deterministic here
 * by holding back one writer's requests to two of three owners.
 *
 * put A (held back on owners 2 and 3, applied on owner 1) — a read at `all`
 * returns A — put B (acknowledged) — A's held requests reach owners 2 and 3,
 * which hold B: refused. Retrying A with a version above B's made a later
 * read return A: the acknowledged B, made after A was read, was lost. Writes
 * at quorum now read the owners' versions first (Coordinator.versionRead)
 * and count an owner holding a newer version as an acknowledgement.
 */

import { Key } from 'interface-datastore'
import { fromString as uint8ArrayFromString } from 'uint8arrays/from-string'
import { toString as uint8ArrayToString } from 'uint8arrays/to-string'
import { afterEach, describe, expect, it } from 'vitest'
import { createCluster } from '../utils/cluster.js'
import { checkHistory } from '../utils/history/checker.js'
import { HistoryRecorder } from '../utils/history/recorder.js'
import type { TestCluster } from '../utils/cluster.js'
import type { PeerId } from '@libp2p/interface'

type Send = (peer: PeerId, records: Array<{ value?: Uint8Array }>, ...rest: unknown[]) => Promise<unknown>

describe('a write refused by an owner holding a newer record', () => {
  let cluster: TestCluster | undefined

  afterEach(async () => {
    await cluster?.stop()
    cluster = undefined
  })

  it('does not overwrite a newer acknowledged write after it was read', async () => {
    cluster = await createCluster({ nodes: 3, clients: 2, replicas: 3, signed: true, options: { heartbeatInterval: 300, suspectAfter: 100 } })
    const [writer, other] = cluster.clients.map(c => c.store)
    const key = new Key('/refused/k')
    const recorder = new HistoryRecorder()
    const [first] = cluster.table.ownersOfKey(key)

    // the writer's requests carrying A to owners other than the first wait for `release`
    let release!: () => void
    const released = new Promise<void>(resolve => { release = resolve })
    const coordinator = (writer as unknown as { coordinator: { send: Send } }).coordinator
    const send = coordinator.send.bind(coordinator)
    coordinator.send = async (peer, records, ...rest) => {
      if (!peer.equals(first) && records.some(r => r.value != null && uint8ArrayToString(r.value) === 'A')) {
        await released
      }

      return send(peer, records, ...rest)
    }

    const putA = recorder.record('writer', key, 'put', 'A', async () => writer.put(key, uint8ArrayFromString('A')))
    await expect.poll(async () => cluster!.nodes.find(n => n.libp2p.peerId.equals(first))!.local.has(key), { timeout: 10_000 }).toBe(true)

    await recorder.record('other', key, 'get', undefined, async () => other.get(key, { consistency: 'all' }))
    await recorder.record('other', key, 'put', 'B', async () => other.put(key, uint8ArrayFromString('B')))
    release()
    await putA
    await recorder.record('other', key, 'get', undefined, async () => other.get(key, { consistency: 'all' }))

    const result = checkHistory(recorder.history())
    expect(result.ok, result.summary).toBe(true)
  })
})
