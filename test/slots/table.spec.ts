import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { Key } from 'interface-datastore'
import { describe, it, expect, beforeAll } from 'vitest'
import { SLOT_COUNT } from '../../src/constants.js'
import { InvalidSlotTableError } from '../../src/errors.js'
import { keySlot } from '../../src/slots/hash.js'
import { SlotTable, forEachRun, sameOwners } from '../../src/slots/table.js'
import type { SlotTableJSON } from '../../src/slots/table.js'
import type { PeerId } from '@libp2p/interface'

let ids: PeerId[]
let s: string[] // the same IDs as strings

beforeAll(async () => {
  ids = await Promise.all(Array.from({ length: 8 }, async () => peerIdFromPrivateKey(await generateKeyPair('Ed25519'))))
  s = ids.map(id => id.toString())
})

function addr (i: number): string {
  return `/ip4/10.0.0.${i + 1}/tcp/4001`
}

function peersJSON (n: number): SlotTableJSON['peers'] {
  return s.slice(0, n).map((id, i) => ({ id, addrs: [addr(i)] }))
}

/** A valid JSON table over three peers, to break one field at a time */
function validJSON (): SlotTableJSON {
  return {
    epoch: 3,
    ranges: [
      { start: 0, end: 5460, owners: [s[0], s[1]] },
      { start: 5461, end: 10922, owners: [s[1], s[2]] },
      { start: 10923, end: 16383, owners: [s[2], s[0]] }
    ],
    peers: peersJSON(3)
  }
}

/**
 * Runs `fn`, expects an InvalidSlotTableError and returns its problems
 */
function problemsOf (fn: () => unknown): string[] {
  try {
    fn()
  } catch (err: any) {
    expect(err).toBeInstanceOf(InvalidSlotTableError)
    expect(err.name).toBe('InvalidSlotTableError')
    expect(err.message).toContain(err.problems.join('; '))
    return err.problems
  }

  throw new Error('expected an InvalidSlotTableError, nothing was thrown')
}

/** Expects exactly these problems, in any order */
function expectProblems (json: unknown, expected: string[]): void {
  expect([...problemsOf(() => SlotTable.fromJSON(json as any))].sort()).toEqual([...expected].sort())
}

function sizes (table: SlotTable): number[] {
  return table.ranges.map(r => r.end - r.start + 1)
}

/** Slot -> owners by scanning the ranges, the slow way */
function scanOwners (table: SlotTable, slot: number): readonly PeerId[] | undefined {
  return table.ranges.find(r => r.start <= slot && slot <= r.end)?.owners
}

