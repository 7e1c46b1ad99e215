import type { RedisClient } from './connect.js'
import { keys, radiusKeys, type IdentityKind } from './keys.js'
import { decodeRatingGroup, splitMember } from './store.js'

// The RADIUS front end's per-session state in Redis, so that every OCS node sharing the Redis can
// act on any RADIUS session: charge an interim another node's session began (the counters charged
// so far), close every session of a NAS on Accounting-On/Off, and send one Disconnect/CoA for it.
//
// Counters: the truth is the core's own rating group (`r:<item>` of the core session hash, written
// by session-charge.lua atomically with the debit): the cumulative NAS counters charged so far are
// `base + rating group`, base being what was charged before the core session was (re)opened. The
// `c` field, written with each interim's charge (attachedReport) or after the report, only serves
// when the core session is gone (reaped).
//
// Claims: `SET claim NX PX`: one node at a time (and one per event, when left to expire) sends a
// Disconnect/CoA for a session.

export interface Counters {
  in: number
  out: number
  time: number
}

/** Written once when the record is opened: what identifies the session, at the NAS and to the core. */
export interface RadiusSessionMeta {
  /** the front end's session key (NAS identity | NAS-Port | Acct-Session-Id | User-Name) */
  key: string
  nas: string
  /** RFC 5176 session identification attributes */
  target: Record<string, string | number>
  ids: Array<{ kind: IdentityKind; value: string }>
  start: number
}

/** Plan-driven and config-driven fair usage, as far as the NAS acknowledged it. */
export type FairUsageMark = 'none' | 'applied:config' | 'applied:plan'

export interface RadiusSessionRecord {
  meta?: RadiusSessionMeta
  nasAddress?: string
  base?: Counters
  last?: Counters
  unit?: 'seconds' | 'octets' | 'events'
  restricted?: boolean
  /** units of the final grant the session holds; null: none */
  finalGrantUnits?: number | null
  fairUsage?: FairUsageMark
  closed?: { at: number; reason: string }
}

/** The core's counters of the session's rating group: cumulative since the core session opened. */
export interface CoreCounters {
  inO: number
  outO: number
  used: number
  unit?: 'seconds' | 'octets' | 'events'
}

/** The shape of the core's SessionRequest.attached (src/core/types.ts AttachedRecord). */
export interface AttachedReport {
  key: string
  expect: { inO: number; outO: number; used: number }
  read: readonly string[]
  write: readonly string[]
  ttlMs?: number
}

export interface SessionSnapshot {
  /** undefined: no record (never written, or expired) */
  record?: RadiusSessionRecord
  /** undefined: no open core session */
  core?: CoreCounters
}

const FIELDS = ['a', 'b', 'c', 'u', 'r', 'g', 'f', 'x']
const FIELDS_AND_META = [...FIELDS, 'm']
/** The fields a report reads with its charge (AttachedRecord.read: the closed mark first). */
export const REPORT_FIELDS = ['x', ...FIELDS.slice(0, -1)]

/** The record's closed mark (field x): when and why. */
function closedMark(at: number, reason: string): string {
  return `${at}:${reason}`
}

const PEXPIRE_IF_OURS = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0"
const DEL_IF_OURS = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"

const counters = (c: Counters): string => `${c.in}:${c.out}:${c.time}`

function parseCounters(s: string | null | undefined): Counters | undefined {
  if (!s) return undefined
  const a = s.indexOf(':')
  const b = s.indexOf(':', a + 1)
  if (a < 0 || b < 0) return undefined
  const c = { in: Number(s.slice(0, a)), out: Number(s.slice(a + 1, b)), time: Number(s.slice(b + 1)) }
  return Number.isFinite(c.in) && Number.isFinite(c.out) && Number.isFinite(c.time) ? c : undefined
}

/**
 * The core's counters from its stored rating-group state (MessagePack, or JSON from before it:
 * decodeRatingGroup). Read only when a node takes over a session or falls back after a changed
 * state, never per interim (an interim gets them back from the charging script).
 */
export function coreCounters(packed: Buffer): CoreCounters {
  const j = decodeRatingGroup(packed) as { inO?: number; outO?: number; used?: number; unit?: string }
  const unit = j.unit === 'seconds' || j.unit === 'octets' || j.unit === 'events' ? j.unit : undefined
  return { inO: Number(j.inO ?? 0), outO: Number(j.outO ?? 0), used: Number(j.used ?? 0), ...(unit ? { unit } : {}) }
}

