// Rating through the whole OCS and its REST API: the plan files under config/plans/ are stored at
// start, a new account's first billing cycle starts on creation (fee charged, allowances granted),
// amounts finer than the account currency are refused, segments and scheduled plan versions are
// visible, and a deck priced in another currency is converted with the plan's exchange rate.
import t from 'tap'
import { startRedis } from '../helpers/redis.js'
import { startTestOcs, api, TEST_API_KEY } from '../helpers/ocs.js'

const redis = await startRedis()
const { ocs, base } = await startTestOcs(redis.url, { plansDir: 'config/plans' })
const call = api(base)
t.teardown(async () => {
  await ocs.stop()
  await redis.stop()
})

t.test('config/plans/example-mobile.yaml is stored at start; an account on it starts its cycle at once', async (t) => {
  const plans = await call('GET', '/v1/plans')
  const ex = plans.body.plans.find((p: { id: string }) => p.id === 'example-mobile')
  t.same([ex.version, ex.currency, ex.services], [1, 'EUR', ['data', 'voice', 'sms', 'broadband']])
  const a = await call('POST', '/v1/accounts', { currency: 'EUR', type: 'prepaid', plan: 'example-mobile', timezone: 'Europe/Paris', balance: '20', segment: 'student' })
  t.equal(a.status, 201)
  t.equal(a.body.segment, 'student')
  t.equal(a.body.balance, '10.010000', 'the 9.99 monthly fee was charged on creation')
  const b = await call('GET', `/v1/accounts/${a.body.id}/balances`)
  const byName = Object.fromEntries(b.body.buckets.filter((x: { id: string }) => x.id.startsWith('bundle:')).map((x: { id: string; amount: string }) => [x.id.split(':')[1], x.amount]))
  t.same(byName, { minutes: '6000', sms: '100', data: '5368709120' })
})

t.test('amounts finer than the account currency are refused with the field named', async (t) => {
  const bad = await call('POST', '/v1/accounts', { currency: 'JPY', type: 'prepaid', plan: 'example-mobile', balance: '100.5' })
  t.equal(bad.status, 400)
  t.match(bad.body.message, /^balance: JPY amounts have 0 decimals/)
  const noPrice = await call('POST', '/v1/accounts', { currency: 'BHD', type: 'prepaid', plan: 'example-mobile', balance: '100.125' })
  t.equal(noPrice.status, 400)
  t.match(noPrice.body.message, /^currency: plan example-mobile has no prices in BHD and no exchange rate for it/)
  const bhd = { id: 'bhd', version: 1, currency: 'BHD', services: [{ name: 'sms', unit: 'events', match: { context: '32274@3gpp.org' }, tariff: { rate: '0.015' } }] }
  t.equal((await call('PUT', '/v1/plans/bhd', bhd)).status, 200)
  const ok = await call('POST', '/v1/accounts', { currency: 'BHD', type: 'prepaid', plan: 'bhd', balance: '100.125' })
  t.equal(ok.status, 201)
  const top = await call('POST', `/v1/accounts/${ok.body.id}/topups`, { amount: '1.0005' })
  t.equal(top.status, 400)
  t.match(top.body.message, /^amount: BHD amounts have 3 decimals/)
})

t.test('a scheduled version is listed and takes over at its time', async (t) => {
  const doc = (version: number, rate: string, activeFrom?: string) => ({
    id: 'sched-api', version, currency: 'EUR', precision: 6, ...(activeFrom ? { activeFrom } : {}),
    services: [{ name: 'sms', unit: 'events', match: { context: '32274@3gpp.org' }, tariff: { rate } }],
  })
  t.equal((await call('PUT', '/v1/plans/sched-api', doc(1, '0.05'))).status, 200)
  const later = new Date(Date.now() + 86_400_000).toISOString()
  t.equal((await call('PUT', '/v1/plans/sched-api', doc(2, '0.07', later))).status, 200)
  const p = (await call('GET', '/v1/plans')).body.plans.find((x: { id: string }) => x.id === 'sched-api')
  t.equal(p.version, 1, 'version 1 is in force')
  t.same(p.scheduled, [{ version: 2, activeFrom: later }])
  const bad = await call('PUT', '/v1/plans/sched-api', { ...doc(3, '0.07'), activeFrom: 'tomorrow' })
  t.equal(bad.status, 400)
  t.match(bad.body.message, /activeFrom/)
})

