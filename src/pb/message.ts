import { decodeMessage, encodeMessage, enumeration, MaxLengthError, message, streamMessage } from 'protons-runtime'
import { alloc as uint8ArrayAlloc } from 'uint8arrays/alloc'
import type { Codec, DecodeOptions } from 'protons-runtime'
import type { Uint8ArrayList } from 'uint8arraylist'

export interface Request {
  id: number
  type: Request.Type
  epoch: number
  key?: Uint8Array<ArrayBuffer>
  value?: Uint8Array<ArrayBuffer>
  puts: Entry[]
  keys: Uint8Array<ArrayBuffer>[]
  prefix: string
  keysOnly: boolean
  credit: number
  table?: SlotTable
  records: Record[]
  clock: bigint
  slotStart: number
  slotEnd: number
  slotGroup: number
  signedTable?: Uint8Array<ArrayBuffer>
  slotSet?: Uint8Array<ArrayBuffer>
  withValues: boolean
  trackers: Tracker[]
}

export namespace Request {
  export enum Type {
    UNKNOWN = 'UNKNOWN',
    GET = 'GET',
    HAS = 'HAS',
    PUT = 'PUT',
    DELETE = 'DELETE',
    BATCH = 'BATCH',
    GET_MANY = 'GET_MANY',
    QUERY = 'QUERY',
    CREDIT = 'CREDIT',
    CANCEL = 'CANCEL',
    TABLE = 'TABLE',
    REPLICA_GET = 'REPLICA_GET',
    REPLICA_WRITE = 'REPLICA_WRITE',
    REPLICA_GET_MANY = 'REPLICA_GET_MANY',
    REPLICA_QUERY = 'REPLICA_QUERY',
    PING = 'PING',
    DIGESTS = 'DIGESTS',
    SLOT_ENTRIES = 'SLOT_ENTRIES',
    GET_TABLE = 'GET_TABLE',
    REPLICA_VERSIONS = 'REPLICA_VERSIONS'
  }

  enum __TypeValues {
    UNKNOWN = 0,
    GET = 1,
    HAS = 2,
    PUT = 3,
    DELETE = 4,
    BATCH = 5,
    GET_MANY = 6,
    QUERY = 7,
    CREDIT = 8,
    CANCEL = 9,
    TABLE = 10,
    REPLICA_GET = 11,
    REPLICA_WRITE = 12,
    REPLICA_GET_MANY = 13,
    REPLICA_QUERY = 14,
    PING = 15,
    DIGESTS = 16,
    SLOT_ENTRIES = 17,
    GET_TABLE = 18,
    REPLICA_VERSIONS = 19
  }

  export namespace Type {
    export const codec = (): Codec<Type> => {
      return enumeration<Type>(__TypeValues)
    }
  }

  let _codec: Codec<Request>

