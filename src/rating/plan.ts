import { z } from 'zod'
import { parseMoney } from '../lib/money.js'
import type { TimeBand } from './time-bands.js'

// A plan maps services (Diameter Service-Context-Id + Rating-Group / Service-Identifier, or a
// RADIUS service) to a unit type and a tariff. Versioned documents; prices are decimal strings in
// the plan currency (or records of prices per currency), turned into integer micro-units once,
// when the plan is compiled. Taxes, promotions, the billing cycle, bundles, recurring fees and the
// fair-usage policy are compiled here too; src/rating/rate.ts turns them into Lua tariffs.

export const UNIT_TYPES = ['seconds', 'octets', 'events'] as const
export type UnitType = (typeof UNIT_TYPES)[number]

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER)
const currencyCode = z.string().regex(/^[A-Z]{3}$/, 'an ISO 4217 code')
const MONEY = /^\d{1,12}(\.\d{1,6})?$/
const money = z
  .string()
  .regex(MONEY, 'a decimal amount such as "0.05"')
  .refine((v) => !MONEY.test(v) || parseMoney(v) <= MAX_SAFE, 'at most 9007199254.740991 (exact in the Lua scripts)')
/** A price in the plan currency, or prices per currency (`{ EUR: "0.01", JPY: "2" }`). */
const moneyOrPrices = z.union([money, z.record(currencyCode, money)], { error: 'a decimal amount such as "0.05" or prices per currency such as { EUR: "0.05", JPY: "8" }' })
const serviceName = z.string().min(1).regex(/^[a-z0-9_-]+$/i, 'letters, digits, - and _')
const isoTimestamp = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:\d{2})$/, 'an ISO 8601 timestamp with a zone, e.g. 2026-01-01T00:00:00Z')
  .refine((v) => !Number.isNaN(Date.parse(v)), 'not a valid date')
const precisionDigits = z.number().int().min(0, 'decimal places 0–6').max(6, 'decimal places 0–6')

const tariffSchema = z
  .object({
    name: z.string().min(1).optional(),
    rate: moneyOrPrices.describe('price of `per` units'),
    per: z.number().int().min(1).default(1).describe('how many units `rate` buys (e.g. 60 s, 1048576 octets)'),
    first: z.number().int().min(1).default(1).describe('first billing increment in units'),
    next: z.number().int().min(1).default(1).describe('next billing increments in units'),
    fee: moneyOrPrices.default('0').describe('connection fee, charged once per session/event'),
    min: moneyOrPrices.default('0').describe('minimum charge'),
    tiers: z
      .array(
        z.object({
          from: z.number().int().min(1).describe('from this many billed units (cumulative within the segment) on'),
          rate: moneyOrPrices.describe('price of `per` units in this tier'),
          per: z.number().int().min(1).optional().describe('default: the tariff `per`'),
        }),
      )
      .optional()
      .describe('volume tiers, ascending `from`'),
  })
  .superRefine((t, ctx) => {
    for (let i = 1; i < (t.tiers?.length ?? 0); i++) {
      if (t.tiers![i].from <= t.tiers![i - 1].from) ctx.addIssue({ code: 'custom', path: ['tiers', i, 'from'], message: 'tiers must be in ascending `from` order' })
    }
  })

const serviceSchema = z.object({
  name: serviceName,
  unit: z.enum(UNIT_TYPES),
  match: z
    .object({
      context: z.string().min(1).optional().describe('Service-Context-Id tail, e.g. 32251@3gpp.org'),
      ratingGroups: z.array(z.number().int().min(0)).optional(),
      serviceIds: z.array(z.number().int().min(0)).optional(),
      radius: z.string().min(1).optional().describe('RADIUS service profile; "*" = any'),
    })
    .refine((m) => m.context !== undefined || m.radius !== undefined, 'a match needs context or radius'),
  tariff: tariffSchema,
  quota: z.number().int().min(1).optional().describe('default grant for this service, overriding the unit default'),
  deck: z.string().min(1).optional().describe('destination rate deck id: price by longest prefix of the called number'),
  timeBands: z
    .array(
      z.object({
        name: z.string().min(1),
        days: z.array(z.enum(['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun', 'hol'])).min(1),
        from: z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'HH:MM'),
        to: z.string().regex(/^(([01]\d|2[0-3]):[0-5]\d|24:00)$/, 'HH:MM or 24:00'),
        percent: z.number().int().min(0).max(10000).describe('price multiplier in percent of the tariff'),
      }),
    )
    .optional()
    .describe('time bands in the account time zone; the first matching band applies its percent'),
})