function encode(r: RadiusSessionRecord): string[] {
  const f: string[] = []
  if (r.meta !== undefined) f.push('m', JSON.stringify(r.meta))
  if (r.nasAddress !== undefined) f.push('a', r.nasAddress)
  if (r.base !== undefined) f.push('b', counters(r.base))
  if (r.last !== undefined) f.push('c', counters(r.last))
  if (r.unit !== undefined) f.push('u', r.unit)
  if (r.restricted !== undefined) f.push('r', r.restricted ? '1' : '0')
  if (r.finalGrantUnits !== undefined) f.push('g', r.finalGrantUnits === null ? '' : String(r.finalGrantUnits))
  if (r.fairUsage !== undefined) f.push('f', r.fairUsage)
  if (r.closed !== undefined) f.push('x', `${r.closed.at}:${r.closed.reason}`)
  return f
}

function decode(values: Array<string | null>, meta: string | null | undefined): RadiusSessionRecord | undefined {
  const [a, b, c, u, r, g, f, x] = values
  if (values.every((v) => v === null) && !meta) return undefined
  const rec: RadiusSessionRecord = {}
  if (meta) rec.meta = JSON.parse(meta) as RadiusSessionMeta
  if (a) rec.nasAddress = a
  const base = parseCounters(b)
  if (base) rec.base = base
  const last = parseCounters(c)
  if (last) rec.last = last
  if (u === 'seconds' || u === 'octets' || u === 'events') rec.unit = u
  if (r !== null) rec.restricted = r === '1'
  if (g !== null) rec.finalGrantUnits = g === '' ? null : Number(g)
  if (f === 'none' || f === 'applied:config' || f === 'applied:plan') rec.fairUsage = f
  if (x) {
    const i = x.indexOf(':')
    rec.closed = { at: Number(x.slice(0, i)), reason: x.slice(i + 1) }
  }
  return rec
}

export class RadiusSessionStore {
  constructor(private readonly redis: RedisClient) {}

  /**
   * One round trip (both keys share the account's slot; ioredis pipelines them): the record and the
   * core's counters of the session's rating group `itemKey`. `withMeta` also brings the meta JSON.
   */
  async snapshot(accountId: string, coreId: string, itemKey: string, withMeta: boolean): Promise<SessionSnapshot> {
    const rk = radiusKeys.session(accountId, coreId)
    const [values, rg] = await Promise.all([this.redis.hmget(rk, ...(withMeta ? FIELDS_AND_META : FIELDS)), this.redis.hgetBuffer(keys.session(accountId, coreId), `r:${itemKey}`)])
    const out: SessionSnapshot = {}
    const record = decode(values.slice(0, FIELDS.length), withMeta ? values[FIELDS.length] : undefined)
    if (record) out.record = record
    if (rg) out.core = coreCounters(rg)
    return out
  }

  /**
   * A report of the session charged in one step (SessionRequest.attached): checked against the
   * core's counters `expect` it was computed from, the record read, its new totals `last` written
   * and, with `ttlMs`, its expiry refreshed.
   */
  attachedReport(accountId: string, coreId: string, expect: CoreCounters, last: Counters, ttlMs?: number, closed?: { at: number; reason: string }): AttachedReport {
    return {
      key: radiusKeys.session(accountId, coreId),
      expect: { inO: expect.inO, outO: expect.outO, used: expect.used },
      read: REPORT_FIELDS,
      // A Stop marks the record closed in the same step as its charge (the mark close() writes).
      write: closed === undefined ? ['c', counters(last)] : ['c', counters(last), 'x', closedMark(closed.at, closed.reason)],
      ...(ttlMs !== undefined ? { ttlMs } : {}),
    }
  }

  /** The record as an attached report read it (before its write); undefined: no record. */
  static recordOfReport(fields: Array<string | null>): RadiusSessionRecord | undefined {
    return decode([...fields.slice(1), fields[0] ?? null], undefined)
  }

  /**
   * A new record, listed under its NAS. Every field is written (`x` empty: open), so a closed
   * record of the same key (pppd reuses its Acct-Session-Id) leaves nothing behind.
   */
  async open(accountId: string, coreId: string, rec: Required<Omit<RadiusSessionRecord, 'closed'>>, ttlMs: number): Promise<void> {
    const rk = radiusKeys.session(accountId, coreId)
    await Promise.all([
      this.redis.hset(rk, ...encode(rec), 'x', ''),
      this.redis.pexpire(rk, ttlMs),
      this.redis.zadd(radiusKeys.nasSessions(rec.meta.nas), rec.meta.start, `${accountId}|${coreId}`),
    ])
  }

