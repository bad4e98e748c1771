/**
 * Decoded values are views into the frame they arrived in, and a frame may sit
 * in a network chunk many times its size. A value a store keeps gets its own
 * buffer so one small value cannot pin a large chunk in memory.
 */
export function ownCopy (value: Uint8Array): Uint8Array {
  if (value.byteOffset === 0 && value.byteLength === value.buffer.byteLength) {
    return value
  }

  return value.slice()
}