export const planSchema = z.object({
  id: z.string().min(1).regex(/^[a-z0-9_-]+$/i, 'letters, digits, - and _'),
  version: z.number().int().min(1).default(1),
  name: z.string().optional(),
  currency: currencyCode,
  activeFrom: isoTimestamp.optional().describe('scheduled activation instant'),
  precision: z
    .union([precisionDigits, z.record(currencyCode, precisionDigits)], { error: 'decimal places 0–6, or per currency such as { JPY: 0 }' })
    .optional()
    .describe('decimal places charges round to (all currencies, or per currency); default: ISO 4217 minor units'),
  exchangeRates: z
    .record(currencyCode, z.string().regex(/^\d{1,9}(\.\d{1,12})?$/, 'a decimal rate such as "160.5"').refine((v) => /[1-9]/.test(v), 'must be above 0'))
    .optional()
    .describe('units of that currency per 1 unit of the plan currency'),
  holidays: z.array(z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'YYYY-MM-DD')).optional(),
  services: z.array(serviceSchema).min(1),
  taxes: z
    .array(
      z.object({
        region: z.string().min(1).describe('the account tax region; "*" = the default'),
        rate: z.string().regex(/^\d{1,3}(\.\d{1,4})?$/, 'a decimal percent such as "20" or "8.875"'),
        inclusive: z.boolean().describe('true: prices include the tax'),
        name: z.string().min(1).optional(),
      }),
    )
    .optional(),
  promotions: z
    .array(
      z
        .object({
          name: serviceName,
          percent: z.number().int().min(0).max(100).optional().describe('discount in percent'),
          fixed: moneyOrPrices.optional().describe('off the rate per `per` units (not below 0)'),
          services: z.array(serviceName).min(1).optional(),
          segments: z.array(z.string().min(1)).min(1).optional(),
          from: isoTimestamp.optional(),
          to: isoTimestamp.optional(),
        })
        .superRefine((p, ctx) => {
          if (p.percent === undefined && p.fixed === undefined) ctx.addIssue({ code: 'custom', path: ['percent'], message: 'a promotion needs percent or fixed' })
          if (p.from !== undefined && p.to !== undefined && Date.parse(p.to) <= Date.parse(p.from)) ctx.addIssue({ code: 'custom', path: ['to'], message: 'must be after from' })
        }),
    )
    .optional(),
  cycle: z
    .object({
      period: z.enum(['monthly', 'weekly', 'daily']).default('monthly'),
      day: z.number().int().min(1).optional().describe('monthly: day of month 1–28; weekly: 1 = Monday … 7 = Sunday'),
    })
    .superRefine((c, ctx) => {
      if (c.day === undefined) return
      if (c.period === 'monthly' && c.day > 28) ctx.addIssue({ code: 'custom', path: ['day'], message: 'a monthly cycle starts on day 1–28' })
      if (c.period === 'weekly' && c.day > 7) ctx.addIssue({ code: 'custom', path: ['day'], message: 'a weekly cycle starts on day 1 (Monday) – 7 (Sunday)' })
      if (c.period === 'daily' && c.day !== 1) ctx.addIssue({ code: 'custom', path: ['day'], message: 'a daily cycle has no start day' })
    })
    .optional(),
  bundles: z
    .array(
      z.object({
        name: serviceName,
        unit: z.enum(UNIT_TYPES),
        amount: z.number().int().min(1).describe('units granted each cycle'),
        services: z.array(serviceName).min(1).optional().describe('default: every service counting this unit'),
        destinations: z
          .array(z.string().regex(/^\d{1,15}$/, 'an E.164 prefix in digits, e.g. "33"'))
          .min(1)
          .optional()
          .describe('only usage towards these destination prefixes (normalised E.164), e.g. national calls'),
        priority: z.number().int().optional().describe('lower is used first; default 0'),
      }),
    )
    .optional(),
  fees: z.array(z.object({ name: z.string().min(1), amount: moneyOrPrices })).optional(),
  fairUsage: z
    .object({
      octets: z.number().int().min(1).describe('octets per cycle before the action'),
      services: z.array(serviceName).min(1).optional().describe('default: every octets service'),
      action: z.enum(['restrict', 'redirect', 'price']),
      filterId: z.string().min(1).optional(),
      redirectUrl: z.string().min(1).optional(),
      tariff: tariffSchema.optional(),
    })
    .superRefine((f, ctx) => {
      if (f.action === 'restrict' && f.filterId === undefined) ctx.addIssue({ code: 'custom', path: ['filterId'], message: 'required when action is "restrict"' })
      if (f.action === 'redirect' && f.redirectUrl === undefined) ctx.addIssue({ code: 'custom', path: ['redirectUrl'], message: 'required when action is "redirect"' })
      if (f.action === 'price' && f.tariff === undefined) ctx.addIssue({ code: 'custom', path: ['tariff'], message: 'required when action is "price"' })
    })
    .optional(),
})

