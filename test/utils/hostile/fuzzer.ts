/**
 * A seeded fuzzer for the data protocol: valid Request frames (encoded with
 * the protocol's own codec) and mutations of them, hand-built protobuf with
 * wrong wire types and out-of-range numbers, bad keys, random bytes, lying
 * length prefixes, and bursts of pipelined requests ending in a malformed
 * frame. Each case is the bytes to write on one fresh stream.
 */

import * as varint from 'uint8-varint'
import { Request, Response } from '../../../src/pb/message.js'
import type { Prng } from './prng.js'
import type { RawStream } from './raw.js'
import type { SlotTable as SlotTableMessage } from '../../../src/pb/message.js'

const enc = new TextEncoder()

export interface FuzzContext {
  /** The target's table epoch */
  epoch: number
  /** The target's maximum message size */
  maxMessageSize: number
  /** Keys (as bytes) the fuzzer may write and delete: owned by the target, never an honest caller's */
  ownedKeys: Uint8Array[]
  /** Keys of the same namespace in slots the target does not own */
  foreignKeys: Uint8Array[]
  /** The one owned key that values near the size limit go to (so the store holds at most one) */
  bigKey: Uint8Array
  /** The cluster's real table, for TABLE requests to mangle */
  table: SlotTableMessage
  /**
   * Signed tables for TABLE requests to send or mangle: the real one, older
   * ones, newer ones signed by other keys - never a newer one signed by the
   * admin key, which an attacker cannot have
   */
  signedTables: Uint8Array[]
}

export type FuzzKind =
  'valid' | 'bitflip' | 'truncate' | 'extend' | 'field' | 'wiretype' | 'badkey' |
  'random-frame' | 'random-raw' | 'lie-huge' | 'lie-stall' | 'varint-odd' | 'burst' | 'big'

export interface FuzzCase {
  index: number
  kind: FuzzKind
  /** What the case does, for a failure report */
  note: string
  /** Bytes to write, in order */
  bytes: Uint8Array
  /** Leave the stream open and unfinished: the last frame is incomplete on purpose */
  stall: boolean
  /** Ids of the requests sent in well-formed frames */
  ids: number[]
  /** The id of a well-formed request that must be answered on its stream (by a member or client) */
  expectAnswer?: number
}

const KINDS: ReadonlyArray<readonly [FuzzKind, number]> = [
  ['valid', 12],
  ['bitflip', 14],
  ['truncate', 8],
  ['extend', 4],
  ['field', 14],
  ['wiretype', 10],
  ['badkey', 12],
  ['random-frame', 6],
  ['random-raw', 4],
  ['lie-huge', 3],
  ['lie-stall', 2],
  ['varint-odd', 3],
  ['burst', 6],
  ['big', 2]
]

const TYPES = [
  Request.Type.GET, Request.Type.HAS, Request.Type.PUT, Request.Type.DELETE, Request.Type.BATCH,
  Request.Type.GET_MANY, Request.Type.QUERY, Request.Type.CREDIT, Request.Type.CANCEL, Request.Type.TABLE, Request.Type.GET_TABLE,
  Request.Type.REPLICA_VERSIONS, Request.Type.REPLICA_QUERY, Request.Type.UNKNOWN
]

/** Key bytes no owner should accept, or should handle with care */
function badKeys (rng: Prng): Uint8Array[] {
  return [
    new Uint8Array(0),
    enc.encode('no-leading-slash'),
    enc.encode('/trailing/'),
    enc.encode('/'),
    enc.encode('//'),
    enc.encode('/a//b'),
    Uint8Array.from([0x2f, 0xff, 0xfe, 0xfd]), // invalid UTF-8
    Uint8Array.from([0x2f, 0xc0, 0xaf]), // overlong encoding of '/'
    Uint8Array.from([0x2f, 0xed, 0xa0, 0x80]), // a lone surrogate
    Uint8Array.from([0x2f, 0x00, 0x00]), // NUL bytes
    Uint8Array.from([0x2f, 0xe2, 0x82]), // truncated multi-byte sequence
    enc.encode('/{}{hash}{tags}'),
    enc.encode(`/${'x'.repeat(rng.int(1000, 70_000))}`), // long
    Uint8Array.from([0x2f, ...rng.bytes(rng.int(1, 64))]),
    rng.bytes(rng.int(1, 32))
  ]
}

