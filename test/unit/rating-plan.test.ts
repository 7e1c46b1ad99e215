import t from 'tap'
import { compilePlan, DEMO_PLAN, type PlanDocument } from '../../src/rating/plan.js'

// Plan documents: the new sections compile, and every bad plan is refused naming the path.

const BASE: PlanDocument = {
  id: 'full',
  version: 2,
  currency: 'EUR',
  services: [
    { name: 'voice', unit: 'seconds', match: { context: '32260@3gpp.org' }, tariff: { rate: '0.10', per: 60 } },
    { name: 'data', unit: 'octets', match: { context: '32251@3gpp.org' }, tariff: { rate: { EUR: '0.01', JPY: '2' }, per: 1048576, tiers: [{ from: 1073741824, rate: '0.005' }] } },
    { name: 'sms', unit: 'events', match: { context: '32274@3gpp.org' }, tariff: { rate: '0.05' } },
  ],
}

t.test('a plan with every section compiles', async (t) => {
  const p = compilePlan({
    ...BASE,
    activeFrom: '2026-12-01T00:00:00+01:00',
    precision: { JPY: 0, EUR: 3 },
    exchangeRates: { USD: '1.085', JPY: '161.5' },
    taxes: [{ region: '*', rate: '20', inclusive: true, name: 'VAT' }, { region: 'US-NY', rate: '8.875', inclusive: false }],
    promotions: [{ name: 'launch', percent: 10, services: ['voice'], segments: ['student'], from: '2026-12-01T00:00:00Z', to: '2027-01-01T00:00:00Z' }, { name: 'cent', fixed: { EUR: '0.01', JPY: '1' } }],
    cycle: { period: 'weekly', day: 7 },
    bundles: [{ name: 'minutes', unit: 'seconds', amount: 30000 }, { name: 'gigs', unit: 'octets', amount: 10737418240, services: ['data'], priority: 1 }],
    fees: [{ name: 'monthly', amount: '9.99' }],
    fairUsage: { octets: 53687091200, action: 'redirect', redirectUrl: 'http://portal.example/fup' },
  })
  t.equal(p.activeFrom, Date.UTC(2026, 10, 30, 23))
  t.same(p.precision, { JPY: 0, EUR: 3 })
  t.same(p.exchangeRates.get('USD'), { num: 1085n, den: 1000n })
  t.same(p.taxes, [{ region: '*', name: 'VAT', ppm: 200_000, inclusive: true }, { region: 'US-NY', name: 'US-NY', ppm: 88_750, inclusive: false }])
  t.match(p.promotions[0], { name: 'launch', percent: 10, from: Date.UTC(2026, 11, 1), to: Date.UTC(2027, 0, 1) })
  t.ok(p.promotions[0].services?.has('voice'))
  t.same(p.promotions[1].fixed, { EUR: 10_000, JPY: 1_000_000 })
  t.same(p.cycle, { period: 'weekly', day: 7 })
  t.same(p.bundles, [{ name: 'minutes', unit: 'seconds', amount: 30000, services: ['voice'], priority: 0 }, { name: 'gigs', unit: 'octets', amount: 10737418240, services: ['data'], priority: 1 }])
  t.same(p.fees, [{ name: 'monthly', amount: { EUR: 9_990_000 } }])
  t.match(p.fairUsage, { octets: 53687091200, action: 'redirect', redirectUrl: 'http://portal.example/fup' })
  t.ok(p.fairUsage?.services.has('data'))
  const data = p.services[1]
  t.same(data.tariff, { id: 'full@2:data', name: 'data', rate: 10_000, per: 1048576, first: 1, next: 1, fee: 0, min: 0, tiers: [{ from: 1073741824, rate: 5_000, per: 1048576 }] })
  t.same(data.prices.rate, { EUR: 10_000, JPY: 2_000_000 })
  const minimal = compilePlan(BASE)
  t.same(minimal.cycle, { period: 'monthly', day: 1 }, 'default cycle: monthly on the 1st')
  t.equal(minimal.activeFrom, undefined)
  t.same([minimal.taxes, minimal.promotions, minimal.bundles, minimal.fees], [[], [], [], []])
  t.equal(compilePlan(DEMO_PLAN).precision, 6)
})

