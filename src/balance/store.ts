import { scrypt as scryptCb, randomBytes, timingSafeEqual } from 'node:crypto'
import { promisify } from 'node:util'
import { decode as decodeMsgpack } from '@msgpack/msgpack'
import type { RedisClient } from './connect.js'
import { defineScripts, type ScriptCommands } from './scripts.js'
import { keys, SHARD_COUNT, type IdentityKind } from './keys.js'
import { newId } from '../lib/ids.js'
import { OcsError } from '../lib/errors.js'
import { compilePlan, type CompiledPlan, type PlanDocument } from '../rating/plan.js'
import { DestinationDeck } from '../rating/deck.js'

/** The most the scripts keep (lib.lua LIMIT: 2^52, so that Lua's doubles keep every amount exact), and its wording. */
export const AMOUNT_LIMIT = 2n ** 52n
export const OUT_OF_RANGE = '2^52 micro-units (4,503,599,627 in major units), the most this OCS keeps exactly'

const scrypt = promisify(scryptCb) as (pw: string, salt: Buffer, len: number) => Promise<Buffer>

export type AccountType = 'prepaid' | 'postpaid'
export type AccountStatus = 'active' | 'suspended' | 'barred'
export type BucketKind = 'money' | 'seconds' | 'octets' | 'events'

export interface Account {
  id: string
  currency: string
  type: AccountType
  plan: string
  timezone: string
  language: string
  taxRegion: string
  country: string
  /** customer segment promotions may target (e.g. "student"); empty = none */
  segment?: string
  status: AccountStatus
  creditLimit: bigint
  createdAt: number
}

export interface Bucket {
  id: string
  kind: BucketKind
  amount: bigint
  scope?: string[]
  priority: number
  from?: number
  to?: number
}

export interface Subscriber {
  id: string
  account: string
  msisdn?: string
  imsi?: string
  sipUri?: string
  username?: string
  /** scrypt hash (PAP, API checks) */
  passwordHash?: string
  /** AES-256-GCM sealed cleartext (RADIUS CHAP needs it), see src/lib/secrets.ts */
  passwordSealed?: string
  createdAt: number
}

export const IDENTITY_FIELDS: Array<[keyof Subscriber, IdentityKind]> = [
  ['msisdn', 'msisdn'],
  ['imsi', 'imsi'],
  ['sipUri', 'sip'],
  ['username', 'username'],
]

/** How long a reaped session's index entry stays: a day, as long as an open session's may. */
const REAPED_INDEX_SECONDS = 86_400

/** The main money bucket every account has; postpaid accounts may take it down to -creditLimit. */
export const MAIN_BUCKET = 'main'
const MAIN_PRIORITY = 1_000_000

interface BucketJson {
  id: string
  kind: BucketKind
  amount: string
  scope?: string[]
  priority: number
  from?: number
  to?: number
}

function bucketFromJson(j: BucketJson): Bucket {
  return { ...j, amount: BigInt(j.amount) }
}

function bucketToJson(b: Bucket): string {
  const j: BucketJson = { id: b.id, kind: b.kind, amount: b.amount.toString(), priority: b.priority }
  if (b.scope && b.scope.length) j.scope = b.scope
  if (b.from !== undefined) j.from = b.from
  if (b.to !== undefined) j.to = b.to
  return JSON.stringify(j)
}

export function bucketUsable(b: Bucket, now: number): boolean {
  return (b.from === undefined || b.from <= now) && (b.to === undefined || now < b.to)
}

/** Compare-and-delete, so rolling back an identity claim never removes somebody else's. */
const RELEASE_IF_OURS = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"

/** Sessions read per round trip when an account's sessions are listed. */
const LIST_BATCH = 500

/**
 * The typed door to Redis. Every charging mutation goes through one Lua script; provisioning
 * writes of one account go through MULTI on keys sharing the account's hash tag.
 */
export class BalanceStore {
  readonly redis: RedisClient & ScriptCommands

  constructor(client: RedisClient) {
    this.redis = defineScripts(client) as unknown as RedisClient & ScriptCommands
  }

  // ---------- accounts ----------

  async createAccount(a: Omit<Account, 'id' | 'createdAt'>, initialBalance = 0n): Promise<Account> {
    const id = newId('a')
    const createdAt = Date.now()
    const acct: Account = { ...a, id, createdAt }
    const main: Bucket = { id: MAIN_BUCKET, kind: 'money', amount: 0n, priority: MAIN_PRIORITY }
    await this.redis
      .multi()
      .hset(keys.account(id), this.accountFields(acct))
      .hset(keys.buckets(id), MAIN_BUCKET, bucketToJson(main))
      .hset(keys.ledger(id), { initial: '0', topups: '0', refunds: '0', charged: '0', adjustments: '0' })
      .exec()
    await this.redis.zadd(keys.accountList(), createdAt, id)
    if (initialBalance > 0n) await this.topup(id, initialBalance)
    // Its first billing cycle is due now (the cycle runner starts it: allowances, recurring fees).
    await this.redis.zadd(keys.cyclesOf(id), createdAt, id)
    return acct
  }

