// The rating features as the charging core applies them against a real Redis: taxes recorded on
// every CDR, currency precision, volume tiers, promotions per segment, allowances and recurring
// fees per billing cycle, fair usage per cycle (restrict and price), scheduled plan versions and
// plan files. Balances and CDRs are asserted exactly.
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { startRedis } from '../helpers/redis.js'
import { allCdrs, makeCore, money, newRedis } from '../helpers/core.js'
import { CycleRunner } from '../../src/core/cycles.js'
import { loadPlanFiles } from '../../src/core/plan-files.js'
import type { PlanDocument } from '../../src/rating/plan.js'
import { keys } from '../../src/balance/keys.js'
import { openBillingStore } from '../../src/cdr/open-store.js'
import { audit } from '../../src/cdr/audit.js'

const DATA = '32251@3gpp.org'
const VOICE = '32260@3gpp.org'
const MB = 1_048_576

const redis = await startRedis()
const client = newRedis(redis.port)
t.teardown(async () => {
  client.disconnect()
  await redis.stop()
})

const PLANS: PlanDocument[] = [
  {
    id: 'taxed', version: 1, currency: 'EUR', precision: 6,
    taxes: [{ region: 'FR', rate: '20', inclusive: false }, { region: 'DE', rate: '19', inclusive: true }],
    services: [{ name: 'data', unit: 'octets', match: { context: DATA }, tariff: { rate: '0.010000', per: MB } }],
  },
  {
    id: 'yen', version: 1, currency: 'JPY',
    services: [{ name: 'voice', unit: 'seconds', match: { context: VOICE }, tariff: { rate: '1.5', per: 60, first: 1, next: 1 } }],
  },
  {
    id: 'tiered', version: 1, currency: 'EUR', precision: 6,
    services: [{ name: 'data', unit: 'octets', match: { context: DATA }, tariff: { rate: '0.010000', per: MB, tiers: [{ from: 10 * MB, rate: '0.001000' }] } }],
  },
  {
    id: 'promo', version: 1, currency: 'EUR', precision: 6,
    promotions: [{ name: 'students', percent: 50, segments: ['student'] }],
    services: [{ name: 'data', unit: 'octets', match: { context: DATA }, tariff: { rate: '0.010000', per: MB } }],
  },
  {
    id: 'bundle', version: 1, currency: 'EUR', precision: 6,
    cycle: { period: 'monthly', day: 1 },
    bundles: [{ name: 'minutes', unit: 'seconds', amount: 120, services: ['voice'] }],
    fees: [{ name: 'monthly', amount: '5' }],
    taxes: [{ region: '*', rate: '10', inclusive: true }],
    services: [{ name: 'voice', unit: 'seconds', match: { context: VOICE }, tariff: { rate: '0.600000', per: 60, first: 1, next: 1 } }],
  },
  {
    id: 'national', version: 1, currency: 'EUR', precision: 6,
    bundles: [{ name: 'national', unit: 'seconds', amount: 600, services: ['voice'], destinations: ['33'] }],
    services: [{ name: 'voice', unit: 'seconds', match: { context: VOICE }, tariff: { rate: '0.600000', per: 60, first: 1, next: 1 } }],
  },
  {
    id: 'fup', version: 1, currency: 'EUR', precision: 6,
    fairUsage: { octets: 10 * MB, action: 'restrict', filterId: 'fup-256k' },
    services: [{ name: 'data', unit: 'octets', match: { context: DATA }, tariff: { rate: '0.010000', per: MB } }],
  },
  {
    id: 'fupprice', version: 1, currency: 'EUR', precision: 6,
    fairUsage: { octets: 10 * MB, action: 'price', tariff: { rate: '0.100000', per: MB } },
    services: [{ name: 'data', unit: 'octets', match: { context: DATA }, tariff: { rate: '0.010000', per: MB } }],
  },
]
const core = await makeCore(client, {}, PLANS)
const cycles = new CycleRunner(core.store, core.plans, { nodeId: 'test-node', intervalMs: 60_000, retryMs: 3_600_000 })

async function account(plan: string, o: { balance?: bigint; currency?: string; taxRegion?: string; segment?: string } = {}): Promise<{ accountId: string; msisdn: string }> {
  const a = await core.store.createAccount(
    { currency: o.currency ?? 'EUR', type: 'prepaid', plan, timezone: 'Europe/Paris', language: 'en', taxRegion: o.taxRegion ?? 'none', country: 'FR', status: 'active', creditLimit: 0n, ...(o.segment ? { segment: o.segment } : {}) },
    o.balance ?? 0n,
  )
  const msisdn = `3361${Math.floor(Math.random() * 1e7).toString().padStart(7, '0')}`
  await core.store.createSubscriber({ account: a.id, msisdn })
  return { accountId: a.id, msisdn }
}