function garbageTable (rng: Prng, ctx: FuzzContext): SlotTableMessage {
  const real = ctx.table
  // never a valid newer table: a member may legitimately replace the table,
  // and that is not what is tested here. Each variant breaks coverage or ids.
  switch (rng.int(0, 5)) {
    case 0: return { epoch: ctx.epoch + 1, ranges: [], peers: [], clients: [], dead: [] }
    case 1: return { ...real, epoch: ctx.epoch + 1, ranges: real.ranges.slice(1) }
    case 2: return { ...real, epoch: rng.pick([0, ctx.epoch, 2 ** 53 - 1]), peers: real.peers.map(p => ({ id: rng.bytes(p.id.byteLength), addrs: [rng.bytes(8)] })) }
    case 3: return { epoch: ctx.epoch + 1, ranges: [{ start: 0, end: 16383, owners: [rng.bytes(38)] }], peers: [], clients: [], dead: [] }
    case 4: return { epoch: ctx.epoch + 1, ranges: [{ start: 16383, end: 0xffffffff, owners: [] }], peers: [{ id: new Uint8Array(0), addrs: [] }], clients: [], dead: [] }
    default: return { epoch: 2 ** 53 - 1, ranges: Array.from({ length: rng.int(1, 2000) }, (_, i) => ({ start: i, end: i, owners: [real.peers[0].id] })), peers: real.peers, clients: [], dead: [] }
  }
}

/** One of the signed tables as it is, with a byte flipped, cut short, or random bytes */
function garbageSignedTable (rng: Prng, ctx: FuzzContext): Uint8Array<ArrayBuffer> {
  const bytes = Uint8Array.from(rng.pick(ctx.signedTables))

  switch (rng.int(0, 3)) {
    case 0: return bytes
    case 1: bytes[rng.int(0, bytes.byteLength - 1)] ^= 1 << rng.int(0, 7); return bytes
    case 2: return bytes.slice(0, rng.int(0, bytes.byteLength - 1))
    default: return rng.bytes(rng.int(0, 512))
  }
}

/** A well-formed request of a random type */
function validRequest (rng: Prng, ctx: FuzzContext, id: number): Partial<Request> {
  const type = rng.pick(TYPES)
  const key = (): Uint8Array<ArrayBuffer> => (rng.chance(0.8) ? rng.pick(ctx.ownedKeys) : rng.pick(ctx.foreignKeys)) as Uint8Array<ArrayBuffer>
  const value = (): Uint8Array<ArrayBuffer> => rng.bytes(rng.chance(0.9) ? rng.int(0, 512) : rng.int(512, 64 * 1024))
  const req: Partial<Request> = { id, type, epoch: ctx.epoch }

  switch (type) {
    case Request.Type.GET:
    case Request.Type.HAS:
    case Request.Type.DELETE:
      req.key = key()
      break
    case Request.Type.PUT:
      req.key = key()
      req.value = value()
      break
    case Request.Type.BATCH:
      req.puts = Array.from({ length: rng.int(0, 20) }, () => ({ key: key(), value: value(), missing: rng.chance(0.1) }))
      req.keys = Array.from({ length: rng.int(0, 5) }, key)
      break
    case Request.Type.GET_MANY:
      req.keys = Array.from({ length: rng.int(0, 40) }, key)
      req.credit = rng.int(64 * 1024, 1024 * 1024)
      break
    case Request.Type.REPLICA_VERSIONS:
      // now and then past the 1,024 keys one may name
      req.keys = Array.from({ length: rng.chance(0.9) ? rng.int(0, 40) : rng.int(1000, 1100) }, key)
      break
    case Request.Type.REPLICA_QUERY:
      req.prefix = rng.pick(['', '/fuzz', '/nothing', '/honest'])
      req.keysOnly = rng.chance(0.5)
      req.credit = rng.int(64 * 1024, 1024 * 1024)

      // a slot set now and then: right, longer than its range, over a reversed or out-of-bounds range
      if (rng.chance(0.6)) {
        req.slotStart = rng.pick([0, rng.int(0, 16383), 16383, 16384, 0xffffffff])
        req.slotEnd = rng.pick([16383, rng.int(0, 16383), 0, 20000])
        req.slotSet = rng.bytes(rng.pick([0, 1, rng.int(1, 2048), 2049, 4096]))
      }
      break
    case Request.Type.QUERY:
      req.prefix = rng.pick(['', '/fuzz', '/fuzz/1', '/nothing', '/honest'])
      req.keysOnly = rng.chance(0.5)
      req.credit = rng.int(64 * 1024, 1024 * 1024)
      break
    case Request.Type.CREDIT:
      req.id = rng.chance(0.5) ? id : rng.u32()
      req.credit = rng.u32()
      break
    case Request.Type.CANCEL:
      req.id = rng.chance(0.5) ? id : rng.u32()
      break
    case Request.Type.TABLE:
      if (rng.chance(0.3)) {
        req.table = garbageTable(rng, ctx)
      } else {
        req.signedTable = garbageSignedTable(rng, ctx)
      }
      break
    default:
      break
  }

  return req
}

