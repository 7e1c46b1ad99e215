import { PlanError, type CompiledFairUsage, type CompiledPlan, type CompiledPromotion, type CompiledService, type LuaTariff, type Prices, type TariffPrices } from './plan.js'
import type { DeckEntry, DestinationDeck } from './deck.js'
import { bandAt, nextBandChange, type TimeBand } from './time-bands.js'
import { normaliseNumber } from './e164.js'
import { cost, costParts } from './cost.js'
import { convert, priceIn, quantumOf } from './currency.js'
import { taxFor } from './tax.js'

// Picking the tariff for one usage: destination deck (longest prefix), the time band in the
// account's zone, the promotions running then, the account currency (precision and exchange rate)
// and its tax region; and the instant the price next changes (band or promotion edge) so a grant
// never silently crosses it. Pure: the clock (`at`) and the decks are passed in.
//
// The tariff id names everything that sets the price (service or deck prefix, band, promotions,
// currency, tax): the scripts start a new segment whenever it changes.

export { cycleAt, type Cycle } from './cycle.js'
export { precisionOf, quantumOf } from './currency.js'

export interface RatingContext {
  at: number
  timezone: string
  country?: string
  decks: ReadonlyMap<string, DestinationDeck>
  /** account currency; default the plan currency */
  currency?: string
  /** account tax region (plan `taxes`: exact region, else "*", else none) */
  taxRegion?: string
  /** account segment, for promotions limited to segments */
  segment?: string
}

export interface FairUsageChoice {
  /** octets per cycle before the action */
  limit: number
  action: 'restrict' | 'redirect' | 'price'
  filterId?: string
  redirectUrl?: string
  /** action 'price': the tariff past the limit (same currency, tax and quantum) */
  tariff?: LuaTariff
}

export type TariffChoice =
  | { ok: true; tariff: LuaTariff; destination?: string; destinationName?: string; boundary?: number; fup?: FairUsageChoice }
  | { ok: false; reason: string }

type Built = { ok: true; tariff: LuaTariff } | { ok: false; reason: string }

const MAX = BigInt(Number.MAX_SAFE_INTEGER)
const EXACT = 2n ** 53n
const gcd = (a: bigint, b: bigint): bigint => {
  while (b) [a, b] = [b, a % b]
  return a
}

/** A price per `per` units as an exact fraction. */
interface Frac {
  r: bigint
  d: bigint
}

/**
 * Band, fixed and percent discounts on one rate, exactly: the band multiplies (rate × percent
 * over per × 100, as before), a fixed discount f per `basePer` units subtracts (not below 0), each
 * percent discount multiplies by (100 − p) / 100.
 */
function adjust(rate: number, per: number, band: TimeBand | undefined, fixed: number, basePer: number, percents: readonly number[]): Frac {
  let r = BigInt(rate)
  let d = BigInt(per)
  if (band && band.percent !== 100) {
    r *= BigInt(band.percent)
    d *= 100n
  }
  if (fixed > 0) {
    const P = BigInt(basePer)
    const f = BigInt(fixed)
    if (d % P === 0n) r -= f * (d / P)
    else {
      r = r * P - f * d
      d *= P
    }
    if (r < 0n) r = 0n
  }
  for (const p of percents) {
    r *= BigInt(100 - p)
    d *= 100n
  }
  // The smallest fraction where it matters: the charging script multiplies a remainder below `d`
  // by `r` in doubles, exact only while r × d stays below 2^53 (a 15 % promotion on 4.99 per GiB
  // made it 4.6e19 unreduced, 2.8e14 reduced, and the charge one micro-unit short of the quote).
  // Other fractions stay as written (the demo's 100,000 per 60 s), as sessions have stored them.
  if (r > MAX || d > MAX || r * d >= EXACT) {
    const g = gcd(r, d) || 1n
    r /= g
    d /= g
  }
  return { r, d }
}

/** The structure of a tariff before currency: the service's own or a deck entry's. */
interface Source {
  id: string
  name: string
  per: number
  first: number
  next: number
  /** quoted prices; for a deck, `currency` says which one (`min` is always the plan's) */
  rate: Prices
  fee: Prices
  min: Prices
  tiers: TariffPrices['tiers']
  /** the currency a deck's prices are in (undefined: the plan's price records) */
  currency?: string
}