  export const codec = (): Codec<Request> => {
    if (_codec == null) {
      _codec = message<Request>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if ((obj.id != null && obj.id !== 0)) {
          w.uint32(8)
          w.uint32(obj.id)
        }

        if (obj.type != null && __TypeValues[obj.type] !== 0) {
          w.uint32(16)
          Request.Type.codec().encode(obj.type, w)
        }

        if ((obj.epoch != null && obj.epoch !== 0)) {
          w.uint32(24)
          w.uint64Number(obj.epoch)
        }

        if (obj.key != null) {
          w.uint32(34)
          w.bytes(obj.key)
        }

        if (obj.value != null) {
          w.uint32(42)
          w.bytes(obj.value)
        }

        if (obj.puts != null && obj.puts.length > 0) {
          for (const value of obj.puts) {
            w.uint32(50)
            Entry.codec().encode(value, w)
          }
        }

        if (obj.keys != null && obj.keys.length > 0) {
          for (const value of obj.keys) {
            w.uint32(58)
            w.bytes(value)
          }
        }

        if ((obj.prefix != null && obj.prefix !== '')) {
          w.uint32(66)
          w.string(obj.prefix)
        }

        if ((obj.keysOnly != null && obj.keysOnly !== false)) {
          w.uint32(72)
          w.bool(obj.keysOnly)
        }

        if ((obj.credit != null && obj.credit !== 0)) {
          w.uint32(80)
          w.uint32(obj.credit)
        }

        if (obj.table != null) {
          w.uint32(90)
          SlotTable.codec().encode(obj.table, w)
        }

        if (obj.records != null && obj.records.length > 0) {
          for (const value of obj.records) {
            w.uint32(98)
            Record.codec().encode(value, w)
          }
        }

        if ((obj.clock != null && obj.clock !== 0n)) {
          w.uint32(104)
          w.uint64(obj.clock)
        }

        if ((obj.slotStart != null && obj.slotStart !== 0)) {
          w.uint32(112)
          w.uint32(obj.slotStart)
        }

        if ((obj.slotEnd != null && obj.slotEnd !== 0)) {
          w.uint32(120)
          w.uint32(obj.slotEnd)
        }

        if ((obj.slotGroup != null && obj.slotGroup !== 0)) {
          w.uint32(128)
          w.uint32(obj.slotGroup)
        }

        if (obj.signedTable != null) {
          w.uint32(138)
          w.bytes(obj.signedTable)
        }

        if (obj.slotSet != null) {
          w.uint32(322)
          w.bytes(obj.slotSet)
        }

        if ((obj.withValues != null && obj.withValues !== false)) {
          w.uint32(328)
          w.bool(obj.withValues)
        }

        if (obj.trackers != null && obj.trackers.length > 0) {
          for (const value of obj.trackers) {
            w.uint32(242)
            Tracker.codec().encode(value, w)
          }
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          id: 0,
          type: Type.UNKNOWN,
          epoch: 0,
          puts: [],
          keys: [],
          prefix: '',
          keysOnly: false,
          credit: 0,
          records: [],
          clock: 0n,
          slotStart: 0,
          slotEnd: 0,
          slotGroup: 0,
          withValues: false,
          trackers: []
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.id = reader.uint32()
              break
            }
            case 2: {
              obj.type = Request.Type.codec().decode(reader)
              break
            }
            case 3: {
              obj.epoch = reader.uint64Number()
              break
            }
            case 4: {
              obj.key = reader.bytes()
              break
            }
            case 5: {
              obj.value = reader.bytes()
              break
            }
            case 6: {
              if (opts.limits?.puts != null && obj.puts.length === opts.limits.puts) {
                throw new MaxLengthError('Decode error - repeated field "puts" had too many elements')
              }

              obj.puts.push(Entry.codec().decode(reader, reader.uint32(), {
                limits: opts.limits?.puts$
              }))
              break
            }
            case 7: {
              if (opts.limits?.keys != null && obj.keys.length === opts.limits.keys) {
                throw new MaxLengthError('Decode error - repeated field "keys" had too many elements')
              }

              obj.keys.push(reader.bytes())
              break
            }
            case 8: {
              obj.prefix = reader.string()
              break
            }
            case 9: {
              obj.keysOnly = reader.bool()
              break
            }
            case 10: {
              obj.credit = reader.uint32()
              break
            }
            case 11: {
              obj.table = SlotTable.codec().decode(reader, reader.uint32(), {
                limits: opts.limits?.table
              })
              break
            }
            case 12: {
              if (opts.limits?.records != null && obj.records.length === opts.limits.records) {
                throw new MaxLengthError('Decode error - repeated field "records" had too many elements')
              }

              obj.records.push(Record.codec().decode(reader, reader.uint32(), {
                limits: opts.limits?.records$
              }))
              break
            }
            case 13: {
              obj.clock = reader.uint64()
              break
            }
            case 14: {
              obj.slotStart = reader.uint32()
              break
            }
            case 15: {
              obj.slotEnd = reader.uint32()
              break
            }
            case 16: {
              obj.slotGroup = reader.uint32()
              break
            }
            case 17: {
              obj.signedTable = reader.bytes()
              break
            }
            case 40: {
              obj.slotSet = reader.bytes()
              break
            }
            case 41: {
              obj.withValues = reader.bool()
              break
            }
            case 30: {
              if (opts.limits?.trackers != null && obj.trackers.length === opts.limits.trackers) {
                throw new MaxLengthError('Decode error - repeated field "trackers" had too many elements')
              }

              obj.trackers.push(Tracker.codec().decode(reader, reader.uint32(), {
                limits: opts.limits?.trackers$
              }))
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }

        return obj
      }, function * (reader, length, prefix, opts = {}) {
        const obj = {
          puts: 0,
          keys: 0,
          records: 0,
          trackers: 0
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              yield {
                field: `${prefix}.id`,
                value: reader.uint32()
              }
              break
            }
            case 2: {
              yield {
                field: `${prefix}.type`,
                value: Request.Type.codec().decode(reader)
              }
              break
            }
            case 3: {
              yield {
                field: `${prefix}.epoch`,
                value: reader.uint64Number()
              }
              break
            }
            case 4: {
              yield {
                field: `${prefix}.key`,
                value: reader.bytes()
              }
              break
            }
            case 5: {
              yield {
                field: `${prefix}.value`,
                value: reader.bytes()
              }
              break
            }
            case 6: {
              if (opts.limits?.puts != null && obj.puts === opts.limits.puts) {
                throw new MaxLengthError('Streaming decode error - repeated field "puts" had too many elements')
              }

              for (const evt of Entry.codec().stream(reader, reader.uint32(), `${prefix}.puts[]`, {
                limits: opts.limits?.puts$
              })) {
                yield {
                  ...evt,
                  index: obj.puts
                }
              }

              obj.puts++

              break
            }
            case 7: {
              if (opts.limits?.keys != null && obj.keys === opts.limits.keys) {
                throw new MaxLengthError('Streaming decode error - repeated field "keys" had too many elements')
              }

              yield {
                field: `${prefix}.keys[]`,
                index: obj.keys,
                value: reader.bytes()
              }

              obj.keys++

              break
            }
            case 8: {
              yield {
                field: `${prefix}.prefix`,
                value: reader.string()
              }
              break
            }
            case 9: {
              yield {
                field: `${prefix}.keysOnly`,
                value: reader.bool()
              }
              break
            }
            case 10: {
              yield {
                field: `${prefix}.credit`,
                value: reader.uint32()
              }
              break
            }
            case 11: {
              yield * SlotTable.codec().stream(reader, reader.uint32(), `${prefix}.table`, {
                limits: opts.limits?.table
              })

              break
            }
            case 12: {
              if (opts.limits?.records != null && obj.records === opts.limits.records) {
                throw new MaxLengthError('Streaming decode error - repeated field "records" had too many elements')
              }

              for (const evt of Record.codec().stream(reader, reader.uint32(), `${prefix}.records[]`, {
                limits: opts.limits?.records$
              })) {
                yield {
                  ...evt,
                  index: obj.records
                }
              }

              obj.records++

              break
            }
            case 13: {
              yield {
                field: `${prefix}.clock`,
                value: reader.uint64()
              }
              break
            }
            case 14: {
              yield {
                field: `${prefix}.slotStart`,
                value: reader.uint32()
              }
              break
            }
            case 15: {
              yield {
                field: `${prefix}.slotEnd`,
                value: reader.uint32()
              }
              break
            }
            case 16: {
              yield {
                field: `${prefix}.slotGroup`,
                value: reader.uint32()
              }
              break
            }
            case 17: {
              yield {
                field: `${prefix}.signedTable`,
                value: reader.bytes()
              }
              break
            }
            case 40: {
              yield {
                field: `${prefix}.slotSet`,
                value: reader.bytes()
              }
              break
            }
            case 41: {
              yield {
                field: `${prefix}.withValues`,
                value: reader.bool()
              }
              break
            }
            case 30: {
              if (opts.limits?.trackers != null && obj.trackers === opts.limits.trackers) {
                throw new MaxLengthError('Streaming decode error - repeated field "trackers" had too many elements')
              }

              for (const evt of Tracker.codec().stream(reader, reader.uint32(), `${prefix}.trackers[]`, {
                limits: opts.limits?.trackers$
              })) {
                yield {
                  ...evt,
                  index: obj.trackers
                }
              }

              obj.trackers++

              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }
      })
    }

    return _codec
  }

  export interface RequestIdFieldEvent {
    field: '$.id'
    value: number
  }

  export interface RequestTypeFieldEvent {
    field: '$.type'
    value: Request.Type
  }

  export interface RequestEpochFieldEvent {
    field: '$.epoch'
    value: number
  }

  export interface RequestKeyFieldEvent {
    field: '$.key'
    value: Uint8Array<ArrayBuffer>
  }

  export interface RequestValueFieldEvent {
    field: '$.value'
    value: Uint8Array<ArrayBuffer>
  }

  export interface RequestPutsKeyFieldEvent {
    field: '$.puts[].key'
    value: Uint8Array<ArrayBuffer>
    index: number
  }

  export interface RequestPutsValueFieldEvent {
    field: '$.puts[].value'
    value: Uint8Array<ArrayBuffer>
    index: number
  }

  export interface RequestPutsMissingFieldEvent {
    field: '$.puts[].missing'
    value: boolean
    index: number
  }

  export interface RequestPutsVersionFieldEvent {
    field: '$.puts[].version'
    value: Uint8Array<ArrayBuffer>
    index: number
  }

  export interface RequestPutsTombstoneFieldEvent {
    field: '$.puts[].tombstone'
    value: boolean
    index: number
  }

  export interface RequestPutsChecksumFieldEvent {
    field: '$.puts[].checksum'
    value: bigint
    index: number
  }

  export interface RequestKeysFieldEvent {
    field: '$.keys[]'
    index: number
    value: Uint8Array<ArrayBuffer>
  }

  export interface RequestPrefixFieldEvent {
    field: '$.prefix'
    value: string
  }

  export interface RequestKeysOnlyFieldEvent {
    field: '$.keysOnly'
    value: boolean
  }

  export interface RequestCreditFieldEvent {
    field: '$.credit'
    value: number
  }

  export interface RequestTableEpochFieldEvent {
    field: '$.table.epoch'
    value: number
  }

  export interface RequestTableRangesStartFieldEvent {
    field: '$.table.ranges[].start'
    value: number
    index: number
  }

  export interface RequestTableRangesEndFieldEvent {
    field: '$.table.ranges[].end'
    value: number
    index: number
  }

  export interface RequestTableRangesOwnersFieldEvent {
    field: '$.table.ranges[].owners[]'
    index: number
    value: Uint8Array<ArrayBuffer>
  }

  export interface RequestTablePeersIdFieldEvent {
    field: '$.table.peers[].id'
    value: Uint8Array<ArrayBuffer>
    index: number
  }

  export interface RequestTablePeersAddrsFieldEvent {
    field: '$.table.peers[].addrs[]'
    index: number
    value: Uint8Array<ArrayBuffer>
  }

  export interface RequestTableClientsIdFieldEvent {
    field: '$.table.clients[].id'
    value: Uint8Array<ArrayBuffer>
    index: number
  }

  export interface RequestTableClientsReadOnlyFieldEvent {
    field: '$.table.clients[].readOnly'
    value: boolean
    index: number
  }

  export interface RequestTableDeadFieldEvent {
    field: '$.table.dead[]'
    index: number
    value: Uint8Array<ArrayBuffer>
  }

  export interface RequestRecordsKeyFieldEvent {
    field: '$.records[].key'
    value: Uint8Array<ArrayBuffer>
    index: number
  }

  export interface RequestRecordsValueFieldEvent {
    field: '$.records[].value'
    value: Uint8Array<ArrayBuffer>
    index: number
  }

  export interface RequestRecordsVersionFieldEvent {
    field: '$.records[].version'
    value: Uint8Array<ArrayBuffer>
    index: number
  }

  export interface RequestRecordsTombstoneFieldEvent {
    field: '$.records[].tombstone'
    value: boolean
    index: number
  }

  export interface RequestClockFieldEvent {
    field: '$.clock'
    value: bigint
  }

  export interface RequestSlotStartFieldEvent {
    field: '$.slotStart'
    value: number
  }

  export interface RequestSlotEndFieldEvent {
    field: '$.slotEnd'
    value: number
  }

  export interface RequestSlotGroupFieldEvent {
    field: '$.slotGroup'
    value: number
  }

  export interface RequestSignedTableFieldEvent {
    field: '$.signedTable'
    value: Uint8Array<ArrayBuffer>
  }

  export interface RequestSlotSetFieldEvent {
    field: '$.slotSet'
    value: Uint8Array<ArrayBuffer>
  }

  export interface RequestWithValuesFieldEvent {
    field: '$.withValues'
    value: boolean
  }

  export interface RequestTrackersPeerFieldEvent {
    field: '$.trackers[].peer'
    value: Uint8Array<ArrayBuffer>
    index: number
  }

  export interface RequestTrackersAckFieldEvent {
    field: '$.trackers[].ack'
    value: number
    index: number
  }

  export interface RequestTrackersSyncFieldEvent {
    field: '$.trackers[].sync'
    value: number
    index: number
  }

  export interface RequestTrackersSyncAckFieldEvent {
    field: '$.trackers[].syncAck'
    value: number
    index: number
  }

  export function encode (obj: Partial<Request>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, Request.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<Request>): Request {
    return decodeMessage(buf, Request.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<Request>): Generator<RequestIdFieldEvent | RequestTypeFieldEvent | RequestEpochFieldEvent | RequestKeyFieldEvent | RequestValueFieldEvent | RequestPutsKeyFieldEvent | RequestPutsValueFieldEvent | RequestPutsMissingFieldEvent | RequestPutsVersionFieldEvent | RequestPutsTombstoneFieldEvent | RequestPutsChecksumFieldEvent | RequestKeysFieldEvent | RequestPrefixFieldEvent | RequestKeysOnlyFieldEvent | RequestCreditFieldEvent | RequestTableEpochFieldEvent | RequestTableRangesStartFieldEvent | RequestTableRangesEndFieldEvent | RequestTableRangesOwnersFieldEvent | RequestTablePeersIdFieldEvent | RequestTablePeersAddrsFieldEvent | RequestTableClientsIdFieldEvent | RequestTableClientsReadOnlyFieldEvent | RequestTableDeadFieldEvent | RequestRecordsKeyFieldEvent | RequestRecordsValueFieldEvent | RequestRecordsVersionFieldEvent | RequestRecordsTombstoneFieldEvent | RequestClockFieldEvent | RequestSlotStartFieldEvent | RequestSlotEndFieldEvent | RequestSlotGroupFieldEvent | RequestSignedTableFieldEvent | RequestSlotSetFieldEvent | RequestWithValuesFieldEvent | RequestTrackersPeerFieldEvent | RequestTrackersAckFieldEvent | RequestTrackersSyncFieldEvent | RequestTrackersSyncAckFieldEvent> {
    return streamMessage(buf, Request.codec(), opts)
  }
}

