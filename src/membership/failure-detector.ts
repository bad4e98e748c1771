import { Request, Response } from '../pb/message.js'
import type { PeerChannel } from '../rpc/client.js'
import type { Logger, PeerId } from '@libp2p/interface'

/** What the failure detector believes of a peer */
export type PeerState = 'up' | 'suspected'

/** One peer as the failure detector sees it */
export interface PeerHealth {
  peer: PeerId
  state: PeerState
  /** Milliseconds since the peer last answered (a heartbeat or any request) */
  lag: number
}

export interface FailureDetectorInit {
  log: Logger
  /** Milliseconds between heartbeats */
  interval: number
  /** Intervals without an answer before a peer is suspected */
  threshold: number
  /** The peers to watch (the table's members other than this node) */
  peers(): readonly PeerId[]
  /** The channel to a peer */
  channel(peer: PeerId): PeerChannel
  /** The request fields every heartbeat carries (epoch, clock) */
  stamp(): Partial<Request>
  /** Called with the answer of every heartbeat (to observe its clock) */
  answered(res: Response): void
}

interface Watched {
  peer: PeerId
  state: PeerState
  lastHeard: number
  pinging: boolean
  /** A `beat` came while a heartbeat was in flight: send another once it ends */
  again?: boolean
}

/**
 * Heartbeats to every member: each `interval` a PING to each peer not
 * already being pinged. A peer that has not answered for `threshold`
 * intervals is suspected — writes hint it at once instead of waiting for it,
 * reads skip it — and is up again on its next answer, when the `up`
 * listeners run (hinted handoff, anti-entropy).
 */
export class FailureDetector {
  private readonly init: FailureDetectorInit
  private readonly watched: Map<string, Watched>
  private readonly upListeners: Array<(peer: PeerId) => void>
  private readonly answerListeners: Array<(peer: PeerId) => void>
  /** Callers waiting for a peer to be suspected */
  private readonly suspicion: Map<string, Set<() => void>>
  private timer?: ReturnType<typeof setInterval>
  private stopping?: AbortController
  /** A `beat` is due in this turn of the event loop */
  private beating = false

  constructor (init: FailureDetectorInit) {
    this.init = init
    this.watched = new Map()
    this.upListeners = []
    this.answerListeners = []
    this.suspicion = new Map()
  }

  start (): void {
    if (this.timer != null) {
      return
    }

    this.stopping = new AbortController()
    this.timer = setInterval(() => { this.tick() }, this.init.interval)
    // heartbeats alone must not keep a process alive
    this.timer.unref?.()
    this.tick()
  }

  stop (): void {
    clearInterval(this.timer)
    this.timer = undefined
    this.stopping?.abort()
    this.stopping = undefined

    // nothing will be suspected any more: release the waiters
    for (const waiters of this.suspicion.values()) {
      for (const waiter of waiters) {
        waiter()
      }
    }
  }

  /** Run `listener` each time a suspected peer answers again */
  onUp (listener: (peer: PeerId) => void): void {
    this.upListeners.push(listener)
  }

  /** Run `listener` each time a peer answers a heartbeat */
  onHeartbeat (listener: (peer: PeerId) => void): void {
    this.answerListeners.push(listener)
  }

  /** The peer is suspected down: do not wait for it */
  isSuspected (peer: PeerId): boolean {
    return this.watched.get(peer.toString())?.state === 'suspected'
  }

  /**
   * An answer from `peer` outside the heartbeats: proof it is up, sooner
   * than the next heartbeat
   */
  heard (peer: PeerId): void {
    const watched = this.watched.get(peer.toString())

    if (watched != null) {
      this.alive(watched)
    }
  }

  /**
   * Run `fn` once when `peer` is suspected down (in a microtask when it
   * already is), or when the detector stops; returns the way to forget it.
   * For a caller to stop waiting on a peer that stopped answering and ask
   * another. Asked per request to an owner, so no signal and no listener:
   * an aborted AbortController costs a DOMException with its stack, which
   * was a sixth of a quorum reader's CPU.
   */
  onSuspected (peer: PeerId, fn: () => void): () => void {
    if (this.isSuspected(peer)) {
      queueMicrotask(fn)
      return () => {}
    }

    const id = peer.toString()
    let waiters = this.suspicion.get(id)

    if (waiters == null) {
      waiters = new Set()
      this.suspicion.set(id, waiters)
    }

    const held = waiters
    const done = (): void => {
      held.delete(done)
      fn()
    }

    held.add(done)
    return () => { held.delete(done) }
  }

  /** Every watched peer's state and lag */
  health (): PeerHealth[] {
    const now = Date.now()
    this.sync(now)
    return [...this.watched.values()].map(w => ({ peer: w.peer, state: w.state, lag: now - w.lastHeard }))
  }

  /**
   * Heartbeat every peer now (those not already being pinged), for news
   * that should not wait for the next interval: this node's transition
   * trackers moved on. Several calls in one turn of the event loop send one
   * heartbeat.
   */
  beat (): void {
    if (this.stopping == null || this.beating) {
      return
    }

    this.beating = true
    setImmediate(() => {
      this.beating = false

      if (this.stopping == null) {
        return
      }

      for (const watched of this.watched.values()) {
        // a heartbeat in flight carries the news of before: another follows it
        watched.again = watched.pinging
      }

      this.tick()
    })
  }

  private tick (): void {
    const now = Date.now()
    this.sync(now)
    const deadline = this.init.interval * this.init.threshold

    for (const watched of this.watched.values()) {
      if (watched.state === 'up' && now - watched.lastHeard > deadline) {
        watched.state = 'suspected'
        this.init.log('peer %p suspected down: no answer for %d ms', watched.peer, now - watched.lastHeard)

        for (const waiter of this.suspicion.get(watched.peer.toString()) ?? []) {
          waiter()
        }
      }

      if (!watched.pinging) {
        this.ping(watched, deadline)
      }
    }
  }

  /** Follow the peer list: new peers start up and heard from now, gone ones are dropped */
  private sync (now: number): void {
    const peers = this.init.peers()
    const current = new Set<string>()

    for (const peer of peers) {
      const id = peer.toString()
      current.add(id)

      if (!this.watched.has(id)) {
        this.watched.set(id, { peer, state: 'up', lastHeard: now, pinging: false })
      }
    }

    for (const id of this.watched.keys()) {
      if (!current.has(id)) {
        this.watched.delete(id)
      }
    }
  }

  private ping (watched: Watched, timeout: number): void {
    const stopping = this.stopping

    if (stopping == null) {
      return
    }

    watched.pinging = true
    const signal = AbortSignal.any([stopping.signal, AbortSignal.timeout(timeout)])

    Promise.resolve()
      .then(async () => this.init.channel(watched.peer).call({ ...this.init.stamp(), type: Request.Type.PING }, { signal }))
      .then(res => {
        this.init.answered(res)

        if (res.status === Response.Status.OK) {
          this.alive(watched)

          for (const listener of this.answerListeners) {
            listener(watched.peer)
          }
        }
      }, () => {
        // a missed heartbeat: suspicion comes from the time since the last answer
      })
      .finally(() => {
        watched.pinging = false

        if (watched.again === true) {
          watched.again = false
          this.ping(watched, timeout)
        }
      })
  }

  private alive (watched: Watched): void {
    watched.lastHeard = Date.now()

    if (watched.state === 'suspected') {
      watched.state = 'up'
      this.init.log('peer %p is up again', watched.peer)

      for (const listener of this.upListeners) {
        listener(watched.peer)
      }
    }
  }
}
