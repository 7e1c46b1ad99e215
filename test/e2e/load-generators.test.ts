import t from 'tap'
import type { Test } from 'tap'
import dgram from 'node:dgram'
import { execFileSync, spawn } from 'node:child_process'
import { createServer, type AddressInfo } from 'node:net'
import { startRedis, type TestRedis } from '../helpers/redis.js'
import { startTestOcs, api } from '../helpers/ocs.js'
import { DEMO_PLAN } from '../../src/rating/plan.js'
import { decode, encode, RadiusCode, type RadiusAttributeInput } from '../../src/radius/codec.js'
import { userPassword, verifyRequestAuthenticator } from '../../src/radius/authenticator.js'
import { decode as decodeDiameter, encode as encodeDiameter, findAvp, type AvpInput } from '../../src/diameter/codec.js'
import { DiameterFramer } from '../../src/diameter/framer.js'

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

/** The C generators, compiled by scripts/setup.sh (npm test's first step). */
const C_RADIUS = 'dist/bin/load-radius'
const C_DIAMETER = 'dist/bin/load-diameter'

function runLoad(script: string, args: string[]): Promise<Run> {
  const p = script === C_RADIUS || script === C_DIAMETER
    ? spawn(script, ['--json', ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
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
    const a = (await call('POST', '/v1/accounts', { currency: 'EUR', type: 'prepaid', plan: 'demo', balance: '100000' })).body
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

  // Both Diameter generators (the Node one, and the C one the bench measures with), paced.
  let afterDiameter = 400_000
  for (const gen of ['scripts/load-diameter.ts', C_DIAMETER]) {
    const d = await runLoad(gen, ['--port', String(ocs.diameter.port), '--rate', String(RATE), '--duration', String(SECONDS), '--warmup', '0.5',
      '--concurrency', '4', '--updates', '3', '--subscribers', '4', '--msisdn-prefix', '4679', '--msisdn-width', '6'])
    t.equal(d.code, 0, `${gen}: ${d.stderr}`)
    t.match(d.stderr, /\d+ s {2}\d+ CCRs {2}\d+\/s {2}in flight \d+/, `${gen}: a progress line`)
    t.ok(d.summary.ccrs > 0, `${gen}: ${d.summary.ccrs} CCRs`)
    t.same(Object.keys(d.summary.results).sort(), ['I:2001', 'T:2001', 'U:2001'], `${gen}: every CCR-I/U/T answered 2001`)
    t.equal(sum(d.summary.results), d.summary.ccrs, `${gen}: every counted CCR has its answer`)
    // A paced run starts at most ~5 ms worth of requests at once (the pacer's burst); nor does it fall far short.
    t.ok(d.summary.ccrs <= RATE * d.summary.seconds + 10 && d.summary.ccrs >= RATE * d.summary.seconds * 0.8,
      `${gen}: rate honoured: ${d.summary.ccrs} CCRs in ${d.summary.seconds} s at --rate ${RATE}`)
    t.ok(d.summary.p50 > 0 && d.summary.p50 <= d.summary.p90 && d.summary.p90 <= d.summary.p99 && d.summary.p99 <= d.summary.max, `${gen}: percentiles`)
    const now = await balances()
    t.ok(now < afterDiameter, `${gen}: data charged (balances ${now} EUR, were ${afterDiameter})`)
    afterDiameter = now
  }
  // The C one unpaced, with two rating groups each reporting time: as fast as the OCS answers.
  const dc = await runLoad(C_DIAMETER, ['--port', String(ocs.diameter.port), '--duration', '1', '--warmup', '0.5', '--concurrency', '8', '--updates', '2',
    '--rgs', '2', '--units', 'time', '--context', '32260@3gpp.org', '--subscribers', '4', '--msisdn-prefix', '4679', '--msisdn-width', '6', '--quiet'])
  t.equal(dc.code, 0, dc.stderr)
  t.equal(dc.stderr, '', '--quiet: no progress line')
  t.same(Object.keys(dc.summary.results).sort(), ['I:2001', 'T:2001', 'U:2001'], 'unpaced, two rating groups: every CCR answered 2001')
  t.ok(dc.summary.perSec > RATE, `unpaced: ${dc.summary.perSec} CCR/s`)
  const afterVoice = await balances()
  t.ok(afterVoice < afterDiameter, `voice charged (balances ${afterVoice} EUR, were ${afterDiameter})`)
  afterDiameter = afterVoice

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

/** The CCR the Node generator builds (scripts/load-diameter.ts ccrAvps): the C one must send the same bytes. */
function expectedCcr(o: { sid: string; origin: string; msisdn: string; type: number; number: number; rgs?: number; time?: boolean; context?: string; ids?: number }): Buffer {
  const mscc = (rg: number): AvpInput => ({ name: 'Multiple-Services-Credit-Control', value: [
    { name: 'Rating-Group', value: rg },
    ...(o.type !== 3 ? [{ name: 'Requested-Service-Unit', value: [] }] : []),
    ...(o.type !== 1 ? [{ name: 'Used-Service-Unit', value: o.time ? [{ name: 'CC-Time', value: 30 }] : [{ name: 'CC-Input-Octets', value: 400_000n }, { name: 'CC-Output-Octets', value: 600_000n }] }] : []),
  ] as AvpInput[] })
  return encodeDiameter({ flags: { request: true, proxiable: true }, commandCode: 272, applicationId: 4, hopByHop: o.ids ?? 0, endToEnd: o.ids ?? 0, avps: [
    { name: 'Session-Id', value: o.sid }, { name: 'Origin-Host', value: o.origin }, { name: 'Origin-Realm', value: 'test' },
    { name: 'Destination-Realm', value: 'localdomain' }, { name: 'Auth-Application-Id', value: 4 },
    { name: 'Service-Context-Id', value: o.context ?? '32251@3gpp.org' }, { name: 'CC-Request-Type', value: o.type }, { name: 'CC-Request-Number', value: o.number },
    { name: 'Subscription-Id', value: [{ name: 'Subscription-Id-Type', value: 0 }, { name: 'Subscription-Id-Data', value: o.msisdn }] },
    { name: 'Multiple-Services-Indicator', value: 1 },
    ...Array.from({ length: o.rgs ?? 1 }, (_, i) => mscc(i + 1)),
  ] })
}

function expectedCer(origin: string, ids = 0): Buffer {
  return encodeDiameter({ flags: { request: true }, commandCode: 257, applicationId: 0, hopByHop: ids, endToEnd: ids, avps: [
    { name: 'Origin-Host', value: origin }, { name: 'Origin-Realm', value: 'test' }, { name: 'Host-IP-Address', value: '127.0.0.1' },
    { name: 'Vendor-Id', value: 0 }, { name: 'Product-Name', value: 'ocs-loadgen-c' }, { name: 'Auth-Application-Id', value: 4 },
    { name: 'Vendor-Specific-Application-Id', value: [{ name: 'Vendor-Id', value: 10415 }, { name: 'Auth-Application-Id', value: 4 }] },
  ] })
}

t.test('C Diameter generator: byte for byte the messages of the codec (--dump), two rating groups reporting time', async (t) => {
  const out = execFileSync(C_DIAMETER, ['--dump', 'pgw;1;7', '--origin-host', 'pgw.test', '--updates', '2', '--rgs', '2', '--units', 'time',
    '--context', '32260@3gpp.org', '--msisdn-prefix', '4670', '--msisdn-width', '4'], { encoding: 'utf8' })
  const lines = Object.fromEntries(out.trim().split('\n').map((l) => l.split(' ')).map(([k, hex]) => [k, Buffer.from(hex, 'hex')]))
  t.same(Object.keys(lines), ['CER', 'I', 'U1', 'U2', 'T'])
  const o = { sid: 'pgw;1;7', origin: 'pgw.test', msisdn: '46700000', rgs: 2, time: true, context: '32260@3gpp.org' }
  t.ok(lines.CER.equals(expectedCer('pgw.test')), 'CER')
  t.ok(lines.I.equals(expectedCcr({ ...o, type: 1, number: 0 })), 'CCR-I: quota requested for each rating group, no usage')
  t.ok(lines.U1.equals(expectedCcr({ ...o, type: 2, number: 1 })), 'CCR-U 1: CC-Time reported for each rating group')
  t.ok(lines.U2.equals(expectedCcr({ ...o, type: 2, number: 2 })), 'CCR-U 2')
  t.ok(lines.T.equals(expectedCcr({ ...o, type: 3, number: 3 })), 'CCR-T: usage, no quota requested')
  t.equal(decodeDiameter(lines.T).avps.filter((a) => a.name === 'Multiple-Services-Credit-Control').length, 2, 'our decoder reads it back')
})

t.test('C Diameter generator: against a scripted peer, the same bytes on the wire, server requests answered, results by type and code, an unanswered CCR counted as a timeout', async (t) => {
  const received: Buffer[] = []
  const answered: Buffer[] = []
  const server = createServer((sock) => {
    const framer = new DiameterFramer()
    let ccrs = 0
    sock.on('data', (chunk: Buffer) => {
      for (const m of framer.push(chunk)) {
        if ((m[4] & 0x80) === 0) { answered.push(m); continue } // the client's DWA and RAA
        received.push(m)
        const req = decodeDiameter(m)
        const reply = (rc: number, extra: AvpInput[] = []): void => {
          sock.write(encodeDiameter({ flags: { request: false }, commandCode: req.commandCode, applicationId: req.applicationId, hopByHop: req.hopByHop, endToEnd: req.endToEnd,
            avps: [...extra, { name: 'Result-Code', value: rc }, { name: 'Origin-Host', value: 'ocs.test' }, { name: 'Origin-Realm', value: 'test' }] }))
        }
        if (req.commandCode === 257) {
          reply(2001)
          // Server-initiated requests the generator must answer: a DWR and a RAR for its session.
          sock.write(encodeDiameter({ flags: { request: true }, commandCode: 280, applicationId: 0, hopByHop: 0xdead, endToEnd: 0xbeef, avps: [{ name: 'Origin-Host', value: 'ocs.test' }, { name: 'Origin-Realm', value: 'test' }] }))
          continue
        }
        ccrs++
        const sid = String(findAvp(req.avps, 'Session-Id')?.value)
        if (ccrs === 1) {
          sock.write(encodeDiameter({ flags: { request: true, proxiable: true }, commandCode: 258, applicationId: 4, hopByHop: 0xfeed, endToEnd: 0xf00d, avps: [
            { name: 'Session-Id', value: sid }, { name: 'Origin-Host', value: 'ocs.test' }, { name: 'Origin-Realm', value: 'test' }, { name: 'Re-Auth-Request-Type', value: 0 }] }))
        }
        // CCR-I 2001, CCR-U 1 4012, CCR-U 2 2001, CCR-T: no answer at all.
        if (ccrs === 2) reply(4012, [{ name: 'Session-Id', value: sid }])
        else if (ccrs < 4) reply(2001, [{ name: 'Session-Id', value: sid }])
      }
    })
  })
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', res))
  t.teardown(() => server.close())
  const port = (server.address() as AddressInfo).port
  const r = await runLoad(C_DIAMETER, ['--port', String(port), '--duration', '0.3', '--warmup', '0', '--concurrency', '1', '--updates', '2',
    '--subscribers', '1', '--origin-host', 'lg.test', '--msisdn-prefix', '4679', '--msisdn-width', '6'])
  t.equal(r.code, 0, r.stderr)
  t.same(r.summary.results, { 'I:2001': 1, 'U:4012': 1, 'U:2001': 1, timeout: 1 }, 'results by type and Result-Code; the unanswered CCR-T a timeout')
  t.equal(r.summary.ccrs, 4)

  t.equal(received.length, 5, 'CER and one session\'s four CCRs')
  const [cer, ...ccrs] = received
  t.ok(cer.equals(expectedCer('lg.test', cer.readUInt32BE(12))), 'CER on the wire')
  const sid = String(findAvp(decodeDiameter(ccrs[0]).avps, 'Session-Id')?.value)
  t.match(sid, /^lg\.test;\d+;0$/)
  const ids = new Set<number>()
  ccrs.forEach((m, i) => {
    const type = i === 0 ? 1 : i === 3 ? 3 : 2
    t.ok(m.equals(expectedCcr({ sid, origin: 'lg.test', msisdn: '4679000000', type, number: i, ids: m.readUInt32BE(12) })), `CCR ${i + 1} on the wire`)
    t.equal(m.readUInt32BE(16), m.readUInt32BE(12), 'end-to-end id = hop-by-hop id')
    ids.add(m.readUInt32BE(12))
  })
  t.equal(ids.size, 4, 'a fresh hop-by-hop id per request')

  const byCode = new Map(answered.map((m) => [decodeDiameter(m).commandCode, decodeDiameter(m)]))
  const dwa = byCode.get(280)
  t.ok(dwa && dwa.hopByHop === 0xdead && dwa.endToEnd === 0xbeef && findAvp(dwa.avps, 'Result-Code')?.value === 2001, 'DWR answered: DWA 2001 with its ids')
  const raa = byCode.get(258)
  t.ok(raa && raa.hopByHop === 0xfeed && findAvp(raa.avps, 'Session-Id')?.value === sid && findAvp(raa.avps, 'Result-Code')?.value === 2001, 'RAR answered: RAA 2001 for the session')
})