export type PlanDocument = z.input<typeof planSchema>

/**
 * A tariff as the Lua scripts take it: integers only (see src/rating/cost.ts for the arithmetic).
 * Money fields are micro-units of one currency.
 */
export interface LuaTariff {
  id: string
  name: string
  rate: number
  per: number
  first: number
  next: number
  fee: number
  min: number
  /** ascending `from` (> 0): from `from` billed units (cumulative within the segment) on, the price is rate/per */
  tiers?: Array<{ from: number; rate: number; per: number }>
  /** tax in parts per million of the net price (20 % = 200000); absent/0 = no tax */
  tx?: number
  /** 1 = prices include the tax */
  ti?: 1
  /** currency quantum in micro-units (10^(6 - precision)); absent/1 = micro */
  q?: number
}

/** Micro-unit prices per currency; always holds the plan currency. */
export type Prices = Readonly<Record<string, number>>

/** A tariff's money in every currency the plan quotes it in. */
export interface TariffPrices {
  rate: Prices
  fee: Prices
  min: Prices
  tiers: ReadonlyArray<{ from: number; per: number; rate: Prices }>
}

export interface CompiledService {
  name: string
  unit: UnitType
  match: z.infer<typeof serviceSchema>['match']
  /** in the plan currency, without tax and rounding (chooseTariff adds those) */
  tariff: LuaTariff
  prices: TariffPrices
  quota?: number
  deck?: string
  timeBands: TimeBand[]
}

export interface CompiledTax {
  region: string
  name: string
  /** parts per million */
  ppm: number
  inclusive: boolean
}

export interface CompiledPromotion {
  name: string
  /** discount in percent, 0 = none */
  percent: number
  fixed?: Prices
  services?: ReadonlySet<string>
  segments?: ReadonlySet<string>
  /** ms epoch, inclusive */
  from?: number
  /** ms epoch, exclusive */
  to?: number
}

export interface CompiledBundle {
  name: string
  unit: UnitType
  amount: number
  /** the services whose usage it covers (resolved: the listed ones, else every service of the unit) */
  services: string[]
  /** destination prefixes it is limited to (normalised E.164 digits); unset = any destination */
  destinations?: string[]
  priority: number
}

export interface CompiledFairUsage {
  octets: number
  services: ReadonlySet<string>
  action: 'restrict' | 'redirect' | 'price'
  filterId?: string
  redirectUrl?: string
  tariff?: LuaTariff
  prices?: TariffPrices
}