describe('SlotTable.even', () => {
  for (const n of [1, 2, 3, 7]) {
    it(`splits the slots over ${n} peer${n === 1 ? '' : 's'}`, () => {
      const table = SlotTable.even(ids.slice(0, n).map((id, i) => ({ id, addrs: [addr(i)] })))

      expect(table.epoch).toBe(0)
      expect(table.ranges).toHaveLength(n)
      expect(table.ranges[0].start).toBe(0)
      expect(table.ranges[n - 1].end).toBe(SLOT_COUNT - 1)

      for (let i = 1; i < n; i++) {
        expect(table.ranges[i].start).toBe(table.ranges[i - 1].end + 1)
      }

      const sz = sizes(table)
      expect(sz.reduce((a, b) => a + b, 0)).toBe(SLOT_COUNT)
      expect(Math.max(...sz) - Math.min(...sz)).toBeLessThanOrEqual(1)
      // the remainder goes to the first ranges
      expect(sz).toEqual([...sz].sort((a, b) => b - a))

      table.ranges.forEach((range, i) => {
        expect(range.owners).toHaveLength(1)
        expect(range.owners[0].equals(ids[i])).toBe(true)
        expect(table.slotCount(ids[i])).toBe(sz[i])
        expect(table.rangesOf(ids[i])).toEqual([range])
      })

      expect(table.ownerPeers().map(String)).toEqual(s.slice(0, n))
    })
  }

  it('gives 5462, 5461, 5461 slots over three peers', () => {
    const table = SlotTable.even(s.slice(0, 3).map(id => ({ id })))
    expect(table.ranges.map(r => [r.start, r.end])).toEqual([[0, 5461], [5462, 10922], [10923, 16383]])
  })

  it('takes the epoch, string IDs and string or Multiaddr addresses', () => {
    const table = SlotTable.even([
      { id: s[0], addrs: [addr(0), multiaddr(addr(10))] },
      { id: ids[1] }
    ], { epoch: 9 })

    expect(table.epoch).toBe(9)
    expect(table.peer(s[0])?.addrs.map(String)).toEqual([addr(0), addr(10)])
    expect(table.peer(ids[1])?.addrs).toEqual([])
    expect(table.primary(0).equals(ids[0])).toBe(true)
    expect(table.primary(SLOT_COUNT - 1).equals(ids[1])).toBe(true)
  })

  it('refuses no peers', () => {
    expect(() => SlotTable.even([])).toThrow(expect.objectContaining({ name: 'InvalidParametersError' }))
    expect(() => SlotTable.even([])).toThrow(/1 to 16384 peers, got 0/)
    expect(() => SlotTable.even(undefined as any)).toThrow(expect.objectContaining({ name: 'InvalidParametersError' }))
  })

  it('refuses a peer listed twice', () => {
    const problems = problemsOf(() => SlotTable.even([{ id: ids[0] }, { id: ids[1] }, { id: ids[2] }, { id: s[1] }]))
    expect(problems).toEqual([`peers[3] duplicates peer ${s[1]} (already peers[1])`])
  })

  it('refuses an invalid peer or epoch, reporting each once', () => {
    const problems = problemsOf(() => SlotTable.even([{ id: ids[0] }, { id: 'xyz' }], { epoch: -1 }))
    expect(problems.sort()).toEqual([
      'epoch must be a non-negative integer, got -1',
      'peers[1].id "xyz" is not a valid peer ID'
    ])
  })
})

describe('SlotTable.fromRanges', () => {
  it('builds a table from explicit ranges given in any order', () => {
    const table = SlotTable.fromRanges({
      epoch: 4,
      ranges: [
        { start: 100, end: 16383, owners: [ids[1], s[0]] },
        { start: 0, end: 49, owners: [s[0]] },
        { start: 50, end: 99, owners: [ids[2]] }
      ],
      peers: [{ id: ids[0] }, { id: s[1] }, { id: s[2] }, { id: s[3], addrs: [addr(3)] }]
    })

    expect(table.epoch).toBe(4)
    expect(table.ranges.map(r => [r.start, r.end])).toEqual([[0, 49], [50, 99], [100, 16383]])
    expect(table.owners(0).map(String)).toEqual([s[0]])
    expect(table.owners(100).map(String)).toEqual([s[1], s[0]])
    expect(table.primary(16383).equals(ids[1])).toBe(true)
    expect(table.rangeOf(75)).toBe(table.ranges[1])

    expect(table.slotCount(ids[0])).toBe(50)
    expect(table.slotCount(s[1])).toBe(16284)
    expect(table.rangesOf(ids[0])).toEqual([table.ranges[0]])
    expect(table.ownerPeers().map(String)).toEqual([s[0], s[2], s[1]])

    // listed but owning nothing: a member, not an owner
    expect(table.hasPeer(ids[3])).toBe(true)
    expect(table.isOwner(ids[3])).toBe(false)
    expect(table.rangesOf(ids[3])).toEqual([])
    expect(table.slotCount(ids[3])).toBe(0)
    expect(table.peer(s[3])?.addrs.map(String)).toEqual([addr(3)])

    // not listed at all
    expect(table.hasPeer(ids[4])).toBe(false)
    expect(table.isOwner(s[4])).toBe(false)
    expect(table.peer(ids[4])).toBeUndefined()
    expect(table.rangesOf(ids[4])).toEqual([])
  })

  it('defaults the epoch to 0', () => {
    const table = SlotTable.fromRanges({ ranges: [{ start: 0, end: 16383, owners: [ids[0]] }], peers: [{ id: ids[0] }] })
    expect(table.epoch).toBe(0)
  })

  it('uses the listed peers\' PeerId objects as owners', () => {
    const table = SlotTable.fromRanges({ ranges: [{ start: 0, end: 16383, owners: [s[0]] }], peers: [{ id: ids[0] }] })
    expect(table.owners(0)[0]).toBe(table.peers[0].id)
  })

  it('finds a peer by another encoding of its ID', () => {
    const table = SlotTable.even([{ id: ids[0] }])
    const cid = ids[0].toCID().toString()

    expect(cid).not.toBe(s[0])
    expect(table.hasPeer(cid)).toBe(true)
    expect(table.peer(cid)?.id.equals(ids[0])).toBe(true)
  })

  it('throws InvalidParametersError for a peer argument that is not a peer ID', () => {
    const table = SlotTable.even([{ id: ids[0] }])

    for (const fn of [
      () => table.hasPeer('xyz'),
      () => table.isOwner('xyz'),
      () => table.rangesOf('xyz'),
      () => table.slotCount('xyz'),
      () => table.peer('xyz'),
      () => table.hasPeer(42 as any)
    ]) {
      expect(fn).toThrow(expect.objectContaining({ name: 'InvalidParametersError' }))
    }
  })
})

