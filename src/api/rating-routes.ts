import type { FastifyInstance } from 'fastify'
import type { BalanceStore } from '../balance/store.js'
import type { PlanCache } from '../core/plan-cache.js'
import type { BillingStore } from '../cdr/types.js'
import { parseTime } from '../cdr/routes.js'
import { OcsError } from '../lib/errors.js'
import { formatMoney } from '../lib/money.js'
import { rate, rerate, type RateResult, type RatingAccount } from '../rating/engine.js'

// Rating without charging: a quote for a usage under the account's plan (or another one), and a
// what-if re-rating of an account's stored CDRs under another plan — what billing and customer care
// ask before a plan change. Nothing here touches a balance.

export interface RatingRouteDeps {
  store: BalanceStore
  plans: PlanCache
  billing?: BillingStore
}

const id = { type: 'string', minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_-]+$' }

function ratedJson(r: Extract<RateResult, { ok: true }>): Record<string, unknown> {
  return {
    currency: r.currency,
    units: r.units,
    fromBundles: r.fromBundles,
    net: formatMoney(r.net),
    tax: formatMoney(r.tax),
    gross: formatMoney(r.gross),
    fairUsageCrossed: r.fairUsageCrossed,
    ...(r.destination ? { destination: r.destination, destinationName: r.destinationName } : {}),
    parts: r.parts.map((p) => ({ start: new Date(p.start).toISOString(), units: p.units, tariff: p.tariff, net: formatMoney(p.net), tax: formatMoney(p.tax), gross: formatMoney(p.gross) })),
  }
}

export async function registerRatingRoutes(app: FastifyInstance, deps: RatingRouteDeps): Promise<void> {
  const { store, plans } = deps

  const ratingAccount = async (accountId: string): Promise<{ account: RatingAccount; plan: string }> => {
    const a = await store.getAccount(accountId)
    if (!a) throw new OcsError('OCS_ERR_NOT_FOUND', `account ${accountId} not found`)
    return { plan: a.plan, account: { currency: a.currency, timezone: a.timezone, country: a.country, taxRegion: a.taxRegion, ...(a.segment ? { segment: a.segment } : {}) } }
  }
  const planAt = async (planId: string, at: number) => {
    const p = await plans.get(planId, at)
    if (!p) throw new OcsError('OCS_ERR_VALIDATION', `plan: no plan "${planId}" in force at ${new Date(at).toISOString()}`, 'plan')
    return p
  }

  app.post<{ Body: { account: string; plan?: string; serviceContext?: string; ratingGroup?: number; serviceId?: number; radiusService?: string; units: number; destination?: string; at?: string } }>(
    '/v1/rating/quote',
    {
      schema: {
        tags: ['rating'],
        description: 'Price of a usage for an account (under its plan, or `plan`), split at tariff boundaries, with tax. Charges nothing.',
        body: {
          type: 'object',
          required: ['account', 'units'],
          additionalProperties: false,
          properties: {
            account: id, plan: id, serviceContext: { type: 'string', minLength: 1 }, ratingGroup: { type: 'integer', minimum: 0 },
            serviceId: { type: 'integer', minimum: 0 }, radiusService: { type: 'string', minLength: 1 },
            units: { type: 'integer', minimum: 0, maximum: 2 ** 52 }, destination: { type: 'string', minLength: 1, maxLength: 64 },
            at: { type: 'string', description: 'start of the usage (ISO 8601 or ms); default now' },
          },
        },
      },
    },
    async (req) => {
      const b = req.body
      if (b.serviceContext === undefined && b.radiusService === undefined) throw new OcsError('OCS_ERR_VALIDATION', 'serviceContext: serviceContext or radiusService is required', 'serviceContext')
      const at = parseTime(b.at, 'at') ?? Date.now()
      const { account, plan: own } = await ratingAccount(b.account)
      const plan = await planAt(b.plan ?? own, at)
      const service = { serviceContext: b.serviceContext, ratingGroup: b.ratingGroup, serviceId: b.serviceId, radiusService: b.radiusService }
      const r = rate({ service, units: b.units, start: at, ...(b.destination ? { destination: b.destination } : {}) }, plan, account, () => at, plans.decks)
      if (!r.ok) throw new OcsError('OCS_ERR_VALIDATION', `rating failed: ${r.reason}`, 'serviceContext')
      return { account: b.account, plan: plan.id, planVersion: plan.version, ...ratedJson(r) }
    },
  )

  app.post<{ Body: { account: string; plan: string; from?: string; to?: string } }>(
    '/v1/rating/rerate',
    {
      schema: {
        tags: ['rating'],
        description: 'What-if: the account\'s stored CDRs of a period re-rated under another plan, beside what was charged.',
        body: { type: 'object', required: ['account', 'plan'], additionalProperties: false, properties: { account: id, plan: id, from: { type: 'string' }, to: { type: 'string' } } },
      },
    },
    async (req) => {
      const billing = deps.billing
      if (!billing) throw new OcsError('OCS_ERR_VALIDATION', 'billing store: not configured on this node', 'plan')
      const b = req.body
      const from = parseTime(b.from, 'from')
      const to = parseTime(b.to, 'to')
      const { account } = await ratingAccount(b.account)
      await planAt(b.plan, Date.now())
      let charged = 0n
      let rerated = 0n
      let count = 0
      const failed: Array<{ cdr: string; reason: string }> = []
      const byService = new Map<string, { charged: bigint; rerated: bigint; cdrs: number }>()
      let cursor: string | undefined
      do {
        const page = await billing.query({ account: b.account, from, to, cursor, limit: 1000 })
        for (const cdr of page.cdrs) {
          // Fees and refunds are not usage: they keep their amount under any plan.
          if (cdr.total < 0n || cdr.service?.startsWith('fee:') || cdr.unit === null) continue
          count++
          const plan = await planAt(b.plan, cdr.start)
          const r = rerate(cdr, plan, account, plans.decks)
          const svc = cdr.service ?? '-'
          const s = byService.get(svc) ?? { charged: 0n, rerated: 0n, cdrs: 0 }
          s.cdrs++
          s.charged += cdr.total
          charged += cdr.total
          if (r.ok) {
            s.rerated += r.gross
            rerated += r.gross
          } else if (failed.length < 100) failed.push({ cdr: cdr.id, reason: r.reason })
          byService.set(svc, s)
        }
        cursor = page.next ?? undefined
      } while (cursor)
      return {
        account: b.account,
        plan: b.plan,
        cdrs: count,
        charged: formatMoney(charged),
        rerated: formatMoney(rerated),
        difference: formatMoney(rerated - charged),
        services: [...byService].map(([service, s]) => ({ service, cdrs: s.cdrs, charged: formatMoney(s.charged), rerated: formatMoney(s.rerated) })),
        failed,
      }
    },
  )
}
