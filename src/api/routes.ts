import type { FastifyInstance } from 'fastify'
import { AMOUNT_LIMIT, BalanceStore, OUT_OF_RANGE, activePlan, type Account, type Bucket, type Subscriber, IDENTITY_FIELDS } from '../balance/store.js'
import type { AccountEvents } from '../core/events.js'
import type { PlanCache } from '../core/plan-cache.js'
import type { CycleRunner } from '../core/cycles.js'
import { parseMoney, formatMoney, MoneyFormatError } from '../lib/money.js'
import { OcsError } from '../lib/errors.js'
import type { SecretBox } from '../lib/secrets.js'
import type { Metrics } from '../metrics/metrics.js'
import type { BillingStore } from '../cdr/types.js'
import { PlanError, type CompiledPlan, type PlanDocument, type Prices } from '../rating/plan.js'
import { DeckError } from '../rating/deck.js'

export interface ApiDeps {
  store: BalanceStore
  secrets: SecretBox
  events: AccountEvents
  metrics?: Metrics
  plans: PlanCache
  billing?: BillingStore
  /** starts billing cycles (allowances, recurring fees) for new accounts and after top-ups */
  cycles?: CycleRunner
}

const CURRENCIES = new Set(Intl.supportedValuesOf('currency'))
const TIMEZONES = new Set([...Intl.supportedValuesOf('timeZone'), 'UTC'])

const moneyString = { type: 'string', pattern: '^-?\\d{1,15}(\\.\\d{1,6})?$', description: 'decimal amount in the account currency' }
const id = { type: 'string', minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_-]+$' }
const errorShape = { type: 'object', properties: { error: { type: 'string' }, message: { type: 'string' }, field: { type: 'string' } } }

const accountOut = {
  type: 'object',
  properties: {
    id: { type: 'string' }, currency: { type: 'string' }, type: { type: 'string' }, plan: { type: 'string' },
    timezone: { type: 'string' }, language: { type: 'string' }, taxRegion: { type: 'string' }, country: { type: 'string' }, segment: { type: 'string' },
    status: { type: 'string' }, creditLimit: { type: 'string' }, balance: { type: 'string' }, reserved: { type: 'string' },
    createdAt: { type: 'string' },
  },
}
const accountPatchProps = {
  type: { type: 'string', enum: ['prepaid', 'postpaid'] },
  plan: id,
  timezone: { type: 'string', minLength: 1 },
  language: { type: 'string', pattern: '^[a-z]{2,3}(-[A-Za-z0-9]+)*$' },
  taxRegion: { type: 'string', minLength: 1, maxLength: 32 },
  country: { type: 'string', pattern: '^[A-Z]{2}$' },
  segment: { type: 'string', pattern: '^[A-Za-z0-9_-]{0,32}$', description: 'customer segment that promotions may target' },
  status: { type: 'string', enum: ['active', 'suspended', 'barred'] },
  creditLimit: moneyString,
}
const bucketIn = {
  type: 'object',
  required: ['kind', 'amount'],
  additionalProperties: false,
  properties: {
    id,
    kind: { type: 'string', enum: ['money', 'seconds', 'octets', 'events'] },
    amount: { type: 'string', pattern: '^\\d{1,15}(\\.\\d{1,6})?$', description: 'decimal money, or an integer count of units' },
    scope: { type: 'array', items: { type: 'string', minLength: 1 }, description: 'service names this bucket pays for; empty = all' },
    priority: { type: 'integer', minimum: 0, maximum: 999999 },
    validFrom: { type: 'string', format: 'date-time' },
    validUntil: { type: 'string', format: 'date-time' },
  },
}
const subscriberIn = {
  type: 'object',
  required: ['account'],
  additionalProperties: false,
  properties: {
    account: id,
    msisdn: { type: 'string', pattern: '^\\+?[1-9]\\d{5,14}$', description: 'E.164 number' },
    imsi: { type: 'string', pattern: '^\\d{6,15}$' },
    sipUri: { type: 'string', pattern: '^(sip|sips|tel):\\S+$' },
    username: { type: 'string', minLength: 1, maxLength: 253 },
    password: { type: 'string', minLength: 1, maxLength: 128 },
  },
}

