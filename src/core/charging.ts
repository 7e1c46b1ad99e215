import { BalanceStore, bucketUsable, MAIN_BUCKET, OUT_OF_RANGE, type Account, type Bucket } from '../balance/store.js'
import { keys, shardOf } from '../balance/keys.js'
import type { PlanCache } from './plan-cache.js'
import { findService, type CompiledPlan, type LuaTariff, type UnitType } from '../rating/plan.js'
import { chooseTariff, cycleAt, price, type RatingContext } from '../rating/rate.js'
import { affordable } from '../rating/engine.js'
import type { Logger } from '../lib/logger.js'
import { Lru } from '../lib/lru.js'
import { MAX_REPORTED_UNITS, validateEvent, validateSession, type InvalidRequest } from './validate.js'
import type { Metrics } from '../metrics/metrics.js'
import {
  type AttachedRecord,
  itemKey,
  outcomesInOrder,
  type ChargeAnswer,
  type ChargeItem,
  type EventRequest,
  type FairUsageState,
  type Identity,
  type ItemOutcome,
  type SessionRequest,
} from './types.js'

export interface ChargingOptions {
  nodeId: string
  defaultQuota: Record<UnitType, number>
  validitySeconds: number
  reaperGraceSeconds: number
  quotaThresholdPercent: number
  idempotencySeconds: number
}

type SessionOp = 'initiate' | 'update' | 'terminate'

interface LuaItem {
  key: string
  rg?: number
  sid?: number
  ctx?: string
  svc: string
  unit: UnitType
  dest?: string
  destName?: string
  pv: number
  tariff: LuaTariff
  used?: Array<{ u: number; i: number; o: number; a?: 1 }>
  /** validity of this grant (s) when a tariff boundary comes sooner than the default */
  val?: number
  /** most units this grant may hold (seconds left before a tariff boundary) */
  cap?: number
  req?: number
  dq?: number
  units?: number
  amount?: string
  /** fair usage: octets per cycle, the action past them, and the tariff for action `price` */
  fup?: { lim: number; act: FairUsageState['action']; t?: LuaTariff; fid?: string; url?: string }
}

interface LuaResult {
  key: string
  kind: 'granted' | 'creditLimitReached' | 'denied' | 'committed' | 'refunded'
  units?: number
  validity?: number
  finalUnit?: boolean
  threshold?: number
  reason?: string
  amount?: string
  fup?: { a: FairUsageState['action']; f?: string; r?: string }
}

interface LuaAnswer {
  /** absent = ok (answers stored with a session leave defaults out) */
  status?: 'ok' | 'unknownSubscriber' | 'unknownSession' | 'stalePlan' | 'staleRequest' | 'stateChanged' | 'outOfRange'
  results: LuaResult[] | Record<string, never>
  charged?: string
  closed?: boolean
  cdrs?: number
}

/** What the core needs to know of the account that a request is for. */
interface Resolved {
  accountId: string
  planId: string
  timezone: string
  country: string
  currency: string
  taxRegion: string
  segment: string
  /** ratingProfile() of the above, made once per account */
  rp: string
  plan?: CompiledPlan
  sub: Record<string, string>
}

/** The account attributes rating depends on; each is re-checked inside the charging script. */
interface AccountProfile {
  plan: string
  timezone: string
  country: string
  currency: string
  taxRegion: string
  segment: string
  /** what the charging script checks them against (ratingProfile) */
  rp: string
}

/**
 * The charging core. It speaks session verbs and answers with a closed union of outcomes; every
 * balance change happens inside one Lua script (src/balance/lua). Infrastructure failures become
 * `unavailable`, never exceptions, so a front end can always answer.
 */
export class ChargingService {
  /** Session id → account id never changes for a session's life, so it is cached (bounded). */
  private readonly sessionAccounts = new Lru<string, string>(200_000)
  /** Account → plan id, validated inside every charging script: a stale entry costs one retry. */
  private readonly accountPlans = new Lru<string, AccountProfile>(200_000)

  constructor(
    private readonly store: BalanceStore,
    private readonly plans: PlanCache,
    private readonly opts: ChargingOptions,
    private readonly log?: Logger,
    private readonly metrics?: Metrics,
  ) {}

  initiate(req: SessionRequest): Promise<ChargeAnswer> {
    return this.session('initiate', req)
  }

