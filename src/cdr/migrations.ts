// Versioned migrations of the billing store, one list for SQLite and PostgreSQL. Each store applies
// the versions missing from `schema_migrations` in order, each in its own transaction. Append new
// versions at the end; never edit one that has shipped.
//
// The schema is the same on both: integers are BIGINT (SQLite stores any INTEGER as 64-bit),
// money is integer micro-units, times are ms since the epoch, bucket amounts are JSON text.
// Only the spelling differs: PostgreSQL compares CDR ids bytewise (COLLATE "C", the same order
// SQLite uses, so cursor pages agree) and has a real BOOLEAN.

export type Dialect = 'sqlite' | 'postgres'

export interface Migration {
  version: number
  name: string
  statements: (d: Dialect) => string[]
}

const idText = (d: Dialect): string => (d === 'postgres' ? 'TEXT COLLATE "C"' : 'TEXT')
const bool = (d: Dialect): string => (d === 'postgres' ? 'BOOLEAN' : 'INTEGER')
const falseValue = (d: Dialect): string => (d === 'postgres' ? 'FALSE' : '0')

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'cdrs',
    statements: (d) => [
      `CREATE TABLE cdrs (
        id ${idText(d)} PRIMARY KEY,
        account ${idText(d)} NOT NULL,
        msisdn TEXT,
        imsi TEXT,
        sip TEXT,
        username TEXT,
        session_id TEXT,
        node TEXT,
        protocol TEXT,
        service TEXT,
        rating_group BIGINT,
        service_id BIGINT,
        service_context TEXT,
        unit TEXT,
        start_ms BIGINT NOT NULL,
        end_ms BIGINT NOT NULL,
        duration_s BIGINT NOT NULL DEFAULT 0,
        octets_in BIGINT NOT NULL DEFAULT 0,
        octets_out BIGINT NOT NULL DEFAULT 0,
        events BIGINT NOT NULL DEFAULT 0,
        used BIGINT NOT NULL DEFAULT 0,
        units_from_buckets BIGINT NOT NULL DEFAULT 0,
        unit_buckets TEXT NOT NULL DEFAULT '{}',
        destination TEXT,
        destination_name TEXT,
        tariff TEXT,
        plan_version BIGINT,
        money_buckets TEXT NOT NULL DEFAULT '{}',
        total BIGINT NOT NULL,
        tax BIGINT NOT NULL DEFAULT 0,
        currency TEXT NOT NULL,
        close_reason TEXT,
        overage ${bool(d)} NOT NULL DEFAULT ${falseValue(d)},
        stored_ms BIGINT NOT NULL
      )`,
      // Queries and exports by account and period, in (end, id) order: the cursor is (end_ms, id).
      'CREATE INDEX cdrs_account_end ON cdrs (account, end_ms, id)',
      // The same for the whole operator (no account filter).
      'CREATE INDEX cdrs_end ON cdrs (end_ms, id)',
      // Outbox entries that are not CDRs: kept for the operator instead of being dropped or retried forever.
      `CREATE TABLE cdr_rejects (
        stream TEXT NOT NULL,
        entry_id TEXT NOT NULL,
        raw TEXT NOT NULL,
        error TEXT NOT NULL,
        stored_ms BIGINT NOT NULL,
        PRIMARY KEY (stream, entry_id)
      )`,
    ],
  },
]

export const SCHEMA_MIGRATIONS_DDL = `CREATE TABLE IF NOT EXISTS schema_migrations (
  version INTEGER PRIMARY KEY,
  name TEXT NOT NULL,
  applied_ms BIGINT NOT NULL
)`

/** Migrations not yet applied, in version order. */
export function pending(applied: Iterable<number>): Migration[] {
  const done = new Set(applied)
  return MIGRATIONS.filter((m) => !done.has(m.version)).sort((a, b) => a.version - b.version)
}
