import { findService, type CompiledPlan, type CompiledService, type LuaTariff, type ServiceKey, type UnitType } from './plan.js'
import type { DestinationDeck } from './deck.js'
import { affordableUnits, cost, costParts, UNLIMITED_UNITS } from './cost.js'
import { chooseTariff, type RatingContext, type TariffChoice } from './rate.js'

// The rating module's API (issue 4, criterion 7): rate a usage, size a grant ("how many units can
// amount X buy from time T"), price enquiry and what-if re-rating of a stored CDR. Pure and
// deterministic: the clock, the plan, the account and the decks are all passed in.
//
// Seconds usage is split at tariff boundaries (time-band changes, promotion starts/ends); each
// part is its own segment, the first with the first increment and the fee, later ones starting
// with `next` and no fee, as in the Lua scripts. Allowances (bundle units) cover the first units
// before money. Fair usage with action 'price' rates octets past the cycle limit with the
// fair-usage tariff (a second part).

export type Clock = () => number
export type Decks = ReadonlyMap<string, DestinationDeck>

export interface Usage {
  service: ServiceKey
  units: number
  /** ms epoch; default clock() */
  start?: number
  /** called number, for deck services */
  destination?: string
}

export interface RatingAccount {
  currency: string
  timezone: string
  country?: string
  taxRegion?: string
  segment?: string
  /** units available in allowances for this service */
  bundleUnits?: number
  /** octets already used this cycle, for fair usage */
  cycleOctets?: number
}

export interface RatedPart {
  /** ms epoch */
  start: number
  units: number
  /** tariff id */
  tariff: string
  net: bigint
  tax: bigint
  gross: bigint
}

export type RateResult =
  | {
      ok: true
      currency: string
      /** units rated (from bundles and money) */
      units: number
      fromBundles: number
      gross: bigint
      net: bigint
      tax: bigint
      parts: RatedPart[]
      /** the account is past the fair-usage limit after this usage */
      fairUsageCrossed: boolean
      destination?: string
      destinationName?: string
    }
  | { ok: false; reason: string }

/** A stored CDR as re-rating needs it (a CdrRecord fits). */
export interface RerateCdr {
  service?: string | null
  serviceContext?: string | null
  ratingGroup?: number | null
  serviceId?: number | null
  radiusService?: string | null
  unit: UnitType | null
  used: number
  start: number
  destination?: string | null
}

const NO_DECKS: Decks = new Map()
/** Most parts one usage is split into (a call across bands for days still fits). */
const MAX_PARTS = 10_000

function context(account: RatingAccount, decks: Decks, at: number): RatingContext {
  const ctx: RatingContext = { at, timezone: account.timezone, decks, currency: account.currency }
  if (account.country !== undefined) ctx.country = account.country
  if (account.taxRegion !== undefined) ctx.taxRegion = account.taxRegion
  if (account.segment !== undefined) ctx.segment = account.segment
  return ctx
}

/** The segment being built: consecutive parts under the same tariff id are one segment. */
interface Segment {
  tariff: LuaTariff
  isFirst: boolean
  start: number
  units: number
}

function partOf(s: Segment): RatedPart {
  const c = costParts(s.tariff, s.units, s.isFirst)
  return { start: s.start, units: s.units, tariff: s.tariff.id, net: c.net, tax: c.tax, gross: c.gross }
}

