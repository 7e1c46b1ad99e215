import t, { type Test } from 'tap'
import { compilePlan, DEMO_PLAN, findService, PlanError, type CompiledPlan, type PlanDocument } from '../../src/rating/plan.js'
import { DestinationDeck } from '../../src/rating/deck.js'
import { chooseTariff, cycleAt, precisionOf, quantumOf, recurringFees } from '../../src/rating/rate.js'
import { affordable, priceEnquiry, rate, rerate, type RateResult, type RatingAccount, type Usage } from '../../src/rating/engine.js'
import type { TimeBand } from '../../src/rating/time-bands.js'

// The rating module's API (issue 4): rate(), affordable(), priceEnquiry(), rerate(), cycles,
// recurring fees; tables of named cases with the clock injected.

const MiB = 1_048_576
const GiB = 1_073_741_824
const VOICE = { serviceContext: '32260@3gpp.org' }
const DATA = { serviceContext: '32251@3gpp.org' }
const SMS = { serviceContext: '32274@3gpp.org' }
const PARIS: RatingAccount = { currency: 'EUR', timezone: 'Europe/Paris' }
const NO_DECKS = new Map<string, DestinationDeck>()
const clock = (): number => Date.UTC(2026, 10, 26, 10)
/** Thursday 2026-11-26 in Paris (UTC+1): peak until 18:00 local = 17:00 UTC */
const THU = (h: number, m = 0, s = 0): number => Date.UTC(2026, 10, 26, h, m, s)

