/**
 * The Node.js version check the `datastore-cluster` bin runs before it loads
 * anything else. libp2p 3 calls `Promise.withResolvers` (Node 22+): on an
 * older Node the first connection fails with a TypeError deep in a stack
 * trace, which tells a user nothing about the fix.
 *
 * This module imports nothing, so it loads on any Node that runs ES modules.
 */

/** The oldest Node.js major version the command runs on */
export const MIN_NODE_MAJOR = 22

/**
 * The one-line message for a Node.js that is too old, or undefined when
 * `version` is recent enough
 *
 * @param version - e.g. `process.versions.node` (`"20.20.2"`)
 * @param execPath - the running node binary, named in the message
 */
export function nodeVersionProblem (version: string, execPath?: string): string | undefined {
  const major = Number.parseInt(version.split('.')[0], 10)

  // an unparseable version is let through: better a later error than a false refusal
  if (!Number.isInteger(major) || major >= MIN_NODE_MAJOR) {
    return undefined
  }

  const running = `Node.js ${version}${execPath != null ? ` (${execPath})` : ''}`
  return `datastore-cluster needs Node.js ${MIN_NODE_MAJOR} or newer (libp2p 3 does), but this is ${running}: run it with a newer Node, e.g. \`npx -p node@24 datastore-cluster …\`, or install one with nvm (\`nvm install 24\`)`
}
