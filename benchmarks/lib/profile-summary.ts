/**
 * Reads V8 CPU profiles (`.cpuprofile`, from `--cpu-prof` or the inspector)
 * and says where the time went: by function (self and total) and by
 * package or source file.
 */

interface CallFrame {
  functionName: string
  url: string
  lineNumber: number
}

interface ProfileNode {
  id: number
  callFrame: CallFrame
  children?: number[]
}

export interface CpuProfile {
  nodes: ProfileNode[]
  startTime: number
  endTime: number
  samples: number[]
  timeDeltas: number[]
}

export interface FunctionCost {
  key: string
  group: string
  selfMs: number
  totalMs: number
}

export interface ProfileSummary {
  wallMs: number
  /** sampled time not idle */
  busyMs: number
  functions: FunctionCost[]
  groups: Array<{ group: string, selfMs: number }>
}

/** A project file, from source (tsx) or from the compiled tree */
const PROJECT = /^file:\/\/.*?\/(?:\.bench-out\/)?((?:src|benchmarks)\/)/

/** The package (or project source file, or node module) a frame belongs to */
export function groupOf (frame: CallFrame): string {
  const url = frame.url

  if (url === '') {
    return frame.functionName.startsWith('(') ? frame.functionName : '(native)'
  }

  if (url.startsWith('node:')) {
    return url.replace(/^node:internal\//, 'node:').split('/').slice(0, 2).join('/')
  }

  const nm = url.lastIndexOf('/node_modules/')

  if (nm !== -1) {
    const rest = url.slice(nm + '/node_modules/'.length).split('/')
    return rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]
  }

  return url.replace(PROJECT, '$1').replace(/^file:\/\//, '')
}

function keyOf (frame: CallFrame): string {
  const group = groupOf(frame)
  const name = frame.functionName === '' ? '(anonymous)' : frame.functionName

  if (frame.url === '') {
    return name
  }

  const file = frame.url.slice(frame.url.lastIndexOf('/') + 1)
  return `${name} ${group.includes('/') && !group.startsWith('@') ? group : `${group}/${file}`}:${frame.lineNumber + 1}`
}

export function summarize (profile: CpuProfile): ProfileSummary {
  const byId = new Map(profile.nodes.map(n => [n.id, n]))
  const parent = new Map<number, number>()

  for (const node of profile.nodes) {
    for (const child of node.children ?? []) {
      parent.set(child, node.id)
    }
  }

  const selfUs = new Map<number, number>()

  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i]
    selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0))
  }

  const fnSelf = new Map<string, number>()
  const fnTotal = new Map<string, number>()
  const fnGroup = new Map<string, string>()
  const groupSelf = new Map<string, number>()
  let busyUs = 0
  let totalUs = 0

  for (const [id, us] of selfUs) {
    const node = byId.get(id)

    if (node == null) continue

    totalUs += us
    const key = keyOf(node.callFrame)
    const group = groupOf(node.callFrame)

    // the inspector's own work while it hands over the profile is not the workload's
    if (group !== '(idle)' && group !== 'node:inspector') busyUs += us

    fnSelf.set(key, (fnSelf.get(key) ?? 0) + us)
    fnGroup.set(key, group)
    groupSelf.set(group, (groupSelf.get(group) ?? 0) + us)

    // total time: once per distinct function on the stack
    const seen = new Set<string>()
    let cursor: number | undefined = id

    while (cursor != null) {
      const frame = byId.get(cursor)?.callFrame

      if (frame != null) {
        const k = keyOf(frame)

        if (!seen.has(k)) {
          seen.add(k)
          fnTotal.set(k, (fnTotal.get(k) ?? 0) + us)
          fnGroup.set(k, groupOf(frame))
        }
      }

      cursor = parent.get(cursor)
    }
  }

  return {
    wallMs: totalUs / 1000,
    busyMs: busyUs / 1000,
    functions: [...fnTotal.keys()].map(key => ({
      key,
      group: fnGroup.get(key) ?? '',
      selfMs: (fnSelf.get(key) ?? 0) / 1000,
      totalMs: (fnTotal.get(key) ?? 0) / 1000
    })),
    groups: [...groupSelf].map(([group, us]) => ({ group, selfMs: us / 1000 })).sort((a, b) => b.selfMs - a.selfMs)
  }
}

/** Sum several summaries (the three owners' profiles) into one */
export function merge (summaries: ProfileSummary[]): ProfileSummary {
  const fns = new Map<string, FunctionCost>()
  const groups = new Map<string, number>()

  for (const s of summaries) {
    for (const f of s.functions) {
      const prev = fns.get(f.key)
      fns.set(f.key, prev == null ? { ...f } : { ...prev, selfMs: prev.selfMs + f.selfMs, totalMs: prev.totalMs + f.totalMs })
    }

    for (const g of s.groups) {
      groups.set(g.group, (groups.get(g.group) ?? 0) + g.selfMs)
    }
  }

  return {
    wallMs: summaries.reduce((a, s) => a + s.wallMs, 0),
    busyMs: summaries.reduce((a, s) => a + s.busyMs, 0),
    functions: [...fns.values()],
    groups: [...groups].map(([group, selfMs]) => ({ group, selfMs })).sort((a, b) => b.selfMs - a.selfMs)
  }
}

/** Text report: groups by self time, functions by self time, project functions by total time */
export function format (title: string, s: ProfileSummary, top = 25): string {
  const pct = (ms: number): string => `${(100 * ms / s.busyMs).toFixed(1).padStart(5)}%`
  const lines = [`### ${title}: ${s.busyMs.toFixed(0)} ms busy of ${s.wallMs.toFixed(0)} ms sampled`, '', 'self time by package / file:']

  for (const g of s.groups.filter(g => g.group !== '(idle)' && g.group !== 'node:inspector').slice(0, top)) {
    lines.push(`  ${pct(g.selfMs)}  ${g.selfMs.toFixed(0).padStart(6)} ms  ${g.group}`)
  }

  lines.push('', 'self time by function:')

  for (const f of [...s.functions].sort((a, b) => b.selfMs - a.selfMs).filter(f => f.key !== '(idle)' && f.group !== 'node:inspector').slice(0, top)) {
    lines.push(`  ${pct(f.selfMs)}  ${f.selfMs.toFixed(0).padStart(6)} ms  ${f.key}`)
  }

  lines.push('', 'total (inclusive) time of project functions (src/):')

  for (const f of [...s.functions].sort((a, b) => b.totalMs - a.totalMs).filter(f => f.group.startsWith('src/')).slice(0, top)) {
    lines.push(`  ${pct(f.totalMs)}  ${f.totalMs.toFixed(0).padStart(6)} ms  ${f.key}`)
  }

  return lines.join('\n')
}
