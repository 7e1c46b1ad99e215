// The benches' CPU-per-request figures (scripts/proc-cpu.ts), read from /proc for real processes
// that burn known amounts of CPU. Linux only, as the project (Debian) and its benches are.
import t from 'tap'
import { spawn, type ChildProcess } from 'node:child_process'
import { cpuBound, cpuText, descendantPids, exitedChildrenCpuMs, treeCpuMs, withCpu } from '../../scripts/proc-cpu.js'
import { POLLER_NAME } from '../../src/lib/idle-poll.js'

/** Node code that keeps one core busy for `ms`. */
const burn = (ms: number): string => `const e = Date.now() + ${ms}; while (Date.now() < e) {}`
/** Node code that runs until its process has used `ms` of CPU in all (start-up included). */
const cpuBurn = (ms: number): string => `while (process.cpuUsage().user + process.cpuUsage().system < ${ms * 1000}) {}`

// Plain node children: the test runner's loader options (NODE_OPTIONS) would cost each a second of start-up.
const { NODE_OPTIONS: _loader, ...plainEnv } = process.env
const node = (args: string[], stdout: 'ignore' | 'pipe' = 'ignore'): ChildProcess => spawn(process.execPath, args, { stdio: ['ignore', stdout, 'inherit'], env: plainEnv })

const exited = (p: ChildProcess): Promise<void> => new Promise((r) => (p.exitCode !== null ? r() : p.once('exit', () => r())))

t.test('a process tree: the root as the OCS, a child named worker-child as the CDR worker, an ocs-idle-poller, the rest as other', async (t) => {
  // root burns 400 ms of CPU, then waits; its child (argv holds "worker-child") burns 300 ms and
  // waits; a grandchild 200 ms; an idle poller as src/lib/idle-poll.ts names it (its argv[0]) 250 ms.
  // All stay alive until the parent is killed, so /proc still has them. CPU time, not wall time: on a
  // busy box (the other test files run in parallel) four burners may share one core.
  const grandchild = `require('child_process').spawn(process.execPath, ['-e', ${JSON.stringify(`${cpuBurn(200)}; setInterval(() => {}, 1000)`)}], { stdio: 'ignore' })`
  const child = `require('child_process').spawn(process.execPath, ['-e', ${JSON.stringify(`${grandchild}; ${cpuBurn(300)}; setInterval(() => {}, 1000)`)}, 'worker-child'], { stdio: 'ignore' })`
  const poller = `require('child_process').spawn(process.execPath, ['-e', ${JSON.stringify(`${cpuBurn(250)}; setInterval(() => {}, 1000)`)}], { stdio: 'ignore', argv0: ${JSON.stringify(POLLER_NAME)} })`
  const root = node(['-e', `${child}; ${poller}; ${cpuBurn(400)}; console.log('done'); setInterval(() => {}, 1000)`], 'pipe')
  t.teardown(() => root.kill('SIGKILL'))
  await new Promise<void>((r) => root.stdout!.on('data', () => r()))
  // the others finish burning (at most 15 s on a saturated box; /proc counts whole 10 ms ticks)
  const end = Date.now() + 15_000
  let s = treeCpuMs(root.pid!)
  while (Date.now() < end && !(s && s.cdr >= 280 && s.other >= 180 && s.poller >= 230)) {
    await new Promise((r) => setTimeout(r, 50))
    s = treeCpuMs(root.pid!)
  }
  t.ok(s, 'read')
  t.ok(s!.ocs >= 380 && s!.ocs < 2000, `root ${s!.ocs} ms`)
  t.ok(s!.cdr >= 280 && s!.cdr < 2000, `worker-child ${s!.cdr} ms`)
  t.ok(s!.other >= 180 && s!.other < 2000, `grandchild ${s!.other} ms`)
  t.ok(s!.poller >= 230 && s!.poller < 2000, `idle poller ${s!.poller} ms`)
  t.equal(s!.redis, 0, 'no redis-server below it')
  // SIGKILL to the root leaves its descendants running: they go first, found while their parent lives
  const below = descendantPids(root.pid!)
  t.equal(below.length, 3, 'the child, the grandchild and the poller')
  for (const pid of below) process.kill(pid, 'SIGKILL')
  t.equal(treeCpuMs(999_999_999), undefined, 'a process that does not exist')
})

