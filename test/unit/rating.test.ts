import t from 'tap'
import { cost, billedUnits } from '../../src/rating/cost.js'
import { compilePlan, findService, type LuaTariff, type PlanDocument } from '../../src/rating/plan.js'
import { DestinationDeck } from '../../src/rating/deck.js'
import { normaliseNumber } from '../../src/rating/e164.js'
import { bandAt, nextBandChange, type TimeBand } from '../../src/rating/time-bands.js'
import { chooseTariff } from '../../src/rating/rate.js'

const perSecond = (first: number, next: number): LuaTariff => ({ id: `t${first}/${next}`, name: 'x', rate: 600_000, per: 60, first, next, fee: 0, min: 0 })

t.test('increments: named cases under 60/60 and 30/6 (0.60/min = 10,000 micro-units a second)', async (t) => {
  const cases: Array<[string, LuaTariff, number, number]> = [
    ['60/60: 0 s call costs nothing', perSecond(60, 60), 0, 0],
    ['60/60: 1 s bills a minute', perSecond(60, 60), 1, 600_000],
    ['60/60: 29 s', perSecond(60, 60), 29, 600_000],
    ['60/60: 30 s', perSecond(60, 60), 30, 600_000],
    ['60/60: 31 s', perSecond(60, 60), 31, 600_000],
    ['60/60: 59 s', perSecond(60, 60), 59, 600_000],
    ['60/60: 60 s', perSecond(60, 60), 60, 600_000],
    ['60/60: 61 s bills two minutes', perSecond(60, 60), 61, 1_200_000],
    ['30/6: 0 s', perSecond(30, 6), 0, 0],
    ['30/6: 1 s bills 30 s', perSecond(30, 6), 1, 300_000],
    ['30/6: 29 s', perSecond(30, 6), 29, 300_000],
    ['30/6: 30 s', perSecond(30, 6), 30, 300_000],
    ['30/6: 31 s bills 36 s', perSecond(30, 6), 31, 360_000],
    ['30/6: 59 s bills 60 s', perSecond(30, 6), 59, 600_000],
    ['30/6: 60 s', perSecond(30, 6), 60, 600_000],
    ['30/6: 61 s bills 66 s', perSecond(30, 6), 61, 660_000],
    ['1/1: 61 s', perSecond(1, 1), 61, 610_000],
  ]
  for (const [name, tariff, secs, micro] of cases) t.equal(cost(tariff, secs), BigInt(micro), name)
  t.equal(billedUnits(perSecond(30, 6), 31), 36)
  t.equal(cost({ ...perSecond(60, 60), fee: 50_000 }, 10), 650_000n, 'connection fee on top')
  t.equal(cost({ ...perSecond(1, 1), min: 100_000 }, 2), 100_000n, 'minimum charge')
  t.equal(cost({ id: 'v', name: 'v', rate: 10_000, per: 1_048_576, first: 1, next: 1, fee: 0, min: 0 }, 1), 1n, 'volume: any octet costs at least a micro-unit')
  t.equal(cost({ id: 'v', name: 'v', rate: 10_000, per: 1_048_576, first: 1, next: 1, fee: 0, min: 0 }, 2 ** 40), 10_485_760_000n, '1 TiB exactly, no float on the way')
})

t.test('E.164 normalisation', async (t) => {
  const cases: Array<[string, string | undefined, string | undefined]> = [
    ['+46 70-123 45 67', undefined, '46701234567'],
    ['0046701234567', undefined, '46701234567'],
    ['0701234567', 'SE', '46701234567'],
    ['0612345678', 'FR', '33612345678'],
    ['2125550100', 'US', '12125550100'],
    ['tel:+44-20-7946-0000', undefined, '442079460000'],
    ['sip:+4915112345678@ims.example;user=phone', undefined, '4915112345678'],
    ['sip:alice@example.com', undefined, undefined],
    ['46701234567', 'SE', '46701234567'],
  ]
  for (const [input, country, want] of cases) t.equal(normaliseNumber(input, country), want, `${input} (${country ?? '-'})`)
})

t.test('rate decks: longest prefix wins over overlapping 44 / 447 / 4477; CSV errors name the line', async (t) => {
  const deck = DestinationDeck.fromCsv('intl', 'prefix,destination,price,first_increment,next_increment,connect_fee\n44,UK fixed,0.10,60,60,0\n447,UK mobile,0.20,30,6,0.05\n4477,UK mobile premium,0.90,1,1,0\n')
  t.equal(deck.size, 3)
  t.equal(deck.lookup('442079460000')?.destination, 'UK fixed')
  t.equal(deck.lookup('447911123456')?.destination, 'UK mobile')
  t.equal(deck.lookup('447711123456')?.destination, 'UK mobile premium')
  t.equal(deck.lookup('4')?.destination, undefined)
  t.equal(deck.lookup('33612345678'), undefined)
  t.match(deck.lookup('447911123456'), { ratePerMinute: 200_000, first: 30, next: 6, fee: 50_000 })
  t.throws(() => DestinationDeck.fromCsv('bad', '44,UK,0.10\n4x,Bad,0.1\n'), { code: 'OCS_ERR_DECK', message: /line 2: prefix "4x"/ })
  t.throws(() => DestinationDeck.fromCsv('bad', '44,UK,ten\n'), { message: /line 1: price "ten"/ })
})

