// The idle pollers (src/lib/idle-poll.ts) as real processes: pinned, SCHED_IDLE, spinning only
// while this process is busy, and gone when it stops or is killed.
import t from 'tap'
import { spawn } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { availableParallelism, tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { Writable } from 'node:stream'
import { haltsWhenIdle, IdlePoller, POLLER_NAME } from '../../src/lib/idle-poll.js'
import { createLogger } from '../../src/lib/logger.js'
import { SCHED_IDLE, threadScheduling } from '../../src/lib/realtime.js'
import { exited, procStat } from '../helpers/proc-stat.js'

const log = createLogger('silent')
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

async function waitFor(cond: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms
  while (Date.now() < end) {
    if (cond()) return true
    await sleep(20)
  }
  return cond()
}

/** Pids of this process's children whose argv[0] is the poller's name. */
function pollerPids(parent = process.pid): number[] {
  const out: number[] = []
  for (const line of readFileSync(`/proc/${parent}/task/${parent}/children`, 'utf8').trim().split(' ').filter(Boolean)) {
    try {
      if (readFileSync(`/proc/${line}/cmdline`, 'utf8').startsWith(POLLER_NAME)) out.push(Number(line))
    } catch {
      /* gone */
    }
  }
  return out
}

const state = (pid: number): string => procStat(pid)?.state ?? ''

const sumTicks = (pids: number[]): number => pids.reduce((a, p) => a + (procStat(p)?.ticks ?? 0), 0)

/** Keeps this process busy for `ms` in 20 ms slices, so its timers (the poller's window) still run. */
async function burn(ms: number): Promise<void> {
  const end = Date.now() + ms
  while (Date.now() < end) {
    const slice = Date.now() + 20
    while (Date.now() < slice) {
      /* busy */
    }
    await new Promise((r) => setImmediate(r))
  }
}

t.test('haltsWhenIdle: no cpuidle driver under a hypervisor', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'ocs-idle-root-'))
  t.teardown(() => rmSync(root, { recursive: true, force: true }))
  mkdirSync(join(root, 'sys/devices/system/cpu/cpuidle'), { recursive: true })
  mkdirSync(join(root, 'proc'))
  const set = (driver: string | undefined, flags: string): void => {
    const f = join(root, 'sys/devices/system/cpu/cpuidle/current_driver')
    if (driver === undefined) rmSync(f, { force: true })
    else writeFileSync(f, `${driver}\n`)
    writeFileSync(join(root, 'proc/cpuinfo'), `processor\t: 0\nflags\t\t: fpu vme ${flags} sse\n\nprocessor\t: 1\nflags\t\t: fpu vme ${flags} sse\n`)
  }
  const r = `${root}/`
  set('none', 'hypervisor')
  t.equal(haltsWhenIdle(r), true, 'driver none, a guest: polls')
  set(undefined, 'hypervisor')
  t.equal(haltsWhenIdle(r), true, 'no cpuidle directory entry, a guest: polls')
  set('haltpoll', 'hypervisor')
  t.equal(haltsWhenIdle(r), false, 'the kernel polls already (cpuidle-haltpoll)')
  set('none', 'tsc')
  t.equal(haltsWhenIdle(r), false, 'bare metal: waking a core is cheap')
  set('intel_idle', 'tsc')
  t.equal(haltsWhenIdle(r), false, 'bare metal with its own driver')
})

t.test('off: no pollers', async (t) => {
  const p = new IdlePoller('off', log)
  await p.start()
  t.equal(p.count, 0)
  t.same(pollerPids(), [])
  await p.stop()
})

t.test('auto starts pollers only where the kernel halts idle CPUs', async (t) => {
  const p = new IdlePoller('auto', log)
  await p.start()
  t.equal(p.count, haltsWhenIdle() ? availableParallelism() : 0, `this machine: ${haltsWhenIdle() ? 'a guest without a cpuidle driver' : 'no polling needed'}`)
  await p.stop()
  t.equal(p.count, 0, 'stopped')
})

