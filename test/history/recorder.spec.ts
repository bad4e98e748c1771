/**
 * The history recorder: one logical clock stamps every invocation and
 * completion, errors become the outcome a checker can trust, and histories
 * recorded against real stores — a cluster over TCP, and a store that serves
 * stale reads — get the verdict they deserve.
 */
import { MemoryDatastore } from 'datastore-core'
import { Key } from 'interface-datastore'
import { NotFoundError } from 'interface-store'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createCluster } from '../utils/cluster.js'
import { checkHistory } from '../utils/history/checker.js'
import { HistoryRecorder } from '../utils/history/recorder.js'
import { SeededRandom } from '../utils/history/simulate.js'
import type { TestCluster } from '../utils/cluster.js'
import type { Datastore } from 'interface-datastore'

const enc = new TextEncoder()

/** put, get and delete of one client through `store`, recorded */
function recordedClient (h: HistoryRecorder, client: number, store: Datastore) {
  return {
    put: async (key: string, value: string) => h.record(client, key, 'put', value, async () => store.put(new Key(key), enc.encode(value))),
    get: async (key: string) => h.record(client, key, 'get', undefined, async () => store.get(new Key(key))).catch((err: any) => {
      if (err.name !== 'NotFoundError') {
        throw err
      }
    }),
    delete: async (key: string) => h.record(client, key, 'delete', undefined, async () => store.delete(new Key(key)))
  }
}

describe('HistoryRecorder', () => {
  it('stamps call and return from one strictly increasing clock and records what was read', async () => {
    const h = new HistoryRecorder()
    const c = recordedClient(h, 1, new MemoryDatastore())

    await c.get('/a')
    await c.put('/a', 'v1')
    await c.get('/a')
    await c.delete('/a')

    const history = h.history()
    expect(history).toEqual([
      { client: 1, key: '/a', op: 'get', result: null, call: 1, ret: 2, outcome: 'ok' },
      { client: 1, key: '/a', op: 'put', value: 'v1', call: 3, ret: 4, outcome: 'ok' },
      { client: 1, key: '/a', op: 'get', result: 'v1', call: 5, ret: 6, outcome: 'ok' },
      { client: 1, key: '/a', op: 'delete', call: 7, ret: 8, outcome: 'ok' }
    ])
    expect(checkHistory(history).ok).toBe(true)
  })

  it('passes results and errors through unchanged; a get that missed is a read of null', async () => {
    const h = new HistoryRecorder()
    const store = new MemoryDatastore()
    const missing = h.record('c', new Key('/none'), 'get', undefined, async () => store.get(new Key('/none')))

    await expect(missing).rejects.toThrow(NotFoundError)
    await expect(h.record('c', '/x', 'put', 'v', async () => store.put(new Key('/x'), enc.encode('v')))).resolves.toEqual(new Key('/x'))
    expect(h.history()[0]).toMatchObject({ key: '/none', op: 'get', result: null, outcome: 'ok' })
  })

  it('records an error of a write as unknown unless told it never left, and an error of a read as failed', async () => {
    const refused = new Error('refused before sending')
    const h = new HistoryRecorder({ classifyError: (err) => err === refused ? 'fail' : 'unknown' })
    const boom = async (err: Error): Promise<never> => { throw err }

    await expect(h.record(1, '/a', 'put', 'v1', async () => boom(new Error('timeout')))).rejects.toThrow('timeout')
    await expect(h.record(1, '/a', 'delete', undefined, async () => boom(refused))).rejects.toThrow(refused)
    await expect(h.record(1, '/a', 'get', undefined, async () => boom(new Error('reset')))).rejects.toThrow('reset')

    expect(h.history().map(o => `${o.op}:${o.outcome}`)).toEqual(['put:unknown', 'delete:fail', 'get:fail'])
  })

  it('overlapping operations get overlapping intervals', async () => {
    const h = new HistoryRecorder()
    let release!: () => void
    const gate = new Promise<void>(resolve => { release = resolve })
    const slow = h.record(1, '/a', 'put', 'slow', async () => gate)
    const fast = h.record(2, '/a', 'get', undefined, async () => null)

    await fast
    release()
    await slow

    const [a, b] = h.history()
    expect(a.call).toBeLessThan(b.call)
    expect(b.ret).toBeLessThan(a.ret)
  })

  it('operations still in flight appear as unknown, returning at infinity', async () => {
    const h = new HistoryRecorder()
    const write = h.begin(1, '/a', 'put', 'v1')
    h.begin(2, '/a', 'get')

    expect(h.inFlight).toBe(2)
    expect(h.history()).toEqual([
      { client: 1, key: '/a', op: 'put', value: 'v1', call: 1, ret: Infinity, outcome: 'unknown' },
      { client: 2, key: '/a', op: 'get', call: 2, ret: Infinity, outcome: 'unknown' }
    ])

    write.ok()
    expect(() => { write.unknown() }).toThrow(/completed twice/)
    expect(h.inFlight).toBe(1)
    expect(h.history()[0]).toMatchObject({ ret: 3, outcome: 'ok' })
  })

  it('catches a store that serves stale reads from a cache', async () => {
    const h = new HistoryRecorder()
    const backing = new MemoryDatastore()
    const cache = new Map<string, Uint8Array>()
    // a read-through cache that never hears of writes made elsewhere
    const caching: Pick<Datastore, 'get'> = {
      async get (key) {
        const hit = cache.get(key.toString())

        if (hit != null) {
          return hit
        }

        const value = await backing.get(key)
        cache.set(key.toString(), value)
        return value
      }
    }

    const writer = recordedClient(h, 1, backing)
    await writer.put('/a', 'v1')
    await h.record(2, '/a', 'get', undefined, async () => caching.get(new Key('/a')))
    await writer.put('/a', 'v2')
    await h.record(2, '/a', 'get', undefined, async () => caching.get(new Key('/a')))

    const result = checkHistory(h.history())
    expect(result.verdict, result.summary).toBe('violation')
    expect(result.ok ? '' : result.explanation).toContain("get by client 2 at [7,8] returned 'v1', but 'v1' had been superseded")
  })
})

describe('a history recorded against a cluster over TCP', () => {
  let cluster: TestCluster

  beforeAll(async () => {
    cluster = await createCluster({ nodes: 3, clients: 1 })
  })

  afterAll(async () => {
    await cluster?.stop()
  })

  it('is linearizable per key: 6 concurrent clients on 4 keys through every node', async () => {
    const h = new HistoryRecorder()
    const stores = [...cluster.nodes, ...cluster.clients].map(n => n.store)
    let written = 0

    await Promise.all(Array.from({ length: 6 }, async (_, client) => {
      const rng = new SeededRandom(1000 + client)
      const c = recordedClient(h, client, stores[client % stores.length])

      for (let i = 0; i < 40; i++) {
        const key = `/history/k${rng.int(0, 3)}`
        const roll = rng.next()

        if (roll < 0.5) {
          await c.get(key)
        } else if (roll < 0.9) {
          await c.put(key, `v${written++}`)
        } else {
          await c.delete(key)
        }
      }
    }))

    const history = h.history()
    const result = checkHistory(history)

    expect(history).toHaveLength(240)
    expect(history.every(o => o.outcome === 'ok')).toBe(true)
    expect(result.verdict, result.summary).toBe('linearizable')
    expect(result.stats.keys).toBe(4)
  })
})
