// Pure helpers for RADIUS accounting sessions: the session key, the core session id, cumulative
// counters (Gigawords, 32-bit wrap), idempotent request ids, and the Class we hand out.
// No sockets, no clock (callers pass `now`), no Redis.

import { randomBytes } from 'node:crypto';

import { digestBase64url } from '../lib/digest.js';

import type { Identity } from '../core/types.js';
import { get, getNumber, getString, type RadiusPacket } from './codec.js';

const GIGAWORD = 2 ** 32;

/**
 * Who the NAS is, as accounting can tell: NAS-Identifier, else NAS-IP-Address / NAS-IPv6-Address,
 * else the datagram's source address (RFC 2865 5.4 / 5.32: a request carries at least one of the
 * first two; pppd sends NAS-Identifier only).
 */
export function nasIdentity(packet: RadiusPacket, sourceAddress: string): string {
  const id = getString(packet, 'NAS-Identifier');
  if (id !== undefined && id.length > 0) return `id:${id}`;
  const ip = get(packet, 'NAS-IP-Address') ?? get(packet, 'NAS-IPv6-Address');
  if (typeof ip === 'string') return `ip:${ip}`;
  return `src:${sourceAddress}`;
}

/**
 * The key of one RADIUS session: NAS identity + NAS-Port + Acct-Session-Id + User-Name.
 * pppd 2.4.9 repeats its Acct-Session-Id for sessions started in the same second (even of one
 * user), so the Acct-Session-Id alone never identifies a session; NAS-Port and User-Name keep two
 * users' sessions apart.
 */
export function sessionKey(nas: string, nasPort: number | undefined, acctSessionId: string, userName: string | undefined): string {
  return `${escapeKeyPart(nas)}|${nasPort === undefined ? '-' : nasPort}|${escapeKeyPart(acctSessionId)}|${userName === undefined ? '-' : escapeKeyPart(userName)}`;
}

/** A part of a session key with its backslashes and bars escaped (nearly always neither: the part as it is). */
function escapeKeyPart(p: string): string {
  return p.includes('\\') || p.includes('|') ? p.replace(/\\/g, '\\\\').replace(/\|/g, '\\|') : p;
}

/** The core session id of a RADIUS session: readable Acct-Session-Id prefix + a digest of the whole key. */
export function coreSessionId(key: string, acctSessionId: string): string {
  const digest = digestBase64url('sha256', key).slice(0, 22);
  const readable = acctSessionId.replace(/[^A-Za-z0-9._%-]/g, '_').slice(0, 48);
  return `radius:${readable}:${digest}`;
}

/** A counter as reported: the low 32 bits and the Gigawords count, each undefined when the NAS left it out. */
export interface ReportedCounter {
  readonly low: number | undefined;
  readonly gigawords: number | undefined;
}

export interface ReportedUsage {
  readonly input: ReportedCounter;
  readonly output: ReportedCounter;
  readonly sessionTime: number | undefined;
}

export function reportedUsage(packet: RadiusPacket): ReportedUsage {
  return {
    input: { low: getNumber(packet, 'Acct-Input-Octets'), gigawords: getNumber(packet, 'Acct-Input-Gigawords') },
    output: { low: getNumber(packet, 'Acct-Output-Octets'), gigawords: getNumber(packet, 'Acct-Output-Gigawords') },
    sessionTime: getNumber(packet, 'Acct-Session-Time'),
  };
}

export interface AdvancedCounter {
  /** The new cumulative total (never below the previous one). */
  readonly total: number;
  /** The counter was taken as having wrapped past 2^32 since the last report (no Gigawords). */
  readonly wrapped: boolean;
  /** Less than before, and not a wrap (Gigawords sent, or a stale report): ignored, nothing is refunded. */
  readonly backwards: boolean;
}

/**
 * The cumulative total a report stands for, given the previous total. RFC 2866 counters are
 * cumulative for the session; RFC 2869 5.1/5.2 Gigawords count the 2^32 wraps. A NAS without
 * Gigawords (pppd) has 32-bit counters that wrap at 4 GiB: a low value below the previous low
 * value is a wrap, never negative usage (SPEC "What real NAS send") — unless the report is `stale`
 * (the caller knows it was made before the last one it charged, e.g. by its Acct-Session-Time, or
 * it is a Start): a late copy of an earlier report is not 4 GiB of new usage. A counter the NAS
 * left out reports nothing: the total stays.
 */
export function advanceCounter(previous: number, reported: ReportedCounter, stale = false): AdvancedCounter {
  if (reported.gigawords !== undefined) {
    const total = reported.gigawords * GIGAWORD + (reported.low ?? 0);
    if (total < previous) return { total: previous, wrapped: false, backwards: true };
    return { total, wrapped: false, backwards: false };
  }
  if (reported.low === undefined) return { total: previous, wrapped: false, backwards: false };
  const base = previous - (previous % GIGAWORD);
  let total = base + reported.low;
  let wrapped = false;
  if (total < previous) {
    if (stale) return { total: previous, wrapped: false, backwards: true };
    total += GIGAWORD;
    wrapped = true;
  }
  return { total, wrapped, backwards: false };
}

