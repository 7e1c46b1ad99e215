// Credit enforcement towards the NAS (RFC 5176): Disconnect-Request when a session's credit is
// gone or an operator aborts it, CoA-Request to throttle past fair usage (the config's session
// volume, or the plan's policy the core reports in a grant) and to lift that throttle, and
// CoA-Request to lift a NAS-enforced cap after a top-up. A NAS without a CoA listener (pppd) is
// never sent anything: its Session-Timeout, sized from the balance at authorization, is the brake.
//
// Several OCS nodes share the sessions (their state is in Redis) and each hears every account
// event, so before sending anything a node takes the session's claim for that action in Redis
// (SET NX PX). The holder sends; the others do nothing.
//
//   action   taken on                               claim kept after the answer
//   dm       depletion (a report), abort (event)    ACK: `disconnectHoldMs` (the NAS's Stop follows);
//                                                   NAK/timeout: released after a report (the next
//                                                   report tries again), left to expire after an event
//   fu       fair usage throttle / lift (a report)  released once the state is written (a node that
//                                                   wins it later re-reads the state and finds it done)
//   restore  top-up, plan, status (event)           as fu after an ACK; left to expire otherwise, so
//                                                   one event is acted on once
//
// A claim outlives the CoA client's last retransmission (`claimTtlMs`), so a node crashing
// mid-send blocks the action for that long at most.

import type { RadiusSessionStore, SessionSnapshot } from '../balance/radius-sessions.js';
import type { BalanceStore } from '../balance/store.js';
import type { ChargingService } from '../core/charging.js';
import type { AccountEvent } from '../core/events.js';
import type { FairUsageState } from '../core/types.js';
import type { Logger } from '../lib/logger.js';
import type { NasClient } from './clients.js';
import type { CoaClient, DynamicAuthKind, DynamicAuthResult } from './coa-client.js';
import type { RadiusAttributeInput } from './codec.js';
import type { AttributeList, NasVendor } from './nas-profiles.js';
import { quote } from './quota.js';
import { applySnapshot, sessionFromRecord, type RadiusSession } from './sessions.js';

export interface FairUsagePolicy {
  /** Session volume (input + output octets) past which the session is throttled by CoA. */
  readonly thresholdOctets: number;
  /** CoA attributes per NAS vendor; default: the profile's (e.g. Mikrotik-Rate-Limit "1M/1M"). */
  readonly restrict?: Partial<Record<NasVendor, AttributeList>>;
  /** CoA attributes lifting the throttle per NAS vendor; default: the profile's (e.g. Mikrotik-Rate-Limit "0/0"). */
  readonly lift?: Partial<Record<NasVendor, AttributeList>>;
}

/** The session state in Redis, as far as the enforcer uses it (a fake in unit tests). */
export type EnforcementState = Pick<RadiusSessionStore, 'snapshot' | 'update' | 'claim' | 'holdClaim' | 'releaseClaim'>;

export interface EnforcerOptions {
  readonly coa: Pick<CoaClient, 'send'>;
  readonly state: EnforcementState;
  /** NAS clients by address: how to reach a session another node saw (from its record's NAS address). */
  readonly clients: { lookup(address: string): NasClient | undefined };
  readonly charging: ChargingService;
  readonly store: Pick<BalanceStore, 'getAccount'>;
  readonly log: Logger;
  /** Written as the claim's value (who holds it). */
  readonly nodeId: string;
  /** The rating-group key of RADIUS sessions in the core's session (its counters). */
  readonly itemKey: string;
  /** How long a claim lives: longer than a Disconnect/CoA with all its retransmissions. */
  readonly claimTtlMs: number;
  /** After a Disconnect-ACK no node sends another Disconnect for the session for this long. Default 10 min. */
  readonly disconnectHoldMs?: number;
  readonly fairUsage?: FairUsagePolicy;
}

export type DepletionCause = 'credit-limit-reached' | 'denied' | 'final-unit-used';

