import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { get as httpGet } from 'node:http'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import Fastify, { type FastifyInstance } from 'fastify'
import type { Test } from 'tap'
import type { Redis } from 'ioredis'
import { keys, SHARD_COUNT } from '../../src/balance/keys.js'
import type { RedisClient } from '../../src/balance/connect.js'
import { CdrWorker, SQLITE_BATCH, type CdrWorkerOptions } from '../../src/cdr/worker.js'
import { registerCdrRoutes } from '../../src/cdr/routes.js'
import { CSV_HEADER } from '../../src/cdr/csv.js'
import type { BillingStore, CdrRecord, InsertResult, RejectedEntry } from '../../src/cdr/types.js'
import type { ChargeAnswer } from '../../src/core/types.js'
import { OcsError } from '../../src/lib/errors.js'
import { DEMO_PLAN } from '../../src/rating/plan.js'
import { createLogger } from '../../src/lib/logger.js'
import { allCdrs, makeAccount, type CdrRow, type Core } from '../helpers/core.js'

// The billing-store suite, run against SQLite (cdr-sqlite.test.ts) and PostgreSQL
// (cdr-postgres.test.ts) with a real Redis and the real charging core producing the CDRs.

export interface CdrSuiteEnv {
  client: Redis
  redisUrl: string
  core: Core
  /** a new, empty, migrated store of this kind and the OCS_BILLING_DB URL that opens it */
  freshStore(): Promise<{ store: BillingStore; url: string }>
}

export interface CsvSuiteEnv {
  freshStore(): Promise<{ store: BillingStore; url: string }>
  /** rows to insert and export */
  rows: number
}

const REPO = resolve(import.meta.dirname, '../..')
const VOICE = '32260@3gpp.org'
const DATA = '32251@3gpp.org'
const SMS = '32274@3gpp.org'
export const GROUP = 'cdr-writers'
export const quietLog = createLogger('silent')

export function ok(a: ChargeAnswer): Extract<ChargeAnswer, { kind: 'ok' }> {
  if (a.kind !== 'ok') throw new Error(`expected ok, got ${JSON.stringify(a)}`)
  return a
}

export async function until(what: string, cond: () => Promise<boolean> | boolean, timeoutMs = 30_000, everyMs = 50): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, everyMs))
  }
}

/** Entries in the outbox and entries read but not acknowledged, over all shards in one parallel round. */
export async function outboxTotals(client: RedisClient): Promise<{ length: number; pending: number }> {
  const shards = await Promise.all(
    Array.from({ length: SHARD_COUNT }, async (_, s) => ({
      length: await client.xlen(keys.outbox(s)),
      // no group yet: nothing pending
      pending: await client.xpending(keys.outbox(s), GROUP).then((r) => Number((r as [number])[0]), () => 0),
    })),
  )
  return shards.reduce((a, b) => ({ length: a.length + b.length, pending: a.pending + b.pending }), { length: 0, pending: 0 })
}

/** Waits until every outbox entry is committed and acknowledged (and deleted). */
export async function drained(client: RedisClient, timeoutMs = 60_000): Promise<void> {
  await until('the outbox to drain', async () => {
    const o = await outboxTotals(client)
    return o.length === 0 && o.pending === 0
  }, timeoutMs, 100)
}

export function startWorker(t: Test, client: RedisClient, store: BillingStore, opts: Partial<CdrWorkerOptions> = {}): CdrWorker {
  const w = new CdrWorker(client, store, { blockMs: 20, claimIdleMs: 500, retryMinMs: 50, retryMaxMs: 500, ...opts }, quietLog)
  void w.start()
  t.teardown(() => w.stop())
  return w
}

