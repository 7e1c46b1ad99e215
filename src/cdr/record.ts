import { OcsError } from '../lib/errors.js'
import { DEFAULT_PAGE, MAX_PAGE, type CdrRecord, type CdrUnit, type UsageTotal } from './types.js'

// Outbox JSON (written by src/balance/lua: writeCdrs / event-charge.lua) → CdrRecord, and the one
// column list both stores use. Amounts arrive as integer strings (cjson would round numbers).

export class CdrFormatError extends Error {
  readonly code = 'OCS_ERR_CDR_FORMAT'
}

const INT = /^-?\d{1,19}$/
const INT64_MAX = 9223372036854775807n
const UNITS = new Set<CdrUnit>(['seconds', 'octets', 'events'])

type Json = Record<string, unknown>

function str(o: Json, k: string, max = 512): string | null {
  const v = o[k]
  if (v === undefined || v === null) return null
  if (typeof v === 'number' && Number.isFinite(v)) return String(v)
  if (typeof v !== 'string') throw new CdrFormatError(`${k}: expected a string`)
  if (v.length > max) throw new CdrFormatError(`${k}: longer than ${max} characters`)
  if (v.includes('\u0000')) throw new CdrFormatError(`${k}: contains a NUL character`)
  return v
}

function required(o: Json, k: string, max?: number): string {
  const v = str(o, k, max)
  if (v === null || v === '') throw new CdrFormatError(`${k}: missing`)
  return v
}

/** An integer that fits a JS number exactly (units, octets, times). */
function int(o: Json, k: string, dflt: number | null = 0): number | null {
  const v = o[k]
  if (v === undefined || v === null || v === '') return dflt
  const s = typeof v === 'number' ? String(v) : v
  if (typeof s !== 'string' || !INT.test(s)) throw new CdrFormatError(`${k}: expected an integer, got ${JSON.stringify(v)}`)
  const n = Number(s)
  if (!Number.isSafeInteger(n)) throw new CdrFormatError(`${k}: ${s} is beyond 2^53`)
  return n
}

/** Money in micro-units, exact. */
function micro(o: Json, k: string, dflt?: bigint): bigint {
  const v = o[k]
  if ((v === undefined || v === null) && dflt !== undefined) return dflt
  const s = typeof v === 'number' && Number.isSafeInteger(v) ? String(v) : v
  if (typeof s !== 'string' || !INT.test(s)) throw new CdrFormatError(`${k}: expected integer micro-units, got ${JSON.stringify(v)}`)
  const n = BigInt(s)
  // BIGINT in both stores; beyond it SQLite's binding would throw on every retry.
  if (n > INT64_MAX || n < -INT64_MAX - 1n) throw new CdrFormatError(`${k}: ${s} does not fit a 64-bit integer`)
  return n
}

/** bucket id → integer string; cjson encodes an empty table as {} (or [] in some builds). */
function amounts(o: Json, k: string): Record<string, string> {
  const v = o[k]
  if (v === undefined || v === null || (Array.isArray(v) && v.length === 0)) return {}
  if (typeof v !== 'object' || Array.isArray(v)) throw new CdrFormatError(`${k}: expected an object`)
  const out: Record<string, string> = {}
  for (const [id, a] of Object.entries(v as Json)) {
    const s = typeof a === 'number' && Number.isSafeInteger(a) ? String(a) : a
    if (typeof s !== 'string' || !INT.test(s)) throw new CdrFormatError(`${k}.${id}: expected an integer string`)
    out[id] = s
  }
  return out
}

