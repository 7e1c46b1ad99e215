import t from 'tap'
import { affordableUnits, billedUnits, cost, costParts, UNLIMITED_UNITS } from '../../src/rating/cost.js'
import type { LuaTariff } from '../../src/rating/plan.js'

// The extended tariff arithmetic shared with the Lua scripts: tiers, tax (inclusive/exclusive,
// half-up to the quantum), currency quantum, and grant sizing agreeing with cost().

const MiB = 1_048_576
const GiB = 1_073_741_824
const tariff = (x: Partial<LuaTariff>): LuaTariff => ({ id: 't', name: 't', rate: 0, per: 1, first: 1, next: 1, fee: 0, min: 0, ...x })

t.test('volume tiers: each piece priced and rounded up on its own', async (t) => {
  const twoTier = tariff({ rate: 10_000, per: MiB, tiers: [{ from: GiB, rate: 5_000, per: MiB }] })
  const threeTier = tariff({ rate: 10_000, per: MiB, tiers: [{ from: GiB, rate: 5_000, per: MiB }, { from: 10 * GiB, rate: 1_000_000, per: GiB }] })
  const cases: Array<[string, LuaTariff, number, bigint]> = [
    ['0 octets', twoTier, 0, 0n],
    ['1 octet costs a micro-unit', twoTier, 1, 1n],
    ['1 MiB in the first tier', twoTier, MiB, 10_000n],
    ['exactly 1 GiB: all first tier', twoTier, GiB, 10_240_000n],
    ['1 GiB + 1 octet: the tier piece rounds up on its own', twoTier, GiB + 1, 10_240_001n],
    ['1 GiB + 1 MiB crossing inside one usage', twoTier, GiB + MiB, 10_245_000n],
    ['three tiers, the last with its own per', threeTier, 11 * GiB, 10_240_000n + 46_080_000n + 1_000_000n],
    ['rate 10/3: 3 units over a tier at 2 = ceil(20/3) + ceil(10/3)', tariff({ rate: 10, per: 3, tiers: [{ from: 2, rate: 10, per: 3 }] }), 3, 11n],
    ['the same without the tier = ceil(30/3)', tariff({ rate: 10, per: 3 }), 3, 10n],
    ['fee on top of the tiers', { ...twoTier, fee: 50_000 }, GiB + MiB, 10_295_000n],
    ['minimum above the tiered price', { ...twoTier, min: 20_000 }, MiB, 20_000n],
    ['quantum rounds the tiered total up', { ...twoTier, q: 10_000 }, GiB + 1, 10_250_000n],
  ]
  for (const [name, tf, u, want] of cases) t.equal(cost(tf, u), want, name)
  t.equal(cost(twoTier, GiB + MiB, false), 10_245_000n, 'a later segment (first = next = 1) prices the same')
})

