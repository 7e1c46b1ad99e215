// Accounting-Request → charging session verbs (RFC 2866, RFC 2869). Start initiates a core session
// with a reservation ahead of usage, Interim-Update debits the usage since the previous report and
// reserves again, Stop debits the rest and closes the session (the core writes its CDR).
// Accounting-On/Off closes every open session of that NAS, whichever OCS node saw them. Counters
// are cumulative: the delta is taken against the totals charged so far (Gigawords added; a 32-bit
// counter going backwards without Gigawords is a wrap). Idempotent: a retransmission, even
// re-signed with a new Acct-Delay-Time, maps to the same core request id and is charged once.
//
// Several nodes: a session's state lives in Redis (src/balance/radius-sessions.ts), so its reports
// may arrive at any node. An interim of a session whose previous report this node took is charged
// in one step: the core checks that its counters of the session (the totals charged so far, which
// it updates atomically with the debit) are still those this node left, reads the record and writes
// the new totals with the charge (SessionRequest.attached). Otherwise — another node took a report
// since, or this node never saw the session — the report reads the record and the counters first,
// in one round trip, and is charged with the same check. Other changes to the record are written
// afterwards without waiting (the next report of a session comes an interim interval later);
// Start, Stop, a session opened again and Accounting-On/Off wait for their writes: another node
// must see them.
//
// RFC 2866 section 2: the server answers only once the request is recorded; when charging is
// unavailable there is no answer and the NAS retransmits.

import { RadiusSessionStore, type SessionSnapshot } from '../balance/radius-sessions.js';
import type { ChargingService } from '../core/charging.js';
import { itemKey, type ChargeAnswer, type Identity, type ItemOutcome, type SessionRequest } from '../core/types.js';
import type { Logger } from '../lib/logger.js';
import type { NasClient } from './clients.js';
import { get, getEnum, getNumber, getOctets, getString, type RadiusPacket } from './codec.js';
import type { Enforcer } from './enforcer.js';
import { KeyedLock } from './keyed-lock.js';
import { RADIUS_SERVICE } from './quota.js';
import {
  accountingRequestId,
  advanceCounter,
  coreSessionId,
  eventTime,
  msisdnFrom,
  nasIdentity,
  ourClass,
  parseClass,
  reportedUsage,
  sessionKey,
} from './session.js';
import { applyRecord, applySnapshot, sessionRecord, type Counters, type RadiusSession, type SessionTable } from './sessions.js';

/** Acct-Status-Type values (RFC 2866 5.1). */
const STATUS_NAMES: Readonly<Record<number, AcctStatus>> = { 1: 'Start', 2: 'Stop', 3: 'Interim-Update', 7: 'Accounting-On', 8: 'Accounting-Off' };
export type AcctStatus = 'Start' | 'Stop' | 'Interim-Update' | 'Accounting-On' | 'Accounting-Off';

export type AcctDecision =
  /** Answer with an Accounting-Response; `result` is the metric label. */
  | { readonly kind: 'respond'; readonly type: string; readonly result: string }
  /**
   * No answer: `reason` 'unavailable' (the NAS will retransmit), 'malformed', or 'busy' (more
   * reports of the session in progress than a NAS sends: a flood, retransmitted later if real).
   */
  | { readonly kind: 'drop'; readonly type: string; readonly reason: 'unavailable' | 'malformed' | 'busy'; readonly detail: string };

export interface AcctHandlerOptions {
  readonly charging: ChargingService;
  readonly state: RadiusSessionStore;
  readonly sessions: SessionTable;
  readonly enforcer: Enforcer;
  readonly log: Logger;
  /** A session's record expires this long after its last report (a session nobody closed). */
  readonly recordTtlMs: number;
  /** A closed session's record stays this long: a late report of it is not a new session. */
  readonly closedTtlMs: number;
  /** Reports of one session queued or in progress at once; beyond: dropped 'busy' (config radius.maxReportsPerSession). */
  readonly maxReportsPerSession: number;
}

/** The rating-group key of every RADIUS session in the core. */
export const ITEM_KEY = itemKey({ radiusService: RADIUS_SERVICE });

/** Accounting-On/Off: sessions closed this many at a time. */
const NAS_BATCH = 200;
/** Every this many Starts, a sample of the NAS's list is checked for sessions the core reaped. */
const PRUNE_EVERY = 256;
const PRUNE_SAMPLE = 32;