type Trigger = 'report' | 'event';
/** How an action ended: done (state written: release), retry (release after a report), hold (keep the claim). */
type Ending = 'done' | 'retry' | 'hold';

/** RFC 5176 section 3: the attributes that identify the session (and the NAS) in a request. */
export function sessionIdentification(s: RadiusSession): RadiusAttributeInput[] {
  const t = s.target;
  const a: RadiusAttributeInput[] = [];
  // A text the NAS sent as octets that are not UTF-8 goes back as those octets.
  const text = (name: string, v: string, hex: string | undefined): RadiusAttributeInput => (hex !== undefined ? { name, raw: Buffer.from(hex, 'hex') } : [name, v]);
  if (t.nasIdentifier !== undefined) a.push(text('NAS-Identifier', t.nasIdentifier, t.nasIdentifierHex));
  if (t.nasIpAddress !== undefined) a.push(['NAS-IP-Address', t.nasIpAddress]);
  if (t.userName !== undefined) a.push(text('User-Name', t.userName, t.userNameHex));
  a.push(text('Acct-Session-Id', t.acctSessionId, t.acctSessionIdHex));
  if (t.nasPort !== undefined) a.push(['NAS-Port', t.nasPort]);
  if (t.framedIpAddress !== undefined) a.push(['Framed-IP-Address', t.framedIpAddress]);
  if (t.callingStationId !== undefined) a.push(text('Calling-Station-Id', t.callingStationId, t.callingStationIdHex));
  return a;
}

/** `attrs` with every Filter-Id replaced by `filterId` (appended when there was none). */
function withFilterId(attrs: AttributeList, filterId: string): RadiusAttributeInput[] {
  return [...attrs.filter(([name]) => name !== 'Filter-Id'), ['Filter-Id', filterId]];
}

export class Enforcer {
  private readonly running = new Set<Promise<unknown>>();

  constructor(private readonly opts: EnforcerOptions) {}

  /** The session's credit is gone: ask the NAS to end it (one node, once at a time). */
  depleted(s: RadiusSession, cause: DepletionCause): void {
    if (!s.client.profile.dynamicAuthorization) {
      this.opts.log.info({ session: s.coreId, cause, vendor: s.client.profile.vendor }, 'credit depleted; NAS has no CoA listener, Session-Timeout ends the session');
      return;
    }
    this.disconnect(s, cause, 'report');
  }

  /** Depletion (a report), an operator abort or a barred account (an event). */
  disconnect(s: RadiusSession, cause: string, trigger: Trigger): void {
    if (!s.client.profile.dynamicAuthorization) return;
    this.track(
      this.act(s, 'dm', trigger, async () => {
        const r = await this.send('disconnect', s, sessionIdentification(s), cause);
        // After an ACK the NAS sends the Stop; after a NAK or silence the next report tries again.
        return r.result === 'ack' ? 'hold' : 'retry';
      }),
    );
  }

  /** A final grant whose cap the NAS enforces: a later top-up must lift it. */
  finalGrant(s: RadiusSession): void {
    if (s.client.profile.enforcement === 'volume-attribute') s.restricted = true;
  }

  /**
   * Fair usage after a grant: throttles the session once (CoA-Request) when the plan's policy the
   * core reports (`plan`: restrict or redirect) or the config's session volume asks for it, and
   * lifts a throttle the plan asked for once a grant comes without it (a new cycle, a top-up).
   */
  checkFairUsage(s: RadiusSession, plan?: FairUsageState): void {
    if (!s.client.profile.dynamicAuthorization || s.accountId === undefined) return;
    const policy = this.opts.fairUsage;
    const planAsks = plan !== undefined && (plan.action === 'restrict' || plan.action === 'redirect') ? plan : undefined;
    const configAsks = policy !== undefined && s.lastIn + s.lastOut >= policy.thresholdOctets;
    if (s.fairUsage === 'none') {
      if (planAsks !== undefined) this.throttle(s, this.planAttributes(s, planAsks), 'plan');
      else if (configAsks) this.throttle(s, policy.restrict?.[s.client.profile.vendor] ?? s.client.profile.fairUsageRestrict, 'config');
    } else if (s.fairUsage === 'applied' && s.fairUsageSource === 'plan' && planAsks === undefined) {
      if (configAsks) {
        // Still past the config's session volume: the throttle stays, on the config's account now.
        s.fairUsageSource = 'config';
        this.track(this.opts.state.update(s.accountId, s.coreId, { fairUsage: 'applied:config' }));
      } else this.lift(s);
    }
  }

