// What a subscriber's balance affords, to size the caps a NAS enforces by itself (Session-Timeout,
// a vendor volume limit). An estimate from the core's read-only verbs (checkBalance, priceEnquiry):
// the core stays the authority, charging the real usage at every interim and refusing further
// grants. Integer arithmetic only.

import type { Account } from '../balance/store.js';
import type { ChargingService } from '../core/charging.js';
import type { Identity } from '../core/types.js';
import type { UnitType } from '../rating/plan.js';

/** The RADIUS service name every RADIUS session is rated under (the demo plan matches `radius: '*'`). */
export const RADIUS_SERVICE = 'default';

/** Units priced to learn the rate: large enough that increments and fees barely matter. */
const PROBE_UNITS = 2 ** 30;

export type Quote =
  | { readonly kind: 'ok'; readonly accountId: string; readonly unit: UnitType; /** Infinity when free */ readonly affordable: number }
  | { readonly kind: 'unknownSubscriber' }
  | { readonly kind: 'ratingFailed'; readonly reason: string }
  | { readonly kind: 'unavailable'; readonly reason: string };

/**
 * Units of the RADIUS service the account can pay for now: its unit buckets of that kind plus
 * what its money (balance, plus the credit limit of a postpaid account) buys at the plan's price.
 */
export async function quote(charging: ChargingService, identities: Identity[], account: Account & { reserved: bigint }): Promise<Quote> {
  const creditLimit = account.creditLimit;
  // The caller has just read the account: neither verb looks the subscriber up again.
  const price = await charging.priceEnquiry(
    {
      requestId: 'radius-quote',
      identities,
      protocol: 'radius',
      items: [{ radiusService: RADIUS_SERVICE, units: PROBE_UNITS }],
    },
    account.id,
  );
  // An identity that cannot be charged (NUL, too long) is nobody we know.
  if (price.kind !== 'ok') return price.kind === 'unavailable' || price.kind === 'unknownSubscriber' ? price : { kind: 'unknownSubscriber' };
  const priced = price.outcomes[0];
  if (priced === undefined) return { kind: 'ratingFailed', reason: 'no price' };
  if (priced.kind === 'ratingFailed') return { kind: 'ratingFailed', reason: priced.reason };
  if (priced.kind !== 'priced') return { kind: 'ratingFailed', reason: priced.kind };
  const bal = await charging.checkBalance(identities, account);
  if (bal.kind !== 'balance') return bal;
  const unitsHeld = priced.unit === 'events' ? bal.units.events : priced.unit === 'seconds' ? bal.units.seconds : bal.units.octets;
  if (priced.amount <= 0n) return { kind: 'ok', accountId: bal.accountId, unit: priced.unit, affordable: Infinity };
  let money = bal.balance + (creditLimit > 0n ? creditLimit : 0n);
  if (money < 0n) money = 0n;
  const fromMoney = (money * BigInt(PROBE_UNITS)) / priced.amount;
  const total = BigInt(unitsHeld) + fromMoney;
  const affordable = total > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(total);
  return { kind: 'ok', accountId: bal.accountId, unit: priced.unit, affordable };
}