t.test('plans with schema errors are refused naming the path', async (t) => {
  const svc = BASE.services
  const cases: Array<[string, unknown, RegExp]> = [
    ['rate with a comma', { ...BASE, services: [{ ...svc[0], tariff: { rate: '0,10' } }] }, /^plan services\.0\.tariff\.rate: a decimal amount/],
    ['rate as a number', { ...BASE, services: [{ ...svc[0], tariff: { rate: 0.1 } }] }, /^plan services\.0\.tariff\.rate: a decimal amount .* or prices per currency/],
    ['a bad price in a record', { ...BASE, services: [{ ...svc[0], tariff: { rate: { EUR: '0.1', JPY: 'ten' } } }] }, /^plan services\.0\.tariff\.rate\.JPY: a decimal amount/],
    ['a bad currency in a record', { ...BASE, services: [{ ...svc[0], tariff: { rate: { EUR: '0.1', yen: '1' } } }] }, /^plan services\.0\.tariff\.rate\.yen: key: an ISO 4217 code/],
    ['a record without the plan currency', { ...BASE, services: [{ ...svc[0], tariff: { rate: { JPY: '1' } } }] }, /^plan services\.0\.tariff\.rate: no price in the plan currency EUR/],
    ['a fee too large for the scripts', { ...BASE, services: [{ ...svc[0], tariff: { rate: '1', fee: '999999999999' } }] }, /^plan services\.0\.tariff\.fee: at most/],
    ['tiers out of order', { ...BASE, services: [{ ...svc[1], tariff: { rate: '1', tiers: [{ from: 10, rate: '1' }, { from: 5, rate: '1' }] } }] }, /^plan services\.0\.tariff\.tiers\.1\.from: tiers must be in ascending/],
    ['a tier from 0', { ...BASE, services: [{ ...svc[1], tariff: { rate: '1', tiers: [{ from: 0, rate: '1' }] } }] }, /^plan services\.0\.tariff\.tiers\.0\.from:/],
    ['precision 7', { ...BASE, precision: 7 }, /^plan precision: decimal places 0–6/],
    ['precision per currency', { ...BASE, precision: { JPY: -1 } }, /^plan precision\.JPY: decimal places 0–6/],
    ['an exchange rate of 0', { ...BASE, exchangeRates: { USD: '0.000' } }, /^plan exchangeRates\.USD: must be above 0/],
    ['an exchange rate as a number', { ...BASE, exchangeRates: { USD: 1.1 } }, /^plan exchangeRates\.USD:/],
    ['a tax rate with %', { ...BASE, taxes: [{ region: '*', rate: '20%', inclusive: true }] }, /^plan taxes\.0\.rate: a decimal percent/],
    ['a tax without inclusive', { ...BASE, taxes: [{ region: '*', rate: '20' }] }, /^plan taxes\.0\.inclusive:/],
    ['two taxes for one region', { ...BASE, taxes: [{ region: 'FR', rate: '20', inclusive: true }, { region: 'FR', rate: '5.5', inclusive: true }] }, /^plan taxes\.1\.region: duplicate tax region "FR"/],
    ['a promotion over 100 %', { ...BASE, promotions: [{ name: 'p', percent: 120 }] }, /^plan promotions\.0\.percent:/],
    ['a promotion with no discount', { ...BASE, promotions: [{ name: 'p' }] }, /^plan promotions\.0\.percent: a promotion needs percent or fixed/],
    ['a promotion for an unknown service', { ...BASE, promotions: [{ name: 'p', percent: 5, services: ['voice', 'tv'] }] }, /^plan promotions\.0\.services\.1: unknown service "tv"/],
    ['a promotion ending before it starts', { ...BASE, promotions: [{ name: 'p', percent: 5, from: '2026-02-01T00:00:00Z', to: '2026-01-01T00:00:00Z' }] }, /^plan promotions\.0\.to: must be after from/],
    ['a promotion time without a zone', { ...BASE, promotions: [{ name: 'p', percent: 5, from: '2026-02-01T00:00:00' }] }, /^plan promotions\.0\.from: an ISO 8601 timestamp/],
    ['a monthly cycle on the 31st', { ...BASE, cycle: { period: 'monthly', day: 31 } }, /^plan cycle\.day: a monthly cycle starts on day 1–28/],
    ['a weekly cycle on day 8', { ...BASE, cycle: { period: 'weekly', day: 8 } }, /^plan cycle\.day: a weekly cycle/],
    ['a yearly cycle', { ...BASE, cycle: { period: 'yearly' } }, /^plan cycle\.period:/],
    ['a bundle of 0', { ...BASE, bundles: [{ name: 'b', unit: 'seconds', amount: 0 }] }, /^plan bundles\.0\.amount:/],
    ['a bundle for a service of another unit', { ...BASE, bundles: [{ name: 'b', unit: 'seconds', amount: 60, services: ['data'] }] }, /^plan bundles\.0\.services\.0: service "data" counts octets, not seconds/],
    ['a bundle for an unknown service', { ...BASE, bundles: [{ name: 'b', unit: 'events', amount: 60, services: ['mms'] }] }, /^plan bundles\.0\.services\.0: unknown service "mms"/],
    ['a fee without an amount', { ...BASE, fees: [{ name: 'monthly' }] }, /^plan fees\.0\.amount:/],
    ['two fees of one name', { ...BASE, fees: [{ name: 'monthly', amount: '1' }, { name: 'monthly', amount: '2' }] }, /^plan fees\.1\.name: duplicate fee "monthly"/],
    ['fair usage restrict without a filter', { ...BASE, fairUsage: { octets: 1000, action: 'restrict' } }, /^plan fairUsage\.filterId: required when action is "restrict"/],
    ['fair usage redirect without a URL', { ...BASE, fairUsage: { octets: 1000, action: 'redirect' } }, /^plan fairUsage\.redirectUrl: required/],
    ['fair usage price without a tariff', { ...BASE, fairUsage: { octets: 1000, action: 'price' } }, /^plan fairUsage\.tariff: required/],
    ['fair usage with a bad tariff', { ...BASE, fairUsage: { octets: 1000, action: 'price', tariff: { rate: 'x' } } }, /^plan fairUsage\.tariff\.rate: a decimal amount/],
    ['fair usage on a seconds service', { ...BASE, fairUsage: { octets: 1000, action: 'restrict', filterId: 'f', services: ['voice'] } }, /^plan fairUsage\.services\.0: service "voice" counts seconds, not octets/],
    ['activeFrom as a date', { ...BASE, activeFrom: '2026-12-01' }, /^plan activeFrom: an ISO 8601 timestamp/],
    ['one band name with two prices', { ...BASE, services: [{ ...svc[0], timeBands: [{ name: 'off', days: ['sat'], from: '00:00', to: '24:00', percent: 50 }, { name: 'off', days: ['sun'], from: '00:00', to: '24:00', percent: 40 }] }] }, /^plan services\.0\.timeBands\.1\.percent: band "off" already has percent 50/],
    ['a lower-case currency', { ...BASE, currency: 'eur' }, /^plan currency: an ISO 4217 code/],
  ]
  for (const [name, doc, message] of cases) t.throws(() => compilePlan(doc), { code: 'OCS_ERR_PLAN', message }, name)
})
