/**
 * A query whose prefix holds a whole {hash tag} can only match keys of one
 * slot, so it asks that slot's owner alone: it answers while other owners
 * are down. (The shared Helia pin records are read this way, once per block.)
 */
import all from 'it-all'
import { Key } from 'interface-datastore'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { keySlot } from '../../src/index.js'
import { createCluster } from '../utils/cluster.js'
import type { TestCluster } from '../utils/cluster.js'

describe('a query under a hash tag', () => {
  let cluster: TestCluster

  beforeAll(async () => {
    cluster = await createCluster({ nodes: 3, options: { requestTimeout: 2_000 } })
  })

  afterAll(async () => {
    await cluster?.stop()
  })

  it('asks only the owner of the tag\'s slot, and a prefix without a whole tag still asks every owner', async () => {
    const [caller] = cluster.nodes
    const tag = Array.from({ length: 100 }, (_, i) => `t${i}`)
      .find(t => !cluster.table.primary(keySlot(`{${t}}`)).equals(caller.libp2p.peerId))!
    const owner = cluster.nodes.find(n => cluster.table.primary(keySlot(`{${tag}}`)).equals(n.libp2p.peerId))!
    const other = cluster.nodes.find(n => n !== caller && n !== owner)!
    const keys = ['/q/{' + tag + '}/a', '/q/{' + tag + '}/b', '/q/{' + tag + '}/c']

    for (const key of keys) {
      await caller.store.put(new Key(key), new Uint8Array([1]))
    }

    await other.store.stop()

    expect((await all(caller.store.queryKeys({ prefix: `/q/{${tag}}/` }))).map(String).sort()).toEqual(keys)
    expect((await all(caller.store.query({ prefix: `/q/{${tag}}` }))).length).toBe(3)
    // an open or empty tag does not pin the slot down: every owner is asked, and one is down
    await expect(all(caller.store.queryKeys({ prefix: `/q/{${tag}` }))).rejects.toHaveProperty('name', 'UnavailableError')
    await expect(all(caller.store.queryKeys({ prefix: '/q/{}' }))).rejects.toHaveProperty('name', 'UnavailableError')
  })
})