function money(text: string, field: string): bigint {
  try {
    return parseMoney(text)
  } catch (err) {
    if (err instanceof MoneyFormatError) throw new OcsError('OCS_ERR_VALIDATION', `${field}: ${err.message}`, field)
    throw err
  }
}

/** Decimal places of a currency (ISO 4217 minor units: EUR 2, JPY 0, BHD 3). */
function currencyDigits(currency: string): number {
  return new Intl.NumberFormat('en', { style: 'currency', currency }).resolvedOptions().maximumFractionDigits ?? 2
}

/** An amount finer than the currency's minor unit (e.g. 1.5 JPY) is refused. */
function checkPrecision(amount: bigint, currency: string, field: string): void {
  const digits = currencyDigits(currency)
  const quantum = 10n ** BigInt(6 - Math.min(6, digits))
  if (amount % quantum !== 0n) throw new OcsError('OCS_ERR_VALIDATION', `${field}: ${currency} amounts have ${digits} decimal${digits === 1 ? '' : 's'}`, field)
}

/**
 * An account must be able to pay its plan's prices: in the plan currency, through an exchange rate,
 * or with explicit prices in its currency for every service and fee.
 */
function checkPlanCurrency(plan: CompiledPlan, currency: string): void {
  if (currency === plan.currency || plan.exchangeRates.has(currency)) return
  const priced = (p: Prices): boolean => p[currency] !== undefined
  const ok = plan.services.every((s) => priced(s.prices.rate) && s.prices.tiers.every((x) => priced(x.rate))) && plan.fees.every((f) => priced(f.amount))
  if (!ok) throw new OcsError('OCS_ERR_VALIDATION', `currency: plan ${plan.id} has no prices in ${currency} and no exchange rate for it`, 'currency')
}

function checkAccountFields(b: { currency?: string; timezone?: string }): void {
  if (b.currency !== undefined && !CURRENCIES.has(b.currency)) throw new OcsError('OCS_ERR_VALIDATION', `currency: "${b.currency}" is not an ISO 4217 code`, 'currency')
  if (b.timezone !== undefined && !TIMEZONES.has(b.timezone)) throw new OcsError('OCS_ERR_VALIDATION', `timezone: "${b.timezone}" is not an IANA time zone`, 'timezone')
}

function accountJson(a: Account & { reserved: bigint }, buckets: Bucket[]): Record<string, unknown> {
  return {
    ...a,
    creditLimit: formatMoney(a.creditLimit),
    balance: formatMoney(BalanceStore.moneyBalance(buckets, Date.now())),
    reserved: formatMoney(a.reserved),
    createdAt: new Date(a.createdAt).toISOString(),
  }
}

function bucketJson(b: Bucket): Record<string, unknown> {
  return {
    id: b.id,
    kind: b.kind,
    amount: b.kind === 'money' ? formatMoney(b.amount) : b.amount.toString(),
    scope: b.scope ?? [],
    priority: b.priority,
    validFrom: b.from !== undefined ? new Date(b.from).toISOString() : null,
    validUntil: b.to !== undefined ? new Date(b.to).toISOString() : null,
  }
}

function subscriberJson(s: Subscriber): Record<string, unknown> {
  const { passwordHash, passwordSealed: _sealed, ...rest } = s
  return { ...rest, hasPassword: passwordHash !== undefined, createdAt: new Date(s.createdAt).toISOString() }
}

const notFound = (what: string, idv: string): OcsError => new OcsError('OCS_ERR_NOT_FOUND', `${what} ${idv} not found`)