  private accountFields(a: Account): Record<string, string> {
    return {
      id: a.id,
      currency: a.currency,
      type: a.type,
      plan: a.plan,
      timezone: a.timezone,
      language: a.language,
      taxRegion: a.taxRegion,
      country: a.country,
      ...(a.segment ? { segment: a.segment } : {}),
      status: a.status,
      creditLimit: a.creditLimit.toString(),
      createdAt: String(a.createdAt),
    }
  }

  async getAccount(id: string): Promise<(Account & { reserved: bigint }) | undefined> {
    const h = await this.redis.hgetall(keys.account(id))
    if (!h.id) return undefined
    return {
      id: h.id,
      currency: h.currency,
      type: h.type as AccountType,
      plan: h.plan,
      timezone: h.timezone,
      language: h.language,
      taxRegion: h.taxRegion,
      country: h.country,
      ...(h.segment ? { segment: h.segment } : {}),
      status: h.status as AccountStatus,
      creditLimit: BigInt(h.creditLimit ?? '0'),
      createdAt: Number(h.createdAt),
      reserved: BigInt(h.reserved ?? '0'),
    }
  }

  /** Updates listed fields of an existing account; returns false when it does not exist. */
  async updateAccount(id: string, patch: Partial<Omit<Account, 'id' | 'createdAt'>>): Promise<boolean> {
    const fields: Record<string, string> = {}
    for (const [k, v] of Object.entries(patch)) if (v !== undefined) fields[k] = String(v)
    // HSET only if the account exists, in one round trip and atomically.
    const n = await this.redis.eval(
      "if redis.call('HEXISTS', KEYS[1], 'id') == 0 then return 0 end redis.call('HSET', KEYS[1], unpack(ARGV)) return 1",
      1,
      keys.account(id),
      ...Object.entries(fields).flat(),
    )
    return n === 1
  }

  async listAccounts(cursor: number, limit: number): Promise<{ ids: string[]; next?: number }> {
    const ids = await this.redis.zrange(keys.accountList(), cursor, cursor + limit - 1)
    return { ids, next: ids.length === limit ? cursor + limit : undefined }
  }

  // ---------- buckets and money ----------

  async buckets(accountId: string): Promise<Bucket[]> {
    const h = await this.redis.hgetall(keys.buckets(accountId))
    return Object.values(h)
      .map((t) => bucketFromJson(JSON.parse(t) as BucketJson))
      .sort((a, b) => a.priority - b.priority || a.id.localeCompare(b.id))
  }

  /** Monetary total available now (reservations already excluded: they are held out of the buckets). */
  static moneyBalance(buckets: Bucket[], now: number): bigint {
    return buckets.filter((b) => b.kind === 'money' && bucketUsable(b, now)).reduce((s, b) => s + b.amount, 0n)
  }

  async addBucket(accountId: string, b: Omit<Bucket, 'id'> & { id?: string }): Promise<Bucket | undefined> {
    const bucket: Bucket = { ...b, id: b.id ?? newId('b') }
    const r = await this.redis.bucketAdd(keys.account(accountId), keys.buckets(accountId), keys.ledger(accountId), bucketToJson(bucket))
    if (r === 0) return undefined
    if (r === -1) throw new OcsError('OCS_ERR_CONFLICT', `bucket ${bucket.id} already exists`, 'id')
    return bucket
  }

  /** Credits the main bucket; returns the new main amount and the sessions to re-authorize. */
  async topup(accountId: string, amount: bigint, requestId?: string, idemTtl = 600): Promise<{ main: bigint; reauth: string[] } | undefined> {
    const idem = keys.idempotency(accountId, `topup:${requestId ?? newId()}`)
    const text = await this.redis.topup(
      keys.account(accountId), keys.buckets(accountId), keys.ledger(accountId), keys.accountReauth(accountId), idem,
      amount.toString(), String(idemTtl),
    )
    const r = JSON.parse(text) as { status: string; main: string; reauth: string[] | Record<string, never> }
    if (r.status === 'outOfRange') throw new OcsError('OCS_ERR_VALIDATION', `amount: the balance would pass ${OUT_OF_RANGE}`, 'amount')
    if (r.status !== 'ok') return undefined
    return { main: BigInt(r.main), reauth: Array.isArray(r.reauth) ? r.reauth : [] }
  }