export interface Tracker {
  peer: Uint8Array<ArrayBuffer>
  ack: number
  sync: number
  syncAck: number
}

export namespace Tracker {
  let _codec: Codec<Tracker>

  export const codec = (): Codec<Tracker> => {
    if (_codec == null) {
      _codec = message<Tracker>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if ((obj.peer != null && obj.peer.byteLength > 0)) {
          w.uint32(10)
          w.bytes(obj.peer)
        }

        if ((obj.ack != null && obj.ack !== 0)) {
          w.uint32(16)
          w.uint64Number(obj.ack)
        }

        if ((obj.sync != null && obj.sync !== 0)) {
          w.uint32(24)
          w.uint64Number(obj.sync)
        }

        if ((obj.syncAck != null && obj.syncAck !== 0)) {
          w.uint32(32)
          w.uint64Number(obj.syncAck)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          peer: uint8ArrayAlloc(0),
          ack: 0,
          sync: 0,
          syncAck: 0
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.peer = reader.bytes()
              break
            }
            case 2: {
              obj.ack = reader.uint64Number()
              break
            }
            case 3: {
              obj.sync = reader.uint64Number()
              break
            }
            case 4: {
              obj.syncAck = reader.uint64Number()
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }

        return obj
      }, function * (reader, length, prefix, opts = {}) {
        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              yield {
                field: `${prefix}.peer`,
                value: reader.bytes()
              }
              break
            }
            case 2: {
              yield {
                field: `${prefix}.ack`,
                value: reader.uint64Number()
              }
              break
            }
            case 3: {
              yield {
                field: `${prefix}.sync`,
                value: reader.uint64Number()
              }
              break
            }
            case 4: {
              yield {
                field: `${prefix}.syncAck`,
                value: reader.uint64Number()
              }
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }
      })
    }

    return _codec
  }

  export interface TrackerPeerFieldEvent {
    field: '$.peer'
    value: Uint8Array<ArrayBuffer>
  }

  export interface TrackerAckFieldEvent {
    field: '$.ack'
    value: number
  }

  export interface TrackerSyncFieldEvent {
    field: '$.sync'
    value: number
  }

  export interface TrackerSyncAckFieldEvent {
    field: '$.syncAck'
    value: number
  }

  export function encode (obj: Partial<Tracker>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, Tracker.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<Tracker>): Tracker {
    return decodeMessage(buf, Tracker.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<Tracker>): Generator<TrackerPeerFieldEvent | TrackerAckFieldEvent | TrackerSyncFieldEvent | TrackerSyncAckFieldEvent> {
    return streamMessage(buf, Tracker.codec(), opts)
  }
}

