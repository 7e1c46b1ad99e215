import { activePlan, type BalanceStore } from '../balance/store.js'
import type { CompiledPlan } from '../rating/plan.js'
import type { DestinationDeck } from '../rating/deck.js'

/**
 * Every OCS node rates with the same plan version: plans live in Redis with a version counter,
 * and each node reloads its compiled copy when the counter moves (checked at most every `ttlMs`).
 */
export class PlanCache {
  private plans = new Map<string, CompiledPlan[]>()
  private deckMap = new Map<string, DestinationDeck>()
  private version = -1
  private checkedAt = 0
  private loading?: Promise<void>

  constructor(
    private readonly store: BalanceStore,
    private readonly ttlMs = 1000,
  ) {}

  /** The version of plan `id` in force at `at` (scheduled versions take over at their activeFrom). */
  async get(id: string, at = Date.now()): Promise<CompiledPlan | undefined> {
    if (Date.now() - this.checkedAt > this.ttlMs) await this.refresh()
    return this.find(id, at)
  }

  /**
   * get() without a wait, when the versions were checked within ttlMs and plan `id` has one in
   * force at `at`; otherwise undefined (then get()). Spares every charging step an await.
   */
  cached(id: string, at = Date.now()): CompiledPlan | undefined {
    return Date.now() - this.checkedAt > this.ttlMs ? undefined : this.find(id, at)
  }

  private find(id: string, at: number): CompiledPlan | undefined {
    const versions = this.plans.get(id)
    return versions && activePlan(versions, at)
  }

  /** When the next scheduled version of plan `id` after `at` takes over, if one is waiting. */
  nextActivation(id: string, at: number): number | undefined {
    let next: number | undefined
    const current = activePlan(this.plans.get(id) ?? [], at)
    for (const p of this.plans.get(id) ?? []) {
      if (p.activeFrom !== undefined && p.activeFrom > at && p.version > (current?.version ?? 0) && (next === undefined || p.activeFrom < next)) next = p.activeFrom
    }
    return next
  }

  /** Rate decks of the same version as the plans. */
  get decks(): ReadonlyMap<string, DestinationDeck> {
    return this.deckMap
  }

  /** Forces a version check now (after a plan write on this node). */
  async refresh(): Promise<void> {
    this.loading ??= (async () => {
      try {
        const v = await this.store.plansVersion()
        if (v !== this.version) {
          this.plans = await this.store.loadPlanVersions()
          this.deckMap = await this.store.loadDecks()
          this.version = v
        }
        this.checkedAt = Date.now()
      } finally {
        this.loading = undefined
      }
    })()
    return this.loading
  }
}
