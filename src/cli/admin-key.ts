/**
 * The admin key file: the Ed25519 private key that signs every slot table of
 * a cluster. `init` writes it (mode 0600) next to the configs; it never goes
 * into a config and never on the network - configs carry only its public
 * key (`adminKey`). Whoever holds it can change the table of every node, so
 * the commands that sign tables read it and nothing else does.
 */

import { readFile, stat } from 'node:fs/promises'
import { ConfigError, codeOf, messageOf } from './errors.js'
import { decodePrivateKey, writeKeyFile } from './config.js'
import type { PrivateKey } from '@libp2p/interface'

/** The admin key file's name in the directory `init` writes */
export const ADMIN_KEY_FILE = 'admin.key'

/**
 * Write a new admin key file, readable only by its owner. Fails if the file
 * exists: replacing the admin key would lock the cluster out of its nodes.
 */
export async function writeAdminKey (path: string, key: PrivateKey): Promise<void> {
  await writeKeyFile(path, key)
}

/**
 * Read the admin key file
 *
 * @throws {ConfigError} naming the file when it cannot be read, is not a private key, or others may read it
 */
export async function readAdminKey (path: string): Promise<PrivateKey> {
  let bytes: Uint8Array

  try {
    bytes = await readFile(path)
  } catch (err) {
    throw new ConfigError(path, [{
      field: '',
      message: `cannot read the admin key file: ${codeOf(err) === 'ENOENT' ? 'no such file' : messageOf(err)}`,
      fix: codeOf(err) === 'ENOENT'
        ? `give the ${ADMIN_KEY_FILE} init wrote for this cluster (it sits next to the configs unless it was moved somewhere safer)`
        : 'run as the user that owns the admin key file'
    }])
  }

  const key = decodePrivateKey(bytes)

  if (key == null) {
    throw new ConfigError(path, [{ field: '', message: 'does not hold a libp2p private key', fix: `give the ${ADMIN_KEY_FILE} init wrote for this cluster; a lost admin key cannot be recovered` }])
  }

  const info = await stat(path)

  // like ssh: the key that rules the cluster is refused when others can read it
  if ((info.mode & 0o077) !== 0) {
    throw new ConfigError(path, [{ field: '', message: `can be read by other users (mode ${(info.mode & 0o777).toString(8).padStart(4, '0')})`, fix: `run chmod 600 ${path}` }])
  }

  return key
}
