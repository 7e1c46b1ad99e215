import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import type { Component } from './lifecycle.js'
import type { Logger } from './logger.js'

// Idle polling: keeps the CPUs of a virtual machine from halting while the OCS carries traffic.
//
// A request crosses several processes (client → OCS → Redis → OCS → client), and each hop wakes
// one. On a KVM/Firecracker guest whose kernel has no cpuidle driver, an idle vCPU executes HLT at
// once and leaves the hypervisor; waking it again takes the host tens to hundreds of µs, and the
// core comes back with cold caches. Measured on the bench box (BENCHMARKS.md, "Idle polling"): a
// one-byte ping-pong between two processes, 200 µs apart, p99 327 µs with idle CPUs against 27 µs
// with them kept busy. For the OCS: a lower median latency, less CPU per request, a full-load rate
// 1–23 % higher, and no consistent change to the p99, which the host's noise swings either way; so
// it is opt-in (scheduling.idlePoll, default off). The kernel's answer is the cpuidle-haltpoll
// driver (poll a little before halting); where it is absent, this is its userspace counterpart:
// one poller per CPU, pinned to it, under SCHED_IDLE, calling sched_yield() in a loop. SCHED_IDLE
// and the yield give the core to any other task at once (the CDR worker, at SCHED_IDLE too,
// included), so the pollers only fill time that would otherwise be spent halted. They cost that
// idle time: `top` shows the CPUs busy.
//
// They run only while the OCS itself is busy (its own CPU above `onShare` of a core over a window),
// and stop `offAfterMs` after it is not, blocked on their pipe. Each exits when its pipe closes, so
// an OCS killed with SIGKILL leaves none behind.

/** What `ps` shows for a poller. */
export const POLLER_NAME = 'ocs-idle-poller'

/**
 * Perl is in every Debian base system (perl-base is Essential); util-linux's taskset and chrt pin it
 * and set SCHED_IDLE. The pipe is read after every yield: on a core that ordinary tasks saturate,
 * each yield may last a whole time slice of theirs, and the poller must still see its stop.
 */
const POLLER = `
use strict; use Fcntl;
$0 = '${POLLER_NAME}';
my $yield = $ARGV[0]; my ($buf, $on) = ('', 0);
fcntl(STDIN, F_SETFL, fcntl(STDIN, F_GETFL, 0) | O_NONBLOCK) or die "fcntl: $!";
while (1) {
  if ($on) { syscall($yield) }
  else { my $rin = ''; vec($rin, 0, 1) = 1; select($rin, undef, undef, undef) }
  my $n = sysread(STDIN, $buf, 64);
  if (defined $n) { exit 0 if $n == 0; $on = substr($buf, -1) eq '1' }
}
`

/** sched_yield's system call number, by Node's process.arch. */
const SCHED_YIELD: Partial<Record<string, number>> = { x64: 24, arm64: 124 }

export type IdlePollMode = 'auto' | 'on' | 'off'

/**
 * Whether this kernel halts an idle CPU at once under a hypervisor: the case `auto` polls for. No
 * cpuidle driver (current_driver "none" or absent) and the `hypervisor` CPU flag; `root` for tests.
 */
export function haltsWhenIdle(root = '/'): boolean {
  const driverFile = `${root}sys/devices/system/cpu/cpuidle/current_driver`
  const driver = existsSync(driverFile) ? readFileSync(driverFile, 'utf8').trim() : 'none'
  if (driver !== 'none') return false
  try {
    return /^flags\s*:.*\bhypervisor\b/m.test(readFileSync(`${root}proc/cpuinfo`, 'utf8'))
  } catch {
    return false
  }
}

export interface IdlePollOptions {
  /** CPUs to poll on (default: 0 … availableParallelism() − 1) */
  cpus?: number[]
  /** how often the OCS's CPU use is read */
  windowMs?: number
  /** share of one core the OCS must use over a window for the pollers to run */
  onShare?: number
  /** the pollers stop this long after the last busy window */
  offAfterMs?: number
}