  update(req: SessionRequest): Promise<ChargeAnswer> {
    return this.session('update', req)
  }

  terminate(req: SessionRequest): Promise<ChargeAnswer> {
    return this.session('terminate', req)
  }

  /** Direct debit of an event (e.g. an SMS): all or nothing per item. */
  event(req: EventRequest): Promise<ChargeAnswer> {
    return this.eventLike('debit', req)
  }

  refund(req: EventRequest): Promise<ChargeAnswer> {
    return this.eventLike('refund', req)
  }

  /**
   * What event(req) would answer now, per item (`granted` or the refusal), by the same rules (the
   * scopes of allowances and money buckets, the credit limit), changing and storing nothing.
   */
  checkEvent(req: EventRequest): Promise<ChargeAnswer> {
    return this.eventLike('check', req)
  }

  /**
   * Units of one service the account can pay for now, as the charging script would grant them at
   * most: its allowances of the service's unit in scope, then what its money in scope (the main
   * bucket down to the credit limit) buys at the plan's price, fee and increments included. Buckets
   * scoped to other services count for nothing. An estimate for the caps a NAS enforces by itself
   * (RADIUS Session-Timeout, a volume limit); the script stays the authority at every report.
   */
  async affordableUnits(
    identities: Identity[],
    item: ChargeItem,
    account: Account,
  ): Promise<{ kind: 'ok'; accountId: string; unit: UnitType; units: number } | { kind: 'unknownSubscriber' } | { kind: 'ratingFailed'; reason: string } | InvalidRequest | { kind: 'unavailable'; reason: string }> {
    // (the checks a charge of this item would make: an identity no CDR could hold is refused here too)
    const invalid = validateEvent({ requestId: 'affordable', identities, protocol: 'api', items: [{ ...item, units: 1 }] })
    if (invalid) return this.refused(invalid)
    try {
      const now = Date.now()
      const r = await this.resolveAccount(account.id, identities, now)
      if (!r) return { kind: 'unknownSubscriber' }
      const svc = r.plan && findService(r.plan, item)
      if (!r.plan || !svc) return { kind: 'ratingFailed', reason: 'no service in the plan matches' }
      let money = 0n
      let held = 0
      for (const b of await this.store.buckets(account.id)) {
        if (!bucketUsable(b, now) || !serviceInScope(b, svc.name)) continue
        if (b.kind === 'money') money += b.id === MAIN_BUCKET ? b.amount + account.creditLimit : b.amount > 0n ? b.amount : 0n
        else if (b.kind === svc.unit && b.amount > 0n) held += Number(b.amount)
      }
      const rated = { currency: r.currency || r.plan.currency, timezone: r.timezone, country: r.country, taxRegion: r.taxRegion, segment: r.segment, bundleUnits: held }
      const units = affordable(money, { service: item, ...(item.destination !== undefined ? { destination: item.destination } : {}) }, r.plan, rated, () => now, this.plans.decks)
      return { kind: 'ok', accountId: r.accountId, unit: svc.unit, units }
    } catch (err) {
      return this.unavailable(err)
    }
  }

  /** Price of the given units per item, without changing anything. `accountId`: the identities' account, when known. */
  async priceEnquiry(req: EventRequest, accountId?: string): Promise<ChargeAnswer> {
    const invalid = validateEvent(req)
    if (invalid) return this.refused(invalid)
    try {
      const at = req.eventTime ?? Date.now()
      const r = accountId !== undefined ? await this.resolveAccount(accountId, req.identities, at) : await this.resolveByIdentity(req.identities, at)
      if (!r) return { kind: 'unknownSubscriber' }
      const outcomes: ItemOutcome[] = req.items.map((it) => {
        const key = itemKey(it)
        const svc = r.plan && findService(r.plan, it)
        if (!svc || !r.plan) return { kind: 'ratingFailed', key, reason: 'no service in the plan matches' }
        const p = price(r.plan, svc, it.units, it.destination, this.ratingContext(r, at))
        if (!p.ok) return { kind: 'ratingFailed', key, reason: p.reason }
        return { kind: 'priced', key, unit: svc.unit, units: it.units, amount: p.amount, currency: r.currency || r.plan.currency }
      })
      return { kind: 'ok', accountId: r.accountId, outcomes, charged: 0n, closed: false, cdrs: 0 }
    } catch (err) {
      return this.unavailable(err)
    }
  }