  async ledger(accountId: string): Promise<Record<string, bigint>> {
    const h = await this.redis.hgetall(keys.ledger(accountId))
    return Object.fromEntries(Object.entries(h).map(([k, v]) => [k, BigInt(v)]))
  }

  // ---------- subscribers and identities ----------

  static async hashPassword(pw: string): Promise<string> {
    const salt = randomBytes(16)
    const hash = await scrypt(pw, salt, 32)
    return `scrypt$${salt.toString('base64')}$${hash.toString('base64')}`
  }

  static async verifyPassword(pw: string, stored: string): Promise<boolean> {
    const [alg, salt, hash] = stored.split('$')
    if (alg !== 'scrypt' || !salt || !hash) return false
    const want = Buffer.from(hash, 'base64')
    const got = await scrypt(pw, Buffer.from(salt, 'base64'), want.length)
    return timingSafeEqual(want, got)
  }

  /**
   * Creates a subscriber, claiming each identity with SET NX (each identity key is its own slot,
   * so this cannot be one script on a cluster). On a conflict every claim made so far is rolled
   * back with compare-and-delete and nothing else is written.
   */
  async createSubscriber(s: Omit<Subscriber, 'id' | 'createdAt'>): Promise<Subscriber> {
    const sub: Subscriber = { ...s, id: newId('s'), createdAt: Date.now() }
    const claim = JSON.stringify({ account: sub.account, subscriber: sub.id })
    const claimed: string[] = []
    try {
      for (const [field, kind] of IDENTITY_FIELDS) {
        const v = sub[field]
        if (typeof v !== 'string') continue
        const key = keys.identity(kind, v)
        const ok = await this.redis.set(key, claim, 'NX')
        if (ok !== 'OK') throw new OcsError('OCS_ERR_CONFLICT', `${field} ${v} already belongs to another subscriber`, field)
        claimed.push(key)
      }
      await this.redis.set(keys.subscriber(sub.id), JSON.stringify(sub))
      await this.redis.sadd(keys.accountSubscribers(sub.account), sub.id)
      return sub
    } catch (err) {
      for (const key of claimed) await this.redis.eval(RELEASE_IF_OURS, 1, key, claim)
      throw err
    }
  }

  async getSubscriber(id: string): Promise<Subscriber | undefined> {
    const t = await this.redis.get(keys.subscriber(id))
    return t ? (JSON.parse(t) as Subscriber) : undefined
  }

  async listSubscribers(accountId: string): Promise<Subscriber[]> {
    const ids = await this.redis.smembers(keys.accountSubscribers(accountId))
    const subs = await Promise.all(ids.map((id) => this.getSubscriber(id)))
    return subs.filter((s): s is Subscriber => s !== undefined).sort((a, b) => a.createdAt - b.createdAt)
  }

  async deleteSubscriber(id: string): Promise<boolean> {
    const sub = await this.getSubscriber(id)
    if (!sub) return false
    const claim = JSON.stringify({ account: sub.account, subscriber: sub.id })
    for (const [field, kind] of IDENTITY_FIELDS) {
      const v = sub[field]
      if (typeof v === 'string') await this.redis.eval(RELEASE_IF_OURS, 1, keys.identity(kind, v), claim)
    }
    await this.redis.srem(keys.accountSubscribers(sub.account), sub.id)
    await this.redis.del(keys.subscriber(id))
    return true
  }

  /** identity → {account, subscriber}; the first identity found wins. */
  async resolveIdentity(kind: IdentityKind, value: string): Promise<{ account: string; subscriber: string } | undefined> {
    const t = await this.redis.get(keys.identity(kind, value))
    return t ? (JSON.parse(t) as { account: string; subscriber: string }) : undefined
  }

  // ---------- sessions ----------

  async sessionAccount(sessionId: string): Promise<string | undefined> {
    return (await this.redis.get(keys.sessionIndex(sessionId))) ?? undefined
  }

  async indexSession(sessionId: string, accountId: string, ttlSeconds: number): Promise<void> {
    await this.redis.set(keys.sessionIndex(sessionId), accountId, 'EX', ttlSeconds)
  }

  /** Whether the session is open (its hash holds its meta). */
  async sessionOpen(accountId: string, sessionId: string): Promise<boolean> {
    return (await this.redis.hexists(keys.session(accountId, sessionId), 'm')) === 1
  }

