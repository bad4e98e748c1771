/**
 * Small statistics and formatting helpers for the benchmark scripts
 */

/** The value at quantile `q` (0..1) of already sorted numbers, nearest rank */
export function quantile (sorted: number[], q: number): number {
  if (sorted.length === 0) {
    return NaN
  }

  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))
  return sorted[index]
}

/** p50 and p99 of a list of latencies in ms */
export function latencySummary (samples: number[]): { p50: number, p99: number } {
  const sorted = [...samples].sort((a, b) => a - b)
  return { p50: quantile(sorted, 0.5), p99: quantile(sorted, 0.99) }
}

/** Median, min and max of one metric over several runs */
export interface Spread {
  median: number
  min: number
  max: number
  runs: number[]
}

/** Rounds whose measurement failed are recorded as NaN and left out */
export function spread (values: number[]): Spread {
  const sorted = values.filter(v => Number.isFinite(v)).sort((a, b) => a - b)
  const mid = sorted.length >> 1
  const median = sorted.length === 0
    ? NaN
    : sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2

  return { median, min: sorted[0] ?? NaN, max: sorted[sorted.length - 1] ?? NaN, runs: values }
}

/** A number with a sensible count of significant digits */
export function fmt (n: number, unit = ''): string {
  if (!Number.isFinite(n)) {
    return 'n/a'
  }

  const abs = Math.abs(n)
  let s: string

  if (abs >= 1e9) {
    s = `${(n / 1e9).toFixed(2)}G`
  } else if (abs >= 1e6) {
    s = `${(n / 1e6).toFixed(2)}M`
  } else if (abs >= 1e4) {
    s = `${(n / 1e3).toFixed(1)}k`
  } else if (abs >= 100) {
    s = n.toFixed(0)
  } else if (abs >= 10) {
    s = n.toFixed(1)
  } else if (abs >= 1) {
    s = n.toFixed(2)
  } else {
    s = n.toFixed(3)
  }

  return unit === '' ? s : `${s} ${unit}`
}

/** Render rows as a GitHub-flavoured markdown table (also readable in a terminal) */
export function markdownTable (header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map(r => (r[i] ?? '').length)))
  const line = (cells: string[]): string => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`

  return [
    line(header),
    `| ${widths.map(w => '-'.repeat(w)).join(' | ')} |`,
    ...rows.map(line)
  ].join('\n')
}

/** Milliseconds since an arbitrary origin, sub-millisecond resolution */
export function now (): number {
  return performance.now()
}
