import type { Test } from 'tap'
import { Redis } from 'ioredis'
import { BalanceStore } from '../../src/balance/store.js'
import { PlanCache } from '../../src/core/plan-cache.js'
import { ChargingService, type ChargingOptions } from '../../src/core/charging.js'
import { DEMO_PLAN, type PlanDocument } from '../../src/rating/plan.js'
import { keys, SHARD_COUNT } from '../../src/balance/keys.js'
import type { RedisClient } from '../../src/balance/connect.js'
import { startRedis, type TestRedis } from './redis.js'

export const TEST_OPTS: ChargingOptions = {
  nodeId: 'test-node',
  defaultQuota: { seconds: 60, octets: 5 * 1024 * 1024, events: 1 },
  validitySeconds: 900,
  reaperGraceSeconds: 120,
  quotaThresholdPercent: 20,
  idempotencySeconds: 600,
}

export interface Core {
  store: BalanceStore
  plans: PlanCache
  charging: ChargingService
}

export async function makeCore(client: RedisClient, opts: Partial<ChargingOptions> = {}, extraPlans: PlanDocument[] = []): Promise<Core> {
  const store = new BalanceStore(client)
  await store.putPlan(DEMO_PLAN)
  for (const p of extraPlans) await store.putPlan(p)
  const plans = new PlanCache(store, 0)
  const charging = new ChargingService(store, plans, { ...TEST_OPTS, ...opts })
  return { store, plans, charging }
}

export function newRedis(port: number): Redis {
  return new Redis({ port })
}

/** A Redis of the test file's own, a client and the charging core on it; stopped when the file's tests end. */
export async function startFileCore(t: Test): Promise<{ redis: TestRedis; client: Redis; core: Core }> {
  const redis = await startRedis()
  const client = newRedis(redis.port)
  const core = await makeCore(client)
  t.teardown(async () => {
    client.disconnect()
    await redis.stop()
  })
  return { redis, client, core }
}

/** Prepaid EUR account on the demo plan with one subscriber whose MSISDN is returned. */
export async function makeAccount(
  store: BalanceStore,
  opts: { balance?: bigint; type?: 'prepaid' | 'postpaid'; creditLimit?: bigint; plan?: string; msisdn?: string } = {},
): Promise<{ accountId: string; msisdn: string }> {
  const acct = await store.createAccount(
    {
      currency: 'EUR',
      type: opts.type ?? 'prepaid',
      plan: opts.plan ?? 'demo',
      timezone: 'Europe/Paris',
      language: 'en',
      taxRegion: 'none',
      country: 'SE',
      status: 'active',
      creditLimit: opts.creditLimit ?? 0n,
    },
    opts.balance ?? 0n,
  )
  const msisdn = opts.msisdn ?? `4670${Math.floor(Math.random() * 1e9).toString().padStart(9, '0')}`
  await store.createSubscriber({ account: acct.id, msisdn })
  return { accountId: acct.id, msisdn }
}

export interface CdrRow {
  id: string
  account: string
  sessionId?: string
  total: string
  closeReason: string
  used: string
  overage: boolean
  service: string
  moneyBuckets: Record<string, string>
  unitBuckets: Record<string, string>
  [k: string]: unknown
}

/** Every CDR in every outbox shard (test-side read; the CDR worker is another issue). */
export async function allCdrs(client: RedisClient): Promise<CdrRow[]> {
  const out: CdrRow[] = []
  for (let s = 0; s < SHARD_COUNT; s++) {
    const entries = await client.xrange(keys.outbox(s), '-', '+')
    for (const [, fields] of entries) out.push(JSON.parse(fields[1]) as CdrRow)
  }
  return out
}

export async function money(store: BalanceStore, accountId: string): Promise<{ balance: bigint; reserved: bigint }> {
  const acct = await store.getAccount(accountId)
  const buckets = await store.buckets(accountId)
  return { balance: BalanceStore.moneyBalance(buckets, Date.now()), reserved: acct!.reserved }
}

/** Σ of all money buckets (usable or not) — what the ledger must agree with. */
export async function bucketsTotal(store: BalanceStore, accountId: string): Promise<bigint> {
  return (await store.buckets(accountId)).filter((b) => b.kind === 'money').reduce((s, b) => s + b.amount, 0n)
}

/** Σ of money held by live reservations, read from the sessions themselves. */
export async function liveReserved(store: BalanceStore, accountId: string): Promise<bigint> {
  let s = 0n
  for (const sess of await store.listSessions(accountId)) {
    for (const rg of Object.values((sess.rgs ?? {}) as Record<string, { res?: { mb?: Array<[string, number]> } }>)) {
      for (const [, n] of Array.isArray(rg.res?.mb) ? rg.res.mb : []) s += BigInt(n) // cjson writes an empty list as {}
    }
  }
  return s
}

export async function assertLedger(t: Test, store: BalanceStore, accountId: string, label: string): Promise<void> {
  const l = await store.ledger(accountId)
  const acct = await store.getAccount(accountId)
  const buckets = await bucketsTotal(store, accountId)
  const reserved = await liveReserved(store, accountId)
  t.equal(acct!.reserved, reserved, `${label}: reserved total matches the sessions`)
  t.equal(l.topups + l.refunds + l.adjustments - l.charged, buckets + reserved, `${label}: topups + refunds − charged == balance + reserved`)
}