describe('SlotTable validation', () => {
  it('accepts the valid base table', () => {
    expect(SlotTable.fromJSON(validJSON()).ranges).toHaveLength(3)
  })

  it('names overlapping ranges and the slots they share', () => {
    const json = validJSON()
    json.ranges = [
      { start: 0, end: 49, owners: [s[0]] },
      { start: 50, end: 150, owners: [s[1]] },
      { start: 100, end: 200, owners: [s[2]] },
      { start: 201, end: 16383, owners: [s[0]] }
    ]
    expectProblems(json, ['ranges[2] (100-200) overlaps ranges[1] (50-150) on slots 100-150'])
  })

  it('names a range covering another entirely, and a repeated range', () => {
    const json = validJSON()
    json.ranges = [
      { start: 0, end: 16383, owners: [s[0]] },
      { start: 10, end: 10, owners: [s[1]] },
      { start: 0, end: 16383, owners: [s[2]] }
    ]
    expectProblems(json, [
      'ranges[2] (0-16383) overlaps ranges[0] (0-16383) on slots 0-16383',
      'ranges[1] (10-10) overlaps ranges[0] (0-16383) on slot 10'
    ])
  })

  it('names slots no range covers', () => {
    const json = validJSON()
    json.ranges[1].start = 5471
    expectProblems(json, ['slots 5461-5470 are not covered by any range'])

    json.ranges[1].start = 5462
    expectProblems(json, ['slot 5461 is not covered by any range'])

    const head = validJSON()
    head.ranges[0].start = 10
    head.ranges[2].end = 16000
    expectProblems(head, ['slots 0-9 are not covered by any range', 'slots 16001-16383 are not covered by any range'])

    const empty = validJSON()
    empty.ranges = []
    expectProblems(empty, ['slots 0-16383 are not covered by any range'])
  })

  it('names an owner not listed in peers', () => {
    const json = validJSON()
    json.ranges[0].owners = [s[0], s[5]]
    expectProblems(json, [`ranges[0].owners[1] names peer ${s[5]} which is not listed in peers`])
  })

  it('names an owner repeated within a range', () => {
    const json = validJSON()
    json.ranges[2].owners = [s[2], s[0], s[2]]
    expectProblems(json, [`ranges[2].owners[2] repeats peer ${s[2]} (already ranges[2].owners[0])`])
  })

  it('names a duplicate peer', () => {
    const json = validJSON()
    json.peers.push({ id: s[1], addrs: [] })
    expectProblems(json, [`peers[3] duplicates peer ${s[1]} (already peers[1])`])
  })

  it('names bounds out of range', () => {
    const json = validJSON()
    json.ranges[2].end = 16384
    expectProblems(json, ['ranges[2].end 16384 is out of range 0-16383'])

    const negative = validJSON()
    negative.ranges[0].start = -1
    expectProblems(negative, ['ranges[0].start -1 is out of range 0-16383'])
  })

  it('names a start greater than its end', () => {
    const json = validJSON()
    json.ranges = [
      { start: 0, end: 9, owners: [s[0]] },
      { start: 10, end: 5, owners: [s[1]] },
      { start: 6, end: 16383, owners: [s[2]] }
    ]
    expectProblems(json, [
      'ranges[1].start 10 is greater than its end 5',
      'ranges[2] (6-16383) overlaps ranges[0] (0-9) on slots 6-9'
    ])
  })

  it('names bounds that are not integers', () => {
    const json: any = validJSON()
    json.ranges[0].start = '0'
    json.ranges[1].end = 10922.5
    json.ranges[2].end = undefined
    const problems = problemsOf(() => SlotTable.fromJSON(json))

    expect(problems).toContain('ranges[0].start must be an integer slot, got "0"')
    expect(problems).toContain('ranges[1].end must be an integer slot, got 10922.5')
    expect(problems).toContain('ranges[2].end must be an integer slot, got undefined')
  })

  it('names an invalid epoch', () => {
    for (const [epoch, shown] of [[-1, '-1'], [1.5, '1.5'], ['3', '"3"'], [Number.NaN, 'NaN'], [2 ** 53, String(2 ** 53)], [undefined, 'undefined']] as const) {
      const json: any = validJSON()
      json.epoch = epoch
      expectProblems(json, [`epoch must be a non-negative integer, got ${shown}`])
    }
  })

  it('names an invalid peer ID, in peers and in owners', () => {
    const json: any = validJSON()
    json.peers[0].id = 'xyz'
    json.ranges[1].owners = [s[1], 'abc']
    json.ranges[2].owners = [s[2], 42]
    const problems = problemsOf(() => SlotTable.fromJSON(json))

    expect(problems).toContain('peers[0].id "xyz" is not a valid peer ID')
    expect(problems).toContain('ranges[1].owners[1] "abc" is not a valid peer ID')
    expect(problems).toContain('ranges[2].owners[1] must be a peer ID string, got 42')
    // peers[0] is unusable, so owners naming it are reported too
    expect(problems).toContain(`ranges[0].owners[0] names peer ${s[0]} which is not listed in peers`)
  })

  it('names an invalid multiaddr', () => {
    const json: any = validJSON()
    json.peers[0].addrs = [addr(0), 'foo', '', 7, '/ip4/999.1.1.1/tcp/1']
    const problems = problemsOf(() => SlotTable.fromJSON(json))

    expect(problems).toHaveLength(4)
    expect(problems[0]).toMatch(/^peers\[0\]\.addrs\[1\] "foo" is not a valid multiaddr/)
    expect(problems[1]).toMatch(/^peers\[0\]\.addrs\[2\] "\/?" is not a valid multiaddr/)
    expect(problems[2]).toBe('peers[0].addrs[3] must be a multiaddr string, got 7')
    expect(problems[3]).toMatch(/^peers\[0\]\.addrs\[4\] "\/ip4\/999.1.1.1\/tcp\/1" is not a valid multiaddr/)
  })

  it('names an address that ends in another peer\'s ID', () => {
    const json = validJSON()
    json.peers[0].addrs = [`${addr(0)}/p2p/${s[0]}`, `${addr(0)}/p2p/${s[1]}`]
    expectProblems(json, [`peers[0].addrs[1] "${addr(0)}/p2p/${s[1]}" ends in /p2p/${s[1]}, which is not peers[0].id ${s[0]}`])
  })

  it('names fields of the wrong JSON type', () => {
    const noRanges: any = validJSON()
    noRanges.ranges = { 0: 'x' }
    expectProblems(noRanges, ['ranges must be an array, got an object'])

    const noPeers: any = validJSON()
    delete noPeers.peers
    expect(problemsOf(() => SlotTable.fromJSON(noPeers))).toEqual(['peers must be an array, got undefined'])

    const emptyPeers: any = validJSON()
    emptyPeers.peers = []
    expect(problemsOf(() => SlotTable.fromJSON(emptyPeers))).toContain('peers must list at least one peer')

    const badPeer: any = validJSON()
    badPeer.peers[1] = 'peer'
    badPeer.peers[2].addrs = 'x'
    expect(problemsOf(() => SlotTable.fromJSON(badPeer))).toEqual(expect.arrayContaining([
      'peers[1] must be an object with an id and addrs, got "peer"',
      'peers[2].addrs must be an array of multiaddrs, got "x"'
    ]))

    const badRange: any = validJSON()
    badRange.ranges[1] = null
    expect(problemsOf(() => SlotTable.fromJSON(badRange))).toEqual(expect.arrayContaining([
      'ranges[1] must be an object with start, end and owners, got null',
      'slots 5461-10922 are not covered by any range'
    ]))

    for (const owners of [[], undefined, 'x', {}]) {
      const json: any = validJSON()
      json.ranges[0].owners = owners
      const problems = problemsOf(() => SlotTable.fromJSON(json))
      expect(problems).toHaveLength(1)
      expect(problems[0]).toMatch(/^ranges\[0\]\.owners must be a non-empty array of peer IDs, got /)
    }

    for (const top of [null, 5, [], 'null']) {
      expect(problemsOf(() => SlotTable.fromJSON(top as any))[0]).toMatch(/^slot table must be an object with epoch, ranges and peers/)
    }
  })

  it('says when a string is not JSON', () => {
    const problems = problemsOf(() => SlotTable.fromJSON('{"epoch": 1, '))
    expect(problems).toHaveLength(1)
    expect(problems[0]).toMatch(/^slot table is not valid JSON/)
  })

  it('reports several problems together', () => {
    const json: any = validJSON()
    json.epoch = -1
    json.peers[1].addrs = ['foo']
    json.peers.push({ id: s[0], addrs: [] })
    json.ranges[0].owners = [s[0], s[6]]
    json.ranges[1].start = 5470
    json.ranges[2].end = 16384
    const problems = problemsOf(() => SlotTable.fromJSON(json))

    expect(problems).toHaveLength(6)
    expect(problems).toEqual(expect.arrayContaining([
      'epoch must be a non-negative integer, got -1',
      expect.stringMatching(/^peers\[1\]\.addrs\[0\] "foo" is not a valid multiaddr/),
      `peers[3] duplicates peer ${s[0]} (already peers[0])`,
      `ranges[0].owners[1] names peer ${s[6]} which is not listed in peers`,
      'slots 5461-5469 are not covered by any range',
      'ranges[2].end 16384 is out of range 0-16383'
    ]))
  })

  it('validates fromRanges the same way', () => {
    const problems = problemsOf(() => SlotTable.fromRanges({
      epoch: -2,
      ranges: [{ start: 0, end: 100, owners: [ids[0]] }, { start: 50, end: 16383, owners: [ids[1]] }],
      peers: [{ id: ids[0] }]
    }))

    expect(problems.sort()).toEqual([
      'epoch must be a non-negative integer, got -2',
      'ranges[1] (50-16383) overlaps ranges[0] (0-100) on slots 50-100',
      `ranges[1].owners[0] names peer ${s[1]} which is not listed in peers`
    ])
  })
})

