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
// and the reads of one account are not one snapshot: a session closed between reading the outbox
// and reading the billing store shows as money gone without a CDR. So an account that does not add
// up is audited again on its own, with its Redis state (ledger, reservation, buckets) read before
// and after its CDRs and sessions and its shard's outbox read in between; the figures count only
// when that state did not change meanwhile. Each charging step is one Lua script, so an unchanged
// state means no step ran in between; a CDR moving from the outbox to the store is in one or both
// (the worker writes before it deletes), and is counted once by its id.

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
    let r = await auditAccount(store, billing, account, outbox.get(account))
    if (r === undefined) continue
    report.cdrsInStore += r.cdrsInStore
    for (let attempt = 0; !r.row.ok && attempt < STABLE_ATTEMPTS; attempt++) {
      const again = await stableAudit(redis, store, billing, account)
      if (again === 'changing') {
        await new Promise((res) => setTimeout(res, 100 * (attempt + 1)))
        continue
      }
      if (again !== undefined) r = again
      break
    }
    if (!r.row.ok) report.broken.push(r.row)
  }
  return report
}

/** How often an account that does not add up is audited again on its own before it is reported. */
const STABLE_ATTEMPTS = 10

/** One account's figures from its ledger, buckets, CDRs (billing store ∪ `outbox`, by id) and sessions. */
async function auditAccount(
  store: BalanceStore,
  billing: BillingStore,
  account: string,
  outbox: Map<string, bigint> | undefined,
): Promise<{ row: AuditRow; cdrsInStore: number } | undefined> {
  const ledger = await store.ledger(account)
  const acct = await store.getAccount(account)
  if (!acct) return undefined
  const balance = (await store.buckets(account)).filter((b) => b.kind === 'money').reduce((s, b) => s + b.amount, 0n)
  let cdrCharges = 0n
  let cdrsInStore = 0
  const pending = new Map(outbox ?? [])
  for await (const cdr of billing.iterate({ account })) {
    cdrsInStore++
    cdrCharges += BigInt(cdr.total)
    pending.delete(cdr.id)
  }
  for (const total of pending.values()) cdrCharges += total
  let openCharged = 0n
  for (const s of await store.listSessions(account)) {
    for (const rg of Object.values((s.rgs ?? {}) as Record<string, { charged?: number }>)) openCharged += BigInt(Math.round(Number(rg.charged ?? 0)))
  }
  const topups = ledger.topups ?? 0n
  const adjustments = ledger.adjustments ?? 0n
  const refunds = ledger.refunds ?? 0n
  const ledgerCharged = ledger.charged ?? 0n
  // CDR charges already net out refunds (refund CDRs are negative), so refunds are not added again.
  const expected = topups + adjustments - cdrCharges - openCharged - acct.reserved
  const row: AuditRow = {
    account, topups, adjustments, refunds, cdrCharges, openCharged, reserved: acct.reserved, balance, ledgerCharged,
    difference: expected - balance,
    ok: expected === balance && ledgerCharged - refunds === cdrCharges + openCharged,
  }
  return { row, cdrsInStore }
}

/** The account's Redis state that every charging step changes: ledger, account hash (reservation), buckets. */
async function accountState(redis: RedisClient, account: string): Promise<string> {
  const [ledger, acct, buckets] = await Promise.all([redis.hgetall(keys.ledger(account)), redis.hgetall(keys.account(account)), redis.hgetall(keys.buckets(account))])
  const sorted = (h: Record<string, string>): string => JSON.stringify(Object.entries(h).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
  return `${sorted(ledger)}|${sorted(acct)}|${sorted(buckets)}`
}

/** auditAccount() between two equal reads of the account's state; 'changing' when they differ. */
async function stableAudit(redis: RedisClient, store: BalanceStore, billing: BillingStore, account: string): Promise<{ row: AuditRow; cdrsInStore: number } | undefined | 'changing'> {
  const before = await accountState(redis, account)
  const outbox = new Map<string, bigint>()
  for await (const cdr of outboxCdrs(redis, keys.outboxOf(account))) {
    if (cdr.account === account) outbox.set(cdr.id, BigInt(cdr.total))
  }
  const r = await auditAccount(store, billing, account, outbox)
  return (await accountState(redis, account)) === before ? r : 'changing'
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
