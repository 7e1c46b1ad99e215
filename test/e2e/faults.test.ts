import t, { type Test } from 'tap'
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import { freePort } from '../../src/balance/embedded-redis.js'
import { startTestOcs, api } from '../helpers/ocs.js'
import { DiameterTestClient, ccrAvps, resultCode } from '../helpers/diameter-client.js'
import type { Ocs } from '../../src/main.js'
import { DEMO_PLAN } from '../../src/rating/plan.js'
import { audit } from '../../src/cdr/audit.js'

// Faults under Diameter load: Redis paused (SIGSTOP) and Redis restarted (AOF). Answers stay
// bounded in time (3004 while Redis is away, never a hang), the client retransmits as a PGW does,
// and afterwards the money audit finds no double and no lost charge.

const dir = mkdtempSync(join(tmpdir(), 'ocs-faults-'))
let port = 0
let redisProc: ChildProcess
let ocs: Ocs
let dc: DiameterTestClient

function startRedisServer(): Promise<void> {
  redisProc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--appendonly', 'yes', '--appendfsync', 'everysec', '--save', ''], { stdio: 'ignore' })
  return waitRedis()
}

async function waitRedis(): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const c = new Redis({ port, lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 })
    c.on('error', () => undefined)
    try {
      await c.connect()
      if ((await c.ping()) === 'PONG') return
    } catch {
      /* loading or not up */
    } finally {
      c.disconnect()
    }
    await new Promise((r) => setTimeout(r, 50))
  }
  throw new Error('redis did not come back')
}

t.before(async () => {
  port = await freePort()
  await startRedisServer()
  const s = await startTestOcs(`redis://127.0.0.1:${port}`, { billing: { worker: 'inline' } })
  ocs = s.ocs
  await ocs.store.putPlan(DEMO_PLAN)
  const call = api(s.base)
  for (let i = 0; i < 16; i++) {
    const a = (await call('POST', '/v1/accounts', { currency: 'EUR', type: 'prepaid', plan: 'demo', balance: '1000' })).body
    await call('POST', '/v1/subscribers', { account: a.id, msisdn: `4678000${String(i).padStart(4, '0')}` })
  }
  dc = await DiameterTestClient.connect({ port: ocs.diameter.port })
})
t.teardown(async () => {
  await dc?.close()
  await ocs?.stop()
  if (redisProc && redisProc.exitCode === null) {
    redisProc.kill('SIGCONT')
    redisProc.kill('SIGKILL')
  }
  rmSync(dir, { recursive: true, force: true })
})

interface Stats {
  answers: Map<number, number>
  maxLatencyMs: number
  retries: number
}

/** One data session I → U × 3 → T; a 3002/3004 answer is retransmitted (T flag, same request number) as a PGW would. */
async function session(id: string, msisdn: string, st: Stats): Promise<void> {
  const steps: Array<{ type: 1 | 2 | 3; mscc: Parameters<typeof ccrAvps>[0]['mscc'] }> = [
    { type: 1, mscc: [{ rg: 1, rsu: {} }] },
    { type: 2, mscc: [{ rg: 1, rsu: {}, usu: { input: 100_000, output: 100_000 } }] },
    { type: 2, mscc: [{ rg: 1, rsu: {}, usu: { input: 100_000, output: 100_000 } }] },
    { type: 2, mscc: [{ rg: 1, rsu: {}, usu: { input: 100_000, output: 100_000 } }] },
    { type: 3, mscc: [{ rg: 1, usu: { input: 100_000, output: 100_000 } }] },
  ]
  for (let n = 0; n < steps.length; n++) {
    for (let attempt = 0; ; attempt++) {
      const t0 = Date.now()
      const a = await dc.ccr(ccrAvps({ sessionId: id, type: steps[n].type, number: n, msisdn, mscc: steps[n].mscc }), attempt > 0 ? { flags: { request: true, proxiable: true, retransmit: true } } : {}, 10_000)
      st.maxLatencyMs = Math.max(st.maxLatencyMs, Date.now() - t0)
      const rc = resultCode(a) ?? 0
      st.answers.set(rc, (st.answers.get(rc) ?? 0) + 1)
      if (rc !== 3002 && rc !== 3004) break
      st.retries++
      if (attempt > 100) throw new Error(`${id}/${n}: still ${rc} after 100 retries`)
      await new Promise((r) => setTimeout(r, 200))
    }
  }
}

async function load(prefix: string, during: () => Promise<void>): Promise<Stats> {
  const st: Stats = { answers: new Map(), maxLatencyMs: 0, retries: 0 }
  let stop = false
  let seq = 0
  const workers = Array.from({ length: 16 }, async (_, w) => {
    while (!stop) await session(`${prefix};${w};${seq++}`, `4678000${String(w).padStart(4, '0')}`, st)
  })
  await new Promise((r) => setTimeout(r, 500))
  await during()
  await new Promise((r) => setTimeout(r, 500))
  stop = true
  await Promise.all(workers)
  return st
}

async function auditClean(t: Test): Promise<void> {
  let r = await audit(ocs.store.redis, ocs.store, ocs.billing)
  for (let i = 0; i < 200 && r.outboxBacklog > 0; i++) {
    await new Promise((res) => setTimeout(res, 100))
    r = await audit(ocs.store.redis, ocs.store, ocs.billing)
  }
  t.equal(r.outboxBacklog, 0, 'outbox drained')
  t.same(r.broken, [], 'no double and no lost charge on any account')
}

t.test('Redis paused 2 s (SIGSTOP): answers stay bounded (3004, not hangs), then charging resumes; audit clean', async (t) => {
  const st = await load('pause', async () => {
    redisProc.kill('SIGSTOP')
    await new Promise((r) => setTimeout(r, 2000))
    redisProc.kill('SIGCONT')
  })
  t.ok((st.answers.get(3004) ?? 0) > 0, `3004 answered while Redis was paused (${st.answers.get(3004)})`)
  t.ok(st.maxLatencyMs < 2500, `slowest answer ${st.maxLatencyMs} ms (bounded by the Redis command timeout)`)
  t.ok((st.answers.get(2001) ?? 0) > 50, 'charging went on before and after')
  t.same([...st.answers.keys()].filter((rc) => rc !== 2001 && rc !== 3004), [], 'no other result code')
  await auditClean(t)
})

t.test('Redis restarted under load (AOF, graceful): requests in the gap get 3004 and are retried; no double or lost charge', async (t) => {
  const st = await load('restart', async () => {
    const exited = new Promise((r) => redisProc.once('exit', r))
    redisProc.kill('SIGTERM') // a restart: Redis fsyncs its AOF and exits
    await exited
    await new Promise((r) => setTimeout(r, 500))
    await startRedisServer()
  })
  t.ok(st.retries > 0, `the client retransmitted ${st.retries} times`)
  t.ok((st.answers.get(2001) ?? 0) > 50)
  t.ok(st.maxLatencyMs < 2500, `slowest answer ${st.maxLatencyMs} ms`)
  await auditClean(t)
})
