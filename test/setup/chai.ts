/**
 * Stand-in for `aegir/chai`, which `interface-datastore-tests` and
 * `interface-blockstore-tests` import without depending on aegir.
 * `vitest.config.ts` aliases `aegir/chai` to this file.
 *
 * aegir's chai has chai-as-promised (`.eventually`, `.rejected`) and turns
 * property assertions into calls (`.true()`, `.exist()`), the dirty-chai
 * style. Plain chai would throw "… is not a function" on `.true()` even when
 * the value is right, so the suites could not run at all without this.
 *
 * @module
 */
import * as chai from 'chai'
import chaiAsPromised from 'chai-as-promised'

/**
 * The property assertions of chai 5 that the dirty-chai style turns into
 * calls. Language chains (`to`, `be`, `not`, …) and chai-as-promised's
 * `fulfilled`/`rejected` stay properties: the suites chain past `rejected`.
 */
const CALLABLE_ASSERTIONS = [
  'ok', 'true', 'false', 'null', 'undefined', 'NaN', 'exist', 'empty',
  'arguments', 'Arguments', 'extensible', 'sealed', 'frozen', 'finite'
]

function makeCallable (name: string): void {
  const proto = chai.Assertion.prototype as unknown as Record<string, unknown>
  const descriptor = Object.getOwnPropertyDescriptor(proto, name)
  const getter = descriptor?.get

  if (getter == null) {
    throw new Error(`chai has no property assertion "${name}" to make callable`)
  }

  // chai's addMethod assigns to the prototype, which a getter-only property refuses
  delete proto[name]

  // Unlike dirty-chai, the bare property form still asserts when it is read,
  // so an assertion whose `()` was forgotten cannot pass silently. The call
  // asserts again so an optional message reaches the failure.
  chai.Assertion.addChainableMethod(
    name,
    function (this: Chai.AssertionStatic, message?: string) {
      if (message != null) {
        chai.util.flag(this, 'message', message)
      }
      getter.call(this)
    },
    function (this: Chai.AssertionStatic) {
      getter.call(this)
    }
  )
}

for (const name of CALLABLE_ASSERTIONS) {
  makeCallable(name)
}

// after the conversion, so that `.eventually.true()` wraps the callable forms
chai.use(chaiAsPromised)

/** chai's `expect` with chai-as-promised and dirty-chai-style callable assertions */
export const expect = chai.expect

/** chai's `assert` with chai-as-promised */
export const assert = chai.assert

export { chai }
