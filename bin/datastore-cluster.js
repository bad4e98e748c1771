#!/usr/bin/env node
// The installed command. It runs the compiled CLI: the package builds dist/
// on install (the `prepare` script) and before publishing.
import process from 'node:process'
// imports nothing itself, so it loads on any Node
import { nodeVersionProblem } from '../dist/src/cli/node-version.js'

const problem = nodeVersionProblem(process.versions.node, process.execPath)

if (problem != null) {
  process.stderr.write(`${problem}\n`)
  process.exitCode = 1
} else {
  // loaded only now: on an old Node, libp2p fails with a TypeError, not a message
  const { run } = await import('../dist/src/cli/index.js')
  await run(process.argv.slice(2))
}
