// Gy rating groups as the plan sees them: one the plan rates by time under the data
// Service-Context-Id is charged its CC-Time, not its octets (the unit is the plan's, which the
// front end cannot know before rating); one Rating-Group named in two MSCCs of a CCR gets one grant
// (RFC 4006 §5.1.2: one quota per rating group), so the client never holds more than is reserved.
import t from 'tap'
import type { PlanDocument } from '../../src/rating/plan.js'
import { allCdrs, makeAccount, money } from '../helpers/core.js'
import { startDiameterEnv } from '../helpers/diameter-env.js'
import { ccrAvps, granted, msccs, resultCode } from '../helpers/diameter-client.js'

const PLAN: PlanDocument = {
  id: 'timepass',
  version: 1,
  currency: 'EUR',
  precision: 6,
  services: [
    { name: 'pass', unit: 'seconds', match: { context: '32251@3gpp.org', ratingGroups: [7] }, tariff: { rate: '0.060000', per: 60 } },
    { name: 'data', unit: 'octets', match: { context: '32251@3gpp.org' }, tariff: { rate: '0.010000', per: 1048576 } },
  ],
}

t.test('time-rated Gy rating group', async (t) => {
  const env = await startDiameterEnv(t)
  const store = env.core.store
  await store.putPlan(PLAN)
  const c = await env.connect()
  const { accountId, msisdn } = await makeAccount(store, { balance: 1_000_000n, plan: 'timepass' })
  const sid = 'pgw.zz;timepass;1'
  let a = await c.ccr(ccrAvps({ sessionId: sid, type: 1, number: 0, msisdn, mscc: [{ rg: 7, rsu: {} }] }))
  t.same([resultCode(a), granted(msccs(a)[0])], [2001, { time: 60 }], 'granted 60 s (CC-Time)')
  t.same(await money(store, accountId), { balance: 940_000n, reserved: 60_000n })
  // 60 s used, 1 MB moved meanwhile.
  a = await c.ccr(ccrAvps({ sessionId: sid, type: 3, number: 1, msisdn, mscc: [{ rg: 7, usu: { time: 60, input: 100_000, output: 900_000 } }], terminationCause: 1 }))
  t.equal(resultCode(a), 2001)
  const m = await money(store, accountId)
  t.same(m, { balance: 940_000n, reserved: 0n }, '60 s charged: 0.06 EUR')
  const cdr = (await allCdrs(env.client)).find((x) => x.sessionId === sid)
  t.equal(cdr?.used, '60', `CDR used = 60 seconds (got ${cdr?.used})`)
})

const MiB = 1048576

t.test('one Rating-Group in two MSCCs: one grant, the other MSCC answered without one; the usage of both charged', async (t) => {
  const env = await startDiameterEnv(t)
  const store = env.core.store
  const c = await env.connect()
  // 0.02 EUR buys exactly 2 MiB on the demo plan.
  const { accountId, msisdn } = await makeAccount(store, { balance: 20_000n })
  const sid = 'pgw;rg-twice;1'
  const a = await c.ccr(ccrAvps({ sessionId: sid, type: 1, number: 0, msisdn, mscc: [{ rg: 1, rsu: { total: MiB } }, { rg: 1, rsu: { total: MiB } }] }))
  t.same(msccs(a).map((m) => [resultCode(m), granted(m)?.total]), [[2001, MiB], [2001, undefined]], 'the first MSCC granted 1 MiB, the second no grant')
  t.same(await money(store, accountId), { balance: 10_000n, reserved: 10_000n }, 'one grant reserved')
  // The client reports its usage in two MSCCs of the rating group: both are charged, one new grant.
  const u = await c.ccr(ccrAvps({ sessionId: sid, type: 2, number: 1, msisdn, mscc: [{ rg: 1, usu: { total: MiB / 2 }, rsu: { total: MiB } }, { rg: 1, usu: { total: MiB / 2 } }] }))
  t.same(msccs(u).map((m) => [resultCode(m), granted(m)?.total]), [[2001, MiB], [2001, undefined]])
  t.same(await money(store, accountId), { balance: 0n, reserved: 10_000n }, '1 MiB charged, 1 MiB reserved')
  const tr = await c.ccr(ccrAvps({ sessionId: sid, type: 3, number: 2, msisdn, mscc: [{ rg: 1, usu: { total: MiB } }], terminationCause: 1 }))
  t.equal(resultCode(tr), 2001)
  t.same(await money(store, accountId), { balance: 0n, reserved: 0n }, '2 MiB charged in all')
  const cdr = (await allCdrs(env.client)).find((x) => x.sessionId === sid)
  t.equal(cdr?.used, String(2 * MiB), 'the CDR holds both MSCCs\' usage')
})
