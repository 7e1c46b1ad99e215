// The tariff arithmetic exists twice: in TypeScript (src/rating/cost.ts: price enquiries, re-rating)
// and in Lua (src/balance/lua/lib.lua: every debit). This runs the Lua functions inside a real
// redis-server on thousands of random tariffs — tiers, inclusive/exclusive tax, currency quanta —
// and requires the same gross, tax and affordable units to the micro-unit.
import t from 'tap'
import { startRedis } from '../helpers/redis.js'
import { luaLib } from '../../src/balance/scripts.js'
import { affordableUnits, costParts } from '../../src/rating/cost.js'
import { compilePlan, type LuaTariff } from '../../src/rating/plan.js'
import { chooseTariff } from '../../src/rating/rate.js'

const harness = `${luaLib()}
local out = {}
for _, c in ipairs(cjson.decode(ARGV[1])) do
  local g, x = costTax(c.t, c.f, c.u)
  local c0 = cost(c.t, c.f, c.u0)
  local a = affordableUnits(c.t, c.f, c.u0, c0, c.b)
  out[#out + 1] = { fmt(g), fmt(x), fmt(a) }
end
return cjson.encode(out)
`

function rng(seed: number): () => number {
  let s = seed
  return () => {
    s = (s + 0x6d2b79f5) | 0
    let x = Math.imul(s ^ (s >>> 15), 1 | s)
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296
  }
}

t.test('Lua and TypeScript price every tariff identically', async (t) => {
  const redis = await startRedis()
  t.teardown(() => redis.stop())
  const rand = rng(20261126)
  const int = (n: number): number => Math.floor(rand() * n)
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]
  const cases: Array<{ t: LuaTariff; f: boolean; u: number; u0: number; b: number }> = []
  for (let i = 0; i < 4000; i++) {
    const unitVolume = rand() < 0.4
    const per = unitVolume ? pick([1, 1024, 1_048_576]) : pick([1, 60])
    const tariff: LuaTariff = {
      id: `t${i}`, name: 't', rate: pick([0, 1, 7, 999, 10_000, 100_000, 600_000, 1_234_567]), per,
      // 0 for first or next: both are read as at least 1
      first: unitVolume ? pick([0, 1, 1]) : pick([0, 1, 30, 60]), next: unitVolume ? pick([0, 1, 1024]) : pick([0, 1, 6, 60]),
      fee: pick([0, 0, 50_000, 1]), min: pick([0, 0, 100_000, 3]),
    }
    if (rand() < 0.4) {
      const from1 = 1 + int(unitVolume ? 5_000_000 : 600)
      tariff.tiers = [{ from: from1, rate: pick([0, 5, 5_000, 300_000]), per }]
      if (rand() < 0.5) tariff.tiers.push({ from: from1 + 1 + int(unitVolume ? 5_000_000 : 600), rate: pick([1, 2_500, 150_000]), per: pick([per, 1]) })
    }
    if (rand() < 0.5) tariff.tx = pick([200_000, 88_750, 70_000, 1, 999_999])
    if (tariff.tx && rand() < 0.5) tariff.ti = 1
    if (rand() < 0.5) tariff.q = pick([10, 1000, 10_000, 1_000_000])
    const u = int(4) === 0 ? int(3) : int(unitVolume ? 50_000_000 : 7200)
    cases.push({ t: tariff, f: rand() < 0.8, u, u0: int(2) === 0 ? 0 : int(unitVolume ? 10_000_000 : 600), b: pick([0, 1, 999, 10_000, 1_000_000, 25_000_000, int(1e9)]) })
  }
  // Every other case reaches Lua without its default fields (first and next 1, fee and min 0), as a
  // compacted tariff is stored: the scripts read a tariff's fields directly, absent ones as their
  // defaults.
  const withoutDefaults = (tariff: LuaTariff): Partial<LuaTariff> => {
    const c: Partial<LuaTariff> = { ...tariff }
    if (c.first === 1) delete c.first
    if (c.next === 1) delete c.next
    if (c.fee === 0) delete c.fee
    if (c.min === 0) delete c.min
    return c
  }
  let mismatches = 0
  for (let from = 0; from < cases.length; from += 500) {
    const batch = cases.slice(from, from + 500)
    const sent = batch.map((c, j) => ((from + j) % 2 === 0 ? { ...c, t: withoutDefaults(c.t) } : c))
    const got = JSON.parse((await redis.client.eval(harness, 0, JSON.stringify(sent))) as string) as Array<[string, string, string]>
    batch.forEach((c, j) => {
      const want = costParts(c.t, c.u, c.f)
      const wantA = affordableUnits(c.t, c.f, c.u0, BigInt(c.b))
      const [g, x, a] = got[j]
      if (BigInt(g) !== want.gross || BigInt(x) !== want.tax || Number(a) !== wantA) {
        if (mismatches++ < 5) t.fail(`case ${from + j}: ${JSON.stringify(c)} → Lua ${g}/${x}/${a}, TS ${want.gross}/${want.tax}/${wantA}`)
      }
    })
  }
  t.equal(mismatches, 0, `${cases.length} random tariffs: gross, tax and affordable units agree`)
})

