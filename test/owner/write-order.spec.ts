import { describe, expect, it } from 'vitest'
import { SlotWriteOrder } from '../../src/owner/write-order.js'

/** A write that finishes when told to, recording when it started */
function gate (log: string[], name: string): { write: () => Promise<string>, open: () => void, fail: (err: Error) => void } {
  let open = (): void => {}
  let fail = (_: Error): void => {}
  const done = new Promise<void>((resolve, reject) => { open = resolve; fail = reject })

  return {
    write: async () => {
      log.push(`start ${name}`)
      await done
      log.push(`end ${name}`)
      return name
    },
    open: () => { open() },
    fail: (err) => { fail(err) }
  }
}

describe('SlotWriteOrder', () => {
  it('runs writes on other slots at once, and a write on a shared slot after the earlier one', async () => {
    const order = new SlotWriteOrder()
    const log: string[] = []
    const a = gate(log, 'a')
    const b = gate(log, 'b')
    const c = gate(log, 'c')

    const ra = order.run([1, 2], a.write)
    const rb = order.run([3], b.write)
    const rc = order.run([3, 2], c.write)
    await Promise.resolve()

    // b shares nothing with a: both started; c waits for a and b
    expect(log).toEqual(['start a', 'start b'])
    b.open()
    await rb
    expect(log).not.toContain('start c')
    a.open()
    await ra
    await new Promise(resolve => setTimeout(resolve, 0))
    expect(log.at(-1)).toBe('start c')
    c.open()
    expect(await rc).toBe('c')
  })

  it('a failed write does not hold back the next one, and its error reaches only its caller', async () => {
    const order = new SlotWriteOrder()
    const log: string[] = []
    const a = gate(log, 'a')
    const b = gate(log, 'b')

    const ra = order.run([7], a.write)
    const rb = order.run([7], b.write)
    a.fail(new Error('disk full'))
    await expect(ra).rejects.toThrow('disk full')
    b.open()
    expect(await rb).toBe('b')
    expect(log).toEqual(['start a', 'start b', 'end b'])
  })
})