  /** The route to a session's client that its front end stored with it (SessionRequest.route). */
  sessionRoute(accountId: string, sessionId: string): Promise<string | undefined> {
    return this.store.sessionRoute(accountId, sessionId)
  }

  /** Whether this caller is the one to send event `eventId`'s server-initiated request to the session. */
  claimServerRequest(accountId: string, eventId: string, sessionId: string, ttlMs: number): Promise<boolean> {
    return this.store.claimServerRequest(accountId, eventId, sessionId, this.opts.nodeId, ttlMs)
  }

  // ---------- internals ----------

  private async session(op: SessionOp, req: SessionRequest): Promise<ChargeAnswer> {
    const invalid = validateSession(req)
    if (invalid) return this.refused(invalid)
    try {
      const at = req.eventTime ?? Date.now()
      let resolved: Resolved | undefined
      if (op !== 'initiate') {
        let accountId = this.sessionAccounts.get(req.sessionId)
        if (!accountId) {
          accountId = await this.store.sessionAccount(req.sessionId)
          if (accountId) this.sessionAccounts.set(req.sessionId, accountId)
        }
        if (accountId) resolved = await this.resolveAccount(accountId, req.identities, at)
      }
      resolved ??= await this.resolveByIdentity(req.identities, at)
      if (!resolved) return op === 'update' && req.identities.length === 0 ? { kind: 'unknownSession' } : { kind: 'unknownSubscriber' }
      // A CCR-I's index entry lets any node route the session's updates without the subscriber
      // identity. It is sent with the charging script, not before it: one round trip instead of two
      // (under load each round trip is a wait for a core), and the answer still waits for both, so
      // no update can arrive before the entry exists.
      const indexed = op === 'initiate' ? this.store.indexSession(req.sessionId, resolved.accountId, this.sessionIndexTtl()) : undefined
      const charged = this.runSession(op, req, resolved)
      let answer = indexed === undefined ? await charged : (await Promise.all([charged, indexed]))[0]
      if (op === 'initiate') this.sessionAccounts.set(req.sessionId, resolved.accountId)
      if (answer === 'stalePlan') {
        // The account's plan changed since we cached it: resolve afresh and rate again, once.
        this.accountPlans.delete(resolved.accountId)
        const fresh = await this.resolveAccount(resolved.accountId, req.identities, at)
        if (!fresh) return { kind: 'unknownSubscriber' }
        answer = await this.runSession(op, req, fresh)
        if (answer === 'stalePlan') return { kind: 'unavailable', reason: 'plan changed twice during one request' }
      }
      if (answer.kind === 'ok' && answer.closed) {
        this.sessionAccounts.delete(req.sessionId)
        // The index entry stays as long as the closing answer is kept (a retransmission without the
        // subscriber's identity finds it through the entry). The answer does not wait for this: if
        // it fails, the entry expires by itself (sessionIndexTtl).
        this.store.keepSessionIndex(req.sessionId, this.opts.idempotencySeconds).catch((err: unknown) => this.log?.warn({ err: (err as Error).message, sessionId: req.sessionId }, 'session index entry not shortened; it expires by itself'))
      }
      return answer
    } catch (err) {
      return this.unavailable(err)
    }
  }