const ZERO: Counters = { in: 0, out: 0, time: 0 };

export class AcctHandler {
  private readonly lock = new KeyedLock();
  private readonly writes = new Set<Promise<unknown>>();
  private starts = 0;

  constructor(private readonly opts: AcctHandlerOptions) {}

  async handle(packet: RadiusPacket, client: NasClient, source: string): Promise<AcctDecision> {
    const statusNumber = getNumber(packet, 'Acct-Status-Type');
    if (statusNumber === undefined) return { kind: 'drop', type: '-', reason: 'malformed', detail: 'no Acct-Status-Type' };
    const status = STATUS_NAMES[statusNumber];
    // Tunnel-*, Failed (RFC 2867, RFC 2866 5.1 values 9-15) and vendor values: recorded as seen, nothing to charge.
    if (status === undefined) return { kind: 'respond', type: getEnum(packet, 'Acct-Status-Type') ?? 'other', result: 'ignored' };
    try {
      if (status === 'Accounting-On' || status === 'Accounting-Off') return await this.nasRestart(packet, status, source);
      return await this.sessionReport(packet, status, client, source);
    } catch (err) {
      return { kind: 'drop', type: status, reason: 'unavailable', detail: err instanceof Error ? err.message : String(err) };
    }
  }

  /** Waits for the session-state writes in flight. */
  async drain(): Promise<void> {
    await Promise.allSettled([...this.writes]);
  }

  /**
   * Accounting-On/Off: the NAS (re)started or is going down; every session it had is over (RFC 2866
   * 5.1): each one listed for the NAS in Redis, whichever node saw it, begun before the NAS sent
   * this (a retransmitted Accounting-On leaves the sessions begun since alone).
   */
  private async nasRestart(packet: RadiusPacket, status: AcctStatus, source: string): Promise<AcctDecision> {
    const nas = nasIdentity(packet, source);
    const now = Date.now();
    const when = eventTime(packet, now);
    // Sessions begun after the NAS sent this are new: left alone. Between nodes' clocks a session
    // begun within their skew of the restart may be left open; the reaper closes it (with its CDR),
    // whereas closing a live session by mistake would leave its usage uncharged.
    const upTo = sentAt(packet, now);
    const requestTag = packet.authenticator.toString('base64url');
    const seen = new Set<string>();
    let failed = 0;
    let closed = 0;
    // Closed sessions leave the NAS's list: the next page starts after those still on it.
    let offset = 0;
    for (;;) {
      const page = await this.opts.state.nasSessions(nas, upTo, offset, NAS_BATCH);
      if (page.length === 0) break;
      const fresh = page.filter((m) => !seen.has(m.coreId));
      for (const m of fresh) seen.add(m.coreId);
      const results = await Promise.all(fresh.map((m) => this.closeForNas(m.accountId, m.coreId, undefined, nas, status, requestTag, when, now)));
      const failedHere = results.filter((r) => r === 'failed').length;
      failed += failedHere;
      closed += results.filter((r) => r === 'closed').length;
      offset += page.length - fresh.length + failedHere;
    }
    // Sessions this node knows that are not on the list (their record never reached Redis).
    const local = this.opts.sessions.ofNas(nas).filter((s) => !seen.has(s.coreId) && s.startedAt <= upTo);
    const results = await Promise.all(local.map((s) => this.closeForNas(s.accountId, s.coreId, s, nas, status, requestTag, when, now)));
    failed += results.filter((r) => r === 'failed').length;
    closed += results.filter((r) => r === 'closed').length;
    if (failed > 0) return { kind: 'drop', type: status, reason: 'unavailable', detail: `${failed} session(s) not closed` };
    this.opts.log.info({ nas, closed, status }, 'NAS accounting restart: sessions closed');
    return { kind: 'respond', type: status, result: 'ok' };
  }

