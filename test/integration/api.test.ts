import t from 'tap'
import { startRedis, type TestRedis } from '../helpers/redis.js'
import { startTestOcs, api, TEST_API_KEY } from '../helpers/ocs.js'
import type { Ocs } from '../../src/main.js'
import { DEMO_PLAN } from '../../src/rating/plan.js'

let redis: TestRedis
let ocs: Ocs
let call: ReturnType<typeof api>
let base: string

t.before(async () => {
  redis = await startRedis()
  const s = await startTestOcs(redis.url)
  ocs = s.ocs
  base = s.base
  call = api(base)
  await ocs.store.putPlan(DEMO_PLAN)
})
t.teardown(async () => {
  await ocs.stop()
  await redis.stop()
})

const newAccount = async (extra: Record<string, unknown> = {}) => {
  const r = await call('POST', '/v1/accounts', { currency: 'EUR', type: 'prepaid', plan: 'demo', timezone: 'Europe/Paris', creditLimit: '0', ...extra })
  if (r.status !== 201) throw new Error(JSON.stringify(r))
  return r.body
}

/** Events travel through Redis pub/sub: wait for the first (up to 5 s), then 200 ms for any that should not come. */
async function eventArrives(got: unknown[]): Promise<void> {
  for (let i = 0; i < 250 && got.length === 0; i++) await new Promise((r) => setTimeout(r, 20))
  await new Promise((r) => setTimeout(r, 200))
}

t.test('missing or wrong API key → 401, nothing written', async (t) => {
  const anon = api(base, '')
  t.equal((await anon('GET', '/v1/accounts')).status, 401)
  const wrong = api(base, TEST_API_KEY + 'x')
  const r = await wrong('POST', '/v1/accounts', { currency: 'EUR', type: 'prepaid', plan: 'demo' })
  t.equal(r.status, 401)
  t.equal((await call('GET', '/v1/accounts')).body.accounts.length, 0)
  const raw = await fetch(`${base}/v1/accounts`, { headers: { authorization: `Basic ${TEST_API_KEY}` } })
  t.equal(raw.status, 401, 'only Bearer')
})

t.test('accounts: create, get, list, update; contract shapes', async (t) => {
  const a = await newAccount()
  t.match(a, { id: String, currency: 'EUR', type: 'prepaid', plan: 'demo', timezone: 'Europe/Paris', status: 'active', balance: '0.000000', reserved: '0.000000', creditLimit: '0.000000' })
  const got = await call('GET', `/v1/accounts/${a.id}`)
  t.equal(got.status, 200)
  t.equal(got.body.id, a.id)
  const pp = await newAccount({ type: 'postpaid', creditLimit: '25.5', language: 'sv', taxRegion: 'SE', country: 'SE' })
  t.match(pp, { type: 'postpaid', creditLimit: '25.500000', language: 'sv', taxRegion: 'SE' })
  const patched = await call('PATCH', `/v1/accounts/${pp.id}`, { status: 'barred', creditLimit: '30' })
  t.match(patched, { status: 200, body: { status: 'barred', creditLimit: '30.000000' } })
  const list = await call('GET', '/v1/accounts?limit=500')
  t.ok(list.body.accounts.some((x: { id: string }) => x.id === pp.id))
})

t.test('accounts: invalid input → 400 naming the field; unknown id → 404', async (t) => {
  const bad: Array<[Record<string, unknown>, string]> = [
    [{ currency: 'EURO' }, 'currency'],
    [{ currency: 'XYZ' }, 'currency'],
    [{ type: 'gold' }, 'type'],
    [{ timezone: 'Mars/Olympus' }, 'timezone'],
    [{ creditLimit: '1.2345678' }, 'creditLimit'],
    [{ creditLimit: '10' }, 'creditLimit'],
    [{ plan: 'nosuch' }, 'plan'],
    [{ status: 'deleted' }, 'status'],
    [{ extra: 1 }, 'extra'],
  ]
  for (const [patch, field] of bad) {
    const r = await call('POST', '/v1/accounts', { currency: 'EUR', type: 'prepaid', plan: 'demo', ...patch })
    t.equal(r.status, 400, JSON.stringify(patch))
    t.equal(r.body.field, field, `field named for ${JSON.stringify(patch)}: ${r.body.message}`)
  }
  const missing = await call('POST', '/v1/accounts', { type: 'prepaid', plan: 'demo' })
  t.match(missing, { status: 400, body: { field: 'currency' } })
  t.equal((await call('GET', '/v1/accounts/nosuch')).status, 404)
  t.equal((await call('PATCH', '/v1/accounts/nosuch', { status: 'active' })).status, 404)
  t.equal((await call('POST', '/v1/accounts/nosuch/topups', { amount: '1' })).status, 404)
  t.equal((await call('GET', '/v1/accounts/nosuch/balances')).status, 404)
  t.equal((await call('GET', '/v1/subscribers/nosuch')).status, 404)
  t.equal((await call('DELETE', '/v1/subscribers/nosuch')).status, 404)
  t.equal((await call('DELETE', '/v1/sessions/nosuch')).status, 404)
})