let seq = 0
async function dataSession(msisdn: string, reports: number[], requested: number | 'default' = 'default') {
  const sid = `s${++seq}`
  const ids = [{ kind: 'msisdn' as const, value: msisdn }]
  const answers = [await core.charging.initiate({ sessionId: sid, requestId: `${sid}/0`, identities: ids, protocol: 'diameter', items: [{ serviceContext: DATA, ratingGroup: 1, requested }] })]
  let n = 0
  for (const u of reports) {
    answers.push(await core.charging.update({ sessionId: sid, requestId: `${sid}/${++n}`, identities: ids, protocol: 'diameter', items: [{ serviceContext: DATA, ratingGroup: 1, requested, used: [{ units: u }] }] }))
  }
  answers.push(await core.charging.terminate({ sessionId: sid, requestId: `${sid}/t`, identities: ids, protocol: 'diameter', items: [{ serviceContext: DATA, ratingGroup: 1, used: [] }] }))
  const cdrs = (await allCdrs(client)).filter((c) => c.sessionId === sid)
  return { answers, cdrs }
}

t.test('exclusive tax is added on top and recorded on the CDR; inclusive tax is inside the price', async (t) => {
  const fr = await account('taxed', { balance: 10_000_000n, taxRegion: 'FR' })
  const { cdrs } = await dataSession(fr.msisdn, [3 * MB])
  t.equal(cdrs.length, 1)
  t.equal(cdrs[0].total, '36000', '3 MB × 0.01 = 0.03 net + 20 % = 0.036')
  t.equal(cdrs[0].tax, '6000')
  t.equal((await money(core.store, fr.accountId)).balance, 10_000_000n - 36_000n)

  const de = await account('taxed', { balance: 10_000_000n, taxRegion: 'DE' })
  const r = await dataSession(de.msisdn, [3 * MB])
  t.equal(r.cdrs[0].total, '30000', 'inclusive: the price is the gross')
  t.equal(r.cdrs[0].tax, '4790', '0.03 × 19/119 = 0.00479 (half up to the micro-unit)')

  const none = await account('taxed', { balance: 10_000_000n, taxRegion: 'US' })
  const r2 = await dataSession(none.msisdn, [3 * MB])
  t.equal(r2.cdrs[0].tax, '0', 'a region without an entry and no "*" pays no tax')
})

t.test('JPY: charges round up to whole yen; a top-up finer than the currency is for the API to refuse', async (t) => {
  const a = await account('yen', { currency: 'JPY', balance: 1_000_000_000n })
  const ids = [{ kind: 'msisdn' as const, value: a.msisdn }]
  await core.charging.initiate({ sessionId: 'yen1', requestId: 'yen1/0', identities: ids, protocol: 'diameter', items: [{ serviceContext: VOICE, requested: 'default' }] })
  await core.charging.terminate({ sessionId: 'yen1', requestId: 'yen1/t', identities: ids, protocol: 'diameter', items: [{ serviceContext: VOICE, used: [{ units: 61 }] }] })
  const cdr = (await allCdrs(client)).find((c) => c.sessionId === 'yen1')!
  t.equal(cdr.total, '2000000', '61 s at 1.5 JPY/min = 1.525 JPY → 2 JPY')
  t.equal(cdr.currency, 'JPY')
  t.equal((await money(core.store, a.accountId)).balance, 998_000_000n)
})

t.test('volume tiers: the price changes at the tier inside one report', async (t) => {
  const a = await account('tiered', { balance: 10_000_000n })
  const { cdrs } = await dataSession(a.msisdn, [4 * MB, 8 * MB])
  t.equal(cdrs[0].total, String(10 * 10_000 + 2 * 1_000), '10 MB at 0.01 + 2 MB at 0.001')
})

t.test('promotion for a segment halves the price; other accounts pay in full', async (t) => {
  const student = await account('promo', { balance: 10_000_000n, segment: 'student' })
  const other = await account('promo', { balance: 10_000_000n })
  t.equal((await dataSession(student.msisdn, [2 * MB])).cdrs[0].total, '10000')
  t.equal((await dataSession(other.msisdn, [2 * MB])).cdrs[0].total, '20000')
})