/**
 * The idempotency id of one accounting report: the session, what the report says (status,
 * counters as sent, session time) and the Class of the authorization. Acct-Delay-Time, the
 * Identifier and the authenticator are left out, so a retransmission the NAS re-signed with a new
 * Acct-Delay-Time is still the same request and is charged once.
 */
export function accountingRequestId(coreId: string, status: string, usage: ReportedUsage, cls: Buffer | undefined): string {
  // (a counter left out reads as 0 here, as it did before ReportedCounter.low could be undefined: the same ids)
  const text = `${coreId}\0${status}\0${usage.input.low ?? 0}/${usage.input.gigawords ?? '-'}/${usage.output.low ?? 0}/${usage.output.gigawords ?? '-'}/${usage.sessionTime ?? '-'}\0`;
  // The same octets as hashing the text then the Class, laid out in one scratch buffer for a
  // one-shot digest (this runs for every accounting request).
  const n = Buffer.byteLength(text) + (cls?.length ?? 0);
  let input: Buffer;
  if (n <= ID_INPUT.length) {
    const end = ID_INPUT.write(text, 0, 'utf8');
    if (cls !== undefined) cls.copy(ID_INPUT, end);
    input = ID_INPUT.subarray(0, n);
  } else {
    input = cls === undefined ? Buffer.from(text, 'utf8') : Buffer.concat([Buffer.from(text, 'utf8'), cls]);
  }
  return `radius:${digestBase64url('sha256', input).slice(0, 32)}`;
}
/** Room for the id text of a report (session key parts are at most 253 octets each) and a Class. */
const ID_INPUT = Buffer.alloc(4096);

/**
 * When the reported event happened: Event-Timestamp when the NAS sent one (RFC 2869 5.3), else
 * the arrival time minus Acct-Delay-Time (RFC 2866 5.2: how long the NAS has been trying to send).
 * A delay above a day is taken as a NAS bug and ignored.
 */
export function eventTime(packet: RadiusPacket, now: number): number {
  const ts = get(packet, 'Event-Timestamp');
  if (ts instanceof Date && Number.isFinite(ts.getTime()) && ts.getTime() > 0 && ts.getTime() <= now + 60_000) return ts.getTime();
  const delay = getNumber(packet, 'Acct-Delay-Time') ?? 0;
  if (delay > 0 && delay <= 86_400) return now - delay * 1000;
  return now;
}

// ---------------------------------------------------------------------------------------------
// Class (RFC 2865 5.25): opaque to the NAS, echoed unmodified in accounting. Ours carries a
// nonce (each authorization is distinct) and the identity the subscriber was authorized by, so
// any OCS node can charge the accounting of a session another node authorized, even when the
// accounting User-Name differs (e.g. a MAC-authenticated hotspot user).

const CLASS_PREFIX = 'ocs1:';
const CLASS_KINDS: Readonly<Record<string, Identity['kind']>> = { u: 'username', m: 'msisdn', i: 'imsi', s: 'sip' };
const KIND_CODES: Readonly<Record<Identity['kind'], string>> = { username: 'u', msisdn: 'm', imsi: 'i', sip: 's' };

export function makeClass(identity: Identity, nonce: Buffer = randomBytes(9)): Buffer {
  const head = `${CLASS_PREFIX}${nonce.toString('base64url')}:${KIND_CODES[identity.kind]}:`;
  const value = Buffer.from(identity.value, 'utf8');
  // 253 octets at most; an identity too long to fit is left out (accounting then uses User-Name).
  if (Buffer.byteLength(head) + value.length > 253) return Buffer.from(`${CLASS_PREFIX}${nonce.toString('base64url')}:-:`);
  return Buffer.concat([Buffer.from(head), value]);
}

/** The identity inside one of our Class values, or undefined (not ours, or carries none). */
export function parseClass(cls: Buffer | undefined): { identity?: Identity } | undefined {
  if (cls === undefined || cls.length < CLASS_PREFIX.length + 4) return undefined;
  if (cls.subarray(0, CLASS_PREFIX.length).toString('latin1') !== CLASS_PREFIX) return undefined;
  const text = cls.toString('utf8');
  const rest = text.slice(CLASS_PREFIX.length);
  const a = rest.indexOf(':');
  if (a < 0) return undefined;
  const b = rest.indexOf(':', a + 1);
  if (b < 0) return undefined;
  const kind = CLASS_KINDS[rest.slice(a + 1, b)];
  const value = rest.slice(b + 1);
  if (kind === undefined || value.length === 0) return {};
  return { identity: { kind, value } };
}

/** Every Class of a packet is echoed; ours is the one with our prefix. */
export function ourClass(packet: RadiusPacket): Buffer | undefined {
  for (const a of packet.attributes) {
    if (a.name === 'Class' && a.raw.length >= CLASS_PREFIX.length && a.raw.subarray(0, CLASS_PREFIX.length).toString('latin1') === CLASS_PREFIX) return a.raw;
  }
  return undefined;
}

/**
 * E.164 digits from a Calling-Station-Id such as "+46700000001"; undefined for anything else (a
 * MAC address "00-11-22-33-44-55" is not a number with the dashes removed).
 */
export function msisdnFrom(callingStationId: string | undefined): string | undefined {
  if (callingStationId === undefined) return undefined;
  const m = /^\+?([0-9]{5,15})$/.exec(callingStationId.replace(/ /g, ''));
  return m ? m[1] : undefined;
}