t.test('a deck priced in USD is converted into the plan currency with the exchange rate', async (t) => {
  const csv = 'prefix,destination,price,first_increment,next_increment,connect_fee\n44,UK,0.108,60,60,0\n'
  const put = await fetch(`${base}/v1/decks/wholesale-usd?currency=USD`, { method: 'PUT', headers: { authorization: `Bearer ${TEST_API_KEY}`, 'content-type': 'text/csv' }, body: csv })
  t.equal(put.status, 200)
  t.same(await put.json(), { id: 'wholesale-usd', prefixes: 1, currency: 'USD' })
  const plan = {
    id: 'roam', version: 1, currency: 'EUR', precision: 6, exchangeRates: { USD: '1.08' },
    services: [{ name: 'voice', unit: 'seconds', match: { context: '32260@3gpp.org' }, tariff: { rate: '1' , per: 60 }, deck: 'wholesale-usd' }],
  }
  t.equal((await call('PUT', '/v1/plans/roam', plan)).status, 200)
  const acct = await call('POST', '/v1/accounts', { currency: 'EUR', type: 'prepaid', plan: 'roam', balance: '10' })
  await call('POST', '/v1/subscribers', { account: acct.body.id, msisdn: '46709990001' })
  const quote = await ocs.charging.priceEnquiry({ requestId: 'q1', identities: [{ kind: 'msisdn', value: '46709990001' }], protocol: 'api', items: [{ serviceContext: '32260@3gpp.org', destination: '+447700900123', units: 60 }] })
  t.ok(quote.kind === 'ok' && quote.outcomes[0].kind === 'priced')
  if (quote.kind === 'ok' && quote.outcomes[0].kind === 'priced') t.equal(quote.outcomes[0].amount, 100_000n, '0.108 USD a minute = 0.10 EUR')
})

t.test('quote: a usage priced under the account plan or another, split at a band change, charging nothing', async (t) => {
  const acct = await call('POST', '/v1/accounts', { currency: 'EUR', type: 'prepaid', plan: 'example-mobile', timezone: 'Europe/Paris', balance: '20' })
  const before = (await call('GET', `/v1/accounts/${acct.body.id}`)).body.balance
  // 19:59:00 Paris on a Wednesday: one minute at peak (0.12), one at off-peak (0.06), VAT inside
  const q = await call('POST', '/v1/rating/quote', { account: acct.body.id, serviceContext: '32260@3gpp.org', units: 120, at: '2026-11-25T18:59:00Z' })
  t.equal(q.status, 200)
  t.same([q.body.plan, q.body.gross, q.body.tax, q.body.parts.length], ['example-mobile', '0.180000', '0.030000', 2])
  t.same(q.body.parts.map((p: { units: number; gross: string }) => [p.units, p.gross]), [[60, '0.120000'], [60, '0.060000']])
  const other = await call('POST', '/v1/rating/quote', { account: acct.body.id, plan: 'nope', serviceContext: '32251@3gpp.org', units: 1 })
  t.equal(other.status, 400)
  t.match(other.body.message, /^plan: no plan "nope"/)
  t.equal((await call('GET', `/v1/accounts/${acct.body.id}`)).body.balance, before, 'nothing charged')
  const bad = await call('POST', '/v1/rating/quote', { account: acct.body.id, serviceContext: 'nothing@3gpp.org', units: 1 })
  t.equal(bad.status, 400)
  t.match(bad.body.message, /^rating failed: /)
})

t.test('rerate: the stored CDRs of an account under another plan, beside what was charged', async (t) => {
  const demo = { id: 'demo-eur', version: 1, currency: 'EUR', precision: 6, services: [{ name: 'data', unit: 'octets', match: { context: '32251@3gpp.org' }, tariff: { rate: '0.01', per: 1048576 } }] }
  const dearer = { ...demo, id: 'dearer', services: [{ ...demo.services[0], tariff: { rate: '0.03', per: 1048576 } }] }
  t.equal((await call('PUT', '/v1/plans/demo-eur', demo)).status, 200)
  t.equal((await call('PUT', '/v1/plans/dearer', dearer)).status, 200)
  const acct = await call('POST', '/v1/accounts', { currency: 'EUR', type: 'prepaid', plan: 'demo-eur', balance: '10' })
  await call('POST', '/v1/subscribers', { account: acct.body.id, msisdn: '46709990002' })
  const ids = [{ kind: 'msisdn' as const, value: '46709990002' }]
  await ocs.charging.initiate({ sessionId: 'rr1', requestId: 'rr1/i', identities: ids, protocol: 'diameter', items: [{ serviceContext: '32251@3gpp.org', ratingGroup: 1, requested: 'default' }] })
  await ocs.charging.terminate({ sessionId: 'rr1', requestId: 'rr1/t', identities: ids, protocol: 'diameter', items: [{ serviceContext: '32251@3gpp.org', ratingGroup: 1, used: [{ units: 4 * 1_048_576 }] }] })
  for (let i = 0; i < 100 && (await call('GET', `/v1/cdrs?account=${acct.body.id}`)).body.cdrs.length === 0; i++) await new Promise((r) => setTimeout(r, 100))
  const r = await call('POST', '/v1/rating/rerate', { account: acct.body.id, plan: 'dearer' })
  t.equal(r.status, 200)
  t.same([r.body.cdrs, r.body.charged, r.body.rerated, r.body.difference], [1, '0.040000', '0.120000', '0.080000'])
  t.same(r.body.services, [{ service: 'data', cdrs: 1, charged: '0.040000', rerated: '0.120000' }])
  t.same(r.body.failed, [])
})