describe('SlotTable lookups', () => {
  /** Uneven ranges with replicas, built from a seeded pseudo-random walk */
  function unevenTable (): SlotTable {
    const ranges: Array<{ start: number, end: number, owners: string[] }> = []
    let start = 0
    let x = 7

    while (start < SLOT_COUNT) {
      x = (x * 1103515245 + 12345) % 2147483648
      const end = Math.min(SLOT_COUNT - 1, start + (x % 700))
      const primary = x % s.length
      ranges.push({ start, end, owners: [s[primary], s[(primary + 1 + (x % 3)) % s.length]] })
      start = end + 1
    }

    // reverse so construction has to sort
    return SlotTable.fromRanges({ epoch: 1, ranges: ranges.reverse(), peers: s.map(id => ({ id })) })
  }

  it('owners() agrees with a scan over the ranges for every slot', () => {
    const table = unevenTable()
    expect(table.ranges.length).toBeGreaterThan(20)

    for (let slot = 0; slot < SLOT_COUNT; slot++) {
      const owners = table.owners(slot)
      // the range's own array, not a copy
      expect(owners).toBe(scanOwners(table, slot))
      expect(table.primary(slot)).toBe(owners[0])
    }
  })

  it('slot counts of all primaries add up to every slot', () => {
    const table = unevenTable()
    const total = table.ownerPeers().reduce((sum, id) => sum + table.slotCount(id), 0)
    expect(total).toBe(SLOT_COUNT)

    for (const id of table.ownerPeers()) {
      expect(table.isOwner(id)).toBe(true)
      expect(table.rangesOf(id).every(r => r.owners[0].equals(id))).toBe(true)
    }
  })

  it('ownersOfKey() uses the key\'s slot', () => {
    const table = unevenTable()

    for (const k of ['/foo', '/bar/baz', '/{user1000}/following', '/é']) {
      expect(table.ownersOfKey(new Key(k))).toBe(table.owners(keySlot(k)))
      expect(table.ownersOfKey(k)).toBe(table.owners(keySlot(k)))
    }
  })

  it('refuses slots that are not integers from 0 to 16383', () => {
    const table = SlotTable.even([{ id: ids[0] }])

    for (const slot of [-1, SLOT_COUNT, 1.5, Number.NaN, Number.POSITIVE_INFINITY, '1', 2 ** 32]) {
      expect(() => table.owners(slot as any)).toThrow(expect.objectContaining({ name: 'InvalidParametersError' }))
      expect(() => table.primary(slot as any)).toThrow(/slot must be an integer from 0 to 16383/)
    }
  })
})

