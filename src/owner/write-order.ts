/**
 * Orders writes that touch the same keys, and nothing else. A write waits only
 * for the writes that arrived before it, are still running, and share one of
 * its keys; writes on disjoint keys run concurrently, so pipelined requests
 * keep their throughput. Requests of one stream arrive in the order they were
 * sent and local calls are made in the order issued, so each caller's writes
 * to a key take effect in the order it issued them.
 */
export class KeyedWriteQueue {
  /** Per key, the settled-state promise of the last write that touches it */
  private readonly tails: Map<string, Promise<void>>

  constructor () {
    this.tails = new Map()
  }

  /** Writes registered and not yet finished, by key (for tests and metrics) */
  get size (): number {
    return this.tails.size
  }

  /**
   * Run `write` once every earlier write sharing one of `keys` has finished
   * (succeeded or failed). It is registered synchronously: call this in the
   * order the writes arrived.
   */
  async run<T> (keys: readonly string[], write: () => Promise<T>): Promise<T> {
    let before: Set<Promise<void>> | undefined

    for (const key of keys) {
      const tail = this.tails.get(key)

      if (tail != null) {
        (before ??= new Set()).add(tail)
      }
    }

    const result = before == null ? write() : Promise.all(before).then(write)
    const settled = result.then(() => {}, () => {})

    for (const key of keys) {
      this.tails.set(key, settled)
    }

    void settled.then(() => {
      for (const key of keys) {
        if (this.tails.get(key) === settled) {
          this.tails.delete(key)
        }
      }
    })

    return result
  }
}
