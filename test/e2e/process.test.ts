import t from 'tap'
import { spawn, spawnSync, execFileSync, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync, existsSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { Redis } from 'ioredis'
import { exited, procStat } from '../helpers/proc-stat.js'
import { DiameterTestClient, ccrAvps, resultCode, msccs, granted } from '../helpers/diameter-client.js'

// The built OCS as a user runs it (`npm start` = setup + node dist/main.js): embedded Redis,
// clean SIGTERM, no orphan after SIGKILL, config errors before any socket.

const MAIN = resolve('dist/main.js')

interface Running {
  proc: ChildProcess
  out: string[]
  redisPort: number
  httpPort: number
  dir: string
}

function baseEnv(dir: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const { OCS_REDIS_URL: _u, OCS_REDIS_CLUSTER: _c, OCS_CONFIG: _f, ...env } = process.env
  return { ...env, OCS_DATA_DIR: dir, OCS_CONFIG: '/dev/null', OCS_HTTP_PORT: '0', OCS_METRICS_PORT: '0', OCS_DIAMETER_PORT: '0', OCS_RADIUS_AUTH_PORT: '0', OCS_RADIUS_ACCT_PORT: '0', OCS_LOG_LEVEL: 'info', ...extra }
}

async function startMain(extra: Record<string, string> = {}): Promise<Running> {
  const dir = mkdtempSync(join(tmpdir(), 'ocs-e2e-'))
  const proc = spawn(process.execPath, [MAIN], { env: baseEnv(dir, extra), stdio: ['ignore', 'pipe', 'pipe'] })
  const out: string[] = []
  let buf = ''
  return new Promise((res, rej) => {
    const timer = setTimeout(() => rej(new Error(`OCS did not start: ${out.join('')}`)), 20_000)
    const onData = (d: Buffer): void => {
      buf += d.toString()
      out.push(d.toString())
      const redis = /"port":(\d+),"dir":"[^"]*redis"/.exec(buf)
      const http = /REST API http:\/\/127\.0\.0\.1:(\d+)\//.exec(buf)
      if (redis && http) {
        clearTimeout(timer)
        res({ proc, out, redisPort: Number(redis[1]), httpPort: Number(http[1]), dir })
      }
    }
    proc.stdout!.on('data', onData)
    proc.stderr!.on('data', onData)
    proc.once('exit', (code) => rej(new Error(`OCS exited ${code}: ${out.join('')}`)))
  })
}

async function redisAnswers(port: number): Promise<boolean> {
  const c = new Redis({ port, lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0, connectTimeout: 500 })
  c.on('error', () => undefined)
  try {
    await c.connect()
    return (await c.ping()) === 'PONG'
  } catch {
    return false
  } finally {
    c.disconnect()
  }
}

const redisPids = (port: number): string[] => {
  try {
    return execFileSync('pgrep', ['-f', `redis-server 127.0.0.1:${port}`]).toString().trim().split('\n').filter(Boolean)
  } catch {
    return []
  }
}

async function waitFor(cond: () => Promise<boolean> | boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms
  while (Date.now() < end) {
    if (await cond()) return true
    await new Promise((r) => setTimeout(r, 50))
  }
  return cond()
}

