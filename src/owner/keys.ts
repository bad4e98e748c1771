/**
 * What makes a key acceptable, on the caller (the API) and on the owner (the
 * wire) alike: if the two disagreed, a key accepted by one node's local store
 * could be refused, or stored elsewhere, by another.
 */

/**
 * Keys equal to this or under it (`/.cluster/…`) are the cluster's own: the
 * owner keeps its internal records there (versions, hints, digests once
 * replication lands). Every API call refuses them and queries never show them.
 */
export const RESERVED_NAMESPACE = '/.cluster'

const SLASH = 0x2f
const RESERVED = new TextEncoder().encode(RESERVED_NAMESPACE)
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

/**
 * Why `bytes` cannot be a key of this cluster, or undefined when it can. A
 * key must be a path starting with "/", valid UTF-8 (every node stores a key
 * under its decoded string and hashes its bytes: both must name the same
 * key), canonical — what `new Key(str)` would leave unchanged, so no trailing
 * "/" — and outside the reserved namespace.
 */
export function keyProblem (bytes: Uint8Array): string | undefined {
  if (bytes.byteLength === 0 || bytes[0] !== SLASH) {
    return 'a key must be a non-empty path starting with "/"'
  }

  if (bytes.byteLength > 1 && bytes[bytes.byteLength - 1] === SLASH) {
    return 'a key must not end with "/" (new Key() would remove it, so the key would be stored under another name)'
  }

  if (!isUtf8(bytes)) {
    return 'a key must be valid UTF-8 (a string key with a lone surrogate, or bytes that are not text, cannot cross the network unchanged)'
  }

  if (isReserved(bytes)) {
    return `keys under ${RESERVED_NAMESPACE} are reserved for the cluster's own records`
  }
}

/** The key is `/.cluster` or under `/.cluster/` */
export function isReserved (bytes: Uint8Array): boolean {
  // most keys differ at the second byte: one comparison
  if (bytes[1] !== RESERVED[1] || bytes.byteLength < RESERVED.byteLength) {
    return false
  }

  for (let i = 2; i < RESERVED.byteLength; i++) {
    if (bytes[i] !== RESERVED[i]) {
      return false
    }
  }

  return bytes.byteLength === RESERVED.byteLength || bytes[RESERVED.byteLength] === SLASH
}

function isUtf8 (bytes: Uint8Array): boolean {
  // ASCII keys, the common case, need no decoder
  for (let i = 0; i < bytes.byteLength; i++) {
    if (bytes[i] > 0x7f) {
      try {
        utf8.decode(bytes)
        return true
      } catch {
        return false
      }
    }
  }

  return true
}

/**
 * `prefix` cut before its first lone surrogate. A protobuf string cannot
 * carry a lone surrogate (it arrives as U+FFFD), so a prefix that ends inside
 * a surrogate pair would match nothing on a remote owner. The cut prefix
 * matches a superset; the caller filters with the full prefix on top.
 */
export function wirePrefix (prefix: string | undefined): string | undefined {
  if (prefix == null || prefix.isWellFormed()) {
    return prefix
  }

  for (let i = 0; i < prefix.length; i++) {
    const unit = prefix.charCodeAt(i)

    if (unit >= 0xd800 && unit <= 0xdbff) {
      const next = prefix.charCodeAt(i + 1)

      if (next >= 0xdc00 && next <= 0xdfff) {
        i++
        continue
      }

      return prefix.slice(0, i)
    }

    if (unit >= 0xdc00 && unit <= 0xdfff) {
      return prefix.slice(0, i)
    }
  }

  return prefix
}
