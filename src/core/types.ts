import type { IdentityKind } from '../balance/keys.js'
import type { UnitType } from '../rating/plan.js'

// The protocol-neutral charging vocabulary. Front ends (Diameter, RADIUS) translate wire messages
// into these requests and map the closed union of outcomes back to result codes / replies.

export type Protocol = 'diameter' | 'radius' | 'api'

export interface Identity {
  kind: IdentityKind
  value: string
}

/** Usage reported for one rating group. With a tariff change it comes split in two. */
export interface UsedUnits {
  units: number
  /**
   * The same usage in each unit the client counted it in (Diameter USU: CC-Time, the octets,
   * CC-Service-Specific-Units; RADIUS: Acct-Session-Time and the octets). The core charges the one
   * in the unit of the service the plan rates it as, else `units`: a front end cannot tell that unit
   * before rating (a rating group the plan rates by time under a data Service-Context-Id, a RADIUS
   * session whose Start it never saw).
   */
  byUnit?: Partial<Record<UnitType, number>>
  inputOctets?: number
  outputOctets?: number
  /** usage after a Tariff-Time-Change (rated with the tariff valid after the change) */
  afterTariffChange?: boolean
}

export interface ChargeItem {
  serviceContext?: string
  ratingGroup?: number
  serviceId?: number
  /** RADIUS service profile name (RADIUS front end) */
  radiusService?: string
  destination?: string
  /** null/undefined = no new grant wanted; 'default' = the OCS picks; a number = that many units */
  requested?: number | 'default' | null
  used?: UsedUnits[]
}

export interface SessionRequest {
  sessionId: string
  /** idempotency: the same id returns the first answer and changes nothing */
  requestId: string
  /**
   * Position of the request in its session when the protocol numbers them (Diameter
   * CC-Request-Number). A request numbered below the session's latest that is not one of the two
   * answers the session keeps is a late copy (e.g. from a node that stalled before a failover):
   * it is answered `staleRequest` and changes nothing.
   */
  sequence?: number
  identities: Identity[]
  eventTime?: number
  protocol: Protocol
  items: ChargeItem[]
  /** terminate: why the session ended (CDR close reason) */
  closeReason?: string
  /** update or terminate of one item: the front end's own record of the session, handled with the charge */
  attached?: AttachedRecord
  /**
   * initiate/update: how to reach the session's client for server-initiated requests (opaque to the
   * core; Diameter: the peer and the client's host and realm), stored with the session (`rt`) so
   * that any node can send its RAR/ASR, also after the node that took its CCRs restarted. Sent when
   * it is new to the node, not with every update.
   */
  route?: string
}

/**
 * A front end's own record of a session (a Redis hash in the account's slot), read, checked and
 * written in the same atomic step as the charge. The RADIUS front end keeps the cumulative NAS
 * counters there: a report so needs one round trip, and a report computed from counters another
 * node has moved past is refused (`stateChanged`) instead of charged twice.
 */
export interface AttachedRecord {
  key: string
  /** The item's core counters the caller computed its usage against; others: `stateChanged`. */
  expect: CoreCounters
  /** Fields to read (as they were before the write); `read[0]` set and non-empty: closed, `stateChanged`. */
  read: readonly string[]
  /** Field/value pairs to write once charged. */
  write: readonly string[]
  /** Expiry to set on the record (ms). */
  ttlMs?: number
}

/** The core's counters of a session's item: octets in/out and units used since it opened. */
export interface CoreCounters {
  inO: number
  outO: number
  used: number
}

export interface EventRequest {
  requestId: string
  sessionId?: string
  identities: Identity[]
  eventTime?: number
  protocol: Protocol
  /** `requested` or the sum of `used` is the number of units to debit/refund/price */
  items: Array<ChargeItem & { units: number }>
}

/**
 * The plan's fair-usage policy for this rating group once the account's octets in the current
 * billing cycle passed the limit: Diameter turns it into Final-Unit-Indication RESTRICT_ACCESS
 * (Filter-Id) or REDIRECT (Redirect-Server), RADIUS into a CoA-Request. `price` only changes the
 * tariff, which the core already applied.
 */
export interface FairUsageState {
  action: 'restrict' | 'redirect' | 'price'
  filterId?: string
  redirectUrl?: string
}

export type ItemOutcome =
  | { kind: 'granted'; key: string; unit: UnitType; units: number; validity: number; finalUnit: boolean; threshold: number; amount?: bigint; fairUsage?: FairUsageState }
  | { kind: 'committed'; key: string }
  | { kind: 'creditLimitReached'; key: string }
  | { kind: 'denied'; key: string; reason: string }
  | { kind: 'ratingFailed'; key: string; reason: string }
  | { kind: 'refunded'; key: string; amount: bigint }
  | { kind: 'priced'; key: string; unit: UnitType; units: number; amount: bigint; currency: string }

export type ChargeAnswer =
  | {
      kind: 'ok'
      accountId: string
      outcomes: ItemOutcome[]
      charged: bigint
      closed: boolean
      cdrs: number
      /** With SessionRequest.attached: the fields read, and the item's counters after this request. */
      attached?: { fields: Array<string | null>; counters: CoreCounters }
    }
  | { kind: 'unknownSubscriber' }
  | { kind: 'unknownSession' }
  /** a late copy of a request the session has moved past (see SessionRequest.sequence): nothing changed */
  | { kind: 'staleRequest' }
  /** SessionRequest.attached did not match: the record is closed or its counters moved; nothing changed */
  | { kind: 'stateChanged' }
  /** a field that cannot be charged and recorded on a CDR (core/validate.ts): nothing changed */
  | { kind: 'invalidRequest'; field: string; reason: string }
  /** infrastructure failure (Redis away or slow): front ends answer TOO_BUSY / UNABLE_TO_COMPLY or drop */
  | { kind: 'unavailable'; reason: string }

/** Key of a rating group inside a session: stable across requests of that session. */
export function itemKey(i: ChargeItem): string {
  if (i.radiusService !== undefined) return `radius:${i.radiusService}`
  return `rg:${i.ratingGroup ?? '-'}:si:${i.serviceId ?? '-'}`
}

/**
 * Each item key's outcome, in request order. A request may name one service twice (an event with
 * its MSCC repeated: both are charged), so the k-th item of a key gets the k-th outcome of that key,
 * and the last one again when there are fewer (a session script answers once per key).
 */
export function outcomesInOrder(keys: readonly string[], outcomes: Iterable<ItemOutcome>): Array<ItemOutcome | undefined> {
  const byKey = new Map<string, ItemOutcome[]>()
  for (const o of outcomes) {
    const list = byKey.get(o.key)
    if (list === undefined) byKey.set(o.key, [o])
    else list.push(o)
  }
  return keys.map((k) => {
    const list = byKey.get(k)
    return list === undefined ? undefined : list.length > 1 ? list.shift() : list[0]
  })
}