t.test('billing cycle: the fee is charged with its CDR and the allowance is used before money', async (t) => {
  const a = await account('bundle', { balance: 10_000_000n })
  t.equal(await cycles.renew(a.accountId), 'renewed')
  t.equal(await cycles.renew(a.accountId), 'current', 'the same cycle never starts twice')
  const fee = (await allCdrs(client)).find((c) => c.account === a.accountId && c.service === 'fee:monthly')!
  t.equal(fee.total, '5000000')
  t.equal(fee.tax, '454545', '5.00 with 10 % inside: 0.454545')
  t.equal((await money(core.store, a.accountId)).balance, 5_000_000n)
  const buckets = await core.store.buckets(a.accountId)
  const minutes = buckets.find((b) => b.id.startsWith('bundle:minutes:'))!
  t.equal(minutes.amount, 120n)
  t.same(minutes.scope, ['voice'])
  t.ok(minutes.to! > Date.now() && minutes.from! <= Date.now(), 'valid for the current cycle')
  t.equal(await client.zscore(keys.cyclesOf(a.accountId), a.accountId), String(minutes.to), 'next renewal at the cycle end')

  // A 3-minute call: 2 minutes from the allowance, 1 minute from money (0.60).
  const ids = [{ kind: 'msisdn' as const, value: a.msisdn }]
  await core.charging.initiate({ sessionId: 'b1', requestId: 'b1/0', identities: ids, protocol: 'diameter', items: [{ serviceContext: VOICE, requested: 'default' }] })
  await core.charging.terminate({ sessionId: 'b1', requestId: 'b1/t', identities: ids, protocol: 'diameter', items: [{ serviceContext: VOICE, used: [{ units: 180 }] }] })
  const cdr = (await allCdrs(client)).find((c) => c.sessionId === 'b1')!
  t.equal(cdr.unitsFromBuckets, '120')
  t.equal(cdr.total, '600000')
  t.equal((await money(core.store, a.accountId)).balance, 4_400_000n)
})

t.test('billing cycle: no allowance without its fee; a top-up starts the waiting cycle', async (t) => {
  const a = await account('bundle', { balance: 1_000_000n })
  t.equal(await cycles.renew(a.accountId), 'insufficient')
  t.notOk((await core.store.buckets(a.accountId)).some((b) => b.id.startsWith('bundle:')), 'no allowance granted')
  t.equal((await money(core.store, a.accountId)).balance, 1_000_000n, 'nothing charged')
  await core.store.topup(a.accountId, 9_000_000n)
  t.equal(await cycles.renew(a.accountId), 'renewed')
  t.equal((await money(core.store, a.accountId)).balance, 5_000_000n)
  // the sweep finds due accounts by itself
  const b = await account('bundle', { balance: 6_000_000n })
  t.ok((await cycles.sweep()) >= 1)
  t.equal((await money(core.store, b.accountId)).balance, 1_000_000n)
})

t.test('an allowance limited to destinations: national calls use it, international calls pay', async (t) => {
  const a = await account('national', { balance: 10_000_000n })
  t.equal(await cycles.renew(a.accountId), 'renewed')
  t.same((await core.store.buckets(a.accountId)).find((b) => b.id.startsWith('bundle:'))!.scope, ['voice:33'])
  const ids = [{ kind: 'msisdn' as const, value: a.msisdn }]
  const call = async (sid: string, to: string, secs: number) => {
    await core.charging.initiate({ sessionId: sid, requestId: `${sid}/0`, identities: ids, protocol: 'diameter', items: [{ serviceContext: VOICE, destination: to, requested: 'default' }] })
    await core.charging.terminate({ sessionId: sid, requestId: `${sid}/t`, identities: ids, protocol: 'diameter', items: [{ serviceContext: VOICE, destination: to, used: [{ units: secs }] }] })
    return (await allCdrs(client)).find((c) => c.sessionId === sid)!
  }
  const fr = await call('nat1', '+33612345678', 120)
  t.same([fr.unitsFromBuckets, fr.total], ['120', '0'], 'to France: from the allowance')
  const uk = await call('nat2', '+447700900123', 120)
  t.same([uk.unitsFromBuckets, uk.total], ['0', '1200000'], 'to the UK: money')
  const local = await call('nat3', '0612345678', 60)
  t.same([local.unitsFromBuckets, local.total], ['60', '0'], 'a national number in national format (account country FR) counts as 33')
})