export interface CompiledPlan {
  id: string
  version: number
  currency: string
  holidays: ReadonlySet<string>
  services: CompiledService[]
  /** ms epoch of the scheduled activation */
  activeFrom?: number
  /** decimal places per currency (explicit ones; the rest default to ISO 4217) */
  precision?: number | Readonly<Record<string, number>>
  /** units of that currency per 1 unit of the plan currency, as an exact fraction */
  exchangeRates: ReadonlyMap<string, { num: bigint; den: bigint }>
  taxes: CompiledTax[]
  promotions: CompiledPromotion[]
  cycle: { period: 'monthly' | 'weekly' | 'daily'; day: number }
  bundles: CompiledBundle[]
  fees: Array<{ name: string; amount: Prices }>
  fairUsage?: CompiledFairUsage
}

export class PlanError extends Error {
  readonly code = 'OCS_ERR_PLAN'
}

type Issue = { code?: string; path: PropertyKey[]; message: string; errors?: Issue[][]; issues?: Issue[] }

/** The most specific problem inside a zod issue (a union reports the branch that got furthest). */
function describeIssue(i: Issue, prefix: PropertyKey[] = []): { path: PropertyKey[]; message: string } {
  const path = [...prefix, ...i.path]
  if (i.code === 'invalid_union' && i.errors) {
    const branches = i.errors.filter((b) => b.length > 0 && !(b.length === 1 && b[0].code === 'invalid_type' && b[0].path.length === 0))
    if (branches.length === 1) return describeIssue(branches[0][0], path)
  }
  if (i.code === 'invalid_key' && i.issues?.[0]) return { path, message: `key: ${describeIssue(i.issues[0]).message}` }
  return { path, message: i.message }
}

const fail = (path: Array<string | number>, message: string): never => {
  throw new PlanError(`plan ${path.join('.')}: ${message}`)
}

function parseRate(v: string): { num: bigint; den: bigint } {
  const [w, f = ''] = v.split('.')
  const den = 10n ** BigInt(f.length)
  return { num: BigInt(w) * den + BigInt(f || '0'), den }
}

