import { z } from 'zod'
import { parseMoney } from '../lib/money.js'
import type { TimeBand } from './time-bands.js'

// A plan maps services (Diameter Service-Context-Id + Rating-Group / Service-Identifier, or a
// RADIUS service) to a unit type and a tariff. Versioned documents; prices are decimal strings in
// the plan currency, turned into integer micro-units once, when the plan is compiled.

export const UNIT_TYPES = ['seconds', 'octets', 'events'] as const
export type UnitType = (typeof UNIT_TYPES)[number]

const money = z.string().regex(/^\d{1,12}(\.\d{1,6})?$/, 'a decimal amount such as "0.05"')

const tariffSchema = z.object({
  name: z.string().min(1).optional(),
  rate: money.describe('price of `per` units'),
  per: z.number().int().min(1).default(1).describe('how many units `rate` buys (e.g. 60 s, 1048576 octets)'),
  first: z.number().int().min(1).default(1).describe('first billing increment in units'),
  next: z.number().int().min(1).default(1).describe('next billing increments in units'),
  fee: money.default('0').describe('connection fee, charged once per session/event'),
  min: money.default('0').describe('minimum charge'),
})

const serviceSchema = z.object({
  name: z.string().min(1).regex(/^[a-z0-9_-]+$/i, 'letters, digits, - and _'),
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
  currency: z.string().regex(/^[A-Z]{3}$/, 'an ISO 4217 code'),
  holidays: z.array(z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'YYYY-MM-DD')).optional(),
  services: z.array(serviceSchema).min(1),
})

export type PlanDocument = z.input<typeof planSchema>

/** A tariff as the Lua scripts take it: integers only. */
export interface LuaTariff {
  id: string
  name: string
  rate: number
  per: number
  first: number
  next: number
  fee: number
  min: number
}

export interface CompiledService {
  name: string
  unit: UnitType
  match: z.infer<typeof serviceSchema>['match']
  tariff: LuaTariff
  quota?: number
  deck?: string
  timeBands: TimeBand[]
}

export interface CompiledPlan {
  id: string
  version: number
  currency: string
  holidays: ReadonlySet<string>
  services: CompiledService[]
}

export class PlanError extends Error {
  readonly code = 'OCS_ERR_PLAN'
}

/** Validates a plan document; a bad plan is refused with the path and the problem. */
export function compilePlan(doc: unknown): CompiledPlan {
  const r = planSchema.safeParse(doc)
  if (!r.success) {
    const i = r.error.issues[0]
    throw new PlanError(`plan ${i.path.join('.') || '(root)'}: ${i.message}`)
  }
  const p = r.data
  const names = new Set<string>()
  const services = p.services.map((s, idx) => {
    if (names.has(s.name)) throw new PlanError(`plan services.${idx}.name: duplicate service "${s.name}"`)
    names.add(s.name)
    const toMicro = (v: string): number => Number(parseMoney(v))
    return {
      name: s.name,
      unit: s.unit,
      match: s.match,
      quota: s.quota,
      deck: s.deck,
      timeBands: s.timeBands ?? [],
      tariff: {
        id: `${p.id}@${p.version}:${s.name}`,
        name: s.tariff.name ?? s.name,
        rate: toMicro(s.tariff.rate),
        per: s.tariff.per,
        first: s.tariff.first,
        next: s.tariff.next,
        fee: toMicro(s.tariff.fee),
        min: toMicro(s.tariff.min),
      },
    }
  })
  return { id: p.id, version: p.version, currency: p.currency, holidays: new Set(p.holidays ?? []), services }
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
  services: [
    { name: 'data', unit: 'octets', match: { context: '32251@3gpp.org' }, tariff: { name: 'data-1MB', rate: '0.010000', per: 1048576 } },
    { name: 'voice', unit: 'seconds', match: { context: '32260@3gpp.org' }, tariff: { name: 'voice-60-1', rate: '0.100000', per: 60, first: 60, next: 1 } },
    { name: 'sms', unit: 'events', match: { context: '32274@3gpp.org' }, tariff: { name: 'sms', rate: '0.050000', per: 1 } },
    { name: 'broadband', unit: 'octets', match: { radius: '*' }, tariff: { name: 'bb-1MB', rate: '0.005000', per: 1048576 } },
  ],
}
