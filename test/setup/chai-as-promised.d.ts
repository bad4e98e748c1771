/**
 * chai-as-promised 8 ships no typings and @types/chai-as-promised is not
 * installed; `test/setup/chai.ts` only needs it as a chai plugin.
 */
declare module 'chai-as-promised' {
  const chaiAsPromised: Chai.ChaiPlugin
  export default chaiAsPromised
}
