import type { LuaTariff } from './plan.js'

export type { LuaTariff } from './plan.js'

// The tariff arithmetic shared with the Lua scripts (src/balance/lua/lib.lua), in exact bigint:
// used for price enquiries, grant sizing and re-rating, and to cross-check the scripts in tests.
//
// For u used units of a segment (the first segment of a rating group takes the first increment
// and the fee; later segments, after a tariff change, start with `next` and no fee):
//   b      = billedUnits(t, u, isFirst)
//   netRaw = fee + Σ pieces ceil(units_in_piece × rate_i / per_i)   (piece 0 = [0, tiers[0].from) at
//            rate/per, piece i = [tiers[i].from, tiers[i+1].from) at the tier's rate/per)
//   price  = max(netRaw, min) rounded UP to a multiple of q
//   exclusive tax: net = price, tax = net × tx / 1e6 half-up to q, gross = net + tax
//   inclusive tax: gross = price, net = gross × 1e6 / (1e6 + tx) half-up to q, tax = gross − net

export const UNLIMITED_UNITS = 2 ** 52

const ceilDiv = (a: bigint, b: bigint): bigint => (a + b - 1n) / b
/** round(a / d) half up, for a ≥ 0, d > 0 */
const roundHalfUp = (a: bigint, d: bigint): bigint => (2n * a + d) / (2n * d)
const PPM = 1_000_000n

export function billedUnits(t: LuaTariff, units: number, isFirst = true): number {
  if (units <= 0) return 0
  const first = Math.max(1, isFirst ? t.first : t.next)
  const next = Math.max(1, t.next)
  if (units <= first) return first
  return first + Math.ceil((units - first) / next) * next
}

function netRaw(t: LuaTariff, b: number, isFirst: boolean): bigint {
  let c = isFirst ? BigInt(t.fee) : 0n
  const tiers = t.tiers
  if (!tiers || tiers.length === 0) return c + ceilDiv(BigInt(b) * BigInt(t.rate), BigInt(Math.max(1, t.per)))
  let lo = 0
  let rate = t.rate
  let per = t.per
  for (const tier of tiers) {
    const hi = tier.from
    if (b <= hi) return c + ceilDiv(BigInt(b - lo) * BigInt(rate), BigInt(Math.max(1, per)))
    if (hi > lo) {
      c += ceilDiv(BigInt(hi - lo) * BigInt(rate), BigInt(Math.max(1, per)))
      lo = hi
    }
    rate = tier.rate
    per = tier.per
  }
  return c + ceilDiv(BigInt(b - lo) * BigInt(rate), BigInt(Math.max(1, per)))
}

/** max(netRaw, min) rounded up to the quantum: the price before tax (or including it, for ti = 1). */
function priceOf(t: LuaTariff, units: number, isFirst: boolean): bigint {
  let c = netRaw(t, billedUnits(t, units, isFirst), isFirst)
  if (c < BigInt(t.min)) c = BigInt(t.min)
  const q = t.q !== undefined && t.q > 1 ? BigInt(t.q) : 1n
  if (q > 1n) c = ceilDiv(c, q) * q
  return c
}

export interface CostParts {
  net: bigint
  tax: bigint
  gross: bigint
}

const ZERO: CostParts = Object.freeze({ net: 0n, tax: 0n, gross: 0n }) as CostParts

/** Net, tax and gross in micro-units of `units` at tariff `t` (see the formulas above). */
export function costParts(t: LuaTariff, units: number, isFirst = true): CostParts {
  if (units <= 0) return { ...ZERO }
  const price = priceOf(t, units, isFirst)
  return splitTax(price, t)
}

/** Splits a price (tax-exclusive or -inclusive per the tariff) into net, tax and gross. */
export function splitTax(price: bigint, t: Pick<LuaTariff, 'tx' | 'ti' | 'q'>): CostParts {
  const tx = t.tx ?? 0
  if (tx <= 0 || price <= 0n) return { net: price, tax: 0n, gross: price }
  const q = t.q !== undefined && t.q > 1 ? BigInt(t.q) : 1n
  const ppm = BigInt(tx)
  if (t.ti === 1) {
    const net = roundHalfUp(price * PPM, (PPM + ppm) * q) * q
    return { net, tax: price - net, gross: price }
  }
  const tax = roundHalfUp(price * ppm, PPM * q) * q
  return { net: price, tax, gross: price + tax }
}

/** Gross price (what is debited) in micro-units of `units` at tariff `t`. */
export function cost(t: LuaTariff, units: number, isFirst = true): bigint {
  if (units <= 0) return 0n
  const price = priceOf(t, units, isFirst)
  const tx = t.tx ?? 0
  if (tx <= 0 || t.ti === 1) return price
  return splitTax(price, t).gross
}

function isZeroPrice(t: LuaTariff): boolean {
  if (t.rate > 0) return false
  for (const x of t.tiers ?? []) if (x.rate > 0) return false
  return true
}

/**
 * Grant sizing: the most additional units a segment already holding `u0` units can take for
 * `budget` more micro-units. The end point u is u0 or aligned to the increments
 * (u = first + k·next) with cost(u) − cost(u0) ≤ budget; returns u − u0 (0 when nothing more is
 * affordable; 2^52 for a zero-price tariff, or when 2^52 units are within the budget, e.g. a free
 * last tier).
 */
export function affordableUnits(t: LuaTariff, isFirst: boolean, u0: number, budget: bigint): number {
  if (budget < 0n) return 0
  if (u0 < 0) u0 = 0
  const first = Math.max(1, isFirst ? t.first : t.next)
  const next = Math.max(1, t.next)
  const limit = cost(t, u0, isFirst) + budget
  const at = (k: number): number => first + k * next
  const fits = (k: number): boolean => cost(t, at(k), isFirst) <= limit
  const k0 = u0 <= first ? 0 : Math.ceil((u0 - first) / next)
  if (!fits(k0)) return 0
  if (isZeroPrice(t)) return UNLIMITED_UNITS
  const kMax = Math.floor((UNLIMITED_UNITS - first) / next)
  if (k0 >= kMax) return UNLIMITED_UNITS
  // A first guess from the base rate (net of an exclusive tax), then gallop and bisect: cost is
  // monotone in k. Reaching 2^52 units (a free last tier) counts as unlimited.
  let lo = k0
  let hi = -1 // unknown yet
  if (t.rate > 0) {
    const tx = BigInt(t.tx ?? 0)
    const net = tx > 0n && t.ti !== 1 ? (limit * 1_000_000n) / (1_000_000n + tx) : limit
    const b = ((net - (isFirst ? BigInt(t.fee) : 0n)) * BigInt(Math.max(1, t.per))) / BigInt(t.rate)
    const g = b > BigInt(kMax) * BigInt(next) ? kMax : Math.floor((Number(b) - first) / next)
    if (g > k0) {
      if (fits(g)) lo = g
      else hi = g
    }
  }
  if (hi < 0) {
    let step = Math.max(1, Math.floor((lo - k0) / 16))
    for (;;) {
      const k = lo + step
      if (k >= kMax) {
        if (fits(kMax)) return UNLIMITED_UNITS
        hi = kMax
        break
      }
      if (!fits(k)) {
        hi = k
        break
      }
      lo = k
      step *= 2
    }
  }
  // invariant: fits(lo), !fits(hi)
  while (hi - lo > 1) {
    const mid = lo + Math.floor((hi - lo) / 2)
    if (fits(mid)) lo = mid
    else hi = mid
  }
  return Math.min(UNLIMITED_UNITS, at(lo) - u0)
}