/** Real charging: voice sessions, a two-rating-group data session, SMS events, a refund. Returns the CDR count the core reported. */
export async function chargeSome(core: Core, prefix: string, sessions = 5): Promise<{ cdrs: number; accounts: string[] }> {
  let cdrs = 0
  const accounts: string[] = []
  for (let i = 0; i < sessions; i++) {
    const { accountId, msisdn } = await makeAccount(core.store, { balance: 10_000_000n })
    accounts.push(accountId)
    const ids = [{ kind: 'msisdn' as const, value: msisdn }]
    const sid = `${prefix}-v${i}`
    ok(await core.charging.initiate({ sessionId: sid, requestId: `${sid}/0`, identities: ids, protocol: 'diameter', items: [{ serviceContext: VOICE, ratingGroup: 100, requested: 'default', destination: '46701234567' }] }))
    ok(await core.charging.update({ sessionId: sid, requestId: `${sid}/1`, identities: [], protocol: 'diameter', items: [{ serviceContext: VOICE, ratingGroup: 100, requested: 'default', used: [{ units: 30 + i }] }] }))
    cdrs += ok(await core.charging.terminate({ sessionId: sid, requestId: `${sid}/2`, identities: [], protocol: 'diameter', items: [{ serviceContext: VOICE, ratingGroup: 100, used: [{ units: 15 }] }] })).cdrs
    const dsid = `${prefix}-d${i}`
    ok(await core.charging.initiate({ sessionId: dsid, requestId: `${dsid}/0`, identities: ids, protocol: 'diameter', items: [{ serviceContext: DATA, ratingGroup: 10, requested: 'default' }, { serviceContext: DATA, ratingGroup: 20, requested: 'default' }] }))
    cdrs += ok(await core.charging.terminate({ sessionId: dsid, requestId: `${dsid}/1`, identities: [], protocol: 'diameter',
      items: [{ serviceContext: DATA, ratingGroup: 10, used: [{ units: 3_000_000, inputOctets: 1_000_000, outputOctets: 2_000_000 }] }, { serviceContext: DATA, ratingGroup: 20, used: [{ units: 1_000, inputOctets: 400, outputOctets: 600 }] }] })).cdrs
    cdrs += ok(await core.charging.event({ requestId: `${prefix}-sms${i}`, identities: ids, protocol: 'diameter', items: [{ serviceContext: SMS, units: 1 }] })).outcomes.filter((o) => o.kind === 'granted').length
    cdrs += ok(await core.charging.refund({ requestId: `${prefix}-ref${i}`, identities: ids, protocol: 'diameter', items: [{ serviceContext: SMS, units: 1 }] })).outcomes.filter((o) => o.kind === 'refunded').length
  }
  return { cdrs, accounts }
}

/** `n` CDRs shaped exactly like the Lua writes them, XADDed to the right shard (fast volume for crash tests). */
export async function addSynthetic(client: Redis, template: CdrRow, n: number, accounts: string[], tag: string): Promise<string[]> {
  const ids: string[] = []
  for (let i = 0; i < n; i += 1000) {
    const p = client.pipeline()
    for (let j = i; j < Math.min(n, i + 1000); j++) {
      const account = accounts[j % accounts.length]
      const id = `${tag}-${j}#${template.start}#rg:100:si:-`
      ids.push(id)
      p.xadd(keys.outboxOf(account), '*', 'cdr', JSON.stringify({ ...template, id, account, sessionId: `${tag}-${j}`, end: String(Number(template.end) + j) }))
    }
    await p.exec()
  }
  return ids
}

export async function allIds(store: BillingStore): Promise<string[]> {
  const out: string[] = []
  for await (const r of store.iterate({})) out.push(r.id)
  return out
}

/** A bare fastify app with the CDR routes and the API's OcsError → status mapping. */
export async function cdrApp(store: BillingStore): Promise<{ app: FastifyInstance; base: string }> {
  const app = Fastify()
  app.setErrorHandler((err: Error, _req, reply) => {
    if (err instanceof OcsError) return reply.code(err.code === 'OCS_ERR_VALIDATION' ? 400 : 503).send({ error: err.code, message: err.message, field: err.field })
    return reply.code(503).send({ error: 'OCS_ERR_UNAVAILABLE', message: err.message })
  })
  await app.register(async (scope) => registerCdrRoutes(scope, { store }))
  await app.listen({ host: '127.0.0.1', port: 0 })
  const addr = app.server.address()
  const port = typeof addr === 'object' && addr ? addr.port : 0
  return { app, base: `http://127.0.0.1:${port}` }
}

function record(i: number, account: string, end: number): CdrRecord {
  return {
    id: `bulk-${String(i).padStart(8, '0')}#1767225600000#rg:-:si:-`, account, msisdn: '46701234567', imsi: '240011234567890', sip: null, username: null,
    sessionId: `bulk-${i}`, node: 'ocs-1', protocol: 'diameter', service: 'voice', ratingGroup: 100, serviceId: null, serviceContext: VOICE,
    unit: 'seconds', start: end - 60_000, end, durationSeconds: 60, octetsIn: 0, octetsOut: 0, events: 0, used: 60, unitsFromBuckets: 0,
    unitBuckets: {}, destination: '4670', destinationName: 'Sweden, "mobile"', tariff: 'voice-60-1', planVersion: 1, moneyBuckets: { main: '100000' },
    total: 100_000n, tax: 0n, currency: 'EUR', closeReason: 'terminated', overage: i % 2 === 0,
  }
}

