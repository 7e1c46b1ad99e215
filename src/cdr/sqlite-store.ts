import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import type { Readable } from 'node:stream'
import Database from 'better-sqlite3'
import { csvStream } from './csv.js'
import { MIGRATIONS, SCHEMA_MIGRATIONS_DDL, pending } from './migrations.js'
import { CDR_COLUMNS, SELECT_LIST, encodeCursor, pageLimit, parseCursor, recordValues, rowToRecord, usageRow, type ColumnValue } from './record.js'
import {
  type BillingStore,
  type CdrFilter,
  type CdrPage,
  type CdrQuery,
  type CdrRecord,
  type InsertResult,
  type RejectedEntry,
  type UsageTotal,
} from './types.js'

/**
 * Money comes back as text (exact, then BigInt) and every other integer as a plain number (all are
 * below 2^53): cheaper than safeIntegers(), which would make a BigInt of every integer column.
 */
const SQLITE_SELECT = SELECT_LIST.replace(/\btotal\b/, 'CAST(total AS TEXT) AS total').replace(/\btax\b/, 'CAST(tax AS TEXT) AS tax')

/** Rows fetched per chunk when iterating/exporting: bounds memory and how long one read holds the event loop. */
const CHUNK = 1000

/** Page size of a newly created store file (see the constructor). */
export const PAGE_SIZE = 16384

/**
 * The billing store in one SQLite file (better-sqlite3, WAL). Several processes may share the file
 * (the OCS and `npm run cdr-worker`): writers take the write lock with BEGIN IMMEDIATE and wait up
 * to busyTimeoutMs for each other; readers never block the writer.
 * synchronous=FULL: a commit is on disk before the worker XACKs, so a power cut cannot lose a CDR
 * that Redis has already forgotten (one fsync per batch, not per CDR).
 */
export class SqliteBillingStore implements BillingStore {
  readonly kind = 'sqlite' as const
  private readonly db: Database.Database
  private readonly insertStmt: Database.Statement
  private readonly rejectStmt: Database.Statement
  private readonly selects = new Map<string, Database.Statement>()
  private readonly insertTx: (cdrs: readonly CdrRecord[], rejects: readonly RejectedEntry[]) => InsertResult

