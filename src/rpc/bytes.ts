/**
 * protons decodes `bytes` as Node Buffers; callers get plain Uint8Arrays, as
 * from any other datastore (a deep equality check tells them apart). A view,
 * not a copy.
 */
export function plain (bytes: Uint8Array): Uint8Array {
  return bytes.constructor === Uint8Array ? bytes : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}
