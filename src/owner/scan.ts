/** Entries read between two turns given back to the event loop */
export const SCAN_TURN = 256

/**
 * The entries of a scan of the child store, with a turn of the event loop
 * (`setImmediate`) every `every` entries. A store that answers from memory
 * (MemoryDatastore) yields a whole scan in microtasks, which never let I/O
 * in: one scan of a large store (a SLOT_ENTRIES, a digest rebuild, a record
 * query) then held every other request of the node until it ended, and a
 * round of anti-entropy made of several scans stalled the node's reads and
 * writes for seconds. With a turn every few hundred entries the requests
 * that arrive meanwhile are served between them.
 */
export async function * breathing<T> (source: AsyncIterable<T> | Iterable<T>, every = SCAN_TURN): AsyncGenerator<T> {
  let count = 0

  for await (const item of source) {
    yield item

    if (++count === every) {
      count = 0
      await new Promise<void>(resolve => { setImmediate(resolve) })
    }
  }
}
