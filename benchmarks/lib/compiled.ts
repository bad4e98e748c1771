/**
 * The benchmarks time compiled JavaScript, as users run it. Under tsx every
 * function is wrapped by esbuild's `keepNames` helper, closures made per call
 * included, which cost 30–40% of the throughput of the hot path measured
 * here. So a script started with tsx compiles `src/` and `benchmarks/` with
 * tsc into `.bench-out/` and runs itself from there with the same Node.
 */

import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

/** `benchmarks/` in the source tree, whether running from source or from `.bench-out/` */
export function benchmarksDir (): string {
  return fileURLToPath(new URL('../', import.meta.url)).replace(/\/\.bench-out\/benchmarks\/$/, '/benchmarks/')
}

/**
 * When `scriptUrl` is a TypeScript file (running under tsx) and `--tsx` was
 * not passed: compile, run the compiled script with the same arguments, and
 * return its exit code. Otherwise return undefined and let the caller run.
 */
export function runCompiled (scriptUrl: string): number | undefined {
  if (!scriptUrl.endsWith('.ts') || process.argv.includes('--tsx')) {
    return undefined
  }

  const bench = benchmarksDir()
  const root = fileURLToPath(new URL('../', `file://${bench}`))
  const tsc = `${root}node_modules/typescript/bin/tsc`
  const t0 = Date.now()
  const built = spawnSync(process.execPath, [tsc, '-p', `${bench}tsconfig.json`], { cwd: root, encoding: 'utf8' })
  const script = fileURLToPath(scriptUrl).replace(root, `${root}.bench-out/`).replace(/\.ts$/, '.js')

  if (!existsSync(script)) {
    process.stderr.write(built.stdout + built.stderr)
    throw new Error(`compiling the benchmarks produced no ${script}`)
  }

  if (built.status !== 0) {
    // tsc still emits: type errors elsewhere in a tree under work do not stop a measurement
    const errors = built.stdout.split('\n').filter(l => l.includes('error TS'))
    process.stderr.write(`warning: tsc reported ${errors.length} type errors; running the emitted code anyway\n${errors.slice(0, 5).join('\n')}\n`)
  }

  process.stderr.write(`compiled src/ and benchmarks/ to .bench-out/ in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`)
  const run = spawnSync(process.execPath, [script, ...process.argv.slice(2)], { stdio: 'inherit' })
  return run.status ?? 1
}
