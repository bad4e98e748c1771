import { resolve } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { PROGRAM } from '../args.js'
import { writeKeyFile } from '../config.js'
import { CliError, EXIT, codeOf, messageOf } from '../errors.js'
import { write } from '../io.js'
import type { Command } from '../args.js'
import type { CliIO } from '../io.js'

/**
 * `keygen`: a new identity for another client (or a replacement node)
 */
export const keygen: Command = {
  name: 'keygen',
  summary: 'write a new identity key file (mode 0600) and print its peer ID',
  usage: 'keygen FILE',
  description: `
Generate an Ed25519 identity, write it to FILE (mode 0600; an existing file is
never overwritten) and print its peer ID. Use it to add a client: copy
client.json, set its peerId and privateKeyFile to the new ones, and allow the
peer ID: in a cluster with an admin key (init makes one) it must be among the
clients of a new slot table signed with admin.key; nodes without an adminKey
take it in "clients" of their config, and a restart.`,
  options: {},
  positionals: { min: 1, max: 1, name: 'FILE (the key file to write)' },
  examples: [`${PROGRAM} keygen ./cluster/client-2.key`],
  run: runKeygen
}

async function runKeygen (args: Parameters<Command['run']>[0], io: CliIO): Promise<number> {
  const file = resolve(io.cwd, args.positionals[0])
  const key = await generateKeyPair('Ed25519')

  try {
    await writeKeyFile(file, key)
  } catch (err) {
    throw new CliError(codeOf(err) === 'EEXIST'
      ? `${file} already exists; keygen never overwrites a key`
      : `cannot write ${file}: ${messageOf(err)}`, EXIT.FAILED)
  }

  await write(io.stdout, `${peerIdFromPrivateKey(key).toString()}\n`)
  return EXIT.OK
}
