#!/usr/bin/env node
// The installed command. It runs the compiled CLI: the package builds dist/
// on install (the `prepare` script) and before publishing.
import process from 'node:process'
import { run } from '../dist/src/cli/index.js'

await run(process.argv.slice(2))