/** Parses the `cdr` field of an outbox entry. Throws CdrFormatError on anything that is not a CDR. */
export function parseOutboxCdr(text: string): CdrRecord {
  let o: unknown
  try {
    o = JSON.parse(text)
  } catch {
    throw new CdrFormatError('not JSON')
  }
  if (!o || typeof o !== 'object' || Array.isArray(o)) throw new CdrFormatError('not a JSON object')
  const c = o as Json
  const unitRaw = str(c, 'unit')
  if (unitRaw !== null && !UNITS.has(unitRaw as CdrUnit)) throw new CdrFormatError(`unit: ${unitRaw} is not seconds|octets|events`)
  const unit = unitRaw as CdrUnit | null
  const sub = c.subscriber && typeof c.subscriber === 'object' && !Array.isArray(c.subscriber) ? (c.subscriber as Json) : {}
  const start = int(c, 'start', null)
  const end = int(c, 'end', null)
  if (start === null) throw new CdrFormatError('start: missing')
  if (end === null) throw new CdrFormatError('end: missing')
  const used = int(c, 'used') as number
  const inO = int(c, 'inputOctets') as number
  const outO = int(c, 'outputOctets') as number
  return {
    id: required(c, 'id', 512),
    account: required(c, 'account', 128),
    msisdn: str(sub, 'msisdn'),
    imsi: str(sub, 'imsi'),
    sip: str(sub, 'sip'),
    username: str(sub, 'username'),
    sessionId: str(c, 'sessionId'),
    node: str(c, 'node'),
    protocol: str(c, 'protocol'),
    service: str(c, 'service'),
    ratingGroup: int(c, 'ratingGroup', null),
    serviceId: int(c, 'serviceId', null),
    serviceContext: str(c, 'serviceContext'),
    unit,
    start,
    end,
    durationSeconds: unit === 'seconds' ? used : Math.max(0, Math.round((end - start) / 1000)),
    octetsIn: inO,
    octetsOut: outO,
    events: unit === 'events' ? used : 0,
    used,
    unitsFromBuckets: int(c, 'unitsFromBuckets') as number,
    unitBuckets: amounts(c, 'unitBuckets'),
    destination: str(c, 'destination'),
    destinationName: str(c, 'destinationName'),
    tariff: str(c, 'tariff'),
    planVersion: int(c, 'planVersion', null),
    moneyBuckets: amounts(c, 'moneyBuckets'),
    total: micro(c, 'total'),
    tax: micro(c, 'tax', 0n),
    currency: required(c, 'currency', 8),
    closeReason: str(c, 'closeReason'),
    overage: c.overage === true,
  }
}

/** Column order of the `cdrs` table (migration 1) and of every INSERT. */
export const CDR_COLUMNS = [
  'id', 'account', 'msisdn', 'imsi', 'sip', 'username', 'session_id', 'node', 'protocol', 'service',
  'rating_group', 'service_id', 'service_context', 'unit', 'start_ms', 'end_ms', 'duration_s', 'octets_in',
  'octets_out', 'events', 'used', 'units_from_buckets', 'unit_buckets', 'destination', 'destination_name',
  'tariff', 'plan_version', 'money_buckets', 'total', 'tax', 'currency', 'close_reason', 'overage', 'stored_ms',
] as const

export type CdrColumn = (typeof CDR_COLUMNS)[number]
export type ColumnValue = string | number | bigint | boolean | null

/** A record as column values, in CDR_COLUMNS order. Booleans stay booleans (each store maps them). */
export function recordValues(r: CdrRecord, storedMs: number): ColumnValue[] {
  return [
    r.id, r.account, r.msisdn, r.imsi, r.sip, r.username, r.sessionId, r.node, r.protocol, r.service,
    r.ratingGroup, r.serviceId, r.serviceContext, r.unit, r.start, r.end, r.durationSeconds, r.octetsIn,
    r.octetsOut, r.events, r.used, r.unitsFromBuckets, JSON.stringify(r.unitBuckets), r.destination, r.destinationName,
    r.tariff, r.planVersion, JSON.stringify(r.moneyBuckets), r.total, r.tax, r.currency, r.closeReason, r.overage, storedMs,
  ]
}

/** Columns both stores read, in this order (rows are read as arrays: no per-row object of 33 keys to build twice). */
export const READ_COLUMNS = CDR_COLUMNS.filter((c) => c !== 'stored_ms')
export const SELECT_LIST = READ_COLUMNS.join(', ')
const at = Object.fromEntries(READ_COLUMNS.map((c, i) => [c, i])) as Record<Exclude<CdrColumn, 'stored_ms'>, number>

