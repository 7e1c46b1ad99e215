// Credit control over a real socket against real Redis: CCR → core → CCA, with the balance asserted
// after every step. Covers MSCC lists with per-MSCC results, final units, events, errors, duplicates.
import t from 'tap'
import { encode, avpNumber, avpString, findAvp, findAvps, childrenOf, findAvpPath, type DiameterMessage, type AvpInput } from '../../src/diameter/codec.js'
import type { PlanDocument } from '../../src/rating/plan.js'
import { allCdrs, makeAccount, money } from '../helpers/core.js'
import { startDiameterEnv, metricValue } from '../helpers/diameter-env.js'
import { DiameterTestClient, ccrAvps, granted, msccs, resultCode } from '../helpers/diameter-client.js'

const MiB = 1048576

type TT = Parameters<Extract<Parameters<typeof t.test>[0], (...args: never[]) => unknown>>[0]

/** Every CCA, errors included, echoes these (Open5GS asserts CC-Request-Type/-Number). */
function echoes(t: TT, a: DiameterMessage, sessionId: string, type: number, num: number): void {
  t.equal(avpString(findAvp(a.avps, 'Session-Id')), sessionId, 'Session-Id echoed')
  t.equal(a.avps[0]?.name, 'Session-Id', 'Session-Id first')
  t.equal(avpNumber(findAvp(a.avps, 'Auth-Application-Id')), 4, 'Auth-Application-Id 4')
  t.equal(avpNumber(findAvp(a.avps, 'CC-Request-Type')), type, 'CC-Request-Type echoed')
  t.equal(avpNumber(findAvp(a.avps, 'CC-Request-Number')), num, 'CC-Request-Number echoed')
  t.equal(avpString(findAvp(a.avps, 'Origin-Host')), 'ocs.localdomain')
  t.equal(avpString(findAvp(a.avps, 'Origin-Realm')), 'localdomain')
}

const TWO_RG: PlanDocument = {
  id: 'two-rg',
  version: 1,
  currency: 'EUR',
  precision: 6, // micro-unit charges: the half-MiB grants below cost 0.005
  services: [
    { name: 'social', unit: 'octets', match: { context: '32251@3gpp.org', ratingGroups: [20] }, tariff: { rate: '0.010000', per: MiB }, quota: MiB },
    { name: 'data', unit: 'octets', match: { context: '32251@3gpp.org' }, tariff: { rate: '0.010000', per: MiB }, quota: MiB },
  ],
}

