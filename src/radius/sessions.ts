// What this node remembers of the RADIUS sessions it has seen: the last cumulative counters (to
// debit deltas), and how to reach the session at its NAS (RFC 5176 session identification) for
// Disconnect-/CoA-Requests. A cache, bounded: the truth (usage charged so far) lives in the core's
// session in Redis, and a node that misses an entry recovers the counters from there.

import type { Identity } from '../core/types.js';
import type { UnitType } from '../rating/plan.js';
import type { NasClient } from './clients.js';

/** Attributes that identify the session at the NAS (RFC 5176 section 3). */
export interface SessionTarget {
  readonly userName?: string;
  readonly acctSessionId: string;
  readonly nasPort?: number;
  readonly framedIpAddress?: string;
  readonly nasIdentifier?: string;
  readonly nasIpAddress?: string;
  readonly callingStationId?: string;
}

export interface RadiusSession {
  readonly key: string;
  readonly coreId: string;
  readonly nasIdentity: string;
  /** Source address of the NAS's accounting: where Disconnect/CoA go (at client.coaPort). */
  nasAddress: string;
  client: NasClient;
  identities: Identity[];
  /** The account the core charges (known once the core answered). */
  accountId?: string;
  target: SessionTarget;
  unit: UnitType;
  /** Cumulative totals charged so far (64-bit, Gigawords and wraps resolved). */
  lastIn: number;
  lastOut: number;
  lastSessionTime: number;
  /** Holds a final grant whose cap the NAS enforces (volume profiles): a top-up sends a CoA. */
  restricted: boolean;
  /** Units of the final grant the session holds, if it holds one. */
  finalGrantUnits?: number;
  /** Fair-usage throttle state. */
  fairUsage: 'none' | 'sent' | 'applied';
  /** A Disconnect-Request is in flight. */
  disconnecting: boolean;
  updatedAt: number;
}

export class SessionTable {
  private readonly byKey = new Map<string, RadiusSession>();
  private readonly byCore = new Map<string, string>();
  private readonly byNas = new Map<string, Set<string>>();
  /** Keys of sessions closed here recently: a late Interim/Stop for them is not a new session. */
  private readonly closed = new Map<string, number>();

  constructor(
    private readonly maxSessions: number,
    private readonly closedTtlMs = 600_000,
  ) {}

  get size(): number {
    return this.byKey.size;
  }

  get(key: string): RadiusSession | undefined {
    return this.byKey.get(key);
  }

  byCoreId(coreId: string): RadiusSession | undefined {
    const key = this.byCore.get(coreId);
    return key === undefined ? undefined : this.byKey.get(key);
  }

  /** Records or refreshes a session (most recently used last; the least recently used is forgotten first). */
  put(s: RadiusSession, now: number): void {
    s.updatedAt = now;
    this.byKey.delete(s.key);
    this.byKey.set(s.key, s);
    this.byCore.set(s.coreId, s.key);
    let nas = this.byNas.get(s.nasIdentity);
    if (nas === undefined) this.byNas.set(s.nasIdentity, (nas = new Set()));
    nas.add(s.key);
    this.closed.delete(s.key);
    while (this.byKey.size > this.maxSessions) {
      const oldest = this.byKey.keys().next().value as string;
      this.forget(oldest);
    }
  }

  /** A session ended (Stop, Accounting-On/Off): forgotten, and remembered as closed for a while. */
  close(key: string, now: number): void {
    this.forget(key);
    this.closed.delete(key);
    this.closed.set(key, now);
    for (const [k, at] of this.closed) {
      if (this.closed.size <= this.maxSessions && now - at <= this.closedTtlMs) break;
      this.closed.delete(k);
    }
  }

  recentlyClosed(key: string, now: number): boolean {
    const at = this.closed.get(key);
    return at !== undefined && now - at <= this.closedTtlMs;
  }

  /** Open sessions seen from this NAS identity. */
  ofNas(nasIdentity: string): RadiusSession[] {
    const keys = this.byNas.get(nasIdentity);
    if (keys === undefined) return [];
    const out: RadiusSession[] = [];
    for (const k of keys) {
      const s = this.byKey.get(k);
      if (s !== undefined) out.push(s);
    }
    return out;
  }

  private forget(key: string): void {
    const s = this.byKey.get(key);
    if (s === undefined) return;
    this.byKey.delete(key);
    if (this.byCore.get(s.coreId) === key) this.byCore.delete(s.coreId);
    const nas = this.byNas.get(s.nasIdentity);
    if (nas !== undefined) {
      nas.delete(key);
      if (nas.size === 0) this.byNas.delete(s.nasIdentity);
    }
  }
}
