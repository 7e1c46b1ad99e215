// The CDR part of `npm run bench`: outbox → billing store drain rate for SQLite and PostgreSQL
// (the real CdrWorker, 100,000 CDRs spread over the 64 outbox shards), and charging updates/s with
// the worker draining vs paused. Returns Markdown lines.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import { EmbeddedRedis } from '../src/balance/embedded-redis.js'
import { createLogger } from '../src/lib/logger.js'
import { keys, SHARD_COUNT } from '../src/balance/keys.js'
import { CdrWorker } from '../src/cdr/worker.js'
import { SqliteBillingStore } from '../src/cdr/sqlite-store.js'
import { PostgresBillingStore } from '../src/cdr/postgres-store.js'
import type { BillingStore } from '../src/cdr/types.js'
import { startPostgres } from '../test/helpers/postgres.js'

const N = 100_000
/** CDRs drained, unmeasured, before each measured drain: a long-running worker's code is optimised. */
const WARM_UP = 20_000

function cdrJson(i: number, prefix = 'bench'): string {
  return JSON.stringify({
    id: `${prefix}#${i}`, account: `a${i % 500}`, subscriber: { msisdn: `4670${i % 500}` }, sessionId: `s${i}`, node: 'bench', protocol: 'diameter',
    service: 'data', ratingGroup: 1, serviceContext: '32251@3gpp.org', unit: 'octets', start: String(1_790_000_000_000 + i), end: String(1_790_000_060_000 + i),
    used: '5242880', inputOctets: '2000000', outputOctets: '3242880', unitsFromBuckets: '0', unitBuckets: {}, tariff: 'data-1MB', planVersion: 1,
    moneyBuckets: { main: '50000' }, total: '50000', tax: '0', currency: 'EUR', closeReason: 'terminated', overage: false,
  })
}

/** Fills the outbox with n (N) synthetic CDRs (used here and by bench.ts for the worker-running measurement). */
export async function fill(client: Redis, n = N, prefix = 'bench'): Promise<void> {
  for (let i = 0; i < n; i += 1000) {
    const p = client.pipeline()
    for (let j = i; j < Math.min(n, i + 1000); j++) p.xadd(keys.outbox(j % SHARD_COUNT), '*', 'cdr', cdrJson(j, prefix))
    await p.exec()
  }
}

/** Drains WARM_UP CDRs, then measures the drain of N; returns CDRs/s and the worker's batch size (its default for the store). */
async function drain(client: Redis, store: BillingStore): Promise<{ rate: number; batch: number }> {
  let written = 0
  let target = WARM_UP
  let finished: () => void = () => undefined
  let done = new Promise<void>((res) => (finished = res))
  const w = new CdrWorker(client, store, { consumer: 'bench', onBatch: (n) => { written += n; if (written >= target) finished() } }, createLogger('silent'))
  await fill(client, WARM_UP, 'warm')
  await w.start()
  await done
  await w.stop()
  await fill(client)
  written = 0
  target = N
  done = new Promise<void>((res) => (finished = res))
  const t0 = Date.now()
  await w.start()
  await done
  const rate = Math.round(N / ((Date.now() - t0) / 1000))
  await w.stop()
  return { rate, batch: w.options.batchSize }
}

export async function benchCdr(): Promise<string[]> {
  const dir = mkdtempSync(join(tmpdir(), 'ocs-bench-cdr-'))
  const redis = new EmbeddedRedis(join(dir, 'redis'), createLogger('silent'))
  await redis.start()
  const client = new Redis({ port: redis.port })
  const rows = ['| CDR benchmark | CDRs/s | target |', '|---|---:|---|']
  try {
    const sqlite = new SqliteBillingStore(join(dir, 'billing.sqlite'))
    await sqlite.migrate()
    const s = await drain(client, sqlite)
    rows.push(`| outbox → SQLite (WAL), CdrWorker, batch ${s.batch.toLocaleString('en')} | ${s.rate.toLocaleString('en')} | ≥ 50,000 |`)
    await sqlite.close()
    const pg = await startPostgres()
    try {
      await client.flushall()
      const store = new PostgresBillingStore(pg.url)
      await store.migrate()
      const p = await drain(client, store)
      rows.push(`| outbox → PostgreSQL, CdrWorker, batch ${p.batch.toLocaleString('en')} | ${p.rate.toLocaleString('en')} | ≥ 20,000 |`)
      await store.close()
    } finally {
      await pg.stop()
    }
  } finally {
    client.disconnect()
    await redis.stop()
    rmSync(dir, { recursive: true, force: true })
  }
  return rows
}