describe('SlotTable JSON', () => {
  it('serialises to strings', () => {
    const table = SlotTable.fromRanges({
      epoch: 2,
      ranges: [{ start: 0, end: 16383, owners: [ids[0], ids[1]] }],
      peers: [{ id: ids[0], addrs: [multiaddr(addr(0))] }, { id: ids[1] }]
    })

    expect(table.toJSON()).toEqual({
      epoch: 2,
      ranges: [{ start: 0, end: 16383, owners: [s[0], s[1]] }],
      peers: [{ id: s[0], addrs: [addr(0)] }, { id: s[1], addrs: [] }]
    })
  })

  it('round-trips through toJSON, and through JSON.stringify and parse', () => {
    const table = SlotTable.fromJSON(validJSON())

    expect(SlotTable.fromJSON(table.toJSON()).equals(table)).toBe(true)
    expect(SlotTable.fromJSON(JSON.stringify(table)).equals(table)).toBe(true)
    expect(SlotTable.fromJSON(JSON.parse(JSON.stringify(table))).equals(table)).toBe(true)
    expect(JSON.parse(JSON.stringify(table))).toEqual(validJSON())
    expect(SlotTable.fromJSON(JSON.stringify(table)).toJSON()).toEqual(table.toJSON())
  })

  it('round-trips an even table', () => {
    const table = SlotTable.even(ids.slice(0, 7).map((id, i) => ({ id, addrs: [addr(i), `/dns4/node${i}.example/tcp/4001/p2p/${s[i]}`] })), { epoch: 12 })
    const copy = SlotTable.fromJSON(JSON.stringify(table))

    expect(copy.equals(table)).toBe(true)
    expect(table.equals(copy)).toBe(true)
    expect(copy.toJSON()).toEqual(table.toJSON())
  })

  it('returns a new object from each toJSON call', () => {
    const table = SlotTable.fromJSON(validJSON())
    const json = table.toJSON()
    json.ranges[0].owners.push('x')
    json.epoch = 99

    expect(table.toJSON()).toEqual(validJSON())
  })

  it('equals() sees each difference and ignores peer order', () => {
    const base = SlotTable.fromJSON(validJSON())

    const epoch = validJSON()
    epoch.epoch = 4
    const owners = validJSON()
    owners.ranges[0].owners = [s[1], s[0]]
    const bounds = validJSON()
    bounds.ranges[0].end = 5459
    bounds.ranges[1].start = 5460
    const addrs = validJSON()
    addrs.peers[2].addrs.push(addr(9))
    const extraPeer = validJSON()
    extraPeer.peers.push({ id: s[4], addrs: [] })

    for (const json of [epoch, owners, bounds, addrs, extraPeer]) {
      const other = SlotTable.fromJSON(json)
      expect(base.equals(other)).toBe(false)
      expect(other.equals(base)).toBe(false)
    }

    const reordered = validJSON()
    reordered.peers.reverse()
    expect(base.equals(SlotTable.fromJSON(reordered))).toBe(true)
    expect(base.equals(base)).toBe(true)
  })
})

