import type { CompiledPlan, Prices } from './plan.js'

// Currencies: the precision charges round to (ISO 4217 minor units unless the plan says
// otherwise), the quantum that precision means in micro-units, and prices in the account
// currency: the plan's own price in that currency, else the plan-currency price converted with
// the plan's exchange-rate table (micro result rounded up).

const isoDigits = new Map<string, number>()

/** ISO 4217 minor units of a currency (EUR 2, JPY 0, BHD 3), as Intl knows them. */
export function isoPrecision(currency: string): number {
  let d = isoDigits.get(currency)
  if (d === undefined) {
    try {
      d = new Intl.NumberFormat('en', { style: 'currency', currency }).resolvedOptions().maximumFractionDigits ?? 2
    } catch {
      d = 2
    }
    d = Math.min(6, Math.max(0, d))
    isoDigits.set(currency, d)
  }
  return d
}

/** Decimal places charges in `currency` round to under `plan`. */
export function precisionOf(plan: CompiledPlan, currency: string): number {
  const p = plan.precision
  if (typeof p === 'number') return p
  if (p && p[currency] !== undefined) return p[currency]
  return isoPrecision(currency)
}

/** The currency quantum in micro-units: 10^(6 − precision) (EUR 10000, JPY 1000000, BHD 1000). */
export function quantumOf(plan: CompiledPlan, currency: string): number {
  return 10 ** (6 - precisionOf(plan, currency))
}

export type Converted = { ok: true; micro: number } | { ok: false; reason: string }

/**
 * A micro-unit amount quoted in `from` expressed in `to`, through the plan's exchange rates
 * (units of a currency per 1 plan-currency unit): ceil(amount × rate[to] / rate[from]).
 */
export function convert(plan: CompiledPlan, micro: number, from: string, to: string): Converted {
  if (from === to || micro === 0) return { ok: true, micro }
  const one = { num: 1n, den: 1n }
  const rf = from === plan.currency ? one : plan.exchangeRates.get(from)
  if (!rf) return { ok: false, reason: `no exchange rate for ${from} in plan ${plan.id}` }
  const rt = to === plan.currency ? one : plan.exchangeRates.get(to)
  if (!rt) return { ok: false, reason: `no price in ${to} and no exchange rate for ${to} in plan ${plan.id}` }
  // micro × (rt.num / rt.den) / (rf.num / rf.den)
  const n = BigInt(micro) * rt.num * rf.den
  const d = rt.den * rf.num
  const v = (n + d - 1n) / d
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) return { ok: false, reason: `price in ${to} exceeds the exact range` }
  return { ok: true, micro: Number(v) }
}

/** A plan price in `currency`: its own, else converted from the plan currency. */
export function priceIn(plan: CompiledPlan, prices: Prices, currency: string): Converted {
  const own = prices[currency]
  if (own !== undefined) return { ok: true, micro: own }
  return convert(plan, prices[plan.currency], plan.currency, currency)
}