  private async runSession(op: SessionOp, req: SessionRequest, resolved: Resolved): Promise<ChargeAnswer | 'stalePlan'> {
    const { accountId } = resolved
    const now = req.eventTime ?? Date.now()
    const { items, repeats } = mergeRepeats(req.items)
    const { outcomes, luaItems } = this.rateItems(items, resolved, now)
    const payload = {
      op,
      sessionId: req.sessionId,
      requestId: req.requestId,
      sq: req.sequence,
      accountId,
      rp: resolved.rp,
      // the billing cycle the fair-usage counter belongs to (only when a rating group has fair usage)
      cy: resolved.plan && luaItems.some((i) => i.fup) ? cycleAt(resolved.plan, resolved.timezone, now).id : undefined,
      now,
      // node (on CDRs) and protocol (on the session) matter when a session opens or closes
      node: op === 'update' ? undefined : this.opts.nodeId,
      proto: op === 'update' ? undefined : req.protocol,
      // The subscriber identities are written on the session when it is created (initiate, or a
      // late terminate): an update's payload leaves them out to keep the script's JSON small.
      sub: op === 'update' ? undefined : resolved.sub,
      validity: this.opts.validitySeconds,
      grace: this.opts.reaperGraceSeconds,
      idemTtl: this.opts.idempotencySeconds,
      closeReason: req.closeReason,
      items: luaItems,
      at: attachedPayload(op, req.attached, luaItems.length),
      rt: req.route,
    }
    const endTimer = this.metrics?.luaDuration.startTimer({ script: 'session-charge' })
    const reply = await this.store.redis.sessionCharge(
      keys.account(accountId), keys.buckets(accountId), keys.ledger(accountId), keys.session(accountId, req.sessionId),
      keys.accountSessions(accountId), keys.accountReauth(accountId), keys.expiryOf(accountId), keys.outboxOf(accountId),
      keys.idempotency(accountId, req.requestId), keys.shardStatsOf(accountId),
      // KEYS[11] is only touched with `at`; otherwise any key of the account's slot.
      payload.at !== undefined ? req.attached!.key : keys.account(accountId), JSON.stringify(payload),
    )
    endTimer?.()
    // With `at` the answer is followed by a line with the record (a stored answer has none).
    const nl = reply.indexOf('\n')
    const text = nl < 0 ? reply : reply.slice(0, nl)
    const answer = JSON.parse(text) as LuaAnswer
    if (answer.status === 'stateChanged') return { kind: 'stateChanged' }
    if (answer.status === 'stalePlan') return 'stalePlan'
    if (answer.status === 'unknownSession') return { kind: 'unknownSession' }
    if (answer.status === 'unknownSubscriber') return { kind: 'unknownSubscriber' }
    if (answer.status === 'outOfRange') return outOfRange()
    if (answer.status === 'staleRequest') {
      this.log?.warn({ sessionId: req.sessionId, requestId: req.requestId }, 'late copy of a request the session has moved past: nothing charged')
      return { kind: 'staleRequest' }
    }
    const ok = this.okAnswer(accountId, req.items, outcomes, answer, luaItems, { closed: answer.closed ?? false, cdrs: answer.cdrs ?? 0 }, repeats)
    if (nl >= 0 && ok.kind === 'ok') {
      const rec = JSON.parse(reply.slice(nl + 1)) as { f: Array<string | false>; c: [string, string, string] }
      ok.attached = {
        fields: rec.f.map((v) => (v === false ? null : v)),
        counters: { inO: Number(rec.c[0]), outO: Number(rec.c[1]), used: Number(rec.c[2]) },
      }
    }
    return ok
  }

  private async eventLike(op: 'debit' | 'refund' | 'check', req: EventRequest): Promise<ChargeAnswer> {
    const invalid = validateEvent(req)
    if (invalid) return this.refused(invalid)
    try {
      const now = req.eventTime ?? Date.now()
      const resolved = await this.resolveByIdentity(req.identities, now)
      if (!resolved) return { kind: 'unknownSubscriber' }
      const { accountId } = resolved
      const { outcomes, luaItems } = this.rateItems(req.items, resolved, now)
      const payload = {
        op,
        requestId: req.requestId,
        sessionId: req.sessionId,
        accountId,
        now,
        node: this.opts.nodeId,
        proto: req.protocol,
        sub: resolved.sub,
        idemTtl: this.opts.idempotencySeconds,
        items: luaItems,
      }
      const endTimer = this.metrics?.luaDuration.startTimer({ script: 'event-charge' })
      const text = await this.store.redis.eventCharge(
        keys.account(accountId), keys.buckets(accountId), keys.ledger(accountId), keys.outboxOf(accountId),
        // (a check reads no stored answer: its key is never written)
        keys.idempotency(accountId, `${op === 'check' ? 'evc' : 'ev'}:${req.requestId}`), JSON.stringify(payload),
      )
      endTimer?.()
      const answer = JSON.parse(text) as LuaAnswer
      if (answer.status === 'unknownSubscriber') return { kind: 'unknownSubscriber' }
      if (answer.status === 'outOfRange') return outOfRange()
      return this.okAnswer(accountId, req.items, outcomes, answer, luaItems, op === 'check' ? { closed: false, cdrs: 0 } : { closed: true, cdrs: luaItems.length })
    } catch (err) {
      return this.unavailable(err)
    }
  }

