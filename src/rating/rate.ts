import type { CompiledPlan, CompiledService, LuaTariff } from './plan.js'
import type { DestinationDeck } from './deck.js'
import { bandAt, nextBandChange } from './time-bands.js'
import { normaliseNumber } from './e164.js'
import { cost } from './cost.js'

// Picking the tariff for one usage: destination deck (longest prefix), then the time band in the
// account's zone, and the instant the band next changes so a grant never silently crosses it.
// Pure: the clock (`at`) and the decks are passed in.

export interface RatingContext {
  at: number
  timezone: string
  country?: string
  decks: ReadonlyMap<string, DestinationDeck>
}

export type TariffChoice =
  | { ok: true; tariff: LuaTariff; destination?: string; destinationName?: string; boundary?: number }
  | { ok: false; reason: string }

/** Cache of the next band change per (service tariff id, zone): reused while `at` is before it. */
const boundaryCache = new Map<string, { from: number; until: number | undefined }>()

function boundary(plan: CompiledPlan, svc: CompiledService, tz: string, at: number): number | undefined {
  if (svc.timeBands.length === 0) return undefined
  const key = `${svc.tariff.id}|${tz}`
  const hit = boundaryCache.get(key)
  if (hit && at >= hit.from && (hit.until === undefined ? at < hit.from + 3_600_000 : at < hit.until)) return hit.until
  const until = nextBandChange(svc.timeBands, plan.holidays, tz, at)
  if (boundaryCache.size > 10_000) boundaryCache.clear()
  boundaryCache.set(key, { from: at, until })
  return until
}

export function chooseTariff(plan: CompiledPlan, svc: CompiledService, destination: string | undefined, ctx: RatingContext): TariffChoice {
  let tariff = svc.tariff
  let normalised: string | undefined
  let destinationName: string | undefined
  if (svc.deck) {
    const deck = ctx.decks.get(svc.deck)
    if (!deck) return { ok: false, reason: `rate deck ${svc.deck} is not loaded` }
    if (destination === undefined) return { ok: false, reason: 'no called number to rate by destination' }
    normalised = normaliseNumber(destination, ctx.country)
    if (!normalised) return { ok: false, reason: `called number "${destination}" cannot be normalised` }
    const e = deck.lookup(normalised)
    if (!e) return { ok: false, reason: `no destination in deck ${svc.deck} for ${normalised}` }
    destinationName = e.destination
    tariff = { id: `${svc.tariff.id}:${e.prefix}`, name: `${svc.deck}:${e.destination}`, rate: e.ratePerMinute, per: 60, first: e.first, next: e.next, fee: e.fee, min: svc.tariff.min }
  } else if (destination !== undefined) {
    normalised = normaliseNumber(destination, ctx.country)
  }
  const band = bandAt(svc.timeBands, plan.holidays, ctx.timezone, ctx.at)
  if (band && band.percent !== 100) {
    // rate × percent / 100 exactly: scale `per` instead of dividing the rate.
    tariff = { ...tariff, id: `${tariff.id}@${band.name}`, name: `${tariff.name}@${band.name}`, rate: tariff.rate * band.percent, per: tariff.per * 100 }
  } else if (band) {
    tariff = { ...tariff, id: `${tariff.id}@${band.name}`, name: `${tariff.name}@${band.name}` }
  }
  return { ok: true, tariff, destination: normalised, destinationName, boundary: boundary(plan, svc, ctx.timezone, ctx.at) }
}

/** Price enquiry / what-if: the price of `units` of a service at `ctx.at`. */
export function price(plan: CompiledPlan, svc: CompiledService, units: number, destination: string | undefined, ctx: RatingContext): { ok: true; amount: bigint; tariff: LuaTariff } | { ok: false; reason: string } {
  const c = chooseTariff(plan, svc, destination, ctx)
  if (!c.ok) return c
  return { ok: true, amount: cost(c.tariff, units), tariff: c.tariff }
}