  onAccountEvent(e: AccountEvent): void {
    for (const id of e.sessions) {
      // Diameter sessions are the Diameter front end's.
      if (!id.startsWith('radius:')) continue;
      this.track(this.onSessionEvent(e, id));
    }
  }

  /** Waits for every Disconnect/CoA in flight (they end by ACK, NAK or timeout). */
  async drain(): Promise<void> {
    while (this.running.size > 0) await Promise.allSettled([...this.running]);
  }

  // ---------- internals ----------

  /** The CoA attributes for the plan's fair-usage step on this NAS. */
  private planAttributes(s: RadiusSession, fu: FairUsageState): RadiusAttributeInput[] {
    const profile = s.client.profile;
    if (fu.action === 'redirect') {
      if (profile.fairUsageRedirect !== undefined && fu.redirectUrl !== undefined) return [...profile.fairUsageRedirect(fu.redirectUrl)];
      return [['Filter-Id', fu.filterId ?? 'fair-usage-redirect']];
    }
    const restrict = this.opts.fairUsage?.restrict?.[profile.vendor] ?? profile.fairUsageRestrict;
    return fu.filterId !== undefined ? withFilterId(restrict, fu.filterId) : [...restrict];
  }

  private throttle(s: RadiusSession, attrs: ReadonlyArray<RadiusAttributeInput>, source: 'config' | 'plan'): void {
    if (attrs.length === 0 || s.accountId === undefined) return;
    const accountId = s.accountId;
    s.fairUsage = 'sent';
    this.track(
      this.act(s, 'fu', 'report', async () => {
        // Another node may have throttled it between our read and our claim.
        const now = await this.opts.state.snapshot(accountId, s.coreId, this.opts.itemKey, false);
        const mark = now.record?.fairUsage;
        if (mark !== undefined && mark !== 'none') {
          s.fairUsage = 'applied';
          s.fairUsageSource = mark === 'applied:plan' ? 'plan' : 'config';
          return 'done';
        }
        const r = await this.send('coa', s, [...sessionIdentification(s), ...attrs], `fair-usage (${source})`);
        if (r.result !== 'ack') {
          s.fairUsage = 'none';
          return 'retry';
        }
        s.fairUsage = 'applied';
        s.fairUsageSource = source;
        await this.opts.state.update(accountId, s.coreId, { fairUsage: `applied:${source}` });
        return 'done';
      }, () => {
        s.fairUsage = 'none';
      }),
    );
  }

  /** The plan no longer restricts the session: CoA-Request with the profile's (or config's) lifting attributes. */
  private lift(s: RadiusSession): void {
    const attrs = this.opts.fairUsage?.lift?.[s.client.profile.vendor] ?? s.client.profile.fairUsageLift;
    if (attrs.length === 0 || s.accountId === undefined) return;
    const accountId = s.accountId;
    s.fairUsage = 'sent';
    this.track(
      this.act(s, 'fu', 'report', async () => {
        const now = await this.opts.state.snapshot(accountId, s.coreId, this.opts.itemKey, false);
        if (now.record?.fairUsage !== 'applied:plan') {
          s.fairUsage = now.record?.fairUsage === 'applied:config' ? 'applied' : 'none';
          return 'done';
        }
        const r = await this.send('coa', s, [...sessionIdentification(s), ...attrs], 'fair-usage lifted');
        if (r.result !== 'ack') {
          s.fairUsage = 'applied';
          return 'retry';
        }
        s.fairUsage = 'none';
        s.fairUsageSource = undefined;
        await this.opts.state.update(accountId, s.coreId, { fairUsage: 'none' });
        return 'done';
      }, () => {
        s.fairUsage = 'applied';
      }),
    );
  }