/** Validates a plan document; a bad plan is refused with the path and the problem. */
export function compilePlan(doc: unknown): CompiledPlan {
  const r = planSchema.safeParse(doc)
  if (!r.success) {
    const d = describeIssue(r.error.issues[0] as unknown as Issue)
    throw new PlanError(`plan ${d.path.map(String).join('.') || '(root)'}: ${d.message}`)
  }
  const p = r.data
  const prices = (v: string | Record<string, string>, path: Array<string | number>): Prices => {
    if (typeof v === 'string') return { [p.currency]: Number(parseMoney(v)) }
    if (v[p.currency] === undefined) fail(path, `no price in the plan currency ${p.currency}`)
    const out: Record<string, number> = {}
    for (const [c, m] of Object.entries(v)) out[c] = Number(parseMoney(m))
    return out
  }
  type TariffDoc = z.infer<typeof tariffSchema>
  const compileTariff = (t: TariffDoc, id: string, name: string, path: Array<string | number>): { tariff: LuaTariff; prices: TariffPrices } => {
    const tp: TariffPrices = {
      rate: prices(t.rate, [...path, 'rate']),
      fee: prices(t.fee, [...path, 'fee']),
      min: prices(t.min, [...path, 'min']),
      tiers: (t.tiers ?? []).map((x, i) => ({ from: x.from, per: x.per ?? t.per, rate: prices(x.rate, [...path, 'tiers', i, 'rate']) })),
    }
    const tariff: LuaTariff = { id, name, rate: tp.rate[p.currency], per: t.per, first: t.first, next: t.next, fee: tp.fee[p.currency], min: tp.min[p.currency] }
    if (tp.tiers.length > 0) tariff.tiers = tp.tiers.map((x) => ({ from: x.from, rate: x.rate[p.currency], per: x.per }))
    return { tariff, prices: tp }
  }

  const names = new Set<string>()
  const services: CompiledService[] = p.services.map((s, idx) => {
    if (names.has(s.name)) fail(['services', idx, 'name'], `duplicate service "${s.name}"`)
    names.add(s.name)
    // the band name is part of the tariff id: one name, one price
    const bandPercent = new Map<string, number>()
    s.timeBands?.forEach((b, i) => {
      const seen = bandPercent.get(b.name)
      if (seen !== undefined && seen !== b.percent) fail(['services', idx, 'timeBands', i, 'percent'], `band "${b.name}" already has percent ${seen}`)
      bandPercent.set(b.name, b.percent)
    })
    const { tariff, prices: tp } = compileTariff(s.tariff, `${p.id}@${p.version}:${s.name}`, s.tariff.name ?? s.name, ['services', idx, 'tariff'])
    return { name: s.name, unit: s.unit, match: s.match, quota: s.quota, deck: s.deck, timeBands: s.timeBands ?? [], tariff, prices: tp }
  })
  const unitOf = new Map(services.map((s) => [s.name, s.unit]))
  const checkServices = (list: string[] | undefined, path: Array<string | number>, unit?: UnitType): void => {
    list?.forEach((n, i) => {
      const u = unitOf.get(n)
      if (u === undefined) fail([...path, i], `unknown service "${n}"`)
      if (unit !== undefined && u !== unit) fail([...path, i], `service "${n}" counts ${u}, not ${unit}`)
    })
  }

  const exchangeRates = new Map<string, { num: bigint; den: bigint }>()
  for (const [c, v] of Object.entries(p.exchangeRates ?? {})) exchangeRates.set(c, parseRate(v))

  const regions = new Set<string>()
  const taxes: CompiledTax[] = (p.taxes ?? []).map((x, i) => {
    if (regions.has(x.region)) fail(['taxes', i, 'region'], `duplicate tax region "${x.region}"`)
    regions.add(x.region)
    const [w, f = ''] = x.rate.split('.')
    const ppm = Number(w) * 10_000 + Number(f.padEnd(4, '0'))
    if (ppm > 10_000_000) fail(['taxes', i, 'rate'], 'at most 1000 %')
    return { region: x.region, name: x.name ?? x.region, ppm, inclusive: x.inclusive }
  })

  const promoNames = new Set<string>()
  const promotions: CompiledPromotion[] = (p.promotions ?? []).map((x, i) => {
    if (promoNames.has(x.name)) fail(['promotions', i, 'name'], `duplicate promotion "${x.name}"`)
    promoNames.add(x.name)
    checkServices(x.services, ['promotions', i, 'services'])
    const c: CompiledPromotion = { name: x.name, percent: x.percent ?? 0 }
    if (x.fixed !== undefined) c.fixed = prices(x.fixed, ['promotions', i, 'fixed'])
    if (x.services) c.services = new Set(x.services)
    if (x.segments) c.segments = new Set(x.segments)
    if (x.from !== undefined) c.from = Date.parse(x.from)
    if (x.to !== undefined) c.to = Date.parse(x.to)
    return c
  })

  const bundleNames = new Set<string>()
  const bundles: CompiledBundle[] = (p.bundles ?? []).map((b, i) => {
    if (bundleNames.has(b.name)) fail(['bundles', i, 'name'], `duplicate bundle "${b.name}"`)
    bundleNames.add(b.name)
    checkServices(b.services, ['bundles', i, 'services'], b.unit)
    const covered = b.services ?? services.filter((s) => s.unit === b.unit).map((s) => s.name)
    if (covered.length === 0) fail(['bundles', i, 'unit'], `no service counts ${b.unit}`)
    return { name: b.name, unit: b.unit, amount: b.amount, services: covered, priority: b.priority ?? 0, ...(b.destinations ? { destinations: b.destinations } : {}) }
  })

  // A fee's CDR id is `fee#<account>#<cycle>#<name>`: two fees of one name would share it, and the
  // billing store keeps one row per id (the other fee would be charged with no CDR).
  const feeNames = new Set<string>()
  const fees = (p.fees ?? []).map((f, i) => {
    if (feeNames.has(f.name)) fail(['fees', i, 'name'], `duplicate fee "${f.name}"`)
    feeNames.add(f.name)
    return { name: f.name, amount: prices(f.amount, ['fees', i, 'amount']) }
  })

  let fairUsage: CompiledFairUsage | undefined
  if (p.fairUsage) {
    const f = p.fairUsage
    checkServices(f.services, ['fairUsage', 'services'], 'octets')
    const covered = f.services ?? services.filter((s) => s.unit === 'octets').map((s) => s.name)
    if (covered.length === 0) fail(['fairUsage', 'services'], 'no service counts octets')
    fairUsage = { octets: f.octets, services: new Set(covered), action: f.action }
    if (f.filterId !== undefined) fairUsage.filterId = f.filterId
    if (f.redirectUrl !== undefined) fairUsage.redirectUrl = f.redirectUrl
    if (f.tariff) {
      const c = compileTariff(f.tariff, `${p.id}@${p.version}:fup`, f.tariff.name ?? 'fair-usage', ['fairUsage', 'tariff'])
      fairUsage.tariff = c.tariff
      fairUsage.prices = c.prices
    }
  }

  const plan: CompiledPlan = {
    id: p.id,
    version: p.version,
    currency: p.currency,
    holidays: new Set(p.holidays ?? []),
    services,
    exchangeRates,
    taxes,
    promotions,
    cycle: { period: p.cycle?.period ?? 'monthly', day: p.cycle?.day ?? 1 },
    bundles,
    fees,
  }
  if (p.precision !== undefined) plan.precision = p.precision
  if (p.activeFrom !== undefined) plan.activeFrom = Date.parse(p.activeFrom)
  if (fairUsage) plan.fairUsage = fairUsage
  return plan
}