t.test('Gy over a socket', async (t) => {
  const env = await startDiameterEnv(t)
  const store = env.core.store
  await store.putPlan(TWO_RG)
  const c = await env.connect()
  t.equal(resultCode(c.cea), 2001)

  await t.test('two rating groups: one runs out (FUI TERMINATE, then per-MSCC 4012), the other goes on', async (t) => {
    const { accountId, msisdn } = await makeAccount(store, { balance: 25_000n, plan: 'two-rg' })
    await store.addBucket(accountId, { kind: 'octets', amount: BigInt(10 * MiB), scope: ['social'], priority: 10 })
    const sid = 'pgw.test;1;two-rg'
    const unitsLeft = async () => (await store.buckets(accountId)).find((b) => b.kind === 'octets')!.amount
    const step = async (type: 1 | 2 | 3, num: number, rg10: object, rg20: object) => {
      const a = await c.ccr(ccrAvps({ sessionId: sid, type, number: num, msisdn, mscc: [{ rg: 10, ...rg10 }, { rg: 20, ...rg20 }] }))
      echoes(t, a, sid, type, num)
      return a
    }

    // CCR-I: RG 10 reserves 1 MiB of money (0.01), RG 20 1 MiB of its free bucket.
    let a = await step(1, 0, { rsu: {} }, { rsu: {} })
    t.equal(resultCode(a), 2001)
    let [m10, m20] = msccs(a)
    t.same([avpNumber(findAvp(m10, 'Rating-Group')), resultCode(m10), granted(m10)], [10, 2001, { total: MiB }])
    t.same([avpNumber(findAvp(m20, 'Rating-Group')), resultCode(m20), granted(m20)], [20, 2001, { total: MiB }])
    t.equal(avpNumber(findAvp(m10, 'Validity-Time')), 900, 'Validity-Time in the MSCC')
    t.equal(avpNumber(findAvp(m10, 'Volume-Quota-Threshold')), Math.floor(MiB * 0.2), 'Volume-Quota-Threshold 20 %')
    t.equal(findAvp(m10, 'Final-Unit-Indication'), undefined)
    t.same(await money(store, accountId), { balance: 15_000n, reserved: 10_000n })
    t.equal(await unitsLeft(), BigInt(9 * MiB))

    // CCR-U: both report 1 MiB (RG 10 as input + output only) and ask again.
    a = await step(2, 1, { rsu: {}, usu: { input: MiB / 2, output: MiB / 2 } }, { rsu: {}, usu: { total: MiB, reason: 3 } })
    t.equal(resultCode(a), 2001)
    ;[m10, m20] = msccs(a)
    t.same([granted(m10), granted(m20)], [{ total: MiB }, { total: MiB }])
    t.same(await money(store, accountId), { balance: 5_000n, reserved: 10_000n }, '0.01 charged, 0.01 held')
    t.equal(await unitsLeft(), BigInt(8 * MiB))

    // CCR-U: only 0.005 left after this report: RG 10 gets its last 0.5 MiB with FUI TERMINATE.
    a = await step(2, 2, { rsu: {}, usu: { total: MiB } }, { rsu: {}, usu: { total: MiB } })
    ;[m10, m20] = msccs(a)
    t.same([resultCode(a), resultCode(m10), granted(m10)], [2001, 2001, { total: MiB / 2 }])
    const fui = childrenOf(findAvp(m10, 'Final-Unit-Indication'))
    t.equal(avpNumber(findAvp(fui, 'Final-Unit-Action')), 0, 'Final-Unit-Action TERMINATE inside the RG 10 MSCC')
    t.equal(findAvp(m20, 'Final-Unit-Indication'), undefined, 'RG 20 has no final unit')
    t.same(await money(store, accountId), { balance: 0n, reserved: 5_000n })

    // CCR-U: RG 10 used its final units: 4012 in its MSCC, RG 20 carries on; the CCA is 2001.
    a = await step(2, 3, { rsu: {}, usu: { total: MiB / 2, reason: 3 } }, { rsu: {}, usu: { total: MiB } })
    ;[m10, m20] = msccs(a)
    t.equal(resultCode(a), 2001, 'command-level success: one MSCC still served')
    t.same([resultCode(m10), granted(m10)], [4012, undefined], 'RG 10: DIAMETER_CREDIT_LIMIT_REACHED, no GSU')
    t.same([resultCode(m20), granted(m20)], [2001, { total: MiB }])
    t.same(await money(store, accountId), { balance: 0n, reserved: 0n })
    t.equal(await unitsLeft(), BigInt(6 * MiB))

    // CCR-T: RG 20 reports its last 0.25 MiB; everything is released, one CDR per rating group.
    a = await c.ccr(ccrAvps({ sessionId: sid, type: 3, number: 4, msisdn, mscc: [{ rg: 20, usu: { total: MiB / 4, reason: 2 } }], terminationCause: 1 }))
    echoes(t, a, sid, 3, 4)
    t.equal(resultCode(a), 2001)
    t.same(await money(store, accountId), { balance: 0n, reserved: 0n })
    t.equal(await unitsLeft(), BigInt(7 * MiB - MiB / 4), 'the unused part of the grant back in the bucket')
  })

  await t.test('single MSCC: final unit, then 4012 for the whole CCA', async (t) => {
    const { accountId, msisdn } = await makeAccount(store, { balance: 60_000n })
    const sid = 'pgw.test;2;fui'
    let a = await c.ccr(ccrAvps({ sessionId: sid, type: 1, number: 0, msisdn, mscc: [{ rg: 1, rsu: { total: 5 * MiB } }] }))
    let [m] = msccs(a)
    t.same([resultCode(a), granted(m)], [2001, { total: 5 * MiB }])
    t.same(await money(store, accountId), { balance: 10_000n, reserved: 50_000n })
    a = await c.ccr(ccrAvps({ sessionId: sid, type: 2, number: 1, msisdn, mscc: [{ rg: 1, rsu: { total: 5 * MiB }, usu: { total: 5 * MiB } }] }))
    ;[m] = msccs(a)
    t.same([resultCode(a), granted(m)], [2001, { total: MiB }])
    t.equal(avpNumber(findAvpPath(m, ['Final-Unit-Indication', 'Final-Unit-Action'])), 0, 'FUI TERMINATE')
    t.same(await money(store, accountId), { balance: 0n, reserved: 10_000n })
    a = await c.ccr(ccrAvps({ sessionId: sid, type: 2, number: 2, msisdn, mscc: [{ rg: 1, rsu: {}, usu: { total: MiB, reason: 3 } }] }))
    ;[m] = msccs(a)
    echoes(t, a, sid, 2, 2)
    t.same([resultCode(a), resultCode(m), granted(m)], [4012, 4012, undefined])
    t.same(await money(store, accountId), { balance: 0n, reserved: 0n })
    a = await c.ccr(ccrAvps({ sessionId: sid, type: 3, number: 3, msisdn, mscc: [{ rg: 1, usu: { total: 0 } }] }))
    t.equal(resultCode(a), 2001)
  })

  await t.test('SMS events: direct debit, refund, check balance, price enquiry', async (t) => {
    const { accountId, msisdn } = await makeAccount(store, { balance: 1_000_000n })
    const sms = { context: '32274@3gpp.org', msisdn }
    const recipient: AvpInput = {
      name: 'Service-Information',
      value: [{ name: 'SMS-Information', value: [{ name: 'Recipient-Info', value: [{ name: 'Recipient-Address', value: [{ name: 'Address-Type', value: 1 }, { name: 'Address-Data', value: '+33 6 12 34 56 78' }] }] }] }],
    }
    // DIRECT_DEBITING with an MSCC
    let a = await c.ccr(ccrAvps({ ...sms, sessionId: 'smsc;1', type: 4, number: 0, requestedAction: 0, mscc: [{ si: 1, rsu: { ssu: 1 } }], extra: [recipient] }))
    echoes(t, a, 'smsc;1', 4, 0)
    let [m] = msccs(a)
    t.same([resultCode(a), resultCode(m), granted(m)], [2001, 2001, { ssu: 1 }])
    t.same(await money(store, accountId), { balance: 950_000n, reserved: 0n }, '0.05 debited')
    // DIRECT_DEBITING, single-service: top-level RSU and GSU
    a = await c.ccr(ccrAvps({ ...sms, sessionId: 'smsc;2', type: 4, number: 0, requestedAction: 0, rsu: { ssu: 2 } }))
    t.same([resultCode(a), granted(a.avps)], [2001, { ssu: 2 }])
    t.same(await money(store, accountId), { balance: 850_000n, reserved: 0n })
    // REFUND_ACCOUNT of one SMS
    a = await c.ccr(ccrAvps({ ...sms, sessionId: 'smsc;3', type: 4, number: 0, requestedAction: 1, mscc: [{ si: 1, rsu: { ssu: 1 } }] }))
    t.equal(resultCode(a), 2001)
    t.same(await money(store, accountId), { balance: 900_000n, reserved: 0n }, '0.05 refunded')
    // CHECK_BALANCE
    a = await c.ccr(ccrAvps({ ...sms, sessionId: 'smsc;4', type: 4, number: 0, requestedAction: 2, mscc: [{ si: 1, rsu: { ssu: 1 } }] }))
    echoes(t, a, 'smsc;4', 4, 0)
    t.same([resultCode(a), avpNumber(findAvp(a.avps, 'Check-Balance-Result'))], [2001, 0], 'ENOUGH_CREDIT')
    const poor = await makeAccount(store, { balance: 0n })
    a = await c.ccr(ccrAvps({ context: '32274@3gpp.org', msisdn: poor.msisdn, sessionId: 'smsc;5', type: 4, number: 0, requestedAction: 2 }))
    t.same([resultCode(a), avpNumber(findAvp(a.avps, 'Check-Balance-Result'))], [2001, 1], 'NO_CREDIT')
    // PRICE_ENQUIRY for 3 SMS: 0.15 EUR = 15 × 10^-2, ISO 4217 978
    a = await c.ccr(ccrAvps({ ...sms, sessionId: 'smsc;6', type: 4, number: 0, requestedAction: 3, mscc: [{ si: 1, rsu: { ssu: 3 } }] }))
    t.equal(resultCode(a), 2001)
    const cost = childrenOf(findAvp(a.avps, 'Cost-Information'))
    t.equal(avpNumber(findAvpPath(cost, ['Unit-Value', 'Value-Digits'])), 15)
    t.equal(avpNumber(findAvpPath(cost, ['Unit-Value', 'Exponent'])), -2)
    t.equal(avpNumber(findAvp(cost, 'Currency-Code')), 978)
    t.same(await money(store, accountId), { balance: 900_000n, reserved: 0n }, 'enquiries change nothing')
    // Out of money: the debit is refused with 4012
    a = await c.ccr(ccrAvps({ context: '32274@3gpp.org', msisdn: poor.msisdn, sessionId: 'smsc;7', type: 4, number: 0, mscc: [{ si: 1, rsu: { ssu: 1 } }] }))
    t.same([resultCode(a), resultCode(msccs(a)[0])], [4012, 4012])
  })

  await t.test('an SMS event naming its service twice: each MSCC its own result', async (t) => {
    // The balance affords one SMS: the first MSCC is debited, the second refused (each is all or nothing).
    const { accountId, msisdn } = await makeAccount(store, { balance: 50_000n })
    const a = await c.ccr(ccrAvps({ context: '32274@3gpp.org', msisdn, sessionId: 'smsc;twice', type: 4, number: 0, requestedAction: 0, mscc: [{ si: 1, rsu: { ssu: 1 } }, { si: 1, rsu: { ssu: 1 } }] }))
    echoes(t, a, 'smsc;twice', 4, 0)
    const [first, second] = msccs(a)
    t.same([resultCode(first), granted(first)], [2001, { ssu: 1 }], 'the first debited')
    t.same([resultCode(second), granted(second)], [4012, undefined], 'the second refused')
    t.same(await money(store, accountId), { balance: 0n, reserved: 0n })
  })

  await t.test('unknown subscriber: 5030 with the request echoed', async (t) => {
    const a = await c.ccr(ccrAvps({ sessionId: 'pgw;nobody', type: 1, number: 0, msisdn: '46799999999', mscc: [{ rg: 1, rsu: {} }] }))
    t.equal(resultCode(a), 5030)
    t.equal(a.flags.error, false, 'a permanent failure, not a protocol error')
    echoes(t, a, 'pgw;nobody', 1, 0)
    const e = await c.ccr(ccrAvps({ sessionId: 'sms;nobody', context: '32274@3gpp.org', type: 4, number: 0, msisdn: '46799999999', rsu: { ssu: 1 } }))
    t.equal(resultCode(e), 5030)
    echoes(t, e, 'sms;nobody', 4, 0)
  })

  await t.test('a retransmission (T flag, same End-to-End) and a repeated CC-Request-Number are charged once', async (t) => {
    const { accountId, msisdn } = await makeAccount(store, { balance: 1_000_000n })
    const sid = 'pgw.test;3;dup'
    await c.ccr(ccrAvps({ sessionId: sid, type: 1, number: 0, msisdn, mscc: [{ rg: 1, rsu: { total: MiB } }] }))
    t.same(await money(store, accountId), { balance: 990_000n, reserved: 10_000n })
    const e2e = DiameterTestClient.nextEndToEnd()
    const avps = ccrAvps({ sessionId: sid, type: 2, number: 1, msisdn, mscc: [{ rg: 1, rsu: { total: MiB }, usu: { total: MiB } }] })
    const first = await c.ccr(avps, { endToEnd: e2e })
    t.same(await money(store, accountId), { balance: 980_000n, reserved: 10_000n })
    const hbh = c.nextHopByHop()
    const again = await c.requestBytes(encode({ flags: { request: true, proxiable: true, retransmit: true }, commandCode: 272, applicationId: 4, hopByHop: hbh, endToEnd: e2e, avps }), hbh)
    t.equal(again.hopByHop, hbh, 'answered with the retransmission hop-by-hop')
    t.same(again.avps, first.avps, 'the same answer')
    t.same(await money(store, accountId), { balance: 980_000n, reserved: 10_000n }, 'charged once')
    // Same CC-Request-Number, new End-to-End (e.g. resent after a failover to another connection)
    const third = await c.ccr(avps)
    t.same(third.avps, first.avps, 'the stored answer again')
    t.same(await money(store, accountId), { balance: 980_000n, reserved: 10_000n }, 'still charged once')
    const both = await Promise.all([c.ccr(avps, { endToEnd: 77 }), c.ccr(avps, { endToEnd: 77, flags: { retransmit: true } })])
    t.same(both[0].avps, both[1].avps, 'a retransmission of a request still in flight gets the same answer')
    await c.ccr(ccrAvps({ sessionId: sid, type: 3, number: 2, msisdn, mscc: [{ rg: 1, usu: { total: 0 } }] }))
    t.same(await money(store, accountId), { balance: 990_000n, reserved: 0n })
  })

  await t.test('a late copy of an older CCR-U (new End-to-End-Id, as from a stalled node) is not charged again: 5012', async (t) => {
    const { accountId, msisdn } = await makeAccount(store, { balance: 1_000_000n })
    const sid = 'pgw.test;late;1'
    const u = (n: number, type: 1 | 2 | 3 = 2) => ccrAvps({ sessionId: sid, type, number: n, msisdn, mscc: [{ rg: 1, rsu: {}, ...(n > 0 ? { usu: { total: 100_000 } } : {}) }] })
    for (let n = 0; n <= 3; n++) t.equal(resultCode(await c.ccr(u(n, n === 0 ? 1 : 2))), 2001)
    const before = await money(store, accountId)
    const late = await c.ccr(u(1))
    t.equal(resultCode(late), 5012, 'CC-Request-Number 1 after 3: DIAMETER_UNABLE_TO_COMPLY')
    echoes(t, late, sid, 2, 1)
    t.same(await money(store, accountId), before, 'nothing charged')
    t.equal(resultCode(await c.ccr(u(4, 3))), 2001)
  })

  await t.test('CC-Total-Octets above 4 GiB (Unsigned64)', async (t) => {
    const { accountId, msisdn } = await makeAccount(store, { balance: 100_000_000n })
    const big = 2 ** 32 + 5
    const sid = 'pgw.test;4;big'
    let a = await c.ccr(ccrAvps({ sessionId: sid, type: 1, number: 0, msisdn, mscc: [{ rg: 1, rsu: { total: BigInt(big) } }] }))
    const gsu = childrenOf(findAvp(msccs(a)[0], 'Granted-Service-Unit'))
    t.equal(findAvp(gsu, 'CC-Total-Octets')?.value, BigInt(big), 'granted 2^32 + 5 octets as Unsigned64')
    t.same(await money(store, accountId), { balance: 100_000_000n - 40_960_001n, reserved: 40_960_001n })
    a = await c.ccr(ccrAvps({ sessionId: sid, type: 3, number: 1, msisdn, mscc: [{ rg: 1, usu: { input: BigInt(2 ** 32), output: 5n } }] }))
    t.equal(resultCode(a), 2001)
    t.same(await money(store, accountId), { balance: 100_000_000n - 40_960_001n, reserved: 0n }, 'input + output (no CC-Total-Octets) charged')
  })

  await t.test('voice: tel:/sip: called party, CC-Time, usage split at a tariff change', async (t) => {
    const { accountId, msisdn } = await makeAccount(store, { balance: 1_000_000n })
    const sid = 'scscf;voice;1'
    const ims: AvpInput = {
      name: 'Service-Information',
      value: [{ name: 'IMS-Information', value: [{ name: 'Calling-Party-Address', value: `tel:+${msisdn}` }, { name: 'Called-Party-Address', value: 'sip:+33123456789@ims.test;user=phone' }] }],
    }
    let a = await c.ccr(ccrAvps({ sessionId: sid, context: 'ext.01.001.8.32260@3gpp.org', type: 1, number: 0, msisdn, mscc: [{ rg: 100, si: 1000, rsu: { time: 60 } }], extra: [ims] }))
    let [m] = msccs(a)
    t.same([resultCode(a), granted(m)], [2001, { time: 60 }])
    t.equal(avpNumber(findAvp(m, 'Time-Quota-Threshold')), 12, 'Time-Quota-Threshold 20 %')
    t.same(await money(store, accountId), { balance: 900_000n, reserved: 100_000n })
    // 90 s used, 30 before and 60 after a tariff change: 0.10 first minute + 30 s at 0.10/min
    a = await c.ccr(ccrAvps({ sessionId: sid, context: 'ext.01.001.8.32260@3gpp.org', type: 3, number: 1, msisdn, mscc: [{ rg: 100, si: 1000, usu: [{ time: 30, tcu: 0 }, { time: 60, tcu: 1 }] }], extra: [ims] }))
    t.equal(resultCode(a), 2001)
    t.same(await money(store, accountId), { balance: 850_000n, reserved: 0n })
    const cdr = (await allCdrs(env.client)).find((x) => x.sessionId === sid)
    t.equal(cdr?.destination, '33123456789', 'destination normalised to E.164 from the sip: URI')
  })

  await t.test('errors: 5005/5004/5001/5002/5031/4010/3001/3007, always echoing the request', async (t) => {
    const { accountId, msisdn } = await makeAccount(store, { balance: 1_000_000n })
    const base = ccrAvps({ sessionId: 'err;1', type: 1, number: 0, msisdn, mscc: [{ rg: 1, rsu: {} }] })
    const without = (name: string) => base.filter((x) => x.name !== name)
    const failed = (a: DiameterMessage) => childrenOf(findAvp(a.avps, 'Failed-AVP')) ?? []

    let a = await c.ccr(without('Session-Id'))
    t.same([resultCode(a), failed(a)[0]?.name], [5005, 'Session-Id'], 'no Session-Id: 5005 + Failed-AVP')
    t.equal(avpNumber(findAvp(a.avps, 'CC-Request-Type')), 1, 'still echoes CC-Request-Type')
    t.equal(avpNumber(findAvp(a.avps, 'CC-Request-Number')), 0)
    a = await c.ccr(without('CC-Request-Type'))
    t.same([resultCode(a), failed(a)[0]?.name], [5005, 'CC-Request-Type'])
    t.equal(avpNumber(findAvp(a.avps, 'CC-Request-Number')), 0)
    a = await c.ccr(without('CC-Request-Number'))
    t.same([resultCode(a), failed(a)[0]?.name], [5005, 'CC-Request-Number'])
    t.equal(avpNumber(findAvp(a.avps, 'CC-Request-Type')), 1)
    a = await c.ccr(without('Subscription-Id'))
    t.same([resultCode(a), failed(a)[0]?.name], [5005, 'Subscription-Id'], 'no subscriber identity on CCR-I')
    echoes(t, a, 'err;1', 1, 0)

    // CC-Time as 8 bytes (an Unsigned64): the unit value has the wrong type.
    const badTime: AvpInput = { code: 420, type: 'Unsigned64', value: 60n, flags: { mandatory: true } }
    a = await c.ccr([...without('Multiple-Services-Credit-Control'), { name: 'Multiple-Services-Credit-Control', value: [{ name: 'Requested-Service-Unit', value: [badTime] }, { name: 'Rating-Group', value: 1 }] }])
    t.equal(resultCode(a), 5004, 'wrong-typed unit value: 5004')
    t.same([failed(a)[0]?.code, failed(a)[0]?.value], [420, Buffer.from('000000000000003c', 'hex')], 'Failed-AVP holds the AVP as received')
    echoes(t, a, 'err;1', 1, 0)

    // An unknown AVP with the M bit where charging reads: 5001. Without the M bit, or deep inside
    // Service-Information: ignored.
    const unknownM: AvpInput = { code: 99999, vendorId: 0, type: 'Unsigned32', value: 1, flags: { mandatory: true } }
    a = await c.ccr([...base, unknownM])
    t.same([resultCode(a), failed(a)[0]?.code], [5001, 99999])
    echoes(t, a, 'err;1', 1, 0)
    const tolerated = await metricValue(env.metrics, 'ocs_tolerated_irregularities_total', { kind: 'unknown-mandatory-avp' })
    a = await c.ccr([
      ...ccrAvps({ sessionId: 'err;2', type: 1, number: 0, msisdn, mscc: [{ rg: 1, rsu: {} }] }),
      { code: 99999, vendorId: 0, type: 'Unsigned32', value: 1 },
      { code: 7, vendorId: 193, type: 'OctetString', value: Buffer.from('ericsson') },
      { name: 'Service-Information', value: [{ name: 'PS-Information', value: [unknownM] }] },
    ])
    t.equal(resultCode(a), 2001, 'unknown non-M AVPs and a buried unknown M AVP are accepted')
    t.equal(await metricValue(env.metrics, 'ocs_tolerated_irregularities_total', { kind: 'unknown-mandatory-avp' }), tolerated + 1, 'and counted')
    await c.ccr(ccrAvps({ sessionId: 'err;2', type: 3, number: 1, msisdn, mscc: [{ rg: 1, usu: { total: 0 } }] }))

    a = await c.ccr(ccrAvps({ sessionId: 'err;never-started', type: 2, number: 1, mscc: [{ rg: 1, rsu: {}, usu: { total: 10 } }] }))
    t.equal(resultCode(a), 5002, 'CCR-U of an unknown session: 5002')
    echoes(t, a, 'err;never-started', 2, 1)

    a = await c.ccr(ccrAvps({ sessionId: 'err;3', context: '99999@example.org', type: 1, number: 0, msisdn, mscc: [{ rg: 1, rsu: {} }] }))
    t.same([resultCode(a), resultCode(msccs(a)[0])], [5031, 5031], 'no service in the plan: 5031 RATING_FAILED')
    await c.ccr(ccrAvps({ sessionId: 'err;3', context: '99999@example.org', type: 3, number: 1, msisdn }))

    await store.updateAccount(accountId, { status: 'barred' })
    a = await c.ccr(ccrAvps({ sessionId: 'err;4', type: 1, number: 0, msisdn, mscc: [{ rg: 1, rsu: {} }] }))
    t.same([resultCode(a), resultCode(msccs(a)[0])], [4010, 4010], 'barred account: 4010 END_USER_SERVICE_DENIED')
    a = await c.ccr(ccrAvps({ sessionId: 'err;4', type: 3, number: 1, msisdn, mscc: [{ rg: 1, usu: { total: 0 } }] }))
    t.equal(resultCode(a), 2001, 'the CCR-T after a refused CCR-I is answered 2001')
    await store.updateAccount(accountId, { status: 'active' })
    t.same(await money(store, accountId), { balance: 1_000_000n, reserved: 0n }, 'nothing charged by any of these')

    a = await c.ccr(base, { applicationId: 16777238 })
    t.same([resultCode(a), a.flags.error], [3007, true], 'CCR for another application: 3007 with the E bit')
    echoes(t, a, 'err;1', 1, 0)
    a = await c.request({ commandCode: 271, applicationId: 3, avps: [{ name: 'Session-Id', value: 'acr;1' }, { name: 'Origin-Host', value: 'x' }, { name: 'Origin-Realm', value: 'y' }, { name: 'Accounting-Record-Type', value: 2 }, { name: 'Accounting-Record-Number', value: 0 }] })
    t.same([resultCode(a), a.flags.error, avpString(findAvp(a.avps, 'Session-Id'))], [3001, true, 'acr;1'], 'ACR: 3001 COMMAND_UNSUPPORTED')

    // AVP damage after Session-Id and CC-Request-Type: the codec's Result-Code (5014) with the request echoed.
    const good = encode({ flags: { request: true, proxiable: true }, commandCode: 272, applicationId: 4, hopByHop: 1, endToEnd: 2, avps: base })
    const broken = Buffer.concat([good, Buffer.from('000001c74000ffff00000000', 'hex')])
    broken.writeUInt32BE(broken.length | 0x01000000, 0)
    const hbh = c.nextHopByHop()
    broken.writeUInt32BE(hbh, 12)
    a = await c.requestBytes(broken, hbh)
    t.equal(resultCode(a), 5014, 'an AVP length overrunning the message: 5014 DIAMETER_INVALID_AVP_LENGTH')
    t.equal(findAvps(a.avps, 'Failed-AVP').length, 1, 'with Failed-AVP')
    echoes(t, a, 'err;1', 1, 0)
    t.same(await money(store, accountId), { balance: 1_000_000n, reserved: 0n })
  })

  await t.test('values no CDR can hold, and absurd usage, are refused with 5004 before anything is charged', async (t) => {
    const { accountId, msisdn } = await makeAccount(store, { balance: 1_000_000n })
    const failed = (a: DiameterMessage) => childrenOf(findAvp(a.avps, 'Failed-AVP')) ?? []
    const invalidBefore = await metricValue(env.metrics, 'ocs_malformed_total', { protocol: 'diameter', reason: 'ccr-5004' })

    let a = await c.ccr(ccrAvps({ sessionId: 'bad;\u0000;1', type: 1, number: 0, msisdn, mscc: [{ rg: 1, rsu: {} }] }))
    t.same([resultCode(a), failed(a)[0]?.name], [5004, 'Session-Id'], 'a NUL in Session-Id: 5004 + Failed-AVP')
    a = await c.ccr(ccrAvps({ sessionId: `bad;${'x'.repeat(300)}`, type: 1, number: 0, msisdn, mscc: [{ rg: 1, rsu: {} }] }))
    t.same([resultCode(a), failed(a)[0]?.name], [5004, 'Session-Id'], 'a Session-Id over 256 characters: 5004')
    a = await c.ccr(ccrAvps({ sessionId: 'bad;2', type: 1, number: 0, msisdn: `${msisdn}\u0000`, mscc: [{ rg: 1, rsu: {} }] }))
    t.same([resultCode(a), failed(a)[0]?.name], [5004, 'Subscription-Id'], 'a NUL in Subscription-Id-Data: 5004 + the Subscription-Id')
    a = await c.ccr([...ccrAvps({ sessionId: 'bad;3', type: 1, number: 0, msisdn, mscc: [{ rg: 1, rsu: {} }] }), { name: 'User-Name', value: 'u'.repeat(400) }])
    t.same([resultCode(a), failed(a)[0]?.name], [5004, 'User-Name'], 'an over-long User-Name: 5004')

    // A session that works, then a report of 2^60 octets: refused, the session and its reservation stay.
    const sid = 'bad;4'
    a = await c.ccr(ccrAvps({ sessionId: sid, type: 1, number: 0, msisdn, mscc: [{ rg: 1, rsu: {} }] }))
    t.equal(resultCode(a), 2001)
    const reserved = await money(store, accountId)
    a = await c.ccr(ccrAvps({ sessionId: sid, type: 2, number: 1, msisdn, mscc: [{ rg: 1, rsu: {}, usu: { total: 2n ** 60n } }] }))
    t.same([resultCode(a), failed(a)[0]?.name], [5004, 'CC-Total-Octets'], '2^60 octets (beyond 2^53): 5004 + the CC-Total-Octets')
    a = await c.ccr(ccrAvps({ sessionId: sid, type: 2, number: 1, msisdn, mscc: [{ rg: 1, rsu: {}, usu: { total: 2n ** 49n } }] }))
    t.same([resultCode(a), failed(a)[0]?.name], [5004, 'Used-Service-Unit'], '2^49 octets (512 TiB) in one report: 5004 + the Used-Service-Unit')
    t.same(await money(store, accountId), reserved, 'nothing charged, the reservation stays')
    // Sixteen reports of 2^48 octets (each within the per-report bound, each ~2.7e12 micro-units) take
    // the session's octet count to 2^52; the seventeenth would pass what the scripts keep exactly.
    const big = await makeAccount(store, { balance: 1_000_000n })
    const bsid = 'bad;5'
    a = await c.ccr(ccrAvps({ sessionId: bsid, type: 1, number: 0, msisdn: big.msisdn, mscc: [{ rg: 1, rsu: {} }] }))
    t.equal(resultCode(a), 2001, 'a data session')
    const codes: number[] = []
    for (let n = 1; n <= 17; n++) {
      a = await c.ccr(ccrAvps({ sessionId: bsid, type: 2, number: n, msisdn: big.msisdn, mscc: [{ rg: 1, rsu: {}, usu: { total: 2n ** 48n } }] }))
      codes.push(resultCode(a) ?? 0)
    }
    const afterSixteen = await money(store, big.accountId)
    t.same(codes.slice(0, 16).every((rc) => rc === 2001 || rc === 4012), true, 'sixteen reports taken (the balance runs out: 2001 or 4012)')
    t.same([codes[16], avpNumber(findAvp(a.avps, 'CC-Request-Number'))], [5004, 17], 'the seventeenth: 5004, echoing its CC-Request-Number')
    t.equal(afterSixteen.balance, 1_000_000n - 16n * 2n ** 28n * 10_000n, 'exactly sixteen reports debited')
    a = await c.ccr(ccrAvps({ sessionId: bsid, type: 3, number: 18, msisdn: big.msisdn, mscc: [{ rg: 1, usu: { total: 0 } }] }))
    t.equal(resultCode(a), 2001, 'that session still closes')
    a = await c.ccr(ccrAvps({ sessionId: sid, type: 3, number: 2, msisdn, mscc: [{ rg: 1, usu: { total: 1000 } }] }))
    t.equal(resultCode(a), 2001, 'the session still closes normally')
    t.equal((await money(store, accountId)).reserved, 0n)
    t.ok((await money(store, accountId)).balance < 1_000_000n, 'and its real usage is charged')
    t.equal(await metricValue(env.metrics, 'ocs_malformed_total', { protocol: 'diameter', reason: 'ccr-5004' }), invalidBefore + 7, 'each refusal counted')
    const cdrs = (await allCdrs(env.client)).filter((x) => x.sessionId?.startsWith('bad;'))
    t.same(cdrs.map((x) => x.sessionId).sort(), [sid, bsid], 'only the sessions that charged have a CDR')
  })

  await t.test('Final-Unit-Action REDIRECT with Redirect-Server (a server option)', async (t) => {
    const node = await env.addNode({ finalUnit: { action: 'REDIRECT', address: 'http://topup.example/' } })
    const rc = await env.connect({ port: node.server.port, originHost: 'redirect.test' })
    const { msisdn } = await makeAccount(store, { balance: 5_000n })
    const a = await rc.ccr(ccrAvps({ sessionId: 'redir;1', type: 1, number: 0, msisdn, mscc: [{ rg: 1, rsu: {} }] }))
    const m = msccs(a)[0]
    t.same([resultCode(a), granted(m)], [2001, { total: MiB / 2 }], 'the last half MiB')
    const fui = childrenOf(findAvp(m, 'Final-Unit-Indication'))
    t.equal(avpNumber(findAvp(fui, 'Final-Unit-Action')), 1, 'REDIRECT')
    const rs = childrenOf(findAvp(fui, 'Redirect-Server'))
    t.same([avpNumber(findAvp(rs, 'Redirect-Address-Type')), avpString(findAvp(rs, 'Redirect-Server-Address'))], [2, 'http://topup.example/'], 'URL')
    await rc.ccr(ccrAvps({ sessionId: 'redir;1', type: 3, number: 1, msisdn, mscc: [{ rg: 1, usu: { total: 0 } }] }))
  })

  await t.test('strict mode (an option): unknown M-bit AVPs refused anywhere, irregular AVPs answered', async (t) => {
    const strict = await env.addNode({ strict: true })
    const sc = await env.connect({ port: strict.server.port, originHost: 'strict.test' })
    const { msisdn } = await makeAccount(store, { balance: 1_000_000n })
    const buried: AvpInput = { name: 'Service-Information', value: [{ name: 'PS-Information', value: [{ code: 99999, type: 'Unsigned32', value: 1, flags: { mandatory: true } }] }] }
    let a = await sc.ccr([...ccrAvps({ sessionId: 'strict;1', type: 1, number: 0, msisdn, mscc: [{ rg: 1, rsu: {} }] }), buried])
    t.equal(resultCode(a), 5001, 'an unknown M-bit AVP deep inside Service-Information: 5001')
    const badUei: AvpInput = { name: 'User-Equipment-Info', value: [{ name: 'User-Equipment-Info-Type', value: Buffer.from('01', 'hex'), type: 'OctetString' }] }
    a = await sc.ccr([...ccrAvps({ sessionId: 'strict;2', type: 1, number: 0, msisdn, mscc: [{ rg: 1, rsu: {} }] }), badUei])
    t.equal(resultCode(a), 5004, 'an Enumerated of 1 byte: 5004 in strict mode')
    t.equal(avpNumber(findAvp(a.avps, 'CC-Request-Type')), 1, 'still echoing the request')
    a = await c.ccr([...ccrAvps({ sessionId: 'strict;3', type: 1, number: 0, msisdn, mscc: [{ rg: 1, rsu: {} }] }), badUei])
    t.equal(resultCode(a), 2001, 'the same CCR is accepted (and counted) by a liberal node')
    await c.ccr(ccrAvps({ sessionId: 'strict;3', type: 3, number: 1, msisdn, mscc: [{ rg: 1, usu: { total: 0 } }] }))
  })

  const ccas = await metricValue(env.metrics, 'ocs_requests_total', { protocol: 'diameter', command: 'CCR' })
  t.ok(ccas > 30, `requests counted (${ccas})`)
})
