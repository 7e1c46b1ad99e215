import type { Redis, Cluster } from 'ioredis'
import { keys } from '../balance/keys.js'
import type { Component } from '../lib/lifecycle.js'
import { newId } from '../lib/ids.js'
import type { Logger } from '../lib/logger.js'

/**
 * Account events for the front ends: after a top-up or plan change the sessions that hold a
 * final unit or were refused for credit should be re-authorized (Diameter RAR, RADIUS CoA); an
 * operator's kill or a bar should abort sessions (ASR, Disconnect-Request). Carried over Redis
 * pub/sub so every OCS node hears them, whichever node holds the peer connection.
 */
export type AccountEvent = (
  | { type: 'reauth'; accountId: string; sessions: string[]; reason: 'topup' | 'plan' | 'status' }
  | { type: 'abort'; accountId: string; sessions: string[]; reason: 'barred' | 'operator' }
) & {
  /** Unique per event (set by publish): nodes claim sending its requests under it, so each goes out once. */
  id?: string
}

export class AccountEvents implements Component {
  readonly name = 'account-events'
  private sub?: Redis | Cluster
  private readonly listeners = new Set<(e: AccountEvent) => void>()

  constructor(
    private readonly client: Redis | Cluster,
    private readonly log?: Logger,
  ) {}

  async publish(e: AccountEvent): Promise<void> {
    if (e.sessions.length === 0) return
    await this.client.publish(keys.eventsChannel(), JSON.stringify({ ...e, id: e.id ?? newId() }))
  }

  on(listener: (e: AccountEvent) => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  async start(): Promise<void> {
    this.sub = this.client.duplicate()
    this.sub.on('error', (err: Error) => this.log?.warn({ err: err.message }, 'events subscriber error'))
    this.sub.on('message', (_channel: string, text: string) => {
      let e: AccountEvent
      try {
        e = JSON.parse(text) as AccountEvent
      } catch {
        return
      }
      for (const l of this.listeners) l(e)
    })
    await this.sub.subscribe(keys.eventsChannel())
  }

  async stop(): Promise<void> {
    this.sub?.disconnect()
  }
}
