import t from 'tap'
import pg from 'pg'
import type { Redis } from 'ioredis'
import { startRedis, type TestRedis } from '../helpers/redis.js'
import { startPostgres, type TestPostgres } from '../helpers/postgres.js'
import { makeAccount, makeCore, newRedis, type Core } from '../helpers/core.js'
import { PostgresBillingStore } from '../../src/cdr/postgres-store.js'
import { openBillingStore } from '../../src/cdr/open-store.js'
import { DEMO_PLAN } from '../../src/rating/plan.js'
import { cdrSuite, drained, ok, startWorker } from './cdr-suite.js'

// The billing-store suite on PostgreSQL (Debian's server, started by the test helper), plus a real
// outage: the server stopped for 10 s while the core keeps charging.
let redis: TestRedis
let client: Redis
let core: Core
let server: TestPostgres
let admin: pg.Pool
let n = 0

t.before(async () => {
  ;[redis, server] = await Promise.all([startRedis(), startPostgres()])
  client = newRedis(redis.port)
  core = await makeCore(client)
  admin = new pg.Pool({ connectionString: server.url, max: 2 })
  admin.on('error', () => undefined)
})
t.teardown(async () => {
  client.disconnect()
  await admin.end()
  await Promise.all([redis.stop(), server.stop()])
})

/** A new database on the test server, migrated. */
async function freshDb(): Promise<{ store: PostgresBillingStore; url: string }> {
  const name = `billing_${n++}`
  await admin.query(`CREATE DATABASE ${name}`)
  const url = server.url.replace(/\/postgres$/, `/${name}`)
  const store = new PostgresBillingStore(url)
  await store.migrate()
  return { store, url }
}

cdrSuite(t, () => ({
  client,
  redisUrl: redis.url,
  core,
  freshStore: freshDb,
}))

t.test('several processes migrating at once: one applies, the others wait and find it done', async (t) => {
  const name = `billing_${n++}`
  await admin.query(`CREATE DATABASE ${name}`)
  const url = server.url.replace(/\/postgres$/, `/${name}`)
  const stores = [1, 2, 3, 4].map(() => new PostgresBillingStore(url))
  t.teardown(() => Promise.all(stores.map((s) => s.close())))
  await Promise.all(stores.map((s) => s.migrate()))
  t.same(await Promise.all(stores.map((s) => s.schemaVersion())), [1, 1, 1, 1])
  const db = new pg.Client({ connectionString: url })
  await db.connect()
  const idx = await db.query<{ indexname: string }>(`SELECT indexname FROM pg_indexes WHERE tablename = 'cdrs' ORDER BY indexname`)
  await db.end()
  t.same(idx.rows.map((r) => r.indexname), ['cdrs_account_end', 'cdrs_end', 'cdrs_pkey'], 'account + time indexes')
  const s = await openBillingStore(url.replace('postgres://', 'postgresql://'), '/nonexistent')
  t.equal(s.kind, 'postgres')
  await s.migrate()
  await s.close()
})

t.test('PostgreSQL stopped for 10 s under load: charging answered throughout, nothing lost', { timeout: 120_000 }, async (t) => {
  await client.flushall()
  await core.store.putPlan(DEMO_PLAN)
  const { store } = await freshDb()
  t.teardown(() => store.close())
  const w = startWorker(t, client, store, { retryMaxMs: 1000 })
  const accounts = await Promise.all([0, 1, 2, 3].map(() => makeAccount(core.store, { balance: 1_000_000_000n })))

  let stop = false
  let phase: 'before' | 'down' | 'after' = 'before'
  const stats = { before: [] as number[], down: [] as number[], after: [] as number[] }
  let failed = 0
  let expected = 0
  const sessions = new Set<string>()
  const producer = async (k: number): Promise<void> => {
    const ids = [{ kind: 'msisdn' as const, value: accounts[k].msisdn }]
    for (let i = 0; !stop; i++) {
      const sid = `out-${k}-${i}`
      const t0 = performance.now()
      const a = await core.charging.initiate({ sessionId: sid, requestId: `${sid}/0`, identities: ids, protocol: 'diameter', items: [{ serviceContext: '32260@3gpp.org', requested: 'default' }] })
      const b = await core.charging.terminate({ sessionId: sid, requestId: `${sid}/1`, identities: [], protocol: 'diameter', items: [{ serviceContext: '32260@3gpp.org', used: [{ units: 10 + (i % 50) }] }] })
      stats[phase].push(performance.now() - t0)
      if (a.kind !== 'ok' || b.kind !== 'ok') failed++
      else {
        expected += ok(b).cdrs
        sessions.add(sid)
      }
    }
  }
  const producers = [0, 1, 2, 3].map(producer)
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

  await sleep(2000)
  const writtenBefore = w.stats.written
  phase = 'down'
  await server.pause('immediate')
  await sleep(5000)
  const backlogDown = (await w.backlog()).reduce((a, b) => a + b, 0)
  await sleep(5000)
  const failuresDown = w.stats.failures
  phase = 'after'
  await server.resume()
  await sleep(2000)
  stop = true
  await Promise.all(producers)
  await drained(client, 60_000)

  const pct = (xs: number[], p: number) => xs.slice().sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))] ?? 0
  for (const k of ['before', 'down', 'after'] as const) {
    const xs = stats[k]
    t.comment(`${k}: ${xs.length} sessions (I+T), p50 ${pct(xs, 0.5).toFixed(1)} ms, p99 ${pct(xs, 0.99).toFixed(1)} ms, max ${Math.max(...xs).toFixed(1)} ms`)
  }
  t.comment(`backlog after 5 s down: ${backlogDown} CDRs in Redis; ${failuresDown} failed write attempts while down; ${writtenBefore} written before`)
  t.equal(failed, 0, 'every charging request answered ok while the billing store was down')
  t.ok(stats.down.length > 100, `charging kept running during the outage (${stats.down.length} sessions)`)
  t.ok(backlogDown > 0, 'CDRs waited in the outbox during the outage')
  t.ok(failuresDown > 0, 'the worker saw the outage')
  t.equal(await store.count({}), expected, `all ${expected} CDRs in the store after the restart`)
  const seen = new Set<string>()
  for await (const r of store.iterate({})) seen.add(r.sessionId ?? '')
  t.equal(seen.size, sessions.size, 'a CDR for every session')
  t.same(await w.backlog(), new Array(64).fill(0))
})