t.test('npm start defaults: embedded Redis with AOF under the data dir, demo data, API key printed once', async (t) => {
  const r = await startMain()
  t.teardown(() => rmSync(r.dir, { recursive: true, force: true }))
  t.ok(await redisAnswers(r.redisPort), 'embedded redis answers')
  const c = new Redis({ port: r.redisPort })
  t.equal(((await c.config('GET', 'appendonly')) as string[])[1], 'yes')
  t.equal(((await c.config('GET', 'appendfsync')) as string[])[1], 'everysec')
  t.equal(((await c.config('GET', 'dir')) as string[])[1], join(r.dir, 'redis'))
  t.equal(((await c.config('GET', 'bind')) as string[])[1], '127.0.0.1')
  // The OCS and its CDR worker child talk to it over its Unix socket; only this test is on TCP.
  const sock = join(r.dir, 'redis', 'redis.sock')
  t.equal(((await c.config('GET', 'unixsocket')) as string[])[1], sock)
  const myId = await c.client('ID')
  let others: string[] = []
  await waitFor(async () => {
    others = ((await c.client('LIST')) as string).trim().split('\n').filter((l) => !l.startsWith(`id=${myId} `))
    return others.length >= 3
  }, 5000)
  t.ok(others.length >= 3, `${others.length} OCS connections (charging, events, CDR worker)`)
  t.same(others.filter((l) => !l.includes(` laddr=${sock}:0 `)), [], 'every OCS connection over the socket')
  c.disconnect()
  const text = r.out.join('')
  t.match(text, /demo prepaid account \S+: balance 10\.00 EUR, MSISDN 46700000001/)
  t.match(text, /demo postpaid account \S+: credit limit 50\.00 EUR, MSISDN 46700000002/)
  const key = /admin API key \(printed once, stored hashed\): (\S+)/.exec(text)?.[1]
  t.ok(key, 'API key printed')
  const res = await fetch(`http://127.0.0.1:${r.httpPort}/v1/accounts`, { headers: { authorization: `Bearer ${key}` } })
  t.equal(res.status, 200)
  t.equal(((await res.json()) as { accounts: unknown[] }).accounts.length, 2)

  // The demo RADIUS user against the running OCS, from radclient (FreeRADIUS's client).
  const ports = /RADIUS auth (\d+) acct (\d+)/.exec(text)
  t.ok(ports, 'RADIUS ports printed')
  const rc = spawnSync('radclient', ['-x', '-r', '1', '-t', '3', `127.0.0.1:${ports![1]}`, 'auth', 'testing123'], { input: 'User-Name = "alice", User-Password = "alicepw", NAS-Identifier = "e2e-nas"\n' })
  t.equal(rc.status, 0, `radclient: ${rc.stdout}${rc.stderr}`)
  t.match(rc.stdout.toString(), /Received Access-Accept/)
  // The demo prepaid subscriber over Diameter Gy: CER, CCR-I, CCR-T on the default plan.
  const dport = Number(/Diameter (\d+),/.exec(text)![1])
  const dc = await DiameterTestClient.connect({ port: dport })
  t.equal(resultCode(dc.cea), 2001, 'CEA 2001')
  const ccrI = await dc.ccr(ccrAvps({ sessionId: 'e2e;1', type: 1, number: 0, msisdn: '46700000001', mscc: [{ rg: 1, rsu: {} }] }))
  t.equal(resultCode(ccrI), 2001, 'CCR-I 2001')
  t.ok(granted(msccs(ccrI)[0])?.total, 'octets granted')
  const ccrT = await dc.ccr(ccrAvps({ sessionId: 'e2e;1', type: 3, number: 1, msisdn: '46700000001', mscc: [{ rg: 1, usu: { input: 1048576, output: 1048576 } }] }))
  t.equal(resultCode(ccrT), 2001, 'CCR-T 2001')
  await dc.close()
  const acctRes = await fetch(`http://127.0.0.1:${r.httpPort}/v1/accounts`, { headers: { authorization: `Bearer ${key}` } })
  const demo = ((await acctRes.json()) as { accounts: Array<{ type: string; balance: string }> }).accounts.find((a) => a.type === 'prepaid')!
  t.equal(demo.balance, '9.980000', '2 MiB at 0.01 EUR/MiB charged')
  // The session's CDR reaches the billing store through the CDR worker child process.
  const demoId = ((await (await fetch(`http://127.0.0.1:${r.httpPort}/v1/accounts`, { headers: { authorization: `Bearer ${key}` } })).json()) as { accounts: Array<{ id: string; type: string }> }).accounts.find((a) => a.type === 'prepaid')!.id
  let cdrs: Array<{ sessionId: string; total: string }> = []
  for (let i = 0; i < 100 && cdrs.length === 0; i++) {
    await new Promise((res) => setTimeout(res, 100))
    cdrs = ((await (await fetch(`http://127.0.0.1:${r.httpPort}/v1/cdrs?account=${demoId}`, { headers: { authorization: `Bearer ${key}` } })).json()) as { cdrs: typeof cdrs }).cdrs
  }
  t.match(cdrs, [{ sessionId: 'e2e;1', total: '0.020000' }], 'CDR in the SQLite billing store')

  const bad = spawnSync('radclient', ['-x', '-r', '1', '-t', '3', `127.0.0.1:${ports![1]}`, 'auth', 'testing123'], { input: 'User-Name = "alice", User-Password = "wrong", NAS-Identifier = "e2e-nas"\n' })
  t.match(bad.stdout.toString(), /Received Access-Reject/)

  // SIGTERM: components stop in reverse order (API before Redis), within 5 s, exit 0, Redis gone.
  const t0 = Date.now()
  const exit = new Promise<number | null>((res) => r.proc.once('exit', (code) => res(code)))
  r.proc.kill('SIGTERM')
  t.equal(await exit, 0)
  t.ok(Date.now() - t0 < 5000, `stopped in ${Date.now() - t0} ms`)
  const log = r.out.join('')
  t.ok(log.indexOf('"signal":"SIGTERM"') < log.indexOf('embedded redis-server stopped'), 'Redis stopped after the signal')
  t.notOk(await redisAnswers(r.redisPort), 'embedded redis stopped with it')
  t.ok(existsSync(join(r.dir, 'redis')), 'data dir kept')

  // Second start on the same data: no demo reload, no new key printed.
  const again = await startMain({ OCS_DATA_DIR: r.dir })
  const text2 = again.out.join('')
  t.notMatch(text2, /demo prepaid account/)
  t.notMatch(text2, /admin API key/)
  const res2 = await fetch(`http://127.0.0.1:${again.httpPort}/v1/accounts`, { headers: { authorization: `Bearer ${key}` } })
  t.equal(((await res2.json()) as { accounts: unknown[] }).accounts.length, 2, 'AOF kept the data and the key')
  const exit2 = new Promise((res) => again.proc.once('exit', res))
  again.proc.kill('SIGINT')
  await exit2
})