function spawnWorkerProcess(redisUrl: string, dbUrl: string, dir: string, extra: string[] = []): ChildProcess {
  const cfg = join(dir, 'ocs.yaml')
  writeFileSync(cfg, '{}\n')
  const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/cdr-worker.ts', '--batch-size=250', '--block-ms=20', '--claim-idle-ms=1000', ...extra], {
    cwd: REPO,
    env: { ...process.env, OCS_REDIS_URL: redisUrl, OCS_BILLING_DB: dbUrl, OCS_CONFIG: cfg, OCS_DATA_DIR: dir, OCS_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  let err = ''
  child.stderr?.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-4000)))
  Object.defineProperty(child, 'stderrText', { get: () => err })
  return child
}

const exited = (c: ChildProcess): Promise<number | null> =>
  c.exitCode !== null || c.signalCode !== null ? Promise.resolve(c.exitCode) : new Promise((r) => c.once('exit', (code) => r(code)))

/** Fails on demand like a store whose server went away (connection refused). */
export class FlakyStore implements BillingStore {
  down = false
  attempts = 0
  constructor(readonly inner: BillingStore) {}
  get kind(): BillingStore['kind'] {
    return this.inner.kind
  }
  private check(): void {
    if (this.down) throw Object.assign(new Error('connect ECONNREFUSED (simulated)'), { code: 'ECONNREFUSED' })
  }
  async migrate(): Promise<void> {
    this.check()
    return this.inner.migrate()
  }
  async insertBatch(c: readonly CdrRecord[], r?: readonly RejectedEntry[]): Promise<InsertResult> {
    this.attempts++
    this.check()
    return this.inner.insertBatch(c, r)
  }
  query = (q: Parameters<BillingStore['query']>[0]) => this.inner.query(q)
  count = (f: Parameters<BillingStore['count']>[0]) => this.inner.count(f)
  iterate = (f: Parameters<BillingStore['iterate']>[0]) => this.inner.iterate(f)
  streamCsv = (f: Parameters<BillingStore['streamCsv']>[0]) => this.inner.streamCsv(f)
  usage = (a: string, f?: number, to?: number) => this.inner.usage(a, f, to)
  rejects = (n?: number) => this.inner.rejects(n)
  async ping(): Promise<void> {
    this.check()
    return this.inner.ping()
  }
  close = () => this.inner.close()
}

/** Runs a hook (given the batch size) before each write. */
class ObservedStore extends FlakyStore {
  constructor(inner: BillingStore, private readonly before: (entries: number) => Promise<void>) {
    super(inner)
  }
  override async insertBatch(c: readonly CdrRecord[], r?: readonly RejectedEntry[]): Promise<InsertResult> {
    await this.before(c.length + (r?.length ?? 0))
    return super.insertBatch(c, r)
  }
}