  /**
   * One session of a restarted NAS (listed in Redis, or only known here as `local`): closed with its
   * CDR, or taken off the list when it is already over.
   */
  private async closeForNas(
    accountId: string | undefined,
    coreId: string,
    local: RadiusSession | undefined,
    nas: string,
    status: AcctStatus,
    tag: string,
    when: number,
    now: number,
  ): Promise<'closed' | 'gone' | 'failed'> {
    const { state } = this.opts;
    try {
      const snap: SessionSnapshot = accountId === undefined ? {} : await state.snapshot(accountId, coreId, ITEM_KEY, local === undefined);
      const rec = snap.record;
      if (rec?.closed !== undefined || (local === undefined && rec?.meta === undefined)) {
        // Closed by a Stop (maybe on another node), or its record expired (the core's reaper closed it).
        if (accountId !== undefined) await state.forgetNasSession(nas, accountId, coreId);
        if (local !== undefined) this.opts.sessions.close(local.key, now);
        return 'gone';
      }
      const key = local?.key ?? rec!.meta!.key;
      const identities = local?.identities ?? rec!.meta!.ids;
      return await this.lock.run(key, () => this.terminateForNas(coreId, identities, key, accountId, nas, status, tag, when, now));
    } catch (err) {
      this.opts.log.warn({ session: coreId, err: (err as Error).message }, 'cannot close a session of a restarted NAS');
      return 'failed';
    }
  }

  private async terminateForNas(
    coreId: string,
    identities: Identity[],
    key: string,
    accountId: string | undefined,
    nas: string,
    status: AcctStatus,
    tag: string,
    when: number,
    now: number,
  ): Promise<'closed' | 'failed'> {
    const answer = await this.opts.charging.terminate({
      sessionId: coreId,
      requestId: `radius:${status}:${coreId}:${tag}`,
      identities,
      eventTime: when,
      protocol: 'radius',
      items: [{ radiusService: RADIUS_SERVICE, requested: null, used: [] }],
      closeReason: status,
    });
    if (answer.kind === 'unavailable') return 'failed';
    const account = answer.kind === 'ok' ? answer.accountId : accountId;
    if (account !== undefined) await this.opts.state.close(account, coreId, nas, now, status, this.opts.closedTtlMs);
    this.opts.sessions.close(key, now);
    return 'closed';
  }

  /** (Not async: the lock's promise is the report's, one promise fewer on every report.) */
  private sessionReport(packet: RadiusPacket, status: AcctStatus, client: NasClient, source: string): Promise<AcctDecision> {
    const acctSessionId = getString(packet, 'Acct-Session-Id');
    if (acctSessionId === undefined || acctSessionId.length === 0) {
      return Promise.resolve({ kind: 'drop', type: status, reason: 'malformed', detail: 'no Acct-Session-Id' });
    }
    const userName = getString(packet, 'User-Name');
    const nasPort = getNumber(packet, 'NAS-Port');
    const nas = nasIdentity(packet, source);
    const key = sessionKey(nas, nasPort, acctSessionId, userName);
    const known = this.opts.sessions.get(key);
    const report: Report = {
      packet,
      status,
      client,
      source,
      key,
      coreId: known?.coreId ?? coreSessionId(key, acctSessionId),
      acctSessionId,
      userName,
      nasPort,
      nas,
      cls: ourClass(packet),
    };
    // A NAS has one or two reports of a session outstanding (an interim, then the Stop); distinct
    // packets queueing up behind one session's lock are a flood (or a fuzzer), and would only be
    // answered long after their NAS gave up on them, each holding an in-flight slot meanwhile.
    const max = this.opts.maxReportsPerSession;
    const run = this.lock.tryRun(key, max, async (): Promise<AcctDecision> => {
      // An interim of a session whose last report this node took is charged in one step, checked
      // against the counters it left; when another node moved them (or closed the session), the
      // report is charged again from the state read in Redis — which may itself be overtaken once.
      for (let attempt = 0; attempt < 3; attempt++) {
        const d = await this.charge(report, attempt === 0);
        if (d !== 'stateChanged') return d;
      }
      return { kind: 'drop', type: status, reason: 'unavailable', detail: 'the session state kept changing during the report' };
    });
    return run ?? Promise.resolve({ kind: 'drop', type: status, reason: 'busy', detail: `${max} reports of the session already in progress` });
  }

