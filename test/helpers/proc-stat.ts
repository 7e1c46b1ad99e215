import { readFileSync } from 'node:fs'

/**
 * A process's state letter (R running or runnable, S sleeping, Z zombie …) and its CPU so far
 * (utime + stime, clock ticks) from /proc/<pid>/stat; undefined once it is gone.
 */
export function procStat(pid: number | string): { state: string; ticks: number } | undefined {
  let stat: string
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  } catch {
    return undefined
  }
  // Fields after the command name, which may hold spaces and parentheses: f[0] is field 3 (state).
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return { state: f[0], ticks: Number(f[11]) + Number(f[12]) }
}

/** Gone, or a zombie that only waits to be reaped. */
export function exited(pid: number | string): boolean {
  const s = procStat(pid)
  return s === undefined || s.state === 'Z'
}
