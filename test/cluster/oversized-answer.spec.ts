/**
 * An owner whose child store holds a value larger than the maximum message
 * size (written before the limit was lowered, or by another program) cannot
 * send it. The answer ends with TOO_LARGE, and the owner stops working on it,
 * rather than the query or getMany waiting forever.
 */
import all from 'it-all'
import { Key } from 'interface-datastore'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { keySlot } from '../../src/index.js'
import { createCluster } from '../utils/cluster.js'
import type { TestCluster } from '../utils/cluster.js'

const MAX = 64 * 1024

describe('an answer larger than the maximum message size', () => {
  let cluster: TestCluster
  let big: Key

  beforeAll(async () => {
    // a long requestTimeout: a hang would show as the test timing out, not as a quick UnavailableError
    cluster = await createCluster({ nodes: 2, options: { maxMessageSize: MAX, requestTimeout: 50_000 } })
    const [, owner] = cluster.nodes

    for (let i = 0; ; i++) {
      big = new Key(`/big/${i}`)
      if (cluster.table.primary(keySlot(big)).equals(owner.libp2p.peerId)) break
    }

    // straight into the owner's child: the cluster API would refuse it
    await owner.local.put(big, new Uint8Array(MAX * 2))
    await owner.local.put(new Key('/big/small'), new Uint8Array(10))
  })

  afterAll(async () => {
    await cluster?.stop()
  })

  it('fails a query through another node with TooLargeError, and the owner goes on serving', async () => {
    const caller = cluster.nodes[0].store
    const err = await all(caller.query({ prefix: '/big' })).catch(e => e)
    expect(err.name).toBe('TooLargeError')
    expect(err.message).toContain('exceeds the maximum message size')

    await caller.put(big.child(new Key('after')), new Uint8Array([1]))
    expect(await caller.get(big.child(new Key('after')))).toEqual(new Uint8Array([1]))
  }, 20_000)

  it('fails a get and a getMany of that key with TooLargeError', async () => {
    const caller = cluster.nodes[0].store
    const single = await caller.get(big).catch(e => e)
    expect(single.name).toBe('TooLargeError')
    const many = await all(caller.getMany([big])).catch(e => e)
    expect(many.name).toBe('TooLargeError')
  }, 20_000)
})