  private async charge(r: Report, allowOneStep: boolean): Promise<AcctDecision | 'stateChanged'> {
    const { packet, status, key, coreId, nas, cls } = r;
    const now = Date.now();
    const { sessions, state } = this.opts;
    let s = sessions.get(key);
    if (s === undefined && status === 'Interim-Update' && sessions.recentlyClosed(key, now)) {
      // A late Interim of a session this node already closed: nothing more to charge. (A Stop is
      // looked up: one its NAS sent before an Accounting-On/Off that closed the session still
      // brings the session's last usage.)
      return { kind: 'respond', type: status, result: 'late' };
    }
    const identities = s?.identities ?? identitiesOf(packet, cls);
    const oneStep = allowOneStep && status === 'Interim-Update' && s?.core !== undefined && s.accountId !== undefined;

    // The session's state in Redis: another node may have taken its reports, or closed it. (One
    // step: read with the charge instead.)
    let snap: SessionSnapshot | undefined;
    let accountId = s?.accountId;
    // A Start of a session this node closed lately: a copy of the closed session's Start (its answer
    // lost, retransmitted after the Stop) opens nothing; a Start made after the close (pppd reusing
    // the key) is a new session.
    if (s === undefined && status === 'Start' && sessions.recentlyClosed(key, now)) {
      accountId = await this.accountOf(coreId, identities);
      const closed = accountId === undefined ? undefined : (await state.snapshot(accountId, coreId, ITEM_KEY, false)).record?.closed;
      if (closed !== undefined && eventTime(packet, now) <= closed.at) return { kind: 'respond', type: status, result: 'late' };
    }
    if (status !== 'Start' && !oneStep) {
      accountId ??= await this.accountOf(coreId, identities);
      if (accountId !== undefined) {
        snap = await state.snapshot(accountId, coreId, ITEM_KEY, false);
        const closed = snap.record?.closed;
        // Closed: the report is late, unless it is the session's Stop, sent before an Accounting-On/Off
        // closed the session for its NAS (that close charged nothing new): then the usage it reports
        // past the totals charged is charged now.
        if (closed !== undefined && !(status === 'Stop' && closed.reason !== 'Stop' && eventTime(packet, now) <= closed.at)) {
          sessions.close(key, now);
          return { kind: 'respond', type: status, result: 'late' };
        }
      }
    }

    if (s === undefined) {
      s = newSession(r, identities, now);
    } else {
      s.nasAddress = r.source;
      s.client = r.client;
    }
    if (snap !== undefined) applySnapshot(s, snap);
    let stored = snap?.record;
    const previous: Counters = { in: s.lastIn, out: s.lastOut, time: s.lastSessionTime };

    const usage = reportedUsage(packet);
    // A report made before the last one charged (a late copy: its Acct-Session-Time is not past the
    // last one) or a Start cannot have wrapped a 32-bit counter: lower counters there are ignored.
    const stale = status === 'Start' || (usage.sessionTime !== undefined && usage.sessionTime <= s.lastSessionTime && s.lastSessionTime > 0);
    const inAdv = advanceCounter(s.lastIn, usage.input, stale);
    const outAdv = advanceCounter(s.lastOut, usage.output, stale);
    if (inAdv.total > Number.MAX_SAFE_INTEGER || outAdv.total > Number.MAX_SAFE_INTEGER) {
      return { kind: 'drop', type: status, reason: 'malformed', detail: 'octet counters beyond 2^53' };
    }
    if (inAdv.backwards || outAdv.backwards) this.opts.log.warn({ session: coreId }, 'octet counter went backwards (Gigawords, or a late report); ignored');
    if (inAdv.wrapped || outAdv.wrapped) this.opts.log.debug({ session: coreId }, '32-bit octet counter wrapped');
    const dIn = inAdv.total - s.lastIn;
    const dOut = outAdv.total - s.lastOut;
    // (a late report's lower session time is not the session's: it never moves the total back)
    const time = Math.max(usage.sessionTime ?? s.lastSessionTime, s.lastSessionTime);
    const dTime = time - s.lastSessionTime;
    const units = s.unit === 'seconds' ? dTime : s.unit === 'octets' ? dIn + dOut : 0;
    const last: Counters = { in: inAdv.total, out: outAdv.total, time };
    const refresh = now - s.refreshedAt > this.opts.recordTtlMs / 4;

    // An interim or a Stop is checked against the core's counters its usage was computed from (kept
    // from this node's last report, or just read), and writes the new totals in the same step; a
    // Stop also the record's closed mark, so that no node takes a late interim for an open session.
    const expect = status === 'Interim-Update' ? (oneStep ? s.core : snap?.core) : status === 'Stop' ? snap?.core : undefined;
    const requestId = accountingRequestId(coreId, status, usage, cls);
    const req: SessionRequest = {
      sessionId: coreId,
      requestId,
      identities: s.identities,
      eventTime: eventTime(packet, now),
      protocol: 'radius',
      items: [
        {
          radiusService: RADIUS_SERVICE,
          requested: status === 'Stop' ? null : 'default',
          // Both units: the core charges the one the plan rates the session in (a session whose Start
          // this node never saw has no unit yet).
          used: units > 0 || dIn + dOut > 0 || dTime > 0 ? [{ units, byUnit: { seconds: dTime, octets: dIn + dOut }, inputOctets: dIn, outputOctets: dOut }] : [],
        },
      ],
      ...(status === 'Stop' ? { closeReason: getEnum(packet, 'Acct-Terminate-Cause') ?? String(getNumber(packet, 'Acct-Terminate-Cause') ?? 'Stop') } : {}),
      ...(expect !== undefined && accountId !== undefined
        ? {
            attached: status === 'Stop'
              ? state.attachedReport(accountId, coreId, expect, last, this.opts.closedTtlMs, { at: now, reason: 'Stop' })
              : state.attachedReport(accountId, coreId, expect, last, refresh ? this.opts.recordTtlMs : undefined),
          }
        : {}),
    };

    let answer: ChargeAnswer;
    let opened = status === 'Start';
    if (status === 'Start') answer = await this.opts.charging.initiate(req);
    else if (status === 'Stop') answer = await this.opts.charging.terminate(req);
    else {
      answer = await this.opts.charging.update(req);
      // Closed or reaped meanwhile: the state in Redis tells which.
      if (oneStep && answer.kind === 'unknownSession') return 'stateChanged';
      // Start lost, or the session reaped meanwhile: open it now with the usage reported since.
      if (answer.kind === 'unknownSession') {
        answer = await this.opts.charging.initiate({ ...req, requestId: `${requestId}:i`, attached: undefined });
        opened = true;
      }
    }

    if (answer.kind === 'stateChanged') {
      s.core = undefined;
      return 'stateChanged';
    }
    if (answer.kind === 'unavailable') return { kind: 'drop', type: status, reason: 'unavailable', detail: answer.reason };
    // Nothing was charged: a value no CDR can hold (NUL, over-long) or usage no line can carry.
    if (answer.kind === 'invalidRequest') return { kind: 'drop', type: status, reason: 'malformed', detail: `${answer.field}: ${answer.reason}` };
    if (answer.kind !== 'ok') {
      // Nobody to charge: answer anyway (retransmitting would not help) and say so in the logs.
      this.opts.log.warn({ session: coreId, status, answer: answer.kind }, 'accounting for an unknown subscriber or session');
      if (status === 'Stop') {
        sessions.close(key, now);
        if (stored !== undefined && s.accountId !== undefined) await state.close(s.accountId, coreId, nas, now, 'Stop', this.opts.closedTtlMs);
      }
      return { kind: 'respond', type: status, result: answer.kind === 'unknownSubscriber' ? 'unknown-subscriber' : 'unknown-session' };
    }

    accountId = answer.accountId;
    s.accountId = accountId;
    s.lastIn = last.in;
    s.lastOut = last.out;
    s.lastSessionTime = last.time;
    // The record as the charge read it (before its write) and the counters the next report is
    // checked against; a retransmission answered from the stored answer brings neither.
    const attached = answer.attached;
    s.core = attached?.counters;
    // A Start that reported nothing leaves the core session it opened at zero: the first interim
    // can go in one step (should the session have moved — a retransmitted Start answered from its
    // stored answer — the check refuses it and the state is read).
    if (status === 'Start' && dIn + dOut === 0 && dTime === 0) s.core = { inO: 0, outO: 0, used: 0 };
    if (attached !== undefined) {
      const rec = RadiusSessionStore.recordOfReport(attached.fields);
      if (oneStep) stored = rec;
      if (rec !== undefined) applyRecord(s, rec);
    }
    if (status === 'Stop' || answer.closed) {
      sessions.close(key, now);
      await state.close(accountId, coreId, nas, now, status === 'Stop' ? 'Stop' : 'closed', this.opts.closedTtlMs);
      return { kind: 'respond', type: status, result: 'ok' };
    }
    const before = { restricted: s.restricted, finalGrantUnits: s.finalGrantUnits, unit: s.unit, nasAddress: stored?.nasAddress };
    sessions.put(s, now);
    const outcome = answer.outcomes[0];
    // A final grant used up by this report: the credit is gone even if a last crumb was granted.
    const finalUsed = s.finalGrantUnits !== undefined && units >= s.finalGrantUnits;
    s.finalGrantUnits = outcome?.kind === 'granted' && outcome.finalUnit ? outcome.units : undefined;
    if (finalUsed && outcome?.kind === 'granted' && outcome.finalUnit) this.opts.enforcer.depleted(s, 'final-unit-used');
    else this.enforce(s, outcome);

    // What changed, to Redis: the whole record when the core session was (re)opened or the
    // record is missing (waited for: Accounting-On on any node must find it), else the new
    // totals (written with the charge when it was checked against the counters) and whatever else
    // changed (not waited for).
    // The core session was opened by this report: it counts from the totals charged before it
    // (none for a Start; those of the reaped session when an interim opens it again).
    if (opened) s.base = status === 'Start' ? ZERO : previous;
    if (stored === undefined || status === 'Start') {
      s.refreshedAt = now;
      await state.open(accountId, coreId, sessionRecord(s), this.opts.recordTtlMs);
      if (++this.starts % PRUNE_EVERY === 0) this.track(state.pruneNas(nas, now - 60_000, PRUNE_SAMPLE));
    } else if (opened) {
      s.refreshedAt = now;
      await state.update(accountId, coreId, { base: s.base, last, ...this.changes(s, before) }, this.opts.recordTtlMs);
    } else {
      if (refresh) s.refreshedAt = now;
      const changes = this.changes(s, before);
      if (attached === undefined) this.track(state.update(accountId, coreId, { last, ...changes }, refresh ? this.opts.recordTtlMs : undefined));
      else if (Object.keys(changes).length > 0) this.track(state.update(accountId, coreId, changes));
    }
    return { kind: 'respond', type: status, result: outcome === undefined ? 'ok' : resultLabel(outcome) };
  }

