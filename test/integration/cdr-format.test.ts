import t from 'tap'
import { CdrFormatError, decodeCursor, encodeCursor, parseOutboxCdr } from '../../src/cdr/record.js'
import { CSV_HEADER, csvLine } from '../../src/cdr/csv.js'
import { parseTime } from '../../src/cdr/routes.js'
import { isDataError } from '../../src/cdr/worker.js'

// Outbox JSON → record, cursors, CSV lines, time parameters: the pure parts of the CDR pipeline.

/** What writeCdrs (src/balance/lua/lib.lua) appends for a data session, as cjson encodes it. */
const SESSION_CDR = {
  id: 'pgw.example;1;2#1767225600000#rg:10:si:-', account: 'A1', subscriber: { msisdn: '46701234567', imsi: '240011234567890' },
  sessionId: 'pgw.example;1;2', node: 'ocs-1', protocol: 'diameter', service: 'data', ratingGroup: 10, serviceContext: '32251@3gpp.org',
  unit: 'octets', start: '1767225600000', end: '1767225690500', used: '3000000', inputOctets: '1000000', outputOctets: '2000000',
  unitsFromBuckets: '1000000', unitBuckets: { bundle: '1000000' }, tariff: 'data-1MB', planVersion: 3,
  moneyBuckets: { main: '19074' }, total: '19074', tax: '0', currency: 'EUR', closeReason: 'terminated', overage: false,
}

t.test('a session CDR from the outbox', async (t) => {
  const r = parseOutboxCdr(JSON.stringify(SESSION_CDR))
  t.match(r, {
    id: SESSION_CDR.id, account: 'A1', msisdn: '46701234567', imsi: '240011234567890', sip: null, username: null, ratingGroup: 10, serviceId: null,
    unit: 'octets', start: 1767225600000, end: 1767225690500, durationSeconds: 91, octetsIn: 1_000_000, octetsOut: 2_000_000, events: 0,
    used: 3_000_000, unitsFromBuckets: 1_000_000, destination: null, planVersion: 3, total: 19074n, tax: 0n, overage: false,
  })
  t.same(r.moneyBuckets, { main: '19074' })
  t.same(r.unitBuckets, { bundle: '1000000' })
})

t.test('an event CDR, a refund, a voice CDR: duration and events come from the unit', async (t) => {
  const ev = parseOutboxCdr(JSON.stringify({ ...SESSION_CDR, id: 'ev#r1#k', unit: 'events', used: '2', start: '5', end: '5', moneyBuckets: [], unitBuckets: [] }))
  t.match(ev, { events: 2, durationSeconds: 0 })
  t.same(ev.moneyBuckets, {}, 'cjson may encode an empty table as []')
  const refund = parseOutboxCdr(JSON.stringify({ ...SESSION_CDR, total: '-50000', moneyBuckets: { main: '-50000' } }))
  t.equal(refund.total, -50000n)
  const voice = parseOutboxCdr(JSON.stringify({ ...SESSION_CDR, unit: 'seconds', used: '75' }))
  t.match(voice, { durationSeconds: 75 })
  const big = parseOutboxCdr(JSON.stringify({ ...SESSION_CDR, total: '9007199254740993' }))
  t.equal(big.total, 9007199254740993n, 'money beyond 2^53 stays exact')
})