export interface Entry {
  key?: Uint8Array<ArrayBuffer>
  value?: Uint8Array<ArrayBuffer>
  missing: boolean
  version?: Uint8Array<ArrayBuffer>
  tombstone?: boolean
  checksum?: bigint
}

export namespace Entry {
  let _codec: Codec<Entry>

  export const codec = (): Codec<Entry> => {
    if (_codec == null) {
      _codec = message<Entry>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if (obj.key != null) {
          w.uint32(10)
          w.bytes(obj.key)
        }

        if (obj.value != null) {
          w.uint32(18)
          w.bytes(obj.value)
        }

        if ((obj.missing != null && obj.missing !== false)) {
          w.uint32(24)
          w.bool(obj.missing)
        }

        if (obj.version != null) {
          w.uint32(34)
          w.bytes(obj.version)
        }

        if (obj.tombstone != null) {
          w.uint32(40)
          w.bool(obj.tombstone)
        }

        if (obj.checksum != null) {
          w.uint32(49)
          w.fixed64(obj.checksum)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          missing: false
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.key = reader.bytes()
              break
            }
            case 2: {
              obj.value = reader.bytes()
              break
            }
            case 3: {
              obj.missing = reader.bool()
              break
            }
            case 4: {
              obj.version = reader.bytes()
              break
            }
            case 5: {
              obj.tombstone = reader.bool()
              break
            }
            case 6: {
              obj.checksum = reader.fixed64()
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }

        return obj
      }, function * (reader, length, prefix, opts = {}) {
        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              yield {
                field: `${prefix}.key`,
                value: reader.bytes()
              }
              break
            }
            case 2: {
              yield {
                field: `${prefix}.value`,
                value: reader.bytes()
              }
              break
            }
            case 3: {
              yield {
                field: `${prefix}.missing`,
                value: reader.bool()
              }
              break
            }
            case 4: {
              yield {
                field: `${prefix}.version`,
                value: reader.bytes()
              }
              break
            }
            case 5: {
              yield {
                field: `${prefix}.tombstone`,
                value: reader.bool()
              }
              break
            }
            case 6: {
              yield {
                field: `${prefix}.checksum`,
                value: reader.fixed64()
              }
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }
      })
    }

    return _codec
  }

  export interface EntryKeyFieldEvent {
    field: '$.key'
    value: Uint8Array<ArrayBuffer>
  }

  export interface EntryValueFieldEvent {
    field: '$.value'
    value: Uint8Array<ArrayBuffer>
  }

  export interface EntryMissingFieldEvent {
    field: '$.missing'
    value: boolean
  }

  export interface EntryVersionFieldEvent {
    field: '$.version'
    value: Uint8Array<ArrayBuffer>
  }

  export interface EntryTombstoneFieldEvent {
    field: '$.tombstone'
    value: boolean
  }

  export interface EntryChecksumFieldEvent {
    field: '$.checksum'
    value: bigint
  }

  export function encode (obj: Partial<Entry>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, Entry.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<Entry>): Entry {
    return decodeMessage(buf, Entry.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<Entry>): Generator<EntryKeyFieldEvent | EntryValueFieldEvent | EntryMissingFieldEvent | EntryVersionFieldEvent | EntryTombstoneFieldEvent | EntryChecksumFieldEvent> {
    return streamMessage(buf, Entry.codec(), opts)
  }
}

export interface Record {
  key: Uint8Array<ArrayBuffer>
  value?: Uint8Array<ArrayBuffer>
  version: Uint8Array<ArrayBuffer>
  tombstone: boolean
}

export namespace Record {
  let _codec: Codec<Record>

  export const codec = (): Codec<Record> => {
    if (_codec == null) {
      _codec = message<Record>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if ((obj.key != null && obj.key.byteLength > 0)) {
          w.uint32(10)
          w.bytes(obj.key)
        }

        if (obj.value != null) {
          w.uint32(18)
          w.bytes(obj.value)
        }

        if ((obj.version != null && obj.version.byteLength > 0)) {
          w.uint32(26)
          w.bytes(obj.version)
        }

        if ((obj.tombstone != null && obj.tombstone !== false)) {
          w.uint32(32)
          w.bool(obj.tombstone)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          key: uint8ArrayAlloc(0),
          version: uint8ArrayAlloc(0),
          tombstone: false
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.key = reader.bytes()
              break
            }
            case 2: {
              obj.value = reader.bytes()
              break
            }
            case 3: {
              obj.version = reader.bytes()
              break
            }
            case 4: {
              obj.tombstone = reader.bool()
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }

        return obj
      }, function * (reader, length, prefix, opts = {}) {
        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              yield {
                field: `${prefix}.key`,
                value: reader.bytes()
              }
              break
            }
            case 2: {
              yield {
                field: `${prefix}.value`,
                value: reader.bytes()
              }
              break
            }
            case 3: {
              yield {
                field: `${prefix}.version`,
                value: reader.bytes()
              }
              break
            }
            case 4: {
              yield {
                field: `${prefix}.tombstone`,
                value: reader.bool()
              }
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }
      })
    }

    return _codec
  }

  export interface RecordKeyFieldEvent {
    field: '$.key'
    value: Uint8Array<ArrayBuffer>
  }

  export interface RecordValueFieldEvent {
    field: '$.value'
    value: Uint8Array<ArrayBuffer>
  }

  export interface RecordVersionFieldEvent {
    field: '$.version'
    value: Uint8Array<ArrayBuffer>
  }

  export interface RecordTombstoneFieldEvent {
    field: '$.tombstone'
    value: boolean
  }

  export function encode (obj: Partial<Record>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, Record.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<Record>): Record {
    return decodeMessage(buf, Record.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<Record>): Generator<RecordKeyFieldEvent | RecordValueFieldEvent | RecordVersionFieldEvent | RecordTombstoneFieldEvent> {
    return streamMessage(buf, Record.codec(), opts)
  }
}

export interface Response {
  id: number
  status: Response.Status
  epoch: number
  message: string
  value?: Uint8Array<ArrayBuffer>
  exists: boolean
  entries: Entry[]
  done: boolean
  table?: SlotTable
  record?: Record
  records: Record[]
  clock: bigint
  digests?: Uint8Array<ArrayBuffer>
  signedTable?: Uint8Array<ArrayBuffer>
  settled: boolean
  trackers: Tracker[]
}

