import type { CompiledPlan, CompiledTax } from './plan.js'

// Taxes per region: the account's tax region picks the plan entry (the exact region, else "*",
// else no tax). Tariffs carry it as `tx` (ppm) and `ti` (1 = inclusive).

export function taxFor(plan: CompiledPlan, region: string | undefined): CompiledTax | undefined {
  let star: CompiledTax | undefined
  for (const t of plan.taxes) {
    if (region !== undefined && t.region === region) return t
    if (t.region === '*') star = t
  }
  return star
}
