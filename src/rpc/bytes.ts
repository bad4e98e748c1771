/** An absent bytes field: zero length, so sharing one is safe */
export const EMPTY = new Uint8Array(0)

/**
 * protons decodes `bytes` as Node Buffers unless given a plain Uint8Array;
 * callers get plain Uint8Arrays, as from any other datastore (a deep equality
 * check tells them apart). A view, not a copy. Absent fields are empty.
 */
export function plain (bytes: Uint8Array | undefined): Uint8Array {
  if (bytes == null) {
    return EMPTY
  }

  return bytes.constructor === Uint8Array ? bytes : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}
