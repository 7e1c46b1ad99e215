import type { BalanceStore } from '../balance/store.js'
import { SHARD_COUNT } from '../balance/keys.js'
import type { Component } from '../lib/lifecycle.js'
import type { Logger } from '../lib/logger.js'

/**
 * Releases reservations nobody reported within validity + grace (the client died) and closes
 * their sessions with a CDR of what was reported. Every OCS node runs one; the reap script
 * re-checks the deadline atomically, so two reapers never release the same session twice.
 */
export class Reaper implements Component {
  readonly name = 'reaper'
  private timer?: NodeJS.Timeout
  private running?: Promise<number>
  onReaped?: (count: number) => void

  constructor(
    private readonly store: BalanceStore,
    private readonly nodeId: string,
    private readonly intervalMs: number,
    private readonly log?: Logger,
  ) {}

  async start(): Promise<void> {
    this.timer = setInterval(() => {
      if (!this.running) this.running = this.sweep().finally(() => (this.running = undefined))
    }, this.intervalMs)
    this.timer.unref()
  }

  /** One pass over every shard; returns how many sessions this pass reaped. */
  async sweep(now = Date.now()): Promise<number> {
    let reaped = 0
    try {
      for (let shard = 0; shard < SHARD_COUNT; shard++) {
        for (;;) {
          const members = await this.store.expiredMembers(shard, now, 100)
          for (const m of members) if (await this.store.reap(m, now, this.nodeId)) reaped++
          if (members.length < 100) break
        }
      }
    } catch (err) {
      this.log?.warn({ err: (err as Error).message }, 'reaper pass failed; retrying next interval')
    }
    if (reaped > 0) {
      this.log?.info({ reaped }, 'released lapsed reservations')
      this.onReaped?.(reaped)
    }
    return reaped
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer)
    await this.running
  }
}