export namespace Response {
  export enum Status {
    OK = 'OK',
    NOT_FOUND = 'NOT_FOUND',
    MOVED = 'MOVED',
    UNAUTHORIZED = 'UNAUTHORIZED',
    TOO_LARGE = 'TOO_LARGE',
    BAD_REQUEST = 'BAD_REQUEST',
    UNAVAILABLE = 'UNAVAILABLE',
    INTERNAL = 'INTERNAL',
    CONFLICT = 'CONFLICT'
  }

  enum __StatusValues {
    OK = 0,
    NOT_FOUND = 1,
    MOVED = 2,
    UNAUTHORIZED = 3,
    TOO_LARGE = 4,
    BAD_REQUEST = 5,
    UNAVAILABLE = 6,
    INTERNAL = 7,
    CONFLICT = 8
  }

  export namespace Status {
    export const codec = (): Codec<Status> => {
      return enumeration<Status>(__StatusValues)
    }
  }

  let _codec: Codec<Response>

  export const codec = (): Codec<Response> => {
    if (_codec == null) {
      _codec = message<Response>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if ((obj.id != null && obj.id !== 0)) {
          w.uint32(8)
          w.uint32(obj.id)
        }

        if (obj.status != null && __StatusValues[obj.status] !== 0) {
          w.uint32(16)
          Response.Status.codec().encode(obj.status, w)
        }

        if ((obj.epoch != null && obj.epoch !== 0)) {
          w.uint32(24)
          w.uint64Number(obj.epoch)
        }

        if ((obj.message != null && obj.message !== '')) {
          w.uint32(34)
          w.string(obj.message)
        }

        if (obj.value != null) {
          w.uint32(42)
          w.bytes(obj.value)
        }

        if ((obj.exists != null && obj.exists !== false)) {
          w.uint32(48)
          w.bool(obj.exists)
        }

        if (obj.entries != null && obj.entries.length > 0) {
          for (const value of obj.entries) {
            w.uint32(58)
            Entry.codec().encode(value, w)
          }
        }

        if ((obj.done != null && obj.done !== false)) {
          w.uint32(64)
          w.bool(obj.done)
        }

        if (obj.table != null) {
          w.uint32(74)
          SlotTable.codec().encode(obj.table, w)
        }

        if (obj.record != null) {
          w.uint32(82)
          Record.codec().encode(obj.record, w)
        }

        if (obj.records != null && obj.records.length > 0) {
          for (const value of obj.records) {
            w.uint32(90)
            Record.codec().encode(value, w)
          }
        }

        if ((obj.clock != null && obj.clock !== 0n)) {
          w.uint32(96)
          w.uint64(obj.clock)
        }

        if (obj.digests != null) {
          w.uint32(106)
          w.bytes(obj.digests)
        }

        if (obj.signedTable != null) {
          w.uint32(114)
          w.bytes(obj.signedTable)
        }

        if ((obj.settled != null && obj.settled !== false)) {
          w.uint32(120)
          w.bool(obj.settled)
        }

        if (obj.trackers != null && obj.trackers.length > 0) {
          for (const value of obj.trackers) {
            w.uint32(242)
            Tracker.codec().encode(value, w)
          }
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          id: 0,
          status: Status.OK,
          epoch: 0,
          message: '',
          exists: false,
          entries: [],
          done: false,
          records: [],
          clock: 0n,
          settled: false,
          trackers: []
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.id = reader.uint32()
              break
            }
            case 2: {
              obj.status = Response.Status.codec().decode(reader)
              break
            }
            case 3: {
              obj.epoch = reader.uint64Number()
              break
            }
            case 4: {
              obj.message = reader.string()
              break
            }
            case 5: {
              obj.value = reader.bytes()
              break
            }
            case 6: {
              obj.exists = reader.bool()
              break
            }
            case 7: {
              if (opts.limits?.entries != null && obj.entries.length === opts.limits.entries) {
                throw new MaxLengthError('Decode error - repeated field "entries" had too many elements')
              }

              obj.entries.push(Entry.codec().decode(reader, reader.uint32(), {
                limits: opts.limits?.entries$
              }))
              break
            }
            case 8: {
              obj.done = reader.bool()
              break
            }
            case 9: {
              obj.table = SlotTable.codec().decode(reader, reader.uint32(), {
                limits: opts.limits?.table
              })
              break
            }
            case 10: {
              obj.record = Record.codec().decode(reader, reader.uint32(), {
                limits: opts.limits?.record
              })
              break
            }
            case 11: {
              if (opts.limits?.records != null && obj.records.length === opts.limits.records) {
                throw new MaxLengthError('Decode error - repeated field "records" had too many elements')
              }

              obj.records.push(Record.codec().decode(reader, reader.uint32(), {
                limits: opts.limits?.records$
              }))
              break
            }
            case 12: {
              obj.clock = reader.uint64()
              break
            }
            case 13: {
              obj.digests = reader.bytes()
              break
            }
            case 14: {
              obj.signedTable = reader.bytes()
              break
            }
            case 15: {
              obj.settled = reader.bool()
              break
            }
            case 30: {
              if (opts.limits?.trackers != null && obj.trackers.length === opts.limits.trackers) {
                throw new MaxLengthError('Decode error - repeated field "trackers" had too many elements')
              }

              obj.trackers.push(Tracker.codec().decode(reader, reader.uint32(), {
                limits: opts.limits?.trackers$
              }))
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }

        return obj
      }, function * (reader, length, prefix, opts = {}) {
        const obj = {
          entries: 0,
          records: 0,
          trackers: 0
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              yield {
                field: `${prefix}.id`,
                value: reader.uint32()
              }
              break
            }
            case 2: {
              yield {
                field: `${prefix}.status`,
                value: Response.Status.codec().decode(reader)
              }
              break
            }
            case 3: {
              yield {
                field: `${prefix}.epoch`,
                value: reader.uint64Number()
              }
              break
            }
            case 4: {
              yield {
                field: `${prefix}.message`,
                value: reader.string()
              }
              break
            }
            case 5: {
              yield {
                field: `${prefix}.value`,
                value: reader.bytes()
              }
              break
            }
            case 6: {
              yield {
                field: `${prefix}.exists`,
                value: reader.bool()
              }
              break
            }
            case 7: {
              if (opts.limits?.entries != null && obj.entries === opts.limits.entries) {
                throw new MaxLengthError('Streaming decode error - repeated field "entries" had too many elements')
              }

              for (const evt of Entry.codec().stream(reader, reader.uint32(), `${prefix}.entries[]`, {
                limits: opts.limits?.entries$
              })) {
                yield {
                  ...evt,
                  index: obj.entries
                }
              }

              obj.entries++

              break
            }
            case 8: {
              yield {
                field: `${prefix}.done`,
                value: reader.bool()
              }
              break
            }
            case 9: {
              yield * SlotTable.codec().stream(reader, reader.uint32(), `${prefix}.table`, {
                limits: opts.limits?.table
              })

              break
            }
            case 10: {
              yield * Record.codec().stream(reader, reader.uint32(), `${prefix}.record`, {
                limits: opts.limits?.record
              })

              break
            }
            case 11: {
              if (opts.limits?.records != null && obj.records === opts.limits.records) {
                throw new MaxLengthError('Streaming decode error - repeated field "records" had too many elements')
              }

              for (const evt of Record.codec().stream(reader, reader.uint32(), `${prefix}.records[]`, {
                limits: opts.limits?.records$
              })) {
                yield {
                  ...evt,
                  index: obj.records
                }
              }

              obj.records++

              break
            }
            case 12: {
              yield {
                field: `${prefix}.clock`,
                value: reader.uint64()
              }
              break
            }
            case 13: {
              yield {
                field: `${prefix}.digests`,
                value: reader.bytes()
              }
              break
            }
            case 14: {
              yield {
                field: `${prefix}.signedTable`,
                value: reader.bytes()
              }
              break
            }
            case 15: {
              yield {
                field: `${prefix}.settled`,
                value: reader.bool()
              }
              break
            }
            case 30: {
              if (opts.limits?.trackers != null && obj.trackers === opts.limits.trackers) {
                throw new MaxLengthError('Streaming decode error - repeated field "trackers" had too many elements')
              }

              for (const evt of Tracker.codec().stream(reader, reader.uint32(), `${prefix}.trackers[]`, {
                limits: opts.limits?.trackers$
              })) {
                yield {
                  ...evt,
                  index: obj.trackers
                }
              }

              obj.trackers++

              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }
      })
    }

    return _codec
  }

  export interface ResponseIdFieldEvent {
    field: '$.id'
    value: number
  }

  export interface ResponseStatusFieldEvent {
    field: '$.status'
    value: Response.Status
  }

  export interface ResponseEpochFieldEvent {
    field: '$.epoch'
    value: number
  }

  export interface ResponseMessageFieldEvent {
    field: '$.message'
    value: string
  }

  export interface ResponseValueFieldEvent {
    field: '$.value'
    value: Uint8Array<ArrayBuffer>
  }

  export interface ResponseExistsFieldEvent {
    field: '$.exists'
    value: boolean
  }

  export interface ResponseEntriesKeyFieldEvent {
    field: '$.entries[].key'
    value: Uint8Array<ArrayBuffer>
    index: number
  }

  export interface ResponseEntriesValueFieldEvent {
    field: '$.entries[].value'
    value: Uint8Array<ArrayBuffer>
    index: number
  }

  export interface ResponseEntriesMissingFieldEvent {
    field: '$.entries[].missing'
    value: boolean
    index: number
  }

  export interface ResponseEntriesVersionFieldEvent {
    field: '$.entries[].version'
    value: Uint8Array<ArrayBuffer>
    index: number
  }

  export interface ResponseEntriesTombstoneFieldEvent {
    field: '$.entries[].tombstone'
    value: boolean
    index: number
  }

  export interface ResponseEntriesChecksumFieldEvent {
    field: '$.entries[].checksum'
    value: bigint
    index: number
  }

  export interface ResponseDoneFieldEvent {
    field: '$.done'
    value: boolean
  }

  export interface ResponseTableEpochFieldEvent {
    field: '$.table.epoch'
    value: number
  }

  export interface ResponseTableRangesStartFieldEvent {
    field: '$.table.ranges[].start'
    value: number
    index: number
  }

  export interface ResponseTableRangesEndFieldEvent {
    field: '$.table.ranges[].end'
    value: number
    index: number
  }

  export interface ResponseTableRangesOwnersFieldEvent {
    field: '$.table.ranges[].owners[]'
    index: number
    value: Uint8Array<ArrayBuffer>
  }

  export interface ResponseTablePeersIdFieldEvent {
    field: '$.table.peers[].id'
    value: Uint8Array<ArrayBuffer>
    index: number
  }

  export interface ResponseTablePeersAddrsFieldEvent {
    field: '$.table.peers[].addrs[]'
    index: number
    value: Uint8Array<ArrayBuffer>
  }

  export interface ResponseTableClientsIdFieldEvent {
    field: '$.table.clients[].id'
    value: Uint8Array<ArrayBuffer>
    index: number
  }

  export interface ResponseTableClientsReadOnlyFieldEvent {
    field: '$.table.clients[].readOnly'
    value: boolean
    index: number
  }

  export interface ResponseTableDeadFieldEvent {
    field: '$.table.dead[]'
    index: number
    value: Uint8Array<ArrayBuffer>
  }

  export interface ResponseRecordKeyFieldEvent {
    field: '$.record.key'
    value: Uint8Array<ArrayBuffer>
  }

  export interface ResponseRecordValueFieldEvent {
    field: '$.record.value'
    value: Uint8Array<ArrayBuffer>
  }

  export interface ResponseRecordVersionFieldEvent {
    field: '$.record.version'
    value: Uint8Array<ArrayBuffer>
  }

  export interface ResponseRecordTombstoneFieldEvent {
    field: '$.record.tombstone'
    value: boolean
  }

  export interface ResponseRecordsKeyFieldEvent {
    field: '$.records[].key'
    value: Uint8Array<ArrayBuffer>
    index: number
  }

  export interface ResponseRecordsValueFieldEvent {
    field: '$.records[].value'
    value: Uint8Array<ArrayBuffer>
    index: number
  }

  export interface ResponseRecordsVersionFieldEvent {
    field: '$.records[].version'
    value: Uint8Array<ArrayBuffer>
    index: number
  }

  export interface ResponseRecordsTombstoneFieldEvent {
    field: '$.records[].tombstone'
    value: boolean
    index: number
  }

  export interface ResponseClockFieldEvent {
    field: '$.clock'
    value: bigint
  }

  export interface ResponseDigestsFieldEvent {
    field: '$.digests'
    value: Uint8Array<ArrayBuffer>
  }

  export interface ResponseSignedTableFieldEvent {
    field: '$.signedTable'
    value: Uint8Array<ArrayBuffer>
  }

  export interface ResponseSettledFieldEvent {
    field: '$.settled'
    value: boolean
  }

  export interface ResponseTrackersPeerFieldEvent {
    field: '$.trackers[].peer'
    value: Uint8Array<ArrayBuffer>
    index: number
  }

  export interface ResponseTrackersAckFieldEvent {
    field: '$.trackers[].ack'
    value: number
    index: number
  }

  export interface ResponseTrackersSyncFieldEvent {
    field: '$.trackers[].sync'
    value: number
    index: number
  }

  export interface ResponseTrackersSyncAckFieldEvent {
    field: '$.trackers[].syncAck'
    value: number
    index: number
  }

  export function encode (obj: Partial<Response>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, Response.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<Response>): Response {
    return decodeMessage(buf, Response.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<Response>): Generator<ResponseIdFieldEvent | ResponseStatusFieldEvent | ResponseEpochFieldEvent | ResponseMessageFieldEvent | ResponseValueFieldEvent | ResponseExistsFieldEvent | ResponseEntriesKeyFieldEvent | ResponseEntriesValueFieldEvent | ResponseEntriesMissingFieldEvent | ResponseEntriesVersionFieldEvent | ResponseEntriesTombstoneFieldEvent | ResponseEntriesChecksumFieldEvent | ResponseDoneFieldEvent | ResponseTableEpochFieldEvent | ResponseTableRangesStartFieldEvent | ResponseTableRangesEndFieldEvent | ResponseTableRangesOwnersFieldEvent | ResponseTablePeersIdFieldEvent | ResponseTablePeersAddrsFieldEvent | ResponseTableClientsIdFieldEvent | ResponseTableClientsReadOnlyFieldEvent | ResponseTableDeadFieldEvent | ResponseRecordKeyFieldEvent | ResponseRecordValueFieldEvent | ResponseRecordVersionFieldEvent | ResponseRecordTombstoneFieldEvent | ResponseRecordsKeyFieldEvent | ResponseRecordsValueFieldEvent | ResponseRecordsVersionFieldEvent | ResponseRecordsTombstoneFieldEvent | ResponseClockFieldEvent | ResponseDigestsFieldEvent | ResponseSignedTableFieldEvent | ResponseSettledFieldEvent | ResponseTrackersPeerFieldEvent | ResponseTrackersAckFieldEvent | ResponseTrackersSyncFieldEvent | ResponseTrackersSyncAckFieldEvent> {
    return streamMessage(buf, Response.codec(), opts)
  }
}