export class IdlePoller implements Component {
  readonly name = 'idle-poller'
  private pollers: ChildProcess[] = []
  private timer?: NodeJS.Timeout
  private polling = false
  private stopping = false
  private lastBusy = -Infinity
  private lastCpu = process.cpuUsage()
  private readonly windowMs: number
  private readonly onShare: number
  private readonly offAfterMs: number

  /** onChange: told when the pollers start (true) or stop (false), e.g. for a gauge. */
  constructor(
    private readonly mode: IdlePollMode,
    private readonly log: Logger,
    private readonly onChange: (polling: boolean) => void = () => undefined,
    private readonly opts: IdlePollOptions = {},
  ) {
    this.windowMs = opts.windowMs ?? 200
    this.onShare = opts.onShare ?? 0.05
    this.offAfterMs = opts.offAfterMs ?? 2000
  }

  /** How many pollers run (started, not yet exited). */
  get count(): number {
    return this.running().length
  }

  /** Pollers started and not yet exited (one that never started, e.g. no taskset on PATH, has no pid and emits no exit). */
  private running(): ChildProcess[] {
    return this.pollers.filter((p) => p.pid !== undefined && p.exitCode === null && p.signalCode === null)
  }

  get active(): boolean {
    return this.polling
  }

  async start(): Promise<void> {
    if (this.mode === 'off') return
    if (this.mode === 'auto' && !haltsWhenIdle()) {
      this.log.info('idle polling off: the kernel has a cpuidle driver or runs on bare metal (scheduling.idlePoll auto)')
      return
    }
    const yieldNo = SCHED_YIELD[process.arch]
    if (yieldNo === undefined) {
      this.log.warn({ arch: process.arch }, 'idle polling unavailable on this architecture')
      return
    }
    const cpus = this.opts.cpus ?? Array.from({ length: availableParallelism() }, (_, i) => i)
    for (const cpu of cpus) {
      const p = spawn('taskset', ['--cpu-list', String(cpu), 'chrt', '--idle', '0', 'perl', '-e', POLLER, String(yieldNo)], { stdio: ['pipe', 'ignore', 'pipe'] })
      let err = ''
      p.stderr!.on('data', (d: Buffer) => (err += d.toString()))
      p.stdin!.on('error', () => undefined) // a poller that died: its exit is logged below
      p.once('error', (e) => this.log.warn({ cpu, err: e.message }, 'idle poller not started'))
      p.once('exit', (code, signal) => {
        if (!this.stopping) this.log.warn({ cpu, code, signal, err: err.trim().split('\n')[0] }, 'idle poller exited')
      })
      this.pollers.push(p)
    }
    this.lastCpu = process.cpuUsage()
    this.timer = setInterval(() => this.check(), this.windowMs)
    this.timer.unref()
    this.log.info({ cpus: cpus.length, mode: this.mode }, 'idle polling ready: pollers run while the OCS is busy')
  }

  private check(): void {
    const now = performance.now()
    const d = process.cpuUsage(this.lastCpu)
    this.lastCpu = process.cpuUsage()
    if ((d.user + d.system) / 1000 >= this.onShare * this.windowMs) this.lastBusy = now
    const want = now - this.lastBusy < this.offAfterMs
    if (want === this.polling) return
    this.polling = want
    for (const p of this.pollers) if (p.stdin!.writable) p.stdin!.write(want ? '1' : '0')
    this.onChange(want)
  }

  async stop(): Promise<void> {
    this.stopping = true
    clearInterval(this.timer)
    this.timer = undefined
    const exits = this.running().map((p) => new Promise((r) => p.once('exit', r)))
    for (const p of this.pollers) p.stdin!.end()
    const timer = setTimeout(() => this.pollers.forEach((p) => p.kill('SIGKILL')), 2000)
    await Promise.all(exits)
    clearTimeout(timer)
    this.pollers = []
    if (this.polling) this.onChange(false)
    this.polling = false
  }
}
