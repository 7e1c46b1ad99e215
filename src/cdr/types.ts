import type { Readable } from 'node:stream'

// The billing-store vocabulary shared by the outbox worker, both stores and the API.
// Money is integer micro-units (bigint); times are milliseconds since the epoch.

export type CdrUnit = 'seconds' | 'octets' | 'events'

/** One charged session (per rating group) or event, as a billing-store row. */
export interface CdrRecord {
  /**
   * unique forever (primary key): `<session>#<start>#<n>#<account>#<rating group key>` (n: the account's
   * session number; without it for sessions opened before it existed), `ev#<request>#<time>#<account>#<item key>`
   * or `fee#<account>#<cycle>#<fee name>`
   */
  id: string
  account: string
  msisdn: string | null
  imsi: string | null
  sip: string | null
  username: string | null
  sessionId: string | null
  /** the OCS node that closed the session */
  node: string | null
  protocol: string | null
  service: string | null
  ratingGroup: number | null
  serviceId: number | null
  serviceContext: string | null
  unit: CdrUnit | null
  /** ms epoch */
  start: number
  /** ms epoch; the CDR belongs to the billing period of its end time */
  end: number
  /** seconds used for a time service, wall-clock session length otherwise */
  durationSeconds: number
  octetsIn: number
  octetsOut: number
  /** events for an event service, else 0 */
  events: number
  /** units used in the CDR's own unit */
  used: number
  /** units paid from unit buckets (allowances) rather than money */
  unitsFromBuckets: number
  /** bucket id → units (integer strings) */
  unitBuckets: Record<string, string>
  destination: string | null
  destinationName: string | null
  tariff: string | null
  planVersion: number | null
  /** bucket id → micro-units (integer strings; negative for refunds) */
  moneyBuckets: Record<string, string>
  /** micro-units, negative for refunds */
  total: bigint
  /** micro-units */
  tax: bigint
  currency: string
  closeReason: string | null
  /** usage beyond the grant or past the credit limit */
  overage: boolean
}

/** An outbox entry that is not a valid CDR: kept in the store (cdr_rejects) for the operator, never dropped. */
export interface RejectedEntry {
  /** the outbox stream key */
  stream: string
  /** the stream entry id */
  entryId: string
  raw: string
  error: string
}

export interface CdrFilter {
  account?: string
  /** ms epoch, inclusive, compared with the end time */
  from?: number
  /** ms epoch, exclusive, compared with the end time */
  to?: number
}

export interface CdrQuery extends CdrFilter {
  /** opaque, from the previous page's `next` */
  cursor?: string
  /** 1…1000 */
  limit?: number
}

export interface CdrPage {
  cdrs: CdrRecord[]
  /** cursor of the next page, null on the last one */
  next: string | null
}

/** Totals of one service (in one unit and currency) over a period. */
export interface UsageTotal {
  service: string | null
  unit: CdrUnit | null
  currency: string
  cdrs: number
  used: bigint
  durationSeconds: bigint
  octetsIn: bigint
  octetsOut: bigint
  events: bigint
  total: bigint
  tax: bigint
}

export interface InsertResult {
  /** rows that were new (a replayed CDR id counts 0) */
  written: number
  rejected: number
}

/** The postpaid billing store: SQLite (default) or PostgreSQL, same schema, same behaviour. */
export interface BillingStore {
  readonly kind: 'sqlite' | 'postgres'
  /** applies the versioned migrations that are missing; safe to run from several processes */
  migrate(): Promise<void>
  /** one transaction; idempotent on the CDR id (ON CONFLICT DO NOTHING) */
  insertBatch(cdrs: readonly CdrRecord[], rejects?: readonly RejectedEntry[]): Promise<InsertResult>
  /** a page ordered by (end, id), with the cursor of the next page */
  query(q: CdrQuery): Promise<CdrPage>
  /** how many CDRs match */
  count(filter: CdrFilter): Promise<number>
  /** every matching CDR in (end, id) order, fetched in bounded chunks (never the whole result at once) */
  iterate(filter: CdrFilter): AsyncIterable<CdrRecord>
  /** CSV (header row first) of every matching CDR, streamed with back-pressure */
  streamCsv(filter: CdrFilter): Readable
  /** totals per service over [from, to) of the end time */
  usage(account: string, from?: number, to?: number): Promise<UsageTotal[]>
  /** rejected outbox entries, newest first (operator view) */
  rejects(limit?: number): Promise<RejectedEntry[]>
  ping(): Promise<void>
  close(): Promise<void>
}

export const MAX_PAGE = 1000
export const DEFAULT_PAGE = 100
