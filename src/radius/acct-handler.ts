// Accounting-Request → charging session verbs (RFC 2866, RFC 2869). Start initiates a core session
// with a reservation ahead of usage, Interim-Update debits the usage since the previous report and
// reserves again, Stop debits the rest and closes the session (the core writes its CDR).
// Accounting-On/Off closes every open session of that NAS. Counters are cumulative: the delta is
// taken against the last total charged (Gigawords added; a 32-bit counter going backwards without
// Gigawords is a wrap). Idempotent: a retransmission, even re-signed with a new Acct-Delay-Time,
// maps to the same core request id and is charged once.
//
// RFC 2866 section 2: the server answers only once the request is recorded; when charging is
// unavailable there is no answer and the NAS retransmits.

import type { BalanceStore } from '../balance/store.js';
import type { ChargingService } from '../core/charging.js';
import { itemKey, type ChargeAnswer, type Identity, type ItemOutcome, type SessionRequest } from '../core/types.js';
import type { Logger } from '../lib/logger.js';
import type { UnitType } from '../rating/plan.js';
import type { NasClient } from './clients.js';
import { get, getEnum, getNumber, getString, type RadiusPacket } from './codec.js';
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
import type { RadiusSession, SessionTable } from './sessions.js';

/** Acct-Status-Type values (RFC 2866 5.1). */
const STATUS_NAMES: Readonly<Record<number, AcctStatus>> = { 1: 'Start', 2: 'Stop', 3: 'Interim-Update', 7: 'Accounting-On', 8: 'Accounting-Off' };
export type AcctStatus = 'Start' | 'Stop' | 'Interim-Update' | 'Accounting-On' | 'Accounting-Off';

export type AcctDecision =
  /** Answer with an Accounting-Response; `result` is the metric label. */
  | { readonly kind: 'respond'; readonly type: string; readonly result: string }
  /** No answer: `reason` 'unavailable' (the NAS will retransmit) or 'malformed'. */
  | { readonly kind: 'drop'; readonly type: string; readonly reason: 'unavailable' | 'malformed'; readonly detail: string };

export interface AcctHandlerOptions {
  readonly charging: ChargingService;
  readonly store: BalanceStore;
  readonly sessions: SessionTable;
  readonly enforcer: Enforcer;
  readonly log: Logger;
}

const ITEM_KEY = itemKey({ radiusService: RADIUS_SERVICE });

export class AcctHandler {
  private readonly lock = new KeyedLock();

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

  /** Accounting-On/Off: the NAS (re)started or is going down; every session it had is over (RFC 2866 5.1). */
  private async nasRestart(packet: RadiusPacket, status: AcctStatus, source: string): Promise<AcctDecision> {
    const nas = nasIdentity(packet, source);
    const open = this.opts.sessions.ofNas(nas);
    const now = Date.now();
    const when = eventTime(packet, now);
    let failed = 0;
    await Promise.all(
      open.map((s) =>
        this.lock.run(s.key, async () => {
          const answer = await this.opts.charging.terminate({
            sessionId: s.coreId,
            requestId: `radius:${status}:${s.coreId}:${packet.authenticator.toString('base64url')}`,
            identities: s.identities,
            eventTime: when,
            protocol: 'radius',
            items: [{ radiusService: RADIUS_SERVICE, requested: null, used: [] }],
            closeReason: status,
          });
          if (answer.kind === 'unavailable') failed++;
          else this.opts.sessions.close(s.key, now);
        }),
      ),
    );
    if (failed > 0) return { kind: 'drop', type: status, reason: 'unavailable', detail: `${failed} session(s) not closed` };
    this.opts.log.info({ nas, closed: open.length, status }, 'NAS accounting restart: sessions closed');
    return { kind: 'respond', type: status, result: 'ok' };
  }