t.test('scheduling.realtimePriority: the OCS and its embedded Redis run SCHED_RR, the CDR worker child does not', async (t) => {
  const { setRealtime, threadScheduling, SCHED_OTHER, SCHED_RR, SCHED_IDLE } = await import('../../src/lib/realtime.js')
  // Whether this machine lets us (root or CAP_SYS_NICE), tried on a process of our own.
  const probe = spawn('sleep', ['5'])
  const permitted = setRealtime(probe.pid!, 1) === undefined
  probe.kill()
  const r = await startMain({ OCS_REALTIME_PRIORITY: '7' })
  t.teardown(() => rmSync(r.dir, { recursive: true, force: true }))
  const redisPid = Number(redisPids(r.redisPort)[0])
  const worker = execFileSync('pgrep', ['-P', String(r.proc.pid), 'node']).toString().trim().split('\n').map(Number)
  t.equal(worker.length, 1, 'one CDR worker child process')
  // The log lines may trail the ready line on stdout (pino writes asynchronously).
  await waitFor(() => r.out.join('').split('real-time scheduling').length > 2, 3000)
  const text = r.out.join('')
  if (permitted) {
    t.match(text, /"process":"ocs".*"priority":7.*real-time scheduling set \(SCHED_RR\)/)
    t.match(text, /"process":"redis".*"priority":7.*real-time scheduling set \(SCHED_RR\)/)
    for (const [name, pid] of [['OCS', r.proc.pid!], ['Redis', redisPid]] as const) {
      const threads = threadScheduling(pid)
      t.ok(threads.some((x) => x.tid === pid && x.policy === SCHED_RR && x.rtPriority === 7), `the ${name} event loop under SCHED_RR at 7`)
      // A thread started after the switch keeps ordinary scheduling (SCHED_RESET_ON_FORK), by design:
      // Redis's jemalloc starts purge threads on demand, at any time (seen here as a sixth Redis thread).
      const startedLater = (x: { name: string; policy: number }): boolean => name === 'Redis' && x.name === 'jemalloc_bg_thd' && x.policy === SCHED_OTHER
      t.same(threads.filter((x) => !startedLater(x) && (x.policy !== SCHED_RR || x.rtPriority !== 7)), [], `every other ${name} thread (${threads.length}) under SCHED_RR at 7`)
    }
    t.same(threadScheduling(worker[0]).filter((x) => x.policy !== SCHED_IDLE), [], 'the CDR worker stays SCHED_IDLE (scheduling.cdrWorkerIdle)')
  } else {
    t.match(text, /"process":"ocs".*real-time scheduling not set/)
    t.same(threadScheduling(r.proc.pid!).filter((x) => x.policy !== SCHED_OTHER), [], 'not permitted: the OCS runs as before')
  }
  const res = await fetch(`http://127.0.0.1:${r.httpPort}/v1/accounts`)
  t.equal(res.status, 401, 'and answers')
  const exit = new Promise<number | null>((res) => r.proc.once('exit', (code) => res(code)))
  r.proc.kill('SIGTERM')
  t.equal(await exit, 0, 'stops cleanly')
})