export function cdrSuite(t: Test, env: () => CdrSuiteEnv): void {
  /** An empty Redis (with the demo plan back) for each test. */
  const reset = async (): Promise<void> => {
    await env().client.flushall()
    await env().core.store.putPlan(DEMO_PLAN)
  }
  const fresh = async (t: Test): Promise<BillingStore> => {
    await reset()
    const { store } = await env().freshStore()
    t.teardown(() => store.close())
    return store
  }

  /** One real session's CDRs and n synthetic ones over 64 accounts in the outbox; returns every id, sorted. */
  const manyInOutbox = async (tag: string, n: number): Promise<string[]> => {
    const { client, core } = env()
    await chargeSome(core, tag, 1)
    const real = await allCdrs(client)
    const template = real.find((c) => c.service === 'voice')!
    const accounts = Array.from({ length: 64 }, (_, i) => `${tag}-acct-${i}`)
    const synthetic = await addSynthetic(client, template, n, accounts, tag)
    return [...real.map((c) => c.id), ...synthetic].sort()
  }

  t.test('migrations are versioned and idempotent', async (t) => {
    const store = await fresh(t)
    await store.migrate()
    await store.migrate()
    t.same(await store.insertBatch([record(1, 'a', 1_000)]), { written: 1, rejected: 0 })
    t.equal(await store.count({}), 1, 'data survives a re-run of the migrations')
  })

  t.test('CDRs from real charging end up in the store exactly once, every column mapped', async (t) => {
    const store = await fresh(t)
    const { client, core } = env()
    const { cdrs } = await chargeSome(core, 'real', 4)
    const outbox = await allCdrs(client)
    t.equal(outbox.length, cdrs, 'the core wrote one outbox entry per CDR')
    const w = startWorker(t, client, store)
    await drained(client)
    t.equal(await store.count({}), outbox.length)
    t.same((await allIds(store)).sort(), outbox.map((c) => c.id).sort())
    t.match(w.stats, { written: outbox.length, duplicates: 0, rejected: 0 })
    t.same(await w.backlog(), new Array(SHARD_COUNT).fill(0))
    t.same(await w.pending(), new Array(SHARD_COUNT).fill(0))

    // Column by column against the outbox JSON.
    const byId = new Map<string, CdrRecord>()
    for await (const r of store.iterate({})) byId.set(r.id, r)
    for (const c of outbox) {
      const r = byId.get(c.id)!
      const sub = c.subscriber as Record<string, string>
      t.match(r, {
        account: c.account, sessionId: c.sessionId ?? null, msisdn: sub.msisdn ?? null, node: c.node, protocol: c.protocol, service: c.service,
        ratingGroup: (c.ratingGroup as number | undefined) ?? null, serviceContext: c.serviceContext, unit: c.unit, start: Number(c.start), end: Number(c.end),
        used: Number(c.used), octetsIn: Number(c.inputOctets), octetsOut: Number(c.outputOctets), destination: (c.destination as string | undefined) ?? null,
        tariff: c.tariff, planVersion: c.planVersion, total: BigInt(c.total), tax: BigInt(c.tax as string), currency: c.currency, closeReason: c.closeReason, overage: c.overage,
      }, c.id)
      t.same(r.moneyBuckets, c.moneyBuckets, `${c.id} money per bucket`)
      t.same(r.unitBuckets, c.unitBuckets, `${c.id} units per bucket`)
    }
    const voice = [...byId.values()].find((r) => r.sessionId === 'real-v0')!
    t.match(voice, { unit: 'seconds', durationSeconds: 45, events: 0, total: 100_000n, destination: '46701234567' })
    const data = [...byId.values()].find((r) => r.sessionId === 'real-d0' && r.ratingGroup === 10)!
    t.match(data, { unit: 'octets', octetsIn: 1_000_000, octetsOut: 2_000_000, used: 3_000_000, events: 0 })
    const refund = [...byId.values()].find((r) => r.id.startsWith('ev#real-ref0'))!
    t.match(refund, { unit: 'events', events: 1, total: -50_000n, closeReason: 'refund' })

    // Usage totals per service of one account.
    const acct = voice.account
    const usage = await store.usage(acct)
    const sum = (svc: string) => [...byId.values()].filter((r) => r.account === acct && r.service === svc)
    t.same(usage.map((u) => u.service), ['data', 'sms', 'voice'])
    for (const u of usage) {
      const rows = sum(u.service!)
      t.equal(u.cdrs, rows.length, `${u.service} count`)
      t.equal(u.total, rows.reduce((a, r) => a + r.total, 0n), `${u.service} total`)
      t.equal(u.used, BigInt(rows.reduce((a, r) => a + r.used, 0)), `${u.service} used`)
    }
    t.same(await store.usage(acct, voice.end + 1_000_000), [], 'an empty period has no totals')
  })

  t.test('a replayed batch writes nothing twice (store and worker)', async (t) => {
    const store = await fresh(t)
    const { client, core } = env()
    const rows = [record(1, 'acct-r', 1_000), record(2, 'acct-r', 2_000), record(3, 'acct-r', 3_000)]
    t.same(await store.insertBatch(rows), { written: 3, rejected: 0 })
    t.same(await store.insertBatch(rows), { written: 0, rejected: 0 }, 'the same batch again')
    t.same(await store.insertBatch([rows[0], record(4, 'acct-r', 4_000), record(4, 'acct-r', 4_000)]), { written: 1, rejected: 0 }, 'old, new and a twice-listed CDR')
    t.equal(await store.count({}), 4)

    // The same outbox entries delivered twice (as after a reclaim): the second delivery is a no-op.
    await chargeSome(core, 'rep', 1)
    const outbox = await allCdrs(client)
    const w = startWorker(t, client, store)
    await drained(client)
    for (const c of outbox) await client.xadd(keys.outboxOf(c.account), '*', 'cdr', JSON.stringify(c))
    await drained(client)
    t.equal(await store.count({}), 4 + outbox.length)
    t.match(w.stats, { written: outbox.length, duplicates: outbox.length })
  })

  t.test('the next window of shards is read while a batch is written; every CDR lands once', async (t) => {
    const inner = await fresh(t)
    const { client } = env()
    const outbox = await manyInOutbox('pipe', 2_000)
    // At each store write: the entries the worker has read and not acknowledged, once Redis has
    // had time to serve whatever was sent before the write began.
    const seen: Array<{ batch: number; pending: number }> = []
    const store = new ObservedStore(inner, async (batch) => {
      await new Promise((r) => setTimeout(r, 20))
      seen.push({ batch, pending: (await outboxTotals(client)).pending })
    })
    const w = startWorker(t, client, store, { batchSize: 100, shardsPerRead: 8 })
    await drained(client)
    await w.stop()
    t.same((await allIds(inner)).sort(), outbox, 'every outbox CDR once')
    t.match(w.stats, { written: outbox.length, duplicates: 0, failures: 0 })
    t.same(await outboxTotals(client), { length: 0, pending: 0 }, 'the last batch acknowledged before stop() returned')
    const ahead = seen.filter((s) => s.pending > s.batch)
    t.ok(ahead.length >= seen.length / 2, `the next window was already read during ${ahead.length} of ${seen.length} writes`)
    // Held besides the batch in hand, at most: the window that did not fit in it and the one being
    // read (each 8 shards × ceil(100 / 8) entries).
    const most = Math.max(...seen.map((s) => s.pending - s.batch))
    t.ok(most <= 2 * 8 * 13, `at most two windows read ahead (${most} entries)`)
  })

  t.test('default batch: up to SQLITE_BATCH CDRs in one SQLite transaction, 1,000 in PostgreSQL', async (t) => {
    const inner = await fresh(t)
    const { client } = env()
    const outbox = await manyInOutbox('dflt', 6_000)
    const batches: number[] = []
    const store = new ObservedStore(inner, async (batch) => {
      batches.push(batch)
    })
    const w = startWorker(t, client, store)
    const expected = inner.kind === 'sqlite' ? SQLITE_BATCH : 1000
    t.equal(w.options.batchSize, expected, `the ${inner.kind} default`)
    await drained(client)
    await w.stop()
    t.same((await allIds(inner)).sort(), outbox, 'every outbox CDR once')
    t.ok(Math.max(...batches) <= expected, `no batch over ${expected} (largest ${Math.max(...batches)})`)
    // 6,000 CDRs over 64 shards: a window of 8 shards holds ~750, so a SQLite batch gathers several windows.
    if (inner.kind === 'sqlite') t.ok(Math.max(...batches) > 1000, `SQLite batches beyond 1,000 (largest ${Math.max(...batches)} of ${batches.length})`)
  })

  t.test('a consumer that dies between commit and XACK: its pending entries are reclaimed, written once', async (t) => {
    const store = await fresh(t)
    const { client, core } = env()
    await chargeSome(core, 'dead', 3)
    const outbox = await allCdrs(client)
    // A consumer reads everything, commits half of it, and dies before acknowledging anything.
    const read: Array<{ raw: string }> = []
    for (let s = 0; s < SHARD_COUNT; s++) {
      await client.xgroup('CREATE', keys.outbox(s), GROUP, '0', 'MKSTREAM')
      const r = (await client.xreadgroup('GROUP', GROUP, 'dead-consumer', 'COUNT', 1000, 'STREAMS', keys.outbox(s), '>')) as Array<[string, Array<[string, string[]]>]> | null
      for (const [, entries] of r ?? []) for (const [, f] of entries) read.push({ raw: f[1] })
    }
    t.equal(read.length, outbox.length)
    const { parseOutboxCdr } = await import('../../src/cdr/record.js')
    const half = read.slice(0, Math.ceil(read.length / 2)).map((e) => parseOutboxCdr(e.raw))
    await store.insertBatch(half)
    t.equal((await outboxTotals(client)).pending, outbox.length, 'all entries pending on the dead consumer')

    const w = startWorker(t, client, store, { claimIdleMs: 300, forgetConsumerMs: 0 })
    await drained(client)
    t.equal(await store.count({}), outbox.length)
    t.same((await allIds(store)).sort(), outbox.map((c) => c.id).sort())
    t.match(w.stats, { reclaimed: outbox.length, written: outbox.length - half.length, duplicates: half.length })
    // The dead consumer is forgotten once it holds nothing.
    await until('the dead consumer to be removed', async () => {
      const names = new Set<string>()
      for (let s = 0; s < SHARD_COUNT; s++) for (const c of (await client.xinfo('CONSUMERS', keys.outbox(s), GROUP)) as unknown[][]) names.add(String(c[1]))
      return !names.has('dead-consumer')
    }, 10_000)
  })

  t.test('kill -9 of a worker process mid-batch, then another: exactly the outbox CDRs, no duplicates', async (t) => {
    await reset()
    const { store, url } = await env().freshStore()
    t.teardown(() => store.close())
    const { client, core, redisUrl } = env()
    const { accounts } = await chargeSome(core, 'k9', 4)
    const real = await allCdrs(client)
    const template = real.find((c) => c.service === 'voice')!
    const synthetic = await addSynthetic(client, template, 20_000, accounts, 'k9syn')
    const expected = [...real.map((c) => c.id), ...synthetic].sort()
    const dir = mkdtempSync(join(tmpdir(), 'ocs-cdrw-'))
    t.teardown(() => rmSync(dir, { recursive: true, force: true }))

    let pendingAtKill = 0
    let rowsAtKill = 0
    let attempts = 0
    // Kill while the worker holds a batch (read, not yet acknowledged), as outboxTotals (one parallel
    // round) sees it right before the kill; a kill that still lands between two batches is retried
    // with a new worker process, each one writing at least 500 more rows first.
    while (attempts < 10 && pendingAtKill === 0) {
      attempts++
      const w1 = spawnWorkerProcess(redisUrl, url, dir)
      t.teardown(() => void w1.kill('SIGKILL'))
      const floor = rowsAtKill + 500
      await until('the first worker to commit and hold a batch', async () => (await store.count({})) > floor && (await outboxTotals(client)).pending > 0, 60_000, 5)
      w1.kill('SIGKILL')
      await exited(w1)
      pendingAtKill = (await outboxTotals(client)).pending
      rowsAtKill = await store.count({})
    }
    t.ok(pendingAtKill > 0, `killed mid-batch (attempt ${attempts}): ${pendingAtKill} entries were read and not acknowledged`)
    t.ok(rowsAtKill < expected.length, `killed before the end: ${rowsAtKill} of ${expected.length} rows written`)

    const w2 = spawnWorkerProcess(redisUrl, url, dir)
    t.teardown(() => void w2.kill('SIGKILL'))
    await drained(client, 90_000)
    w2.kill('SIGTERM')
    t.equal(await exited(w2), 0, 'SIGTERM stops the worker process cleanly')
    t.equal(await store.count({}), expected.length, 'as many rows as CDRs in the outbox')
    t.same((await allIds(store)).sort(), expected, 'exactly the outbox CDR ids, each once')
  })

  t.test('store down: the backlog waits in Redis, charging is unaffected, everything drains when it is back', async (t) => {
    const inner = await fresh(t)
    const store = new FlakyStore(inner)
    const { client, core } = env()
    const sources = new Set<string>()
    const w = startWorker(t, client, store, { retryMaxMs: 200, onError: (_e, source) => sources.add(source) })
    const first = await chargeSome(core, 'up', 2)
    await drained(client)
    store.down = true
    const during = await chargeSome(core, 'down', 3)
    await until('the worker to hit the outage', () => w.stats.failures >= 2)
    const backlog = (await w.backlog()).reduce((a, b) => a + b, 0)
    t.equal(backlog, during.cdrs, 'every CDR of the outage waits in the outbox')
    t.equal(await inner.count({}), first.cdrs, 'nothing written while down')
    store.down = false
    await drained(client)
    t.equal(await inner.count({}), first.cdrs + during.cdrs)
    t.ok(w.stats.failures >= 2 && w.stats.lastError?.includes('ECONNREFUSED'), `${w.stats.failures} failed attempts reported`)
    t.same([...sources], ['store'], 'reported as store failures (onError hook)')
  })

  t.test('an outbox entry that is not a CDR goes to cdr_rejects; the rest flows on', async (t) => {
    const store = await fresh(t)
    const { client, core } = env()
    const { accounts } = await chargeSome(core, 'rej', 1)
    await client.xadd(keys.outboxOf(accounts[0]), '*', 'cdr', '{"id":"broken","account":"x","total":"1.5","start":"1","end":"2","currency":"EUR"}')
    await client.xadd(keys.outboxOf(accounts[0]), '*', 'cdr', 'not json \u0000')
    await client.xadd(keys.outboxOf(accounts[0]), '*', 'other', 'field')
    const errors: Error[] = []
    const w = startWorker(t, client, store, { onError: (e) => errors.push(e) })
    await drained(client)
    const rejects = await store.rejects()
    t.equal(rejects.length, 3)
    t.same(rejects.map((r) => r.error).sort(), ['not JSON', 'not a JSON object', 'total: expected integer micro-units, got "1.5"'].sort())
    t.ok(rejects.every((r) => r.stream === keys.outboxOf(accounts[0]) && /^\d+-\d+$/.test(r.entryId)))
    t.equal(await store.count({}), w.stats.written)
    t.equal(w.stats.rejected, 3)
    t.same(errors, [])
  })

  t.test('cursor pagination returns every row once, in (end, id) order, ties included', async (t) => {
    const store = await fresh(t)
    const rows: CdrRecord[] = []
    // 2,537 CDRs over 3 accounts, many sharing an end time (the cursor must break ties on the id).
    for (let i = 0; i < 2537; i++) rows.push(record(i, `acct-${i % 3}`, 1_767_225_600_000 + Math.floor(i / 7) * 1000))
    await store.insertBatch(rows.slice().reverse())
    const order = (a: CdrRecord, b: CdrRecord) => a.end - b.end || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)
    for (const [filter, limit] of [[{}, 100], [{ account: 'acct-1' }, 7], [{ account: 'acct-2', from: 1_767_225_600_000 + 50_000, to: 1_767_225_600_000 + 200_000 }, 1000]] as const) {
      const want = rows.filter((r) => (!('account' in filter) || r.account === filter.account) && (!('from' in filter) || (r.end >= filter.from && r.end < filter.to))).sort(order)
      const got: CdrRecord[] = []
      let cursor: string | undefined
      let pages = 0
      do {
        const page = await store.query({ ...filter, cursor, limit })
        t.ok(page.cdrs.length <= limit)
        got.push(...page.cdrs)
        cursor = page.next ?? undefined
        pages++
      } while (cursor)
      t.equal(got.length, want.length, `${JSON.stringify(filter)}: every row`)
      t.equal(new Set(got.map((r) => r.id)).size, got.length, 'each once')
      t.same(got.map((r) => r.id), want.map((r) => r.id), 'in (end, id) order')
      t.equal(pages, Math.max(1, Math.ceil(want.length / limit)), 'no empty trailing page')
    }
    const edge = rows.filter((r) => r.account === 'acct-0').sort(order)
    const p = await store.query({ account: 'acct-0', from: edge[10].end, to: edge[20].end, limit: 1000 })
    t.ok(p.cdrs.every((r) => r.end >= edge[10].end && r.end < edge[20].end), 'from inclusive, to exclusive')
    await t.rejects(store.query({ cursor: 'garbage' }), { code: 'OCS_ERR_VALIDATION', field: 'cursor' })
    await t.rejects(store.query({ limit: 1001 }), { code: 'OCS_ERR_VALIDATION', field: 'limit' })
  })

  t.test('HTTP API: /v1/cdrs pages, /v1/cdrs.csv, /v1/accounts/:id/usage, input errors are 400', async (t) => {
    const store = await fresh(t)
    const { client, core } = env()
    const { accounts } = await chargeSome(core, 'api', 1)
    startWorker(t, client, store)
    await drained(client)
    const { app, base } = await cdrApp(store)
    t.teardown(() => app.close())
    const acct = accounts[0]
    const get = async (path: string) => {
      const r = await fetch(base + path)
      return { status: r.status, type: r.headers.get('content-type'), body: r.headers.get('content-type')?.includes('json') ? ((await r.json()) as Record<string, unknown>) : await r.text() }
    }
    const p1 = await get(`/v1/cdrs?account=${acct}&limit=2`)
    t.equal(p1.status, 200)
    const b1 = p1.body as { cdrs: Array<Record<string, unknown>>; next: string | null }
    t.equal(b1.cdrs.length, 2)
    t.type(b1.next, 'string')
    const p2 = (await get(`/v1/cdrs?account=${acct}&limit=1000&cursor=${b1.next}`)).body as typeof b1
    t.equal(p2.next, null)
    const all = [...b1.cdrs, ...p2.cdrs]
    t.equal(all.length, await store.count({ account: acct }))
    const voice = all.find((c) => c.service === 'voice')!
    t.match(voice, {
      id: /^api-v0#\d+#/, sessionId: 'api-v0', account: acct, subscriber: { msisdn: /^4670/ }, unit: 'seconds', durationSeconds: 45,
      start: /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/, end: /Z$/, total: '0.100000', tax: '0.000000', currency: 'EUR', moneyBuckets: { main: '0.100000' }, overage: false,
    })
    const refund = all.find((c) => c.closeReason === 'refund')!
    t.equal(refund.total, '-0.050000')

    const csv = await get(`/v1/cdrs.csv?account=${acct}`)
    t.equal(csv.status, 200)
    t.match(csv.type, /^text\/csv/)
    const lines = (csv.body as string).trimEnd().split('\r\n')
    t.equal(lines[0], CSV_HEADER.join(','))
    t.equal(lines.length, all.length + 1)
    t.ok(lines.some((l) => l.includes(',0.100000,0.000000,EUR,terminated,false,main=0.100000,')), 'money as decimals in the CSV')

    const usage = await get(`/v1/accounts/${acct}/usage?from=2000-01-01&to=2100-01-01T00:00:00Z`)
    t.equal(usage.status, 200)
    t.match(usage.body, { account: acct, from: '2000-01-01T00:00:00.000Z', to: '2100-01-01T00:00:00.000Z' })
    const svc = (usage.body as { services: Array<Record<string, unknown>> }).services
    t.same(svc.map((s) => s.service), ['data', 'sms', 'voice'])
    t.match(svc.find((s) => s.service === 'sms'), { cdrs: 2, total: '0.000000', events: 2 }, 'one SMS and its refund')
    t.match(svc.find((s) => s.service === 'voice'), { cdrs: 1, total: '0.100000', durationSeconds: 45, unit: 'seconds' })

    for (const [path, field] of [
      ['/v1/cdrs?from=yesterday', 'from'],
      ['/v1/cdrs?from=2026-02-01&to=2026-01-01', 'to'],
      ['/v1/cdrs?limit=0', 'limit'],
      ['/v1/cdrs?limit=abc', 'limit'],
      ['/v1/cdrs?cursor=nope', 'cursor'],
      ['/v1/cdrs?account=a%20b', 'account'],
      ['/v1/cdrs.csv?to=13:00', 'to'],
      ['/v1/accounts/x/usage?from=2026-13-45', 'from'],
    ] as const) {
      const r = await get(path)
      t.equal(r.status, 400, path)
      t.match(r.body, { error: 'OCS_ERR_VALIDATION', field, message: new RegExp(`^${field}: `) }, path)
    }
  })
}