const PEAK_OFFPEAK: TimeBand[] = [
  { name: 'peak', days: ['mon', 'tue', 'wed', 'thu', 'fri'], from: '08:00', to: '18:00', percent: 100 },
  { name: 'offpeak', days: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun', 'hol'], from: '00:00', to: '24:00', percent: 50 },
]

type Svc = PlanDocument['services'][number]
const voice = (tariff: Svc['tariff'], extra: Partial<Svc> = {}): Svc => ({ name: 'voice', unit: 'seconds', match: { context: '32260@3gpp.org' }, tariff, ...extra })
const data = (tariff: Svc['tariff']): Svc => ({ name: 'data', unit: 'octets', match: { context: '32251@3gpp.org' }, tariff })
const sms = (tariff: Svc['tariff']): Svc => ({ name: 'sms', unit: 'events', match: { context: '32274@3gpp.org' }, tariff })
const plan = (id: string, services: Svc[], extra: Partial<PlanDocument> = {}): CompiledPlan => compilePlan({ id, version: 1, currency: 'EUR', precision: 6, services, ...extra })

function ok(r: RateResult): Extract<RateResult, { ok: true }> {
  if (!r.ok) throw new Error(`rating failed: ${r.reason}`)
  return r
}

/** t.match, plus the exact number of parts (t.match lets an array have more elements). */
function expectRated(t: Test, r: RateResult, want: Record<string, unknown> & { parts?: unknown[] }, name: string): void {
  t.match(r, want, name)
  if (want.parts && r.ok) t.equal(r.parts.length, want.parts.length, `${name}: ${want.parts.length} part(s)`)
}

t.test('increments through rate(): 0/1/29/30/31/59/60/61 s under 60/60 and 30/6 at 0.60 a minute', async (t) => {
  const p6060 = plan('m', [voice({ rate: '0.60', per: 60, first: 60, next: 60 })])
  const p306 = plan('s', [voice({ rate: '0.60', per: 60, first: 30, next: 6 })])
  const cases: Array<[string, CompiledPlan, number, bigint]> = [
    ['60/60 0 s', p6060, 0, 0n], ['60/60 1 s', p6060, 1, 600_000n], ['60/60 29 s', p6060, 29, 600_000n], ['60/60 30 s', p6060, 30, 600_000n],
    ['60/60 31 s', p6060, 31, 600_000n], ['60/60 59 s', p6060, 59, 600_000n], ['60/60 60 s', p6060, 60, 600_000n], ['60/60 61 s', p6060, 61, 1_200_000n],
    ['30/6 0 s', p306, 0, 0n], ['30/6 1 s', p306, 1, 300_000n], ['30/6 29 s', p306, 29, 300_000n], ['30/6 30 s', p306, 30, 300_000n],
    ['30/6 31 s', p306, 31, 360_000n], ['30/6 59 s', p306, 59, 600_000n], ['30/6 60 s', p306, 60, 600_000n], ['30/6 61 s', p306, 61, 660_000n],
  ]
  for (const [name, p, units, gross] of cases) expectRated(t, rate({ service: VOICE, units }, p, PARIS, clock), { ok: true, units, gross, net: gross, tax: 0n, parts: units ? [{ units }] : [] }, name)
})

t.test('a call across peak → off-peak is split in two parts, each with its own band', async (t) => {
  const p = plan('bands', [voice({ rate: '0.60', per: 60, first: 30, next: 6, fee: '0.05' }, { timeBands: PEAK_OFFPEAK })])
  const r = ok(rate({ service: VOICE, units: 30, start: THU(16, 59, 50) }, p, PARIS, clock))
  t.same(r.parts, [
    { start: THU(16, 59, 50), units: 10, tariff: 'bands@1:voice@peak', net: 350_000n, tax: 0n, gross: 350_000n }, // first 30 s + fee
    { start: THU(17), units: 20, tariff: 'bands@1:voice@offpeak', net: 120_000n, tax: 0n, gross: 120_000n }, // starts with next: 24 s at half price, no fee
  ])
  t.equal(r.gross, 470_000n)
  expectRated(t, rate({ service: VOICE, units: 600, start: THU(12) }, p, PARIS, clock), { gross: 6_050_000n, parts: [{ tariff: 'bands@1:voice@peak' }] }, 'no boundary inside: one part')
  const c = chooseTariff(p, findService(p, VOICE)!, undefined, { at: THU(16, 59, 50), timezone: 'Europe/Paris', decks: NO_DECKS })
  t.match(c, { ok: true, boundary: THU(17) }, 'the grant boundary')
  expectRated(t, rate({ service: VOICE, units: 2, start: THU(16, 59, 59) + 500 }, p, PARIS, clock), { parts: [{ units: 1 }, { units: 1, start: THU(17) + 500 }] }, 'a part of half a second bills a second')
})

t.test('the DST change day: band boundaries in Europe/Paris and America/New_York', async (t) => {
  const night: TimeBand[] = [{ name: 'night', days: ['sun'], from: '00:00', to: '06:00', percent: 30 }]
  const p = plan('dst', [voice({ rate: '0.60', per: 60 }, { timeBands: night })])
  const cases: Array<[string, string, number, number, Array<{ start: number; units: number; gross: bigint }>]> = [
    ['Paris 2026-03-29 (23 h): night ends 06:00 CEST = 04:00 UTC', 'Europe/Paris', Date.UTC(2026, 2, 29, 3, 59), 120,
      [{ start: Date.UTC(2026, 2, 29, 3, 59), units: 60, gross: 180_000n }, { start: Date.UTC(2026, 2, 29, 4), units: 60, gross: 600_000n }]],
    ['Paris 2026-10-25 (25 h): night ends 06:00 CET = 05:00 UTC', 'Europe/Paris', Date.UTC(2026, 9, 25, 4, 59), 120,
      [{ start: Date.UTC(2026, 9, 25, 4, 59), units: 60, gross: 180_000n }, { start: Date.UTC(2026, 9, 25, 5), units: 60, gross: 600_000n }]],
    ['New York 2026-11-01 (25 h): 06:00 EST = 11:00 UTC', 'America/New_York', Date.UTC(2026, 10, 1, 10, 59, 30), 60,
      [{ start: Date.UTC(2026, 10, 1, 10, 59, 30), units: 30, gross: 90_000n }, { start: Date.UTC(2026, 10, 1, 11), units: 30, gross: 300_000n }]],
    ['New York 2026-03-08 (23 h): 06:00 EDT = 10:00 UTC', 'America/New_York', Date.UTC(2026, 2, 8, 9, 59), 120,
      [{ start: Date.UTC(2026, 2, 8, 9, 59), units: 60, gross: 180_000n }, { start: Date.UTC(2026, 2, 8, 10), units: 60, gross: 600_000n }]],
    ['New York 01:30 twice (EDT then EST): still night', 'America/New_York', Date.UTC(2026, 10, 1, 5, 30), 3600,
      [{ start: Date.UTC(2026, 10, 1, 5, 30), units: 3600, gross: 10_800_000n }]],
  ]
  for (const [name, timezone, start, units, parts] of cases) expectRated(t, rate({ service: VOICE, units, start }, p, { currency: 'EUR', timezone }, clock), { parts }, name)
})

t.test('billing cycles in the account zone, across DST', async (t) => {
  const monthly = plan('c', [voice({ rate: '0.1' })])
  const mid15 = plan('c', [voice({ rate: '0.1' })], { cycle: { period: 'monthly', day: 15 } })
  const weekMon = plan('c', [voice({ rate: '0.1' })], { cycle: { period: 'weekly', day: 1 } })
  const weekSun = plan('c', [voice({ rate: '0.1' })], { cycle: { period: 'weekly', day: 7 } })
  const daily = plan('c', [voice({ rate: '0.1' })], { cycle: { period: 'daily' } })
  const H = 3_600_000
  const cases: Array<[string, CompiledPlan, string, number, { id: string; start: number; end: number }]> = [
    ['monthly in Paris spanning spring forward (31 d − 1 h)', monthly, 'Europe/Paris', Date.UTC(2026, 2, 15, 12), { id: '2026-03-01', start: Date.UTC(2026, 1, 28, 23), end: Date.UTC(2026, 2, 31, 22) }],
    ['monthly in New York spanning fall back (30 d + 1 h)', monthly, 'America/New_York', Date.UTC(2026, 10, 15), { id: '2026-11-01', start: Date.UTC(2026, 10, 1, 4), end: Date.UTC(2026, 11, 1, 5) }],
    ['00:30 local on the 1st is already the new cycle', monthly, 'Europe/Paris', Date.UTC(2026, 1, 28, 23, 30), { id: '2026-03-01', start: Date.UTC(2026, 1, 28, 23), end: Date.UTC(2026, 2, 31, 22) }],
    ['the last instant of a cycle', monthly, 'Europe/Paris', Date.UTC(2026, 2, 31, 22) - 1, { id: '2026-03-01', start: Date.UTC(2026, 1, 28, 23), end: Date.UTC(2026, 2, 31, 22) }],
    ['the end is the next start', monthly, 'Europe/Paris', Date.UTC(2026, 2, 31, 22), { id: '2026-04-01', start: Date.UTC(2026, 2, 31, 22), end: Date.UTC(2026, 3, 30, 22) }],
    ['monthly on the 15th, before the 15th', mid15, 'UTC', Date.UTC(2026, 2, 10), { id: '2026-02-15', start: Date.UTC(2026, 1, 15), end: Date.UTC(2026, 2, 15) }],
    ['monthly on the 15th across New Year', mid15, 'UTC', Date.UTC(2027, 0, 3), { id: '2026-12-15', start: Date.UTC(2026, 11, 15), end: Date.UTC(2027, 0, 15) }],
    ['weekly from Monday, the DST Sunday (167 h)', weekMon, 'Europe/Paris', Date.UTC(2026, 2, 29, 12), { id: '2026-03-23', start: Date.UTC(2026, 2, 22, 23), end: Date.UTC(2026, 2, 29, 22) }],
    ['weekly from Sunday', weekSun, 'Europe/Paris', Date.UTC(2026, 2, 29, 12), { id: '2026-03-29', start: Date.UTC(2026, 2, 28, 23), end: Date.UTC(2026, 3, 4, 22) }],
    ['daily: the 23-hour day', daily, 'Europe/Paris', Date.UTC(2026, 2, 29, 12), { id: '2026-03-29', start: Date.UTC(2026, 2, 28, 23), end: Date.UTC(2026, 2, 28, 23) + 23 * H }],
    ['daily: the 25-hour day', daily, 'America/New_York', Date.UTC(2026, 10, 1, 12), { id: '2026-11-01', start: Date.UTC(2026, 10, 1, 4), end: Date.UTC(2026, 10, 1, 4) + 25 * H }],
  ]
  for (const [name, p, tz, at, want] of cases) t.same(cycleAt(p, tz, at), want, name)
})

const UK_DECK = 'prefix,destination,price,first_increment,next_increment,connect_fee\n44,UK fixed,0.10,60,60,0\n447,UK mobile,0.20,30,6,0.05\n4477,UK mobile premium,0.90,1,1,0\n'

t.test('destinations: longest prefix over 44 / 447 / 4477, national numbers per account country', async (t) => {
  const p = plan('intl', [voice({ rate: '0' }, { deck: 'intl' })])
  const decks = new Map([['intl', DestinationDeck.fromCsv('intl', UK_DECK)]])
  const cases: Array<[string, string, RatingAccount, string, bigint]> = [
    ['44 fixed, 60/60', '+442079460000', PARIS, 'UK fixed', 200_000n],
    ['447 mobile, 30/6 + fee', '00447911123456', PARIS, 'UK mobile', 270_000n],
    ['4477 premium, 1/1', 'tel:+44-7711-123456', PARIS, 'UK mobile premium', 915_000n],
    ['national form in GB', '07911123456', { ...PARIS, country: 'GB' }, 'UK mobile', 270_000n],
  ]
  for (const [name, destination, account, destName, gross] of cases) {
    t.match(ok(rate({ service: VOICE, units: 61, destination, start: THU(10) }, p, account, clock, decks)), { gross, destinationName: destName }, name)
  }
  t.match(rate({ service: VOICE, units: 61, destination: '+33612345678' }, p, PARIS, clock, decks), { ok: false, reason: /no destination in deck intl/ })
  t.match(rate({ service: VOICE, units: 61, destination: '+442079460000' }, p, PARIS, clock), { ok: false, reason: /rate deck intl is not loaded/ })
})

t.test('volume tiers: 1 GiB at 0.01/MiB, beyond at 0.005/MiB, crossing inside one usage', async (t) => {
  const p = plan('tiers', [data({ rate: '0.01', per: MiB, tiers: [{ from: GiB, rate: '0.005' }] })])
  const cases: Array<[string, number, bigint]> = [
    ['1 MiB', MiB, 10_000n],
    ['exactly 1 GiB', GiB, 10_240_000n],
    ['1 GiB + 1 MiB crosses into the second tier', GiB + MiB, 10_245_000n],
    ['2 GiB', 2 * GiB, 15_360_000n],
  ]
  for (const [name, units, gross] of cases) expectRated(t, rate({ service: DATA, units }, p, PARIS, clock), { gross, parts: [{ units }] }, name)
})

t.test('bundles cover the first units of a call, money the rest', async (t) => {
  const p = plan('bundle', [voice({ rate: '0.60', per: 60, first: 60, next: 60 }, { timeBands: PEAK_OFFPEAK })], { bundles: [{ name: 'minutes', unit: 'seconds', amount: 6000 }] })
  const r = ok(rate({ service: VOICE, units: 180, start: THU(16, 58) }, p, { ...PARIS, bundleUnits: 60 }, clock))
  t.match(r, { units: 180, fromBundles: 60, gross: 900_000n })
  t.same(r.parts.map((x) => [x.start, x.units, x.gross]), [[THU(16, 59), 60, 600_000n], [THU(17), 60, 300_000n]], 'money starts after the bundle seconds; peak then off-peak')
  expectRated(t, rate({ service: VOICE, units: 180, start: THU(16, 58) }, p, { ...PARIS, bundleUnits: 500 }, clock), { fromBundles: 180, gross: 0n, parts: [] }, 'a bundle covering the whole call')
  t.match(ok(priceEnquiry({ service: VOICE, units: 180, start: THU(16, 58) }, p, { ...PARIS, bundleUnits: 500 }, clock)), { fromBundles: 0, gross: 1_500_000n }, 'price enquiry ignores bundles')
})

t.test('fair usage crossed inside one usage', async (t) => {
  const fup = { octets: 10 * MiB, action: 'price' as const, tariff: { rate: '0.10', per: MiB } }
  const p = plan('fup', [data({ rate: '0.01', per: MiB }), voice({ rate: '0.6', per: 60 })], { fairUsage: fup })
  const cases: Array<[string, RatingAccount, number, { gross: bigint; fairUsageCrossed: boolean; parts: Array<{ units: number; tariff: string; gross: bigint }> }]> = [
    ['price: 9 MiB used + 3 MiB = 1 MiB normal + 2 MiB at the fair-usage price', { ...PARIS, cycleOctets: 9 * MiB }, 3 * MiB,
      { gross: 210_000n, fairUsageCrossed: true, parts: [{ units: MiB, tariff: 'fup@1:data', gross: 10_000n }, { units: 2 * MiB, tariff: 'fup@1:fup', gross: 200_000n }] }],
    ['price: well below the limit', { ...PARIS, cycleOctets: 0 }, 3 * MiB, { gross: 30_000n, fairUsageCrossed: false, parts: [{ units: 3 * MiB, tariff: 'fup@1:data', gross: 30_000n }] }],
    ['price: exactly at the limit is not past it', { ...PARIS, cycleOctets: 7 * MiB }, 3 * MiB, { gross: 30_000n, fairUsageCrossed: false, parts: [{ units: 3 * MiB, tariff: 'fup@1:data', gross: 30_000n }] }],
    ['price: already past the limit', { ...PARIS, cycleOctets: 12 * MiB }, 3 * MiB, { gross: 300_000n, fairUsageCrossed: true, parts: [{ units: 3 * MiB, tariff: 'fup@1:fup', gross: 300_000n }] }],
    ['price: a bundle takes the last MiB below the limit', { ...PARIS, cycleOctets: 9 * MiB, bundleUnits: MiB }, 3 * MiB,
      { gross: 200_000n, fairUsageCrossed: true, parts: [{ units: 2 * MiB, tariff: 'fup@1:fup', gross: 200_000n }] }],
  ]
  for (const [name, account, units, want] of cases) expectRated(t, rate({ service: DATA, units }, p, account, clock), want, name)

  const restrict = plan('fupr', [data({ rate: '0.01', per: MiB }), voice({ rate: '0.6', per: 60 })], { fairUsage: { octets: 10 * MiB, action: 'restrict', filterId: 'throttle-1M' } })
  expectRated(t, rate({ service: DATA, units: 3 * MiB }, restrict, { ...PARIS, cycleOctets: 9 * MiB }, clock), { gross: 30_000n, fairUsageCrossed: true, parts: [{ units: 3 * MiB }] }, 'restrict: one part, the flag')
  const at = { at: THU(10), timezone: 'Europe/Paris', decks: NO_DECKS }
  t.match(chooseTariff(restrict, findService(restrict, DATA)!, undefined, at), { ok: true, fup: { limit: 10 * MiB, action: 'restrict', filterId: 'throttle-1M' } })
  t.notOk((chooseTariff(restrict, findService(restrict, VOICE)!, undefined, at) as { fup?: unknown }).fup, 'no fair usage on a seconds service')
  const taxed = plan('fupt', [data({ rate: '0.01', per: MiB })], { fairUsage: fup, precision: undefined, taxes: [{ region: '*', rate: '20', inclusive: false }] })
  t.match(chooseTariff(taxed, findService(taxed, DATA)!, undefined, at), { ok: true, fup: { action: 'price', tariff: { rate: 100_000, per: MiB, tx: 200_000, q: 10_000 } } }, 'the fair-usage tariff carries tax and quantum')
})

t.test('tax per region through rate(): exclusive, inclusive, default, none', async (t) => {
  const taxes = [{ region: 'US-NY', rate: '8.875', inclusive: false }, { region: '*', rate: '20', inclusive: true }]
  const p = plan('taxed', [sms({ rate: '1.00' })], { precision: undefined, taxes })
  const cases: Array<[string, string | undefined, { net: bigint; tax: bigint; gross: bigint }, string]> = [
    ['US-NY 8.875 % exclusive on 1.00', 'US-NY', { net: 1_000_000n, tax: 90_000n, gross: 1_090_000n }, 'taxed@1:sms%88750e'],
    ['FR falls to "*": 20 % inclusive in 1.00', 'FR', { net: 830_000n, tax: 170_000n, gross: 1_000_000n }, 'taxed@1:sms%200000i'],
    ['no region: "*"', undefined, { net: 830_000n, tax: 170_000n, gross: 1_000_000n }, 'taxed@1:sms%200000i'],
  ]
  for (const [name, taxRegion, want, id] of cases) {
    expectRated(t, rate({ service: SMS, units: 1 }, p, { ...PARIS, ...(taxRegion ? { taxRegion } : {}) }, clock), { ...want, parts: [{ ...want, tariff: id }] }, name)
  }
  const noDefault = plan('taxed', [sms({ rate: '1.00' })], { taxes: [taxes[0]] })
  t.match(ok(rate({ service: SMS, units: 1 }, noDefault, { ...PARIS, taxRegion: 'FR' }, clock)), { tax: 0n, gross: 1_000_000n, parts: [{ tariff: 'taxed@1:sms' }] }, 'no matching region, no "*": no tax')
})

t.test('currency precision: JPY 0 decimals, BHD 3, per-currency prices', async (t) => {
  const doc = { id: 'fx', version: 1, currency: 'EUR', services: [voice({ rate: { EUR: '0.60', JPY: '15', BHD: '0.041' }, per: 60 })] }
  const p = compilePlan(doc)
  t.equal(precisionOf(p, 'JPY'), 0)
  t.equal(precisionOf(p, 'BHD'), 3)
  t.equal(quantumOf(p, 'EUR'), 10_000)
  const cases: Array<[string, CompiledPlan, string, number, bigint]> = [
    ['EUR 61 s = 0.61', p, 'EUR', 61, 610_000n],
    ['EUR 1 s = 0.01', p, 'EUR', 1, 10_000n],
    ['JPY 61 s = 15.25 → 16 yen', p, 'JPY', 61, 16_000_000n],
    ['JPY 1 s = 0.25 → 1 yen', p, 'JPY', 1, 1_000_000n],
    ['BHD 61 s = 0.041683… → 0.042', p, 'BHD', 61, 42_000n],
    ['JPY with precision { JPY: 2 }: 15.25', compilePlan({ ...doc, precision: { JPY: 2 } }), 'JPY', 61, 15_250_000n],
  ]
  for (const [name, pl, currency, units, gross] of cases) t.match(ok(rate({ service: VOICE, units }, pl, { currency, timezone: 'Asia/Tokyo' }, clock)), { currency, gross }, name)
})

t.test('exchange rates: prices missing in the account currency are converted, rounded up', async (t) => {
  const p = plan('xr', [sms({ rate: '0.123457' }), voice({ rate: '0' }, { deck: 'usd' })], { exchangeRates: { USD: '1.085', JPY: '161.5' } })
  const decks = new Map([['usd', DestinationDeck.fromCsv('usd', '44,UK,0.20,1,1,0\n', { currency: 'USD' })]])
  const ctx = (currency: string) => ({ at: THU(10), timezone: 'UTC', decks, currency })
  const smsSvc = findService(p, SMS)!
  const voiceSvc = findService(p, VOICE)!
  const cases: Array<[string, ReturnType<typeof chooseTariff>, Record<string, unknown>]> = [
    ['EUR → USD: 0.123457 × 1.085 = 0.133950845 → 0.133951', chooseTariff(p, smsSvc, undefined, ctx('USD')), { ok: true, tariff: { rate: 133_951, id: 'xr@1:sms/USD' } }],
    ['EUR → JPY: × 161.5 = 19.9383055 → 19.938306', chooseTariff(p, smsSvc, undefined, ctx('JPY')), { ok: true, tariff: { rate: 19_938_306 } }],
    ['USD deck, EUR account: 0.20 / 1.085 = 0.18433179… → 0.184332', chooseTariff(p, voiceSvc, '+44123', ctx('EUR')), { ok: true, tariff: { rate: 184_332, per: 60, id: 'xr@1:voice:44' } }],
    ['USD deck, USD account: as quoted', chooseTariff(p, voiceSvc, '+44123', ctx('USD')), { ok: true, tariff: { rate: 200_000, id: 'xr@1:voice:44/USD' } }],
    ['USD deck, JPY account: 0.20 × 161.5 / 1.085 → 29.769586', chooseTariff(p, voiceSvc, '+44123', ctx('JPY')), { ok: true, tariff: { rate: 29_769_586 } }],
    ['no GBP price and no GBP rate', chooseTariff(p, smsSvc, undefined, ctx('GBP')), { ok: false, reason: /GBP/ }],
  ]
  for (const [name, got, want] of cases) t.match(got, want, name)
  t.match(rate({ service: SMS, units: 1 }, p, { currency: 'GBP', timezone: 'UTC' }, clock), { ok: false, reason: /no price in GBP and no exchange rate for GBP/ })
  t.throws(() => DestinationDeck.fromCsv('x', '44,UK,0.1\n', { currency: 'usd' }), { code: 'OCS_ERR_DECK' })
})

t.test('promotions: percent, fixed, per segment, per service, time-limited with a boundary', async (t) => {
  const promos = [
    { name: 'student', percent: 25, segments: ['student'] },
    { name: 'cent-off', fixed: '0.01', services: ['voice'] },
    { name: 'sms-deal', percent: 90, services: ['sms'] },
  ]
  const p = plan('promo', [voice({ rate: '0.60', per: 60 }, { timeBands: PEAK_OFFPEAK }), sms({ rate: '0.05' })], { promotions: promos })
  const SAT = Date.UTC(2026, 10, 28, 12)
  const cases: Array<[string, Usage, RatingAccount, bigint, string]> = [
    ['off-peak, student: (0.60 × 50 % − 0.01) × 75 %', { service: VOICE, units: 60, start: SAT }, { ...PARIS, segment: 'student' }, 217_500n, 'promo@1:voice@offpeak+student+cent-off'],
    ['off-peak, no segment: 0.30 − 0.01', { service: VOICE, units: 60, start: SAT }, PARIS, 290_000n, 'promo@1:voice@offpeak+cent-off'],
    ['peak, student: (0.60 − 0.01) × 75 %', { service: VOICE, units: 60, start: THU(10) }, { ...PARIS, segment: 'student' }, 442_500n, 'promo@1:voice@peak+student+cent-off'],
    ['another segment', { service: VOICE, units: 60, start: THU(10) }, { ...PARIS, segment: 'business' }, 590_000n, 'promo@1:voice@peak+cent-off'],
    ['sms: 90 % off 0.05', { service: SMS, units: 1 }, PARIS, 5_000n, 'promo@1:sms+sms-deal'],
  ]
  for (const [name, usage, account, gross, id] of cases) expectRated(t, rate(usage, p, account, clock), { gross, parts: [{ tariff: id }] }, name)

  const big = plan('promo', [voice({ rate: '0.60', per: 60, fee: '0.05' })], { promotions: [{ name: 'free', fixed: { EUR: '1.00', JPY: '200' } }] })
  t.match(ok(rate({ service: VOICE, units: 60 }, big, PARIS, clock)), { gross: 50_000n }, 'fixed above the rate: 0, the fee stays')
  const deckPlan = plan('promo', [voice({ rate: '0' }, { deck: 'intl' })], { promotions: [{ name: 'cent-off', fixed: '0.01' }] })
  t.match(ok(rate({ service: VOICE, units: 60, destination: '+442079460000' }, deckPlan, PARIS, clock, new Map([['intl', DestinationDeck.fromCsv('intl', UK_DECK)]]))), { gross: 90_000n }, 'fixed off a deck rate per minute')

  const happy = plan('happy', [voice({ rate: '0.60', per: 60 })], { promotions: [{ name: 'happy', percent: 50, from: '2026-11-26T17:00:00Z', to: '2026-11-26T18:00:00Z' }] })
  const svc = findService(happy, VOICE)!
  const at = (x: number) => ({ at: x, timezone: 'Europe/Paris', decks: NO_DECKS })
  t.match(chooseTariff(happy, svc, undefined, at(THU(16))), { ok: true, boundary: THU(17), tariff: { id: 'happy@1:voice' } }, 'before: the boundary is the start')
  t.match(chooseTariff(happy, svc, undefined, at(THU(17, 30))), { ok: true, boundary: THU(18), tariff: { id: 'happy@1:voice+happy' } }, 'during: the boundary is the end')
  t.match(chooseTariff(happy, svc, undefined, at(THU(18))), { ok: true, boundary: undefined, tariff: { id: 'happy@1:voice' } }, 'after: none')
  t.same(ok(rate({ service: VOICE, units: 60, start: THU(16, 59, 30) }, happy, PARIS, clock)).parts.map((x) => [x.units, x.gross]), [[30, 300_000n], [30, 150_000n]], 'a call into the promotion')
  t.same(ok(rate({ service: VOICE, units: 60, start: THU(17, 59, 30) }, happy, PARIS, clock)).parts.map((x) => [x.units, x.gross]), [[30, 150_000n], [30, 300_000n]], 'a call out of it')
})

t.test('recurring fees per cycle, rounded to the currency and taxed like usage', async (t) => {
  const fees = [{ name: 'monthly', amount: '9.99' }, { name: 'tv', amount: { EUR: '5', JPY: '800' } }]
  const p = compilePlan({ id: 'fees', currency: 'EUR', services: [sms({ rate: '0.05' })], fees, exchangeRates: { JPY: '161.5' }, taxes: [{ region: '*', rate: '20', inclusive: false }, { region: 'DE', rate: '19', inclusive: true }] })
  t.same(recurringFees(p, 'EUR', 'FR'), [{ name: 'monthly', gross: 11_990_000n, tax: 2_000_000n }, { name: 'tv', gross: 6_000_000n, tax: 1_000_000n }], 'EUR, 20 % on top')
  t.same(recurringFees(p, 'EUR', 'DE'), [{ name: 'monthly', gross: 9_990_000n, tax: 1_600_000n }, { name: 'tv', gross: 5_000_000n, tax: 800_000n }], 'EUR, 19 % inside')
  t.same(recurringFees(p, 'JPY', 'FR'), [{ name: 'monthly', gross: 1_937_000_000n, tax: 323_000_000n }, { name: 'tv', gross: 960_000_000n, tax: 160_000_000n }], 'JPY: 9.99 × 161.5 = 1613.385 → 1614 yen + 323')
  t.throws(() => recurringFees(p, 'GBP'), { code: 'OCS_ERR_PLAN', message: /fees\.0\.amount: .*GBP/ })
  t.same(recurringFees(plan('nofees', [sms({ rate: '0' })]), 'EUR'), [])
})

t.test('affordable(): named cases and agreement with rate()', async (t) => {
  const flat = plan('flat', [voice({ rate: '0.60', per: 60 }, { timeBands: PEAK_OFFPEAK }), data({ rate: '0' })])
  const cases: Array<[string, bigint, Omit<Usage, 'units'>, RatingAccount, number]> = [
    ['1.00 at 0.60/min buys 100 s', 1_000_000n, { service: VOICE, start: THU(10) }, PARIS, 100],
    ['0.90 across peak → off-peak: 60 s + 60 s', 900_000n, { service: VOICE, start: THU(16, 59) }, PARIS, 120],
    ['bundle seconds come first', 600_000n, { service: VOICE, start: THU(16, 58) }, { ...PARIS, bundleUnits: 60 }, 60 + 60 + 0],
    ['a free service', 0n, { service: DATA }, PARIS, 2 ** 52],
    ['an unknown service', 1_000_000n, { service: SMS }, PARIS, 0],
  ]
  for (const [name, amount, usage, account, want] of cases) t.equal(affordable(amount, usage, flat, account, clock), want, name)

  // property: for random amounts/starts, rate() of affordable() units costs at most the amount and one more increment costs more
  const p = plan('aff', [voice({ rate: '0.60', per: 60, first: 30, next: 6, fee: '0.05' }, { timeBands: PEAK_OFFPEAK }), data({ rate: '0.01', per: MiB, tiers: [{ from: 5 * MiB, rate: '0.002' }] })], {
    precision: undefined, taxes: [{ region: '*', rate: '8.875', inclusive: false }],
    promotions: [{ name: 'happy', percent: 30, from: '2026-11-26T17:20:00Z', to: '2026-11-26T17:25:00Z' }],
    fairUsage: { octets: 20 * MiB, action: 'price', tariff: { rate: '0.05', per: MiB } },
  })
  let seed = 7
  const rnd = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31)
  let bad = 0
  for (let i = 0; i < 400; i++) {
    const amount = BigInt(Math.floor(rnd() * 20_000_000))
    const account: RatingAccount = { ...PARIS, bundleUnits: rnd() < 0.3 ? Math.floor(rnd() * 100) : 0, cycleOctets: Math.floor(rnd() * 30 * MiB) }
    const secs = rnd() < 0.6
    const usage = secs ? { service: VOICE, start: THU(16, 40) + Math.floor(rnd() * 3_600_000) } : { service: DATA, start: THU(10) }
    const n = affordable(amount, usage, p, account, clock)
    const at = ok(rate({ ...usage, units: n }, p, account, clock))
    const step = secs ? 6 : 1
    const more = ok(rate({ ...usage, units: n + step }, p, account, clock))
    if (at.gross > amount || more.gross <= amount) {
      if (++bad <= 3) t.fail(`amount ${amount} ${JSON.stringify({ ...account, secs, start: usage.start })}: ${n} units cost ${at.gross}, ${n + step} cost ${more.gross}`)
    }
  }
  t.equal(bad, 0, '400 random amounts')
})

