/**
 * Decoded values are views into the frame they arrived in, and a frame may sit
 * in a network chunk many times its size. A value a store keeps gets its own
 * buffer so one small value cannot pin a large chunk in memory.
 */
export function ownCopy (value: Uint8Array): Uint8Array {
  if (value.byteOffset === 0 && value.byteLength === value.buffer.byteLength && value.constructor === Uint8Array) {
    return value
  }

  // not value.slice(): on a Node Buffer that is a view, not a copy
  const copy = new Uint8Array(value.byteLength)
  copy.set(value)
  return copy
}