  /** The record fields a report changed (besides the totals). */
  private changes(s: RadiusSession, before: { restricted: boolean; finalGrantUnits: number | undefined; unit: string; nasAddress: string | undefined }): Parameters<RadiusSessionStore['update']>[2] {
    return {
      ...(s.restricted !== before.restricted ? { restricted: s.restricted } : {}),
      ...(s.finalGrantUnits !== before.finalGrantUnits ? { finalGrantUnits: s.finalGrantUnits ?? null } : {}),
      ...(s.unit !== before.unit ? { unit: s.unit } : {}),
      ...(s.nasAddress !== before.nasAddress ? { nasAddress: s.nasAddress } : {}),
    };
  }

  /** Maps the core's answer for the session onto the NAS: keep going, cap lifted later, or disconnect. */
  private enforce(s: RadiusSession, outcome: ItemOutcome | undefined): void {
    const { enforcer } = this.opts;
    if (outcome === undefined) return;
    switch (outcome.kind) {
      case 'granted':
        s.unit = outcome.unit;
        if (outcome.finalUnit) enforcer.finalGrant(s);
        else s.restricted = false;
        enforcer.checkFairUsage(s, outcome.fairUsage);
        return;
      case 'creditLimitReached':
        enforcer.depleted(s, 'credit-limit-reached');
        return;
      case 'denied':
        enforcer.depleted(s, 'denied');
        return;
      case 'ratingFailed':
        this.opts.log.warn({ session: s.coreId, reason: outcome.reason }, 'RADIUS session cannot be rated');
        return;
      default:
        return;
    }
  }