t.test('rerate: a stored CDR under another plan (what-if)', async (t) => {
  const decks = new Map([['intl', DestinationDeck.fromCsv('intl', UK_DECK)]])
  const current = plan('cur', [voice({ rate: '0' }, { deck: 'intl' })])
  const flat = plan('flat', [voice({ rate: '0.05', per: 60, first: 60, next: 60 })])
  const cdr = { service: 'voice', serviceContext: '32260@3gpp.org', ratingGroup: null, serviceId: null, unit: 'seconds' as const, used: 61, start: THU(10), destination: '+447911123456' }
  t.match(rerate(cdr, current, PARIS, decks), { ok: true, gross: 270_000n, destinationName: 'UK mobile' }, 'as charged')
  expectRated(t, rerate(cdr, flat, PARIS, decks), { ok: true, gross: 100_000n, parts: [{ tariff: 'flat@1:voice', start: THU(10) }] }, 'under a flat plan: two minutes at 0.05')
  t.match(rerate({ ...cdr, service: 'telephony' }, flat, PARIS), { ok: true, gross: 100_000n }, 'service renamed: matched by Service-Context-Id')
  t.match(rerate({ ...cdr, unit: 'octets' }, flat, PARIS), { ok: false, reason: /counts seconds, the CDR octets/ })
  t.match(rerate({ ...cdr, service: null, serviceContext: '32251@3gpp.org' }, flat, PARIS), { ok: false, reason: /no service/ })
  t.same(rerate(cdr, current, PARIS, decks), rerate(cdr, current, PARIS, decks), 'deterministic')
})

