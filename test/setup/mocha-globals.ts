/**
 * Mocha globals for the aegir/mocha compliance suites (`interface-datastore-tests`,
 * `interface-blockstore-tests`), loaded as a vitest setup file.
 *
 * With `globals: true` vitest already provides `describe`, `it`, `beforeEach`
 * and `afterEach`; mocha also has `before`/`after` and calls every test, hook
 * and suite body with a `this` that has `timeout()`/`slow()`. This file adds
 * the two names and replaces the global functions with wrappers that supply
 * such a `this`. Only code that uses the globals sees the wrappers: our own
 * tests import `describe`/`it` from 'vitest' and get the originals.
 *
 * @module
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, it } from 'vitest'
import type { TestContext } from 'vitest'

type AnyFunction = (...args: any[]) => unknown

/** The part of mocha's `this` the suites may use. */
interface MochaContext {
  timeout(ms?: number | string): any
  slow(ms?: number | string): any
  retries(n?: number): any
  skip(): never
}

/**
 * vitest fixes a test's deadline before the body runs, so a `this.timeout(n)`
 * inside the body cannot move it. The call is recorded and ignored: the
 * config's `testTimeout`/`hookTimeout` govern. (interface-datastore-tests asks
 * for 640 s on one test; our configured limit is the one we want anyway.)
 */
function mochaContext (ctx?: TestContext): MochaContext {
  let timeout: number | string | undefined
  let slow: number | string | undefined
  let retries: number | undefined

  const self: MochaContext = {
    timeout (ms) {
      if (ms === undefined) {
        return timeout
      }
      timeout = ms
      return self
    },
    slow (ms) {
      if (ms === undefined) {
        return slow
      }
      slow = ms
      return self
    },
    retries (n) {
      if (n === undefined) {
        return retries
      }
      retries = n
      return self
    },
    skip () {
      if (ctx == null) {
        throw new Error('this.skip() is only supported inside tests under vitest')
      }
      ctx.skip()
      throw new Error('unreachable: ctx.skip() throws')
    }
  }

  return self
}

/** mocha accepts anything as a failure; vitest wants an Error. */
function toError (err: unknown): Error {
  return err instanceof Error ? err : new Error('mocha test failed with a non-Error value', { cause: err })
}

/**
 * Runs a mocha body with a mocha `this`. A body that declares a parameter
 * takes mocha's `done` callback. Returns undefined on purpose: vitest treats a
 * function returned from a hook as a teardown, mocha does not.
 */
function wrapBody (fn: AnyFunction): () => Promise<void> {
  // No declared parameter: vitest parses the first parameter of test and hook
  // functions as a fixture pattern and rejects a plain name.
  return async function mochaBody (): Promise<void> {
    // eslint-disable-next-line prefer-rest-params
    const ctx = arguments[0] as TestContext | undefined
    // vitest passes the suite, not a TestContext, to beforeAll/afterAll
    const self = mochaContext(ctx != null && typeof (ctx as Partial<TestContext>).skip === 'function' ? ctx : undefined)

    if (fn.length > 0) {
      await new Promise<void>((resolve, reject) => {
        const done = (err?: unknown): void => {
          if (err != null) {
            reject(toError(err))
          } else {
            resolve()
          }
        }
        try {
          fn.call(self, done)
        } catch (err) {
          reject(toError(err))
        }
      })
      return
    }

    await fn.call(self)
  }
}

/** Replaces the first function argument of a call with its mocha-wrapped form. */
function wrapArgs (args: unknown[], wrap: (fn: AnyFunction) => AnyFunction): unknown[] {
  const index = args.findIndex(arg => typeof arg === 'function')

  if (index === -1) {
    return args
  }

  const copy = [...args]
  copy[index] = wrap(args[index] as AnyFunction)
  return copy
}

/**
 * Wraps a vitest collector (`it`, `describe`) in a Proxy so that direct calls
 * and the mocha modifiers `.skip`/`.only` wrap their body, while every other
 * property (`.each`, `.concurrent`, …) stays vitest's own.
 */
function mochaCollector<T extends AnyFunction> (target: T, wrap: (fn: AnyFunction) => AnyFunction): T {
  return new Proxy(target, {
    apply (fn, thisArg, args: unknown[]) {
      return Reflect.apply(fn, thisArg, wrapArgs(args, wrap))
    },
    get (fn, property, receiver) {
      const value: unknown = Reflect.get(fn, property, receiver)

      if ((property === 'skip' || property === 'only') && typeof value === 'function') {
        return mochaCollector(value as AnyFunction, wrap)
      }

      return value
    }
  })
}

/** Hooks take the body first and an optional timeout second, like mocha's. */
function mochaHook<T extends AnyFunction> (hook: T): T {
  return mochaCollector(hook, wrapBody)
}

/** A describe body runs synchronously at collection time, with a mocha `this`. */
function wrapSuiteBody (fn: AnyFunction): AnyFunction {
  return function mochaSuiteBody (): unknown {
    return fn.call(mochaContext())
  }
}

const globals = globalThis as Record<string, unknown>

globals.describe = mochaCollector(describe, wrapSuiteBody)
globals.context = globals.describe
globals.it = mochaCollector(it, wrapBody)
globals.specify = globals.it
globals.before = mochaHook(beforeAll)
globals.after = mochaHook(afterAll)
globals.beforeEach = mochaHook(beforeEach)
globals.afterEach = mochaHook(afterEach)