  /** The route to the session's client its front end stored with it (SessionRequest.route), if any. */
  async sessionRoute(accountId: string, sessionId: string): Promise<string | undefined> {
    return (await this.redis.hget(keys.session(accountId, sessionId), 'rt')) ?? undefined
  }

  /** True for the one caller that claims sending `eventId`'s request to the session; the claim expires by itself. */
  async claimServerRequest(accountId: string, eventId: string, sessionId: string, owner: string, ttlMs: number): Promise<boolean> {
    return (await this.redis.set(keys.serverRequestClaim(accountId, eventId, sessionId), owner, 'PX', ttlMs, 'NX')) === 'OK'
  }

  /**
   * A closed session's index entry is kept `ttlSeconds` more, not removed: a retransmitted closing
   * request, or a late one after the reaper closed the session, that carries no subscriber identity
   * (optional in a CCR-U/T) still finds the account, and with it the stored answer or the session's
   * last usage, instead of an unknown subscriber.
   */
  async keepSessionIndex(sessionId: string, ttlSeconds: number): Promise<void> {
    await this.redis.expire(keys.sessionIndex(sessionId), ttlSeconds)
  }

  /** Open sessions of an account as `{…meta, upd, rgs: {key: ratingGroupState}}`. */
  async listSessions(accountId: string): Promise<Array<Record<string, unknown>>> {
    const ids = await this.redis.smembers(keys.accountSessions(accountId))
    const out: Array<Record<string, unknown>> = []
    // Read LIST_BATCH sessions at a time in one round trip: an account with 10,000 open sessions took
    // a second one by one, long enough for the reaper to change it under the money audit every time.
    const hashes: Array<Record<string, Buffer>> = []
    for (let i = 0; i < ids.length; i += LIST_BATCH) {
      // Buffers: a rating group's state is MessagePack (session-charge.lua), not text.
      hashes.push(...(await Promise.all(ids.slice(i, i + LIST_BATCH).map((id) => this.redis.hgetallBuffer(keys.session(accountId, id))))))
    }
    for (const [i, id] of ids.entries()) {
      const h = hashes[i]
      if (!h.m) continue
      const rgs: Record<string, unknown> = {}
      // The session id, account and rating-group keys are in the key and field names, not in the state.
      for (const [f, v] of Object.entries(h)) if (f.startsWith('r:')) rgs[f.slice(2)] = { key: f.slice(2), ...decodeRatingGroup(v) }
      out.push({ id, acct: accountId, ...(JSON.parse(h.m.toString()) as Record<string, unknown>), upd: h.u ? Number(h.u.toString()) : undefined, rgs })
    }
    return out
  }

  /** Expired members of one shard's expiry index (reaper input). */
  async expiredMembers(shard: number, now: number, limit: number): Promise<string[]> {
    return this.redis.zrangebyscore(keys.expiry(shard), '-inf', now, 'LIMIT', 0, limit)
  }

  async reap(member: string, now: number, node: string): Promise<boolean> {
    const [accountId, sessionId] = splitMember(member)
    const r = await this.redis.reap(
      keys.account(accountId), keys.buckets(accountId), keys.ledger(accountId), keys.session(accountId, sessionId),
      keys.accountSessions(accountId), keys.accountReauth(accountId), keys.expiryOf(accountId), keys.outboxOf(accountId),
      keys.shardStatsOf(accountId), member, String(now), node,
    )
    // A client that comes back after the reaper (a CCR-T, a late Stop) is charged its last usage.
    if (r === 1) await this.keepSessionIndex(sessionId, REAPED_INDEX_SECONDS)
    return r === 1
  }

  // ---------- plans ----------

  /**
   * Stores a plan version. Versions are kept per plan id: the one in force is the highest version
   * whose `activeFrom` has passed; later ones wait for their time (scheduled activation). Storing
   * an existing version number replaces it; versions superseded before `now` are dropped.
   */
  async putPlan(doc: PlanDocument, now = Date.now()): Promise<CompiledPlan> {
    const plan = compilePlan(doc)
    const text = await this.redis.hget(keys.plans(), plan.id)
    const docs = (text ? planDocs(text) : []).filter((d) => compilePlan(d).version !== plan.version)
    docs.push(doc)
    const kept = prunePlanVersions(docs.map((d) => ({ doc: d, plan: compilePlan(d) })), now)
    await this.redis.hset(keys.plans(), plan.id, JSON.stringify(kept.map((v) => v.doc)))
    await this.redis.incr(keys.plansVersion())
    return plan
  }