export interface ServiceKey {
  serviceContext?: string
  ratingGroup?: number
  serviceId?: number
  radiusService?: string
}

/**
 * The first service whose match fits. Service-Context-Id matches on its tail so the TS 32.299
 * long form `ext.01.001.8.32260@3gpp.org` finds `32260@3gpp.org`.
 */
export function findService(plan: CompiledPlan, key: ServiceKey): CompiledService | undefined {
  for (const s of plan.services) {
    const m = s.match
    if (key.radiusService !== undefined) {
      if (m.radius === undefined || (m.radius !== '*' && m.radius !== key.radiusService)) continue
      return s
    }
    if (m.context === undefined || key.serviceContext === undefined) continue
    const ctx = key.serviceContext.toLowerCase()
    const want = m.context.toLowerCase()
    if (ctx !== want && !ctx.endsWith(`.${want}`)) continue
    if (m.ratingGroups && (key.ratingGroup === undefined || !m.ratingGroups.includes(key.ratingGroup))) continue
    if (m.serviceIds && (key.serviceId === undefined || !m.serviceIds.includes(key.serviceId))) continue
    return s
  }
  return undefined
}

/** The demo plan loaded into an empty store: every front end's traffic has a non-zero price. */
export const DEMO_PLAN: PlanDocument = {
  id: 'demo',
  version: 1,
  name: 'Demo plan',
  currency: 'EUR',
  precision: 6,
  services: [
    { name: 'data', unit: 'octets', match: { context: '32251@3gpp.org' }, tariff: { name: 'data-1MB', rate: '0.010000', per: 1048576 } },
    { name: 'voice', unit: 'seconds', match: { context: '32260@3gpp.org' }, tariff: { name: 'voice-60-1', rate: '0.100000', per: 60, first: 60, next: 1 } },
    { name: 'sms', unit: 'events', match: { context: '32274@3gpp.org' }, tariff: { name: 'sms', rate: '0.050000', per: 1 } },
    { name: 'broadband', unit: 'octets', match: { radius: '*' }, tariff: { name: 'bb-1MB', rate: '0.005000', per: 1048576 } },
  ],
}
