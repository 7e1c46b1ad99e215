import t from 'tap'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startFileCore } from '../helpers/core.js'
import { PAGE_SIZE, SqliteBillingStore } from '../../src/cdr/sqlite-store.js'
import { openBillingStore } from '../../src/cdr/open-store.js'
import { cdrSuite } from './cdr-suite.js'

// The billing-store suite on SQLite (better-sqlite3, WAL), plus what only SQLite has.
const { redis, client, core } = await startFileCore(t)
const dir = mkdtempSync(join(tmpdir(), 'ocs-cdr-sqlite-'))
let n = 0
t.teardown(() => {
  rmSync(dir, { recursive: true, force: true })
})

cdrSuite(t, () => ({
  client,
  redisUrl: redis.url,
  core,
  async freshStore() {
    const path = join(dir, `billing-${n++}.sqlite`)
    return { store: new SqliteBillingStore(path), url: `sqlite:${path}` }
  },
}))

t.test('openBillingStore: default file under the data dir in WAL mode, sqlite:PATH, bad URLs refused', async (t) => {
  const data = join(dir, 'data-default')
  const s = await openBillingStore(undefined, data)
  t.teardown(() => s.close())
  t.equal(s.kind, 'sqlite')
  t.equal((s as SqliteBillingStore).path, join(data, 'billing.sqlite'))
  t.equal((s as SqliteBillingStore).schemaVersion(), SqliteBillingStore.latestVersion)
  const Database = (await import('better-sqlite3')).default
  const raw = new Database(join(data, 'billing.sqlite'), { readonly: true })
  t.equal(raw.pragma('journal_mode', { simple: true }), 'wal')
  t.equal(raw.pragma('page_size', { simple: true }), PAGE_SIZE, 'a new file has 16 KiB pages')
  t.same((raw.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'cdrs' ORDER BY name").all() as Array<{ name: string }>).map((r) => r.name), ['cdrs_account_end', 'cdrs_end', 'sqlite_autoindex_cdrs_1'])
  raw.close()
  const p = await openBillingStore(`sqlite:${join(dir, 'explicit.sqlite')}`, data)
  t.equal((p as SqliteBillingStore).path, join(dir, 'explicit.sqlite'))
  await p.close()
  await t.rejects(openBillingStore('mysql://x', data), { code: 'OCS_ERR_CONFIG' })
  await t.rejects(openBillingStore('sqlite:', data), { code: 'OCS_ERR_CONFIG' })
  const pg = await openBillingStore('postgres://u:secret@127.0.0.1:1/x', data)
  t.equal(pg.kind, 'postgres', 'PostgreSQL is not contacted when opened (the worker migrates with retries)')
  await pg.close()
})

t.test('two processes may share the SQLite file: a second connection sees committed rows, writers wait for each other', async (t) => {
  const path = join(dir, 'shared.sqlite')
  const a = new SqliteBillingStore(path)
  const b = new SqliteBillingStore(path)
  t.teardown(async () => {
    await a.close()
    await b.close()
  })
  const base = { account: 'acct-s', msisdn: null, imsi: null, sip: null, username: null, sessionId: 's', node: 'n', protocol: 'diameter', service: 'sms',
    ratingGroup: null, serviceId: null, serviceContext: null, unit: 'events' as const, start: 1, end: 1, durationSeconds: 0, octetsIn: 0, octetsOut: 0,
    events: 1, used: 1, unitsFromBuckets: 0, unitBuckets: {}, destination: null, destinationName: null, tariff: null, planVersion: null,
    moneyBuckets: { main: '1' }, total: 1n, tax: 0n, currency: 'EUR', closeReason: 'event', overage: false }
  await Promise.all([a.insertBatch([{ ...base, id: 'x1' }]), b.insertBatch([{ ...base, id: 'x2' }, { ...base, id: 'x1' }])])
  t.equal(await a.count({}), 2)
  t.equal(await b.count({}), 2)
})

t.test('a file created with another page size (an earlier version) keeps it and works on', async (t) => {
  const path = join(dir, 'old-pages.sqlite')
  const Database = (await import('better-sqlite3')).default
  const old = new Database(path)
  old.pragma('page_size = 4096')
  old.pragma('journal_mode = WAL')
  old.exec('CREATE TABLE earlier (x INTEGER)')
  old.close()
  const s = new SqliteBillingStore(path)
  t.teardown(() => s.close())
  t.equal(s.schemaVersion(), SqliteBillingStore.latestVersion)
  const cdr = { id: 'p1', account: 'acct-p', msisdn: null, imsi: null, sip: null, username: null, sessionId: 's', node: 'n', protocol: 'diameter', service: 'sms',
    ratingGroup: null, serviceId: null, serviceContext: null, unit: 'events' as const, start: 1, end: 1, durationSeconds: 0, octetsIn: 0, octetsOut: 0,
    events: 1, used: 1, unitsFromBuckets: 0, unitBuckets: {}, destination: null, destinationName: null, tariff: null, planVersion: null,
    moneyBuckets: { main: '7' }, total: 7n, tax: 0n, currency: 'EUR', closeReason: 'event', overage: false }
  t.same(await s.insertBatch([cdr]), { written: 1, rejected: 0 })
  t.match((await s.query({ account: 'acct-p' })).cdrs, [{ id: 'p1', total: 7n }])
  const raw = new Database(path, { readonly: true })
  t.equal(raw.pragma('page_size', { simple: true }), 4096, 'the page size of an existing file is left as it is')
  raw.close()
})