  /**
   * Stores a destination rate deck (validated first) and bumps the plan version so every node
   * reloads. `currency`: the deck's prices are in it (a wholesale deck in USD) and are converted
   * with the plan's exchange rates; unset = the plan currency.
   */
  async putDeck(id: string, csv: string, currency?: string): Promise<DestinationDeck> {
    const deck = DestinationDeck.fromCsv(id, csv, currency ? { currency } : {})
    await this.redis.hset(keys.decks(), id, currency ? JSON.stringify({ currency, csv }) : csv)
    await this.redis.incr(keys.plansVersion())
    return deck
  }

  async loadDecks(): Promise<Map<string, DestinationDeck>> {
    const h = await this.redis.hgetall(keys.decks())
    return new Map(
      Object.entries(h).map(([id, text]) => {
        // A CSV deck never starts with "{"; a deck with a currency is stored as JSON.
        const d = text.startsWith('{') ? (JSON.parse(text) as { currency: string; csv: string }) : { csv: text }
        return [id, DestinationDeck.fromCsv(id, d.csv, 'currency' in d ? { currency: d.currency } : {})]
      }),
    )
  }

  async plansVersion(): Promise<number> {
    return Number((await this.redis.get(keys.plansVersion())) ?? '0')
  }

  /** Every stored version of every plan, oldest first. */
  async loadPlanVersions(): Promise<Map<string, CompiledPlan[]>> {
    const h = await this.redis.hgetall(keys.plans())
    const m = new Map<string, CompiledPlan[]>()
    for (const [id, text] of Object.entries(h)) m.set(id, planDocs(text).map((d) => compilePlan(d)).sort((a, b) => a.version - b.version))
    return m
  }

  /** The plan versions in force at `at`. */
  async loadPlans(at = Date.now()): Promise<Map<string, CompiledPlan>> {
    const m = new Map<string, CompiledPlan>()
    for (const [id, versions] of await this.loadPlanVersions()) {
      const active = activePlan(versions, at)
      if (active) m.set(id, active)
    }
    return m
  }

  async isEmpty(): Promise<boolean> {
    return (await this.redis.zcard(keys.accountList())) === 0 && (await this.redis.hlen(keys.plans())) === 0
  }

  /** Sum of every shard's running totals: reserved money and open sessions per protocol. */
  async stats(): Promise<{ reserved: bigint; sessions: Record<string, number>; granted: Record<string, number> }> {
    let reserved = 0n
    const sessions: Record<string, number> = {}
    const granted: Record<string, number> = {}
    for (let shard = 0; shard < SHARD_COUNT; shard++) {
      const h = await this.redis.hgetall(keys.shardStats(shard))
      for (const [k, v] of Object.entries(h)) {
        if (k === 'reserved') reserved += BigInt(v)
        else if (k.startsWith('sessions:')) sessions[k.slice(9)] = (sessions[k.slice(9)] ?? 0) + Number(v)
        else if (k.startsWith('granted:')) granted[k.slice(8)] = (granted[k.slice(8)] ?? 0) + Number(v)
      }
    }
    return { reserved, sessions, granted }
  }

  static readonly shardCount = SHARD_COUNT
}

/** A stored plan field: a JSON list of versions (a single document from before versioning). */
function planDocs(text: string): PlanDocument[] {
  const v = JSON.parse(text) as PlanDocument | PlanDocument[]
  return Array.isArray(v) ? v : [v]
}

/** The version in force at `at`: the highest version whose activation time has come. */
export function activePlan(versions: readonly CompiledPlan[], at: number): CompiledPlan | undefined {
  let best: CompiledPlan | undefined
  for (const p of versions) if ((p.activeFrom ?? 0) <= at && (!best || p.version > best.version)) best = p
  return best
}

/** Keeps the version in force at `now` and every later one still waiting for its time. */
function prunePlanVersions<T extends { plan: CompiledPlan }>(versions: T[], now: number): T[] {
  const active = activePlan(versions.map((v) => v.plan), now)
  return versions
    .filter((v) => v.plan === active || (v.plan.version > (active?.version ?? 0) && (v.plan.activeFrom ?? 0) > now))
    .sort((a, b) => a.plan.version - b.plan.version)
}

/**
 * A rating group's stored state: MessagePack as session-charge.lua packs it (cmsgpack), or JSON when
 * written by a version before that (it then starts with '{', which a packed map never does).
 */
export function decodeRatingGroup(v: Buffer): Record<string, unknown> {
  if (v[0] === 0x7b) return JSON.parse(v.toString()) as Record<string, unknown>
  return decodeMsgpack(v) as Record<string, unknown>
}

/** "accountId|sessionId" — the session id may itself contain '|', the account id never does. */
export function splitMember(member: string): [string, string] {
  const i = member.indexOf('|')
  return [member.slice(0, i), member.slice(i + 1)]
}
