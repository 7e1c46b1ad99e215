// Credit enforcement towards the NAS (RFC 5176): Disconnect-Request when a session's credit is
// gone or an operator aborts it, CoA-Request to throttle past fair usage, and CoA-Request to lift
// a NAS-enforced cap after a top-up. A NAS without a CoA listener (pppd) is never sent anything:
// its Session-Timeout, sized from the balance at authorization, is the brake.

import type { BalanceStore } from '../balance/store.js';
import type { ChargingService } from '../core/charging.js';
import type { AccountEvent } from '../core/events.js';
import type { Logger } from '../lib/logger.js';
import type { CoaClient, DynamicAuthKind, DynamicAuthResult } from './coa-client.js';
import type { RadiusAttributeInput } from './codec.js';
import type { AttributeList, NasVendor } from './nas-profiles.js';
import { quote } from './quota.js';
import type { RadiusSession, SessionTable } from './sessions.js';

export interface FairUsagePolicy {
  /** Session volume (input + output octets) past which the session is throttled by CoA. */
  readonly thresholdOctets: number;
  /** CoA attributes per NAS vendor; default: the profile's (e.g. Mikrotik-Rate-Limit "1M/1M"). */
  readonly restrict?: Partial<Record<NasVendor, AttributeList>>;
}

export interface EnforcerOptions {
  readonly coa: CoaClient;
  readonly sessions: SessionTable;
  readonly charging: ChargingService;
  readonly store: BalanceStore;
  readonly log: Logger;
  readonly fairUsage?: FairUsagePolicy;
}

export type DepletionCause = 'credit-limit-reached' | 'denied' | 'final-unit-used';

/** RFC 5176 section 3: the attributes that identify the session (and the NAS) in a request. */
export function sessionIdentification(s: RadiusSession): RadiusAttributeInput[] {
  const t = s.target;
  const a: RadiusAttributeInput[] = [];
  if (t.nasIdentifier !== undefined) a.push(['NAS-Identifier', t.nasIdentifier]);
  if (t.nasIpAddress !== undefined) a.push(['NAS-IP-Address', t.nasIpAddress]);
  if (t.userName !== undefined) a.push(['User-Name', t.userName]);
  a.push(['Acct-Session-Id', t.acctSessionId]);
  if (t.nasPort !== undefined) a.push(['NAS-Port', t.nasPort]);
  if (t.framedIpAddress !== undefined) a.push(['Framed-IP-Address', t.framedIpAddress]);
  if (t.callingStationId !== undefined) a.push(['Calling-Station-Id', t.callingStationId]);
  return a;
}

export class Enforcer {
  private readonly running = new Set<Promise<unknown>>();

  constructor(private readonly opts: EnforcerOptions) {}

  /** The session's credit is gone: ask the NAS to end it (once at a time). */
  depleted(s: RadiusSession, cause: DepletionCause): void {
    if (!s.client.profile.dynamicAuthorization) {
      this.opts.log.info({ session: s.coreId, cause, vendor: s.client.profile.vendor }, 'credit depleted; NAS has no CoA listener, Session-Timeout ends the session');
      return;
    }
    this.disconnect(s, cause);
  }

  /** Operator abort or a barred account. */
  disconnect(s: RadiusSession, cause: string): void {
    if (!s.client.profile.dynamicAuthorization || s.disconnecting) return;
    s.disconnecting = true;
    this.track(
      this.send('disconnect', s, sessionIdentification(s), cause).then((r) => {
        // After an ACK the NAS sends the Stop; after a NAK or silence the next interim tries again.
        if (r.result !== 'ack') s.disconnecting = false;
      }),
    );
  }

  /** A final grant whose cap the NAS enforces: a later top-up must lift it. */
  finalGrant(s: RadiusSession): void {
    if (s.client.profile.enforcement === 'volume-attribute') s.restricted = true;
  }

  /** Throttles a session once it has used more than the fair-usage volume. */
  checkFairUsage(s: RadiusSession): void {
    const policy = this.opts.fairUsage;
    if (policy === undefined || s.fairUsage !== 'none' || !s.client.profile.dynamicAuthorization) return;
    if (s.lastIn + s.lastOut < policy.thresholdOctets) return;
    const attrs = policy.restrict?.[s.client.profile.vendor] ?? s.client.profile.fairUsageRestrict;
    if (attrs.length === 0) return;
    s.fairUsage = 'sent';
    this.track(
      this.send('coa', s, [...sessionIdentification(s), ...attrs], 'fair-usage').then((r) => {
        s.fairUsage = r.result === 'ack' ? 'applied' : 'none';
      }),
    );
  }

  onAccountEvent(e: AccountEvent): void {
    for (const id of e.sessions) {
      const s = this.opts.sessions.byCoreId(id);
      if (s === undefined) continue; // another node's session (or forgotten): that node acts
      if (e.type === 'abort') this.disconnect(s, e.reason);
      else if (s.restricted && s.client.profile.dynamicAuthorization) this.track(this.restore(s, e.reason));
    }
  }

  /** Waits for every Disconnect/CoA in flight (they end by ACK, NAK or timeout). */
  async drain(): Promise<void> {
    await Promise.allSettled([...this.running]);
  }

  /** After a top-up: a new cap = usage so far + what the balance now affords. */
  private async restore(s: RadiusSession, reason: string): Promise<void> {
    const { store, charging, log } = this.opts;
    try {
      const account = s.accountId === undefined ? undefined : await store.getAccount(s.accountId);
      if (account === undefined || account.status !== 'active') return;
      const q = await quote(charging, s.identities, account.creditLimit);
      if (q.kind !== 'ok' || !(q.affordable > 0)) return;
      const attrs: RadiusAttributeInput[] = sessionIdentification(s);
      if (q.unit === 'octets' && Number.isFinite(q.affordable)) {
        attrs.push(...s.client.profile.volumeQuota(Math.min(Number.MAX_SAFE_INTEGER, s.lastIn + s.lastOut + q.affordable)));
      }
      const r = await this.send('coa', s, attrs, `restore after ${reason}`);
      if (r.result === 'ack') s.restricted = false;
    } catch (err) {
      log.warn({ session: s.coreId, err: (err as Error).message }, 'cannot restore the session');
    }
  }

  private async send(kind: DynamicAuthKind, s: RadiusSession, attrs: RadiusAttributeInput[], why: string): Promise<DynamicAuthResult> {
    const r = await this.opts.coa.send(kind, { address: s.nasAddress, port: s.client.coaPort, secret: s.client.secret }, attrs);
    const line = { kind, why, session: s.coreId, nas: s.nasAddress, result: r.result, ...(r.result === 'nak' ? { errorCause: r.errorCauseName ?? r.errorCause } : {}) };
    if (r.result === 'ack') this.opts.log.info(line, 'dynamic authorization acknowledged');
    else this.opts.log.warn(line, 'dynamic authorization not acknowledged');
    return r;
  }

  private track(p: Promise<unknown>): void {
    const q = p.catch((err: unknown) => this.opts.log.warn({ err: (err as Error).message }, 'dynamic authorization failed'));
    this.running.add(q);
    void q.finally(() => this.running.delete(q));
  }
}