t.test('scheduling.cdrWorkerIdle: the CDR worker child runs SCHED_IDLE by default, nice 10 when off; the OCS and Redis stay ordinary', async (t) => {
  const { threadScheduling, SCHED_OTHER, SCHED_IDLE } = await import('../../src/lib/realtime.js')
  /** Nice value of each thread (/proc/<pid>/task/<tid>/stat field 19). */
  const niceOf = (pid: number): number[] =>
    threadScheduling(pid).map((x) => Number(readFileSync(`/proc/${pid}/task/${x.tid}/stat`, 'utf8').split(') ')[1].split(' ')[16]))
  for (const [idle, env] of [[true, {}], [false, { OCS_CDR_WORKER_IDLE: 'false' }]] as const) {
    const r = await startMain(env)
    t.teardown(() => rmSync(r.dir, { recursive: true, force: true }))
    const worker = execFileSync('pgrep', ['-P', String(r.proc.pid), 'node']).toString().trim().split('\n').map(Number)
    t.equal(worker.length, 1, 'one CDR worker child process')
    const threads = threadScheduling(worker[0])
    t.ok(threads.length >= 2, `${threads.length} CDR worker threads`)
    if (idle) {
      t.same(threads.filter((x) => x.policy !== SCHED_IDLE), [], 'default: every CDR worker thread SCHED_IDLE')
      t.notMatch(r.out.join(''), /not set to SCHED_IDLE/)
    } else {
      t.same(threads.filter((x) => x.policy !== SCHED_OTHER), [], 'off: ordinary scheduling')
      t.same([...new Set(niceOf(worker[0]))], [10], 'off: nice 10')
    }
    for (const pid of [r.proc.pid!, Number(redisPids(r.redisPort)[0])]) {
      t.same(threadScheduling(pid).filter((x) => x.policy !== SCHED_OTHER), [], 'the OCS and its Redis: ordinary scheduling')
    }
    const exit = new Promise<number | null>((res) => r.proc.once('exit', (code) => res(code)))
    r.proc.kill('SIGTERM')
    t.equal(await exit, 0, 'stops cleanly')
  }
})

