// Access-Request → Access-Accept / Access-Reject (RFC 2865). Identifies the subscriber (User-Name
// with PAP or CHAP, or Calling-Station-Id as an MSISDN when the request carries no password),
// checks the account status and what the balance affords, and answers with the NAS profile's
// attributes. One table maps every refusal to its Reply-Message.

import { BalanceStore } from '../balance/store.js';
import type { ChargingService } from '../core/charging.js';
import type { Identity } from '../core/types.js';
import type { Logger } from '../lib/logger.js';
import type { SecretBox } from '../lib/secrets.js';
import { passwordsEqual, userPassword, verifyChap } from './authenticator.js';
import type { NasClient } from './clients.js';
import { getAttribute, getString, type RadiusAttributeInput, type RadiusPacket } from './codec.js';
import { quote } from './quota.js';
import { makeClass, msisdnFrom } from './session.js';

export type RejectReason =
  | 'unknown-subscriber'
  | 'bad-password'
  | 'no-credentials'
  | 'chap-unavailable'
  | 'barred'
  | 'suspended'
  | 'out-of-credit'
  | 'no-tariff';

/** What the subscriber is told (Reply-Message). Unknown user and wrong password read alike on purpose. */
export const REJECT_MESSAGES: Readonly<Record<RejectReason, string>> = {
  'unknown-subscriber': 'Authentication failed',
  'bad-password': 'Authentication failed',
  'no-credentials': 'Authentication failed',
  'chap-unavailable': 'Authentication failed',
  barred: 'Account barred',
  suspended: 'Account suspended',
  'out-of-credit': 'Out of credit',
  'no-tariff': 'Service not available on your plan',
};

export type AuthDecision =
  | { readonly kind: 'accept'; readonly attributes: RadiusAttributeInput[]; readonly accountId: string }
  | { readonly kind: 'reject'; readonly reason: RejectReason }
  /** Charging or the store is unavailable: no answer, the NAS retries or fails over. */
  | { readonly kind: 'drop'; readonly reason: string };

export interface AuthHandlerOptions {
  readonly charging: ChargingService;
  readonly store: BalanceStore;
  readonly secrets: SecretBox;
  readonly log: Logger;
  readonly interimIntervalSeconds: number;
  /** Line rate assumed to turn affordable octets into a Session-Timeout for NAS without CoA (pppd). */
  readonly lineRateBitsPerSecond: number;
  /** Upper bound of any Session-Timeout we send. */
  readonly maxSessionTimeoutSeconds: number;
}

/** RFC 2865 5.29 Termination-Action RADIUS-Request: at Session-Timeout the NAS asks again instead of ending the service. */
const TERMINATION_RADIUS_REQUEST = 'RADIUS-Request';

export class AuthHandler {
  constructor(private readonly opts: AuthHandlerOptions) {}

  async handle(packet: RadiusPacket, client: NasClient): Promise<AuthDecision> {
    try {
      return await this.decide(packet, client);
    } catch (err) {
      // Redis away or slow: never an Access-Reject for an infrastructure failure.
      return { kind: 'drop', reason: err instanceof Error ? err.message : String(err) };
    }
  }