function build(plan: CompiledPlan, src: Source, cur: string, band: TimeBand | undefined, promos: readonly CompiledPromotion[], taxRegion: string | undefined): Built {
  const money = (prices: Prices, what: string): { ok: true; micro: number } | { ok: false; reason: string } => {
    const r = src.currency !== undefined ? convert(plan, prices[src.currency] ?? 0, src.currency, cur) : priceIn(plan, prices, cur)
    return r.ok ? r : { ok: false, reason: `${src.name}: ${what}: ${r.reason}` }
  }
  const rate = money(src.rate, 'rate')
  if (!rate.ok) return rate
  const fee = money(src.fee, 'fee')
  if (!fee.ok) return fee
  const min = priceIn(plan, src.min, cur) // the service's minimum, also for deck prices
  if (!min.ok) return { ok: false, reason: `${src.name}: min: ${min.reason}` }
  let fixed = 0
  const percents: number[] = []
  for (const p of promos) {
    if (p.fixed) {
      const f = priceIn(plan, p.fixed, cur)
      if (!f.ok) return { ok: false, reason: `promotion ${p.name}: ${f.reason}` }
      fixed += f.micro
    }
    if (p.percent > 0) percents.push(p.percent)
  }
  let id = src.id
  let name = src.name
  if (band) {
    id += `@${band.name}`
    name += `@${band.name}`
  }
  for (const p of promos) {
    id += `+${p.name}`
    name += `+${p.name}`
  }
  if (cur !== plan.currency) id += `/${cur}`
  const base = adjust(rate.micro, src.per, band, fixed, src.per, percents)
  const t: LuaTariff = { id, name, rate: Number(base.r), per: Number(base.d), first: src.first, next: src.next, fee: fee.micro, min: min.micro }
  if (src.tiers.length > 0) {
    t.tiers = []
    for (const x of src.tiers) {
      const tr = priceIn(plan, x.rate, cur)
      if (!tr.ok) return { ok: false, reason: `${src.name}: tier from ${x.from}: ${tr.reason}` }
      const a = adjust(tr.micro, x.per, band, fixed, src.per, percents)
      t.tiers.push({ from: x.from, rate: Number(a.r), per: Number(a.d) })
    }
  }
  const unsafe = [t.rate, t.per, ...(t.tiers ?? []).flatMap((x) => [x.rate, x.per])].some((v) => !Number.isSafeInteger(v))
  if (unsafe) return { ok: false, reason: `${src.name}: the discounted price does not fit the exact integer range` }
  const tax = taxFor(plan, taxRegion)
  if (tax && tax.ppm > 0) {
    t.tx = tax.ppm
    if (tax.inclusive) t.ti = 1
    t.id += `%${tax.ppm}${tax.inclusive ? 'i' : 'e'}`
  }
  const q = quantumOf(plan, cur)
  if (q > 1) t.q = q
  return { ok: true, tariff: t }
}

// Built tariffs, cached per service (and deck entry) object: a recompiled plan or reloaded deck
// brings new objects, so the cache can never serve stale prices. The last variant asked is
// compared field by field first (no key string to build and hash on the hot path).
const MAX_VARIANTS = 256

class Variants {
  private cur = ''
  private band: TimeBand | undefined
  private promos = ''
  private tax: string | undefined
  private last: Built | undefined
  private readonly map = new Map<string, Built>()

  get(cur: string, band: TimeBand | undefined, promos: string, tax: string | undefined, make: () => Built): Built {
    if (this.last !== undefined && this.band === band && this.cur === cur && this.promos === promos && this.tax === tax) return this.last
    const key = `${cur}|${band?.name ?? ''}|${promos}|${tax ?? ''}`
    let b = this.map.get(key)
    if (!b) {
      b = make()
      if (this.map.size >= MAX_VARIANTS) this.map.clear()
      this.map.set(key, b)
    }
    this.cur = cur
    this.band = band
    this.promos = promos
    this.tax = tax
    this.last = b
    return b
  }
}

