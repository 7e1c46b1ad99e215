// CPU time by process, read from Linux's /proc, for the benches: how many µs of CPU one request
// costs in each process of the full stack. On a shared 2-core box a throughput figure moves by 30 %
// from one hour to the next; CPU per request moves much less, and it says what limits the rate:
// 2,000,000 µs of CPU a second divided by the µs one request takes is the most any tuning of the
// scheduling could get from these two cores.
import { readdirSync, readFileSync } from 'node:fs'
import { execFileSync } from 'node:child_process'
import { POLLER_NAME } from '../src/lib/idle-poll.js'

/** The processes a bench tells apart in the OCS's process tree. */
export type Role = 'ocs' | 'redis' | 'cdr' | 'poller' | 'other'

export type CpuSnapshot = Record<Role, number>

let ticksPerSecond: number | undefined

function clockTicks(): number {
  ticksPerSecond ??= Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100
  return ticksPerSecond
}

interface Stat {
  pid: number
  ppid: number
  comm: string
  /** user + system time of the process itself, clock ticks */
  ticks: number
  /** user + system time of its children that have exited and been waited for, clock ticks */
  childTicks: number
}

/** /proc/<pid>/stat, parsed after the command name (which may hold spaces and parentheses). */
function readStat(pid: string): Stat | undefined {
  let text: string
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8')
  } catch {
    return undefined // gone between the listing and the read
  }
  const close = text.lastIndexOf(')')
  const f = text.slice(close + 2).split(' ')
  // After the name: state(3) ppid(4) … utime(14) stime(15) cutime(16) cstime(17), 1-based in proc(5).
  return { pid: Number(pid), ppid: Number(f[1]), comm: text.slice(text.indexOf('(') + 1, close), ticks: Number(f[11]) + Number(f[12]), childTicks: Number(f[13]) + Number(f[14]) }
}

function roleOf(s: Stat, root: number): Role {
  if (s.pid === root) return 'ocs'
  if (s.comm === 'redis-server') return 'redis'
  try {
    const cmdline = readFileSync(`/proc/${s.pid}/cmdline`, 'utf8')
    if (cmdline.includes('worker-child')) return 'cdr'
    if (cmdline.startsWith(POLLER_NAME)) return 'poller'
  } catch {
    /* gone */
  }
  return 'other'
}

/** `root` and every process below it, root first; undefined when there is no /proc or no such process. */
function processTree(root: number): Stat[] | undefined {
  let pids: string[]
  try {
    pids = readdirSync('/proc').filter((p) => /^\d+$/.test(p))
  } catch {
    return undefined
  }
  const stats = pids.map(readStat).filter((s): s is Stat => s !== undefined)
  const rootStat = stats.find((s) => s.pid === root)
  if (rootStat === undefined) return undefined
  const children = new Map<number, Stat[]>()
  for (const s of stats) {
    const siblings = children.get(s.ppid)
    if (siblings === undefined) children.set(s.ppid, [s])
    else siblings.push(s)
  }
  const tree = [rootStat]
  for (let i = 0; i < tree.length; i++) tree.push(...(children.get(tree[i].pid) ?? []))
  return tree
}

/** The pids below `root` (not root itself), e.g. to stop a whole tree. */
export function descendantPids(root: number): number[] {
  return (processTree(root) ?? []).slice(1).map((s) => s.pid)
}

/**
 * CPU milliseconds used so far by `root` and every process below it, by role: the OCS process,
 * its embedded redis-server (under a shell guard), its CDR worker child. Undefined where there is
 * no /proc.
 */
export function treeCpuMs(root: number): CpuSnapshot | undefined {
  const tree = processTree(root)
  if (tree === undefined) return undefined
  const out: CpuSnapshot = { ocs: 0, redis: 0, cdr: 0, poller: 0, other: 0 }
  const ms = 1000 / clockTicks()
  for (const s of tree) out[roleOf(s, root)] += s.ticks * ms
  return out
}

/** CPU milliseconds of this process's children that have exited and been waited for (a load generator, after it ends). */
export function exitedChildrenCpuMs(): number | undefined {
  // getconf, run once, is a child too: it has exited before the figure is read.
  const ms = 1000 / clockTicks()
  const s = readStat('self')
  return s === undefined ? undefined : s.childTicks * ms
}

/** CPU µs per request in each part of the stack over one measured run. */
export interface CpuPerRequest {
  ocs: number
  redis: number
  cdr: number
  generator: number
  /** the idle pollers (src/lib/idle-poll.ts): time the CPUs would otherwise have spent halted, not in `total` */
  pollers: number
  total: number
}

/**
 * Runs `run` (which starts and awaits one load generator) against the OCS whose process is `root`,
 * and adds to its result the CPU each part of the stack used per request, at the request rate the
 * result reports. The CPU is taken over the whole run and divided by its wall time: a generator
 * counts requests only after its warm-up second, but the stack works at the same rate through it.
 */
export async function withCpu<T extends object>(root: number, run: () => Promise<T>, perSecond: (r: T) => number): Promise<T & { cpu?: CpuPerRequest }> {
  const tree0 = treeCpuMs(root)
  const gen0 = exitedChildrenCpuMs()
  const t0 = performance.now()
  const result = await run()
  const wallMs = performance.now() - t0
  const tree1 = treeCpuMs(root)
  const gen1 = exitedChildrenCpuMs()
  const rate = perSecond(result)
  if (tree0 === undefined || tree1 === undefined || gen0 === undefined || gen1 === undefined || rate <= 0 || wallMs <= 0) return result
  // CPU ms per wall ms, times 1e6 µs per s, over requests per s
  const us = (a: number, b: number): number => (((b - a) / wallMs) * 1e6) / rate
  const cpu = { ocs: us(tree0.ocs, tree1.ocs), redis: us(tree0.redis, tree1.redis), cdr: us(tree0.cdr, tree1.cdr), generator: us(gen0, gen1), pollers: us(tree0.poller, tree1.poller), total: 0 }
  cpu.total = cpu.ocs + cpu.redis + cpu.cdr + cpu.generator + us(tree0.other, tree1.other)
  return { ...result, cpu }
}

/** "OCS 95 · Redis 115 · CDR 5 · gen. 4 = 219" (µs of CPU per request), and "(idle pollers 40)" when they ran. */
export function cpuText(c: CpuPerRequest | undefined): string {
  if (c === undefined) return '–'
  const r = (x: number): string => x.toFixed(0)
  return `OCS ${r(c.ocs)} · Redis ${r(c.redis)} · CDR ${r(c.cdr)} · gen. ${r(c.generator)} = ${r(c.total)}${c.pollers >= 0.5 ? ` (idle pollers ${r(c.pollers)})` : ''}`
}

/** The most requests a second the machine's cores could serve at this CPU cost per request. */
export function cpuBound(c: CpuPerRequest, cores: number): number {
  return Math.round((cores * 1e6) / c.total)
}