describe('SlotTable epochs', () => {
  it('newer() compares epochs', () => {
    const a = SlotTable.even([{ id: ids[0] }], { epoch: 1 })
    const b = a.withEpoch(2)

    expect(b.newer(a)).toBe(true)
    expect(a.newer(b)).toBe(false)
    expect(a.newer(a)).toBe(false)
  })

  it('withEpoch() copies the table with another epoch', () => {
    const a = SlotTable.fromJSON(validJSON())
    const b = a.withEpoch(10)

    expect(b).not.toBe(a)
    expect(a.epoch).toBe(3)
    expect(b.epoch).toBe(10)
    expect(b.toJSON()).toEqual({ ...validJSON(), epoch: 10 })
    expect(b.withEpoch(3).equals(a)).toBe(true)

    for (let slot = 0; slot < SLOT_COUNT; slot += 97) {
      expect(b.owners(slot)).toBe(a.owners(slot))
    }

    expect(b.slotCount(ids[1])).toBe(a.slotCount(ids[1]))
  })

  it('withEpoch() refuses an invalid epoch', () => {
    const a = SlotTable.even([{ id: ids[0] }])

    for (const epoch of [-1, 0.5, Number.NaN, 2 ** 53]) {
      expect(() => a.withEpoch(epoch)).toThrow(expect.objectContaining({ name: 'InvalidParametersError' }))
    }
  })
})

