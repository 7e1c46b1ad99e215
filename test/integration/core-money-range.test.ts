// Amounts the scripts cannot keep exactly (Lua numbers are doubles, exact to 2^53) are refused before
// anything is written: found by the 1,000,000-packet fuzz, where mutated usage counters (each one
// within MAX_REPORTED_UNITS) priced a report or a running total past 2^53 and the money audit broke.
import t, { type Test } from 'tap'
import { makeAccount, allCdrs, assertLedger, startFileCore } from '../helpers/core.js'
import { AMOUNT_LIMIT } from '../../src/balance/store.js'
import { keys } from '../../src/balance/keys.js'
import { MAX_REPORTED_UNITS } from '../../src/core/validate.js'
import type { ChargeAnswer, Identity } from '../../src/core/types.js'
import { OcsError } from '../../src/lib/errors.js'

const { client, core } = await startFileCore(t)

const VOICE = '32260@3gpp.org'
const DATA = '32251@3gpp.org'
const SMS = '32274@3gpp.org'

async function main(accountId: string): Promise<bigint> {
  return (await core.store.buckets(accountId)).find((b) => b.id === 'main')!.amount
}

function refusedOutOfRange(t: Test, a: ChargeAnswer, label: string): void {
  t.equal(a.kind, 'invalidRequest', `${label}: refused`)
  if (a.kind === 'invalidRequest') t.match(a.reason, /2\^52 micro-units/, `${label}: says why`)
}

t.test('a voice report priced past 2^52 micro-units is refused, nothing charged, and the session goes on', async (t) => {
  const { accountId, msisdn } = await makeAccount(core.store, { balance: 10_000_000n })
  const ids: Identity[] = [{ kind: 'msisdn', value: msisdn }]
  const sid = 'range-voice'
  const item = { serviceContext: VOICE, ratingGroup: 1, requested: 'default' as const }
  const i = await core.charging.initiate({ sessionId: sid, requestId: `${sid}/0`, identities: ids, protocol: 'diameter', items: [item] })
  t.equal(i.kind, 'ok')
  const before = await main(accountId)
  const reserved = (await core.store.getAccount(accountId))!.reserved
  // 2^48 s is within MAX_REPORTED_UNITS; at 0.10 EUR a minute it costs ~4.7e17 micro-units.
  const huge = await core.charging.update({ sessionId: sid, requestId: `${sid}/1`, identities: ids, protocol: 'diameter', items: [{ ...item, used: [{ units: MAX_REPORTED_UNITS }] }] })
  refusedOutOfRange(t, huge, 'CC-Time 2^48')
  t.equal(await main(accountId), before, 'balance unchanged')
  t.equal((await core.store.getAccount(accountId))!.reserved, reserved, 'reservation unchanged')
  await assertLedger(t, core.store, accountId, 'after the refusal')
  // The session is as it was: an ordinary report is charged from the grant it holds.
  const ok = await core.charging.update({ sessionId: sid, requestId: `${sid}/2`, identities: ids, protocol: 'diameter', items: [{ ...item, used: [{ units: 60 }] }] })
  t.equal(ok.kind, 'ok', 'the next ordinary report is charged')
  const end = await core.charging.terminate({ sessionId: sid, requestId: `${sid}/t`, identities: ids, protocol: 'diameter', items: [{ ...item, requested: undefined, used: [{ units: 30 }] }] })
  t.equal(end.kind, 'ok')
  t.equal(await main(accountId), before + reserved - 100_000n - 50_000n, '60 s then 30 s at 0.10 EUR/min: 0.15 EUR, nothing for the refused report')
  const cdr = (await allCdrs(client)).filter((c) => c.account === accountId)
  t.equal(cdr.length, 1)
  t.equal(cdr[0].used, '90', 'the CDR holds the 90 s charged, not the refused report')
  await assertLedger(t, core.store, accountId, 'after the call')
})

t.test('a late CCR-T with such usage for an unknown session leaves no session and no CDR', async (t) => {
  const { accountId, msisdn } = await makeAccount(core.store, { balance: 1_000_000n })
  const ids: Identity[] = [{ kind: 'msisdn', value: msisdn }]
  const cdrsBefore = (await allCdrs(client)).length
  const r = await core.charging.terminate({ sessionId: 'range-late', requestId: 'range-late/t', identities: ids, protocol: 'diameter', items: [{ serviceContext: VOICE, ratingGroup: 1, used: [{ units: MAX_REPORTED_UNITS }] }] })
  refusedOutOfRange(t, r, 'late CCR-T')
  t.equal(await client.exists(keys.session(accountId, 'range-late')), 0, 'no session hash left behind')
  t.equal((await allCdrs(client)).length, cdrsBefore, 'no CDR')
  t.equal(await main(accountId), 1_000_000n)
  await assertLedger(t, core.store, accountId, 'after the late CCR-T')
})

