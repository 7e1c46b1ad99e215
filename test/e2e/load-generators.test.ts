import t from 'tap'
import type { Test } from 'tap'
import dgram from 'node:dgram'
import { spawn } from 'node:child_process'
import { startRedis, type TestRedis } from '../helpers/redis.js'
import { startTestOcs, api } from '../helpers/ocs.js'
import { DEMO_PLAN } from '../../src/rating/plan.js'
import { encode, RadiusCode } from '../../src/radius/codec.js'

// The load generators (issue 9: `npm run load:diameter`, `npm run load:radius`) as a user runs them,
// each in its own process: against an OCS they charge real sessions, close every session they open,
// honour --rate, print a progress line and percentiles; the RADIUS one retransmits like a NAS.

let redis: TestRedis
t.before(async () => {
  redis = await startRedis()
})
t.teardown(() => redis.stop())

interface Run {
  code: number | null
  stderr: string
  summary: Record<string, any>
}

function runLoad(script: string, args: string[]): Promise<Run> {
  const p = spawn(process.execPath, ['--import', 'tsx', script, '--json', ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  let err = ''
  p.stdout.on('data', (d) => (out += d))
  p.stderr.on('data', (d) => (err += d))
  return new Promise((res) =>
    p.once('exit', (code) => res({ code, stderr: err, summary: JSON.parse(out.trim().split('\n').pop() || '{}') as Record<string, any> })),
  )
}

const sum = (r: Record<string, number>): number => Object.values(r).reduce((a, b) => a + b, 0)

t.test('against the OCS: sessions charged and all closed, the rate honoured, progress and percentiles printed', async (t) => {
  const { ocs, base } = await startTestOcs(redis.url, { logLevel: 'warn' })
  t.teardown(() => ocs.stop())
  await ocs.store.putPlan(DEMO_PLAN)
  const call = api(base)
  const accounts: string[] = []
  for (let i = 0; i < 4; i++) {
    const a = (await call('POST', '/v1/accounts', { currency: 'EUR', type: 'prepaid', plan: 'demo', balance: '100' })).body
    accounts.push(a.id)
    await call('POST', '/v1/subscribers', { account: a.id, msisdn: `4679${String(i).padStart(6, '0')}`, username: `lg${i}`, password: 'lgpw' })
  }
  const balances = async (): Promise<number> => {
    let total = 0
    for (const id of accounts) total += Number((await call('GET', `/v1/accounts/${id}`)).body.balance)
    return total
  }
  const RATE = 150
  const SECONDS = 2

  const d = await runLoad('scripts/load-diameter.ts', ['--port', String(ocs.diameter.port), '--rate', String(RATE), '--duration', String(SECONDS), '--warmup', '0.5',
    '--concurrency', '4', '--updates', '3', '--subscribers', '4', '--msisdn-prefix', '4679', '--msisdn-width', '6'])
  t.equal(d.code, 0)
  t.match(d.stderr, /\d+ s {2}\d+ CCRs {2}\d+\/s {2}in flight \d+/, 'a progress line')
  t.ok(d.summary.ccrs > 0, `${d.summary.ccrs} CCRs`)
  t.same(Object.keys(d.summary.results).sort(), ['I:2001', 'T:2001', 'U:2001'], 'every CCR-I/U/T answered 2001')
  t.equal(sum(d.summary.results), d.summary.ccrs, 'every counted CCR has its answer')
  // A paced run starts at most ~5 ms worth of requests at once (the pacer's burst).
  t.ok(d.summary.ccrs <= RATE * d.summary.seconds + 10, `rate honoured: ${d.summary.ccrs} CCRs in ${d.summary.seconds} s at --rate ${RATE}`)
  t.ok(d.summary.p50 > 0 && d.summary.p50 <= d.summary.p99 && d.summary.p99 <= d.summary.max, 'percentiles')
  const afterDiameter = await balances()
  t.ok(afterDiameter < 400, `data charged (balances ${afterDiameter} EUR of 400)`)

  const r = await runLoad('scripts/load-radius.ts', ['--auth-port', String(ocs.radius.authPort), '--acct-port', String(ocs.radius.acctPort), '--rate', String(RATE),
    '--duration', String(SECONDS), '--warmup', '0.5', '--concurrency', '4', '--interims', '3', '--subscribers', '4', '--user-prefix', 'lg', '--password', 'lgpw'])
  t.equal(r.code, 0)
  t.match(r.stderr, /\d+ s {2}\d+ requests {2}\d+\/s/, 'a progress line')
  t.same(
    Object.keys(r.summary.results).sort(),
    ['Access-Request:Access-Accept', 'Interim-Update:Accounting-Response', 'Start:Accounting-Response', 'Stop:Accounting-Response'],
    'every request answered, none timed out',
  )
  t.equal(sum(r.summary.results), r.summary.requests)
  t.ok(r.summary.requests <= RATE * r.summary.seconds + 10, `rate honoured: ${r.summary.requests} requests in ${r.summary.seconds} s at --rate ${RATE}`)
  t.ok(r.summary.interimsPerSec > 0 && r.summary.p50 <= r.summary.p99, 'interim rate and percentiles')
  t.ok((await balances()) < afterDiameter, 'broadband charged')

  // Every session a generator opened it also closed (CCR-T, Stop), so none is left open.
  const open = async (): Promise<unknown[]> => {
    const all: unknown[] = []
    for (const id of accounts) all.push(...(await call('GET', `/v1/sessions?account=${id}`)).body.sessions)
    return all
  }
  t.same(await open(), [], 'no session left open')
})

/** A RADIUS server on two ports that ignores the first `ignore` copies of each request and answers the next. */
async function lossyServer(t: Test, ignore: number): Promise<{ auth: number; acct: number; copies: Map<string, number> }> {
  const copies = new Map<string, number>()
  const bind = async (): Promise<number> => {
    const s = dgram.createSocket('udp4')
    t.teardown(() => new Promise<void>((res) => s.close(() => res())))
    s.on('message', (m, rinfo) => {
      // Identifier and Request Authenticator: one request and its retransmissions.
      const id = `${m[1]}:${m.subarray(4, 20).toString('hex')}`
      const n = (copies.get(id) ?? 0) + 1
      copies.set(id, n)
      if (n <= ignore) return
      const code = m[0] === RadiusCode.AccessRequest ? 'Access-Accept' : 'Accounting-Response'
      s.send(encode({ code, identifier: m[1] }, { secret: 'testing123', requestAuthenticator: m.subarray(4, 20) }), rinfo.port, rinfo.address)
    })
    await new Promise<void>((res) => s.bind(0, '127.0.0.1', res))
    return s.address().port
  }
  return { auth: await bind(), acct: await bind(), copies }
}

t.test('RADIUS generator: an unanswered request is sent again after ~2 s, and given up after the third send', async (t) => {
  const once = await lossyServer(t, 1)
  const never = await lossyServer(t, Number.POSITIVE_INFINITY)
  const common = ['--duration', '0.1', '--warmup', '0', '--concurrency', '1', '--interims', '1', '--subscribers', '1', '--user-prefix', 'x', '--password', 'pw']
  const [lossy, silent] = await Promise.all([
    runLoad('scripts/load-radius.ts', ['--auth-port', String(once.auth), '--acct-port', String(once.acct), ...common]),
    runLoad('scripts/load-radius.ts', ['--auth-port', String(never.auth), '--acct-port', String(never.acct), ...common]),
  ])

  t.equal(lossy.code, 0)
  // One session: auth, Start, then the duration is over, so Stop; each answered at its second copy.
  t.same(lossy.summary.results, { 'Access-Request:Access-Accept': 1, 'Start:Accounting-Response': 1, 'Stop:Accounting-Response': 1 })
  t.same([...once.copies.values()], [2, 2, 2], 'each request sent twice')
  t.ok(lossy.summary.p50 >= 1900 && lossy.summary.p50 < 4000, `answered after one retransmission (${lossy.summary.p50.toFixed(0)} ms)`)

  t.equal(silent.code, 0)
  t.same(silent.summary.results, { 'Access-Request:timeout': 1 }, 'no answer: counted as a timeout, no accounting for a session never accepted')
  t.same([...never.copies.values()], [3], 'sent three times, then given up')
})
