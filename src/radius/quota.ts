// What a subscriber's balance affords, to size the caps a NAS enforces by itself (Session-Timeout,
// a vendor volume limit): the core's affordableUnits, sized as the charging script sizes a grant
// (allowances and money in the service's scope, the credit limit, the fee and increments). The
// core stays the authority, charging the real usage at every interim and refusing further grants.

import type { Account } from '../balance/store.js';
import type { ChargingService } from '../core/charging.js';
import type { Identity } from '../core/types.js';
import { UNLIMITED_UNITS } from '../rating/cost.js';
import type { UnitType } from '../rating/plan.js';

/** The RADIUS service name every RADIUS session is rated under (the demo plan matches `radius: '*'`). */
export const RADIUS_SERVICE = 'default';

export type Quote =
  | { readonly kind: 'ok'; readonly accountId: string; readonly unit: UnitType; /** Infinity when free */ readonly affordable: number }
  | { readonly kind: 'unknownSubscriber' }
  | { readonly kind: 'ratingFailed'; readonly reason: string }
  | { readonly kind: 'unavailable'; readonly reason: string };

/** Units of the RADIUS service the account can pay for now (Infinity: the service is free). */
export async function quote(charging: ChargingService, identities: Identity[], account: Account & { reserved: bigint }): Promise<Quote> {
  const a = await charging.affordableUnits(identities, { radiusService: RADIUS_SERVICE }, account);
  // An identity that cannot be charged (NUL, too long) is nobody we know.
  if (a.kind === 'invalidRequest') return { kind: 'unknownSubscriber' };
  if (a.kind !== 'ok') return a;
  return { kind: 'ok', accountId: a.accountId, unit: a.unit, affordable: a.units >= UNLIMITED_UNITS ? Infinity : a.units };
}