t.test('withCpu: the CPU of a run per request, a load generator child included once it has exited', async (t) => {
  const ocs = node(['-e', "console.log('up'); setInterval(() => {}, 1000)"], 'pipe')
  t.teardown(() => ocs.kill('SIGKILL'))
  await new Promise<void>((r) => ocs.stdout!.on('data', () => r()))
  const before = exitedChildrenCpuMs()!
  const t0 = performance.now()
  const result = await withCpu(
    ocs.pid!,
    async () => {
      // the "generator": a child that burns ~300 ms of CPU and exits
      const gen = node(['-e', burn(300)])
      await exited(gen)
      await new Promise((r) => setTimeout(r, 1000 - (performance.now() - t0)))
      return { perSec: 1000 }
    },
    (r) => r.perSec,
  )
  t.equal(result.perSec, 1000, 'the run\'s own result kept')
  const cpu = result.cpu
  t.ok(cpu, 'measured')
  // a run of ~1 s at 1,000 requests/s, and ~300 ms of generator CPU in it: ~300 µs each (node's own start-up adds some)
  t.ok(cpu!.generator >= 250 && cpu!.generator < 2000, `generator ${cpu!.generator} µs per request`)
  t.ok(cpu!.ocs < 50, `the idle "OCS" ${cpu!.ocs} µs per request`)
  t.ok(cpu!.total >= cpu!.generator + cpu!.ocs, 'the total holds every part')
  t.ok(exitedChildrenCpuMs()! - before >= 250, 'the exited child counts for this process')
  t.match(cpuText(cpu), /^OCS \d+ · Redis 0 · CDR 0 · gen\. \d+ = \d+$/)
  t.equal(cpuText(undefined), '–')
  t.equal(cpuBound({ ocs: 100, redis: 100, cdr: 0, generator: 0, pollers: 0, total: 200 }, 2), 10_000, '2 cores at 200 µs per request: at most 10,000/s')
  t.equal(cpuText({ ocs: 70, redis: 80, cdr: 2, generator: 3, pollers: 41.4, total: 155 }), 'OCS 70 · Redis 80 · CDR 2 · gen. 3 = 155 (idle pollers 41)', 'the pollers beside the total, not in it')
})

t.test('withCpu: idle pollers below the OCS are counted apart, not in the total', async (t) => {
  // the "OCS" starts, 100 ms after saying so, a poller that burns ~300 ms, inside the measured run
  const poller = `require('child_process').spawn(process.execPath, ['-e', ${JSON.stringify(`${burn(300)}; setInterval(() => {}, 1000)`)}], { stdio: 'ignore', argv0: ${JSON.stringify(POLLER_NAME)} })`
  const ocs = node(['-e', `console.log('up'); setTimeout(() => { ${poller} }, 100); setInterval(() => {}, 1000)`], 'pipe')
  t.teardown(() => {
    for (const pid of descendantPids(ocs.pid!)) process.kill(pid, 'SIGKILL')
    ocs.kill('SIGKILL')
  })
  await new Promise<void>((r) => ocs.stdout!.on('data', () => r()))
  const result = await withCpu(ocs.pid!, () => new Promise<{ perSec: number }>((r) => setTimeout(() => r({ perSec: 1000 }), 1000)), (r) => r.perSec)
  const cpu = result.cpu!
  t.ok(cpu.pollers >= 200 && cpu.pollers < 2000, `pollers ${cpu.pollers} µs per request`)
  t.ok(cpu.total < 100, `the total (${cpu.total} µs) leaves them out`)
  t.match(cpuText(cpu), / \(idle pollers \d+\)$/)
})