/** Set one field of a request to an extreme or wrong value */
function mutateField (rng: Prng, ctx: FuzzContext, req: Partial<Request>): string {
  switch (rng.int(0, 11)) {
    case 0: req.id = rng.pick([0, 1, 0x7fffffff, 0xffffffff]); return `id=${req.id}`
    case 1: req.credit = rng.pick([0, 1, 0x7fffffff, 0xffffffff]); return `credit=${req.credit}`
    case 2: req.epoch = rng.pick([0, ctx.epoch + 1, 2 ** 32, 2 ** 53 - 1]); return `epoch=${req.epoch}`
    case 3: req.type = rng.pick([Request.Type.CREDIT, Request.Type.CANCEL]); req.credit = rng.u32(); return `type=${req.type} on a request id`
    case 4: req.keysOnly = !(req.keysOnly ?? false); req.type = Request.Type.QUERY; req.credit = rng.pick([0, 1, 0xffffffff]); return `QUERY credit=${req.credit}`
    case 5: {
      req.type = Request.Type.GET_MANY
      req.keys = Array.from({ length: rng.int(1000, 5000) }, () => rng.pick(ctx.ownedKeys)) as Array<Uint8Array<ArrayBuffer>>
      req.credit = rng.pick([0, 1, 4096, 0xffffffff])
      return `GET_MANY of ${req.keys.length} keys, credit=${req.credit}`
    }
    case 6: req.type = Request.Type.PUT; req.key = rng.pick(ctx.ownedKeys) as Uint8Array<ArrayBuffer>; delete req.value; return 'PUT without a value'
    case 7: req.type = rng.pick([Request.Type.GET, Request.Type.PUT, Request.Type.DELETE, Request.Type.HAS]); delete req.key; return `${req.type} without a key`
    case 8: req.type = Request.Type.BATCH; req.puts = Array.from({ length: rng.int(1, 2000) }, () => ({ key: rng.chance(0.5) ? undefined : rng.pick(ctx.ownedKeys) as Uint8Array<ArrayBuffer>, missing: true })); return 'BATCH of entries without keys or values'
    case 9: req.prefix = rng.pick(['no-slash', '/', '//', '/trailing/', '\u0000', '\uffff', 'x'.repeat(50_000)]); req.type = Request.Type.QUERY; req.credit = 1024 * 1024; return 'QUERY with an odd prefix'
    case 10: req.type = Request.Type.TABLE; req.signedTable = garbageSignedTable(rng, ctx); req.table = garbageTable(rng, ctx); return 'TABLE with a garbage table, signed and not'
    default: req.type = Request.Type.CANCEL; req.id = rng.u32(); return 'CANCEL of nothing'
  }
}

// ------------------------------------------------------------ raw protobuf

function tag (field: number, wire: number): Uint8Array {
  return varint.encode(field * 8 + wire)
}

/** A varint of up to 10 bytes for any 64-bit value, given as hi/lo */
function varint64 (hi: number, lo: number): Uint8Array {
  const out: number[] = []
  let big = (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0)

  do {
    let byte = Number(big & 0x7fn)
    big >>= 7n
    if (big > 0n) byte |= 0x80
    out.push(byte)
  } while (big > 0n)

  return Uint8Array.from(out)
}

function concat (parts: Uint8Array[]): Uint8Array {
  const total = parts.reduce((n, p) => n + p.byteLength, 0)
  const out = new Uint8Array(total)
  let offset = 0

  for (const p of parts) {
    out.set(p, offset)
    offset += p.byteLength
  }

  return out
}