/** The 1M-row CSV export on its own (a file of its own per store: it is the slow one). */
export function csvSuite(t: Test, env: () => CsvSuiteEnv): void {
  const fresh = async (t: Test): Promise<BillingStore> => {
    const { store } = await env().freshStore()
    t.teardown(() => store.close())
    return store
  }

  t.test('CSV export streams with bounded memory', { timeout: 170_000 }, async (t) => {
    const store = await fresh(t)
    const N = env().rows
    const t0 = performance.now()
    const batch: CdrRecord[] = []
    for (let i = 0; i < N; i++) {
      batch.push(record(i, 'acct-csv', 1_767_225_600_000 + i * 10))
      if (batch.length === 10_000 || i === N - 1) {
        await store.insertBatch(batch)
        batch.length = 0
      }
    }
    const insertMs = performance.now() - t0
    t.comment(`${store.kind}: inserted ${N} rows in ${(insertMs / 1000).toFixed(1)} s = ${Math.round(N / (insertMs / 1000))} rows/s (batches of 10,000)`)
    const { app, base } = await cdrApp(store)
    t.teardown(() => app.close())

    // Live memory, not garbage: a full GC before the baseline and before every sample (every 500 ms),
    // so what is measured is what the export really holds on to.
    setFlagsFromString('--expose-gc')
    const gc = runInNewContext('gc') as () => void
    gc()
    const before = process.memoryUsage()
    let peakRss = before.rss
    let peakHeap = before.heapUsed
    const sampler = setInterval(() => {
      gc()
      const m = process.memoryUsage()
      peakRss = Math.max(peakRss, m.rss)
      peakHeap = Math.max(peakHeap, m.heapUsed)
    }, 500)
    t.teardown(() => clearInterval(sampler))
    const s0 = performance.now()
    let firstByteMs = 0
    const { lines, bytes } = await new Promise<{ lines: number; bytes: number }>((res, rej) => {
      httpGet(`${base}/v1/cdrs.csv?account=acct-csv`, (r) => {
        if (r.statusCode !== 200) return rej(new Error(`status ${r.statusCode}`))
        let lines = 0
        let bytes = 0
        r.on('data', (d: Buffer) => {
          if (!firstByteMs) firstByteMs = performance.now() - s0
          bytes += d.length
          for (let i = d.indexOf(10); i !== -1; i = d.indexOf(10, i + 1)) lines++
        })
        r.on('end', () => res({ lines, bytes }))
        r.on('error', rej)
      }).on('error', rej)
    })
    clearInterval(sampler)
    const streamMs = performance.now() - s0
    const mib = (n: number): string => (n / 2 ** 20).toFixed(1)
    const rssGrowth = (peakRss - before.rss) / 2 ** 20
    const heapGrowth = (peakHeap - before.heapUsed) / 2 ** 20
    t.equal(lines, N + 1, 'header + every row')
    t.comment(`${store.kind}: streamed ${N} rows (${(bytes / 2 ** 20).toFixed(0)} MiB) in ${(streamMs / 1000).toFixed(1)} s, first byte after ${firstByteMs.toFixed(0)} ms; after GC: heap ${mib(before.heapUsed)} → peak ${mib(peakHeap)} MiB, RSS ${mib(before.rss)} → peak ${mib(peakRss)} MiB`)
    // The CSV is ~280 MiB for 1M rows and the rows as objects far more: holding either would blow these bounds.
    t.ok(heapGrowth < 32, `live heap growth ${heapGrowth.toFixed(1)} MiB < 32 MiB`)
    t.ok(rssGrowth < 96, `RSS growth ${rssGrowth.toFixed(1)} MiB < 96 MiB`)
    t.ok(firstByteMs < streamMs / 4, 'the first rows arrive long before the last (streamed, not buffered)')
  })
}
