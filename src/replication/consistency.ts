import { InvalidParametersError } from '../errors.js'
import type { AbortOptions } from '@libp2p/interface'

/**
 * How many of a slot's N owners an operation waits for: `one` (1), `quorum`
 * (⌊N/2⌋+1) or `all` (N), for writes (W) and reads (R) alike. Quorum writes
 * and quorum reads overlap in at least one owner, so a quorum read sees every
 * acknowledged quorum write.
 */
export type Consistency = 'one' | 'quorum' | 'all'

/** The consistency a store uses when neither it nor the operation names one */
export const DEFAULT_CONSISTENCY: Consistency = 'quorum'

const LEVELS: readonly Consistency[] = ['one', 'quorum', 'all']

/** Options every replicated operation takes */
export interface ConsistencyOptions extends AbortOptions {
  /**
   * Owners to wait for, overriding the store's `consistency` for this call.
   * Only slots with several owners (replicated) use it.
   */
  consistency?: Consistency
}

/**
 * `value` when it names a consistency level, `fallback` when it is
 * undefined; anything else is an `InvalidParametersError` naming `where`
 */
export function consistencyOf (value: unknown, fallback: Consistency, where = 'options.consistency'): Consistency {
  if (value == null) {
    return fallback
  }

  if (typeof value !== 'string' || !LEVELS.includes(value as Consistency)) {
    throw new InvalidParametersError(`${where} must be one of ${LEVELS.map(l => `"${l}"`).join(', ')}, got ${typeof value === 'string' ? JSON.stringify(value) : typeof value}`)
  }

  return value as Consistency
}

/** Owners out of `n` an operation at `level` waits for */
export function required (n: number, level: Consistency): number {
  switch (level) {
    case 'one':
      return 1
    case 'all':
      return n
    default:
      return Math.floor(n / 2) + 1
  }
}
