// The plan's fair-usage policy on the wire: below the cycle limit grants stop at it; once it is
// passed every MSCC grant carries Final-Unit-Indication RESTRICT_ACCESS with the plan's Filter-Id
// (or REDIRECT with its Redirect-Server), and the octets keep being charged at the plan price.
import t from 'tap'
import { startDiameterEnv } from '../helpers/diameter-env.js'
import { makeAccount, money } from '../helpers/core.js'
import { ccrAvps, resultCode, msccs, granted, findAvp, childrenOf, avpNumber } from '../helpers/diameter-client.js'
import type { PlanDocument } from '../../src/rating/plan.js'

const MiB = 1_048_576
const plan = (id: string, fairUsage: NonNullable<PlanDocument['fairUsage']>): PlanDocument => ({
  id, version: 1, currency: 'EUR', precision: 6, fairUsage,
  services: [{ name: 'data', unit: 'octets', match: { context: '32251@3gpp.org' }, tariff: { rate: '0.010000', per: MiB }, quota: 4 * MiB }],
})

t.test('fair usage over Gy', async (t) => {
  const env = await startDiameterEnv(t)
  const store = env.core.store
  await store.putPlan(plan('fup-restrict', { octets: 6 * MiB, action: 'restrict', filterId: 'throttle-256k' }))
  await store.putPlan(plan('fup-redirect', { octets: 6 * MiB, action: 'redirect', redirectUrl: 'http://portal.example/fup' }))
  const c = await env.connect()

  await t.test('restrict: Filter-Id inside the MSCC once the limit is passed', async (t) => {
    const { accountId, msisdn } = await makeAccount(store, { balance: 10_000_000n, plan: 'fup-restrict' })
    const sid = 'pgw;fup;1'
    let a = await c.ccr(ccrAvps({ sessionId: sid, type: 1, number: 0, msisdn, mscc: [{ rg: 1, rsu: {} }] }))
    let [m] = msccs(a)
    t.same([resultCode(a), granted(m)], [2001, { total: 4 * MiB }])
    t.equal(findAvp(m, 'Final-Unit-Indication'), undefined)
    a = await c.ccr(ccrAvps({ sessionId: sid, type: 2, number: 1, msisdn, mscc: [{ rg: 1, rsu: {}, usu: { total: 4 * MiB } }] }))
    ;[m] = msccs(a)
    t.same(granted(m), { total: 2 * MiB }, 'the grant stops at the 6 MiB limit')
    t.equal(findAvp(m, 'Final-Unit-Indication'), undefined)
    a = await c.ccr(ccrAvps({ sessionId: sid, type: 2, number: 2, msisdn, mscc: [{ rg: 1, rsu: {}, usu: { total: 2 * MiB } }] }))
    ;[m] = msccs(a)
    t.same([resultCode(m), granted(m)], [2001, { total: 4 * MiB }])
    const fui = childrenOf(findAvp(m, 'Final-Unit-Indication'))
    t.equal(avpNumber(findAvp(fui, 'Final-Unit-Action')), 2, 'RESTRICT_ACCESS')
    t.equal(findAvp(fui, 'Filter-Id')?.value?.toString(), 'throttle-256k')
    a = await c.ccr(ccrAvps({ sessionId: sid, type: 3, number: 3, msisdn, mscc: [{ rg: 1, usu: { total: MiB } }] }))
    t.equal(resultCode(a), 2001)
    t.same(await money(store, accountId), { balance: 10_000_000n - 7n * 10_000n, reserved: 0n }, '7 MiB charged at 0.01')
  })

  await t.test('redirect: Redirect-Server with the plan URL', async (t) => {
    const { msisdn } = await makeAccount(store, { balance: 10_000_000n, plan: 'fup-redirect' })
    const sid = 'pgw;fup;2'
    await c.ccr(ccrAvps({ sessionId: sid, type: 1, number: 0, msisdn, mscc: [{ rg: 1, rsu: {} }] }))
    const a = await c.ccr(ccrAvps({ sessionId: sid, type: 2, number: 1, msisdn, mscc: [{ rg: 1, rsu: {}, usu: { total: 7 * MiB } }] }))
    const [m] = msccs(a)
    const fui = childrenOf(findAvp(m, 'Final-Unit-Indication'))
    t.equal(avpNumber(findAvp(fui, 'Final-Unit-Action')), 1, 'REDIRECT')
    const rs = childrenOf(findAvp(fui, 'Redirect-Server'))
    t.equal(findAvp(rs, 'Redirect-Server-Address')?.value?.toString(), 'http://portal.example/fup')
  })
})
