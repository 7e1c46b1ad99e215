// EVENT / CHECK_BALANCE (RFC 4006 §5.2, §8.42 Check-Balance-Result): ENOUGH_CREDIT means a
// DIRECT_DEBITING of the same request would be served; NO_CREDIT that it would not.
import t from 'tap'
import { avpNumber, findAvp } from '../../src/diameter/codec.js'
import type { PlanDocument } from '../../src/rating/plan.js'
import { allCdrs, makeAccount, money } from '../helpers/core.js'
import { startDiameterEnv } from '../helpers/diameter-env.js'
import { ccrAvps, msccs, resultCode } from '../helpers/diameter-client.js'

const PLAN: PlanDocument = {
  id: 'sms-mms',
  version: 1,
  currency: 'EUR',
  precision: 6,
  services: [
    { name: 'sms', unit: 'events', match: { context: '32274@3gpp.org' }, tariff: { rate: '0.050000', per: 1 } },
    { name: 'mms', unit: 'events', match: { context: '32270@3gpp.org' }, tariff: { rate: '0.200000', per: 1 } },
  ],
}

t.test('CHECK_BALANCE agrees with DIRECT_DEBITING', async (t) => {
  const env = await startDiameterEnv(t)
  const store = env.core.store
  await store.putPlan(PLAN)
  const c = await env.connect()
  const check = async (msisdn: string, sid: string) => {
    const a = await c.ccr(ccrAvps({ context: '32274@3gpp.org', msisdn, sessionId: sid, type: 4, number: 0, requestedAction: 2, mscc: [{ si: 1, rsu: { ssu: 1 } }] }))
    return avpNumber(findAvp(a.avps, 'Check-Balance-Result'))
  }
  const debit = async (msisdn: string, sid: string) => {
    const a = await c.ccr(ccrAvps({ context: '32274@3gpp.org', msisdn, sessionId: sid, type: 4, number: 0, requestedAction: 0, mscc: [{ si: 1, rsu: { ssu: 1 } }] }))
    return resultCode(msccs(a)[0])
  }

  await t.test('postpaid account within its credit limit', async (t) => {
    const { accountId, msisdn } = await makeAccount(store, { balance: 0n, type: 'postpaid', creditLimit: 10_000_000n })
    const cbr = await check(msisdn, 'smsc;cb;1')
    t.same(await money(store, accountId), { balance: 0n, reserved: 0n }, 'the check charges nothing')
    t.equal((await allCdrs(env.client)).filter((x) => x.account === accountId).length, 0, 'and writes no CDR')
    const rc = await debit(msisdn, 'smsc;cb;2')
    t.equal(rc, 2001, 'the SMS is debited (within the 10 EUR credit limit)')
    t.equal(cbr, 0, `so CHECK_BALANCE said ENOUGH_CREDIT (0) (got ${cbr})`)
  })

  await t.test('an SMS bundle only usable for another service (MMS)', async (t) => {
    const { accountId, msisdn } = await makeAccount(store, { balance: 0n, plan: 'sms-mms' })
    await store.addBucket(accountId, { kind: 'events', amount: 100n, scope: ['mms'], priority: 10 })
    const cbr = await check(msisdn, 'smsc;cb;3')
    const rc = await debit(msisdn, 'smsc;cb;4')
    t.equal(rc, 4012, 'the SMS is refused: no money, and the bundle is for MMS only')
    t.equal(cbr, 1, `so CHECK_BALANCE said NO_CREDIT (1) (got ${cbr})`)
  })
})