t.test('SIGTERM while other processes keep every core busy: the SCHED_IDLE CDR worker leaves SCHED_IDLE to stop, the OCS exits 0', async (t) => {
  const { availableParallelism } = await import('node:os')
  const { setIdle, setOrdinary } = await import('../../src/lib/realtime.js')
  // Whether this machine lets a process leave SCHED_IDLE (root or CAP_SYS_NICE), tried on one of our own.
  const probe = spawn('sleep', ['5'])
  const permitted = setIdle(probe.pid!) === undefined && setOrdinary(probe.pid!) === undefined
  probe.kill()
  const r = await startMain()
  t.teardown(() => rmSync(r.dir, { recursive: true, force: true }))
  // One ordinary busy loop per CPU: a SCHED_IDLE task then gets (almost) no CPU at all.
  const burners = Array.from({ length: availableParallelism() }, () => spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' }))
  t.teardown(() => {
    for (const b of burners) b.kill('SIGKILL')
  })
  await new Promise((res) => setTimeout(res, 1000))
  const exit = new Promise<number | null>((res) => r.proc.once('exit', (code) => res(code)))
  r.proc.kill('SIGTERM')
  const code = await exit
  const text = r.out.join('')
  if (permitted) {
    // Before the worker left SCHED_IDLE for its stop, it logged its last line but then got no CPU to
    // close its store and exit: the OCS overran its 5 s stop limit and exited 1.
    t.equal(code, 0, 'stops cleanly, within its stop limit')
    t.notMatch(text, /stop took longer/)
  } else {
    t.match(text, /CDR worker kept SCHED_IDLE for its stop/, 'not permitted here: the worker stays SCHED_IDLE, and the log says so')
  }
})

t.test('scheduling.idlePoll: one poller per CPU as a child of the OCS, running while it is busy (ocs_idle_polling), gone at SIGTERM', async (t) => {
  const { availableParallelism } = await import('node:os')
  const { POLLER_NAME } = await import('../../src/lib/idle-poll.js')
  const pollers = (pid: number): string[] =>
    execFileSync('pgrep', ['-P', String(pid)]).toString().trim().split('\n').filter((p) => {
      try {
        return readFileSync(`/proc/${p}/cmdline`, 'utf8').startsWith(POLLER_NAME)
      } catch {
        return false
      }
    })
  const off = await startMain({ OCS_IDLE_POLL: 'off' })
  t.teardown(() => rmSync(off.dir, { recursive: true, force: true }))
  t.same(pollers(off.proc.pid!), [], 'off: none')
  const offExit = new Promise((res) => off.proc.once('exit', res))
  off.proc.kill('SIGTERM')
  await offExit

  const r = await startMain({ OCS_IDLE_POLL: 'on' })
  t.teardown(() => rmSync(r.dir, { recursive: true, force: true }))
  t.ok(await waitFor(() => pollers(r.proc.pid!).length === availableParallelism(), 5000), `on: ${availableParallelism()} pollers`)
  const started = pollers(r.proc.pid!)
  const metricsUrl = /metrics (http:\/\/[^ \n]+\/metrics)/.exec(r.out.join(''))![1]
  const gauge = async (): Promise<number> => Number(/^ocs_idle_polling (\d+)$/m.exec(await (await fetch(metricsUrl)).text())![1])
  /**
   * The gauge read 3 s apart: a scrape costs the OCS several ms of CPU (it reads 64 outbox shards),
   * so frequent reads would themselves keep it above 5 % of a core and its pollers on.
   */
  const gaugeBecomes = async (want: number): Promise<boolean> => {
    for (let i = 0; i < 5; i++) {
      await new Promise((r) => setTimeout(r, 3000))
      if ((await gauge()) === want) return true
    }
    return false
  }
  // Quiet (start-up may have counted as busy for a moment): not polling.
  t.ok(await gaugeBecomes(0), 'quiet: ocs_idle_polling 0')
  // Busy: requests for a second keep the OCS above 5 % of a core.
  let busy = false
  const end = Date.now() + 1500
  while (Date.now() < end) {
    await Promise.all(Array.from({ length: 20 }, () => fetch(`http://127.0.0.1:${r.httpPort}/v1/accounts`).then((x) => x.arrayBuffer())))
    if ((await gauge()) === 1) busy = true
  }
  t.ok(busy, 'busy: ocs_idle_polling 1')
  t.ok(await gaugeBecomes(0), 'quiet again: 0')
  t.ok(await waitFor(() => started.every((p) => procStat(p)?.state === 'S'), 10_000), 'and its pollers blocked (state S)')
  const exit = new Promise<number | null>((res) => r.proc.once('exit', (code) => res(code)))
  r.proc.kill('SIGTERM')
  t.equal(await exit, 0, 'stops cleanly')
  t.ok(await waitFor(() => started.every((p) => exited(p)), 10_000), 'its pollers are gone')
})

t.test('SIGKILL of the OCS leaves no orphan redis-server or idle poller', async (t) => {
  const r = await startMain({ OCS_IDLE_POLL: 'on' })
  t.teardown(() => rmSync(r.dir, { recursive: true, force: true }))
  t.equal(redisPids(r.redisPort).length, 1, 'one redis-server child')
  const children = execFileSync('pgrep', ['-P', String(r.proc.pid)]).toString().trim().split('\n').filter(Boolean)
  t.ok(children.length >= 4, `the Redis guard, the CDR worker and the idle pollers are children (${children.length})`)
  const exit = new Promise((res) => r.proc.once('exit', res))
  r.proc.kill('SIGKILL')
  await exit
  t.ok(await waitFor(() => redisPids(r.redisPort).length === 0, 5000), 'redis-server gone after its parent was killed')
  const alive = (pid: string): boolean => {
    try {
      process.kill(Number(pid), 0)
      return true
    } catch {
      return false
    }
  }
  t.ok(await waitFor(() => children.every((p) => !alive(p)), 10_000), 'no child of the killed OCS survives it')
  t.notOk(await redisAnswers(r.redisPort))
})

t.test('a bad config value exits non-zero with one line, before any socket opens', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ocs-e2e-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const out = await new Promise<{ code: number | null; stderr: string; stdout: string }>((res) => {
    const p = spawn(process.execPath, [MAIN], { env: baseEnv(dir, { OCS_HTTP_PORT: 'eighty' }), stdio: ['ignore', 'pipe', 'pipe'] })
    let stderr = ''
    let stdout = ''
    p.stderr!.on('data', (d) => (stderr += d))
    p.stdout!.on('data', (d) => (stdout += d))
    p.once('exit', (code) => res({ code, stderr, stdout }))
  })
  t.equal(out.code, 2)
  t.equal(out.stderr.trim().split('\n').length, 1)
  t.match(out.stderr, /^invalid config http\.port = "eighty": a port number 0\.\.65535/)
  t.equal(out.stdout, '', 'nothing started')
  t.notOk(existsSync(join(dir, 'redis')), 'no embedded Redis was started')
})

t.test('with OCS_REDIS_URL it connects there and starts no Redis of its own', async (t) => {
  const { startRedis } = await import('../helpers/redis.js')
  const ext = await startRedis()
  t.teardown(() => ext.stop())
  const dir = mkdtempSync(join(tmpdir(), 'ocs-e2e-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const p = spawn(process.execPath, [MAIN], { env: baseEnv(dir, { OCS_REDIS_URL: ext.url }), stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  p.stdout!.on('data', (d) => (out += d))
  p.stderr!.on('data', (d) => (out += d))
  t.ok(await waitFor(() => /REST API http/.test(out), 15000), 'started')
  t.notMatch(out, /embedded redis-server started/)
  t.equal(await ext.client.zcard('ocs:accounts'), 2, 'demo data written to the external Redis')
  const exit = new Promise((res) => p.once('exit', res))
  p.kill('SIGTERM')
  await exit
})