// fmt() turns every amount and count the scripts write or return into a string. Integers below 2^53
// take '%d' (glibc's integer code; '%.0f' takes its multi-precision float path, several times
// slower); both must print the same digits, and anything else keeps '%.0f'.
t.test('fmt prints what %.0f prints, integers by the integer path', async (t) => {
  const redis = await startRedis()
  t.teardown(() => redis.stop())
  const probe = `${luaLib()}
local out = {}
for _, v in ipairs(ARGV) do
  local n = tonumber(v)
  if v == 'negzero' then n = -0.0 end
  out[#out + 1] = { fmt(n), string.format('%.0f', n) }
end
return cjson.encode(out)
`
  const values = [
    '0', '1', '-1', '42', '999999', '1000000', '2147483647', '2147483648', '4294967297', '-4294967297',
    '4503599627370496', '9007199254740991', '-9007199254740991', '9007199254740992', '-9007199254740992',
    '1e20', '-1e20', '0.5', '1.5', '2.5', '-2.5', '123456789.4', '1795824587917', 'negzero',
  ]
  const rand = rng(7)
  for (let i = 0; i < 200; i++) values.push(String(Math.floor(rand() * 2 ** 53) * (rand() < 0.3 ? -1 : 1)))
  const got = JSON.parse((await redis.client.eval(probe, 0, ...values)) as string) as Array<[string, string]>
  t.equal(got.length, values.length)
  const differing = got.map(([f, p], i) => ({ v: values[i], f, p })).filter((r) => r.f !== r.p)
  // -0 is the one integer they print differently: '%.0f' says "-0", which Redis's HINCRBY refuses.
  t.same(differing, [{ v: 'negzero', f: '0', p: '-0' }])
  t.equal(got[values.indexOf('9007199254740991')][0], '9007199254740991')
  t.equal(got[values.indexOf('-9007199254740991')][0], '-9007199254740991')
  t.equal(got[values.indexOf('1e20')][0], '100000000000000000000')
  t.equal(got[values.indexOf('2.5')][0], got[values.indexOf('2.5')][1])
})

t.test('a discounted tariff whose rate × per would pass 2^53 reaches Lua as its smallest fraction, and is charged exactly', async (t) => {
  // 4.99 EUR per GiB with a 15 % promotion: rate × per was 424,150,000 × 107,374,182,400 ≈ 4.6e19, and Lua's
  // products of a remainder and the rate lost exactness there (1 micro-unit under the quote).
  const plan = compilePlan({
    id: 'gib', version: 1, currency: 'EUR', precision: 6,
    services: [{ name: 'data', unit: 'octets', match: { context: '32251@3gpp.org' }, tariff: { rate: '4.99', per: 1_073_741_824 } }],
    promotions: [{ name: 'spring', percent: 15 }],
  })
  const choice = chooseTariff(plan, plan.services[0], undefined, { at: Date.now(), timezone: 'UTC', decks: new Map() })
  if (!choice.ok) throw new Error(choice.reason)
  const tariff = choice.tariff
  t.ok(tariff.rate * tariff.per < 2 ** 53, `rate ${tariff.rate} per ${tariff.per}: the product fits the exact range`)
  const redis = await startRedis()
  t.teardown(() => redis.stop())
  const units = 11_120_798_119
  const budget = 43_929_429
  const [[g, , a]] = JSON.parse((await redis.client.eval(harness, 0, JSON.stringify([{ t: tariff, f: true, u: units, u0: 0, b: budget }]))) as string) as string[][]
  t.equal(g, String(costParts(tariff, units, true).gross), 'Lua charges what the quote says')
  t.equal(Number(a), affordableUnits(tariff, true, 0, BigInt(budget)), 'and grants what the budget pays')
})