/** Hand-built fields: known field numbers with wrong wire types, out-of-range numbers, unknown fields */
function wireTypeMessage (rng: Prng): { body: Uint8Array, note: string } {
  const parts: Uint8Array[] = []
  const notes: string[] = []
  const count = rng.int(1, 6)

  for (let i = 0; i < count; i++) {
    const field = rng.chance(0.85) ? rng.int(1, 11) : rng.int(12, 2 ** 29 - 1)
    const wire = rng.weighted<number>([[0, 4], [1, 1], [2, 4], [3, 1], [4, 1], [5, 1], [6, 1], [7, 1]])
    notes.push(`${field}:${wire}`)
    parts.push(tag(field, wire))

    switch (wire) {
      case 0: parts.push(rng.chance(0.5) ? varint64(rng.u32(), rng.u32()) : varint64(0xffffffff, 0xffffffff)); break
      case 1: parts.push(rng.bytes(8)); break
      case 2: {
        const len = rng.pick([0, 1, 5, 100, rng.int(0, 2000)])
        // sometimes claim more than follows
        parts.push(varint.encode(rng.chance(0.2) ? len + rng.int(1, 1_000_000) : len), rng.bytes(len))
        break
      }
      case 5: parts.push(rng.bytes(4)); break
      default: break // groups and invalid wire types carry nothing
    }
  }

  return { body: concat(parts), note: `fields ${notes.join(',')}` }
}

function frame (body: Uint8Array): Uint8Array {
  return concat([varint.encode(body.byteLength), body])
}

