import type { LuaTariff } from './plan.js'

// The same tariff arithmetic as src/balance/lua/lib.lua (cost), in exact bigint: used for price
// enquiries and to cross-check the scripts in tests.

const ceilDiv = (a: bigint, b: bigint): bigint => (a + b - 1n) / b

export function billedUnits(t: LuaTariff, units: number, isFirst = true): number {
  if (units <= 0) return 0
  const first = Math.max(1, isFirst ? t.first : t.next)
  const next = Math.max(1, t.next)
  if (units <= first) return first
  return first + Math.ceil((units - first) / next) * next
}

/** Price in micro-units of `units` at tariff `t` (connection fee and minimum on a first segment). */
export function cost(t: LuaTariff, units: number, isFirst = true): bigint {
  if (units <= 0) return 0n
  const fee = isFirst ? BigInt(t.fee) : 0n
  let c = fee + ceilDiv(BigInt(billedUnits(t, units, isFirst)) * BigInt(t.rate), BigInt(Math.max(1, t.per)))
  if (c < BigInt(t.min)) c = BigInt(t.min)
  return c
}