export interface SlotTable {
  epoch: number
  ranges: SlotRange[]
  peers: SlotPeer[]
  clients: SlotClient[]
  dead: Uint8Array<ArrayBuffer>[]
}

export namespace SlotTable {
  let _codec: Codec<SlotTable>

  export const codec = (): Codec<SlotTable> => {
    if (_codec == null) {
      _codec = message<SlotTable>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if ((obj.epoch != null && obj.epoch !== 0)) {
          w.uint32(8)
          w.uint64Number(obj.epoch)
        }

        if (obj.ranges != null && obj.ranges.length > 0) {
          for (const value of obj.ranges) {
            w.uint32(18)
            SlotRange.codec().encode(value, w)
          }
        }

        if (obj.peers != null && obj.peers.length > 0) {
          for (const value of obj.peers) {
            w.uint32(26)
            SlotPeer.codec().encode(value, w)
          }
        }

        if (obj.clients != null && obj.clients.length > 0) {
          for (const value of obj.clients) {
            w.uint32(34)
            SlotClient.codec().encode(value, w)
          }
        }

        if (obj.dead != null && obj.dead.length > 0) {
          for (const value of obj.dead) {
            w.uint32(42)
            w.bytes(value)
          }
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          epoch: 0,
          ranges: [],
          peers: [],
          clients: [],
          dead: []
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.epoch = reader.uint64Number()
              break
            }
            case 2: {
              if (opts.limits?.ranges != null && obj.ranges.length === opts.limits.ranges) {
                throw new MaxLengthError('Decode error - repeated field "ranges" had too many elements')
              }

              obj.ranges.push(SlotRange.codec().decode(reader, reader.uint32(), {
                limits: opts.limits?.ranges$
              }))
              break
            }
            case 3: {
              if (opts.limits?.peers != null && obj.peers.length === opts.limits.peers) {
                throw new MaxLengthError('Decode error - repeated field "peers" had too many elements')
              }

              obj.peers.push(SlotPeer.codec().decode(reader, reader.uint32(), {
                limits: opts.limits?.peers$
              }))
              break
            }
            case 4: {
              if (opts.limits?.clients != null && obj.clients.length === opts.limits.clients) {
                throw new MaxLengthError('Decode error - repeated field "clients" had too many elements')
              }

              obj.clients.push(SlotClient.codec().decode(reader, reader.uint32(), {
                limits: opts.limits?.clients$
              }))
              break
            }
            case 5: {
              if (opts.limits?.dead != null && obj.dead.length === opts.limits.dead) {
                throw new MaxLengthError('Decode error - repeated field "dead" had too many elements')
              }

              obj.dead.push(reader.bytes())
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }

        return obj
      }, function * (reader, length, prefix, opts = {}) {
        const obj = {
          ranges: 0,
          peers: 0,
          clients: 0,
          dead: 0
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              yield {
                field: `${prefix}.epoch`,
                value: reader.uint64Number()
              }
              break
            }
            case 2: {
              if (opts.limits?.ranges != null && obj.ranges === opts.limits.ranges) {
                throw new MaxLengthError('Streaming decode error - repeated field "ranges" had too many elements')
              }

              for (const evt of SlotRange.codec().stream(reader, reader.uint32(), `${prefix}.ranges[]`, {
                limits: opts.limits?.ranges$
              })) {
                yield {
                  ...evt,
                  index: obj.ranges
                }
              }

              obj.ranges++

              break
            }
            case 3: {
              if (opts.limits?.peers != null && obj.peers === opts.limits.peers) {
                throw new MaxLengthError('Streaming decode error - repeated field "peers" had too many elements')
              }

              for (const evt of SlotPeer.codec().stream(reader, reader.uint32(), `${prefix}.peers[]`, {
                limits: opts.limits?.peers$
              })) {
                yield {
                  ...evt,
                  index: obj.peers
                }
              }

              obj.peers++

              break
            }
            case 4: {
              if (opts.limits?.clients != null && obj.clients === opts.limits.clients) {
                throw new MaxLengthError('Streaming decode error - repeated field "clients" had too many elements')
              }

              for (const evt of SlotClient.codec().stream(reader, reader.uint32(), `${prefix}.clients[]`, {
                limits: opts.limits?.clients$
              })) {
                yield {
                  ...evt,
                  index: obj.clients
                }
              }

              obj.clients++

              break
            }
            case 5: {
              if (opts.limits?.dead != null && obj.dead === opts.limits.dead) {
                throw new MaxLengthError('Streaming decode error - repeated field "dead" had too many elements')
              }

              yield {
                field: `${prefix}.dead[]`,
                index: obj.dead,
                value: reader.bytes()
              }

              obj.dead++

              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }
      })
    }

    return _codec
  }

  export interface SlotTableEpochFieldEvent {
    field: '$.epoch'
    value: number
  }

  export interface SlotTableRangesStartFieldEvent {
    field: '$.ranges[].start'
    value: number
    index: number
  }

  export interface SlotTableRangesEndFieldEvent {
    field: '$.ranges[].end'
    value: number
    index: number
  }

  export interface SlotTableRangesOwnersFieldEvent {
    field: '$.ranges[].owners[]'
    index: number
    value: Uint8Array<ArrayBuffer>
  }

  export interface SlotTablePeersIdFieldEvent {
    field: '$.peers[].id'
    value: Uint8Array<ArrayBuffer>
    index: number
  }

  export interface SlotTablePeersAddrsFieldEvent {
    field: '$.peers[].addrs[]'
    index: number
    value: Uint8Array<ArrayBuffer>
  }

  export interface SlotTableClientsIdFieldEvent {
    field: '$.clients[].id'
    value: Uint8Array<ArrayBuffer>
    index: number
  }

  export interface SlotTableClientsReadOnlyFieldEvent {
    field: '$.clients[].readOnly'
    value: boolean
    index: number
  }

  export interface SlotTableDeadFieldEvent {
    field: '$.dead[]'
    index: number
    value: Uint8Array<ArrayBuffer>
  }

  export function encode (obj: Partial<SlotTable>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, SlotTable.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<SlotTable>): SlotTable {
    return decodeMessage(buf, SlotTable.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<SlotTable>): Generator<SlotTableEpochFieldEvent | SlotTableRangesStartFieldEvent | SlotTableRangesEndFieldEvent | SlotTableRangesOwnersFieldEvent | SlotTablePeersIdFieldEvent | SlotTablePeersAddrsFieldEvent | SlotTableClientsIdFieldEvent | SlotTableClientsReadOnlyFieldEvent | SlotTableDeadFieldEvent> {
    return streamMessage(buf, SlotTable.codec(), opts)
  }
}

