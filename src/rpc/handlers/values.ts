/**
 * Decoded values are views into the buffer their frame arrived in. A store
 * that keeps such a view keeps the whole buffer alive, so a value gets its own
 * copy unless the values kept are most of that buffer anyway (see
 * `keepValues`).
 */
export function ownCopy (value: Uint8Array): Uint8Array {
  const copy = new Uint8Array(value.byteLength)
  copy.set(value)
  return copy
}

/**
 * Whether the values of one request may be stored as views of its frame: only
 * when they share one buffer that is little more than the frame (a many-key
 * request assembled from several network chunks) and they fill at least half
 * of it. Otherwise a peer could make a few stored bytes pin megabytes of
 * padding, or a small value pin a large network chunk.
 */
export function keepValues (values: Uint8Array[], frameBytes: number): boolean {
  if (values.length === 0) {
    return true
  }

  const buffer = values[0].buffer
  let total = 0

  for (const value of values) {
    if (value.buffer !== buffer) {
      return false
    }

    total += value.byteLength
  }

  return buffer.byteLength <= frameBytes + 64 && total * 2 >= frameBytes
}