function rateService(plan: CompiledPlan, svc: CompiledService, units: number, start: number, destination: string | undefined, account: RatingAccount, decks: Decks, useBundles: boolean): RateResult {
  if (!Number.isSafeInteger(units) || units < 0) return { ok: false, reason: `units ${units} is not a whole number ≥ 0` }
  if (!Number.isFinite(start)) return { ok: false, reason: 'no usage start time' }
  const fromBundles = useBundles ? Math.min(units, Math.max(0, Math.floor(account.bundleUnits ?? 0))) : 0
  let remaining = units - fromBundles
  const ctx = context(account, decks, svc.unit === 'seconds' ? start + fromBundles * 1000 : start)
  let choice: TariffChoice = chooseTariff(plan, svc, destination, ctx)
  if (!choice.ok) return choice
  const segs: Segment[] = []
  let fairUsageCrossed = false
  const first = choice
  if (svc.unit === 'seconds') {
    let t = ctx.at
    while (remaining > 0) {
      if (segs.length > 0) {
        ctx.at = t
        choice = chooseTariff(plan, svc, destination, ctx)
        if (!choice.ok) return choice
      }
      let n = remaining
      const b = choice.boundary
      if (b !== undefined && t + n * 1000 > b) n = Math.max(1, Math.ceil((b - t) / 1000))
      const last = segs[segs.length - 1]
      if (last && last.tariff.id === choice.tariff.id) last.units += n
      else {
        if (segs.length >= MAX_PARTS) return { ok: false, reason: `usage spans more than ${MAX_PARTS} tariff periods` }
        segs.push({ tariff: choice.tariff, isFirst: segs.length === 0, start: t, units: n })
      }
      t += n * 1000
      remaining -= n
    }
  } else {
    const fup = choice.fup
    if (fup) {
      const used = Math.max(0, account.cycleOctets ?? 0)
      fairUsageCrossed = used + units > fup.limit
      if (fup.action === 'price' && fup.tariff && remaining > 0) {
        const normal = Math.min(remaining, Math.max(0, fup.limit - used - fromBundles))
        if (normal > 0) segs.push({ tariff: choice.tariff, isFirst: true, start, units: normal })
        if (remaining > normal) segs.push({ tariff: fup.tariff, isFirst: normal === 0, start, units: remaining - normal })
        remaining = 0
      }
    }
    if (remaining > 0) segs.push({ tariff: choice.tariff, isFirst: true, start, units: remaining })
  }
  const parts = segs.map(partOf)
  let gross = 0n
  let net = 0n
  let tax = 0n
  for (const p of parts) {
    gross += p.gross
    net += p.net
    tax += p.tax
  }
  const out: RateResult = { ok: true, currency: account.currency, units, fromBundles, gross, net, tax, parts, fairUsageCrossed }
  if (first.destination !== undefined) out.destination = first.destination
  if (first.destinationName !== undefined) out.destinationName = first.destinationName
  return out
}

function serviceOf(plan: CompiledPlan, key: ServiceKey): CompiledService | { reason: string } {
  const svc = findService(plan, key)
  if (svc) return svc
  const what = key.radiusService !== undefined ? `RADIUS service ${key.radiusService}` : `${key.serviceContext ?? '(no context)'} rating group ${key.ratingGroup ?? '-'} service id ${key.serviceId ?? '-'}`
  return { reason: `plan ${plan.id}@${plan.version} has no service for ${what}` }
}

/** Rates a usage: allowances first, then money, split at tariff boundaries (see above). */
export function rate(usage: Usage, plan: CompiledPlan, account: RatingAccount, clock: Clock, decks: Decks = NO_DECKS): RateResult {
  const svc = serviceOf(plan, usage.service)
  if ('reason' in svc) return { ok: false, reason: svc.reason }
  return rateService(plan, svc, usage.units, usage.start ?? clock(), usage.destination, account, decks, true)
}

/** Price enquiry: what the usage would cost in money, ignoring allowances. */
export function priceEnquiry(usage: Usage, plan: CompiledPlan, account: RatingAccount, clock: Clock, decks: Decks = NO_DECKS): RateResult {
  const svc = serviceOf(plan, usage.service)
  if ('reason' in svc) return { ok: false, reason: svc.reason }
  return rateService(plan, svc, usage.units, usage.start ?? clock(), usage.destination, account, decks, false)
}

/**
 * Grant sizing: how many units (allowance units included) `amount` micro-units buy from
 * usage.start, such that rate() of that many units costs at most `amount`. Seconds cross tariff
 * boundaries the way rate() splits them. 0 when the usage cannot be rated (rate() says why);
 * at most 2^52 (free service).
 */
