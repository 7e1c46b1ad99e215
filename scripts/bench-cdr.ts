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

function cdrJson(i: number): string {
  return JSON.stringify({
    id: `bench#${i}`, account: `a${i % 500}`, subscriber: { msisdn: `4670${i % 500}` }, sessionId: `s${i}`, node: 'bench', protocol: 'diameter',
    service: 'data', ratingGroup: 1, serviceContext: '32251@3gpp.org', unit: 'octets', start: String(1_790_000_000_000 + i), end: String(1_790_000_060_000 + i),
    used: '5242880', inputOctets: '2000000', outputOctets: '3242880', unitsFromBuckets: '0', unitBuckets: {}, tariff: 'data-1MB', planVersion: 1,
    moneyBuckets: { main: '50000' }, total: '50000', tax: '0', currency: 'EUR', closeReason: 'terminated', overage: false,
  })
}

/** Fills the outbox with N synthetic CDRs (used here and by bench.ts for the worker-running measurement). */
export async function fill(client: Redis): Promise<void> {
  for (let i = 0; i < N; i += 1000) {
    const p = client.pipeline()
    for (let j = i; j < i + 1000; j++) p.xadd(keys.outbox(j % SHARD_COUNT), '*', 'cdr', cdrJson(j))
    await p.exec()
  }
}

async function drain(client: Redis, store: BillingStore): Promise<number> {
  let written = 0
  let finished: () => void = () => undefined
  const done = new Promise<void>((res) => (finished = res))
  const w = new CdrWorker(client, store, { consumer: 'bench', batchSize: 1000, onBatch: (n) => { written += n; if (written >= N) finished() } }, createLogger('silent'))
  const t0 = Date.now()
  await w.start()
  await done
  const rate = Math.round(N / ((Date.now() - t0) / 1000))
  await w.stop()
  return rate
}

export async function benchCdr(): Promise<string[]> {
  const dir = mkdtempSync(join(tmpdir(), 'ocs-bench-cdr-'))
  const redis = new EmbeddedRedis(join(dir, 'redis'), createLogger('silent'))
  await redis.start()
  const client = new Redis({ port: redis.port })
  const rows = ['| CDR benchmark | CDRs/s | target |', '|---|---:|---|']
  try {
    await fill(client)
    const sqlite = new SqliteBillingStore(join(dir, 'billing.sqlite'))
    await sqlite.migrate()
    rows.push(`| outbox → SQLite (WAL), CdrWorker, batch 1000 | ${(await drain(client, sqlite)).toLocaleString('en')} | ≥ 50,000 |`)
    await sqlite.close()
    const pg = await startPostgres()
    try {
      await client.flushall()
      await fill(client)
      const store = new PostgresBillingStore(pg.url)
      await store.migrate()
      rows.push(`| outbox → PostgreSQL, CdrWorker, batch 1000 | ${(await drain(client, store)).toLocaleString('en')} | ≥ 20,000 |`)
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