  /** Writes the given fields; `ttlMs` refreshes the record's expiry. */
  async update(accountId: string, coreId: string, rec: RadiusSessionRecord, ttlMs?: number): Promise<void> {
    const rk = radiusKeys.session(accountId, coreId)
    const fields = encode(rec)
    const writes: Array<Promise<unknown>> = []
    if (fields.length > 0) writes.push(this.redis.hset(rk, ...fields))
    if (ttlMs !== undefined) writes.push(this.redis.pexpire(rk, ttlMs))
    await Promise.all(writes)
  }

  /** The session is over: marked closed (a late report is not a new session) until it expires, and off its NAS's list. */
  async close(accountId: string, coreId: string, nas: string | undefined, at: number, reason: string, ttlMs: number): Promise<void> {
    const rk = radiusKeys.session(accountId, coreId)
    const writes: Array<Promise<unknown>> = [this.redis.hset(rk, 'x', closedMark(at, reason)), this.redis.pexpire(rk, ttlMs)]
    if (nas !== undefined) writes.push(this.redis.zrem(radiusKeys.nasSessions(nas), `${accountId}|${coreId}`))
    await Promise.all(writes)
  }

  /** Sessions of a NAS that started at or before `upTo`, `count` at a time from `offset`. */
  async nasSessions(nas: string, upTo: number, offset: number, count: number): Promise<Array<{ accountId: string; coreId: string }>> {
    const members = await this.redis.zrangebyscore(radiusKeys.nasSessions(nas), '-inf', upTo, 'LIMIT', offset, count)
    return members.map((m) => {
      const [accountId, coreId] = splitMember(m)
      return { accountId, coreId }
    })
  }

  async forgetNasSession(nas: string, accountId: string, coreId: string): Promise<void> {
    await this.redis.zrem(radiusKeys.nasSessions(nas), `${accountId}|${coreId}`)
  }

  /**
   * Takes off a NAS's list a random sample of sessions whose record is gone (the core's reaper
   * closed them and nobody reported since; a NAS that never sends Accounting-On would otherwise
   * pile them up). Only members listed before `before`: a record being opened now is not gone.
   * Returns how many were removed.
   */
  async pruneNas(nas: string, before: number, sample: number): Promise<number> {
    const key = radiusKeys.nasSessions(nas)
    const flat = (await this.redis.zrandmember(key, sample, 'WITHSCORES')) as string[]
    const candidates: string[] = []
    for (let i = 0; i + 1 < flat.length; i += 2) if (Number(flat[i + 1]) < before) candidates.push(flat[i])
    if (candidates.length === 0) return 0
    const alive = await Promise.all(
      candidates.map((m) => {
        const [accountId, coreId] = splitMember(m)
        return this.redis.exists(radiusKeys.session(accountId, coreId))
      }),
    )
    const gone = candidates.filter((_, i) => alive[i] === 0)
    if (gone.length > 0) await this.redis.zrem(key, ...gone)
    return gone.length
  }

  /** Takes the claim on `action` for the session unless another node holds it. */
  async claim(accountId: string, coreId: string, action: string, owner: string, ttlMs: number): Promise<boolean> {
    return (await this.redis.set(radiusKeys.claim(accountId, coreId, action), owner, 'PX', ttlMs, 'NX')) === 'OK'
  }

  /** Keeps a claim we hold for `ttlMs` more. */
  async holdClaim(accountId: string, coreId: string, action: string, owner: string, ttlMs: number): Promise<void> {
    await this.redis.eval(PEXPIRE_IF_OURS, 1, radiusKeys.claim(accountId, coreId, action), owner, String(ttlMs))
  }

  /** Gives a claim we hold back (compare-and-delete: never somebody else's). */
  async releaseClaim(accountId: string, coreId: string, action: string, owner: string): Promise<void> {
    await this.redis.eval(DEL_IF_OURS, 1, radiusKeys.claim(accountId, coreId, action), owner)
  }

  /** The account of an open core session (the core's session index). */
  async accountOfSession(coreId: string): Promise<string | undefined> {
    return (await this.redis.get(keys.sessionIndex(coreId))) ?? undefined
  }

  /** The account an identity belongs to (for a report of a session whose core session is closed). */
  async accountOfIdentity(kind: IdentityKind, value: string): Promise<string | undefined> {
    const t = await this.redis.get(keys.identity(kind, value))
    return t ? (JSON.parse(t) as { account: string }).account : undefined
  }
}
