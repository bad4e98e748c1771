import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { describe, expect, it } from 'vitest'
import { SlotTable } from '../../src/index.js'
import { Request, Response } from '../../src/pb/message.js'
import { errorFromResponse } from '../../src/rpc/errors.js'
import { tableFromMessage, tableToMessage } from '../../src/rpc/table.js'
import type { PeerId } from '@libp2p/interface'

async function peers (n: number): Promise<PeerId[]> {
  return Promise.all(Array.from({ length: n }, async () => peerIdFromPrivateKey(await generateKeyPair('Ed25519'))))
}

describe('protocol codec', () => {
  it('round-trips requests with every field', () => {
    const req: Partial<Request> = {
      id: 4294967295,
      type: Request.Type.BATCH,
      epoch: 2 ** 40,
      key: new TextEncoder().encode('/a'),
      value: new Uint8Array([1, 2, 3]),
      puts: [{ key: new TextEncoder().encode('/b'), value: new Uint8Array([4]), missing: false }],
      keys: [new TextEncoder().encode('/c')],
      prefix: '/p',
      keysOnly: true,
      credit: 65536
    }
    const back = Request.decode(Request.encode(req))
    expect(back.id).toBe(4294967295)
    expect(back.type).toBe(Request.Type.BATCH)
    expect(back.epoch).toBe(2 ** 40)
    expect(new TextDecoder().decode(back.puts[0].key)).toBe('/b')
    expect(back.keys).toHaveLength(1)
    expect(back.prefix).toBe('/p')
    expect(back.keysOnly).toBe(true)
    expect(back.credit).toBe(65536)
  })

  it('round-trips streamed answers with missing entries and the end marker', () => {
    const res = Response.decode(Response.encode({
      id: 9,
      status: Response.Status.OK,
      entries: [{ key: new Uint8Array([47, 97]), value: new Uint8Array(0), missing: true }],
      done: true
    }))
    expect(res.entries[0].missing).toBe(true)
    expect(res.done).toBe(true)
  })

  it('refuses bytes that are not a message', () => {
    expect(() => Request.decode(Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0x0f]))).toThrow()
    expect(() => Request.decode(Uint8Array.from([0x10, 0x63]))).toThrow(/enum/)
  })

  it('carries a slot table as bytes and validates it on the way in', async () => {
    const [a, b, c] = await peers(3)
    const table = SlotTable.even([
      { id: a, addrs: ['/ip4/127.0.0.1/tcp/1'] },
      { id: b, addrs: ['/ip4/127.0.0.1/tcp/2', '/ip6/::1/tcp/2'] },
      { id: c }
    ], { epoch: 7 })
    const wire = Response.decode(Response.encode({ id: 1, status: Response.Status.MOVED, table: tableToMessage(table) }))
    expect(wire.table).toBeDefined()
    expect(tableFromMessage(wire.table!).equals(table)).toBe(true)

    const broken = tableToMessage(table)
    broken.ranges[1].owners = [new Uint8Array([1, 2, 3])]
    broken.peers[0].addrs = [new Uint8Array([0xff])]
    expect(() => tableFromMessage(broken)).toThrow(/ranges\[1\]\.owners\[0\] is not a valid peer ID; peers\[0\]\.addrs\[0\] is not a valid multiaddr/)

    const gap = tableToMessage(table)
    gap.ranges.pop()
    expect(() => tableFromMessage(gap)).toThrow(/not covered/)
  })

  it('maps every status to a typed error naming the peer', () => {
    const cases: Array<[Response.Status, string]> = [
      [Response.Status.NOT_FOUND, 'NotFoundError'],
      [Response.Status.MOVED, 'MovedError'],
      [Response.Status.UNAUTHORIZED, 'UnauthorizedError'],
      [Response.Status.TOO_LARGE, 'TooLargeError'],
      [Response.Status.BAD_REQUEST, 'BadRequestError'],
      [Response.Status.UNAVAILABLE, 'UnavailableError'],
      [Response.Status.INTERNAL, 'InternalError']
    ]

    for (const [status, name] of cases) {
      const err = errorFromResponse(Response.decode(Response.encode({ id: 1, status, message: 'because' })), 'PEER', 12)
      expect(err.name).toBe(name)
      expect(err.message).toContain('because')

      if (name !== 'NotFoundError') {
        expect(err.message).toContain('PEER')
      }
    }
  })
})
