import { decodeMessage, encodeMessage, enumeration, MaxLengthError, message, streamMessage } from 'protons-runtime'
import type { Codec, DecodeOptions } from 'protons-runtime'
import type { Uint8ArrayList } from 'uint8arraylist'

export interface Health {
  state: Health.State
  reason: string
  replicas: number
  peers: Health.Peer[]
  layout?: Health.Layout
  epoch: number
  storedBytes: number
}

export namespace Health {
  export enum State {
    UP = 'UP',
    DEGRADED = 'DEGRADED'
  }

  enum __StateValues {
    UP = 0,
    DEGRADED = 1
  }

  export namespace State {
    export const codec = (): Codec<State> => {
      return enumeration<State>(__StateValues)
    }
  }

  export interface Peer {
    peerId: string
    state: Health.Peer.PeerState
    hints: number
    lag: number
  }

  export namespace Peer {
    export enum PeerState {
      UP = 'UP',
      SUSPECTED = 'SUSPECTED'
    }

    enum __PeerStateValues {
      UP = 0,
      SUSPECTED = 1
    }

    export namespace PeerState {
      export const codec = (): Codec<PeerState> => {
        return enumeration<PeerState>(__PeerStateValues)
      }
    }

    let _codec: Codec<Peer>

    export const codec = (): Codec<Peer> => {
      if (_codec == null) {
        _codec = message<Peer>((obj, w, opts = {}) => {
          if (opts.lengthDelimited !== false) {
            w.fork()
          }

          if ((obj.peerId != null && obj.peerId !== '')) {
            w.uint32(10)
            w.string(obj.peerId)
          }

          if (obj.state != null && __PeerStateValues[obj.state] !== 0) {
            w.uint32(16)
            Health.Peer.PeerState.codec().encode(obj.state, w)
          }

          if ((obj.hints != null && obj.hints !== 0)) {
            w.uint32(24)
            w.uint64Number(obj.hints)
          }

          if ((obj.lag != null && obj.lag !== 0)) {
            w.uint32(32)
            w.uint64Number(obj.lag)
          }

          if (opts.lengthDelimited !== false) {
            w.ldelim()
          }
        }, (reader, length, opts = {}) => {
          const obj: any = {
            peerId: '',
            state: PeerState.UP,
            hints: 0,
            lag: 0
          }

          const end = length == null ? reader.len : reader.pos + length

          while (reader.pos < end) {
            const tag = reader.uint32()

            switch (tag >>> 3) {
              case 1: {
                obj.peerId = reader.string()
                break
              }
              case 2: {
                obj.state = Health.Peer.PeerState.codec().decode(reader)
                break
              }
              case 3: {
                obj.hints = reader.uint64Number()
                break
              }
              case 4: {
                obj.lag = reader.uint64Number()
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
                  field: `${prefix}.peerId`,
                  value: reader.string()
                }
                break
              }
              case 2: {
                yield {
                  field: `${prefix}.state`,
                  value: Health.Peer.PeerState.codec().decode(reader)
                }
                break
              }
              case 3: {
                yield {
                  field: `${prefix}.hints`,
                  value: reader.uint64Number()
                }
                break
              }
              case 4: {
                yield {
                  field: `${prefix}.lag`,
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

    export interface PeerPeerIdFieldEvent {
      field: '$.peerId'
      value: string
    }

    export interface PeerStateFieldEvent {
      field: '$.state'
      value: Health.Peer.PeerState
    }

    export interface PeerHintsFieldEvent {
      field: '$.hints'
      value: number
    }

    export interface PeerLagFieldEvent {
      field: '$.lag'
      value: number
    }

    export function encode (obj: Partial<Peer>): Uint8Array<ArrayBuffer> {
      return encodeMessage(obj, Peer.codec())
    }

    export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<Peer>): Peer {
      return decodeMessage(buf, Peer.codec(), opts)
    }

    export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<Peer>): Generator<PeerPeerIdFieldEvent | PeerStateFieldEvent | PeerHintsFieldEvent | PeerLagFieldEvent> {
      return streamMessage(buf, Peer.codec(), opts)
    }
  }

  export interface Layout {
    epochs: number[]
    readEpoch: number
    ack: number
    sync: number
    syncAck: number
    slotsTotal: number
    slotsToSync: number
    keysCopied: number
    bytesCopied: number
    done: boolean
  }

  export namespace Layout {
    let _codec: Codec<Layout>

    export const codec = (): Codec<Layout> => {
      if (_codec == null) {
        _codec = message<Layout>((obj, w, opts = {}) => {
          if (opts.lengthDelimited !== false) {
            w.fork()
          }

          if (obj.epochs != null && obj.epochs.length > 0) {
            for (const value of obj.epochs) {
              w.uint32(8)
              w.uint64Number(value)
            }
          }

          if ((obj.readEpoch != null && obj.readEpoch !== 0)) {
            w.uint32(16)
            w.uint64Number(obj.readEpoch)
          }

          if ((obj.ack != null && obj.ack !== 0)) {
            w.uint32(24)
            w.uint64Number(obj.ack)
          }

          if ((obj.sync != null && obj.sync !== 0)) {
            w.uint32(32)
            w.uint64Number(obj.sync)
          }

          if ((obj.syncAck != null && obj.syncAck !== 0)) {
            w.uint32(40)
            w.uint64Number(obj.syncAck)
          }

          if ((obj.slotsTotal != null && obj.slotsTotal !== 0)) {
            w.uint32(48)
            w.uint32(obj.slotsTotal)
          }

          if ((obj.slotsToSync != null && obj.slotsToSync !== 0)) {
            w.uint32(56)
            w.uint32(obj.slotsToSync)
          }

          if ((obj.keysCopied != null && obj.keysCopied !== 0)) {
            w.uint32(64)
            w.uint64Number(obj.keysCopied)
          }

          if ((obj.bytesCopied != null && obj.bytesCopied !== 0)) {
            w.uint32(72)
            w.uint64Number(obj.bytesCopied)
          }

          if ((obj.done != null && obj.done !== false)) {
            w.uint32(80)
            w.bool(obj.done)
          }

          if (opts.lengthDelimited !== false) {
            w.ldelim()
          }
        }, (reader, length, opts = {}) => {
          const obj: any = {
            epochs: [],
            readEpoch: 0,
            ack: 0,
            sync: 0,
            syncAck: 0,
            slotsTotal: 0,
            slotsToSync: 0,
            keysCopied: 0,
            bytesCopied: 0,
            done: false
          }

          const end = length == null ? reader.len : reader.pos + length

          while (reader.pos < end) {
            const tag = reader.uint32()

            switch (tag >>> 3) {
              case 1: {
                if (opts.limits?.epochs != null && obj.epochs.length === opts.limits.epochs) {
                  throw new MaxLengthError('Decode error - repeated field "epochs" had too many elements')
                }

                obj.epochs.push(reader.uint64Number())
                break
              }
              case 2: {
                obj.readEpoch = reader.uint64Number()
                break
              }
              case 3: {
                obj.ack = reader.uint64Number()
                break
              }
              case 4: {
                obj.sync = reader.uint64Number()
                break
              }
              case 5: {
                obj.syncAck = reader.uint64Number()
                break
              }
              case 6: {
                obj.slotsTotal = reader.uint32()
                break
              }
              case 7: {
                obj.slotsToSync = reader.uint32()
                break
              }
              case 8: {
                obj.keysCopied = reader.uint64Number()
                break
              }
              case 9: {
                obj.bytesCopied = reader.uint64Number()
                break
              }
              case 10: {
                obj.done = reader.bool()
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
            epochs: 0
          }

          const end = length == null ? reader.len : reader.pos + length

          while (reader.pos < end) {
            const tag = reader.uint32()

            switch (tag >>> 3) {
              case 1: {
                if (opts.limits?.epochs != null && obj.epochs === opts.limits.epochs) {
                  throw new MaxLengthError('Streaming decode error - repeated field "epochs" had too many elements')
                }

                yield {
                  field: `${prefix}.epochs[]`,
                  index: obj.epochs,
                  value: reader.uint64Number()
                }

                obj.epochs++

                break
              }
              case 2: {
                yield {
                  field: `${prefix}.readEpoch`,
                  value: reader.uint64Number()
                }
                break
              }
              case 3: {
                yield {
                  field: `${prefix}.ack`,
                  value: reader.uint64Number()
                }
                break
              }
              case 4: {
                yield {
                  field: `${prefix}.sync`,
                  value: reader.uint64Number()
                }
                break
              }
              case 5: {
                yield {
                  field: `${prefix}.syncAck`,
                  value: reader.uint64Number()
                }
                break
              }
              case 6: {
                yield {
                  field: `${prefix}.slotsTotal`,
                  value: reader.uint32()
                }
                break
              }
              case 7: {
                yield {
                  field: `${prefix}.slotsToSync`,
                  value: reader.uint32()
                }
                break
              }
              case 8: {
                yield {
                  field: `${prefix}.keysCopied`,
                  value: reader.uint64Number()
                }
                break
              }
              case 9: {
                yield {
                  field: `${prefix}.bytesCopied`,
                  value: reader.uint64Number()
                }
                break
              }
              case 10: {
                yield {
                  field: `${prefix}.done`,
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

    export interface LayoutEpochsFieldEvent {
      field: '$.epochs[]'
      index: number
      value: number
    }

    export interface LayoutReadEpochFieldEvent {
      field: '$.readEpoch'
      value: number
    }

    export interface LayoutAckFieldEvent {
      field: '$.ack'
      value: number
    }

    export interface LayoutSyncFieldEvent {
      field: '$.sync'
      value: number
    }

    export interface LayoutSyncAckFieldEvent {
      field: '$.syncAck'
      value: number
    }

    export interface LayoutSlotsTotalFieldEvent {
      field: '$.slotsTotal'
      value: number
    }

    export interface LayoutSlotsToSyncFieldEvent {
      field: '$.slotsToSync'
      value: number
    }

    export interface LayoutKeysCopiedFieldEvent {
      field: '$.keysCopied'
      value: number
    }

    export interface LayoutBytesCopiedFieldEvent {
      field: '$.bytesCopied'
      value: number
    }

    export interface LayoutDoneFieldEvent {
      field: '$.done'
      value: boolean
    }

    export function encode (obj: Partial<Layout>): Uint8Array<ArrayBuffer> {
      return encodeMessage(obj, Layout.codec())
    }

    export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<Layout>): Layout {
      return decodeMessage(buf, Layout.codec(), opts)
    }

    export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<Layout>): Generator<LayoutEpochsFieldEvent | LayoutReadEpochFieldEvent | LayoutAckFieldEvent | LayoutSyncFieldEvent | LayoutSyncAckFieldEvent | LayoutSlotsTotalFieldEvent | LayoutSlotsToSyncFieldEvent | LayoutKeysCopiedFieldEvent | LayoutBytesCopiedFieldEvent | LayoutDoneFieldEvent> {
      return streamMessage(buf, Layout.codec(), opts)
    }
  }

  let _codec: Codec<Health>

  export const codec = (): Codec<Health> => {
    if (_codec == null) {
      _codec = message<Health>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if (obj.state != null && __StateValues[obj.state] !== 0) {
          w.uint32(8)
          Health.State.codec().encode(obj.state, w)
        }

        if ((obj.reason != null && obj.reason !== '')) {
          w.uint32(18)
          w.string(obj.reason)
        }

        if ((obj.replicas != null && obj.replicas !== 0)) {
          w.uint32(24)
          w.uint32(obj.replicas)
        }

        if (obj.peers != null && obj.peers.length > 0) {
          for (const value of obj.peers) {
            w.uint32(34)
            Health.Peer.codec().encode(value, w)
          }
        }

        if (obj.layout != null) {
          w.uint32(42)
          Health.Layout.codec().encode(obj.layout, w)
        }

        if ((obj.epoch != null && obj.epoch !== 0)) {
          w.uint32(48)
          w.uint64Number(obj.epoch)
        }

        if ((obj.storedBytes != null && obj.storedBytes !== 0)) {
          w.uint32(56)
          w.uint64Number(obj.storedBytes)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          state: State.UP,
          reason: '',
          replicas: 0,
          peers: [],
          epoch: 0,
          storedBytes: 0
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.state = Health.State.codec().decode(reader)
              break
            }
            case 2: {
              obj.reason = reader.string()
              break
            }
            case 3: {
              obj.replicas = reader.uint32()
              break
            }
            case 4: {
              if (opts.limits?.peers != null && obj.peers.length === opts.limits.peers) {
                throw new MaxLengthError('Decode error - repeated field "peers" had too many elements')
              }

              obj.peers.push(Health.Peer.codec().decode(reader, reader.uint32(), {
                limits: opts.limits?.peers$
              }))
              break
            }
            case 5: {
              obj.layout = Health.Layout.codec().decode(reader, reader.uint32(), {
                limits: opts.limits?.layout
              })
              break
            }
            case 6: {
              obj.epoch = reader.uint64Number()
              break
            }
            case 7: {
              obj.storedBytes = reader.uint64Number()
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
          peers: 0
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              yield {
                field: `${prefix}.state`,
                value: Health.State.codec().decode(reader)
              }
              break
            }
            case 2: {
              yield {
                field: `${prefix}.reason`,
                value: reader.string()
              }
              break
            }
            case 3: {
              yield {
                field: `${prefix}.replicas`,
                value: reader.uint32()
              }
              break
            }
            case 4: {
              if (opts.limits?.peers != null && obj.peers === opts.limits.peers) {
                throw new MaxLengthError('Streaming decode error - repeated field "peers" had too many elements')
              }

              for (const evt of Health.Peer.codec().stream(reader, reader.uint32(), `${prefix}.peers[]`, {
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
            case 5: {
              yield * Health.Layout.codec().stream(reader, reader.uint32(), `${prefix}.layout`, {
                limits: opts.limits?.layout
              })

              break
            }
            case 6: {
              yield {
                field: `${prefix}.epoch`,
                value: reader.uint64Number()
              }
              break
            }
            case 7: {
              yield {
                field: `${prefix}.storedBytes`,
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

  export interface HealthStateFieldEvent {
    field: '$.state'
    value: Health.State
  }

  export interface HealthReasonFieldEvent {
    field: '$.reason'
    value: string
  }

  export interface HealthReplicasFieldEvent {
    field: '$.replicas'
    value: number
  }

  export interface HealthPeersPeerIdFieldEvent {
    field: '$.peers[].peerId'
    value: string
    index: number
  }

  export interface HealthPeersStateFieldEvent {
    field: '$.peers[].state'
    value: Health.Peer.PeerState
    index: number
  }

  export interface HealthPeersHintsFieldEvent {
    field: '$.peers[].hints'
    value: number
    index: number
  }

  export interface HealthPeersLagFieldEvent {
    field: '$.peers[].lag'
    value: number
    index: number
  }

  export interface HealthLayoutEpochsFieldEvent {
    field: '$.layout.epochs[]'
    index: number
    value: number
  }

  export interface HealthLayoutReadEpochFieldEvent {
    field: '$.layout.readEpoch'
    value: number
  }

  export interface HealthLayoutAckFieldEvent {
    field: '$.layout.ack'
    value: number
  }

  export interface HealthLayoutSyncFieldEvent {
    field: '$.layout.sync'
    value: number
  }

  export interface HealthLayoutSyncAckFieldEvent {
    field: '$.layout.syncAck'
    value: number
  }

  export interface HealthLayoutSlotsTotalFieldEvent {
    field: '$.layout.slotsTotal'
    value: number
  }

  export interface HealthLayoutSlotsToSyncFieldEvent {
    field: '$.layout.slotsToSync'
    value: number
  }

  export interface HealthLayoutKeysCopiedFieldEvent {
    field: '$.layout.keysCopied'
    value: number
  }

  export interface HealthLayoutBytesCopiedFieldEvent {
    field: '$.layout.bytesCopied'
    value: number
  }

  export interface HealthLayoutDoneFieldEvent {
    field: '$.layout.done'
    value: boolean
  }

  export interface HealthEpochFieldEvent {
    field: '$.epoch'
    value: number
  }

  export interface HealthStoredBytesFieldEvent {
    field: '$.storedBytes'
    value: number
  }

  export function encode (obj: Partial<Health>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, Health.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<Health>): Health {
    return decodeMessage(buf, Health.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<Health>): Generator<HealthStateFieldEvent | HealthReasonFieldEvent | HealthReplicasFieldEvent | HealthPeersPeerIdFieldEvent | HealthPeersStateFieldEvent | HealthPeersHintsFieldEvent | HealthPeersLagFieldEvent | HealthLayoutEpochsFieldEvent | HealthLayoutReadEpochFieldEvent | HealthLayoutAckFieldEvent | HealthLayoutSyncFieldEvent | HealthLayoutSyncAckFieldEvent | HealthLayoutSlotsTotalFieldEvent | HealthLayoutSlotsToSyncFieldEvent | HealthLayoutKeysCopiedFieldEvent | HealthLayoutBytesCopiedFieldEvent | HealthLayoutDoneFieldEvent | HealthEpochFieldEvent | HealthStoredBytesFieldEvent> {
    return streamMessage(buf, Health.codec(), opts)
  }
}