t.test('fair usage restrict: grants stop at the cycle limit, then every grant carries the restriction', async (t) => {
  const a = await account('fup', { balance: 100_000_000n })
  const { answers } = await dataSession(a.msisdn, [5 * MB, 4 * MB, 1 * MB, 5 * MB], 'default')
  const g = answers.map((x) => (x.kind === 'ok' && x.outcomes[0].kind === 'granted' ? x.outcomes[0] : undefined))
  t.equal(g[0]!.units, 5 * MB, 'default quota below the limit')
  t.notOk(g[0]!.fairUsage)
  t.equal(g[1]!.units, 5 * MB, '5 MB used: 5 MB left before the limit')
  t.equal(g[2]!.units, 1 * MB, '9 MB used: the grant stops at the limit')
  t.same(g[3]!.fairUsage, { action: 'restrict', filterId: 'fup-256k' }, 'limit reached: restrict with the plan Filter-Id')
  t.same(g[4]!.fairUsage, { action: 'restrict', filterId: 'fup-256k' })
  // the counter is per cycle and per account: a new session of the same account is restricted at once
  const again = await dataSession(a.msisdn, [])
  const first = again.answers[0]
  t.ok(first.kind === 'ok' && first.outcomes[0].kind === 'granted' && first.outcomes[0].fairUsage?.action === 'restrict')
})

t.test('fair usage price: octets past the limit inside one report are priced with the fair-usage tariff', async (t) => {
  const a = await account('fupprice', { balance: 100_000_000n })
  const { cdrs } = await dataSession(a.msisdn, [8 * MB, 4 * MB], 20 * MB)
  t.equal(cdrs[0].total, String(10 * 10_000 + 2 * 100_000), '10 MB at 0.01, 2 MB at 0.10')
})

t.test('scheduled plan version takes over at its time; grants stop at the switch', async (t) => {
  const at = Date.now()
  await core.store.putPlan({ id: 'sched', version: 1, currency: 'EUR', precision: 6, services: [{ name: 'voice', unit: 'seconds', match: { context: VOICE }, tariff: { rate: '0.600000', per: 60, first: 1, next: 1 } }] })
  await core.store.putPlan({ id: 'sched', version: 2, currency: 'EUR', precision: 6, activeFrom: new Date(at + 3_600_000).toISOString(), services: [{ name: 'voice', unit: 'seconds', match: { context: VOICE }, tariff: { rate: '1.200000', per: 60, first: 1, next: 1 } }] })
  await core.plans.refresh()
  t.equal((await core.plans.get('sched', at))!.version, 1)
  t.equal((await core.plans.get('sched', at + 3_600_000))!.version, 2)
  const a = await account('sched', { balance: 100_000_000n })
  const ids = [{ kind: 'msisdn' as const, value: a.msisdn }]
  const near = at + 3_600_000 - 30_000
  const i = await core.charging.initiate({ sessionId: 'sc1', requestId: 'sc1/0', identities: ids, eventTime: near, protocol: 'diameter', items: [{ serviceContext: VOICE, requested: 'default' }] })
  t.ok(i.kind === 'ok' && i.outcomes[0].kind === 'granted' && i.outcomes[0].units === 30 && i.outcomes[0].validity === 30, '30 s left before version 2')
  const e1 = await core.charging.event({ requestId: 'sc-ev1', identities: ids, eventTime: at, protocol: 'api', items: [{ serviceContext: VOICE, units: 60 }] })
  const e2 = await core.charging.event({ requestId: 'sc-ev2', identities: ids, eventTime: at + 3_600_000, protocol: 'api', items: [{ serviceContext: VOICE, units: 60 }] })
  t.equal(e1.kind === 'ok' && e1.charged, 600_000n, 'version 1 price before')
  t.equal(e2.kind === 'ok' && e2.charged, 1_200_000n, 'version 2 price after')
})

t.test('plan files: stored once per version; a bad file names the file and the path', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ocs-plans-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  writeFileSync(join(dir, 'basic.yaml'), 'id: filed\nversion: 3\ncurrency: EUR\nservices:\n  - name: sms\n    unit: events\n    match: { context: 32274@3gpp.org }\n    tariff: { rate: "0.05" }\n')
  t.same(await loadPlanFiles(core.store, dir), ['basic.yaml: plan filed version 3'])
  t.same(await loadPlanFiles(core.store, dir), [], 'the same version is not stored again')
  t.equal((await core.store.loadPlans()).get('filed')!.version, 3)
  writeFileSync(join(dir, 'bad.yaml'), 'id: broken\ncurrency: EUR\nservices:\n  - name: sms\n    unit: minutes\n    match: { context: x }\n    tariff: { rate: "1" }\n')
  await t.rejects(loadPlanFiles(core.store, dir), /bad\.yaml: plan services\.0\.unit/)
})

t.test('after all of the above (fees, allowances, taxes, tiers, fair usage): the money audit is clean', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ocs-audit-'))
  const billing = await openBillingStore(undefined, dir)
  t.teardown(async () => {
    await billing.close()
    rmSync(dir, { recursive: true, force: true })
  })
  const report = await audit(client, core.store, billing)
  t.ok(report.accounts >= 10)
  t.same(report.broken, [], 'initial + top-ups + refunds − CDR charges − reservations == balance for every account')
})