/** The next fuzz case */
export function nextCase (rng: Prng, ctx: FuzzContext, index: number): FuzzCase {
  const kind = rng.weighted(KINDS)
  const id = rng.int(1, 0x7fffffff)
  const c: FuzzCase = { index, kind, note: '', bytes: new Uint8Array(0), stall: false, ids: [] }

  switch (kind) {
    case 'valid': {
      const req = validRequest(rng, ctx, id)
      c.bytes = frame(Request.encode(req))
      c.ids = [req.id ?? 0]
      c.note = String(req.type)

      if (req.type !== Request.Type.CREDIT && req.type !== Request.Type.CANCEL) {
        c.expectAnswer = req.id
      }
      break
    }
    case 'bitflip': {
      const req = validRequest(rng, ctx, id)
      const body = Request.encode(req)
      const flips = rng.int(1, 8)

      for (let i = 0; i < flips && body.byteLength > 0; i++) {
        body[rng.int(0, body.byteLength - 1)] ^= 1 << rng.int(0, 7)
      }

      c.bytes = frame(body)
      c.note = `${req.type} with ${flips} bits flipped`
      break
    }
    case 'truncate': {
      const req = validRequest(rng, ctx, id)
      const body = Request.encode(req)
      const cut = rng.int(0, Math.max(0, body.byteLength - 1))
      c.bytes = frame(body.subarray(0, cut))
      c.note = `${req.type} cut to ${cut} of ${body.byteLength} bytes`
      break
    }
    case 'extend': {
      const req = validRequest(rng, ctx, id)
      c.bytes = frame(concat([Request.encode(req), rng.bytes(rng.int(1, 64))]))
      c.note = `${req.type} with trailing garbage`
      break
    }
    case 'field': {
      const req = validRequest(rng, ctx, id)
      c.note = mutateField(rng, ctx, req)
      const body = Request.encode(req)

      if (body.byteLength > ctx.maxMessageSize) {
        // over the limit is its own case ('big'); keep this one in bounds
        req.keys = req.keys?.slice(0, 1000)
        req.puts = req.puts?.slice(0, 1000)
      }

      c.bytes = frame(Request.encode(req))
      c.ids = [req.id ?? 0]
      break
    }
    case 'wiretype': {
      const { body, note } = wireTypeMessage(rng)
      c.bytes = frame(body)
      c.note = note
      break
    }
    case 'badkey': {
      const type = rng.pick([Request.Type.GET, Request.Type.HAS, Request.Type.PUT, Request.Type.DELETE, Request.Type.BATCH, Request.Type.GET_MANY])
      const key = rng.pick(badKeys(rng)) as Uint8Array<ArrayBuffer>
      const req: Partial<Request> = { id, type, epoch: ctx.epoch }

      if (type === Request.Type.BATCH) {
        req.puts = [{ key: rng.pick(ctx.ownedKeys) as Uint8Array<ArrayBuffer>, value: enc.encode('ok'), missing: false }, { key, value: enc.encode('bad'), missing: false }]
      } else if (type === Request.Type.GET_MANY) {
        req.keys = [rng.pick(ctx.ownedKeys) as Uint8Array<ArrayBuffer>, key]
        req.credit = 1024 * 1024
      } else {
        req.key = key
        req.value = type === Request.Type.PUT ? enc.encode('bad key') : undefined
      }

      c.bytes = frame(Request.encode(req))
      c.ids = [id]
      c.expectAnswer = id
      c.note = `${type} with key ${Buffer.from(key.subarray(0, 24)).toString('hex')}${key.byteLength > 24 ? `… (${key.byteLength} B)` : ''}`
      break
    }
    case 'random-frame':
      c.bytes = frame(rng.bytes(rng.int(1, 4096)))
      c.note = `a frame of ${c.bytes.byteLength} random bytes`
      break
    case 'random-raw':
      c.bytes = rng.bytes(rng.int(1, 4096))
      c.note = `${c.bytes.byteLength} random bytes, unframed`
      break
    case 'lie-huge': {
      // a length prefix over any sane limit: 4 GiB, 2^35, a 10-byte varint, or one byte over the limit
      const prefix = rng.pick([varint64(1, 0), varint64(8, 0), varint64(0xffffffff, 0xffffffff), varint.encode(ctx.maxMessageSize + 1)])
      c.bytes = concat([prefix, rng.bytes(rng.int(0, 64 * 1024))])
      c.note = `length prefix ${Buffer.from(prefix).toString('hex')} then ${c.bytes.byteLength - prefix.byteLength} bytes`
      break
    }
    case 'lie-stall': {
      // claim up to the limit, send less, and stall: the owner must wait, bounded by the limit
      const claimed = rng.int(1024, ctx.maxMessageSize)
      const sent = rng.int(0, Math.min(claimed - 1, 1024 * 1024))
      c.bytes = concat([varint.encode(claimed), rng.bytes(sent)])
      c.stall = true
      c.note = `claims ${claimed} bytes, sends ${sent}, stalls`
      break
    }
    case 'varint-odd': {
      // non-canonical prefixes: padded with continuation bytes, or never ending
      const variant = rng.int(0, 2)

      if (variant === 0) {
        const req = validRequest(rng, ctx, id)
        const body = Request.encode(req)
        const v = varint.encode(body.byteLength)
        const padded = Uint8Array.from([...v.subarray(0, v.byteLength - 1), v[v.byteLength - 1] | 0x80, 0x00])
        c.bytes = concat([padded, body])
        c.note = `a ${req.type} with a padded (non-canonical) length prefix`
      } else if (variant === 1) {
        c.bytes = new Uint8Array(rng.int(11, 40)).fill(0xff)
        c.note = `${c.bytes.byteLength} bytes of 0xff as a length prefix`
      } else {
        c.bytes = new Uint8Array(rng.int(1, 9)).fill(0x80)
        c.note = 'an unfinished length prefix'
      }
      break
    }
    case 'burst': {
      // valid requests pipelined, then a frame that does not decode
      const n = rng.int(20, 300)
      const parts: Uint8Array[] = []

      for (let i = 0; i < n; i++) {
        const rid = id + i
        const req: Partial<Request> = rng.chance(0.5)
          ? { id: rid, type: Request.Type.GET, epoch: ctx.epoch, key: rng.pick(ctx.ownedKeys) as Uint8Array<ArrayBuffer> }
          : { id: rid, type: Request.Type.PUT, epoch: ctx.epoch, key: rng.pick(ctx.ownedKeys) as Uint8Array<ArrayBuffer>, value: rng.bytes(rng.int(0, 2048)) }
        parts.push(frame(Request.encode(req)))
        c.ids.push(rid)
      }

      parts.push(rng.chance(0.5) ? frame(Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0x0f, 0x01])) : frame(Uint8Array.from([0x08, 0x07, 0x10, 0x63])))
      c.bytes = concat(parts)
      c.note = `${n} pipelined GET/PUT then a malformed frame`
      break
    }
    case 'big': {
      // one value at or just over the limit
      const over = rng.chance(0.5)
      const size = over ? ctx.maxMessageSize + rng.int(1, 1024) : ctx.maxMessageSize - 256
      const req: Partial<Request> = { id, type: Request.Type.PUT, epoch: ctx.epoch, key: ctx.bigKey as Uint8Array<ArrayBuffer>, value: new Uint8Array(size) }
      c.bytes = frame(Request.encode(req))
      c.ids = over ? [] : [id]
      c.note = `PUT of ${size} bytes (${over ? 'over' : 'under'} the limit)`
      break
    }
  }

  return c
}

// ------------------------------------------------------------ running cases