export async function registerRoutes(app: FastifyInstance, deps: ApiDeps): Promise<void> {
  const { store, events, plans, secrets } = deps

  const loadAccount = async (accountId: string): Promise<Account & { reserved: bigint }> => {
    const a = await store.getAccount(accountId)
    if (!a) throw notFound('account', accountId)
    return a
  }

  // ---------- accounts ----------
  app.post<{ Body: { currency: string; type: 'prepaid' | 'postpaid'; plan: string; timezone?: string; language?: string; taxRegion?: string; country?: string; segment?: string; status?: 'active' | 'suspended' | 'barred'; creditLimit?: string; balance?: string } }>(
    '/v1/accounts',
    {
      schema: {
        tags: ['accounts'],
        body: {
          type: 'object',
          required: ['currency', 'type', 'plan'],
          additionalProperties: false,
          properties: { currency: { type: 'string', pattern: '^[A-Z]{3}$' }, ...accountPatchProps, balance: moneyString },
        },
        response: { 201: accountOut, 400: errorShape },
      },
    },
    async (req, reply) => {
      const b = req.body
      checkAccountFields(b)
      const creditLimit = money(b.creditLimit ?? '0', 'creditLimit')
      if (creditLimit < 0n) throw new OcsError('OCS_ERR_VALIDATION', 'creditLimit: must not be negative', 'creditLimit')
      if (b.type === 'prepaid' && creditLimit !== 0n) throw new OcsError('OCS_ERR_VALIDATION', 'creditLimit: only postpaid accounts have a credit limit', 'creditLimit')
      const initial = money(b.balance ?? '0', 'balance')
      if (initial < 0n) throw new OcsError('OCS_ERR_VALIDATION', 'balance: must not be negative', 'balance')
      checkPrecision(initial, b.currency, 'balance')
      checkPrecision(creditLimit, b.currency, 'creditLimit')
      const plan = await plans.get(b.plan)
      if (!plan) throw new OcsError('OCS_ERR_VALIDATION', `plan: no plan "${b.plan}"`, 'plan')
      checkPlanCurrency(plan, b.currency)
      const acct = await store.createAccount(
        {
          currency: b.currency, type: b.type, plan: b.plan, timezone: b.timezone ?? 'UTC', language: b.language ?? 'en',
          taxRegion: b.taxRegion ?? 'default', country: b.country ?? 'ZZ', status: b.status ?? 'active', creditLimit,
          ...(b.segment ? { segment: b.segment } : {}),
        },
        initial,
      )
      // The first cycle starts now: its allowances exist (and its fees are paid) when this returns.
      await deps.cycles?.renew(acct.id)
      reply.code(201)
      return accountJson({ ...acct, reserved: 0n }, await store.buckets(acct.id))
    },
  )

  app.get<{ Querystring: { cursor?: string; limit?: string } }>(
    '/v1/accounts',
    { schema: { tags: ['accounts'], querystring: { type: 'object', properties: { cursor: { type: 'string', pattern: '^\\d{1,9}$' }, limit: { type: 'string', pattern: '^\\d{1,3}$' } } } } },
    async (req) => {
      const limit = Number(req.query.limit ?? 100)
      if (limit < 1 || limit > 500) throw new OcsError('OCS_ERR_VALIDATION', 'limit: 1..500', 'limit')
      const { ids, next } = await store.listAccounts(Number(req.query.cursor ?? 0), limit)
      const accounts = []
      for (const aid of ids) {
        const a = await store.getAccount(aid)
        if (a) accounts.push(accountJson(a, await store.buckets(aid)))
      }
      return { accounts, next: next ?? null }
    },
  )

  app.get<{ Params: { id: string } }>('/v1/accounts/:id', { schema: { tags: ['accounts'], params: { type: 'object', properties: { id } }, response: { 200: accountOut, 404: errorShape } } }, async (req) => {
    const a = await loadAccount(req.params.id)
    return accountJson(a, await store.buckets(a.id))
  })

  app.patch<{ Params: { id: string }; Body: Partial<Record<keyof typeof accountPatchProps, string>> }>(
    '/v1/accounts/:id',
    { schema: { tags: ['accounts'], params: { type: 'object', properties: { id } }, body: { type: 'object', additionalProperties: false, minProperties: 1, properties: accountPatchProps }, response: { 200: accountOut } } },
    async (req) => {
      const b = req.body
      checkAccountFields(b)
      const before = await loadAccount(req.params.id)
      const patch: Partial<Account> = {}
      if (b.creditLimit !== undefined) {
        patch.creditLimit = money(b.creditLimit, 'creditLimit')
        if (patch.creditLimit < 0n) throw new OcsError('OCS_ERR_VALIDATION', 'creditLimit: must not be negative', 'creditLimit')
        checkPrecision(patch.creditLimit, before.currency, 'creditLimit')
        if ((b.type ?? before.type) === 'prepaid' && patch.creditLimit !== 0n) throw new OcsError('OCS_ERR_VALIDATION', 'creditLimit: only postpaid accounts have a credit limit', 'creditLimit')
      }
      // A postpaid account made prepaid loses its credit limit (the scripts honour any limit stored).
      if (b.type === 'prepaid' && b.creditLimit === undefined && before.creditLimit !== 0n) patch.creditLimit = 0n
      if (b.plan !== undefined) {
        const plan = await plans.get(b.plan)
        if (!plan) throw new OcsError('OCS_ERR_VALIDATION', `plan: no plan "${b.plan}"`, 'plan')
        checkPlanCurrency(plan, before.currency)
      }
      for (const k of ['type', 'plan', 'timezone', 'language', 'taxRegion', 'country', 'segment', 'status'] as const) {
        if (b[k] !== undefined) (patch as Record<string, unknown>)[k] = b[k]
      }
      if (!(await store.updateAccount(before.id, patch))) throw notFound('account', before.id)
      const sessions = (await store.listSessions(before.id)).map((s) => String(s.id))
      if (patch.status === 'barred' && before.status !== 'barred') {
        await events.publish({ type: 'abort', accountId: before.id, sessions, reason: 'barred' })
      } else if ((patch.plan && patch.plan !== before.plan) || (patch.status === 'active' && before.status !== 'active')) {
        await events.publish({ type: 'reauth', accountId: before.id, sessions, reason: patch.plan ? 'plan' : 'status' })
      }
      // A plan with another cycle starts its own cycle now (its allowances and fees).
      if (patch.plan && patch.plan !== before.plan) await deps.cycles?.renew(before.id)
      const a = await loadAccount(before.id)
      return accountJson(a, await store.buckets(a.id))
    },
  )

  // ---------- balances ----------
  app.get<{ Params: { id: string } }>('/v1/accounts/:id/balances', { schema: { tags: ['balances'], params: { type: 'object', properties: { id } } } }, async (req) => {
    const a = await loadAccount(req.params.id)
    return { account: a.id, currency: a.currency, buckets: (await store.buckets(a.id)).map(bucketJson) }
  })

  app.post<{ Params: { id: string }; Body: { id?: string; kind: Bucket['kind']; amount: string; scope?: string[]; priority?: number; validFrom?: string; validUntil?: string } }>(
    '/v1/accounts/:id/balances',
    { schema: { tags: ['balances'], params: { type: 'object', properties: { id } }, body: bucketIn } },
    async (req, reply) => {
      const b = req.body
      const acct = await loadAccount(req.params.id)
      let amount: bigint
      if (b.kind === 'money') checkPrecision((amount = money(b.amount, 'amount')), acct.currency, 'amount')
      else if (/^\d+$/.test(b.amount)) amount = BigInt(b.amount)
      else throw new OcsError('OCS_ERR_VALIDATION', `amount: ${b.kind} buckets hold a whole number of units`, 'amount')
      // The charging scripts keep amounts exactly up to AMOUNT_LIMIT (src/balance/lua/lib.lua LIMIT).
      if (amount > AMOUNT_LIMIT) throw new OcsError('OCS_ERR_VALIDATION', `amount: past ${OUT_OF_RANGE}`, 'amount')
      const from = b.validFrom ? Date.parse(b.validFrom) : undefined
      const to = b.validUntil ? Date.parse(b.validUntil) : undefined
      if (from !== undefined && to !== undefined && to <= from) throw new OcsError('OCS_ERR_VALIDATION', 'validUntil: must be after validFrom', 'validUntil')
      if (b.id === 'main') throw new OcsError('OCS_ERR_CONFLICT', 'bucket main already exists', 'id')
      const bucket = await store.addBucket(req.params.id, { id: b.id, kind: b.kind, amount, scope: b.scope, priority: b.priority ?? 100, from, to })
      if (!bucket) throw notFound('account', req.params.id)
      reply.code(201)
      return bucketJson(bucket)
    },
  )

  app.post<{ Params: { id: string }; Body: { amount: string; reference?: string } }>(
    '/v1/accounts/:id/topups',
    {
      schema: {
        tags: ['balances'],
        params: { type: 'object', properties: { id } },
        body: { type: 'object', required: ['amount'], additionalProperties: false, properties: { amount: moneyString, reference: { type: 'string', maxLength: 128, description: 'idempotency reference: a repeat is applied once' } } },
      },
    },
    async (req, reply) => {
      const amount = money(req.body.amount, 'amount')
      if (amount <= 0n) throw new OcsError('OCS_ERR_VALIDATION', 'amount: must be positive', 'amount')
      checkPrecision(amount, (await loadAccount(req.params.id)).currency, 'amount')
      const r = await store.topup(req.params.id, amount, req.body.reference)
      if (!r) throw notFound('account', req.params.id)
      // A cycle waiting for its fees starts as soon as the balance can pay them.
      await deps.cycles?.renew(req.params.id)
      deps.metrics?.topups.inc()
      deps.metrics?.topupAmount.inc(Number(amount))
      await events.publish({ type: 'reauth', accountId: req.params.id, sessions: r.reauth, reason: 'topup' })
      const a = await loadAccount(req.params.id)
      reply.code(201)
      return { account: a.id, amount: formatMoney(amount), balance: formatMoney(BalanceStore.moneyBalance(await store.buckets(a.id), Date.now())), reauthSessions: r.reauth.length }
    },
  )

  // ---------- subscribers ----------
  app.post<{ Body: Omit<Subscriber, 'id' | 'createdAt' | 'passwordHash'> & { password?: string } }>(
    '/v1/subscribers',
    { schema: { tags: ['subscribers'], body: subscriberIn } },
    async (req, reply) => {
      const { password, ...rest } = req.body
      if (!IDENTITY_FIELDS.some(([f]) => typeof rest[f as keyof typeof rest] === 'string')) {
        throw new OcsError('OCS_ERR_VALIDATION', 'msisdn: a subscriber needs at least one identity (msisdn, imsi, sipUri or username)', 'msisdn')
      }
      if (password !== undefined && rest.username === undefined) throw new OcsError('OCS_ERR_VALIDATION', 'username: a password needs a username', 'username')
      if (rest.msisdn) rest.msisdn = rest.msisdn.replace(/^\+/, '')
      await loadAccount(rest.account)
      const sub = await store.createSubscriber({
        ...rest,
        ...(password !== undefined ? { passwordHash: await BalanceStore.hashPassword(password), passwordSealed: secrets.seal(password) } : {}),
      })
      reply.code(201)
      return subscriberJson(sub)
    },
  )

  app.get<{ Params: { id: string } }>('/v1/subscribers/:id', { schema: { tags: ['subscribers'], params: { type: 'object', properties: { id } } } }, async (req) => {
    const s = await store.getSubscriber(req.params.id)
    if (!s) throw notFound('subscriber', req.params.id)
    return subscriberJson(s)
  })

  app.get<{ Querystring: { account: string } }>(
    '/v1/subscribers',
    { schema: { tags: ['subscribers'], querystring: { type: 'object', required: ['account'], properties: { account: id } } } },
    async (req) => {
      await loadAccount(req.query.account)
      return { subscribers: (await store.listSubscribers(req.query.account)).map(subscriberJson) }
    },
  )

  app.delete<{ Params: { id: string } }>('/v1/subscribers/:id', { schema: { tags: ['subscribers'], params: { type: 'object', properties: { id } } } }, async (req, reply) => {
    if (!(await store.deleteSubscriber(req.params.id))) throw notFound('subscriber', req.params.id)
    reply.code(204)
  })

  // ---------- sessions ----------
  app.get<{ Querystring: { account: string } }>(
    '/v1/sessions',
    { schema: { tags: ['sessions'], querystring: { type: 'object', required: ['account'], properties: { account: id } } } },
    async (req) => {
      await loadAccount(req.query.account)
      const sessions = (await store.listSessions(req.query.account)).map((s) => ({
        id: s.id,
        account: s.acct,
        protocol: s.proto,
        subscriber: s.sub,
        started: new Date(Number(s.start)).toISOString(),
        updated: s.upd ? new Date(Number(s.upd)).toISOString() : null,
        ratingGroups: Object.values((s.rgs ?? {}) as Record<string, { key: string; svc: string; used: number; charged: number; res?: { n: number } }>).map((r) => ({
          key: r.key, service: r.svc, used: r.used ?? 0, charged: formatMoney(BigInt(Math.round(Number(r.charged ?? 0)))), reservedUnits: r.res?.n ?? 0,
        })),
      }))
      return { sessions }
    },
  )

  app.delete<{ Params: { id: string } }>('/v1/sessions/:id', { schema: { tags: ['sessions'], params: { type: 'object', properties: { id: { type: 'string', minLength: 1 } } } } }, async (req, reply) => {
    const accountId = await store.sessionAccount(req.params.id)
    // (the index outlives a closed session for a while: keepSessionIndex)
    if (!accountId || !(await store.sessionOpen(accountId, req.params.id))) throw notFound('session', req.params.id)
    // The front end holding the session sends ASR / Disconnect-Request; the CCR-T / Stop that follows closes it.
    await events.publish({ type: 'abort', accountId, sessions: [req.params.id], reason: 'operator' })
    reply.code(202)
    return { session: req.params.id, status: 'abort requested' }
  })

  // ---------- plans ----------
  app.get('/v1/plans', { schema: { tags: ['plans'] } }, async () => {
    const now = Date.now()
    const all = await store.loadPlanVersions()
    return {
      plans: [...all.values()].map((versions) => {
        const p = activePlan(versions, now) ?? versions[0]
        const scheduled = versions.filter((v) => v.version > p.version).map((v) => ({ version: v.version, activeFrom: new Date(v.activeFrom ?? 0).toISOString() }))
        return { id: p.id, version: p.version, currency: p.currency, services: p.services.map((s) => s.name), scheduled }
      }),
    }
  })

  // Rate decks: CSV `prefix,destination,price,first_increment,next_increment,connect_fee`.
  app.addContentTypeParser(['text/csv', 'text/plain'], { parseAs: 'string', bodyLimit: 64 << 20 }, (_req, body, done) => done(null, body))
  app.put<{ Params: { id: string }; Querystring: { currency?: string }; Body: string }>(
    '/v1/decks/:id',
    { schema: { tags: ['plans'], params: { type: 'object', properties: { id } }, querystring: { type: 'object', properties: { currency: { type: 'string', pattern: '^[A-Z]{3}$', description: 'currency of the deck prices (default: the plan currency)' } } } } },
    async (req) => {
      if (typeof req.body !== 'string') throw new OcsError('OCS_ERR_VALIDATION', 'body: send the deck as text/csv', 'body')
      checkAccountFields({ currency: req.query.currency })
      try {
        const deck = await store.putDeck(req.params.id, req.body, req.query.currency)
        await plans.refresh()
        return { id: deck.id, prefixes: deck.size, ...(req.query.currency ? { currency: req.query.currency } : {}) }
      } catch (err) {
        if (err instanceof DeckError) throw new OcsError('OCS_ERR_VALIDATION', err.message, 'body')
        throw err
      }
    },
  )

  app.put<{ Params: { id: string }; Body: PlanDocument }>('/v1/plans/:id', { schema: { tags: ['plans'], params: { type: 'object', properties: { id } }, body: { type: 'object' } } }, async (req) => {
    if (req.body.id !== req.params.id) throw new OcsError('OCS_ERR_VALIDATION', 'id: must match the URL', 'id')
    try {
      const plan = await store.putPlan(req.body)
      await plans.refresh()
      return { id: plan.id, version: plan.version }
    } catch (err) {
      if (err instanceof PlanError) throw new OcsError('OCS_ERR_VALIDATION', err.message, 'plan')
      throw err
    }
  })
}