describe('SlotTable immutability', () => {
  it('freezes the table, its ranges, owners and peers', () => {
    const table = SlotTable.fromJSON(validJSON())

    expect(Object.isFrozen(table)).toBe(true)
    expect(Object.isFrozen(table.ranges)).toBe(true)
    expect(Object.isFrozen(table.peers)).toBe(true)

    for (const range of table.ranges) {
      expect(Object.isFrozen(range)).toBe(true)
      expect(Object.isFrozen(range.owners)).toBe(true)
    }

    for (const peer of table.peers) {
      expect(Object.isFrozen(peer)).toBe(true)
      expect(Object.isFrozen(peer.addrs)).toBe(true)
    }

    // test modules run in strict mode, where writing to a frozen object throws
    expect(() => { (table as any).epoch = 7 }).toThrow(TypeError)
    expect(() => { (table.ranges as any).push({ start: 0, end: 0, owners: [] }) }).toThrow(TypeError)
    expect(() => { (table.ranges[0] as any).end = 1 }).toThrow(TypeError)
    expect(() => { (table.owners(0) as any)[0] = ids[7] }).toThrow(TypeError)
    expect(() => { (table.peers[0] as any).addrs = [] }).toThrow(TypeError)
    expect(table.toJSON()).toEqual(validJSON())
  })

  it('is not affected by later changes to its input', () => {
    const json = validJSON()
    const ranges = [{ start: 0, end: 16383, owners: [ids[0]] as Array<PeerId | string> }]
    const peers = [{ id: ids[0], addrs: [addr(0)] }]
    const fromJSON = SlotTable.fromJSON(json)
    const fromRanges = SlotTable.fromRanges({ ranges, peers })

    json.ranges[0].owners.reverse()
    json.peers[0].addrs.push(addr(5))
    ranges[0].end = 5
    ranges[0].owners.push(ids[1])
    peers[0].addrs.push(addr(5))

    expect(fromJSON.toJSON()).toEqual(validJSON())
    expect(fromRanges.toJSON()).toEqual({ epoch: 0, ranges: [{ start: 0, end: 16383, owners: [s[0]] }], peers: [{ id: s[0], addrs: [addr(0)] }] })
  })

  it('hands out copies where it returns mutable arrays', () => {
    const table = SlotTable.even([{ id: ids[0] }, { id: ids[1] }])

    table.rangesOf(ids[0]).pop()
    table.ownerPeers().pop()

    expect(table.rangesOf(ids[0])).toHaveLength(1)
    expect(table.ownerPeers()).toHaveLength(2)
  })
})

