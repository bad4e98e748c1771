/**
 * Poll `condition` every `every` ms until it holds; fail naming `what` after
 * `timeout` ms. For facts the nodes report (a move's trackers, a store's
 * contents), never for timing itself.
 */
export async function waitFor (what: string, condition: () => boolean | Promise<boolean>, timeout = 60_000, every = 100): Promise<void> {
  const deadline = Date.now() + timeout

  while (!await condition()) {
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}`)
    }

    await new Promise(resolve => setTimeout(resolve, every))
  }
}