  private async decide(packet: RadiusPacket, client: NasClient): Promise<AuthDecision> {
    const { store } = this.opts;
    const userName = getString(packet, 'User-Name');
    const hasPap = getAttribute(packet, 'User-Password') !== undefined;
    const hasChap = getAttribute(packet, 'CHAP-Password') !== undefined;

    let identity: Identity;
    if (hasPap || hasChap) {
      if (userName === undefined || userName.length === 0) return { kind: 'reject', reason: 'no-credentials' };
      identity = { kind: 'username', value: userName };
    } else {
      // No password: the NAS vouches for the caller (e.g. a number- or MAC-authenticated line).
      const msisdn = msisdnFrom(getString(packet, 'Calling-Station-Id'));
      if (msisdn === undefined) return { kind: 'reject', reason: 'no-credentials' };
      identity = { kind: 'msisdn', value: msisdn };
    }

    const hit = await store.resolveIdentity(identity.kind, identity.value);
    if (hit === undefined) return { kind: 'reject', reason: 'unknown-subscriber' };

    // Both reads at once; checked in order below (credentials first).
    const [sub, account] = await Promise.all([hasPap || hasChap ? store.getSubscriber(hit.subscriber) : undefined, store.getAccount(hit.account)]);
    if (hasPap || hasChap) {
      if (sub === undefined) return { kind: 'reject', reason: 'unknown-subscriber' };
      const clear = this.openPassword(sub.passwordSealed);
      if (hasPap) {
        let given: Buffer | undefined;
        try {
          given = userPassword(packet, client.secret);
        } catch {
          return { kind: 'reject', reason: 'bad-password' };
        }
        if (given === undefined) return { kind: 'reject', reason: 'bad-password' };
        let ok = false;
        if (clear !== undefined) ok = passwordsEqual(given, clear);
        else if (sub.passwordHash !== undefined) ok = await BalanceStore.verifyPassword(given.toString('utf8'), sub.passwordHash);
        if (!ok) return { kind: 'reject', reason: 'bad-password' };
      } else {
        // CHAP needs the clear-text password; a subscriber with only a hash cannot use it.
        if (clear === undefined) return { kind: 'reject', reason: 'chap-unavailable' };
        if (verifyChap(packet, clear) !== true) return { kind: 'reject', reason: 'bad-password' };
      }
    }

    if (account === undefined) return { kind: 'reject', reason: 'unknown-subscriber' };
    if (account.status === 'barred') return { kind: 'reject', reason: 'barred' };
    if (account.status !== 'active') return { kind: 'reject', reason: 'suspended' };

    const q = await quote(this.opts.charging, [identity], account);
    if (q.kind === 'unavailable') return { kind: 'drop', reason: q.reason };
    if (q.kind === 'unknownSubscriber') return { kind: 'reject', reason: 'unknown-subscriber' };
    if (q.kind === 'ratingFailed') return { kind: 'reject', reason: 'no-tariff' };
    if (!(q.affordable > 0)) return { kind: 'reject', reason: 'out-of-credit' };

    return { kind: 'accept', accountId: hit.account, attributes: this.acceptAttributes(client, identity, q.unit, q.affordable) };
  }

  /** Session-Timeout / vendor volume cap from what the balance affords, per NAS profile. */
  acceptAttributes(client: NasClient, identity: Identity, unit: string, affordable: number): RadiusAttributeInput[] {
    const { profile } = client;
    const attrs: RadiusAttributeInput[] = [];
    const sessionTimeout = this.sessionTimeout(client, unit, affordable);
    if (sessionTimeout !== undefined) attrs.push(['Session-Timeout', sessionTimeout]);
    attrs.push(['Termination-Action', TERMINATION_RADIUS_REQUEST]);
    attrs.push(['Acct-Interim-Interval', Math.max(profile.minInterimSeconds, this.opts.interimIntervalSeconds)]);
    attrs.push(['Class', makeClass(identity)]);
    if (unit === 'octets' && profile.enforcement === 'volume-attribute' && Number.isFinite(affordable)) {
      attrs.push(...profile.volumeQuota(affordable));
    }
    return attrs;
  }

  private sessionTimeout(client: NasClient, unit: string, affordable: number): number | undefined {
    const max = this.opts.maxSessionTimeoutSeconds;
    if (!Number.isFinite(affordable)) return undefined;
    if (unit === 'seconds') return Math.max(1, Math.min(max, Math.floor(affordable)));
    if (unit === 'octets' && client.profile.enforcement === 'session-timeout') {
      // No CoA listener: the session may run only as long as the balance lasts at full line rate.
      const bytesPerSecond = Math.max(1, Math.floor(this.opts.lineRateBitsPerSecond / 8));
      return Math.max(1, Math.min(max, Math.floor(affordable / bytesPerSecond)));
    }
    return undefined;
  }

  private openPassword(sealed: string | undefined): string | undefined {
    if (sealed === undefined) return undefined;
    try {
      return this.opts.secrets.open(sealed);
    } catch {
      // Sealed under another key (misconfigured node): fall back to the hash for PAP.
      this.opts.log.warn('subscriber password cannot be unsealed with this node\'s secrets key');
      return undefined;
    }
  }
}
