import t from 'tap'
import type { Test } from 'tap'
import dgram from 'node:dgram'
import { spawn } from 'node:child_process'
import { startRedis, type TestRedis } from '../helpers/redis.js'
import { startTestOcs, api } from '../helpers/ocs.js'
import { DEMO_PLAN } from '../../src/rating/plan.js'
import { decode, encode, RadiusCode, type RadiusAttributeInput } from '../../src/radius/codec.js'
import { userPassword, verifyRequestAuthenticator } from '../../src/radius/authenticator.js'

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

/** The C RADIUS generator, compiled by scripts/setup.sh (npm test's first step). */
const C_RADIUS = 'dist/bin/load-radius'

function runLoad(script: string, args: string[]): Promise<Run> {
  const p = script === C_RADIUS
    ? spawn(C_RADIUS, ['--json', ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    : spawn(process.execPath, ['--import', 'tsx', script, '--json', ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  let err = ''
  p.stdout.on('data', (d) => (out += d))
  p.stderr.on('data', (d) => (err += d))
  return new Promise((res) =>
    p.once('exit', (code) => res({ code, stderr: err, summary: JSON.parse(out.trim().split('\n').pop() || '{}') as Record<string, any> })),
  )
}

const sum = (r: Record<string, number>): number => Object.values(r).reduce((a, b) => a + b, 0)

/** A RADIUS generator's run against the OCS: exit 0, a progress line, every request answered (the C one checks each Response Authenticator) and counted. */
function answeredRun(t: Test, r: Run): void {
  t.equal(r.code, 0, r.stderr)
  t.match(r.stderr, /\d+ s {2}\d+ requests {2}\d+\/s/, 'a progress line')
  t.same(
    Object.keys(r.summary.results).sort(),
    ['Access-Request:Access-Accept', 'Interim-Update:Accounting-Response', 'Start:Accounting-Response', 'Stop:Accounting-Response'],
    'every request answered, none timed out',
  )
  t.equal(sum(r.summary.results), r.summary.requests)
  t.ok(r.summary.interimsPerSec > 0 && r.summary.p50 > 0 && r.summary.p50 <= r.summary.p99, 'interim rate and percentiles')
}

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
  answeredRun(t, r)
  t.ok(r.summary.requests <= RATE * r.summary.seconds + 10, `rate honoured: ${r.summary.requests} requests in ${r.summary.seconds} s at --rate ${RATE}`)
  const afterRadius = await balances()
  t.ok(afterRadius < afterDiameter, 'broadband charged')

  // The C generator (the bench's BNAS): the same sessions, as fast as the OCS answers.
  const c = await runLoad(C_RADIUS, ['--auth-port', String(ocs.radius.authPort), '--acct-port', String(ocs.radius.acctPort),
    '--duration', '1', '--warmup', '0.5', '--concurrency', '4', '--interims', '3', '--subscribers', '4', '--user-prefix', 'lg', '--password', 'lgpw'])
  answeredRun(t, c)
  t.ok((await balances()) < afterRadius, 'broadband charged by the C generator\'s sessions')

  // Every session a generator opened it also closed (CCR-T, Stop), so none is left open.
  const open = async (): Promise<unknown[]> => {
    const all: unknown[] = []
    for (const id of accounts) all.push(...(await call('GET', `/v1/sessions?account=${id}`)).body.sessions)
    return all
  }
  t.same(await open(), [], 'no session left open')
})

type Answer = { code: 'Access-Accept' | 'Access-Reject' | 'Accounting-Response'; after: number } | undefined

/**
 * A RADIUS server on two ports whose `policy` decides, for each copy of each request (copy 1, 2, …;
 * requests numbered in order of arrival), whether and when to answer and with what.
 */
async function fakeServer(t: Test, policy: (code: number, copy: number, request: number) => Answer): Promise<{ auth: number; acct: number; copies: Map<string, number> }> {
  const copies = new Map<string, number>()
  const bind = async (): Promise<number> => {
    const s = dgram.createSocket('udp4')
    const timers: NodeJS.Timeout[] = []
    t.teardown(() => {
      for (const timer of timers) clearTimeout(timer)
      return new Promise<void>((res) => s.close(() => res()))
    })
    s.on('message', (m, rinfo) => {
      // Identifier and Request Authenticator: one request and its retransmissions.
      const id = `${m[1]}:${m.subarray(4, 20).toString('hex')}`
      const request = copies.has(id) ? [...copies.keys()].indexOf(id) : copies.size
      const copy = (copies.get(id) ?? 0) + 1
      copies.set(id, copy)
      const a = policy(m[0], copy, request)
      if (a === undefined) return
      const reply = encode({ code: a.code, identifier: m[1] }, { secret: 'testing123', requestAuthenticator: m.subarray(4, 20) })
      timers.push(setTimeout(() => s.send(reply, rinfo.port, rinfo.address), a.after))
    })
    await new Promise<void>((res) => s.bind(0, '127.0.0.1', res))
    return s.address().port
  }
  return { auth: await bind(), acct: await bind(), copies }
}

const answer = (code: number, after = 0): Answer => ({ code: code === RadiusCode.AccessRequest ? 'Access-Accept' : 'Accounting-Response', after })
const radiusArgs = (ports: { auth: number; acct: number }, duration: number): string[] => [
  '--auth-port', String(ports.auth), '--acct-port', String(ports.acct), '--duration', String(duration), '--warmup', '0',
  '--concurrency', '1', '--interims', '1', '--subscribers', '1', '--user-prefix', 'x', '--password', 'pw',
]

for (const gen of ['scripts/load-radius.ts', C_RADIUS]) t.test(`RADIUS generator ${gen}: an unanswered request is sent again after ~2 s, and given up after the third send`, async (t) => {
  const once = await fakeServer(t, (code, copy) => (copy === 1 ? undefined : answer(code)))
  const never = await fakeServer(t, () => undefined)
  const [lossy, silent] = await Promise.all([runLoad(gen, radiusArgs(once, 0.1)), runLoad(gen, radiusArgs(never, 0.1))])

  t.equal(lossy.code, 0)
  // One session: auth, Start, then the duration is over, so Stop; each answered at its second copy.
  t.same(lossy.summary.results, { 'Access-Request:Access-Accept': 1, 'Start:Accounting-Response': 1, 'Stop:Accounting-Response': 1 })
  t.same([...once.copies.values()], [2, 2, 2], 'each request sent twice')
  t.ok(lossy.summary.p50 >= 1900 && lossy.summary.p50 < 4000, `answered after one retransmission (${lossy.summary.p50.toFixed(0)} ms)`)

  t.equal(silent.code, 0)
  t.same(silent.summary.results, { 'Access-Request:timeout': 1 }, 'no answer: counted as a timeout, no accounting for a session never accepted')
  t.same([...never.copies.values()], [3], 'sent three times, then given up')
})

for (const gen of ['scripts/load-radius.ts', C_RADIUS]) t.test(`RADIUS generator ${gen}: a late answer to a request given up on is not taken for the next request`, async (t) => {
  // The first Access-Request (sent at 0, 2 and 4 s, given up at ~6 s) gets a Reject at 7.5 s, to its
  // first copy; the next session's Access-Request, sent at ~6 s, is accepted 1.8 s later. Were the
  // given-up request's id used again at once, that late Reject would answer it.
  const late = await fakeServer(t, (code, copy, request) => {
    if (copy > 1) return undefined
    if (code !== RadiusCode.AccessRequest) return answer(code)
    return request === 0 ? { code: 'Access-Reject', after: 7500 } : answer(code, 1800)
  })
  const r = await runLoad(gen, radiusArgs(late, 7))
  t.equal(r.code, 0)
  t.same(
    r.summary.results,
    { 'Access-Request:timeout': 1, 'Access-Request:Access-Accept': 1, 'Start:Accounting-Response': 1, 'Stop:Accounting-Response': 1 },
    'the first session timed out, the second was accepted and ran',
  )
})

t.test('C RADIUS generator: byte for byte the packets of the Node codec, Class echoed, forged answers refused', async (t) => {
  const packets: Buffer[] = []
  // Accepts with a Class; answers the first Interim-Update of each session with a Response
  // Authenticator made with the wrong secret (then, to its retransmission, correctly).
  const forged = new Set<string>()
  const bind = async (): Promise<number> => {
    const s = dgram.createSocket('udp4')
    t.teardown(() => new Promise<void>((res) => s.close(() => res())))
    s.on('message', (m, rinfo) => {
      packets.push(Buffer.from(m))
      const isInterim = m[0] === RadiusCode.AccountingRequest && decode(m).attributes.some((a) => a.name === 'Acct-Status-Type' && a.valueName === 'Interim-Update')
      const sid = m[0] === RadiusCode.AccountingRequest ? String(decode(m).attributes.find((a) => a.name === 'Acct-Session-Id')?.value) : ''
      const forge = isInterim && !forged.has(sid)
      if (forge) forged.add(sid)
      const reply = m[0] === RadiusCode.AccessRequest
        ? encode({ code: 'Access-Accept', identifier: m[1], attributes: [['Class', Buffer.from('cls-1')]] }, { secret: 'testing123', requestAuthenticator: m.subarray(4, 20) })
        : encode({ code: 'Accounting-Response', identifier: m[1] }, { secret: forge ? 'not-the-secret' : 'testing123', requestAuthenticator: m.subarray(4, 20) })
      s.send(reply, rinfo.port, rinfo.address)
    })
    await new Promise<void>((res) => s.bind(0, '127.0.0.1', res))
    return s.address().port
  }
  const ports = { auth: await bind(), acct: await bind() }
  const r = await runLoad(C_RADIUS, ['--auth-port', String(ports.auth), '--acct-port', String(ports.acct), '--duration', '0.5', '--warmup', '0',
    '--concurrency', '1', '--interims', '2', '--subscribers', '1', '--user-prefix', 'x', '--password', 'pw'])
  t.equal(r.code, 0, r.stderr)
  // One session: its first interim's forged answer is dropped, the copy sent ~2 s later is answered; the run is then over.
  t.same(r.summary.results, { 'Access-Request:Access-Accept': 1, 'Start:Accounting-Response': 1, 'Interim-Update:Accounting-Response': 1, 'Stop:Accounting-Response': 1, 'bad Response Authenticator': 1 })

  const [access, start, interim, interimAgain, stop] = packets
  t.equal(packets.length, 5)
  const ra = access.subarray(4, 20)
  const nas: RadiusAttributeInput[] = [['NAS-Identifier', 'loadgen-nas'], ['NAS-Port', 0]]
  t.ok(access.equals(encode({ code: 'Access-Request', identifier: access[1], authenticator: ra, attributes: [['User-Name', 'x0'], ['User-Password', 'pw'], ...nas] }, { secret: 'testing123' })), 'Access-Request: PAP hidden as RFC 2865 says')
  t.equal(userPassword(decode(access), 'testing123')?.toString(), 'pw')
  const sid = String(decode(start).attributes.find((a) => a.name === 'Acct-Session-Id')?.value)
  t.match(sid, /^lg\d+-0$/)
  const base: RadiusAttributeInput[] = [['User-Name', 'x0'], ['Acct-Session-Id', sid], ...nas, ['Class', Buffer.from('cls-1')]]
  const expect = (id: number, attrs: RadiusAttributeInput[]): Buffer => encode({ code: 'Accounting-Request', identifier: id, attributes: [...base, ...attrs] }, { secret: 'testing123' })
  t.ok(start.equals(expect(start[1], [['Acct-Status-Type', 'Start']])), 'Start, with the Class of the Accept')
  t.ok(interim.equals(expect(interim[1], [['Acct-Status-Type', 'Interim-Update'], ['Acct-Input-Octets', 500_000], ['Acct-Output-Octets', 500_000], ['Acct-Session-Time', 60]])), 'Interim-Update')
  t.ok(interimAgain.equals(interim), 'the retransmission is the same packet')
  t.ok(stop.equals(expect(stop[1], [['Acct-Status-Type', 'Stop'], ['Acct-Input-Octets', 500_000], ['Acct-Output-Octets', 500_000], ['Acct-Session-Time', 400]])), 'Stop with the final counters')
  for (const p of [start, interim, stop]) t.ok(verifyRequestAuthenticator(p, 'testing123'), 'Request Authenticator (RFC 2866)')
})
