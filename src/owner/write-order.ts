import { SLOT_COUNT } from '../constants.js'

/** A write in progress, as the slots it touches see it */
interface Running {
  /** Settles (never rejects) when the write has finished */
  done: Promise<void>
  /** The last write that already counted this one among those it waits for */
  seenBy: number
}

const settle = (): void => {}

/**
 * Orders writes that touch the same slots. A write waits only for the writes
 * that arrived before it, are still running and share a slot with it —
 * a superset of those sharing a key, found with one array lookup per key
 * instead of hashing key strings (which cost more than the writes to a
 * memory store). Writes to other slots run concurrently, so pipelined
 * requests keep their throughput. Requests of one stream arrive in the order
 * they were sent and local calls are made in the order issued, so each
 * caller's writes to a key take effect in the order it issued them.
 */
export class SlotWriteOrder {
  /** Per slot, the last write registered that touches it, until it finishes */
  private readonly last: Array<Running | undefined>
  private writes: number

  constructor () {
    this.last = new Array(SLOT_COUNT).fill(undefined)
    this.writes = 0
  }

  /**
   * Run `write` once every earlier write sharing one of `slots` has finished
   * (succeeded or failed). It is registered synchronously: call this in the
   * order the writes arrived.
   */
  async run<T> (slots: ArrayLike<number>, write: () => Promise<T>): Promise<T> {
    const id = ++this.writes
    let before: Array<Promise<void>> | undefined

    for (let i = 0; i < slots.length; i++) {
      const running = this.last[slots[i]]

      if (running != null && running.seenBy !== id) {
        running.seenBy = id;
        (before ??= []).push(running.done)
      }
    }

    const result = before == null ? write() : Promise.all(before).then(write)
    const self: Running = { done: result.then(settle, settle), seenBy: 0 }

    for (let i = 0; i < slots.length; i++) {
      this.last[slots[i]] = self
    }

    void self.done.then(() => {
      for (let i = 0; i < slots.length; i++) {
        if (this.last[slots[i]] === self) {
          this.last[slots[i]] = undefined
        }
      }
    })

    return result
  }
}
