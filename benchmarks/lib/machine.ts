/**
 * How busy the machine was while the benchmark ran: the figures here are
 * only as good as the quiet they were taken in.
 */

import { readFileSync } from 'node:fs'
import os from 'node:os'

/** Busy and total CPU time of the whole machine so far, in ms (Linux; zeros elsewhere) */
export function machineCpu (): { busyMs: number, totalMs: number } {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]
    const [user, nice, system, idle, iowait, irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number)
    const tick = 10 // USER_HZ is 100 on Linux
    const busy = user + nice + system + irq + softirq + steal
    return { busyMs: busy * tick, totalMs: (busy + idle + iowait) * tick }
  } catch {
    return { busyMs: 0, totalMs: 0 }
  }
}

/** A one-line description of the machine */
export function machineInfo (): { cpu: string, cores: number, memory: string, os: string, node: string } {
  const cpus = os.cpus()
  return {
    cpu: cpus[0]?.model ?? 'unknown',
    cores: cpus.length,
    memory: `${Math.round(os.totalmem() / 2 ** 30)} GiB`,
    os: `${os.type()} ${os.release()}`,
    node: process.version
  }
}

/** Read and write system calls this process has made (Linux; zeros elsewhere) */
export function syscalls (): { reads: number, writes: number } {
  try {
    const io = readFileSync('/proc/self/io', 'utf8')
    const field = (name: string): number => Number(new RegExp(`^${name}: (\\d+)`, 'm').exec(io)?.[1] ?? 0)
    return { reads: field('syscr'), writes: field('syscw') }
  } catch {
    return { reads: 0, writes: 0 }
  }
}
