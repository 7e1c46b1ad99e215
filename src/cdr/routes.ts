import type { FastifyInstance } from 'fastify'
import { OcsError } from '../lib/errors.js'
import { formatMoney } from '../lib/money.js'
import { pageLimit } from './record.js'
import type { BillingStore, CdrFilter, CdrRecord, UsageTotal } from './types.js'

// REST API over the billing store: CDR query with cursor pagination, streamed CSV export, usage
// totals per service. Periods are on the CDR end time, `from` inclusive, `to` exclusive; times are
// ISO 8601 (a date alone = 00:00 UTC) or milliseconds since the epoch. Money as decimal strings.

export interface CdrRouteDeps {
  store: BillingStore
}

type PeriodQuery = { account?: string; from?: string; to?: string }

const ACCOUNT = /^[A-Za-z0-9_-]{1,64}$/
const ISO = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?)?$/

/** ISO 8601 or ms epoch → ms epoch; OCS_ERR_VALIDATION naming the field otherwise. */
export function parseTime(text: string | undefined, field: string): number | undefined {
  if (text === undefined || text === '') return undefined
  if (/^\d{1,15}$/.test(text)) return Number(text)
  if (ISO.test(text)) {
    // A date-time without an offset is UTC (Date.parse would take it as local time).
    const withZone = /T/.test(text) && !/(Z|[+-]\d{2}:?\d{2})$/.test(text) ? `${text}Z` : text
    const ms = Date.parse(withZone)
    if (Number.isFinite(ms)) return ms
  }
  throw new OcsError('OCS_ERR_VALIDATION', `${field}: expected an ISO 8601 time (2026-01-31T00:00:00Z) or milliseconds since the epoch`, field)
}

function period(q: PeriodQuery, accountRequired: boolean): CdrFilter {
  const f: CdrFilter = {}
  if (q.account !== undefined && q.account !== '') {
    if (!ACCOUNT.test(q.account)) throw new OcsError('OCS_ERR_VALIDATION', 'account: 1-64 characters of A-Z a-z 0-9 _ -', 'account')
    f.account = q.account
  } else if (accountRequired) throw new OcsError('OCS_ERR_VALIDATION', 'account: required', 'account')
  f.from = parseTime(q.from, 'from')
  f.to = parseTime(q.to, 'to')
  if (f.from !== undefined && f.to !== undefined && f.from >= f.to) throw new OcsError('OCS_ERR_VALIDATION', 'to: must be after from', 'to')
  return f
}

function definedOnly<T extends Record<string, unknown>>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== null && v !== undefined)) as Partial<T>
}

export function cdrJson(r: CdrRecord): Record<string, unknown> {
  return {
    id: r.id,
    sessionId: r.sessionId,
    account: r.account,
    subscriber: definedOnly({ msisdn: r.msisdn, imsi: r.imsi, sip: r.sip, username: r.username }),
    node: r.node,
    protocol: r.protocol,
    service: r.service,
    ratingGroup: r.ratingGroup,
    serviceId: r.serviceId,
    serviceContext: r.serviceContext,
    unit: r.unit,
    start: new Date(r.start).toISOString(),
    end: new Date(r.end).toISOString(),
    durationSeconds: r.durationSeconds,
    octetsIn: r.octetsIn,
    octetsOut: r.octetsOut,
    events: r.events,
    used: r.used,
    unitsFromBuckets: r.unitsFromBuckets,
    unitBuckets: Object.fromEntries(Object.entries(r.unitBuckets).map(([k, v]) => [k, Number(v)])),
    destination: r.destination,
    destinationName: r.destinationName,
    tariff: r.tariff,
    planVersion: r.planVersion,
    moneyBuckets: Object.fromEntries(Object.entries(r.moneyBuckets).map(([k, v]) => [k, formatMoney(v)])),
    total: formatMoney(r.total),
    tax: formatMoney(r.tax),
    currency: r.currency,
    closeReason: r.closeReason,
    overage: r.overage,
  }
}

function usageJson(u: UsageTotal): Record<string, unknown> {
  return {
    service: u.service,
    unit: u.unit,
    currency: u.currency,
    cdrs: u.cdrs,
    used: Number(u.used),
    durationSeconds: Number(u.durationSeconds),
    octetsIn: Number(u.octetsIn),
    octetsOut: Number(u.octetsOut),
    events: Number(u.events),
    total: formatMoney(u.total),
    tax: formatMoney(u.tax),
  }
}

const periodProps = {
  from: { type: 'string', description: 'CDR end time ≥ from: ISO 8601 or ms since the epoch' },
  to: { type: 'string', description: 'CDR end time < to: ISO 8601 or ms since the epoch' },
}

/** GET /v1/cdrs, GET /v1/cdrs.csv, GET /v1/accounts/:id/usage (register inside the API-key-guarded scope). */
export async function registerCdrRoutes(app: FastifyInstance, deps: CdrRouteDeps): Promise<void> {
  const { store } = deps

  app.get<{ Querystring: PeriodQuery & { cursor?: string; limit?: string } }>(
    '/v1/cdrs',
    {
      schema: {
        tags: ['cdrs'],
        description: 'CDRs in (end time, id) order, a page at a time; pass `next` back as `cursor` until it is null',
        querystring: {
          type: 'object',
          properties: { account: { type: 'string' }, ...periodProps, cursor: { type: 'string', maxLength: 1024 }, limit: { type: 'string', description: '1…1000, default 100' } },
        },
      },
    },
    async (req) => {
      const f = period(req.query, false)
      let limit: number | undefined
      if (req.query.limit !== undefined && req.query.limit !== '') {
        if (!/^\d{1,4}$/.test(req.query.limit)) throw new OcsError('OCS_ERR_VALIDATION', 'limit: an integer 1…1000', 'limit')
        limit = pageLimit(Number(req.query.limit))
      }
      const page = await store.query({ ...f, cursor: req.query.cursor || undefined, limit })
      return { cdrs: page.cdrs.map(cdrJson), next: page.next }
    },
  )

  app.get<{ Querystring: PeriodQuery }>(
    '/v1/cdrs.csv',
    {
      schema: {
        tags: ['cdrs'],
        description: 'Every matching CDR as CSV (header row first), streamed',
        querystring: { type: 'object', properties: { account: { type: 'string' }, ...periodProps } },
      },
    },
    async (req, reply) => {
      const f = period(req.query, false)
      // Touch the store first so an unavailable store is a clean 503, not a cut-off download.
      await store.ping()
      reply
        .header('content-type', 'text/csv; charset=utf-8')
        .header('content-disposition', `attachment; filename="cdrs${f.account ? `-${f.account}` : ''}.csv"`)
        .header('cache-control', 'no-store')
      return reply.send(store.streamCsv(f))
    },
  )

  app.get<{ Params: { id: string }; Querystring: PeriodQuery }>(
    '/v1/accounts/:id/usage',
    {
      schema: {
        tags: ['cdrs'],
        description: 'Totals per service (and unit, currency) of the CDRs that ended in the period',
        params: { type: 'object', properties: { id: { type: 'string' } } },
        querystring: { type: 'object', properties: periodProps },
      },
    },
    async (req) => {
      const f = period({ ...req.query, account: req.params.id }, true)
      const totals = await store.usage(f.account as string, f.from, f.to)
      return {
        account: f.account,
        from: f.from === undefined ? null : new Date(f.from).toISOString(),
        to: f.to === undefined ? null : new Date(f.to).toISOString(),
        services: totals.map(usageJson),
      }
    },
  )
}
