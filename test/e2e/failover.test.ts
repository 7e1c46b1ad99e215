import t from 'tap'
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { startRedis, type TestRedis } from '../helpers/redis.js'
import { DiameterTestClient, ccrAvps, resultCode } from '../helpers/diameter-client.js'
import { BalanceStore } from '../../src/balance/store.js'
import { SqliteBillingStore } from '../../src/cdr/sqlite-store.js'
import { audit } from '../../src/cdr/audit.js'
import { DEMO_PLAN } from '../../src/rating/plan.js'

// Two OCS processes (the built dist/main.js) on one Redis; a Diameter client charging data
// sessions through node A; node A is killed with SIGKILL under load; the client fails over to
// node B and retransmits what was unanswered; session state lives in Redis, so B carries every
// session on, and the money audit finds no double and no lost charge.

const KEY = 'failover-key-0123456789'
const dir = mkdtempSync(join(tmpdir(), 'ocs-failover-'))
let redis: TestRedis
const nodes: ChildProcess[] = []

function startNode(name: string): Promise<{ proc: ChildProcess; diameter: number; http: number }> {
  const cfg = join(dir, `${name}.yaml`)
  // CDRs stay in the outbox (the audit reads them there): no worker, no demo data.
  writeFileSync(cfg, `nodeId: ${name}\ndemoData: false\nbilling:\n  worker: "off"\n  db: "sqlite:${join(dir, `${name}.sqlite`)}"\n`)
  const { OCS_REDIS_CLUSTER: _c, ...env } = process.env
  const proc = spawn(process.execPath, [resolve('dist/main.js')], {
    env: { ...env, OCS_CONFIG: cfg, OCS_REDIS_URL: redis.url, OCS_API_KEY: KEY, OCS_DATA_DIR: join(dir, name), OCS_HTTP_PORT: '0', OCS_METRICS_PORT: '0', OCS_DIAMETER_PORT: '0', OCS_RADIUS_AUTH_PORT: '0', OCS_RADIUS_ACCT_PORT: '0', OCS_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  nodes.push(proc)
  return new Promise((res, rej) => {
    let out = ''
    const timer = setTimeout(() => rej(new Error(`node ${name} did not start: ${out}`)), 20_000)
    const on = (d: Buffer): void => {
      out += d.toString()
      const m = /REST API http:\/\/127\.0\.0\.1:(\d+)\/.*Diameter (\d+),/.exec(out)
      if (m) {
        clearTimeout(timer)
        res({ proc, http: Number(m[1]), diameter: Number(m[2]) })
      }
    }
    proc.stdout!.on('data', on)
    proc.stderr!.on('data', on)
  })
}

t.teardown(async () => {
  for (const p of nodes) if (p.exitCode === null) p.kill('SIGKILL')
  await redis?.stop()
  rmSync(dir, { recursive: true, force: true })
})

t.test('kill -9 of one of two OCS nodes under Diameter load: the client fails over, every session completes, audit clean', async (t) => {
  redis = await startRedis()
  await new BalanceStore(redis.client).putPlan(DEMO_PLAN)
  const a = await startNode('node-a')
  const b = await startNode('node-b')
  for (let i = 0; i < 8; i++) {
    const acct = await (await fetch(`http://127.0.0.1:${a.http}/v1/accounts`, { method: 'POST', headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' }, body: JSON.stringify({ currency: 'EUR', type: 'prepaid', plan: 'demo', balance: '100' }) })).json() as { id: string }
    await fetch(`http://127.0.0.1:${b.http}/v1/subscribers`, { method: 'POST', headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' }, body: JSON.stringify({ account: acct.id, msisdn: `4677000${i}` }) })
  }
  let client = await DiameterTestClient.connect({ port: a.diameter, originHost: 'pgw.failover.test' })
  let failovers = 0
  let toB: Promise<void> | undefined
  // Every worker that sees node A gone waits for the one reconnection to B.
  const failover = (): Promise<void> =>
    (toB ??= (async () => {
      failovers++
      client = await DiameterTestClient.connect({ port: b.diameter, originHost: 'pgw.failover.test' })
    })())
  /** Sends a CCR; when the node is gone (closed or silent) fails over to B and retransmits it with the T flag. */
  const ccr = async (spec: Parameters<typeof ccrAvps>[0]): Promise<number> => {
    for (let attempt = 0; attempt < 20; attempt++) {
      const c = client
      try {
        const answer = await Promise.race([
          c.ccr(ccrAvps(spec), attempt > 0 ? { flags: { request: true, proxiable: true, retransmit: true } } : {}, 3000),
          c.closedPromise.then(() => Promise.reject(new Error('connection closed'))),
        ])
        return resultCode(answer) ?? 0
      } catch {
        await failover()
      }
    }
    throw new Error('no answer after 20 attempts')
  }
  let completed = 0
  const bad: number[] = []
  let stop = false
  const workers = Array.from({ length: 8 }, async (_, w) => {
    for (let s = 0; !stop; s++) {
      const sid = `pgw.failover.test;${w};${s}`
      const msisdn = `4677000${w}`
      const codes = [
        await ccr({ sessionId: sid, type: 1, number: 0, msisdn, mscc: [{ rg: 1, rsu: {} }] }),
        await ccr({ sessionId: sid, type: 2, number: 1, msisdn, mscc: [{ rg: 1, rsu: {}, usu: { input: 500_000, output: 500_000 } }] }),
        await ccr({ sessionId: sid, type: 2, number: 2, msisdn, mscc: [{ rg: 1, rsu: {}, usu: { input: 500_000, output: 500_000 } }] }),
        await ccr({ sessionId: sid, type: 3, number: 3, msisdn, mscc: [{ rg: 1, usu: { input: 500_000, output: 500_000 } }] }),
      ]
      for (const c of codes) if (c !== 2001) bad.push(c)
      completed++
    }
  })
  await new Promise((r) => setTimeout(r, 1500))
  a.proc.kill('SIGKILL')
  await new Promise((r) => setTimeout(r, 1500))
  stop = true
  await Promise.all(workers)
  await client.close()
  t.equal(failovers, 1, 'the client failed over to node B')
  t.ok(completed > 20, `${completed} sessions completed`)
  t.same(bad, [], 'every CCR answered 2001 in the end')
  const billing = new SqliteBillingStore(join(dir, 'audit.sqlite'))
  const report = await audit(redis.client, new BalanceStore(redis.client), billing)
  await billing.close()
  t.equal(report.accounts, 8)
  t.same(report.broken, [], 'no double and no lost charge')
  t.equal(report.outboxBacklog, completed, 'one CDR per completed session, none doubled')
})
