import type { RedisClient } from '../balance/connect.js'
import { BalanceStore } from '../balance/store.js'
import { keys, SHARD_COUNT } from '../balance/keys.js'
import type { BillingStore } from './types.js'

// The money-conservation audit behind `npm run audit`. For every account, exactly, in micro-units:
//
//   topups + adjustments (initial credit, money buckets) + refunds − CDR charges (billing store ∪
//   outbox, refunds being negative CDRs) − money already charged in still-open sessions
//   − live reservations  ==  current balance (all money buckets)
//
// and the ledger the Lua scripts keep agrees with both sides. A broken account is listed with its figures.
//
// The OCS may still be charging while this runs (the reaper closing idle sessions, a late request),
// and the reads of one account are not one snapshot. Its Redis side (ledger, reservation, buckets,
// open sessions) is read first, its CDRs after: a session still open in that read counts with the
// money charged in it so far, and the CDR it gets when it closes meanwhile (id `<session>#<start>#…`)
// is left out of the CDR side. So the reaper closing sessions under the audit changes nothing. An
// account that still does not add up (a new session or event between the two reads, a CDR moving
// from the outbox to the store between them) is audited again on its own: its shard's outbox and its
// Redis side between two equal reads of its state (ledger, account hash, buckets: every charging step
// changes one of them, each step being one Lua script), then its CDRs; the figures count when they
// add up, or when the state was still the same after. A CDR moving from the outbox to the store is
// in one or both (the worker writes before it deletes), and is counted once by its id.

export interface AuditRow {
  account: string
  topups: bigint
  adjustments: bigint
  refunds: bigint
  cdrCharges: bigint
  openCharged: bigint
  reserved: bigint
  balance: bigint
  ledgerCharged: bigint
  /** expected − actual balance; 0 when the account is sound */
  difference: bigint
  ok: boolean
}

export interface AuditReport {
  accounts: number
  broken: AuditRow[]
  outboxBacklog: number
  cdrsInStore: number
}

export async function audit(redis: RedisClient, store: BalanceStore, billing: BillingStore): Promise<AuditReport> {
  // CDRs still in the outbox (not yet written, or written and not yet deleted): by account, by id.
  const outbox = new Map<string, Map<string, bigint>>()
  let backlog = 0
  for (let shard = 0; shard < SHARD_COUNT; shard++) {
    for await (const cdr of outboxCdrs(redis, keys.outbox(shard))) {
      backlog++
      let m = outbox.get(cdr.account)
      if (!m) outbox.set(cdr.account, (m = new Map()))
      m.set(cdr.id, BigInt(cdr.total))
    }
  }
  const report: AuditReport = { accounts: 0, broken: [], outboxBacklog: backlog, cdrsInStore: 0 }
  const ids = await redis.zrange(keys.accountList(), 0, -1)
  for (const account of ids) {
    report.accounts++
    const side = await redisSide(store, account)
    if (side === undefined) continue
    const cdrs = await cdrSide(billing, account, outbox.get(account), side.open)
    let row = auditRow(account, side, cdrs.charges)
    report.cdrsInStore += cdrs.inStore
    for (let attempt = 0; !row.ok && attempt < STABLE_ATTEMPTS; attempt++) {
      const again = await stableAudit(redis, store, billing, account)
      if (again === 'changing') {
        await new Promise((res) => setTimeout(res, 100 * (attempt + 1)))
        continue
      }
      if (again !== undefined) row = again
      break
    }
    if (!row.ok) report.broken.push(row)
  }
  return report
}

/** How often an account that does not add up is audited again on its own before it is reported. */
const STABLE_ATTEMPTS = 10

/** One account's Redis side: ledger, reservation, money balance, and its open sessions. */
interface RedisSide {
  ledger: Record<string, bigint>
  reserved: bigint
  balance: bigint
  /** money already charged in the open sessions (their CDRs are not written yet) */
  openCharged: bigint
  /** the open sessions as `<session id>#<start>[#<n>]`: how their CDRs' ids will start */
  open: Set<string>
}