export interface FuzzRunOptions {
  /** Cases to run */
  cases: number
  /** Streams in use at once */
  concurrency: number
  /** How long a finished case's stream may stay open after we half-close it */
  caseTimeoutMs: number
  /** Called between cases: false stops the run (the target died) */
  keepGoing(): boolean
  /** As a stranger, every answer must be UNAUTHORIZED */
  stranger: boolean
  /** Run only this case (FUZZ_ONLY): the cases before it are generated and skipped */
  only?: number
  log?(line: string): void
}

export interface FuzzFinding {
  case: number
  kind: FuzzKind
  note: string
  what: string
}

export interface FuzzReport {
  ran: number
  byKind: Record<string, number>
  /** Streams the target closed or reset after the case, and streams it never answered on */
  closedByTarget: number
  dialFailures: number
  answers: number
  findings: FuzzFinding[]
}

type Open = () => Promise<RawStream>

/**
 * Run cases on fresh streams, `concurrency` at a time. After writing a
 * case we half-close; the target must then finish (answer or refuse) and
 * close the stream within `caseTimeoutMs` — a stream left open is a finding.
 * Stalling cases stay open (at most 4 at once) until the run ends.
 */
export async function runFuzz (rng: Prng, ctx: FuzzContext, open: Open, options: FuzzRunOptions): Promise<FuzzReport> {
  const report: FuzzReport = { ran: 0, byKind: {}, closedByTarget: 0, dialFailures: 0, answers: 0, findings: [] }
  const stalls: RawStream[] = []
  let next = 0
  let hangs = 0
  const find = (c: FuzzCase, what: string): void => {
    if (report.findings.length < 200) {
      report.findings.push({ case: c.index, kind: c.kind, note: c.note, what })
    }
  }

  const runOne = async (c: FuzzCase): Promise<void> => {
    let raw

    try {
      raw = await open()
    } catch (err: any) {
      report.dialFailures++

      if (report.dialFailures > 20) {
        find(c, `could not open a stream: ${err.message}`)
      }

      return
    }

    await raw.send(c.bytes)

    if (c.stall && !raw.isClosed) {
      stalls.push(raw)

      if (stalls.length > 4) {
        stalls.shift()?.abort()
      }

      return
    }

    await raw.closeWrite()
    // once the finding is made, do not spend the whole timeout on every repeat
    const closed = await raw.waitClosed(hangs > 10 ? 1000 : options.caseTimeoutMs)

    if (!closed) {
      hangs++
      find(c, `the stream was neither answered to the end nor closed ${hangs > 11 ? 1000 : options.caseTimeoutMs} ms after we half-closed it (${raw.answers.length} answers so far, ids ${raw.answers.slice(0, 5).map(a => `${a.id}:${a.status}`).join(' ')})`)
      raw.abort()
    } else {
      report.closedByTarget++
    }

    report.answers += raw.answers.length

    if (raw.undecodable.length > 0) {
      find(c, `answer frames that are not a Response: ${raw.undecodable[0]}`)
    }

    if (raw.framingError != null) {
      find(c, `answer bytes that are not length-prefixed frames: ${raw.framingError}`)
    }

    for (const res of raw.answers) {
      if (options.stranger && res.status !== Response.Status.UNAUTHORIZED) {
        find(c, `a stranger was answered ${res.status} (id ${res.id}, ${res.entries.length} entries, value ${res.value?.byteLength ?? 0} B)`)
        break
      }

      if (res.status === Response.Status.INTERNAL) {
        find(c, `answered INTERNAL: ${res.message}`)
        break
      }
    }

    // a well-formed request is answered on its stream, to the end
    if (!options.stranger && c.expectAnswer != null && !raw.answers.some(a => a.id === c.expectAnswer && (a.done || a.entries.length === 0))) {
      find(c, `no (final) answer to request id ${c.expectAnswer}; ${raw.answers.length} answers on the stream`)
    }
  }

  const workers = Array.from({ length: options.concurrency }, async () => {
    while (next < options.cases && options.keepGoing()) {
      const c = nextCase(rng, ctx, next++)

      if (options.only != null && c.index !== options.only) {
        continue
      }

      report.byKind[c.kind] = (report.byKind[c.kind] ?? 0) + 1
      await runOne(c)
      report.ran++

      if (report.ran % 1000 === 0) {
        options.log?.(`  ${report.ran} cases, ${report.findings.length} findings`)
      }
    }
  })

  await Promise.all(workers)

  for (const s of stalls) {
    s.abort()
  }

  return report
}
