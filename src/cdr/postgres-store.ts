import type { Readable } from 'node:stream'
import pg from 'pg'
import type { Logger } from '../lib/logger.js'
import { csvStream } from './csv.js'
import { SCHEMA_MIGRATIONS_DDL, pending } from './migrations.js'
import { CDR_COLUMNS, SELECT_LIST, encodeCursor, pageLimit, parseCursor, recordValues, rowToRecord, usageRow, type CdrColumn } from './record.js'
import type { BillingStore, CdrFilter, CdrPage, CdrQuery, CdrRecord, InsertResult, RejectedEntry, UsageTotal } from './types.js'

/** Rows fetched per chunk when iterating/exporting: bounds memory, keeps each statement short. */
const CHUNK = 2000
/** Any constant: serialises migrations of several processes starting at once. */
const MIGRATION_LOCK = 0x0c5cd7

const INT8: ReadonlySet<CdrColumn> = new Set([
  'rating_group', 'service_id', 'start_ms', 'end_ms', 'duration_s', 'octets_in', 'octets_out', 'events', 'used',
  'units_from_buckets', 'plan_version', 'total', 'tax', 'stored_ms',
])
const pgType = (c: CdrColumn): string => (INT8.has(c) ? 'int8' : c === 'overage' ? 'bool' : 'text')

// One statement per batch: every column travels as one array parameter and unnest() turns them back
// into rows, so a batch of thousands of CDRs is one round trip and one implicit transaction.
const INSERT_SQL = `INSERT INTO cdrs (${CDR_COLUMNS.join(', ')})
  SELECT * FROM unnest(${CDR_COLUMNS.map((c, i) => `$${i + 1}::${pgType(c)}[]`).join(', ')})
  ON CONFLICT (id) DO NOTHING`

export interface PostgresStoreOptions {
  /** connections (the worker uses one at a time, the API the rest) */
  poolSize?: number
  connectTimeoutMs?: number
  /** server-side statement_timeout */
  statementTimeoutMs?: number
  log?: Logger
}

/**
 * The billing store in PostgreSQL (`pg` Pool). While the server is away every call fails fast
 * (connect timeout) and the outbox worker retries; the pool reconnects by itself afterwards.
 */
export class PostgresBillingStore implements BillingStore {
  readonly kind = 'postgres' as const
  private readonly pool: pg.Pool

  constructor(connectionString: string, opts: PostgresStoreOptions = {}) {
    this.pool = new pg.Pool({
      connectionString,
      max: opts.poolSize ?? 4,
      connectionTimeoutMillis: opts.connectTimeoutMs ?? 5000,
      idleTimeoutMillis: 10_000,
      statement_timeout: opts.statementTimeoutMs ?? 60_000,
      application_name: 'ocs-billing',
    })
    // An idle connection dropped by a server restart is reported here; unhandled it would kill the process.
    this.pool.on('error', (err) => opts.log?.warn({ err: err.message }, 'billing store connection lost'))
  }

