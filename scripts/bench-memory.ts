// Redis memory per active session (issue 9: ≤ 1 KB at 100k sessions): INFO memory before and after
// opening N data sessions (CCR-I equivalents through the core, 10 sessions per account), divided by N.
// Idempotency answers of those requests are alive too (they are kept for charging.idempotencySeconds),
// so they are counted: that is what an active session really costs.
import { Redis } from 'ioredis'
import { BalanceStore } from '../src/balance/store.js'
import { PlanCache } from '../src/core/plan-cache.js'
import { ChargingService } from '../src/core/charging.js'
import { DEMO_PLAN } from '../src/rating/plan.js'

export interface MemoryResult {
  sessions: number
  bytesPerSession: number
  usedBefore: number
  usedAfter: number
}

export async function benchMemory(port: number, sessions = 100_000): Promise<MemoryResult> {
  const redis = new Redis({ port, enableAutoPipelining: true })
  await redis.flushall()
  const store = new BalanceStore(redis)
  await store.putPlan(DEMO_PLAN)
  const plans = new PlanCache(store)
  const charging = new ChargingService(store, plans, {
    nodeId: 'bench', defaultQuota: { seconds: 60, octets: 5 * 1024 * 1024, events: 1 }, validitySeconds: 900,
    reaperGraceSeconds: 120, quotaThresholdPercent: 20, idempotencySeconds: 600,
  })
  const perAccount = 10
  const accounts = Math.ceil(sessions / perAccount)
  const msisdns: string[] = []
  for (let a = 0; a < accounts; a += 64) {
    await Promise.all(Array.from({ length: Math.min(64, accounts - a) }, async (_, k) => {
      const acct = await store.createAccount({ currency: 'EUR', type: 'prepaid', plan: 'demo', timezone: 'UTC', language: 'en', taxRegion: 'none', country: 'SE', status: 'active', creditLimit: 0n }, 1_000_000_000n)
      const msisdn = `4681${String(a + k).padStart(7, '0')}`
      await store.createSubscriber({ account: acct.id, msisdn })
      msisdns[a + k] = msisdn
    }))
  }
  const used = async (): Promise<number> => {
    const info = await redis.info('memory')
    return Number(/used_memory:(\d+)/.exec(info)![1])
  }
  const before = await used()
  let next = 0
  await Promise.all(Array.from({ length: 64 }, async () => {
    for (let i = next++; i < sessions; i = next++) {
      const msisdn = msisdns[Math.floor(i / perAccount)]
      const a = await charging.initiate({ sessionId: `pgw.bench;${i};mem`, requestId: `mem-${i}`, identities: [{ kind: 'msisdn', value: msisdn }], protocol: 'diameter', items: [{ serviceContext: '32251@3gpp.org', ratingGroup: 1, requested: 'default' }] })
      if (a.kind !== 'ok') throw new Error(`session ${i}: ${a.kind}`)
    }
  }))
  const after = await used()
  redis.disconnect()
  return { sessions, bytesPerSession: Math.round((after - before) / sessions), usedBefore: before, usedAfter: after }
}
