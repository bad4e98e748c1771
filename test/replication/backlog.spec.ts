import { MemoryDatastore } from 'datastore-core'
import { Key } from 'interface-datastore'
import { afterEach, describe, expect, it } from 'vitest'
import { createCluster } from '../utils/cluster.js'
import type { TestCluster } from '../utils/cluster.js'
import type { PeerChannel } from '../../src/rpc/client.js'
import type { PeerId } from '@libp2p/interface'
import type { Batch, Datastore, Pair } from 'interface-datastore'
import type { AbortOptions } from '@libp2p/interface'

const PUTS = 20_000
const IN_FLIGHT = 64
/** Requests the owners take in flight per stream: the backlog bound is as many waiting */
const MAX_IN_FLIGHT = 32
/** Besides writes, at most one heartbeat and one hint delivery wait on a stream at a time */
const OTHER_REQUESTS = 2

/**
 * A real store that is slow to write: every put and batch commit waits its
 * turn, one at a time, and `delay` ms more. Reads are not slowed.
 */
class SlowWrites extends MemoryDatastore {
  private turn: Promise<void> = Promise.resolve()
  private readonly delay: number

  constructor (delay: number) {
    super()
    this.delay = delay
  }

  private async slowly<T> (fn: () => T | Promise<T>): Promise<T> {
    const run = this.turn.then(async () => {
      await new Promise(resolve => setTimeout(resolve, this.delay))
      return fn()
    })
    this.turn = run.then(() => {}, () => {})
    return run
  }

  override async put (key: Key, value: Uint8Array, options?: AbortOptions): Promise<Key> {
    return this.slowly(async () => super.put(key, value, options))
  }

  override batch (): Batch {
    const puts: Array<{ key: Key, value: Uint8Array }> = []
    const deletes: Key[] = []
    return {
      put: (key, value) => { puts.push({ key, value }) },
      delete: (key) => { deletes.push(key) },
      commit: async (options?: AbortOptions) => this.slowly(async () => {
        // the store's own writes, not the slowed put(): one turn for the whole batch
        for (const { key, value } of puts) await super.put(key, value, options)
        for (const key of deletes) await super.delete(key, options)
      })
    }
  }
}

/** A child's records (raw: header, version, value) outside the reserved namespace */
async function records (local: Datastore): Promise<Map<string, string>> {
  const out = new Map<string, string>()

  for await (const { key, value } of local.query({})) {
    if (!key.toString().startsWith('/.cluster')) {
      out.set(key.toString(), Buffer.from(value).toString('hex'))
    }
  }

  return out
}

function channelOf (cluster: TestCluster, peer: PeerId): PeerChannel {
  // the client's channel to the slow owner, as its coordinator sees it
  return (cluster.clients[0].store as any).channel(peer)
}

describe('a slow owner under sustained quorum writes', () => {
  let cluster: TestCluster | undefined

  afterEach(async () => {
    await cluster?.stop()
    cluster = undefined
  }, 120_000)

  it('keeps the slow owner\'s backlog bounded, every put succeeds, and the slow owner converges', async () => {
    cluster = await createCluster({
      nodes: 3,
      clients: 1,
      replicas: 3,
      local: (index) => index === 2 ? new SlowWrites(2) : new MemoryDatastore(),
      options: {
        consistency: 'quorum',
        maxInFlightPerStream: MAX_IN_FLIGHT,
        heartbeatInterval: 300,
        antiEntropyInterval: 2000,
        requestTimeout: 30_000
      }
    })

    const client = cluster.clients[0].store
    const slow = cluster.nodes[2]
    const channel = channelOf(cluster, slow.libp2p.peerId)
    expect(channel.maxInFlight).toBe(MAX_IN_FLIGHT)

    // the streams open first: requests made while one is being dialled all wait for it, whatever the bound
    await client.put(new Key('/warm-up'), new Uint8Array(1))
    expect(channel.backlog).toBe(0)

    let maxBacklog = 0
    const sampler = setInterval(() => { maxBacklog = Math.max(maxBacklog, channel.backlog) }, 5)
    const value = new Uint8Array(64).fill(7)
    const pairs: Pair[] = Array.from({ length: PUTS }, (_, i) => ({ key: new Key(`/backlog/${i}`), value }))
    let next = 0
    let failed = 0

    try {
      await Promise.all(Array.from({ length: IN_FLIGHT }, async () => {
        while (next < pairs.length) {
          const { key, value } = pairs[next++]

          try {
            await client.put(key, value)
          } catch {
            failed++
          }

          maxBacklog = Math.max(maxBacklog, channel.backlog)
        }
      }))
    } finally {
      clearInterval(sampler)
    }

    expect(failed).toBe(0)
    // without a bound, every write the slow owner has not taken yet waits here: thousands
    expect(maxBacklog).toBeLessThanOrEqual(MAX_IN_FLIGHT + OTHER_REQUESTS)

    // the owners catch up through hints (and anti-entropy) with no manual step: the slow
    // one, and any other that was the most backlogged at some moment and was hinted too
    const children = async (): Promise<Array<Map<string, string>>> => Promise.all(cluster!.nodes.map(async n => records(n.local)))
    const converged = (held: Array<Map<string, string>>): boolean =>
      held.every(h => h.size === PUTS + 1) && client.status().peers.every(p => p.hints === 0)
    let held = await children()

    for (let waited = 0; waited < 120_000 && !converged(held); waited += 500) {
      await new Promise(resolve => setTimeout(resolve, 500))
      held = await children()
    }

    expect(held[0].size).toBe(PUTS + 1)
    expect(held[1]).toEqual(held[0])
    expect(held[2]).toEqual(held[0])
    expect(client.status().peers.every(p => p.hints === 0)).toBe(true)
  }, 240_000)
})
