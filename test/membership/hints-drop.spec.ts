/**
 * When a slot table transition ends, the hints a coordinator keeps for a
 * peer about slots the peer no longer owns are dropped (the peer would
 * refuse them, and they would be offered on every heartbeat forever).
 */

import { generateKeyPair } from '@libp2p/crypto/keys'
import { logger } from '@libp2p/logger'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { MemoryDatastore } from 'datastore-core'
import { Key } from 'interface-datastore'
import { describe, expect, it } from 'vitest'
import { HINTS_PREFIX, Hints } from '../../src/replication/hints.js'
import type { VersionedRecord } from '../../src/owner/owner.js'

const enc = new TextEncoder()

function record (key: string, n: number): VersionedRecord {
  const version = new Uint8Array(9)
  version[7] = n
  version[8] = 1
  return { key: enc.encode(key), value: Uint8Array.of(n), version, tombstone: false }
}

async function stored (child: MemoryDatastore, peer: string): Promise<string[]> {
  const out: string[] = []

  for await (const key of child.queryKeys({ prefix: `${HINTS_PREFIX}/${peer}/` })) {
    out.push(key.toString().slice(HINTS_PREFIX.length + peer.length + 1))
  }

  return out.sort()
}

describe('hints dropped at the end of a transition', () => {
  it('drops the hints a predicate refuses, for that peer only, and keeps the counts exact', async () => {
    const child = new MemoryDatastore()
    const hints = new Hints({ child, log: logger('test:hints'), send: async () => {} })
    const a = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
    const b = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))

    await hints.add(a, [record('/kept/1', 1), record('/gone/1', 2), record('/gone/2', 3)])
    await hints.add(b, [record('/gone/3', 4)])

    const dropped = await hints.drop(a, key => new TextDecoder().decode(key).startsWith('/kept/'))

    expect(dropped).toBe(2)
    expect(await stored(child, a.toString())).toEqual(['/kept/1'])
    expect(hints.held().get(a.toString())).toBe(1)
    // another peer's hints are untouched
    expect(await stored(child, b.toString())).toEqual(['/gone/3'])

    // without a predicate: all of a peer's hints (a peer that left every table)
    expect(await hints.drop(b)).toBe(1)
    expect(await stored(child, b.toString())).toEqual([])
    expect(hints.held().has(b.toString())).toBe(false)
    expect(await child.has(new Key(`${HINTS_PREFIX}/${a.toString()}/kept/1`))).toBe(true)
  })
})