export interface SlotClient {
  id: Uint8Array<ArrayBuffer>
  readOnly: boolean
}

export namespace SlotClient {
  let _codec: Codec<SlotClient>

  export const codec = (): Codec<SlotClient> => {
    if (_codec == null) {
      _codec = message<SlotClient>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if ((obj.id != null && obj.id.byteLength > 0)) {
          w.uint32(10)
          w.bytes(obj.id)
        }

        if ((obj.readOnly != null && obj.readOnly !== false)) {
          w.uint32(16)
          w.bool(obj.readOnly)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          id: uint8ArrayAlloc(0),
          readOnly: false
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.id = reader.bytes()
              break
            }
            case 2: {
              obj.readOnly = reader.bool()
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }

        return obj
      }, function * (reader, length, prefix, opts = {}) {
        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              yield {
                field: `${prefix}.id`,
                value: reader.bytes()
              }
              break
            }
            case 2: {
              yield {
                field: `${prefix}.readOnly`,
                value: reader.bool()
              }
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }
      })
    }

    return _codec
  }

  export interface SlotClientIdFieldEvent {
    field: '$.id'
    value: Uint8Array<ArrayBuffer>
  }

  export interface SlotClientReadOnlyFieldEvent {
    field: '$.readOnly'
    value: boolean
  }

  export function encode (obj: Partial<SlotClient>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, SlotClient.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<SlotClient>): SlotClient {
    return decodeMessage(buf, SlotClient.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<SlotClient>): Generator<SlotClientIdFieldEvent | SlotClientReadOnlyFieldEvent> {
    return streamMessage(buf, SlotClient.codec(), opts)
  }
}