const serviceCache = new WeakMap<object, Variants>()
const deckCache = new WeakMap<CompiledService, WeakMap<DeckEntry, Variants>>()

function serviceSource(svc: CompiledService): Source {
  return { id: svc.tariff.id, name: svc.tariff.name, per: svc.tariff.per, first: svc.tariff.first, next: svc.tariff.next, rate: svc.prices.rate, fee: svc.prices.fee, min: svc.prices.min, tiers: svc.prices.tiers }
}

function deckSource(plan: CompiledPlan, svc: CompiledService, deck: DestinationDeck, e: DeckEntry): Source {
  const c = deck.currency ?? plan.currency
  return { id: `${svc.tariff.id}:${e.prefix}`, name: `${svc.deck}:${e.destination}`, per: 60, first: e.first, next: e.next, rate: { [c]: e.ratePerMinute }, fee: { [c]: e.fee }, min: svc.prices.min, tiers: [], currency: c }
}

/** The promotions running at `at` for this service and segment, and the next instant one starts or ends. */
function promotionsAt(plan: CompiledPlan, svc: CompiledService, segment: string | undefined, at: number): { active: CompiledPromotion[]; key: string; edge: number | undefined } {
  let active: CompiledPromotion[] | undefined
  let key = ''
  let edge: number | undefined
  const ps = plan.promotions
  for (let i = 0; i < ps.length; i++) {
    const p = ps[i]
    if (p.services && !p.services.has(svc.name)) continue
    if (p.segments && (segment === undefined || !p.segments.has(segment))) continue
    if (p.from !== undefined && p.from > at) {
      if (edge === undefined || p.from < edge) edge = p.from
      continue
    }
    if (p.to !== undefined) {
      if (p.to <= at) continue
      if (edge === undefined || p.to < edge) edge = p.to
    }
    ;(active ??= []).push(p)
    key += `${i},`
  }
  return { active: active ?? NONE, key, edge }
}
const NONE: CompiledPromotion[] = []

/** Cache of the next band change per (service, zone): reused while `at` is before it. */
const boundaryCache = new WeakMap<CompiledService, Map<string, { from: number; until: number | undefined }>>()

function bandBoundary(plan: CompiledPlan, svc: CompiledService, tz: string, at: number): number | undefined {
  if (svc.timeBands.length === 0) return undefined
  let m = boundaryCache.get(svc)
  if (!m) boundaryCache.set(svc, (m = new Map()))
  const hit = m.get(tz)
  if (hit && at >= hit.from && (hit.until === undefined ? at < hit.from + 3_600_000 : at < hit.until)) return hit.until
  const until = nextBandChange(svc.timeBands, plan.holidays, tz, at)
  if (m.size > 1000) m.clear()
  m.set(tz, { from: at, until })
  return until
}

const fupCache = new WeakMap<CompiledFairUsage, Variants>()

function fairUsage(plan: CompiledPlan, svc: CompiledService, cur: string, taxRegion: string | undefined): FairUsageChoice | { reason: string } | undefined {
  const f = plan.fairUsage
  if (!f || svc.unit !== 'octets' || !f.services.has(svc.name)) return undefined
  const out: FairUsageChoice = { limit: f.octets, action: f.action }
  if (f.filterId !== undefined) out.filterId = f.filterId
  if (f.redirectUrl !== undefined) out.redirectUrl = f.redirectUrl
  if (f.tariff && f.prices) {
    let v = fupCache.get(f)
    if (!v) fupCache.set(f, (v = new Variants()))
    const ft = f.tariff
    const fp = f.prices
    const b = v.get(cur, undefined, '', taxRegion, () =>
      build(plan, { id: ft.id, name: ft.name, per: ft.per, first: ft.first, next: ft.next, rate: fp.rate, fee: fp.fee, min: fp.min, tiers: fp.tiers }, cur, undefined, NONE, taxRegion),
    )
    if (!b.ok) return { reason: `fair usage: ${b.reason}` }
    out.tariff = b.tariff
  }
  return out
}