t.test('anything that is not a CDR is refused with the field named', async (t) => {
  const bad: Array<[unknown, RegExp]> = [
    ['nope', /^not JSON$/],
    [[1, 2], /^not a JSON object$/],
    [{ ...SESSION_CDR, id: undefined }, /^id: missing$/],
    [{ ...SESSION_CDR, account: '' }, /^account: missing$/],
    [{ ...SESSION_CDR, total: 12.5 }, /^total: /],
    [{ ...SESSION_CDR, total: '1e3' }, /^total: /],
    [{ ...SESSION_CDR, end: undefined }, /^end: missing$/],
    [{ ...SESSION_CDR, unit: 'bytes' }, /^unit: /],
    [{ ...SESSION_CDR, used: '99999999999999999' }, /^used: .*2\^53/],
    [{ ...SESSION_CDR, moneyBuckets: { main: 1.5 } }, /^moneyBuckets\.main: /],
    [{ ...SESSION_CDR, node: 'a\u0000b' }, /^node: contains a NUL/],
    [{ ...SESSION_CDR, currency: undefined }, /^currency: missing$/],
    [{ ...SESSION_CDR, total: '9999999999999999999' }, /^total: .*64-bit/],
  ]
  for (const [v, msg] of bad) {
    let err: unknown
    try {
      parseOutboxCdr(typeof v === 'string' ? v : JSON.stringify(v))
    } catch (e) {
      err = e
    }
    t.ok(err instanceof CdrFormatError, `${msg}: a CdrFormatError`)
    t.match((err as Error | undefined)?.message, msg)
  }
})

t.test('cursors round-trip and refuse anything else', async (t) => {
  const c = encodeCursor({ end: 1767225600000, id: 'a#b,"c"' })
  t.same(decodeCursor(c), { end: 1767225600000, id: 'a#b,"c"' })
  t.match(c, /^[A-Za-z0-9_-]+$/, 'URL-safe')
  for (const bad of ['', 'garbage', Buffer.from('[1]').toString('base64url'), Buffer.from('["x","y"]').toString('base64url'), Buffer.from('[1.5,"y"]').toString('base64url')]) {
    t.equal(decodeCursor(bad), null, JSON.stringify(bad))
  }
})

t.test('CSV lines: RFC 4180 quoting, decimal money, ISO times, buckets', async (t) => {
  const r = parseOutboxCdr(JSON.stringify({ ...SESSION_CDR, destinationName: 'Sweden, "mobile"', moneyBuckets: { main: '-1', promo: '2500000' } }))
  const cells = csvLine(r)
  t.ok(cells.endsWith('\r\n'))
  t.match(cells, /,"Sweden, ""mobile""",/)
  t.match(cells, /,2026-01-01T00:00:00\.000Z,2026-01-01T00:01:30\.500Z,/)
  t.match(cells, /,0\.019074,0\.000000,EUR,terminated,false,main=-0\.000001;promo=2\.500000,bundle=1000000\r\n$/)
  t.equal(CSV_HEADER.length, 33)
})

t.test('time parameters: ISO 8601 (UTC when no offset) or ms epoch', async (t) => {
  t.equal(parseTime('2026-01-31', 'from'), Date.UTC(2026, 0, 31))
  t.equal(parseTime('2026-01-31T10:00', 'from'), Date.UTC(2026, 0, 31, 10))
  t.equal(parseTime('2026-01-31T10:00:00+02:00', 'from'), Date.UTC(2026, 0, 31, 8))
  t.equal(parseTime('1767225600000', 'from'), 1767225600000)
  t.equal(parseTime(undefined, 'from'), undefined)
  for (const bad of ['yesterday', '2026-13-01', '31/01/2026', '-5', '2026-01-01T25:00Z']) t.throws(() => parseTime(bad, 'to'), { code: 'OCS_ERR_VALIDATION', field: 'to' }, bad)
})

t.test('data errors (isolate the CDR) vs store-away errors (retry as is)', async (t) => {
  for (const code of ['22P05', '22001', '23502', '54000', 'SQLITE_CONSTRAINT_NOTNULL', 'SQLITE_TOOBIG', 'SQLITE_MISMATCH']) t.ok(isDataError({ code }), code)
  for (const code of ['ECONNREFUSED', '57P01', '08006', '53300', '40001', 'SQLITE_BUSY', 'SQLITE_IOERR', undefined]) t.notOk(isDataError({ code }), String(code))
  t.notOk(isDataError(null))
})
