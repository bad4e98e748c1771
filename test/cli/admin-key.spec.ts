/**
 * The admin key file: written once with mode 0600, read back only when it is
 * private and holds a key
 */
import { chmod, mkdtemp, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { readAdminKey, writeAdminKey } from '../../src/cli/admin-key.js'

describe('admin key file', () => {
  let dir: string

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'datastore-cluster-admin-'))
  })

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('is written with mode 0600, never over an existing file, and reads back as the same key', async () => {
    const key = await generateKeyPair('Ed25519')
    const file = join(dir, 'admin.key')
    await writeAdminKey(file, key)

    expect((await stat(file)).mode & 0o777).toBe(0o600)
    expect((await readAdminKey(file)).equals(key)).toBe(true)
    await expect(writeAdminKey(file, await generateKeyPair('Ed25519'))).rejects.toHaveProperty('code', 'EEXIST')
    expect((await readAdminKey(file)).equals(key)).toBe(true)
  })

  it('is refused when others can read it, when it is missing, and when it holds no key', async () => {
    const open = join(dir, 'open.key')
    await writeAdminKey(open, await generateKeyPair('Ed25519'))
    await chmod(open, 0o644)
    await expect(readAdminKey(open)).rejects.toThrow(/can be read by other users \(mode 0644\)[\s\S]*chmod 600/)

    await expect(readAdminKey(join(dir, 'missing.key'))).rejects.toThrow(/no such file/)

    const junk = join(dir, 'junk.key')
    await writeFile(junk, 'not a key', { mode: 0o600 })
    await expect(readAdminKey(junk)).rejects.toThrow(/does not hold a libp2p private key/)
  })
})