  /** The script's per-item results merged with the items rating refused, in request order. */
  private okAnswer(
    accountId: string,
    items: ChargeItem[],
    outcomes: Map<string, ItemOutcome>,
    answer: LuaAnswer,
    luaItems: LuaItem[],
    close: { closed: boolean; cdrs: number },
    repeats: readonly string[] = [],
  ): ChargeAnswer {
    // `outcomes` holds the items rating refused (one per key: the same key, the same refusal).
    const all = [...outcomes.values()]
    for (const r of asArray(answer.results)) all.push(this.outcome(r, luaItems))
    // A key a session request named again (its usage charged with its first item: mergeRepeats)
    // gets no grant of its own; a refusal it shares.
    for (const key of repeats) {
      const first = all.find((o) => o.key === key)
      if (first !== undefined) all.push(first.kind === 'granted' ? { kind: 'committed', key } : first)
    }
    return {
      kind: 'ok',
      accountId,
      outcomes: outcomesInOrder(items.map(itemKey), all).filter((o): o is ItemOutcome => o !== undefined),
      charged: BigInt(answer.charged ?? '0'),
      ...close,
    }
  }

  /** Rates every item: those that cannot be rated become outcomes at once, the rest go to the script. */
  private rateItems(items: Array<ChargeItem & { units?: number }>, r: Resolved, now: number): { outcomes: Map<string, ItemOutcome>; luaItems: LuaItem[] } {
    const outcomes = new Map<string, ItemOutcome>()
    const luaItems: LuaItem[] = []
    for (const it of items) {
      const key = itemKey(it)
      const li = this.rateItem(key, it, r, now)
      if ('kind' in li) outcomes.set(key, li)
      else luaItems.push(it.units === undefined ? li : { ...li, units: it.units })
    }
    return { outcomes, luaItems }
  }

  /** Rates one item: the service, its tariff (destination, time band) and the grant limits a tariff boundary sets. */
  private rateItem(key: string, it: ChargeItem, r: Resolved, now: number): LuaItem | ItemOutcome {
    const plan = r.plan
    if (!plan) return { kind: 'ratingFailed', key, reason: 'account has no valid plan' }
    const svc = findService(plan, it)
    if (!svc) return { kind: 'ratingFailed', key, reason: 'no service in the plan matches' }
    const choice = chooseTariff(plan, svc, it.destination, this.ratingContext(r, now))
    if (!choice.ok) return { kind: 'ratingFailed', key, reason: choice.reason }
    const li: LuaItem = { key, svc: svc.name, unit: svc.unit, pv: plan.version, tariff: wireTariff(choice.tariff) }
    if (choice.fup) {
      const f = choice.fup
      li.fup = { lim: f.limit, act: f.action, ...(f.tariff ? { t: wireTariff(f.tariff) } : {}), ...(f.filterId ? { fid: f.filterId } : {}), ...(f.redirectUrl ? { url: f.redirectUrl } : {}) }
    }
    if (it.ratingGroup !== undefined) li.rg = it.ratingGroup
    if (it.serviceId !== undefined) li.sid = it.serviceId
    if (it.serviceContext !== undefined) li.ctx = it.serviceContext
    if (choice.destination !== undefined) li.dest = choice.destination
    if (choice.destinationName !== undefined) li.destName = choice.destinationName
    if (it.used?.length) {
      // Usage is rated with the tariff of the grant it was used under; a part the client reports as
      // after a Tariff-Time-Change (`a`) with the tariff valid now.
      li.used = it.used.map((u) => ({ u: Math.max(0, Math.floor(u.byUnit?.[svc.unit] ?? u.units)), i: Math.max(0, Math.floor(u.inputOctets ?? 0)), o: Math.max(0, Math.floor(u.outputOctets ?? 0)), ...(u.afterTariffChange ? { a: 1 as const } : {}) }))
    }
    const r0 = it.requested
    // -1: no new grant wanted; 0: the default quota (an empty or zero RSU leaves the size to us)
    // A request beyond MAX_REPORTED_UNITS is capped: the grant is sized by the balance anyway.
    li.req = r0 === undefined || r0 === null ? -1 : r0 === 'default' ? 0 : Math.min(MAX_REPORTED_UNITS, Math.max(0, Math.floor(r0)))
    li.dq = svc.quota ?? this.opts.defaultQuota[svc.unit]
    // A scheduled plan version taking over is a tariff boundary too.
    const activation = this.plans.nextActivation(plan.id, now)
    if (activation !== undefined && (choice.boundary === undefined || activation < choice.boundary)) choice.boundary = activation
    if (choice.boundary !== undefined) {
      // A grant never crosses a tariff boundary: it is valid until the boundary, and a time grant
      // holds no more seconds than are left before it.
      const left = Math.max(1, Math.floor((choice.boundary - now) / 1000))
      li.val = Math.min(this.opts.validitySeconds, left)
      if (svc.unit === 'seconds') li.cap = left
    }
    return li
  }

