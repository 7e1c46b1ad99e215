import { execFileSync } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'

// Real-time scheduling for the latency-critical processes of a node (the OCS and the Redis it runs),
// through util-linux's `chrt`. On a box whose cores are shared with other busy processes, the
// answers' tail latency is mostly time spent waiting for a core: under SCHED_RR the OCS and Redis
// preempt ordinary processes when a request arrives instead of waiting out their time slice.
// SCHED_RESET_ON_FORK keeps it from spreading: what these processes fork later (a restarted CDR
// worker, Redis's AOF rewrite child) runs at normal priority, and so do threads started afterwards
// (the kernel resets every new task: e.g. the purge threads Redis's jemalloc starts on demand); the
// ones that matter, the event loops, exist by then. The kernel still keeps 5 % of each second for
// ordinary processes (sched_rt_runtime_us), so a busy OCS cannot lock the box.

/**
 * SCHED_RR at `priority` (1–99) for every thread of `pid`. Returns undefined when done, else why not
 * (typically: not root and no CAP_SYS_NICE, or no `chrt`).
 */
export function setRealtime(pid: number, priority: number): string | undefined {
  return chrt(['--all-tasks', '--reset-on-fork', '--rr', '--pid', String(priority), String(pid)])
}

/**
 * SCHED_IDLE for every thread of `pid` (threads it starts later inherit it): the process runs only
 * on a core nothing else wants, and is preempted at once when an ordinary task wakes up. No
 * privilege is needed to lower one's own processes. Returns undefined when done, else why not.
 */
export function setIdle(pid: number): string | undefined {
  return chrt(['--all-tasks', '--idle', '--pid', '0', String(pid)])
}

/**
 * Back to ordinary scheduling (SCHED_OTHER, the nice value kept) for every thread of `pid`. Leaving
 * SCHED_IDLE needs root or CAP_SYS_NICE (or an RLIMIT_NICE that allows the process's nice value).
 * Returns undefined when done, else why not.
 */
export function setOrdinary(pid: number): string | undefined {
  return chrt(['--all-tasks', '--other', '--pid', '0', String(pid)])
}

/** Runs util-linux's `chrt`; undefined when it succeeded, else the first line of why not. */
function chrt(args: string[]): string | undefined {
  try {
    execFileSync('chrt', args, { stdio: ['ignore', 'ignore', 'pipe'] })
    return undefined
  } catch (err) {
    const e = err as { stderr?: Buffer; message: string }
    return e.stderr?.toString().trim().split('\n')[0] || e.message.split('\n')[0]
  }
}

/** Linux scheduling policies as /proc shows them. */
export const SCHED_OTHER = 0
export const SCHED_RR = 2
export const SCHED_IDLE = 5

/** Each thread's name, scheduling policy and real-time priority (/proc/<pid>/task/<tid>/stat fields 2, 41 and 40). */
export function threadScheduling(pid: number): Array<{ tid: number; name: string; policy: number; rtPriority: number }> {
  const out: Array<{ tid: number; name: string; policy: number; rtPriority: number }> = []
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    let stat: string
    try {
      stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8')
    } catch {
      continue // the thread ended meanwhile
    }
    // Fields after the command name, which is in parentheses and may hold spaces: f[0] is field 3
    // (state), so field n is f[n - 3].
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    out.push({ tid: Number(tid), name: stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')), rtPriority: Number(f[37]), policy: Number(f[38]) })
  }
  return out
}