t.test('the module API: clock injection, determinism, bad input', async (t) => {
  const p = plan('api', [voice({ rate: '0.60', per: 60 }, { timeBands: PEAK_OFFPEAK })])
  const r1 = ok(rate({ service: VOICE, units: 30 }, p, PARIS, () => THU(16, 59, 50)))
  t.same(r1.parts.map((x) => x.start), [THU(16, 59, 50), THU(17)], 'the start defaults to the injected clock')
  t.same(rate({ service: VOICE, units: 30 }, p, PARIS, () => THU(16, 59, 50)), r1, 'same inputs, same result')
  t.match(rate({ service: VOICE, units: 1.5 }, p, PARIS, clock), { ok: false, reason: /whole number/ })
  t.match(rate({ service: VOICE, units: -1 }, p, PARIS, clock), { ok: false })
  t.match(rate({ service: { serviceContext: '1@x' }, units: 1 }, p, PARIS, clock), { ok: false, reason: /no service for 1@x/ })
  expectRated(t, rate({ service: VOICE, units: 0 }, p, PARIS, clock), { ok: true, gross: 0n, parts: [] }, '0 units')
})

t.test('tariff ids change with everything that changes the price; the demo plan keeps its micro tariffs', async (t) => {
  const p = plan('ids', [voice({ rate: '0.60', per: 60 }, { timeBands: PEAK_OFFPEAK })], { precision: undefined, exchangeRates: { USD: '1.1' }, taxes: [{ region: 'A', rate: '10', inclusive: false }, { region: 'B', rate: '10', inclusive: true }], promotions: [{ name: 'x', percent: 10, segments: ['s'] }] })
  const svc = findService(p, VOICE)!
  const id = (at: number, extra: Record<string, string> = {}): string => {
    const c = chooseTariff(p, svc, undefined, { at, timezone: 'Europe/Paris', decks: NO_DECKS, ...extra })
    return c.ok ? c.tariff.id : c.reason
  }
  const ids = [id(THU(10)), id(THU(20)), id(THU(10), { currency: 'USD' }), id(THU(10), { taxRegion: 'A' }), id(THU(10), { taxRegion: 'B' }), id(THU(10), { segment: 's' })]
  t.equal(new Set(ids).size, ids.length, ids.join(' '))
  const demo = compilePlan(DEMO_PLAN)
  const c = chooseTariff(demo, findService(demo, VOICE)!, undefined, { at: 0, timezone: 'UTC', decks: NO_DECKS })
  t.same(c, { ok: true, tariff: { id: 'demo@1:voice', name: 'voice-60-1', rate: 100_000, per: 60, first: 60, next: 1, fee: 0, min: 0 }, destination: undefined, destinationName: undefined, boundary: undefined })
  t.equal(quantumOf(demo, 'EUR'), 1, 'DEMO_PLAN precision 6: micro-units as before')
  t.ok(compilePlan(DEMO_PLAN) instanceof Object && !(compilePlan(DEMO_PLAN) instanceof PlanError))
})
