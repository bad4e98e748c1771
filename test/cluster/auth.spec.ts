import all from 'it-all'
import { Key } from 'interface-datastore'
import { MemoryDatastore } from 'datastore-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ClusterDatastore } from '../../src/index.js'
import { createCluster, createNode, localKeys } from '../utils/cluster.js'
import type { TestCluster } from '../utils/cluster.js'
import type { Libp2p } from '@libp2p/interface'

const enc = new TextEncoder()

/**
 * Refused by every owner asked: one owner's refusal comes as it is, several
 * as a ClusterAggregateError holding each
 */
async function expectRefused (promise: Promise<unknown>): Promise<void> {
  const err = await promise.then(() => undefined, (e: any) => e)
  expect(err, 'the operation succeeded').toBeDefined()
  // several owners, or a many-key write (PartialWriteError): each owner's error
  const errors = err instanceof AggregateError ? err.errors : [err]
  expect(errors.map((e: Error) => e.name)).toEqual(errors.map(() => 'UnauthorizedError'))
}

describe('membership: who may call a data node', () => {
  let cluster: TestCluster
  let outsider: Libp2p
  let outsiderStore: ClusterDatastore
  let readOnly: Libp2p
  let readOnlyStore: ClusterDatastore
  const keys = Array.from({ length: 50 }, (_, i) => new Key(`/auth/${i}`))

  async function snapshot (): Promise<string[][]> {
    return Promise.all(cluster.nodes.map(async n => localKeys(n.local)))
  }

  beforeAll(async () => {
    outsider = await createNode()
    readOnly = await createNode()
    cluster = await createCluster({ nodes: 3, options: { clients: [{ peerId: readOnly.peerId, readOnly: true }] } })

    // the outsider has the table, so it knows whom to call, but nobody lets it in
    outsiderStore = new ClusterDatastore(outsider, new MemoryDatastore(), cluster.table)
    await outsiderStore.start()
    readOnlyStore = new ClusterDatastore(readOnly, new MemoryDatastore(), cluster.table)
    await readOnlyStore.start()

    for await (const _ of cluster.nodes[0].store.putMany(keys.map(key => ({ key, value: enc.encode(key.toString()) })))) {} // eslint-disable-line no-empty
  })

  afterAll(async () => {
    await outsiderStore?.stop()
    await readOnlyStore?.stop()
    await outsider?.stop()
    await readOnly?.stop()
    await cluster?.stop()
  })

  it('refuses a peer outside the table for every operation and changes nothing', async () => {
    const before = await snapshot()
    const key = keys[0]
    const refused = async (fn: () => Promise<unknown>): Promise<void> => {
      await expectRefused(fn())
    }

    await refused(async () => outsiderStore.get(key))
    await refused(async () => outsiderStore.has(key))
    await refused(async () => outsiderStore.put(key, enc.encode('evil')))
    await refused(async () => outsiderStore.put(new Key('/auth/new'), enc.encode('evil')))
    await refused(async () => outsiderStore.delete(key))
    await refused(async () => all(outsiderStore.putMany(keys.map(k => ({ key: k, value: enc.encode('evil') })))))
    await refused(async () => all(outsiderStore.getMany(keys)))
    await refused(async () => all(outsiderStore.deleteMany(keys)))
    await refused(async () => all(outsiderStore.query({})))
    await refused(async () => all(outsiderStore.queryKeys({ prefix: '/auth' })))
    await refused(async () => {
      const batch = outsiderStore.batch()
      batch.put(new Key('/auth/batch'), enc.encode('evil'))
      batch.delete(key)
      await batch.commit()
    })

    expect(await snapshot()).toEqual(before)
    expect(new TextDecoder().decode(await cluster.nodes[1].store.get(key))).toBe(key.toString())
  })

  it('the error says who refused and why', async () => {
    const err = await outsiderStore.get(keys[1]).catch(e => e)
    expect(err.name).toBe('UnauthorizedError')
    expect(err.message).toMatch(/neither a member of this node's slot table nor an allowed client/)
    expect(err.message).toContain(outsider.peerId.toString())
  })

  it('lets a read-only client read but not write', async () => {
    const before = await snapshot()
    expect(new TextDecoder().decode(await readOnlyStore.get(keys[2]))).toBe(keys[2].toString())
    expect(await all(readOnlyStore.getMany(keys))).toHaveLength(keys.length)
    expect((await all(readOnlyStore.queryKeys({ prefix: '/auth' }))).length).toBe(keys.length)

    await expect(readOnlyStore.put(keys[2], enc.encode('x'))).rejects.toHaveProperty('name', 'UnauthorizedError')
    await expect(readOnlyStore.delete(keys[2])).rejects.toHaveProperty('name', 'UnauthorizedError')
    await expectRefused(all(readOnlyStore.deleteMany(keys)))
    expect(await snapshot()).toEqual(before)
  })
})