const PEAK_OFFPEAK: TimeBand[] = [
  { name: 'peak', days: ['mon', 'tue', 'wed', 'thu', 'fri'], from: '08:00', to: '18:00', percent: 100 },
  { name: 'offpeak', days: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun', 'hol'], from: '00:00', to: '24:00', percent: 50 },
]
const NONE = new Set<string>()

t.test('time bands in the account zone, boundaries across DST', async (t) => {
  // Thursday 2026-11-26 17:59:30 in Paris (UTC+1) is peak; the band changes at 18:00 local = 17:00 UTC.
  const at = Date.UTC(2026, 10, 26, 16, 59, 30)
  t.equal(bandAt(PEAK_OFFPEAK, NONE, 'Europe/Paris', at)?.name, 'peak')
  t.equal(nextBandChange(PEAK_OFFPEAK, NONE, 'Europe/Paris', at), Date.UTC(2026, 10, 26, 17, 0))
  t.equal(bandAt(PEAK_OFFPEAK, NONE, 'America/New_York', at)?.name, 'peak', '11:59 in New York')
  t.equal(bandAt(PEAK_OFFPEAK, new Set(['2026-11-26']), 'Europe/Paris', at)?.name, 'offpeak', 'a holiday is off-peak all day')
  t.equal(bandAt(PEAK_OFFPEAK, NONE, 'Europe/Paris', Date.UTC(2026, 10, 28, 12))?.name, 'offpeak', 'Saturday')

  // Europe/Paris DST starts Sunday 2026-03-29 (02:00 → 03:00). A night band 00:00–06:00 ends at 06:00 CEST = 04:00 UTC.
  const night: TimeBand[] = [{ name: 'night', days: ['sun'], from: '00:00', to: '06:00', percent: 30 }]
  t.equal(nextBandChange(night, NONE, 'Europe/Paris', Date.UTC(2026, 2, 28, 23, 30)), Date.UTC(2026, 2, 29, 4, 0), 'the 23-hour day')
  // America/New_York DST ends Sunday 2026-11-01 (02:00 → 01:00): 06:00 EST = 11:00 UTC.
  t.equal(nextBandChange(night, NONE, 'America/New_York', Date.UTC(2026, 10, 1, 4, 30)), Date.UTC(2026, 10, 1, 11, 0), 'the 25-hour day')
  // America/New_York DST starts Sunday 2026-03-08: 06:00 EDT = 10:00 UTC.
  t.equal(nextBandChange(night, NONE, 'America/New_York', Date.UTC(2026, 2, 8, 5, 30)), Date.UTC(2026, 2, 8, 10, 0))
  t.equal(nextBandChange([], NONE, 'UTC', 0), undefined)
})

const PLAN: PlanDocument = {
  id: 'intl',
  version: 3,
  currency: 'EUR',
  holidays: ['2026-12-25'],
  services: [
    { name: 'voice', unit: 'seconds', match: { context: '32260@3gpp.org' }, tariff: { rate: '0.10', per: 60 }, deck: 'intl', timeBands: PEAK_OFFPEAK },
    { name: 'data', unit: 'octets', match: { context: '32251@3gpp.org', ratingGroups: [10, 11] }, tariff: { rate: '0.01', per: 1048576 } },
  ],
}

t.test('chooseTariff: destination, then band; the grant boundary comes with it', async (t) => {
  const plan = compilePlan(PLAN)
  const decks = new Map([['intl', DestinationDeck.fromCsv('intl', '44,UK fixed,0.10,60,60,0\n447,UK mobile,0.20,30,6,0.05\n')]])
  const voice = findService(plan, { serviceContext: 'ext.01.001.8.32260@3gpp.org' })!
  const peak = chooseTariff(plan, voice, 'tel:+447911123456', { at: Date.UTC(2026, 10, 26, 16, 59, 0), timezone: 'Europe/Paris', decks })
  t.match(peak, { ok: true, destination: '447911123456', destinationName: 'UK mobile', boundary: Date.UTC(2026, 10, 26, 17, 0), tariff: { rate: 200_000, per: 60, first: 30, next: 6, fee: 50_000 } })
  const off = chooseTariff(plan, voice, '00447911123456', { at: Date.UTC(2026, 10, 26, 17, 0, 1), timezone: 'Europe/Paris', decks })
  t.match(off, { ok: true, tariff: { rate: 200_000 * 50, per: 6000 } })
  t.equal(cost((off as { tariff: LuaTariff }).tariff, 60), 100_000n + 0n + 50_000n, 'half price plus the connection fee')
  t.match(chooseTariff(plan, voice, '33612345678', { at: 0, timezone: 'UTC', decks }), { ok: false, reason: /no destination/ })
  t.match(chooseTariff(plan, voice, undefined, { at: 0, timezone: 'UTC', decks }), { ok: false })
  t.equal(findService(plan, { serviceContext: '32251@3gpp.org', ratingGroup: 12 }), undefined, 'rating group not in the plan')
  t.equal(findService(plan, { serviceContext: '32251@3gpp.org', ratingGroup: 11 })?.name, 'data')
})

t.test('a plan with a schema error is refused naming the path', async (t) => {
  t.throws(() => compilePlan({ ...PLAN, currency: 'euro' }), { code: 'OCS_ERR_PLAN', message: /^plan currency: an ISO 4217 code/ })
  t.throws(() => compilePlan({ ...PLAN, services: [{ ...PLAN.services[0], tariff: { rate: '0,10' } }] }), { message: /^plan services\.0\.tariff\.rate: a decimal amount/ })
  t.throws(() => compilePlan({ ...PLAN, services: [{ ...PLAN.services[0], timeBands: [{ name: 'x', days: ['mon'], from: '25:00', to: '10:00', percent: 10 }] }] }), { message: /^plan services\.0\.timeBands\.0\.from: HH:MM/ })
  t.throws(() => compilePlan({ ...PLAN, services: [PLAN.services[0], PLAN.services[0]] }), { message: /duplicate service "voice"/ })
})