t.test('tax: exclusive and inclusive, half-up to the currency quantum', async (t) => {
  const eur = (rate: number, tx: number, ti?: 1): LuaTariff => tariff({ rate, q: 10_000, tx, ...(ti ? { ti } : {}) })
  const cases: Array<[string, LuaTariff, number, { net: bigint; tax: bigint; gross: bigint }]> = [
    ['8.875 % exclusive on 1.00: tax 0.08875 → 0.09', eur(1_000_000, 88_750), 1, { net: 1_000_000n, tax: 90_000n, gross: 1_090_000n }],
    ['8.875 % inclusive in 1.00: net 0.918484… → 0.92', eur(1_000_000, 88_750, 1), 1, { net: 920_000n, tax: 80_000n, gross: 1_000_000n }],
    ['8.875 % exclusive on 9.18: tax 0.81472… → 0.81', eur(9_180_000, 88_750), 1, { net: 9_180_000n, tax: 810_000n, gross: 9_990_000n }],
    ['8.875 % inclusive in 10.00: net 9.184845… → 9.18', eur(10_000_000, 88_750, 1), 1, { net: 9_180_000n, tax: 820_000n, gross: 10_000_000n }],
    ['25 % exclusive on 0.02: tax exactly 0.005 rounds up to 0.01', eur(20_000, 250_000), 1, { net: 20_000n, tax: 10_000n, gross: 30_000n }],
    ['20 % inclusive in 0.03: net exactly 0.025 rounds up to 0.03', eur(30_000, 200_000, 1), 1, { net: 30_000n, tax: 0n, gross: 30_000n }],
    ['the price is rounded up to the quantum before tax', eur(1, 200_000), 1, { net: 10_000n, tax: 0n, gross: 10_000n }],
    ['micro quantum: 20 % of 3 = 0.6 → 1', tariff({ rate: 3, tx: 200_000 }), 1, { net: 3n, tax: 1n, gross: 4n }],
    ['micro quantum: 20 % of 2 = 0.4 → 0', tariff({ rate: 2, tx: 200_000 }), 1, { net: 2n, tax: 0n, gross: 2n }],
    ['no tax', eur(123_456, 0), 1, { net: 130_000n, tax: 0n, gross: 130_000n }],
    ['0 units: everything 0', eur(1_000_000, 200_000), 0, { net: 0n, tax: 0n, gross: 0n }],
  ]
  for (const [name, tf, u, want] of cases) {
    t.same(costParts(tf, u), want, name)
    t.equal(cost(tf, u), want.gross, `${name}: cost() = gross`)
  }
})

t.test('currency precision: JPY (0 decimals) and BHD (3 decimals)', async (t) => {
  const jpy = tariff({ rate: 15_000_000, per: 60, q: 1_000_000 }) // 15 JPY a minute, per second
  const bhd = tariff({ rate: 41_000, per: 60, q: 1_000 }) // 0.041 BHD a minute
  const cases: Array<[string, LuaTariff, number, bigint, bigint]> = [
    ['JPY 1 s = 0.25 → 1 yen', jpy, 1, 1_000_000n, 0n],
    ['JPY 60 s = 15 yen', jpy, 60, 15_000_000n, 0n],
    ['JPY 61 s = 15.25 → 16 yen', jpy, 61, 16_000_000n, 0n],
    ['JPY 61 s + 10 % exclusive: tax 1.6 → 2 yen', { ...jpy, tx: 100_000 }, 61, 18_000_000n, 2_000_000n],
    ['JPY 61 s, 10 % inclusive: net 14.54… → 15, tax 1 yen', { ...jpy, tx: 100_000, ti: 1 }, 61, 16_000_000n, 1_000_000n],
    ['BHD 61 s = 0.041683… → 0.042', bhd, 61, 42_000n, 0n],
    ['BHD 1 s = 0.000683… → 0.001', bhd, 1, 1_000n, 0n],
    ['BHD 61 s + 5 % exclusive: tax 0.0021 → 0.002', { ...bhd, tx: 50_000 }, 61, 44_000n, 2_000n],
  ]
  for (const [name, tf, u, gross, tax] of cases) t.match(costParts(tf, u), { gross, tax }, name)
})

