import { Readable } from 'node:stream'
import { formatMoney } from '../lib/money.js'
import type { CdrRecord } from './types.js'

// CSV export (RFC 4180: comma, CRLF, quotes doubled). Money as decimal strings, times ISO 8601 UTC.

export const CSV_HEADER = [
  'id', 'account', 'msisdn', 'imsi', 'sip', 'username', 'session_id', 'node', 'protocol', 'service',
  'rating_group', 'service_id', 'service_context', 'unit', 'start', 'end', 'duration_s', 'octets_in',
  'octets_out', 'events', 'used', 'units_from_buckets', 'destination', 'destination_name', 'tariff', 'plan_version',
  'total', 'tax', 'currency', 'close_reason', 'overage', 'money_buckets', 'unit_buckets',
] as const

function field(v: string | number | null): string {
  if (v === null) return ''
  const s = String(v)
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s
}

/** Bucket amounts as `main=-0.100000;promo=0.050000` (money) or `bundle=60` (units). */
function buckets(m: Record<string, string>, asMoney: boolean): string {
  return Object.entries(m)
    .map(([k, v]) => `${k}=${asMoney ? formatMoney(v) : v}`)
    .join(';')
}

export function csvLine(r: CdrRecord): string {
  return [
    r.id, r.account, r.msisdn, r.imsi, r.sip, r.username, r.sessionId, r.node, r.protocol, r.service,
    r.ratingGroup, r.serviceId, r.serviceContext, r.unit, new Date(r.start).toISOString(), new Date(r.end).toISOString(),
    r.durationSeconds, r.octetsIn, r.octetsOut, r.events, r.used, r.unitsFromBuckets, r.destination, r.destinationName,
    r.tariff, r.planVersion, formatMoney(r.total), formatMoney(r.tax), r.currency, r.closeReason, r.overage ? 'true' : 'false',
    buckets(r.moneyBuckets, true), buckets(r.unitBuckets, false),
  ]
    .map(field)
    .join(',') + '\r\n'
}

/**
 * A CSV Readable over the rows, header first. Rows are pulled only as the consumer reads
 * (Readable.from honours back-pressure), joined a few hundred at a time to keep writes large.
 */
export function csvStream(rows: AsyncIterable<CdrRecord>, linesPerChunk = 256): Readable {
  async function* lines(): AsyncGenerator<string> {
    yield CSV_HEADER.join(',') + '\r\n'
    let buf: string[] = []
    for await (const r of rows) {
      buf.push(csvLine(r))
      if (buf.length >= linesPerChunk) {
        yield buf.join('')
        buf = []
      }
    }
    if (buf.length) yield buf.join('')
  }
  return Readable.from(lines(), { objectMode: false, highWaterMark: 64 * 1024 })
}
