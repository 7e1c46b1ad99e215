// src/radius/quota.ts sizes what a NAS without CoA (pppd) may use on its own (Session-Timeout, a
// vendor volume cap): as the charging script sizes a grant, the connection fee included and money
// buckets scoped to other services left out (it took balance × 2^30 / price(2^30 octets) before).
import t from 'tap'
import { startRedis } from '../helpers/redis.js'
import { makeCore, newRedis } from '../helpers/core.js'
import { quote } from '../../src/radius/quota.js'
import { compilePlan, type PlanDocument } from '../../src/rating/plan.js'
import { affordable } from '../../src/rating/engine.js'

const PLAN: PlanDocument = {
  id: 'bbfee', version: 1, currency: 'EUR', precision: 6,
  services: [
    { name: 'broadband', unit: 'octets', match: { radius: '*' }, tariff: { rate: '0.005', per: 1_048_576, fee: '1.00' } },
    { name: 'sms', unit: 'events', match: { context: '32274@3gpp.org' }, tariff: { rate: '0.05' } },
  ],
}

const redis = await startRedis()
const client = newRedis(redis.port)
t.teardown(async () => {
  client.disconnect()
  await redis.stop()
})

t.test('RADIUS quote with a 1.00 connection fee and 1.00 of balance: nothing is affordable beyond the fee', async (t) => {
  const core = await makeCore(client, {}, [PLAN])
  const acct = await core.store.createAccount(
    { currency: 'EUR', type: 'prepaid', plan: 'bbfee', timezone: 'Europe/Paris', language: 'en', taxRegion: 'none', country: 'FR', status: 'active', creditLimit: 0n },
    1_000_000n,
  )
  await core.store.createSubscriber({ account: acct.id, username: 'rq1' })
  const account = (await core.store.getAccount(acct.id))!
  const ids = [{ kind: 'username' as const, value: 'rq1' }]
  const q = await quote(core.charging, ids, account)
  const exact = affordable(1_000_000n, { service: { radiusService: 'default' } }, compilePlan(PLAN), { currency: 'EUR', timezone: 'Europe/Paris' }, () => Date.now())
  t.equal(exact, 0, 'the engine: 1.00 pays the fee and nothing more')
  t.equal(q.kind, 'ok')
  t.equal(q.kind === 'ok' ? q.affordable : -1, exact, `RADIUS quote says ${q.kind === 'ok' ? q.affordable : '-'} octets affordable`)
})

t.test('RADIUS quote does not count a money bucket that only pays for SMS', async (t) => {
  const core = await makeCore(client, {}, [{ ...PLAN, id: 'bbsms', services: [{ ...PLAN.services[0], tariff: { rate: '0.005', per: 1_048_576 } }, PLAN.services[1]] }])
  const acct = await core.store.createAccount(
    { currency: 'EUR', type: 'prepaid', plan: 'bbsms', timezone: 'Europe/Paris', language: 'en', taxRegion: 'none', country: 'FR', status: 'active', creditLimit: 0n },
    0n,
  )
  await core.store.addBucket(acct.id, { id: 'sms-money', kind: 'money', amount: 10_000_000n, scope: ['sms'], priority: 0 })
  await core.store.createSubscriber({ account: acct.id, username: 'rq2' })
  const account = (await core.store.getAccount(acct.id))!
  const q = await quote(core.charging, [{ kind: 'username', value: 'rq2' }], account)
  t.equal(q.kind === 'ok' ? q.affordable : -1, 0, `no money for broadband, yet the quote says ${q.kind === 'ok' ? q.affordable : '-'} octets`)
  // and the charging core agrees with 0: a session gets no grant
  const i = await core.charging.initiate({ sessionId: 'rq2s', requestId: 'rq2s/0', identities: [{ kind: 'username', value: 'rq2' }], protocol: 'radius', items: [{ radiusService: 'default', requested: 'default' }] })
  t.match(i, { kind: 'ok', outcomes: [{ kind: 'creditLimitReached' }] }, 'the core grants nothing')
})

t.test('RADIUS quote for an identity no CDR could hold (NUL): nobody we know', async (t) => {
  const core = await makeCore(client, {}, [PLAN])
  const acct = await core.store.createAccount(
    { currency: 'EUR', type: 'prepaid', plan: 'bbfee', timezone: 'Europe/Paris', language: 'en', taxRegion: 'none', country: 'FR', status: 'active', creditLimit: 0n },
    5_000_000n,
  )
  const account = (await core.store.getAccount(acct.id))!
  t.same(await quote(core.charging, [{ kind: 'username', value: 'rq\u00003' }], account), { kind: 'unknownSubscriber' })
})
