// What this node remembers of the RADIUS sessions it has seen: how to reach the session at its
// NAS (RFC 5176 session identification) and the state of its last report. A cache, bounded: the
// session's state lives in Redis (src/balance/radius-sessions.ts) and is read again at every
// report, so any node can take any report of any session; this table spares re-reading what
// never changes (the identification) and lets a late report of a session closed here be answered
// at once.

import type { RadiusSessionMeta, RadiusSessionRecord, SessionSnapshot } from '../balance/radius-sessions.js';
import type { CoreCounters, Identity } from '../core/types.js';
import type { UnitType } from '../rating/plan.js';
import { FifoCache } from '../lib/fifo-cache.js';
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
  /**
   * The octets of a text attribute above that was not valid UTF-8 (hex), so a Disconnect/CoA echoes
   * exactly what the NAS sent rather than the decoded string with replacement characters.
   */
  readonly userNameHex?: string;
  readonly acctSessionIdHex?: string;
  readonly nasIdentifierHex?: string;
  readonly callingStationIdHex?: string;
}

/** Cumulative counters of a session (64-bit, Gigawords and wraps resolved). */
export interface Counters {
  in: number;
  out: number;
  time: number;
}

/**
 * Fair-usage state: 'sent' while a throttling (or lifting) CoA is in flight from this node;
 * 'applied' once the NAS acknowledged the throttle, `fairUsageSource` telling whether the config's
 * session-volume policy or the plan (the core's outcome) asked for it.
 */
export type FairUsageStateName = 'none' | 'sent' | 'applied';

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
  /** Totals already charged when the core session was (re)opened: totals = base + the core's counters. */
  base: Counters;
  /**
   * The core's counters of the session after this node's last report of it: the next report is
   * charged in one step, checked against them (undefined: read the state from Redis first).
   */
  core?: CoreCounters;
  /** Holds a final grant whose cap the NAS enforces (volume profiles): a top-up sends a CoA. */
  restricted: boolean;
  /** Units of the final grant the session holds, if it holds one. */
  finalGrantUnits?: number;
  fairUsage: FairUsageStateName;
  fairUsageSource?: 'config' | 'plan';
  /** When the session began (ms): its score in the NAS's list in Redis. */
  startedAt: number;
  /** When this node last refreshed the Redis record's expiry (0: never). */
  refreshedAt: number;
  updatedAt: number;
}

/**
 * The cumulative counters charged so far: the core's own counters of the session (updated with
 * every debit, atomically) on top of what was charged before the core session opened; the last
 * totals a node wrote when the core session is gone (reaped: the next report opens a new one).
 */
export function chargedTotals(snap: SessionSnapshot, unit: UnitType): Counters | undefined {
  const rec = snap.record;
  if (snap.core !== undefined) {
    const base = rec?.base ?? { in: 0, out: 0, time: 0 };
    const seconds = (snap.core.unit ?? unit) === 'seconds';
    return {
      in: base.in + snap.core.inO,
      out: base.out + snap.core.outO,
      // The core counts time only for a time-rated service; otherwise the last time a node wrote.
      time: seconds ? base.time + snap.core.used : Math.max(base.time, rec?.last?.time ?? 0),
    };
  }
  return rec?.last;
}

/** Brings a session up to date with its state in Redis (another node may have taken reports since). */
export function applySnapshot(s: RadiusSession, snap: SessionSnapshot): void {
  const rec = snap.record;
  if (rec !== undefined) applyRecord(s, rec);
  if (snap.core?.unit !== undefined) s.unit = snap.core.unit;
  const totals = chargedTotals(snap, s.unit);
  if (totals === undefined) return;
  if (snap.core !== undefined) {
    s.lastIn = totals.in;
    s.lastOut = totals.out;
    s.lastSessionTime = totals.time;
  } else {
    // Totals only grow: what this node charged itself may be newer than a lost write.
    s.lastIn = Math.max(s.lastIn, totals.in);
    s.lastOut = Math.max(s.lastOut, totals.out);
    s.lastSessionTime = Math.max(s.lastSessionTime, totals.time);
  }
}

/** The record's state besides the counters: base, unit, restriction, final grant, fair usage. */
export function applyRecord(s: RadiusSession, rec: RadiusSessionRecord): void {
  if (rec.base !== undefined) s.base = rec.base;
  if (rec.unit !== undefined) s.unit = rec.unit;
  if (rec.restricted !== undefined) s.restricted = rec.restricted;
  if (rec.finalGrantUnits !== undefined) s.finalGrantUnits = rec.finalGrantUnits ?? undefined;
  // 'sent': this node's CoA is in flight; its answer writes the state.
  if (rec.fairUsage !== undefined && s.fairUsage !== 'sent') {
    s.fairUsage = rec.fairUsage === 'none' ? 'none' : 'applied';
    s.fairUsageSource = rec.fairUsage === 'applied:plan' ? 'plan' : rec.fairUsage === 'applied:config' ? 'config' : undefined;
  }
  if (rec.meta !== undefined) s.startedAt = rec.meta.start;
}