  constructor(readonly path: string, opts: { busyTimeoutMs?: number } = {}) {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true })
    this.db = new Database(path, { timeout: opts.busyTimeoutMs ?? 5000 })
    // 16 KiB pages for a new file (an existing one keeps the size it was created with): each CDR
    // touches four B-trees (rows, id, account, end), and wider pages make those inserts about a
    // fifth cheaper (measured: 9.2 → 7.3 µs per row; queries by account and exports unchanged).
    this.db.pragma(`page_size = ${PAGE_SIZE}`)
    this.db.pragma('journal_mode = WAL')
    this.db.pragma('synchronous = FULL')
    this.db.pragma('foreign_keys = ON')
    // 32 MiB page cache (default 2 MiB): the index pages of recent CDRs stay hot under load.
    this.db.pragma('cache_size = -32768')
    this.migrateSync()
    const cols = CDR_COLUMNS.join(', ')
    // One prepared single-row INSERT run per CDR inside the transaction: measured faster here than
    // multi-row VALUES lists (better-sqlite3 binds are cheap; the cost is in the B-trees).
    const params = CDR_COLUMNS.map(() => '?').join(', ')
    this.insertStmt = this.db.prepare(`INSERT INTO cdrs (${cols}) VALUES (${params}) ON CONFLICT (id) DO NOTHING`)
    this.rejectStmt = this.db.prepare('INSERT INTO cdr_rejects (stream, entry_id, raw, error, stored_ms) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING')
    const tx = this.db.transaction((cdrs: readonly CdrRecord[], rejects: readonly RejectedEntry[]): InsertResult => {
      const now = Date.now()
      let written = 0
      for (const r of cdrs) written += this.insertStmt.run(recordValues(r, now).map(bind)).changes
      let rejected = 0
      for (const j of rejects) rejected += this.rejectStmt.run(j.stream, j.entryId, j.raw, j.error, now).changes
      return { written, rejected }
    })
    this.insertTx = (cdrs, rejects) => tx.immediate(cdrs, rejects)
  }

  /** The constructor already migrated (it needs the tables to prepare its statements); this re-checks. */
  async migrate(): Promise<void> {
    this.migrateSync()
  }

  private migrateSync(): void {
    this.db.exec(SCHEMA_MIGRATIONS_DDL)
    const run = this.db.transaction(() => {
      const applied = (this.db.prepare('SELECT version FROM schema_migrations').all() as Array<{ version: number }>).map((r) => r.version)
      for (const m of pending(applied)) {
        for (const sql of m.statements('sqlite')) this.db.exec(sql)
        this.db.prepare('INSERT INTO schema_migrations (version, name, applied_ms) VALUES (?, ?, ?)').run(m.version, m.name, Date.now())
      }
    })
    // IMMEDIATE: two processes starting at once serialise here instead of both creating the tables.
    run.immediate()
  }

  /** Latest schema version (tests, health). */
  schemaVersion(): number {
    const r = this.db.prepare('SELECT MAX(version) AS v FROM schema_migrations').get() as { v: number | null }
    return r.v ?? 0
  }

  async insertBatch(cdrs: readonly CdrRecord[], rejects: readonly RejectedEntry[] = []): Promise<InsertResult> {
    if (cdrs.length === 0 && rejects.length === 0) return { written: 0, rejected: 0 }
    return this.insertTx(cdrs, rejects)
  }

  private select(filter: CdrFilter, after: boolean): { stmt: Database.Statement; params: ColumnValue[] } {
    const where: string[] = []
    if (filter.account !== undefined) where.push('account = ?')
    if (filter.from !== undefined) where.push('end_ms >= ?')
    if (filter.to !== undefined) where.push('end_ms < ?')
    if (after) where.push('(end_ms, id) > (?, ?)')
    const sql = `SELECT ${SQLITE_SELECT} FROM cdrs ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY end_ms, id LIMIT ?`
    let stmt = this.selects.get(sql)
    if (!stmt) {
      stmt = this.db.prepare(sql).raw(true)
      this.selects.set(sql, stmt)
    }
    const params: ColumnValue[] = []
    if (filter.account !== undefined) params.push(filter.account)
    if (filter.from !== undefined) params.push(filter.from)
    if (filter.to !== undefined) params.push(filter.to)
    return { stmt, params }
  }

  private page(filter: CdrFilter, after: { end: number; id: string } | null, limit: number): CdrRecord[] {
    const { stmt, params } = this.select(filter, after !== null)
    if (after) params.push(after.end, after.id)
    params.push(limit)
    return (stmt.all(...params) as unknown[][]).map(rowToRecord)
  }

  async query(q: CdrQuery): Promise<CdrPage> {
    const limit = pageLimit(q.limit)
    const after = q.cursor ? parseCursor(q.cursor) : null
    const rows = this.page(q, after, limit + 1)
    const more = rows.length > limit
    if (more) rows.length = limit
    return { cdrs: rows, next: more ? encodeCursor(rows[rows.length - 1]) : null }
  }

  async count(filter: CdrFilter): Promise<number> {
    const where: string[] = []
    const params: ColumnValue[] = []
    if (filter.account !== undefined) (where.push('account = ?'), params.push(filter.account))
    if (filter.from !== undefined) (where.push('end_ms >= ?'), params.push(filter.from))
    if (filter.to !== undefined) (where.push('end_ms < ?'), params.push(filter.to))
    const r = this.db.prepare(`SELECT COUNT(*) AS n FROM cdrs ${where.length ? `WHERE ${where.join(' AND ')}` : ''}`).get(...params) as { n: number }
    return r.n
  }

  /**
   * Keyset chunks rather than one long statement.iterate(): a better-sqlite3 connection cannot run
   * anything else while an iterator is open, and a slow HTTP client would hold it (and a WAL read
   * snapshot, blocking checkpoints) for the whole export. better-sqlite3 is synchronous, so the
   * generator yields to the event loop after each chunk: without that an export would run to the
   * end in microtasks, starving sockets (charging!) and never letting back-pressure apply.
   */
  async *iterate(filter: CdrFilter): AsyncGenerator<CdrRecord> {
    let after: { end: number; id: string } | null = null
    for (;;) {
      const rows = this.page(filter, after, CHUNK)
      for (const r of rows) yield r
      if (rows.length < CHUNK) return
      const last = rows[rows.length - 1]
      after = { end: last.end, id: last.id }
      await new Promise<void>((resolve) => setImmediate(resolve))
    }
  }

  streamCsv(filter: CdrFilter): Readable {
    return csvStream(this.iterate(filter))
  }

  async usage(account: string, from?: number, to?: number): Promise<UsageTotal[]> {
    const where = ['account = ?']
    const params: ColumnValue[] = [account]
    if (from !== undefined) (where.push('end_ms >= ?'), params.push(from))
    if (to !== undefined) (where.push('end_ms < ?'), params.push(to))
    const rows = this.db
      .prepare(
        `SELECT service, unit, currency, COUNT(*) AS cdrs, SUM(used) AS used, SUM(duration_s) AS duration_s,
           SUM(octets_in) AS octets_in, SUM(octets_out) AS octets_out, SUM(events) AS events, SUM(total) AS total, SUM(tax) AS tax
         FROM cdrs WHERE ${where.join(' AND ')} GROUP BY service, unit, currency ORDER BY service NULLS LAST, unit NULLS LAST, currency`,
      )
      .safeIntegers(true)
      .all(...params) as Array<Record<string, unknown>>
    return rows.map(usageRow)
  }

  async rejects(limit = 100): Promise<RejectedEntry[]> {
    const rows = this.db
      .prepare('SELECT stream, entry_id, raw, error FROM cdr_rejects ORDER BY stored_ms DESC, entry_id DESC LIMIT ?')
      .all(limit) as Array<{ stream: string; entry_id: string; raw: string; error: string }>
    return rows.map((r) => ({ stream: r.stream, entryId: r.entry_id, raw: r.raw, error: r.error }))
  }

  async ping(): Promise<void> {
    this.db.prepare('SELECT 1').get()
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close()
  }

  /** For tests: how many migrations the code knows. */
  static readonly latestVersion = MIGRATIONS[MIGRATIONS.length - 1].version
}

/** better-sqlite3 binds booleans as errors; 0/1 is the schema's BOOLEAN on SQLite. */
function bind(v: ColumnValue): string | number | bigint | null {
  return typeof v === 'boolean' ? (v ? 1 : 0) : v
}