t.test('on: one pinned SCHED_IDLE poller per CPU, spinning only while this process is busy', async (t) => {
  const changes: boolean[] = []
  const p = new IdlePoller('on', log, (on) => changes.push(on), { windowMs: 50, onShare: 0.2, offAfterMs: 400 })
  t.teardown(() => p.stop())
  await p.start()
  const cpus = availableParallelism()
  t.ok(await waitFor(() => pollerPids().length === cpus, 3000), `${cpus} pollers, named ${POLLER_NAME}`)
  const pids = pollerPids()
  t.equal(p.count, cpus)
  const pinned = pids.map((pid) => readFileSync(`/proc/${pid}/status`, 'utf8').match(/^Cpus_allowed_list:\s*(\S+)/m)![1]).sort()
  t.same(pinned, Array.from({ length: cpus }, (_, i) => String(i)).sort(), 'each pinned to its own CPU')
  for (const pid of pids) t.same(threadScheduling(pid).filter((x) => x.policy !== SCHED_IDLE), [], `poller ${pid} SCHED_IDLE`)

  // Idle: blocked on their pipe.
  await sleep(300)
  let before = sumTicks(pids)
  await sleep(400)
  t.ok(sumTicks(pids) - before <= 2, `idle: ${sumTicks(pids) - before} ticks in 400 ms`)
  t.equal(p.active, false)

  t.same(pids.map(state), pids.map(() => 'S'), 'idle: each blocked (state S)')

  // Busy: they spin, i.e. stay runnable (state R) between their yields. How much CPU they get
  // depends on what else runs (other test files in parallel): only a free core is theirs.
  const busy = burn(800)
  t.ok(await waitFor(() => p.active, 1000), 'busy: polling')
  t.ok(await waitFor(() => pids.every((pid) => state(pid) === 'R'), 600), 'busy: every poller runnable (state R)')
  await busy
  t.equal(changes[0], true, 'told')

  // Quiet again: they stop offAfterMs later and block again.
  t.ok(await waitFor(() => !p.active, 3000), 'quiet: stopped')
  t.equal(changes[changes.length - 1], false, 'told')
  // (SCHED_IDLE: on a core saturated by ordinary tasks, e.g. other test files, a poller runs a few ms
  // a second, so reading its pipe may take a while)
  t.ok(await waitFor(() => pids.every((pid) => state(pid) === 'S'), 10_000), 'quiet: each blocked again (state S)')
  await sleep(200)
  before = sumTicks(pids)
  await sleep(400)
  t.ok(sumTicks(pids) - before <= 2, `stopped: ${sumTicks(pids) - before} ticks in 400 ms`)

  await p.stop()
  t.equal(p.count, 0)
  t.ok(await waitFor(() => pids.every((pid) => exited(pid)), 10_000), 'every poller exited')
})

t.test('without taskset, chrt or perl on PATH: a warning, no poller, and stop() still returns', async (t) => {
  const empty = mkdtempSync(join(tmpdir(), 'ocs-idle-path-'))
  const path = process.env.PATH
  const lines: string[] = []
  const warnLog = createLogger('warn', new Writable({ write: (chunk: Buffer, _enc, done) => (lines.push(chunk.toString()), done()) }))
  t.teardown(() => {
    process.env.PATH = path
    rmSync(empty, { recursive: true, force: true })
  })
  process.env.PATH = empty
  const p = new IdlePoller('on', warnLog)
  await p.start()
  process.env.PATH = path
  t.ok(await waitFor(() => lines.some((l) => /idle poller not started/.test(l)), 2000), 'warned')
  t.equal(p.count, 0, 'none running')
  const t0 = Date.now()
  await p.stop()
  t.ok(Date.now() - t0 < 1000, 'stop() returned at once')
})

t.test('a SIGKILLed owner leaves no poller behind', async (t) => {
  const mod = resolve('src/lib/idle-poll.ts')
  const code =
    `const { IdlePoller } = await import(${JSON.stringify(mod)}); const { createLogger } = await import(${JSON.stringify(resolve('src/lib/logger.ts'))});` +
    `const p = new IdlePoller('on', createLogger('silent'), () => undefined, { windowMs: 20, onShare: 0 }); await p.start(); console.log('up'); setInterval(() => {}, 1000)`
  const owner = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] })
  t.teardown(() => owner.kill('SIGKILL'))
  await new Promise<void>((r) => owner.stdout!.on('data', () => r()))
  t.ok(await waitFor(() => pollerPids(owner.pid!).length === availableParallelism(), 3000), 'its pollers run')
  const pids = pollerPids(owner.pid!)
  t.ok(await waitFor(() => pids.every((pid) => state(pid) === 'R'), 1000), 'spinning (onShare 0: always busy)')
  const ownerExit = new Promise((r) => owner.once('exit', r))
  owner.kill('SIGKILL')
  await ownerExit
  t.ok(await waitFor(() => pids.every((pid) => exited(pid)), 10_000), 'each poller exits when its pipe closes (SCHED_IDLE: late on a saturated core)')
})