  /** An account event for one RADIUS session, whichever node saw the session. */
  private async onSessionEvent(e: AccountEvent, coreId: string): Promise<void> {
    const s = await this.load(e.accountId, coreId);
    if (s === undefined || !s.client.profile.dynamicAuthorization) return;
    if (e.type === 'abort') {
      this.disconnect(s, e.reason, 'event');
      return;
    }
    if (!s.restricted) return;
    await this.act(s, 'restore', 'event', async () => {
      const now = await this.opts.state.snapshot(e.accountId, coreId, this.opts.itemKey, false);
      if (now.record?.restricted !== true || now.record.closed !== undefined) return 'done';
      return this.restore(s, e.reason);
    });
  }

  /** The open session `coreId` of `accountId` as its Redis record tells it; undefined when none. */
  private async load(accountId: string, coreId: string): Promise<RadiusSession | undefined> {
    const snap: SessionSnapshot = await this.opts.state.snapshot(accountId, coreId, this.opts.itemKey, true);
    const rec = snap.record;
    if (rec?.meta === undefined || rec.closed !== undefined || rec.nasAddress === undefined) return undefined;
    const client = this.opts.clients.lookup(rec.nasAddress);
    if (client === undefined) return undefined;
    const s = sessionFromRecord(coreId, accountId, rec.meta, rec.nasAddress, client);
    applySnapshot(s, snap);
    return s;
  }

  /** After a top-up: a new cap = usage so far + what the balance now affords. */
  private async restore(s: RadiusSession, reason: string): Promise<Ending> {
    const { store, charging, state } = this.opts;
    const account = s.accountId === undefined ? undefined : await store.getAccount(s.accountId);
    if (account === undefined || account.status !== 'active') return 'done';
    const q = await quote(charging, s.identities, account);
    if (q.kind !== 'ok' || !(q.affordable > 0)) return 'done';
    const attrs: RadiusAttributeInput[] = sessionIdentification(s);
    if (q.unit === 'octets' && Number.isFinite(q.affordable)) {
      attrs.push(...s.client.profile.volumeQuota(Math.min(Number.MAX_SAFE_INTEGER, s.lastIn + s.lastOut + q.affordable)));
    }
    const r = await this.send('coa', s, attrs, `restore after ${reason}`);
    if (r.result !== 'ack') return 'retry';
    s.restricted = false;
    await state.update(account.id, s.coreId, { restricted: false });
    return 'done';
  }

  /**
   * Runs `work` if this node wins the session's claim on `action`; `lost` runs when another node
   * holds it. The claim is then released, kept, or left to expire as `work`'s ending and the
   * trigger say (see the table at the top).
   */
  private async act(s: RadiusSession, action: string, trigger: Trigger, work: () => Promise<Ending>, lost?: () => void): Promise<void> {
    const { state, nodeId, claimTtlMs, log } = this.opts;
    const accountId = s.accountId;
    if (accountId === undefined) return;
    let won = false;
    try {
      won = await state.claim(accountId, s.coreId, action, nodeId, claimTtlMs);
    } catch (err) {
      log.warn({ session: s.coreId, action, err: (err as Error).message }, 'cannot claim a dynamic authorization; not sent');
    }
    if (!won) {
      log.debug({ session: s.coreId, action }, 'another node acts on this session');
      lost?.();
      return;
    }
    let ending: Ending = 'retry';
    try {
      ending = await work();
    } finally {
      if (ending === 'hold') await state.holdClaim(accountId, s.coreId, action, nodeId, this.opts.disconnectHoldMs ?? 600_000);
      else if (ending === 'done' || trigger === 'report') await state.releaseClaim(accountId, s.coreId, action, nodeId);
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