  private outcome(r: LuaResult, items: LuaItem[]): ItemOutcome {
    switch (r.kind) {
      case 'granted': {
        const unit = items.find((i) => i.key === r.key)?.unit ?? 'events'
        const o: ItemOutcome = { kind: 'granted', key: r.key, unit, units: r.units ?? 0, validity: r.validity ?? 0, finalUnit: !!r.finalUnit, threshold: r.threshold ?? this.threshold(r.units ?? 0) }
        if (r.amount !== undefined) o.amount = BigInt(r.amount)
        if (r.fup) o.fairUsage = { action: r.fup.a, ...(r.fup.f ? { filterId: r.fup.f } : {}), ...(r.fup.r ? { redirectUrl: r.fup.r } : {}) }
        return o
      }
      case 'refunded':
        return { kind: 'refunded', key: r.key, amount: BigInt(r.amount ?? '0') }
      case 'creditLimitReached':
        return { kind: 'creditLimitReached', key: r.key }
      case 'denied':
        return { kind: 'denied', key: r.key, reason: r.reason ?? 'denied' }
      default:
        return { kind: 'committed', key: r.key }
    }
  }

  /** Time/Volume-Quota-Threshold of a grant: the configured percentage of its units, exact. */
  private threshold(units: number): number {
    return Number((BigInt(Math.floor(units)) * BigInt(this.opts.quotaThresholdPercent)) / 100n)
  }

  private sessionIndexTtl(): number {
    // Long enough for any live session; a session refreshes nothing here, the reaper closes idle ones.
    return Math.max(86400, (this.opts.validitySeconds + this.opts.reaperGraceSeconds) * 4)
  }

  private async resolveByIdentity(ids: Identity[], at = Date.now()): Promise<Resolved | undefined> {
    for (const id of ids) {
      const hit = await this.store.resolveIdentity(id.kind, id.value)
      if (hit) return this.resolveAccount(hit.account, ids, at)
    }
    return undefined
  }

  /** The account's rating profile and the plan version in force at `at` (the event time). */
  private async resolveAccount(accountId: string, ids: Identity[], at = Date.now()): Promise<Resolved | undefined> {
    let profile = this.accountPlans.get(accountId)
    if (profile === undefined) {
      const [plan, timezone, country, currency, taxRegion, segment] = await this.store.redis.hmget(keys.account(accountId), 'plan', 'timezone', 'country', 'currency', 'taxRegion', 'segment')
      if (plan === null) return undefined
      const p = { plan, timezone: timezone ?? 'UTC', country: country ?? '', currency: currency ?? '', taxRegion: taxRegion ?? '', segment: segment ?? '' }
      profile = { ...p, rp: ratingProfile({ planId: plan, ...p }) }
      this.accountPlans.set(accountId, profile)
    }
    const sub: Record<string, string> = {}
    for (const id of ids) sub[id.kind] ??= id.value
    // (fields named, not spread: this runs for every charging step)
    const { timezone, country, currency, taxRegion, segment, rp } = profile
    const plan = this.plans.cached(profile.plan, at) ?? (await this.plans.get(profile.plan, at))
    return { accountId, planId: profile.plan, timezone, country, currency, taxRegion, segment, rp, plan, sub }
  }

  private ratingContext(r: Resolved, at: number): RatingContext {
    return {
      at,
      timezone: r.timezone,
      country: r.country,
      decks: this.plans.decks,
      ...(r.currency ? { currency: r.currency } : {}),
      ...(r.taxRegion ? { taxRegion: r.taxRegion } : {}),
      ...(r.segment ? { segment: r.segment } : {}),
    }
  }