export interface SlotRange {
  start: number
  end: number
  owners: Uint8Array<ArrayBuffer>[]
}

export namespace SlotRange {
  let _codec: Codec<SlotRange>

  export const codec = (): Codec<SlotRange> => {
    if (_codec == null) {
      _codec = message<SlotRange>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if ((obj.start != null && obj.start !== 0)) {
          w.uint32(8)
          w.uint32(obj.start)
        }

        if ((obj.end != null && obj.end !== 0)) {
          w.uint32(16)
          w.uint32(obj.end)
        }

        if (obj.owners != null && obj.owners.length > 0) {
          for (const value of obj.owners) {
            w.uint32(26)
            w.bytes(value)
          }
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          start: 0,
          end: 0,
          owners: []
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.start = reader.uint32()
              break
            }
            case 2: {
              obj.end = reader.uint32()
              break
            }
            case 3: {
              if (opts.limits?.owners != null && obj.owners.length === opts.limits.owners) {
                throw new MaxLengthError('Decode error - repeated field "owners" had too many elements')
              }

              obj.owners.push(reader.bytes())
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }

        return obj
      }, function * (reader, length, prefix, opts = {}) {
        const obj = {
          owners: 0
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              yield {
                field: `${prefix}.start`,
                value: reader.uint32()
              }
              break
            }
            case 2: {
              yield {
                field: `${prefix}.end`,
                value: reader.uint32()
              }
              break
            }
            case 3: {
              if (opts.limits?.owners != null && obj.owners === opts.limits.owners) {
                throw new MaxLengthError('Streaming decode error - repeated field "owners" had too many elements')
              }

              yield {
                field: `${prefix}.owners[]`,
                index: obj.owners,
                value: reader.bytes()
              }

              obj.owners++

              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }
      })
    }

    return _codec
  }

  export interface SlotRangeStartFieldEvent {
    field: '$.start'
    value: number
  }

  export interface SlotRangeEndFieldEvent {
    field: '$.end'
    value: number
  }

  export interface SlotRangeOwnersFieldEvent {
    field: '$.owners[]'
    index: number
    value: Uint8Array<ArrayBuffer>
  }

  export function encode (obj: Partial<SlotRange>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, SlotRange.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<SlotRange>): SlotRange {
    return decodeMessage(buf, SlotRange.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<SlotRange>): Generator<SlotRangeStartFieldEvent | SlotRangeEndFieldEvent | SlotRangeOwnersFieldEvent> {
    return streamMessage(buf, SlotRange.codec(), opts)
  }
}

export interface SlotPeer {
  id: Uint8Array<ArrayBuffer>
  addrs: Uint8Array<ArrayBuffer>[]
}

export namespace SlotPeer {
  let _codec: Codec<SlotPeer>

  export const codec = (): Codec<SlotPeer> => {
    if (_codec == null) {
      _codec = message<SlotPeer>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if ((obj.id != null && obj.id.byteLength > 0)) {
          w.uint32(10)
          w.bytes(obj.id)
        }

        if (obj.addrs != null && obj.addrs.length > 0) {
          for (const value of obj.addrs) {
            w.uint32(18)
            w.bytes(value)
          }
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          id: uint8ArrayAlloc(0),
          addrs: []
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.id = reader.bytes()
              break
            }
            case 2: {
              if (opts.limits?.addrs != null && obj.addrs.length === opts.limits.addrs) {
                throw new MaxLengthError('Decode error - repeated field "addrs" had too many elements')
              }

              obj.addrs.push(reader.bytes())
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }

        return obj
      }, function * (reader, length, prefix, opts = {}) {
        const obj = {
          addrs: 0
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              yield {
                field: `${prefix}.id`,
                value: reader.bytes()
              }
              break
            }
            case 2: {
              if (opts.limits?.addrs != null && obj.addrs === opts.limits.addrs) {
                throw new MaxLengthError('Streaming decode error - repeated field "addrs" had too many elements')
              }

              yield {
                field: `${prefix}.addrs[]`,
                index: obj.addrs,
                value: reader.bytes()
              }

              obj.addrs++

              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }
      })
    }

    return _codec
  }

  export interface SlotPeerIdFieldEvent {
    field: '$.id'
    value: Uint8Array<ArrayBuffer>
  }

  export interface SlotPeerAddrsFieldEvent {
    field: '$.addrs[]'
    index: number
    value: Uint8Array<ArrayBuffer>
  }

  export function encode (obj: Partial<SlotPeer>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, SlotPeer.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<SlotPeer>): SlotPeer {
    return decodeMessage(buf, SlotPeer.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<SlotPeer>): Generator<SlotPeerIdFieldEvent | SlotPeerAddrsFieldEvent> {
    return streamMessage(buf, SlotPeer.codec(), opts)
  }
}
