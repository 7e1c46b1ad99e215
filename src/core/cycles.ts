import type { BalanceStore } from '../balance/store.js'
import { keys, SHARD_COUNT } from '../balance/keys.js'
import type { Component } from '../lib/lifecycle.js'
import type { Logger } from '../lib/logger.js'
import { cycleAt, recurringFees } from '../rating/rate.js'
import type { PlanCache } from './plan-cache.js'
import type { AccountEvents } from './events.js'

export type RenewStatus = 'renewed' | 'current' | 'insufficient' | 'unknownAccount' | 'noPlan'

/**
 * Billing cycles: at the start of each account's cycle (plan `cycle`, in the account's time zone)
 * the plan's recurring fees are charged and its allowances granted as unit buckets for that cycle,
 * in one cycle-renew script per account. Accounts wait in a per-shard zset scored by their next
 * renewal; every node sweeps it, and the script is a no-op for a cycle already started, so two
 * nodes never charge a fee twice. When the balance cannot pay the fees nothing is granted and the
 * renewal is retried (and tried again right after a top-up).
 */
export class CycleRunner implements Component {
  readonly name = 'cycles'
  private timer?: NodeJS.Timeout
  private running?: Promise<number>
  onRenewed?: (status: RenewStatus) => void

  constructor(
    private readonly store: BalanceStore,
    private readonly plans: PlanCache,
    private readonly opts: { nodeId: string; intervalMs: number; retryMs: number },
    private readonly events?: AccountEvents,
    private readonly log?: Logger,
  ) {}

  async start(): Promise<void> {
    this.timer = setInterval(() => {
      if (!this.running) this.running = this.sweep().finally(() => (this.running = undefined))
    }, this.opts.intervalMs)
    this.timer.unref()
  }

  /** Renews every account whose cycle start has come; returns how many cycles started. */
  async sweep(now = Date.now()): Promise<number> {
    let renewed = 0
    try {
      for (let shard = 0; shard < SHARD_COUNT; shard++) {
        for (;;) {
          const due = await this.store.redis.zrangebyscore(keys.cycles(shard), '-inf', now, 'LIMIT', 0, 100)
          let progressed = 0
          for (const accountId of due) {
            const s = await this.renew(accountId, now)
            if (s === 'renewed') renewed++
            if (s !== 'insufficient') progressed++
          }
          if (due.length < 100 || progressed === 0) break
        }
      }
    } catch (err) {
      this.log?.warn({ err: (err as Error).message }, 'billing-cycle pass failed; retrying next interval')
    }
    if (renewed > 0) this.log?.info({ renewed }, 'billing cycles started')
    return renewed
  }

  /** Starts the account's current cycle if it has not started yet (idempotent). */
  async renew(accountId: string, now = Date.now()): Promise<RenewStatus> {
    for (let attempt = 0; attempt < 2; attempt++) {
      const [planId, timezone, currency, taxRegion] = await this.store.redis.hmget(keys.account(accountId), 'plan', 'timezone', 'currency', 'taxRegion')
      if (planId === null) {
        await this.store.redis.zrem(keys.cyclesOf(accountId), accountId)
        return 'unknownAccount'
      }
      const plan = await this.plans.get(planId, now)
      if (!plan) {
        await this.store.redis.zadd(keys.cyclesOf(accountId), now + this.opts.retryMs, accountId)
        return 'noPlan'
      }
      const cycle = cycleAt(plan, timezone ?? 'UTC', now)
      let fees: ReturnType<typeof recurringFees>
      try {
        fees = recurringFees(plan, currency ?? plan.currency, taxRegion ?? '')
      } catch (err) {
        // e.g. the plan cannot price its fee in the account currency: nothing is charged or granted.
        this.log?.warn({ account: accountId, plan: planId, err: (err as Error).message }, 'billing cycle cannot start')
        await this.store.redis.zadd(keys.cyclesOf(accountId), now + this.opts.retryMs, accountId)
        return 'noPlan'
      }
      // A bucket's scope lists service names, or `service:prefix` for an allowance limited to
      // destinations (e.g. national minutes: voice:33).
      const bundles = (plan.bundles ?? []).map((b) => ({
        name: b.name, kind: b.unit, amount: b.amount, priority: b.priority ?? 10,
        scope: b.destinations ? b.services.flatMap((svc) => b.destinations!.map((d) => `${svc}:${d}`)) : b.services,
      }))
      const payload = {
        accountId, plan: planId, pv: plan.version, cycle: cycle.id, start: cycle.start, end: cycle.end, now, node: this.opts.nodeId,
        retryAt: Math.min(now + this.opts.retryMs, cycle.end),
        fees: fees.map((f) => ({ name: f.name, gross: f.gross.toString(), tax: f.tax.toString() })),
        bundles,
      }
      const text = await this.store.redis.cycleRenew(
        keys.account(accountId), keys.buckets(accountId), keys.ledger(accountId), keys.outboxOf(accountId),
        keys.cyclesOf(accountId), keys.accountReauth(accountId), JSON.stringify(payload),
      )
      const r = JSON.parse(text) as { status: RenewStatus | 'stalePlan'; reauth?: string[] | Record<string, never> }
      if (r.status === 'stalePlan') continue
      if (r.status === 'renewed') {
        const sessions = Array.isArray(r.reauth) ? r.reauth : []
        // New allowances: sessions holding a final unit or refused may go on (RAR / CoA).
        if (sessions.length > 0) await this.events?.publish({ type: 'reauth', accountId, sessions, reason: 'plan' })
      }
      this.onRenewed?.(r.status)
      return r.status
    }
    return 'current'
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer)
    await this.running
  }
}