  async migrate(): Promise<void> {
    const c = await this.pool.connect()
    let broken: Error | undefined
    try {
      await c.query('BEGIN')
      await c.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK])
      await c.query(SCHEMA_MIGRATIONS_DDL)
      const applied = (await c.query<{ version: number }>('SELECT version FROM schema_migrations')).rows.map((r) => r.version)
      for (const m of pending(applied)) {
        for (const sql of m.statements('postgres')) await c.query(sql)
        await c.query('INSERT INTO schema_migrations (version, name, applied_ms) VALUES ($1, $2, $3)', [m.version, m.name, Date.now()])
      }
      await c.query('COMMIT')
    } catch (err) {
      broken = await c.query('ROLLBACK').then(() => undefined, (e: Error) => e)
      throw err
    } finally {
      // A connection that cannot even roll back is dropped, not returned to the pool.
      c.release(broken)
    }
  }

  async schemaVersion(): Promise<number> {
    const r = await this.pool.query<{ v: number | null }>('SELECT MAX(version) AS v FROM schema_migrations')
    return r.rows[0].v ?? 0
  }

  async insertBatch(cdrs: readonly CdrRecord[], rejects: readonly RejectedEntry[] = []): Promise<InsertResult> {
    if (cdrs.length === 0 && rejects.length === 0) return { written: 0, rejected: 0 }
    const now = Date.now()
    const cols: unknown[][] = CDR_COLUMNS.map(() => new Array(cdrs.length))
    cdrs.forEach((r, i) => {
      recordValues(r, now).forEach((v, c) => {
        cols[c][i] = typeof v === 'bigint' ? v.toString() : v
      })
    })
    if (rejects.length === 0) {
      const res = await this.pool.query(INSERT_SQL, cols)
      return { written: res.rowCount ?? 0, rejected: 0 }
    }
    const c = await this.pool.connect()
    let broken: Error | undefined
    try {
      await c.query('BEGIN')
      const res = cdrs.length ? await c.query(INSERT_SQL, cols) : { rowCount: 0 }
      const rej = await c.query(
        `INSERT INTO cdr_rejects (stream, entry_id, raw, error, stored_ms)
         SELECT *, $5::int8 FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) ON CONFLICT DO NOTHING`,
        [rejects.map((j) => j.stream), rejects.map((j) => j.entryId), rejects.map((j) => j.raw), rejects.map((j) => j.error), now],
      )
      await c.query('COMMIT')
      return { written: res.rowCount ?? 0, rejected: rej.rowCount ?? 0 }
    } catch (err) {
      broken = await c.query('ROLLBACK').then(() => undefined, (e: Error) => e)
      throw err
    } finally {
      // A connection that cannot even roll back is dropped, not returned to the pool.
      c.release(broken)
    }
  }

  private async page(filter: CdrFilter, after: { end: number; id: string } | null, limit: number): Promise<CdrRecord[]> {
    const where: string[] = []
    const params: unknown[] = []
    const p = (v: unknown): string => `$${params.push(v)}`
    if (filter.account !== undefined) where.push(`account = ${p(filter.account)}`)
    if (filter.from !== undefined) where.push(`end_ms >= ${p(filter.from)}`)
    if (filter.to !== undefined) where.push(`end_ms < ${p(filter.to)}`)
    if (after) where.push(`(end_ms, id) > (${p(after.end)}, ${p(after.id)})`)
    const sql = `SELECT ${SELECT_LIST} FROM cdrs ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY end_ms, id LIMIT ${p(limit)}`
    // Keyset pages must come straight off an index in (end_ms, id) order. With fresh or stale
    // statistics (a table just bulk-filled, before autovacuum analyses it) the planner may prefer
    // a bitmap scan + top-N sort of every matching row, per page: quadratic over an export. Ruling
    // sorts out for this one statement keeps every page O(page size).
    const c = await this.pool.connect()
    let broken: Error | undefined
    try {
      await c.query('BEGIN READ ONLY')
      await c.query('SET LOCAL enable_sort = off')
      const res = await c.query<unknown[]>({ text: sql, values: params, rowMode: 'array' })
      await c.query('COMMIT')
      return res.rows.map(rowToRecord)
    } catch (err) {
      broken = await c.query('ROLLBACK').then(() => undefined, (e: Error) => e)
      throw err
    } finally {
      // A connection that cannot even roll back is dropped, not returned to the pool.
      c.release(broken)
    }
  }

  async query(q: CdrQuery): Promise<CdrPage> {
    const limit = pageLimit(q.limit)
    const after = q.cursor ? parseCursor(q.cursor) : null
    const rows = await this.page(q, after, limit + 1)
    const more = rows.length > limit
    if (more) rows.length = limit
    return { cdrs: rows, next: more ? encodeCursor(rows[rows.length - 1]) : null }
  }

  async count(filter: CdrFilter): Promise<number> {
    const where: string[] = []
    const params: unknown[] = []
    if (filter.account !== undefined) where.push(`account = $${params.push(filter.account)}`)
    if (filter.from !== undefined) where.push(`end_ms >= $${params.push(filter.from)}`)
    if (filter.to !== undefined) where.push(`end_ms < $${params.push(filter.to)}`)
    const res = await this.pool.query<{ n: string }>(`SELECT COUNT(*) AS n FROM cdrs ${where.length ? `WHERE ${where.join(' AND ')}` : ''}`, params)
    return Number(res.rows[0].n)
  }

  /** Keyset chunks: no transaction or connection is held while a slow client reads the export. */
  async *iterate(filter: CdrFilter): AsyncGenerator<CdrRecord> {
    let after: { end: number; id: string } | null = null
    for (;;) {
      const rows = await this.page(filter, after, CHUNK)
      for (const r of rows) yield r
      if (rows.length < CHUNK) return
      const last = rows[rows.length - 1]
      after = { end: last.end, id: last.id }
    }
  }

  streamCsv(filter: CdrFilter): Readable {
    return csvStream(this.iterate(filter))
  }

  async usage(account: string, from?: number, to?: number): Promise<UsageTotal[]> {
    const where = ['account = $1']
    const params: unknown[] = [account]
    if (from !== undefined) where.push(`end_ms >= $${params.push(from)}`)
    if (to !== undefined) where.push(`end_ms < $${params.push(to)}`)
    const res = await this.pool.query<Record<string, unknown>>(
      `SELECT service, unit, currency, COUNT(*) AS cdrs, SUM(used) AS used, SUM(duration_s) AS duration_s,
         SUM(octets_in) AS octets_in, SUM(octets_out) AS octets_out, SUM(events) AS events, SUM(total) AS total, SUM(tax) AS tax
       FROM cdrs WHERE ${where.join(' AND ')} GROUP BY service, unit, currency ORDER BY service COLLATE "C" NULLS LAST, unit NULLS LAST, currency`,
      params,
    )
    return res.rows.map(usageRow)
  }

  async rejects(limit = 100): Promise<RejectedEntry[]> {
    const res = await this.pool.query<{ stream: string; entry_id: string; raw: string; error: string }>(
      'SELECT stream, entry_id, raw, error FROM cdr_rejects ORDER BY stored_ms DESC, entry_id DESC LIMIT $1',
      [limit],
    )
    return res.rows.map((r) => ({ stream: r.stream, entryId: r.entry_id, raw: r.raw, error: r.error }))
  }

  async ping(): Promise<void> {
    await this.pool.query('SELECT 1')
  }

  async close(): Promise<void> {
    await this.pool.end()
  }
}