t.test('affordableUnits: named cases', async (t) => {
  const m60 = tariff({ rate: 600_000, per: 60, first: 60, next: 60 })
  const cases: Array<[string, LuaTariff, boolean, number, bigint, number]> = [
    ['60/60: 1.20 buys two minutes', m60, true, 0, 1_200_000n, 120],
    ['60/60: 1.199999 buys one', m60, true, 0, 1_199_999n, 60],
    ['60/60: nothing when the first minute is out of reach', m60, true, 0, 599_999n, 0],
    ['60/60: 61 s used, 0 more money still reaches 120 s', m60, true, 61, 0n, 59],
    ['60/60: 61 s used, one more minute', m60, true, 61, 600_000n, 119],
    ['later segment: starts with next, no fee', { ...m60, first: 30, fee: 50_000 }, false, 0, 600_000n, 60],
    ['first segment: fee out of reach', { ...m60, fee: 50_000 }, true, 0, 49_999n, 0],
    ['zero price: unlimited', tariff({ rate: 0 }), true, 0, 0n, UNLIMITED_UNITS],
    ['zero price but a fee beyond the budget', tariff({ rate: 0, fee: 50_000 }), true, 0, 0n, 0],
    ['negative budget', m60, true, 0, -1n, 0],
    ['tax and quantum: 1.00 at 0.10 + 20 % = 0.12 a unit buys 8', tariff({ rate: 100_000, tx: 200_000, q: 10_000 }), true, 0, 1_000_000n, 8],
    ['tiers: 0.10 then 0.05 from 5 units: 1.00 buys 5 + 10', tariff({ rate: 100_000, tiers: [{ from: 5, rate: 50_000, per: 1 }] }), true, 0, 1_000_000n, 15],
  ]
  for (const [name, tf, isFirst, u0, budget, want] of cases) t.equal(affordableUnits(tf, isFirst, u0, budget), want, name)
})

/** Deterministic PRNG (mulberry32). */
function prng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0
    let x = Math.imul(seed ^ (seed >>> 15), 1 | seed)
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296
  }
}

t.test('property: affordableUnits agrees with cost() for random tariffs (tiers, tax, quantum)', async (t) => {
  const rnd = prng(4)
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]
  const int = (lo: number, hi: number): number => lo + Math.floor(rnd() * (hi - lo + 1))
  let failures = 0
  const N = 3000
  for (let i = 0; i < N; i++) {
    const per = pick([1, 6, 60, MiB])
    const tf = tariff({ rate: pick([0, 1, 7, 1_000, 100_000, 600_000, 2_000_000]), per, first: pick([1, 6, 30, 60]), next: pick([1, 6, 60]), fee: pick([0, 0, 50_000]), min: pick([0, 0, 120_000]) })
    const nTiers = int(0, 3)
    if (nTiers > 0) {
      tf.tiers = []
      let from = 0
      for (let k = 0; k < nTiers; k++) {
        from += int(1, 300)
        tf.tiers.push({ from, rate: pick([0, 3, 50_000, 900_000]), per: pick([1, 60, per]) })
      }
    }
    const tx = pick([0, 0, 88_750, 200_000])
    if (tx) tf.tx = tx
    if (tx && rnd() < 0.5) tf.ti = 1
    const q = pick([1, 1, 1_000, 10_000, 1_000_000])
    if (q > 1) tf.q = q
    const isFirst = rnd() < 0.7
    const u0 = pick([0, 0, int(1, 400)])
    const budget = BigInt(pick([0, int(0, 100_000), int(0, 5_000_000), int(0, 50_000_000)]))
    const a = affordableUnits(tf, isFirst, u0, budget)
    const ok = (() => {
      const c0 = cost(tf, u0, isFirst)
      const first = isFirst ? tf.first : tf.next
      // unlimited: a free tariff, or a free last tier reachable within the budget
      if (a === UNLIMITED_UNITS) return cost(tf, first + Math.floor((UNLIMITED_UNITS - first) / tf.next) * tf.next, isFirst) - c0 <= budget
      const u = u0 + a
      if (a < 0 || cost(tf, u, isFirst) - c0 > budget) return false
      if (a > 0 && billedUnits(tf, u, isFirst) !== u) return false // the end point is aligned
      const nextU = u < first ? first : first + (Math.floor((u - first) / tf.next) + 1) * tf.next
      return cost(tf, nextU, isFirst) - c0 > budget // one more increment is beyond the budget
    })()
    if (!ok) {
      failures++
      if (failures <= 5) t.fail(`tariff ${JSON.stringify(tf)} isFirst=${isFirst} u0=${u0} budget=${budget} → ${a}`)
    }
  }
  t.equal(failures, 0, `${N} random cases`)
})