export function chooseTariff(plan: CompiledPlan, svc: CompiledService, destination: string | undefined, ctx: RatingContext): TariffChoice {
  const cur = ctx.currency ?? plan.currency
  let normalised: string | undefined
  let destinationName: string | undefined
  let entry: DeckEntry | undefined
  let deck: DestinationDeck | undefined
  if (svc.deck) {
    deck = ctx.decks.get(svc.deck)
    if (!deck) return { ok: false, reason: `rate deck ${svc.deck} is not loaded` }
    if (destination === undefined) return { ok: false, reason: 'no called number to rate by destination' }
    normalised = normaliseNumber(destination, ctx.country)
    if (!normalised) return { ok: false, reason: `called number "${destination}" cannot be normalised` }
    entry = deck.lookup(normalised)
    if (!entry) return { ok: false, reason: `no destination in deck ${svc.deck} for ${normalised}` }
    destinationName = entry.destination
  } else if (destination !== undefined) {
    normalised = normaliseNumber(destination, ctx.country)
  }
  const band = svc.timeBands.length > 0 ? bandAt(svc.timeBands, plan.holidays, ctx.timezone, ctx.at) : undefined
  const promos = plan.promotions.length > 0 ? promotionsAt(plan, svc, ctx.segment, ctx.at) : undefined
  let v: Variants | undefined
  if (entry) {
    let byEntry = deckCache.get(svc)
    if (!byEntry) deckCache.set(svc, (byEntry = new WeakMap()))
    v = byEntry.get(entry)
    if (!v) byEntry.set(entry, (v = new Variants()))
  } else {
    v = serviceCache.get(svc)
    if (!v) serviceCache.set(svc, (v = new Variants()))
  }
  const e = entry
  const d = deck
  const built = v.get(cur, band, promos?.key ?? '', ctx.taxRegion, () => build(plan, e && d ? deckSource(plan, svc, d, e) : serviceSource(svc), cur, band, promos?.active ?? NONE, ctx.taxRegion))
  if (!built.ok) return built
  let boundary = bandBoundary(plan, svc, ctx.timezone, ctx.at)
  if (promos?.edge !== undefined && (boundary === undefined || promos.edge < boundary)) boundary = promos.edge
  const choice: TariffChoice = { ok: true, tariff: built.tariff, destination: normalised, destinationName, boundary }
  if (plan.fairUsage) {
    const f = fairUsage(plan, svc, cur, ctx.taxRegion)
    if (f && 'reason' in f) return { ok: false, reason: f.reason }
    if (f) choice.fup = f
  }
  return choice
}

/** Price enquiry / what-if: the gross price of `units` of a service at `ctx.at` (one segment). */
export function price(plan: CompiledPlan, svc: CompiledService, units: number, destination: string | undefined, ctx: RatingContext): { ok: true; amount: bigint; tariff: LuaTariff } | { ok: false; reason: string } {
  const c = chooseTariff(plan, svc, destination, ctx)
  if (!c.ok) return c
  return { ok: true, amount: cost(c.tariff, units), tariff: c.tariff }
}

/** Recurring fees per cycle in `currency`, rounded up to its quantum and taxed like usage. */
export function recurringFees(plan: CompiledPlan, currency: string, taxRegion?: string): Array<{ name: string; gross: bigint; tax: bigint }> {
  const tax = taxFor(plan, taxRegion)
  const q = quantumOf(plan, currency)
  return plan.fees.map((f, i) => {
    const a = priceIn(plan, f.amount, currency)
    if (!a.ok) throw new PlanError(`plan fees.${i}.amount: ${a.reason}`)
    const t: LuaTariff = { id: `fee:${f.name}`, name: f.name, rate: a.micro, per: 1, first: 1, next: 1, fee: 0, min: 0 }
    if (q > 1) t.q = q
    if (tax && tax.ppm > 0) {
      t.tx = tax.ppm
      if (tax.inclusive) t.ti = 1
    }
    const p = costParts(t, 1)
    return { name: f.name, gross: p.gross, tax: p.tax }
  })
}