describe('SlotTable.even with replicas', () => {
  it('gives range i the owners i .. i+N-1, wrapping around, each peer primary once', () => {
    const peers = peersJSON(4)
    const table = SlotTable.even(peers, { replicas: 3 })

    expect(table.replicas).toBe(3)
    expect(table.ranges.map(range => range.owners.map(owner => owner.toString()))).toEqual([
      [s[0], s[1], s[2]],
      [s[1], s[2], s[3]],
      [s[2], s[3], s[0]],
      [s[3], s[0], s[1]]
    ])
    // the ranges are those of the unreplicated table
    expect(table.ranges.map(({ start, end }) => [start, end])).toEqual(SlotTable.even(peers).ranges.map(({ start, end }) => [start, end]))
    expect(table.ownerPeers().map(String)).toEqual(s.slice(0, 4))
  })

  it('lets N equal the number of peers: every peer owns every slot', () => {
    const table = SlotTable.even(peersJSON(3), { replicas: 3 })

    for (const slot of [0, 8000, SLOT_COUNT - 1]) {
      expect(table.owners(slot).map(String).sort()).toEqual(s.slice(0, 3).sort())
    }
  })

  it('is 1 for tables without replicas, and the most owners of a range for explicit ones', () => {
    expect(SlotTable.even(peersJSON(3)).replicas).toBe(1)
    expect(SlotTable.even(peersJSON(3), { replicas: 1 }).replicas).toBe(1)

    const mixed = SlotTable.fromRanges({
      ranges: [{ start: 0, end: 99, owners: [s[0], s[1]] }, { start: 100, end: SLOT_COUNT - 1, owners: [s[1]] }],
      peers: peersJSON(2)
    })
    expect(mixed.replicas).toBe(2)
  })

  it('refuses a replication factor that is not an integer from 1 to the number of peers', () => {
    for (const replicas of [0, 4, -1, 1.5, Number.NaN, '2' as any]) {
      expect(() => SlotTable.even(peersJSON(3), { replicas })).toThrow(expect.objectContaining({
        name: 'InvalidParametersError',
        message: expect.stringMatching(/replicas must be an integer from 1 to the number of peers \(3\)/)
      }))
    }
  })

  it('keeps its owner lists and replication factor through JSON and a new epoch', () => {
    const table = SlotTable.even(peersJSON(5), { replicas: 2, epoch: 7 })
    const copy = SlotTable.fromJSON(JSON.stringify(table))

    expect(copy.equals(table)).toBe(true)
    expect(copy.replicas).toBe(2)
    expect(table.withEpoch(8).replicas).toBe(2)
    expect(Object.keys(table.toJSON()).sort()).toEqual(['epoch', 'peers', 'ranges'])
  })
})

describe('forEachRun', () => {
  /** A table over `n` of the peers with random range boundaries and random owner lists of `replicas` */
  function randomTable (seed: number, n: number, replicas: number): SlotTable {
    let x = seed
    const rand = (k: number): number => {
      x = (x * 1103515245 + 12345) % 2147483648
      return x % k
    }
    const cuts = [...new Set(Array.from({ length: 1 + rand(12) }, () => 1 + rand(SLOT_COUNT - 1)))].sort((a, b) => a - b)
    const starts = [0, ...cuts]
    const ranges = starts.map((start, i) => {
      const owners: string[] = []

      while (owners.length < replicas) {
        const id = s[rand(n)]

        if (!owners.includes(id)) {
          owners.push(id)
        }
      }

      return { start, end: (starts[i + 1] ?? SLOT_COUNT) - 1, owners }
    })

    return SlotTable.fromJSON({ epoch: 1, peers: peersJSON(n), ranges })
  }

  it('walks two tables in runs that cover every slot once, each with both tables\' owners of its slots', () => {
    for (let seed = 1; seed <= 40; seed++) {
      const a = randomTable(seed, 6, 3)
      const b = randomTable(seed * 7919, 6, seed % 2 === 0 ? 3 : 2)
      const covered = new Uint8Array(SLOT_COUNT)
      let next = 0
      let runs = 0

      forEachRun(a, b, (start, end, ownersA, ownersB) => {
        runs++
        expect(start).toBe(next)
        expect(end).toBeGreaterThanOrEqual(start)
        next = end + 1

        for (const slot of [start, end, (start + end) >> 1]) {
          expect(ownersA).toBe(a.owners(slot))
          expect(ownersB).toBe(b.owners(slot))
        }

        covered.fill(1, start, end + 1)
      })

      expect(next).toBe(SLOT_COUNT)
      expect(covered.every(c => c === 1)).toBe(true)
      expect(runs).toBeLessThanOrEqual(a.ranges.length + b.ranges.length)
    }
  })

  it('compares owner lists as sets', () => {
    expect(sameOwners([ids[0], ids[1]], [ids[1], ids[0]])).toBe(true)
    expect(sameOwners([ids[0], ids[1]], [ids[0], ids[2]])).toBe(false)
    expect(sameOwners([ids[0]], [ids[0], ids[1]])).toBe(false)
  })
})
