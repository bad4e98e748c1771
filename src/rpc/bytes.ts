/** An absent bytes field: zero length, so sharing one is safe */
export const EMPTY = new Uint8Array(0)

/**
 * A frame as a plain Uint8Array view (not a copy). protons decodes `bytes`
 * fields as subarrays of its input, so decoding from a plain Uint8Array hands
 * callers plain Uint8Arrays, as any other datastore does, rather than Node
 * Buffers (a deep equality check tells them apart).
 */
export function plain (bytes: Uint8Array): Uint8Array {
  return bytes.constructor === Uint8Array ? bytes : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}
