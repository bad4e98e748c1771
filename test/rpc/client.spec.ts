/**
 * The caller's channel to one owner, over real libp2p: one caller's abort
 * never fails another's request, and request ids are never reused while an
 * answer with that id may still come.
 */
import { defaultLogger } from '@libp2p/logger'
import { Key } from 'interface-datastore'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { PROTOCOL } from '../../src/index.js'
import { Request, Response } from '../../src/pb/message.js'
import { RpcClient } from '../../src/rpc/client.js'
import { streamLimits } from '../../src/rpc/limits.js'
import { createCluster, createNode } from '../utils/cluster.js'
import type { TestCluster } from '../utils/cluster.js'
import type { Libp2p } from '@libp2p/interface'

const enc = new TextEncoder()

describe('rpc client channel', () => {
  let cluster: TestCluster
  let caller: Libp2p

  beforeAll(async () => {
    caller = await createNode()
    cluster = await createCluster({ nodes: 1, options: { clients: [caller.peerId] } })
    await caller.peerStore.merge(cluster.nodes[0].libp2p.peerId, { multiaddrs: cluster.nodes[0].libp2p.getMultiaddrs() })
  })

  afterAll(async () => {
    await cluster?.stop()
    await caller?.stop()
  })

  function client (): RpcClient {
    return new RpcClient({
      libp2p: caller,
      log: defaultLogger().forComponent('test:client'),
      limits: streamLimits({ requestTimeout: 10_000 }),
      maxOutboundStreams: 32,
      streamWindow: 64 * 1024
    })
  }

  function get (key: string): Partial<Request> {
    return { type: Request.Type.GET, epoch: cluster.table.epoch, key: new Key(key).uint8Array() as Uint8Array<ArrayBuffer> }
  }

  it('an abort during the shared dial fails only its own caller, at once', async () => {
    const owner = cluster.nodes[0]
    await owner.store.put(new Key('/dial/a'), enc.encode('a'))
    const rpc = client()

    try {
      const channel = rpc.channel(owner.libp2p.peerId)
      const controller = new AbortController()
      // both calls share one dial; the first caller gives up while it is under way
      const aborted = channel.call(get('/dial/a'), { signal: controller.signal })
      const other = channel.call(get('/dial/a'))
      controller.abort(new Error('caller gave up'))

      await expect(aborted).rejects.toThrow('caller gave up')
      const res = await other
      expect(res.status).toBe(Response.Status.OK)
      expect(new TextDecoder().decode(res.value)).toBe('a')
    } finally {
      rpc.close(new Error('test over'))
    }
  })

  it('an abort while another caller dials is not ignored', async () => {
    const owner = cluster.nodes[0]
    const rpc = client()

    try {
      const channel = rpc.channel(owner.libp2p.peerId)
      const first = channel.call(get('/dial/a'))
      const controller = new AbortController()
      const second = channel.call(get('/dial/a'), { signal: controller.signal })
      controller.abort(new Error('second gave up'))

      await expect(second).rejects.toThrow('second gave up')
      expect((await first).status).toBe(Response.Status.OK)
    } finally {
      rpc.close(new Error('test over'))
    }
  })

  it('writes requests in the order they were made, whether they waited for the dial, for room or for nothing, with or without a signal', async () => {
    const owner = cluster.nodes[0]
    const rpc = client()
    const put = (value: string): Partial<Request> => ({ type: Request.Type.PUT, epoch: cluster.table.epoch, key: new Key('/order/k').uint8Array() as Uint8Array<ArrayBuffer>, value: enc.encode(value) })

    try {
      const channel = rpc.channel(owner.libp2p.peerId)
      const calls: Array<Promise<Response>> = []

      // the first ones wait for the dial, the later ones for room among the 256 in flight
      for (let i = 0; i < 600; i++) {
        calls.push(channel.call(put(`v${i}`), i % 2 === 0 ? { signal: new AbortController().signal } : {}))
      }

      const answers = await Promise.all(calls)
      expect(answers.every(res => res.status === Response.Status.OK)).toBe(true)
      expect(new TextDecoder().decode(await owner.local.get(new Key('/order/k')))).toBe('v599')
    } finally {
      rpc.close(new Error('test over'))
    }
  })

  it('fails every request to an owner that resets each stream as it opens; none waits forever', async () => {
    // an owner that takes the protocol and drops every stream at once: the
    // requests waiting for a stream must fail, whenever the stream dies
    const rude = await createNode()
    await rude.handle(PROTOCOL, (stream) => {
      stream.abort(new Error('go away'))
    })
    await caller.peerStore.merge(rude.peerId, { multiaddrs: rude.getMultiaddrs() })
    const rpc = client()

    try {
      const channel = rpc.channel(rude.peerId)
      const results = await Promise.allSettled(Array.from({ length: 300 }, async (_, i) => channel.call(get(`/rude/${i}`))))

      expect(results.every(r => r.status === 'rejected')).toBe(true)
      expect(new Set(results.map(r => r.status === 'rejected' ? r.reason.name : ''))).toEqual(new Set(['UnavailableError']))
      // failed by the reset itself, not by waiting out requestTimeout for answers that cannot come
      expect(results.filter(r => r.status === 'rejected' && /did not answer/.test(r.reason.message))).toEqual([])
    } finally {
      rpc.close(new Error('test over'))
      await rude.stop()
    }
  })

  it('never reuses the id of a streamed answer still in flight after the ids wrap', async () => {
    const owner = cluster.nodes[0]
    // enough entries that the answer outlasts its first frame's credit
    const batch = owner.store.batch()

    for (let i = 0; i < 64; i++) {
      batch.put(new Key(`/wrap/${i}`), new Uint8Array(8 * 1024).fill(i))
    }

    await batch.commit()
    await owner.store.put(new Key('/wrap-single'), enc.encode('single'))

    const rpc = client()

    try {
      const channel = rpc.channel(owner.libp2p.peerId)
      ;(channel as any).nextId = 0xFFFFFFFF - 1
      // takes id 0xFFFFFFFF and stays open: nobody reads past its first frame
      const streamed = channel.callStreamed({ type: Request.Type.QUERY, epoch: cluster.table.epoch, prefix: '/wrap/', keysOnly: false })
      const first = await streamed.next()
      expect(first.value?.status).toBe(Response.Status.OK)

      // the ids wrap: 1, 2, ... and then 0xFFFFFFFF would come again
      ;(channel as any).nextId = 0xFFFFFFFF - 1
      const res = await channel.call(get('/wrap-single'))
      expect(res.status).toBe(Response.Status.OK)
      expect(new TextDecoder().decode(res.value)).toBe('single')

      let entries = first.value?.entries.length ?? 0

      for await (const frame of streamed) {
        entries += frame.entries.length
      }

      expect(entries).toBe(64)
    } finally {
      rpc.close(new Error('test over'))
    }
  })
})