  private refused(invalid: InvalidRequest): InvalidRequest {
    this.metrics?.chargingInvalid.inc({ field: invalid.field.replace(/\[\d+\]/g, '[]') })
    this.log?.warn({ field: invalid.field, reason: invalid.reason }, 'charging request refused: cannot be charged and recorded')
    return invalid
  }

  private unavailable(err: unknown): { kind: 'unavailable'; reason: string } {
    const reason = err instanceof Error ? err.message : String(err)
    this.metrics?.chargingUnavailable.inc()
    this.log?.warn({ err: reason }, 'charging step failed: infrastructure unavailable')
    return { kind: 'unavailable', reason }
  }
}

/** The scripts refused amounts or counts they could not keep exactly: nothing was charged. */
function outOfRange(): InvalidRequest {
  return { kind: 'invalidRequest', field: 'items', reason: `the charge or a running total would pass ${OUT_OF_RANGE}` }
}

/**
 * A tariff as the scripts get it: increments of 1 and a zero fee or minimum are the Lua defaults
 * and left out, so every charging step decodes less JSON.
 */
function wireTariff(t: LuaTariff): LuaTariff {
  const { first, next, fee, min, ...rest } = t
  const w: Partial<LuaTariff> = rest
  if (first !== 1) w.first = first
  if (next !== 1) w.next = next
  if (fee !== 0) w.fee = fee
  if (min !== 0) w.min = min
  return w as LuaTariff
}

function asArray<T>(v: T[] | Record<string, never>): T[] {
  // cjson encodes an empty Lua table as {}.
  return Array.isArray(v) ? v : []
}

export { shardOf }

/**
 * Whether bucket `b` may pay for service `name` (no destination): unscoped, or its scope names the
 * service or '*' (lib.lua inScope; a `service:prefix` entry needs a called number).
 */
function serviceInScope(b: Bucket, name: string): boolean {
  return b.scope === undefined || b.scope.length === 0 || b.scope.includes(name) || b.scope.includes('*')
}

/**
 * A session request naming one service twice (two MSCCs of one Rating-Group): one item per key,
 * holding the usage of all of them and the first one's request, so that the key gets one grant (the
 * script keeps one reservation per key: a second grant would release the first's money and leave
 * the client holding two). `repeats` lists the key once per extra item.
 */
function mergeRepeats(items: ChargeItem[]): { items: ChargeItem[]; repeats: string[] } {
  if (items.length < 2) return { items, repeats: NO_REPEATS }
  const keys = items.map(itemKey)
  if (new Set(keys).size === keys.length) return { items, repeats: NO_REPEATS }
  const firstOf = new Map<string, ChargeItem>()
  const merged: ChargeItem[] = []
  const repeats: string[] = []
  for (const [i, it] of items.entries()) {
    const first = firstOf.get(keys[i])
    if (first === undefined) {
      const copy = { ...it }
      firstOf.set(keys[i], copy)
      merged.push(copy)
      continue
    }
    repeats.push(keys[i])
    if (it.used?.length) first.used = [...(first.used ?? []), ...it.used]
    if (first.requested === undefined || first.requested === null) first.requested = it.requested
  }
  return { items: merged, repeats }
}
const NO_REPEATS: string[] = []

/** The script's `at` (session-charge.lua): an update or terminate of exactly one item to rate, else left out. */
function attachedPayload(op: SessionOp, a: AttachedRecord | undefined, items: number): object | undefined {
  if (a === undefined || op === 'initiate' || items !== 1) return undefined
  return {
    e: { i: a.expect.inO, o: a.expect.outO, u: a.expect.used },
    r: a.read,
    w: a.write,
    ...(a.ttlMs !== undefined ? { t: a.ttlMs } : {}),
  }
}

/**
 * The account fields a request was rated with, as session-charge.lua checks them against the account
 * hash in one comparison: plan id, time zone, country, tax region, segment, joined by \u001f (absent: '').
 */
export function ratingProfile(r: { planId?: string; timezone?: string; country?: string; taxRegion?: string; segment?: string }): string {
  return [r.planId, r.timezone, r.country, r.taxRegion, r.segment].map((v) => v ?? '').join('\u001f')
}
