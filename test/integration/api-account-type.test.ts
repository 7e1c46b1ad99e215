// PATCH /v1/accounts/{id} {"type":"prepaid"} on a postpaid account drops its credit limit: the
// charging scripts honour whatever limit is stored, so a kept one would let the now-prepaid
// account be charged below zero.
import t from 'tap'
import { startRedis } from '../helpers/redis.js'
import { startTestOcs, api } from '../helpers/ocs.js'

const redis = await startRedis()
const { ocs, base } = await startTestOcs(redis.url)
const call = api(base)
t.teardown(async () => {
  await ocs.stop()
  await redis.stop()
})

t.test('a postpaid account turned prepaid has no credit limit and cannot go below 0', async (t) => {
  const plan = { id: 'smsonly', version: 1, currency: 'EUR', services: [{ name: 'sms', unit: 'events', match: { context: '32274@3gpp.org' }, tariff: { rate: '0.05' } }] }
  t.equal((await call('PUT', '/v1/plans/smsonly', plan)).status, 200)
  const a = await call('POST', '/v1/accounts', { currency: 'EUR', type: 'postpaid', plan: 'smsonly', timezone: 'Europe/Paris', creditLimit: '50', balance: '0' })
  t.equal(a.status, 201)
  const p = await call('PATCH', `/v1/accounts/${a.body.id}`, { type: 'prepaid' })
  t.equal(p.status, 200)
  t.equal(p.body.type, 'prepaid')
  t.equal(p.body.creditLimit, '0.000000', `a prepaid account's credit limit (got ${p.body.creditLimit})`)
  const s = await call('POST', '/v1/subscribers', { account: a.body.id, msisdn: '46700009999' })
  t.equal(s.status, 201)
  // one SMS (0.05) with a balance of 0
  const ev = await ocs.charging.event({ requestId: 'sms-1', identities: [{ kind: 'msisdn', value: '46700009999' }], protocol: 'diameter', items: [{ serviceContext: '32274@3gpp.org', units: 1 }] })
  t.equal(ev.kind, 'ok')
  t.equal(ev.kind === 'ok' ? ev.outcomes[0]?.kind : undefined, 'creditLimitReached', 'a prepaid account with 0 cannot buy an SMS')
  const g = await call('GET', `/v1/accounts/${a.body.id}`)
  t.equal(g.body.balance, '0.000000', `prepaid balance stays at 0 (got ${g.body.balance})`)
})