t.test('top-ups are exact decimal arithmetic: 0.1 + 0.2 = 0.3', async (t) => {
  const a = await newAccount()
  t.equal((await call('POST', `/v1/accounts/${a.id}/topups`, { amount: '0.1' })).status, 201)
  const r = await call('POST', `/v1/accounts/${a.id}/topups`, { amount: '0.2' })
  t.match(r, { status: 201, body: { balance: '0.300000' } })
  t.equal((await call('GET', `/v1/accounts/${a.id}`)).body.balance, '0.300000')
  t.equal((await call('POST', `/v1/accounts/${a.id}/topups`, { amount: '-1' })).status, 400)
  t.equal((await call('POST', `/v1/accounts/${a.id}/topups`, { amount: '1.0000001' })).status, 400)
  t.equal((await call('POST', `/v1/accounts/${a.id}/topups`, { amount: 5 })).status, 400, 'a JSON number is not a money string')
  // A repeated reference is applied once.
  await call('POST', `/v1/accounts/${a.id}/topups`, { amount: '1', reference: 'pos-123' })
  await call('POST', `/v1/accounts/${a.id}/topups`, { amount: '1', reference: 'pos-123' })
  t.equal((await call('GET', `/v1/accounts/${a.id}`)).body.balance, '1.300000')
  // The charging scripts keep amounts exactly up to 2^52 micro-units (~4.5e9 in major units).
  t.match(await call('POST', `/v1/accounts/${a.id}/topups`, { amount: '999999999999999' }), { status: 400, body: { field: 'amount', message: /2\^52/ } }, 'a top-up past 2^52 micro-units: 400')
  t.equal((await call('GET', `/v1/accounts/${a.id}`)).body.balance, '1.300000', 'nothing credited')
})

t.test('balance buckets: add money and unit buckets, list; bad input refused', async (t) => {
  const a = await newAccount({ balance: '5' })
  const m = await call('POST', `/v1/accounts/${a.id}/balances`, { kind: 'money', amount: '2.5', priority: 10, validUntil: '2099-01-01T00:00:00Z' })
  t.match(m, { status: 201, body: { kind: 'money', amount: '2.500000', priority: 10, validUntil: '2099-01-01T00:00:00.000Z' } })
  const u = await call('POST', `/v1/accounts/${a.id}/balances`, { id: 'bundle-min', kind: 'seconds', amount: '3000', scope: ['voice'] })
  t.match(u, { status: 201, body: { id: 'bundle-min', kind: 'seconds', amount: '3000', scope: ['voice'] } })
  t.equal((await call('POST', `/v1/accounts/${a.id}/balances`, { id: 'bundle-min', kind: 'seconds', amount: '1' })).status, 409)
  t.match(await call('POST', `/v1/accounts/${a.id}/balances`, { kind: 'octets', amount: '1.5' }), { status: 400, body: { field: 'amount' } })
  t.match(await call('POST', `/v1/accounts/${a.id}/balances`, { kind: 'money', amount: '4503599628' }), { status: 400, body: { field: 'amount', message: /2\^52/ } }, 'a money bucket past 2^52 micro-units: 400')
  t.match(await call('POST', `/v1/accounts/${a.id}/balances`, { kind: 'octets', amount: String(2n ** 52n + 1n) }), { status: 400, body: { field: 'amount' } }, 'a unit bucket past 2^52: 400')
  t.match(await call('POST', `/v1/accounts/${a.id}/balances`, { kind: 'gold', amount: '1' }), { status: 400, body: { field: 'kind' } })
  t.match(await call('POST', `/v1/accounts/${a.id}/balances`, { kind: 'money', amount: '1', validFrom: '2030-01-01T00:00:00Z', validUntil: '2029-01-01T00:00:00Z' }), { status: 400, body: { field: 'validUntil' } })
  const list = await call('GET', `/v1/accounts/${a.id}/balances`)
  t.same(list.body.buckets.map((b: { id: string; amount: string }) => [b.id, b.amount]).sort(), [['bundle-min', '3000'], ['main', '5.000000'], [m.body.id, '2.500000']].sort())
  t.equal((await call('GET', `/v1/accounts/${a.id}`)).body.balance, '7.500000')
})