const num = (v: unknown): number => (v === null || v === undefined ? 0 : Number(v))
const numOrNull = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v))
const big = (v: unknown): bigint => (v === null || v === undefined ? 0n : BigInt(v as string | number | bigint))
const text = (v: unknown): string | null => (v === null || v === undefined ? null : String(v))

function parseAmounts(v: unknown): Record<string, string> {
  if (typeof v !== 'string' || v === '' || v === '{}') return {}
  return JSON.parse(v) as Record<string, string>
}

/**
 * A row in READ_COLUMNS order → record. Integers may come as numbers (SQLite), strings (PostgreSQL
 * int8) or bigints; money is read as text or int8 string and turned into an exact bigint.
 */
export function rowToRecord(a: readonly unknown[]): CdrRecord {
  return {
    id: String(a[at.id]),
    account: String(a[at.account]),
    msisdn: text(a[at.msisdn]),
    imsi: text(a[at.imsi]),
    sip: text(a[at.sip]),
    username: text(a[at.username]),
    sessionId: text(a[at.session_id]),
    node: text(a[at.node]),
    protocol: text(a[at.protocol]),
    service: text(a[at.service]),
    ratingGroup: numOrNull(a[at.rating_group]),
    serviceId: numOrNull(a[at.service_id]),
    serviceContext: text(a[at.service_context]),
    unit: text(a[at.unit]) as CdrUnit | null,
    start: num(a[at.start_ms]),
    end: num(a[at.end_ms]),
    durationSeconds: num(a[at.duration_s]),
    octetsIn: num(a[at.octets_in]),
    octetsOut: num(a[at.octets_out]),
    events: num(a[at.events]),
    used: num(a[at.used]),
    unitsFromBuckets: num(a[at.units_from_buckets]),
    unitBuckets: parseAmounts(a[at.unit_buckets]),
    destination: text(a[at.destination]),
    destinationName: text(a[at.destination_name]),
    tariff: text(a[at.tariff]),
    planVersion: numOrNull(a[at.plan_version]),
    moneyBuckets: parseAmounts(a[at.money_buckets]),
    total: big(a[at.total]),
    tax: big(a[at.tax]),
    currency: String(a[at.currency]),
    closeReason: text(a[at.close_reason]),
    overage: a[at.overage] === true || a[at.overage] === 1 || a[at.overage] === 1n,
  }
}

/** Opaque page cursor: the (end, id) of the last row returned. */
export function encodeCursor(r: Pick<CdrRecord, 'end' | 'id'>): string {
  return Buffer.from(JSON.stringify([r.end, r.id]), 'utf8').toString('base64url')
}

/** Returns null for anything that is not a cursor this module produced. */
export function decodeCursor(cursor: string): { end: number; id: string } | null {
  try {
    const v = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown
    if (Array.isArray(v) && v.length === 2 && Number.isSafeInteger(v[0]) && typeof v[1] === 'string') return { end: v[0] as number, id: v[1] }
  } catch {
    // fall through
  }
  return null
}

export function pageLimit(limit: number | undefined): number {
  if (limit === undefined) return DEFAULT_PAGE
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE) throw new OcsError('OCS_ERR_VALIDATION', `limit: an integer 1…${MAX_PAGE}`, 'limit')
  return limit
}

export function parseCursor(cursor: string): { end: number; id: string } {
  const c = decodeCursor(cursor)
  if (!c) throw new OcsError('OCS_ERR_VALIDATION', 'cursor: not a cursor returned by this API', 'cursor')
  return c
}

export function usageRow(r: Record<string, unknown>): UsageTotal {
  const b = (v: unknown): bigint => (v === null || v === undefined ? 0n : BigInt(v as string | number | bigint))
  return {
    service: r.service === null || r.service === undefined ? null : String(r.service),
    unit: (r.unit ?? null) as UsageTotal['unit'],
    currency: String(r.currency),
    cdrs: Number(r.cdrs),
    used: b(r.used),
    durationSeconds: b(r.duration_s),
    octetsIn: b(r.octets_in),
    octetsOut: b(r.octets_out),
    events: b(r.events),
    total: b(r.total),
    tax: b(r.tax),
  }
}