  /**
   * The account of a session this node has not seen: from the core's session index while the core
   * session is open, else from the subscriber's identity (a late report of a closed session).
   */
  private async accountOf(coreId: string, identities: Identity[]): Promise<string | undefined> {
    const { state } = this.opts;
    const fromIndex = await state.accountOfSession(coreId);
    if (fromIndex !== undefined) return fromIndex;
    for (const id of identities) {
      const a = await state.accountOfIdentity(id.kind, id.value);
      if (a !== undefined) return a;
    }
    return undefined;
  }

  private track(p: Promise<unknown>): void {
    const q = p.catch((err: unknown) => this.opts.log.warn({ err: (err as Error).message }, 'cannot write RADIUS session state'));
    this.writes.add(q);
    void q.finally(() => this.writes.delete(q));
  }
}

/** What identifies one accounting report of a session, worked out once before its lock. */
interface Report {
  readonly packet: RadiusPacket;
  readonly status: AcctStatus;
  readonly client: NasClient;
  readonly source: string;
  readonly key: string;
  readonly coreId: string;
  readonly acctSessionId: string;
  readonly userName: string | undefined;
  readonly nasPort: number | undefined;
  readonly nas: string;
  readonly cls: Buffer | undefined;
}

/** A session this node has not seen before: how to reach it at its NAS (RFC 5176 section 3). */
function newSession(r: Report, identities: Identity[], now: number): RadiusSession {
  const { packet, acctSessionId, userName, nasPort } = r;
  return {
    key: r.key,
    coreId: r.coreId,
    nasIdentity: r.nas,
    nasAddress: r.source,
    client: r.client,
    identities,
    target: {
      acctSessionId,
      ...undecodedText(packet, 'Acct-Session-Id', 'acctSessionIdHex'),
      ...(userName !== undefined ? { userName, ...undecodedText(packet, 'User-Name', 'userNameHex') } : {}),
      ...(nasPort !== undefined ? { nasPort } : {}),
      ...optionalString(packet, 'Framed-IP-Address', 'framedIpAddress'),
      ...optionalString(packet, 'NAS-Identifier', 'nasIdentifier'),
      ...undecodedText(packet, 'NAS-Identifier', 'nasIdentifierHex'),
      ...optionalString(packet, 'NAS-IP-Address', 'nasIpAddress'),
      ...optionalString(packet, 'Calling-Station-Id', 'callingStationId'),
      ...undecodedText(packet, 'Calling-Station-Id', 'callingStationIdHex'),
    },
    unit: 'octets',
    lastIn: 0,
    lastOut: 0,
    lastSessionTime: 0,
    base: ZERO,
    restricted: false,
    fairUsage: 'none',
    startedAt: sentAt(packet, now),
    refreshedAt: 0,
    updatedAt: now,
  };
}