t.test('subscribers: create with identities, get, list, delete; password stored hashed', async (t) => {
  const a = await newAccount()
  const s = await call('POST', '/v1/subscribers', { account: a.id, msisdn: '+46700000101', imsi: '240010000000101', sipUri: 'sip:101@ims.example', username: 'carol', password: 'carolpw' })
  t.match(s, { status: 201, body: { id: String, account: a.id, msisdn: '46700000101', hasPassword: true } })
  t.notOk('password' in s.body || 'passwordHash' in s.body, 'no password material in answers')
  const stored = await redis.client.get(`ocs:sub:${s.body.id}`)
  t.notMatch(stored!, /carolpw/)
  t.match(stored!, /scrypt\$/)
  const rec = JSON.parse(stored!) as { passwordSealed: string }
  t.equal(ocs.secrets.open(rec.passwordSealed), 'carolpw', 'the sealed copy (for CHAP) opens to the password')
  t.equal((await call('GET', `/v1/subscribers/${s.body.id}`)).body.username, 'carol')
  t.equal((await call('GET', `/v1/subscribers?account=${a.id}`)).body.subscribers.length, 1)
  t.match(await call('POST', '/v1/subscribers', { account: a.id, msisdn: 'abc' }), { status: 400, body: { field: 'msisdn' } })
  t.match(await call('POST', '/v1/subscribers', { account: a.id }), { status: 400, body: { field: 'msisdn' } })
  t.equal((await call('POST', '/v1/subscribers', { account: 'nosuch', msisdn: '46700000199' })).status, 404)
  t.equal((await call('DELETE', `/v1/subscribers/${s.body.id}`)).status, 204)
  // Its identities are free again.
  t.equal((await call('POST', '/v1/subscribers', { account: a.id, msisdn: '46700000101' })).status, 201)
})

t.test('identity uniqueness under 100 concurrent creates: one wins, 99 get 409, nothing half-written', async (t) => {
  const a = await newAccount()
  const results = await Promise.all(
    Array.from({ length: 100 }, (_, i) => call('POST', '/v1/subscribers', { account: a.id, msisdn: '46700009999', imsi: `2400100000${String(i).padStart(5, '0')}` })),
  )
  t.equal(results.filter((r) => r.status === 201).length, 1)
  t.equal(results.filter((r) => r.status === 409).length, 99)
  t.ok(results.filter((r) => r.status === 409).every((r) => r.body.field === 'msisdn'))
  // The losers' IMSIs were rolled back: each can be used now.
  const loserImsi = results.findIndex((r) => r.status === 409)
  const again = await call('POST', '/v1/subscribers', { account: a.id, imsi: `2400100000${String(loserImsi).padStart(5, '0')}` })
  t.equal(again.status, 201)
  t.equal((await call('GET', `/v1/subscribers?account=${a.id}`)).body.subscribers.length, 2)
})

t.test('sessions: listed by account after a charge; abort request for a known session', async (t) => {
  const a = await newAccount({ balance: '10' })
  await call('POST', '/v1/subscribers', { account: a.id, msisdn: '46700000555' })
  const got: unknown[] = []
  const off = ocs.events.on((e) => got.push(e))
  await ocs.charging.initiate({ sessionId: 'api-sess-1', requestId: 'r0', identities: [{ kind: 'msisdn', value: '46700000555' }], protocol: 'diameter', items: [{ serviceContext: '32260@3gpp.org', requested: 60 }] })
  const list = await call('GET', `/v1/sessions?account=${a.id}`)
  t.equal(list.status, 200)
  t.match(list.body.sessions, [{ id: 'api-sess-1', account: a.id, protocol: 'diameter', ratingGroups: [{ service: 'voice', reservedUnits: 60 }] }])
  t.equal((await call('GET', `/v1/accounts/${a.id}`)).body.reserved, '0.100000')
  t.equal((await call('DELETE', '/v1/sessions/api-sess-1')).status, 202)
  await eventArrives(got)
  off()
  t.match(got, [{ type: 'abort', accountId: a.id, sessions: ['api-sess-1'], reason: 'operator' }])
  // Once closed, the session is not found (its index entry outlives it for retransmissions).
  await ocs.charging.terminate({ sessionId: 'api-sess-1', requestId: 'r1', identities: [], protocol: 'diameter', items: [{ serviceContext: '32260@3gpp.org', used: [{ units: 30 }] }] })
  t.equal((await call('DELETE', '/v1/sessions/api-sess-1')).status, 404, 'a closed session: 404')
})

t.test('a top-up tells the front ends which sessions wait on a final unit', async (t) => {
  const a = await newAccount({ balance: '0.05' })
  await call('POST', '/v1/subscribers', { account: a.id, msisdn: '46700000556' })
  const got: Array<{ type: string; sessions: string[] }> = []
  const off = ocs.events.on((e) => got.push(e))
  const r = await ocs.charging.initiate({ sessionId: 'fui-1', requestId: 'f0', identities: [{ kind: 'msisdn', value: '46700000556' }], protocol: 'diameter', items: [{ serviceContext: '32260@3gpp.org', requested: 600 }] })
  t.match(r, { kind: 'ok', outcomes: [{ kind: 'creditLimitReached' }] }, '0.05 does not buy the 60 s first increment')
  const top = await call('POST', `/v1/accounts/${a.id}/topups`, { amount: '5' })
  t.equal(top.body.reauthSessions, 1)
  await eventArrives(got)
  off()
  t.match(got, [{ type: 'reauth', sessions: ['fui-1'], reason: 'topup' }])
})

