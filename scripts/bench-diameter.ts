// The Diameter part of `npm run bench`: the full OCS (built dist/main.js, embedded Redis with AOF
// everysec) in its own process, a load generator in another, and the same load generator against a
// no-op responder for the ceiling. Two generators send the same sessions: scripts/load-diameter.c
// (dist/bin/load-diameter; the target figures: it takes ~4 µs of CPU per CCR from the two cores the
// OCS and Redis need, and has no garbage collector of its own to pause its clock) and
// scripts/load-diameter.ts. The same message mix also comes from a client nobody here wrote:
// Erlang/OTP's diameter application (test/erlang/cc_client.escript in load mode), when escript and
// erlang-diameter are installed. The half-load p99 is measured three times at the same rate: with
// ordinary scheduling, on a second OCS started with scheduling.realtimePriority (OCS and embedded
// Redis under SCHED_RR), and on a third with realtime priority and idle pollers together. Other
// OCS processes give the ceilings and comparisons named where they start. Returns Markdown table lines.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { cpSync, existsSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs'
import { cpus, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { haltsWhenIdle } from '../src/lib/idle-poll.js'
import { GcTrace, gcStats, gcText, type GcStats } from './gc-trace.js'
import { cpuBound, cpuText, withCpu, type CpuPerRequest } from './proc-cpu.js'

const KEY = 'bench-key-0123456789abcdef'
const ESCRIPT = fileURLToPath(new URL('../test/erlang/cc_client.escript', import.meta.url))
const C_GENERATOR = 'dist/bin/load-diameter'

interface Load {
  ccrs: number
  perSec: number
  p50: number
  p99: number
  results: Record<string, number>
  /** CPU µs per CCR by process, for runs against the OCS */
  cpu?: CpuPerRequest
  /** the OCS's own garbage-collection pauses during the run */
  gc?: GcStats
}

/** Rounds of each full-stack measurement; the summary quotes the median round (the box is shared and noisy). */
export const ROUNDS = 3
/** whether scheduling.idlePoll auto starts pollers on this machine */
const POLLS = haltsWhenIdle()

/** The median element by `key` (of an even count, the lower middle). */
export function medianBy<T>(xs: T[], key: (x: T) => number): T {
  return [...xs].sort((a, b) => key(a) - key(b))[Math.floor((xs.length - 1) / 2)]
}

export function waitLine(p: ChildProcess, re: RegExp, ms = 30_000): Promise<RegExpExecArray> {
  return new Promise((res, rej) => {
    let buf = ''
    const timer = setTimeout(() => rej(new Error(`timeout waiting for ${re}: ${buf.slice(-500)}`)), ms)
    const on = (d: Buffer): void => {
      buf += d.toString()
      const m = re.exec(buf)
      if (m) {
        clearTimeout(timer)
        res(m)
      }
    }
    p.stdout?.on('data', on)
    p.stderr?.on('data', on)
  })
}

type Generator = 'c' | 'node'

async function load(gen: Generator, port: number, seconds: number, concurrency: number, rate = 0): Promise<Load> {
  const args = ['--port', String(port), '--json', '--quiet', '--duration', String(seconds), '--concurrency', String(concurrency), '--subscribers', '64', '--msisdn-prefix', '4679', '--msisdn-width', '6']
  if (rate > 0) args.push('--rate', String(rate))
  const p = gen === 'c'
    ? spawn(C_GENERATOR, args, { stdio: ['ignore', 'pipe', 'inherit'] })
    : spawn(process.execPath, ['--import', 'tsx', 'scripts/load-diameter.ts', ...args], { stdio: ['ignore', 'pipe', 'inherit'] })
  let out = ''
  p.stdout.on('data', (d) => (out += d))
  const code = await new Promise((r) => p.once('exit', r))
  const last = out.trim().split('\n').pop() ?? ''
  if (code !== 0 || !last.startsWith('{')) throw new Error(`${gen} Diameter load generator failed (${String(code)}): ${out.slice(-1000)}`)
  return JSON.parse(last) as Load
}

/** escript, when Erlang/OTP with its diameter application is installed (Debian erlang-base, erlang-diameter). */
function erlangEscript(): string | undefined {
  try {
    return execFileSync('sh', ['-c', 'ls -d /usr/lib/erlang/lib/diameter-* >/dev/null && command -v escript'], { encoding: 'utf8' }).trim() || undefined
  } catch {
    return undefined
  }
}

/** The same mix from the Erlang/OTP diameter client: one connection, `concurrency` Erlang processes. */
async function loadErlang(escript: string, port: number, seconds: number, concurrency: number, dir: string): Promise<Load> {
  const tmp = mkdtempSync(join(dir, 'erl-'))
  const args = [ESCRIPT, 'load', '127.0.0.1', String(port), '4679', '6', '64', String(concurrency), String(seconds), '5', tmp]
  const p = spawn(escript, args, { stdio: ['ignore', 'pipe', 'inherit'] })
  let out = ''
  p.stdout.on('data', (d) => (out += d))
  const code = await new Promise((r) => p.once('exit', r))
  const last = out.trim().split('\n').pop() ?? ''
  if (code !== 0 || !last.startsWith('{')) throw new Error(`Erlang load client failed (${String(code)}): ${out.slice(-1000)}`)
  return JSON.parse(last) as Load
}

interface RunningOcs {
  proc: ChildProcess
  dport: number
  out: () => string
  stop: () => Promise<void>
  /** its --trace-gc-nvp events, and performance.now() at its start (≈ its isolate's time 0) */
  gc: GcTrace
  startedAt: number
}

/** The built OCS on a fresh data dir with the bench's 64 subscribers; `extra` env on top. */
async function startBenchOcs(extra: Record<string, string> = {}, main = 'dist/main.js'): Promise<RunningOcs> {
  const dir = mkdtempSync(join(tmpdir(), 'ocs-bench-d-'))
  const { OCS_REDIS_URL: _u, OCS_REDIS_CLUSTER: _c, ...env } = process.env
  const startedAt = performance.now()
  // --trace-gc-nvp: a line per collection, for the GC column (scripts/gc-trace.ts).
  const proc = spawn(process.execPath, ['--trace-gc-nvp', main], {
    env: { ...env, OCS_CONFIG: '/dev/null', OCS_DATA_DIR: dir, OCS_API_KEY: KEY, OCS_HTTP_PORT: '0', OCS_METRICS_PORT: '0', OCS_DIAMETER_PORT: '0', OCS_RADIUS_AUTH_PORT: '0', OCS_RADIUS_ACCT_PORT: '0', OCS_LOG_LEVEL: 'warn', ...extra },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  const gc = new GcTrace(proc.pid!)
  proc.stdout!.on('data', (d: Buffer) => (out += gc.push(d.toString())))
  proc.stderr!.on('data', (d: Buffer) => (out += d.toString()))
  const exited = new Promise((r) => proc.once('exit', r))
  let stopping: Promise<void> | undefined
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      proc.kill('SIGTERM')
      await exited
      rmSync(dir, { recursive: true, force: true })
    })())
  try {
    const ready = await waitLine(proc, /REST API http:\/\/127\.0\.0\.1:(\d+)\/.*Diameter (\d+),/)
    const http = `http://127.0.0.1:${ready[1]}`
    const call = async (path: string, body: unknown): Promise<{ id: string }> => {
      const r = await fetch(`${http}${path}`, { method: 'POST', headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' }, body: JSON.stringify(body) })
      if (r.status !== 201) throw new Error(`${path}: ${r.status} ${await r.text()}`)
      return (await r.json()) as { id: string }
    }
    for (let i = 0; i < 64; i++) {
      const acct = await call('/v1/accounts', { currency: 'EUR', type: 'prepaid', plan: 'demo', balance: '1000000' })
      await call('/v1/subscribers', { account: acct.id, msisdn: `4679${String(i).padStart(6, '0')}` })
    }
    return { proc, dport: Number(ready[2]), out: () => out, stop, gc, startedAt }
  } catch (err) {
    await stop()
    throw err
  }
}

/**
 * A fresh OCS is slower for its first ~15 s, most likely while V8 is still sizing its heap (a small
 * young generation, early mark-compacts). In three bench runs the first half-load round, the OCS's
 * second load after its start, had the worst p99 every time (9.5 / 7.3 / 10.6 ms against 2.7–6.3
 * for the later rounds); in a scratch driver's 9 fresh starts the first half-load round was over
 * 5 ms every time (5.3–7.7 ms), and 4.1 / 4.5 ms after a 5 s warm-up (BENCHMARKS.md). A production
 * OCS runs for days: the rounds measure it warm.
 */
async function warmUp(port: number, seconds: number): Promise<void> {
  await load('c', port, seconds, 128)
}

/**
 * A copy of dist/ under `dir` whose session-charge.lua is scripts/bench-noop-charge.lua (canned
 * answers, no charging); the project's package.json, node_modules and dictionaries linked beside it.
 * Returns its main.js.
 */
function noopChargeBuild(dir: string): string {
  const root = mkdtempSync(join(dir, 'noop-charge-'))
  cpSync('dist', join(root, 'dist'), { recursive: true })
  cpSync('scripts/bench-noop-charge.lua', join(root, 'dist', 'balance', 'lua', 'session-charge.lua'))
  for (const f of ['package.json', 'node_modules', 'dictionaries']) symlinkSync(join(process.cwd(), f), join(root, f))
  return join(root, 'dist', 'main.js')
}

/** Adds the OCS's collections during `run` (the lines V8 wrote by then; it writes each at once). */
async function withGc<T extends object>(ocs: RunningOcs, run: () => Promise<T>): Promise<T & { gc: GcStats }> {
  const from = performance.now() - ocs.startedAt
  const result = await run()
  const to = performance.now() - ocs.startedAt
  await new Promise((r) => setTimeout(r, 50)) // the last lines still in the pipe
  return { ...result, gc: gcStats(ocs.gc.events, from, to) }
}

/** scriptCeiling: the bare charging script's CCR-U rate measured in the same run (bench-bare-script.ts). */
export async function benchDiameter(seconds: number, scriptCeiling?: number): Promise<string[]> {
  if (!existsSync(C_GENERATOR)) throw new Error(`${C_GENERATOR} is missing: run \`OCS_SETUP_BENCH=1 bash scripts/setup.sh\` (it compiles scripts/load-diameter.c)`)
  const dir = mkdtempSync(join(tmpdir(), 'ocs-bench-e-'))
  const ocs = await startBenchOcs()
  const noop = spawn(process.execPath, ['--import', 'tsx', 'scripts/noop-diameter.ts', '0'], { stdio: ['ignore', 'pipe', 'pipe'] })
  /** other OCS processes of this bench, stopped at its end */
  const stopLater: Array<() => Promise<void>> = []
  try {
    const dport = ocs.dport
    const nport = Number((await waitLine(noop, /listening on (\d+)/))[1])
    const rows: string[] = ['| Diameter benchmark | round | CCR/s | p50 ms | p99 ms | CPU µs per CCR | OCS garbage collection | answers |', '|---|---|---:|---:|---:|---|---|---|']
    /** Keeps a round's figures in `xs` and writes its table row. */
    const record = (xs: Load[], what: string, round: number, l: Load): Load => {
      xs.push(l)
      rows.push(`| ${what} | ${round} | ${l.perSec} | ${l.p50.toFixed(2)} | ${l.p99.toFixed(2)} | ${cpuText(l.cpu)} | ${gcText(l.gc)} | ${JSON.stringify(l.results)} |`)
      return l
    }
    const byGen = { c: { ceil: [] as Load[], full: [] as Load[], half: [] as Load[] }, node: { ceil: [] as Load[], full: [] as Load[], half: [] as Load[] } }
    const erl: Load[] = []
    const erlCeil: Load[] = []
    const escript = erlangEscript()
    // The same C-generator rounds against an OCS with idle pollers where this machine needs them
    // (scheduling.idlePoll auto), interleaved with the default's: what they change here. Each OCS idles
    // while the other is measured.
    const fullPoll: Load[] = []
    const halfPoll: Load[] = []
    const poll = await startBenchOcs({ OCS_IDLE_POLL: 'auto' })
    stopLater.push(poll.stop)
    // The OCS with a charging script that does nothing: what the OCS process allows by itself.
    const noopCharge: Load[] = []
    const nc = await startBenchOcs({}, noopChargeBuild(dir))
    stopLater.push(nc.stop)
    await warmUp(dport, seconds)
    await warmUp(poll.dport, seconds)
    await warmUp(nc.dport, seconds)
    for (let round = 1; round <= ROUNDS; round++) {
      for (const gen of ['c', 'node'] as const) {
        // The C generator's rows are the target figures.
        const name = gen === 'c' ? 'C generator' : 'Node generator'
        const em = (what: string): string => (gen === 'c' ? `**${what}**` : what)
        const xs = byGen[gen]
        record(xs.ceil, `ceiling: no-op responder, ${name}, 128 in flight`, round, await load(gen, nport, seconds, 128))
        const pid = ocs.proc.pid!
        const f = record(xs.full, em(`OCS full stack, ${name}, 128 in flight`), round, await withGc(ocs, () => withCpu(pid, () => load(gen, dport, seconds, 128), (l) => l.perSec)))
        record(xs.half, em(`OCS at half of that rate, ${name}`), round, await withGc(ocs, () => withCpu(pid, () => load(gen, dport, seconds, 128, Math.round(f.perSec / 2)), (l) => l.perSec)))
        if (gen === 'c') {
          const ppid = poll.proc.pid!
          record(fullPoll, `OCS with scheduling.idlePoll auto (${POLLS ? 'pollers running' : 'no pollers on this machine'}), C generator, 128 in flight`, round, await withGc(poll, () => withCpu(ppid, () => load('c', poll.dport, seconds, 128), (l) => l.perSec)))
          record(halfPoll, 'the same at the half-load rate of two rows above', round, await withGc(poll, () => withCpu(ppid, () => load('c', poll.dport, seconds, 128, Math.round(f.perSec / 2)), (l) => l.perSec)))
          record(noopCharge, 'ceiling: OCS with a no-op charging script (scripts/bench-noop-charge.lua), C generator, 128 in flight', round, await withGc(nc, () => withCpu(nc.proc.pid!, () => load('c', nc.dport, seconds, 128), (l) => l.perSec)))
        }
      }
      if (escript !== undefined) {
        record(erlCeil, 'ceiling: no-op responder, Erlang OTP diameter client, 128 in flight', round, await loadErlang(escript, nport, seconds, 128, dir))
        record(erl, 'OCS full stack, Erlang OTP diameter client, 128 in flight', round, await loadErlang(escript, dport, seconds, 128, dir))
      }
    }
    const { full, ceil, half } = byGen.c
    const mid = (xs: Load[]): Load => medianBy(xs, (x) => x.perSec)
    const p99 = (xs: Load[]): string => medianBy(xs, (x) => x.p99).p99.toFixed(2)
    /** The OCS's collections in the round whose p99 is the median one. */
    const gcOfP99 = (xs: Load[]): string => gcText(medianBy(xs, (x) => x.p99).gc)
    // The same half rates against an OCS whose process and Redis run under SCHED_RR: on this box
    // the half-load tail is mostly waiting for a core (BENCHMARKS.md).
    await ocs.stop()
    // And with realtime priority and idle pollers together (another OCS, its rounds interleaved):
    // with the OCS and Redis ahead of every ordinary task, what is left of the tail is largely a
    // halted vCPU's wake-up, which the pollers avoid.
    const rt = await startBenchOcs({ OCS_REALTIME_PRIORITY: '10' })
    const rtPoll = await startBenchOcs({ OCS_REALTIME_PRIORITY: '10', OCS_IDLE_POLL: 'auto' })
    const fullRt: Load[] = []
    const halfRt: Load[] = []
    const halfRtPoll: Load[] = []
    let rtNote = ''
    try {
      if (/real-time scheduling not set/.test(rt.out())) rtNote = ' (not permitted here: needs root or CAP_SYS_NICE, so this ran at normal priority)'
      await warmUp(rt.dport, seconds)
      await warmUp(rtPoll.dport, seconds)
      for (let round = 1; round <= ROUNDS; round++) {
        // Half load is half of the full-stack maximum measured above: with the OCS and Redis ahead of
        // every ordinary process, the load generator itself (ordinary, same two cores) may fall behind
        // in a saturating run, so that run is shown for information only.
        const halfRate = Math.round(full[round - 1].perSec / 2)
        const halfRtRound = async (): Promise<void> => {
          record(halfRt, `OCS with scheduling.realtimePriority 10 (OCS and Redis SCHED_RR)${rtNote}, C generator at half of round ${round}'s full-stack rate`, round,
            await withGc(rt, () => load('c', rt.dport, seconds, 128, halfRate)))
        }
        const halfRtPollRound = async (): Promise<void> => {
          record(halfRtPoll, `OCS with scheduling.realtimePriority 10 and scheduling.idlePoll auto${POLLS ? '' : ' (no pollers on this machine)'}, the same rate`, round,
            await withGc(rtPoll, () => withCpu(rtPoll.proc.pid!, () => load('c', rtPoll.dport, seconds, 128, halfRate), (l) => l.perSec)))
        }
        // alternate which goes first: the box's speed drifts within a run
        for (const run of round % 2 === 1 ? [halfRtRound, halfRtPollRound] : [halfRtPollRound, halfRtRound]) await run()
        record(fullRt, 'OCS with scheduling.realtimePriority 10, 128 in flight', round, await withGc(rt, () => load('c', rt.dport, seconds, 128)))
      }
    } finally {
      await rt.stop()
      await rtPoll.stop()
    }
    const f = mid(full)
    const c = mid(ceil)
    const nf = mid(byGen.node.full)
    const e = erl.length > 0 ? mid(erl) : undefined
    const hm = mid(half)
    const nm = mid(noopCharge)
    const cpuNote =
      f.cpu === undefined
        ? ''
        : `CPU per CCR in µs, C generator (the median rounds; /proc): at full load ${cpuText(f.cpu)}, so at that cost the ${cpus().length} cores could serve at most ${cpuBound(f.cpu, cpus().length)} CCR/s however the work were scheduled; at half load ${cpuText(hm.cpu)}. `
    const erlNote =
      e === undefined
        ? ' Erlang OTP diameter client: not run (escript or erlang-diameter missing).'
        : ` Erlang OTP diameter client (test/erlang/cc_client.escript load mode, same mix, 128 Erlang processes on one connection): ${e.perSec} CCR/s, p50 ${e.p50.toFixed(2)} ms, p99 ${e.p99.toFixed(2)} ms; its own ceiling against the no-op responder ${mid(erlCeil).perSec} CCR/s.`
    rows.push(
      '',
      `**C generator (scripts/load-diameter.c): OCS ${f.perSec} CCR/s vs no-op ceiling ${c.perSec} CCR/s (ratio ${(f.perSec / c.perSec).toFixed(2)})${scriptCeiling ? `, vs the bare charging script's CCR-U ceiling ${scriptCeiling} CCR/s (ratio ${(f.perSec / scriptCeiling).toFixed(2)})` : ''}, p99 at half load ${p99(half)} ms, ${p99(halfRt)} ms at the same rate with scheduling.realtimePriority${rtNote}, and ${p99(halfRtPoll)} ms with scheduling.realtimePriority and scheduling.idlePoll auto together** (median of ${ROUNDS} rounds each; with realtime priority, ${mid(fullRt).perSec} CCR/s at 128 in flight; p50 at half load ${medianBy(halfRt, (x) => x.p50).p50.toFixed(2)} ms with it, ${medianBy(halfRtPoll, (x) => x.p50).p50.toFixed(2)} ms with both, and CPU per CCR with both ${cpuText(medianBy(halfRtPoll, (x) => x.p99).cpu)}). ` +
        `The OCS with a no-op charging script (scripts/bench-noop-charge.lua: canned answers, Redis does no charging; another OCS, its rounds interleaved with these): ${nm.perSec} CCR/s at 128 in flight, CPU per CCR ${cpuText(nm.cpu)} (median of ${ROUNDS} rounds); the full stack does ${(f.perSec / nm.perSec).toFixed(2)} of that. That rate is what the OCS process and one script call allow on this machine; no charging script, however cheap, could lift the full stack above it. ` +
        `Idle polling (scheduling.idlePoll auto, another OCS, its rounds interleaved with these; ${POLLS ? 'this machine is a virtual machine whose kernel halts idle vCPUs at once, so its pollers ran' : 'this machine has a cpuidle driver or is not a virtual machine, so it ran no pollers'}): ${mid(fullPoll).perSec} CCR/s at 128 in flight, p50 ${medianBy(halfPoll, (x) => x.p50).p50.toFixed(2)} and p99 ${p99(halfPoll)} ms at the same half-load rates (p50 ${medianBy(half, (x) => x.p50).p50.toFixed(2)} ms without), CPU per CCR at full load ${cpuText(mid(fullPoll).cpu)} and at half load ${cpuText(mid(halfPoll).cpu)} (median of ${ROUNDS} rounds). ` +
        `The OCS's garbage collection in those two median half-load rounds (--trace-gc-nvp; each pause stops every request in flight): ${gcOfP99(half)}, and ${gcOfP99(halfRt)}. ` +
        cpuNote +
        `Node generator (scripts/load-diameter.ts): OCS ${nf.perSec} CCR/s vs its no-op ceiling ${mid(byGen.node.ceil).perSec} CCR/s (ratio ${(nf.perSec / mid(byGen.node.ceil).perSec).toFixed(2)}), p99 at half of its rate ${p99(byGen.node.half)} ms. ` +
        `Mix: data sessions CCR-I, 5 × CCR-U (1 MB used, default quota re-requested), CCR-T, one MSCC, 64 subscribers; load generator in its own process on the same two cores; each OCS is warmed up by one unrecorded full-load run of the same length before its first round. Target (issue 5): ≥ 15,000 CCR/s, p99 ≤ 5 ms at half load.${erlNote}`,
    )
    return rows
  } finally {
    noop.kill('SIGTERM')
    for (const stop of stopLater) await stop()
    await ocs.stop()
    rmSync(dir, { recursive: true, force: true })
  }
}