/** What a session's record says once, when it is opened. */
export function sessionMeta(s: RadiusSession): RadiusSessionMeta {
  return { key: s.key, nas: s.nasIdentity, target: { ...s.target }, ids: s.identities, start: s.startedAt };
}

/** The whole record of a session, to open it in Redis. */
export function sessionRecord(s: RadiusSession): Required<Omit<RadiusSessionRecord, 'closed'>> {
  return {
    meta: sessionMeta(s),
    nasAddress: s.nasAddress,
    base: s.base,
    last: { in: s.lastIn, out: s.lastOut, time: s.lastSessionTime },
    unit: s.unit,
    restricted: s.restricted,
    finalGrantUnits: s.finalGrantUnits ?? null,
    fairUsage: s.fairUsage === 'applied' ? (s.fairUsageSource === 'plan' ? 'applied:plan' : 'applied:config') : 'none',
  };
}

/** A session known from its Redis record only (another node saw its reports). */
export function sessionFromRecord(coreId: string, accountId: string, meta: RadiusSessionMeta, nasAddress: string, client: NasClient): RadiusSession {
  return {
    key: meta.key,
    coreId,
    nasIdentity: meta.nas,
    nasAddress,
    client,
    identities: meta.ids,
    accountId,
    target: meta.target as unknown as SessionTarget,
    unit: 'octets',
    lastIn: 0,
    lastOut: 0,
    lastSessionTime: 0,
    base: { in: 0, out: 0, time: 0 },
    restricted: false,
    fairUsage: 'none',
    startedAt: meta.start,
    refreshedAt: 0,
    updatedAt: 0,
  };
}

export class SessionTable {
  /** Most recently put last; beyond the bound the least recently put is forgotten. */
  private readonly byKey: FifoCache<string, RadiusSession>;
  private readonly byCore = new Map<string, string>();
  private readonly byNas = new Map<string, Set<string>>();
  /** Keys of sessions closed here recently: a late Interim/Stop for them is not a new session. */
  private readonly closed: FifoCache<string, true>;

  constructor(
    private readonly maxSessions: number,
    closedTtlMs = 600_000,
  ) {
    this.byKey = new FifoCache(maxSessions, Number.POSITIVE_INFINITY, (_, s) => this.unindex(s));
    this.closed = new FifoCache(maxSessions, closedTtlMs);
  }

  get size(): number {
    return this.byKey.size;
  }

  get(key: string): RadiusSession | undefined {
    return this.byKey.peek(key);
  }

  byCoreId(coreId: string): RadiusSession | undefined {
    const key = this.byCore.get(coreId);
    return key === undefined ? undefined : this.byKey.peek(key);
  }

  /** Records or refreshes a session (most recently used last; the least recently used is forgotten first). */
  put(s: RadiusSession, now: number): void {
    s.updatedAt = now;
    // The session put again, as after every report: its indexes stand as its last put left them
    // (only close() adds to `closed`, and it takes the session out of byKey first). Spares three
    // lookups a report, one of them in `closed`, which holds every session closed in the last ten
    // minutes (~170,000 at full load).
    if (this.byKey.peek(s.key) === s) {
      this.byKey.refresh(s.key, s, this.maxSessions / 2);
      return;
    }
    this.byCore.set(s.coreId, s.key);
    let nas = this.byNas.get(s.nasIdentity);
    if (nas === undefined) this.byNas.set(s.nasIdentity, (nas = new Set()));
    nas.add(s.key);
    this.closed.delete(s.key);
    this.byKey.refresh(s.key, s, this.maxSessions / 2);
  }

  /** A session ended (Stop, Accounting-On/Off): forgotten, and remembered as closed for a while. */
  close(key: string, now: number): void {
    this.forget(key);
    this.closed.set(key, true, now);
  }

  recentlyClosed(key: string, now: number): boolean {
    return this.closed.get(key, now) !== undefined;
  }

  /** Open sessions seen from this NAS identity. */
  ofNas(nasIdentity: string): RadiusSession[] {
    const keys = this.byNas.get(nasIdentity);
    if (keys === undefined) return [];
    const out: RadiusSession[] = [];
    for (const k of keys) {
      const s = this.byKey.peek(k);
      if (s !== undefined) out.push(s);
    }
    return out;
  }

  private forget(key: string): void {
    const s = this.byKey.peek(key);
    if (s === undefined) return;
    this.byKey.delete(key);
    this.unindex(s);
  }

  /** Takes a session no longer in byKey out of the other indexes. */
  private unindex(s: RadiusSession): void {
    if (this.byCore.get(s.coreId) === s.key) this.byCore.delete(s.coreId);
    const nas = this.byNas.get(s.nasIdentity);
    if (nas !== undefined) {
      nas.delete(s.key);
      if (nas.size === 0) this.byNas.delete(s.nasIdentity);
    }
  }
}