  private async sessionReport(packet: RadiusPacket, status: AcctStatus, client: NasClient, source: string): Promise<AcctDecision> {
    const acctSessionId = getString(packet, 'Acct-Session-Id');
    if (acctSessionId === undefined || acctSessionId.length === 0) {
      return { kind: 'drop', type: status, reason: 'malformed', detail: 'no Acct-Session-Id' };
    }
    const userName = getString(packet, 'User-Name');
    const nasPort = getNumber(packet, 'NAS-Port');
    const nas = nasIdentity(packet, source);
    const key = sessionKey(nas, nasPort, acctSessionId, userName);
    const coreId = coreSessionId(key, acctSessionId);
    const cls = ourClass(packet);

    return this.lock.run(key, async () => {
      const now = Date.now();
      const { sessions } = this.opts;
      let s = sessions.get(key);
      if (s === undefined && status !== 'Start' && sessions.recentlyClosed(key, now)) {
        // A late Interim/Stop of a session this node already closed: nothing more to charge.
        return { kind: 'respond', type: status, result: 'late' };
      }
      if (s === undefined) {
        s = {
          key,
          coreId,
          nasIdentity: nas,
          nasAddress: source,
          client,
          identities: identitiesOf(packet, cls),
          target: {
            acctSessionId,
            ...(userName !== undefined ? { userName } : {}),
            ...(nasPort !== undefined ? { nasPort } : {}),
            ...optionalString(packet, 'Framed-IP-Address', 'framedIpAddress'),
            ...optionalString(packet, 'NAS-Identifier', 'nasIdentifier'),
            ...optionalString(packet, 'NAS-IP-Address', 'nasIpAddress'),
            ...optionalString(packet, 'Calling-Station-Id', 'callingStationId'),
          },
          unit: 'octets',
          lastIn: 0,
          lastOut: 0,
          lastSessionTime: 0,
          restricted: false,
          fairUsage: 'none',
          disconnecting: false,
          updatedAt: now,
        };
        // Another node (or this one before a restart) may have charged part of this session already.
        if (status !== 'Start') await this.recover(s);
      } else {
        s.nasAddress = source;
        s.client = client;
      }

      const usage = reportedUsage(packet);
      const inAdv = advanceCounter(s.lastIn, usage.input);
      const outAdv = advanceCounter(s.lastOut, usage.output);
      if (inAdv.total > Number.MAX_SAFE_INTEGER || outAdv.total > Number.MAX_SAFE_INTEGER) {
        return { kind: 'drop', type: status, reason: 'malformed', detail: 'octet counters beyond 2^53' } as AcctDecision;
      }
      if (inAdv.backwards || outAdv.backwards) this.opts.log.warn({ session: coreId }, 'octet counter went backwards with Gigawords; ignored');
      if (inAdv.wrapped || outAdv.wrapped) this.opts.log.debug({ session: coreId }, '32-bit octet counter wrapped');
      const dIn = inAdv.total - s.lastIn;
      const dOut = outAdv.total - s.lastOut;
      const time = usage.sessionTime ?? s.lastSessionTime;
      const dTime = Math.max(0, time - s.lastSessionTime);
      const units = s.unit === 'seconds' ? dTime : s.unit === 'octets' ? dIn + dOut : 0;

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
            used: units > 0 || dIn + dOut > 0 ? [{ units, inputOctets: dIn, outputOctets: dOut }] : [],
          },
        ],
        ...(status === 'Stop' ? { closeReason: getEnum(packet, 'Acct-Terminate-Cause') ?? String(getNumber(packet, 'Acct-Terminate-Cause') ?? 'Stop') } : {}),
      };

      let answer: ChargeAnswer;
      if (status === 'Start') answer = await this.opts.charging.initiate(req);
      else if (status === 'Stop') answer = await this.opts.charging.terminate(req);
      else {
        answer = await this.opts.charging.update(req);
        // Start lost, or the session reaped meanwhile: open it now with the usage reported so far.
        if (answer.kind === 'unknownSession') answer = await this.opts.charging.initiate({ ...req, requestId: `${requestId}:i` });
      }

      if (answer.kind === 'unavailable') return { kind: 'drop', type: status, reason: 'unavailable', detail: answer.reason } as AcctDecision;
      if (answer.kind !== 'ok') {
        // Nobody to charge: answer anyway (retransmitting would not help) and say so in the logs.
        this.opts.log.warn({ session: coreId, status, answer: answer.kind }, 'accounting for an unknown subscriber or session');
        if (status === 'Stop') sessions.close(key, now);
        return { kind: 'respond', type: status, result: answer.kind === 'unknownSubscriber' ? 'unknown-subscriber' : 'unknown-session' };
      }

      s.accountId = answer.accountId;
      s.lastIn = inAdv.total;
      s.lastOut = outAdv.total;
      s.lastSessionTime = time;
      if (status === 'Stop' || answer.closed) {
        sessions.close(key, now);
        return { kind: 'respond', type: status, result: 'ok' };
      }
      sessions.put(s, now);
      const outcome = answer.outcomes[0];
      // A final grant used up by this report: the credit is gone even if a last crumb was granted.
      const finalUsed = s.finalGrantUnits !== undefined && units >= s.finalGrantUnits;
      s.finalGrantUnits = outcome?.kind === 'granted' && outcome.finalUnit ? outcome.units : undefined;
      if (finalUsed && outcome?.kind === 'granted' && outcome.finalUnit) this.opts.enforcer.depleted(s, 'final-unit-used');
      else this.enforce(s, outcome);
      return { kind: 'respond', type: status, result: outcome === undefined ? 'ok' : resultLabel(outcome) };
    });
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
        enforcer.checkFairUsage(s);
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

  /** Counters charged so far, from the core's session (the truth when another node saw earlier reports). */
  private async recover(s: RadiusSession): Promise<void> {
    const accountId = await this.opts.store.sessionAccount(s.coreId);
    if (accountId === undefined) return;
    for (const sess of await this.opts.store.listSessions(accountId)) {
      if (sess.id !== s.coreId) continue;
      const rg = (sess.rgs as Record<string, { inO?: number; outO?: number; used?: number; unit?: UnitType }> | undefined)?.[ITEM_KEY];
      if (rg === undefined) return;
      s.lastIn = Number(rg.inO ?? 0);
      s.lastOut = Number(rg.outO ?? 0);
      if (rg.unit !== undefined) s.unit = rg.unit;
      if (rg.unit === 'seconds') s.lastSessionTime = Number(rg.used ?? 0);
      return;
    }
  }
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

function optionalString<K extends string>(packet: RadiusPacket, name: string, as: K): { [P in K]?: string } {
  const v = get(packet, name);
  return (typeof v === 'string' && v.length > 0 ? { [as]: v } : {}) as { [P in K]?: string };
}