/** When the NAS sent the request, on our clock: arrival minus Acct-Delay-Time (RFC 2866 5.2). */
function sentAt(packet: RadiusPacket, now: number): number {
  const delay = getNumber(packet, 'Acct-Delay-Time') ?? 0;
  return delay > 0 && delay <= 86_400 ? now - delay * 1000 : now;
}

function resultLabel(o: ItemOutcome): string {
  switch (o.kind) {
    case 'granted':
      return o.finalUnit ? 'final-unit' : 'ok';
    case 'creditLimitReached':
      return 'credit-limit-reached';
    case 'ratingFailed':
      return 'rating-failed';
    default:
      return o.kind === 'committed' ? 'ok' : o.kind;
  }
}

/** Identities to charge: the one the session was authorized by (our Class), then User-Name, then Calling-Station-Id. */
function identitiesOf(packet: RadiusPacket, cls: Buffer | undefined): Identity[] {
  const out: Identity[] = [];
  const add = (i: Identity | undefined): void => {
    if (i !== undefined && !out.some((o) => o.kind === i.kind && o.value === i.value)) out.push(i);
  };
  add(parseClass(cls)?.identity);
  const user = getString(packet, 'User-Name');
  if (user !== undefined && user.length > 0) add({ kind: 'username', value: user });
  const msisdn = msisdnFrom(getString(packet, 'Calling-Station-Id'));
  if (msisdn !== undefined) add({ kind: 'msisdn', value: msisdn });
  return out;
}

/** The attribute's octets (hex) when they are not valid UTF-8: the decoded string would not echo them. */
function undecodedText<K extends string>(packet: RadiusPacket, name: string, as: K): { [P in K]?: string } {
  const raw = getOctets(packet, name);
  if (raw === undefined || raw.length === 0 || Buffer.from(raw.toString('utf8'), 'utf8').equals(raw)) return {};
  return { [as]: raw.toString('hex') } as { [P in K]?: string };
}

function optionalString<K extends string>(packet: RadiusPacket, name: string, as: K): { [P in K]?: string } {
  const v = get(packet, name);
  return (typeof v === 'string' && v.length > 0 ? { [as]: v } : {}) as { [P in K]?: string };
}
