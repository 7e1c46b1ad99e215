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
    let start = '-'
    for (;;) {
      const entries = await redis.xrange(keys.outbox(shard), start, '+', 'COUNT', 1000)
      for (const [id, fields] of entries) {
        backlog++
        const cdr = JSON.parse(fields[1]) as { id: string; account: string; total: string }
        let m = outbox.get(cdr.account)
        if (!m) outbox.set(cdr.account, (m = new Map()))
        m.set(cdr.id, BigInt(cdr.total))
        start = `(${id}`
      }
      if (entries.length < 1000) break
    }
  }
  const report: AuditReport = { accounts: 0, broken: [], outboxBacklog: backlog, cdrsInStore: 0 }
  const ids = await redis.zrange(keys.accountList(), 0, -1)
  for (const account of ids) {
    report.accounts++
    const ledger = await store.ledger(account)
    const acct = await store.getAccount(account)
    if (!acct) continue
    const balance = (await store.buckets(account)).filter((b) => b.kind === 'money').reduce((s, b) => s + b.amount, 0n)
    let cdrCharges = 0n
    const pending = outbox.get(account)
    for await (const cdr of billing.iterate({ account })) {
      report.cdrsInStore++
      cdrCharges += BigInt(cdr.total)
      pending?.delete(cdr.id)
    }
    for (const total of pending?.values() ?? []) cdrCharges += total
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
    if (!row.ok) report.broken.push(row)
  }
  return report
}