export function affordable(amount: bigint, usage: Omit<Usage, 'units'>, plan: CompiledPlan, account: RatingAccount, clock: Clock, decks: Decks = NO_DECKS): number {
  const svc = serviceOf(plan, usage.service)
  if ('reason' in svc) return 0
  const start = usage.start ?? clock()
  const free = Math.max(0, Math.floor(account.bundleUnits ?? 0))
  let budget = amount < 0n ? 0n : amount
  const ctx = context(account, decks, svc.unit === 'seconds' ? start + free * 1000 : start)
  let choice = chooseTariff(plan, svc, usage.destination, ctx)
  if (!choice.ok) return free > 0 ? Math.min(free, UNLIMITED_UNITS) : 0
  let total = free
  if (svc.unit === 'seconds') {
    let t = ctx.at
    let seg: Segment | undefined
    let segCost = 0n
    for (let i = 0; i < MAX_PARTS; i++) {
      if (seg) {
        ctx.at = t
        choice = chooseTariff(plan, svc, usage.destination, ctx)
        if (!choice.ok) return Math.min(total, UNLIMITED_UNITS)
      }
      if (!seg || seg.tariff.id !== choice.tariff.id) {
        seg = { tariff: choice.tariff, isFirst: seg === undefined, start: t, units: 0 }
        segCost = 0n
      }
      const a = affordableUnits(seg.tariff, seg.isFirst, seg.units, budget)
      const b = choice.boundary
      const n = b === undefined ? Infinity : Math.max(1, Math.ceil((b - t) / 1000))
      if (a < n) return Math.min(total + a, UNLIMITED_UNITS)
      // the money reaches the boundary: pay for the units up to it and go on under the next tariff
      const c = cost(seg.tariff, seg.units + n, seg.isFirst)
      budget -= c - segCost
      segCost = c
      seg.units += n
      total += n
      t += n * 1000
      if (total >= UNLIMITED_UNITS) return UNLIMITED_UNITS
    }
    return Math.min(total, UNLIMITED_UNITS)
  }
  const fup = choice.fup
  if (fup && fup.action === 'price' && fup.tariff) {
    const capacity = Math.max(0, fup.limit - Math.max(0, account.cycleOctets ?? 0) - free)
    const a = affordableUnits(choice.tariff, true, 0, budget)
    if (a <= capacity) return Math.min(total + a, UNLIMITED_UNITS)
    if (capacity > 0) budget -= cost(choice.tariff, capacity, true)
    return Math.min(total + capacity + affordableUnits(fup.tariff, capacity === 0, 0, budget), UNLIMITED_UNITS)
  }
  return Math.min(total + affordableUnits(choice.tariff, true, 0, budget), UNLIMITED_UNITS)
}

/**
 * What-if: re-rates a stored CDR under `plan` (its service by name, else by its
 * Service-Context-Id / Rating-Group / Service-Identifier), from its own start time.
 */
export function rerate(cdr: RerateCdr, plan: CompiledPlan, account: RatingAccount, decks: Decks = NO_DECKS): RateResult {
  let svc: CompiledService | undefined = cdr.service ? plan.services.find((s) => s.name === cdr.service) : undefined
  if (!svc) {
    const key: ServiceKey = {}
    if (cdr.radiusService != null) key.radiusService = cdr.radiusService
    if (cdr.serviceContext != null) key.serviceContext = cdr.serviceContext
    if (cdr.ratingGroup != null) key.ratingGroup = cdr.ratingGroup
    if (cdr.serviceId != null) key.serviceId = cdr.serviceId
    const s = serviceOf(plan, key)
    if ('reason' in s) return { ok: false, reason: cdr.service ? `plan ${plan.id}@${plan.version} has no service "${cdr.service}"; ${s.reason}` : s.reason }
    svc = s
  }
  if (cdr.unit != null && cdr.unit !== svc.unit) return { ok: false, reason: `service ${svc.name} counts ${svc.unit}, the CDR ${cdr.unit}` }
  return rateService(plan, svc, cdr.used, cdr.start, cdr.destination ?? undefined, account, decks, true)
}