t.test('a running count past 2^52 is refused too: the 17th data report of 2^48 octets', async (t) => {
  // Each report costs 2^28 × 0.01 EUR ≈ 2.7e12 micro-units (in range); the session's octet count
  // reaches 2^52 after 16 of them.
  const { accountId, msisdn } = await makeAccount(core.store, { balance: 1_000_000n })
  const ids: Identity[] = [{ kind: 'msisdn', value: msisdn }]
  const sid = 'range-data'
  const item = { serviceContext: DATA, ratingGroup: 7, requested: 'default' as const }
  t.equal((await core.charging.initiate({ sessionId: sid, requestId: `${sid}/0`, identities: ids, protocol: 'diameter', items: [item] })).kind, 'ok')
  const kinds: string[] = []
  for (let u = 1; u <= 17; u++) {
    const r = await core.charging.update({ sessionId: sid, requestId: `${sid}/${u}`, identities: ids, protocol: 'diameter', items: [{ ...item, used: [{ units: MAX_REPORTED_UNITS }] }] })
    kinds.push(r.kind)
  }
  t.same(kinds.slice(0, 16), Array(16).fill('ok'), 'sixteen reports charged (past the balance: usage that happened is debited)')
  refusedOutOfRange(t, await core.charging.update({ sessionId: sid, requestId: `${sid}/17b`, identities: ids, protocol: 'diameter', items: [{ ...item, used: [{ units: MAX_REPORTED_UNITS }] }] }), '17th report')
  t.equal(kinds[16], 'invalidRequest', 'the 17th refused')
  t.equal(await main(accountId), 1_000_000n - 16n * (2n ** 28n) * 10_000n, 'exactly sixteen reports debited')
  await assertLedger(t, core.store, accountId, 'after seventeen reports')
})

t.test('a refund priced past 2^52 is refused; no CDR, balance unchanged', async (t) => {
  const { accountId, msisdn } = await makeAccount(core.store, { balance: 5_000_000n })
  const ids: Identity[] = [{ kind: 'msisdn', value: msisdn }]
  const cdrsBefore = (await allCdrs(client)).length
  // A debit past the balance is simply not affordable (nothing taken, no amount formed in the buckets).
  const sms = await core.charging.event({ requestId: 'range-sms', identities: ids, protocol: 'diameter', items: [{ serviceContext: SMS, units: MAX_REPORTED_UNITS }] })
  t.equal(sms.kind === 'ok' && sms.outcomes[0].kind, 'creditLimitReached', 'SMS × 2^48: credit limit reached')
  // A refund adds its price to the balance: that would be ~1.4e19 micro-units.
  refusedOutOfRange(t, await core.charging.refund({ requestId: 'range-refund', identities: ids, protocol: 'diameter', items: [{ serviceContext: SMS, units: MAX_REPORTED_UNITS }] }), 'refund of SMS × 2^48')
  t.equal((await allCdrs(client)).length, cdrsBefore, 'no CDR written')
  t.equal(await main(accountId), 5_000_000n)
  // An ordinary event in the same request shape still goes through.
  const ok = await core.charging.event({ requestId: 'range-sms-ok', identities: ids, protocol: 'diameter', items: [{ serviceContext: SMS, units: 2 }] })
  t.equal(ok.kind, 'ok')
  t.equal(await main(accountId), 5_000_000n - 100_000n)
  await assertLedger(t, core.store, accountId, 'after the events')
})

t.test('a top-up that would take the balance past 2^52 is a validation error and changes nothing', async (t) => {
  const { accountId } = await makeAccount(core.store, { balance: 1_000_000n })
  const err = await core.store.topup(accountId, AMOUNT_LIMIT).then(() => undefined, (e: unknown) => e)
  t.ok(err instanceof OcsError && err.code === 'OCS_ERR_VALIDATION' && /2\^52/.test(err.message), `refused: ${String(err)}`)
  t.equal(await main(accountId), 1_000_000n)
  t.equal((await core.store.topup(accountId, AMOUNT_LIMIT - 1_000_000n))?.main, AMOUNT_LIMIT, 'up to the limit itself is fine')
  await assertLedger(t, core.store, accountId, 'after the top-ups')
})