async function redisSide(store: BalanceStore, account: string): Promise<RedisSide | undefined> {
  const ledger = await store.ledger(account)
  const acct = await store.getAccount(account)
  if (!acct) return undefined
  const balance = (await store.buckets(account)).filter((b) => b.kind === 'money').reduce((s, b) => s + b.amount, 0n)
  let openCharged = 0n
  const open = new Set<string>()
  for (const s of await store.listSessions(account)) {
    open.add(`${String(s.id)}#${String(s.start)}${s.n === undefined ? '' : `#${String(s.n)}`}`)
    for (const rg of Object.values((s.rgs ?? {}) as Record<string, { charged?: number }>)) openCharged += BigInt(Math.round(Number(rg.charged ?? 0)))
  }
  return { ledger, reserved: acct.reserved, balance, openCharged, open }
}

/**
 * The account's CDR charges: the billing store ∪ `outbox`, by id, without the CDRs of sessions that
 * were still open when its Redis side was read (`open`: their money is in openCharged).
 */
async function cdrSide(billing: BillingStore, account: string, outbox: Map<string, bigint> | undefined, open: Set<string>): Promise<{ charges: bigint; inStore: number }> {
  let charges = 0n
  let inStore = 0
  const pending = new Map(outbox ?? [])
  for await (const cdr of billing.iterate({ account })) {
    inStore++
    pending.delete(cdr.id)
    if (ofOpenSession(cdr, open)) continue
    charges += BigInt(cdr.total)
  }
  for (const total of pending.values()) charges += total
  return { charges, inStore }
}

/** Whether the CDR is one that a session open in the Redis side got on closing since (session-charge.lua's CDR ids). */
function ofOpenSession(cdr: { id: string; sessionId: string | null; start: number }, open: Set<string>): boolean {
  if (cdr.sessionId === null) return false
  const base = `${cdr.sessionId}#${cdr.start}`
  if (open.has(base)) return true
  const rest = cdr.id.startsWith(`${base}#`) ? cdr.id.slice(base.length + 1) : ''
  const hash = rest.indexOf('#')
  return hash > 0 && open.has(`${base}#${rest.slice(0, hash)}`)
}

function auditRow(account: string, r: RedisSide, cdrCharges: bigint): AuditRow {
  const topups = r.ledger.topups ?? 0n
  const adjustments = r.ledger.adjustments ?? 0n
  const refunds = r.ledger.refunds ?? 0n
  const ledgerCharged = r.ledger.charged ?? 0n
  // CDR charges already net out refunds (refund CDRs are negative), so refunds are not added again.
  const expected = topups + adjustments - cdrCharges - r.openCharged - r.reserved
  return {
    account, topups, adjustments, refunds, cdrCharges, openCharged: r.openCharged, reserved: r.reserved, balance: r.balance, ledgerCharged,
    difference: expected - r.balance,
    ok: expected === r.balance && ledgerCharged - refunds === cdrCharges + r.openCharged,
  }
}

/** The account's Redis state that every charging step changes: ledger, account hash (reservation), buckets. */
async function accountState(redis: RedisClient, account: string): Promise<string> {
  const [ledger, acct, buckets] = await Promise.all([redis.hgetall(keys.ledger(account)), redis.hgetall(keys.account(account)), redis.hgetall(keys.buckets(account))])
  const sorted = (h: Record<string, string>): string => JSON.stringify(Object.entries(h).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
  return `${sorted(ledger)}|${sorted(acct)}|${sorted(buckets)}`
}

/**
 * The account audited on its own: its shard's outbox and its Redis side between two equal reads of
 * its state, then its CDRs. 'changing' when the state moved under the Redis reads, or when the figures
 * do not add up and the state moved after them (a new session or event may have left a CDR).
 */
async function stableAudit(redis: RedisClient, store: BalanceStore, billing: BillingStore, account: string): Promise<AuditRow | undefined | 'changing'> {
  const before = await accountState(redis, account)
  const outbox = new Map<string, bigint>()
  for await (const cdr of outboxCdrs(redis, keys.outboxOf(account))) {
    if (cdr.account === account) outbox.set(cdr.id, BigInt(cdr.total))
  }
  const side = await redisSide(store, account)
  if ((await accountState(redis, account)) !== before) return 'changing'
  if (side === undefined) return undefined
  const row = auditRow(account, side, (await cdrSide(billing, account, outbox, side.open)).charges)
  return row.ok || (await accountState(redis, account)) === before ? row : 'changing'
}
/** The CDRs of one outbox stream, oldest first, read a page at a time. */
async function* outboxCdrs(redis: RedisClient, stream: string): AsyncGenerator<{ id: string; account: string; total: string }> {
  let start = '-'
  for (;;) {
    const entries = await redis.xrange(stream, start, '+', 'COUNT', 1000)
    for (const [id, fields] of entries) {
      yield JSON.parse(fields[1]) as { id: string; account: string; total: string }
      start = `(${id}`
    }
    if (entries.length < 1000) return
  }
}