t.test('OpenAPI document and rendered docs', async (t) => {
  const doc = await (await fetch(`${base}/openapi.json`)).json() as { openapi: string; paths: Record<string, unknown> }
  t.match(doc.openapi, /^3\./)
  for (const p of ['/v1/accounts', '/v1/accounts/{id}', '/v1/accounts/{id}/topups', '/v1/accounts/{id}/balances', '/v1/subscribers', '/v1/sessions', '/v1/sessions/{id}']) t.ok(doc.paths[p], p)
  const docs = await fetch(`${base}/docs/`)
  t.equal(docs.status, 200)
  t.match(await docs.text(), /swagger/i)
})

t.test('plans and rate decks through the API; bad ones refused naming the problem', async (t) => {
  const res = await fetch(`${base}/v1/decks/world`, { method: 'PUT', headers: { authorization: `Bearer ${TEST_API_KEY}`, 'content-type': 'text/csv' }, body: 'prefix,destination,price,first_increment,next_increment,connect_fee\n44,UK,0.10,60,60,0\n447,UK mobile,0.20,1,1,0\n' })
  t.equal(res.status, 200)
  t.same(await res.json(), { id: 'world', prefixes: 2 })
  const bad = await fetch(`${base}/v1/decks/world`, { method: 'PUT', headers: { authorization: `Bearer ${TEST_API_KEY}`, 'content-type': 'text/csv' }, body: '44,UK,zero\n' })
  t.equal(bad.status, 400)
  t.match(await bad.json(), { message: /line 1: price "zero"/ })
  const plan = { id: 'world', version: 2, currency: 'EUR', services: [{ name: 'voice', unit: 'seconds', match: { context: '32260@3gpp.org' }, tariff: { rate: '0.10', per: 60 }, deck: 'world' }] }
  t.match(await call('PUT', '/v1/plans/world', plan), { status: 200, body: { id: 'world', version: 2 } })
  t.match(await call('PUT', '/v1/plans/world', { ...plan, currency: 'eur' }), { status: 400, body: { message: /plan currency: an ISO 4217 code/ } })
  t.match(await call('PUT', '/v1/plans/other', plan), { status: 400, body: { field: 'id' } })
  const list = await call('GET', '/v1/plans')
  t.ok(list.body.plans.some((p: { id: string; version: number }) => p.id === 'world' && p.version === 2))
})

t.test('a closed session reaches the billing store through the in-process CDR worker and the CDR API', async (t) => {
  const a = await newAccount({ balance: '10' })
  await call('POST', '/v1/subscribers', { account: a.id, msisdn: '46700000888' })
  const ids = [{ kind: 'msisdn' as const, value: '46700000888' }]
  await ocs.charging.initiate({ sessionId: 'cdr-e2e', requestId: 'c0', identities: ids, protocol: 'diameter', items: [{ serviceContext: '32260@3gpp.org', requested: 60 }] })
  await ocs.charging.terminate({ sessionId: 'cdr-e2e', requestId: 'c1', identities: ids, protocol: 'diameter', items: [{ serviceContext: '32260@3gpp.org', used: [{ units: 90 }] }] })
  let rows: Array<{ id: string; sessionId: string; total: string; currency: string }> = []
  for (let i = 0; i < 100 && rows.length === 0; i++) {
    await new Promise((r) => setTimeout(r, 50))
    rows = (await call('GET', `/v1/cdrs?account=${a.id}`)).body.cdrs
  }
  t.equal(rows.length, 1)
  t.match(rows[0], { sessionId: 'cdr-e2e', total: '0.150000', currency: 'EUR' })
  const csv = await fetch(`${base}/v1/cdrs.csv?account=${a.id}`, { headers: { authorization: `Bearer ${TEST_API_KEY}` } })
  t.equal(csv.status, 200)
  const lines = (await csv.text()).trim().split('\n')
  t.equal(lines.length, 2, 'header + one row')
  t.match(lines[1], /cdr-e2e/)
  const usage = await call('GET', `/v1/accounts/${a.id}/usage`)
  t.equal(usage.status, 200)
  t.equal((await call('GET', `/v1/cdrs?account=${a.id}`, undefined)).status, 200)
  t.equal((await api(base, '')('GET', `/v1/cdrs?account=${a.id}`)).status, 401, 'the CDR API needs the key too')
})
