import { randomBytes } from 'node:crypto'
import { hostname } from 'node:os'
import type { RedisClient } from '../balance/connect.js'
import { SHARD_COUNT, keys } from '../balance/keys.js'
import type { Component } from '../lib/lifecycle.js'
import type { Logger } from '../lib/logger.js'
import { CdrFormatError, parseOutboxCdr } from './record.js'
import type { BillingStore, CdrRecord, InsertResult, RejectedEntry } from './types.js'

// The CDR outbox consumer: every shard's outbox stream (written by the charging Lua scripts in the
// same script as the debit) → the billing store, exactly once in effect:
//
//   XREADGROUP (a window of shards at a time, bounded COUNT) → ONE store transaction
//   (INSERT … ON CONFLICT (id) DO NOTHING) → commit → XACK + XDEL (MULTI, same key).
//
// A crash between the commit and the XACK leaves the entries pending; whoever reclaims them
// (XAUTOCLAIM once they have been idle claimIdleMs) writes them again and the primary key makes
// that a no-op. Nothing is acknowledged before it is committed, so nothing is lost.
//
// Redis Cluster: each shard stream is its own key with its own hash tag, and every command here
// names one key, so it runs unchanged on a cluster. No command blocks the connection (no BLOCK):
// an idle pass sleeps blockMs instead, so the worker can share a client without holding it.
// The charging path never waits for the worker: if the store is down the worker retries the batch
// it holds with backoff, and everything else waits in Redis.

export interface CdrWorkerOptions {
  /** consumer name in the group; unique per process by default (host-pid-random) */
  consumer: string
  /** consumer group shared by every worker */
  group: string
  /**
   * most CDRs in one store transaction (the next window of shards is read meanwhile); by default
   * SQLITE_BATCH for SQLite, 1000 otherwise
   */
  batchSize: number
  /** pause after a pass that found every shard empty */
  blockMs: number
  /** share of the time the worker may spend draining (0 < d ≤ 1); < 1 sleeps after each batch in proportion */
  dutyCycle: number
  /** pending entries idle this long (a dead or stuck consumer's) are taken over with XAUTOCLAIM */
  claimIdleMs: number
  /** shards read concurrently in one window */
  shardsPerRead: number
  /** backoff between retries while the store (or Redis) fails */
  retryMinMs: number
  retryMaxMs: number
  /** XDEL acknowledged entries so the streams do not grow forever (the outbox belongs to this group) */
  deleteAcked: boolean
  /** consumers of the group idle this long with nothing pending are removed (XGROUP DELCONSUMER) */
  forgetConsumerMs: number
  /** stop() waits this long for the batch in hand, then returns (its entries stay pending) */
  stopTimeoutMs: number
  /** after each committed batch: new rows written, store transaction time, entries handled */
  onBatch?: (written: number, ms: number, entries: number) => void
  /** every failure: a store write that did not commit ('store', retried) or a Redis call ('outbox'); the worker keeps going */
  onError?: (err: Error, source: 'store' | 'outbox') => void
}

export interface CdrWorkerStats {
  batches: number
  /** entries committed (CDRs + rejects); each batch is acknowledged right after its commit */
  entries: number
  /** new rows in the store */
  written: number
  /** entries already in the store (replays after a crash or a reclaim) */
  duplicates: number
  /** entries that were not CDRs, kept in cdr_rejects */
  rejected: number
  /** entries taken over from other consumers */
  reclaimed: number
  /** failed store writes / Redis calls */
  failures: number
  lastError: string | null
}

interface Entry {
  stream: string
  id: string
  /** the `cdr` field; null when the entry was deleted while pending */
  raw: string | null
}

interface Item {
  entry: Entry
  cdr: CdrRecord
}

/**
 * SQLite's default batch. A commit writes every page the batch dirtied (rows and three indexes) to
 * the WAL and fsyncs it, so bigger batches share those pages among more CDRs: 100,000 outbox CDRs
 * cost ~9.4 µs a row in SQLite at 1,000 a batch and ~6.6–8 at 5,000 (ids in order, as from one
 * gateway), ~22–24 and ~11–13 with ids in random order (BENCHMARKS.md). PostgreSQL showed no
 * difference. A batch is parsed on the worker's event loop: ~25 ms at 5,000.
 */
export const SQLITE_BATCH = 5000

const DEFAULTS: Omit<CdrWorkerOptions, 'consumer' | 'onBatch' | 'onError'> = {
  group: 'cdr-writers',
  batchSize: 1000,
  blockMs: 200,
  dutyCycle: 1,
  claimIdleMs: 30_000,
  shardsPerRead: 8,
  retryMinMs: 100,
  retryMaxMs: 5_000,
  deleteAcked: true,
  forgetConsumerMs: 3_600_000,
  stopTimeoutMs: 3_000,
}

export function defaultConsumerName(): string {
  return `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`
}

export class CdrWorker implements Component {
  readonly name = 'cdr-worker'
  readonly options: Readonly<CdrWorkerOptions>
  private readonly shards: number[]
  private readonly perShard: number
  /** the shards in windows of shardsPerRead, read together */
  private readonly windows: number[][]
  private readonly log: Logger
  private stopping = true
  private loop: Promise<void> | null = null
  private wake: (() => void) | null = null
  private ready = false
  private migrated = false
  private nextReclaim = 0
  /** the last committed batch's XACK + XDEL, still in flight */
  private acking: Promise<void> | null = null
  private storeDownSince = 0
  private lastStoreLog = 0
  private readonly s: CdrWorkerStats = { batches: 0, entries: 0, written: 0, duplicates: 0, rejected: 0, reclaimed: 0, failures: 0, lastError: null }

  constructor(
    private readonly redis: RedisClient,
    private readonly store: BillingStore,
    options: Partial<CdrWorkerOptions> = {},
    log: Logger,
  ) {
    const o = { ...DEFAULTS, batchSize: store.kind === 'sqlite' ? SQLITE_BATCH : DEFAULTS.batchSize, consumer: defaultConsumerName(), ...stripUndefined(options) }
    if (!Number.isInteger(o.batchSize) || o.batchSize < 1) throw new RangeError('batchSize: a positive integer')
    if (!Number.isInteger(o.shardsPerRead) || o.shardsPerRead < 1) throw new RangeError('shardsPerRead: a positive integer')
    if (!(o.dutyCycle > 0 && o.dutyCycle <= 1)) throw new RangeError('dutyCycle: a share of time in (0, 1]')
    this.options = Object.freeze(o)
    this.shards = Array.from({ length: SHARD_COUNT }, (_, i) => i)
    this.perShard = Math.max(1, Math.ceil(o.batchSize / Math.min(o.shardsPerRead, SHARD_COUNT)))
    this.windows = []
    for (let i = 0; i < SHARD_COUNT; i += o.shardsPerRead) this.windows.push(this.shards.slice(i, i + o.shardsPerRead))
    this.log = log.child({ component: 'cdr-worker', consumer: o.consumer })
  }

  get stats(): Readonly<CdrWorkerStats> {
    return { ...this.s }
  }

  async start(): Promise<void> {
    if (this.loop && !this.stopping) return
    if (this.loop) await this.loop // a stop() that timed out: let that loop end first
    this.stopping = false
    const loop = this.run()
    this.loop = loop
    void loop.finally(() => {
      if (this.loop === loop) this.loop = null
    })
    this.log.info({ group: this.options.group, batchSize: this.options.batchSize, store: this.store.kind }, 'CDR worker started')
  }

  async stop(): Promise<void> {
    if (!this.loop || this.stopping) return
    this.stopping = true
    this.wake?.()
    const loop = this.loop
    let timer: NodeJS.Timeout | undefined
    const timedOut = await Promise.race([
      loop.then(() => false),
      new Promise<boolean>((res) => (timer = setTimeout(() => res(true), this.options.stopTimeoutMs))),
    ])
    clearTimeout(timer)
    if (timedOut) this.log.warn('CDR worker did not finish its batch in time; its entries stay pending and will be reclaimed')
    this.log.info({ ...this.s }, 'CDR worker stopped')
  }

  /** Entries per shard not yet committed (read or not): the streams hold only unacknowledged CDRs. */
  async backlog(): Promise<number[]> {
    return Promise.all(this.shards.map((s) => this.redis.xlen(keys.outbox(s))))
  }

  /** Entries per shard delivered to a consumer and not yet acknowledged (XPENDING summary). */
  async pending(): Promise<number[]> {
    return Promise.all(
      this.shards.map(async (s) => {
        try {
          const r = (await this.redis.xpending(keys.outbox(s), this.options.group)) as [number | string, ...unknown[]]
          return Number(r[0])
        } catch (err) {
          if (isNoGroup(err)) return 0
          throw err
        }
      }),
    )
  }

  // --- the loop ------------------------------------------------------------------------------

  private async run(): Promise<void> {
    let failures = 0
    while (!this.stopping) {
      try {
        await this.prepare()
        if (Date.now() >= this.nextReclaim) {
          await this.reclaim()
          this.nextReclaim = Date.now() + Math.max(1000, Math.floor(this.options.claimIdleMs / 2))
        }
        const t0 = Date.now()
        const n = await this.pass()
        await this.settleAck()
        failures = 0
        if (n === 0) await this.sleep(this.options.blockMs)
        else if (this.options.dutyCycle < 1) {
          // Leave the CPU to charging: work at most dutyCycle of the time (backlog still drains far
          // faster than sessions close, and waits in Redis meanwhile).
          await this.sleep(Math.ceil(((Date.now() - t0) * (1 - this.options.dutyCycle)) / this.options.dutyCycle))
        }
      } catch (err) {
        // Recreate the groups if Redis lost them, and in any case take up our own pending entries
        // again: a batch read before a failure (Redis paused or restarted mid-pass) is ours to
        // finish, not something to leave for XAUTOCLAIM after claimIdleMs.
        this.ready = false
        this.fail(err, 'CDR outbox pass failed')
        failures++
        await this.sleep(this.backoff(failures))
      }
    }
    // Stopping: the last batch's XACK is let finish (if it fails, its entries are simply read again).
    await this.settleAck().catch(() => undefined)
  }

  /** Groups exist on every shard stream and our own pending entries (a reused consumer name) are done. */
  private async prepare(): Promise<void> {
    if (!this.ready) {
      await Promise.all(
        this.shards.map(async (s) => {
          try {
            // From 0: CDRs written before any worker ever ran are drained too.
            await this.redis.xgroup('CREATE', keys.outbox(s), this.options.group, '0', 'MKSTREAM')
          } catch (err) {
            if (!/BUSYGROUP/.test((err as Error).message)) throw err
          }
        }),
      )
      this.ready = true
      // A consumer name reused across restarts (options.consumer) finds its own pending entries here.
      await this.drainOwnPending()
    }
  }

  private async ensureMigrated(): Promise<void> {
    if (this.migrated) return
    await this.store.migrate()
    this.migrated = true
  }

  /**
   * One pass over every shard, a window of shards at a time. Returns entries handled.
   * The next window is read while the batch in hand is written: Redis serves those XREADGROUPs
   * while the store transaction runs (synchronous with SQLite), so the two waits overlap instead of
   * adding up. Held in memory at most: the batch in hand, the window that did not fit in it and
   * the window being read (each window at most batchSize).
   */
  private async pass(): Promise<number> {
    const windows = this.windows
    const acc: Entry[] = []
    let handled = 0
    let ahead: Promise<Entry[]> | null = this.readWindow(windows[0])
    for (let k = 0; ahead && !this.stopping; k++) {
      const got: Entry[] = await ahead
      ahead = k + 1 < windows.length ? this.readWindow(windows[k + 1]) : null
      if (acc.length > 0 && acc.length + got.length > this.options.batchSize) {
        if (!(await this.commit(acc))) return handled
        handled += acc.length
        acc.length = 0
      }
      for (const e of got) acc.push(e)
    }
    if (acc.length > 0 && (await this.commit(acc))) handled += acc.length
    return handled
  }

  /** The entries of a window of shards, read concurrently. */
  private readWindow(window: readonly number[]): Promise<Entry[]> {
    const p = Promise.all(window.map((s) => this.read(keys.outbox(s), '>', this.perShard))).then((got) => got.flat())
    // A read still in flight when the pass stops or fails is not awaited; its failure is not news
    // (the entries it delivered stay pending and are taken up again).
    p.catch(() => undefined)
    return p
  }

  private async read(stream: string, from: '>' | '0', count: number): Promise<Entry[]> {
    const reply = (await this.redis.xreadgroup('GROUP', this.options.group, this.options.consumer, 'COUNT', count, 'STREAMS', stream, from)) as
      | Array<[string, Array<[string, string[] | null]>]>
      | null
    if (!reply) return []
    const out: Entry[] = []
    for (const [, entries] of reply) for (const [id, fields] of entries) out.push({ stream, id, raw: cdrField(fields) })
    return out
  }

  /** Entries this consumer name read and never acknowledged (only with a fixed consumer name). */
  private async drainOwnPending(): Promise<void> {
    for (const s of this.shards) {
      const stream = keys.outbox(s)
      for (;;) {
        if (this.stopping) return
        const got = await this.read(stream, '0', this.options.batchSize)
        if (got.length === 0) break
        if (!(await this.commit(got))) return
        if (got.length < this.options.batchSize) break
      }
    }
  }

  /** XAUTOCLAIM entries idle longer than claimIdleMs on every shard; forget long-gone consumers. */
  private async reclaim(): Promise<void> {
    const acc: Entry[] = []
    for (const s of this.shards) {
      if (this.stopping) return
      const stream = keys.outbox(s)
      let cursor = '0-0'
      do {
        const [next, claimed, deleted] = (await this.redis.xautoclaim(
          stream, this.options.group, this.options.consumer, this.options.claimIdleMs, cursor, 'COUNT', this.perShard,
        )) as [string, Array<[string, string[] | null]>, string[]?]
        cursor = next
        for (const [id, fields] of claimed) acc.push({ stream, id, raw: cdrField(fields) })
        if (claimed.length || deleted?.length) {
          this.s.reclaimed += claimed.length
          this.log.info({ stream, claimed: claimed.length, deleted: deleted?.length ?? 0 }, 'reclaimed pending CDRs of another consumer')
        }
        if (acc.length >= this.options.batchSize) {
          if (!(await this.commit(acc))) return
          acc.length = 0
        }
      } while (cursor !== '0-0' && !this.stopping)
      await this.forgetConsumers(stream)
    }
    if (acc.length > 0) await this.commit(acc)
  }

  private async forgetConsumers(stream: string): Promise<void> {
    const list = (await this.redis.xinfo('CONSUMERS', stream, this.options.group)) as unknown[][]
    for (const row of list) {
      const c = pairs(row)
      const name = String(c.name)
      if (name === this.options.consumer || Number(c.pending) !== 0) continue
      if (Number(c.idle) < this.options.forgetConsumerMs) continue
      await this.redis.xgroup('DELCONSUMER', stream, this.options.group, name)
    }
  }

  // --- commit: store transaction, then acknowledge --------------------------------------------

  /** Writes the entries in one transaction (retrying while the store fails), then XACK + XDEL. False if stopped first. */
  private async commit(entries: readonly Entry[]): Promise<boolean> {
    const items: Item[] = []
    const rejects: RejectedEntry[] = []
    for (const e of entries) {
      if (e.raw === null) continue // deleted while pending: nothing to write, just acknowledge
      try {
        items.push({ entry: e, cdr: parseOutboxCdr(e.raw) })
      } catch (err) {
        if (!(err instanceof CdrFormatError)) throw err
        rejects.push(rejectOf(e, err.message))
      }
    }
    const t0 = performance.now()
    const result = await this.write(items, rejects)
    if (!result) return false
    const ms = performance.now() - t0
    // The XACK goes out now and is awaited at the next commit (or at the end of the pass), so Redis
    // handles it while the next batch is written. Not awaited yet is not lost: if it fails, the
    // entries stay pending, are read again and written again as no-ops (primary key).
    await this.settleAck()
    const acking = this.ack(entries)
    acking.catch(() => undefined)
    this.acking = acking
    this.s.batches++
    this.s.entries += entries.length
    this.s.written += result.written
    this.s.rejected += result.rejected
    this.s.duplicates += Math.max(0, items.length - result.written - Math.max(0, result.rejected - rejects.length))
    if (result.rejected > 0) this.log.error({ rejected: result.rejected }, 'outbox entries that are not valid CDRs were moved to cdr_rejects')
    try {
      this.options.onBatch?.(result.written, ms, entries.length)
    } catch {
      // a metrics hook never stops the worker
    }
    return true
  }

  /** Retries with backoff until the store commits or the worker stops. */
  private async write(items: readonly Item[], rejects: readonly RejectedEntry[]): Promise<InsertResult | null> {
    if (items.length === 0 && rejects.length === 0) return { written: 0, rejected: 0 }
    let failures = 0
    let split = false
    for (;;) {
      try {
        await this.ensureMigrated()
        const r = split ? await this.writeOneByOne(items, rejects) : await this.store.insertBatch(items.map((i) => i.cdr), rejects)
        if (this.storeDownSince) {
          this.log.info({ downMs: Date.now() - this.storeDownSince }, 'billing store is back; draining the backlog')
          this.storeDownSince = 0
        }
        return r
      } catch (err) {
        if (!split && isDataError(err)) {
          // The store is up but refuses something in this batch: find the CDR(s) it chokes on.
          split = true
          this.log.error({ err: (err as Error).message }, 'the billing store refuses a CDR in this batch; writing it CDR by CDR')
          continue
        }
        failures++
        this.migrated = false
        if (!this.storeDownSince) this.storeDownSince = Date.now()
        this.fail(err, 'billing store write failed; the CDRs wait in Redis', true)
        if (this.stopping) return null
        await this.sleep(this.backoff(failures))
        if (this.stopping) return null
      }
    }
  }

  /** Each CDR in its own transaction; one the store refuses for its data becomes a reject. Other errors propagate (retry). */
  private async writeOneByOne(items: readonly Item[], rejects: readonly RejectedEntry[]): Promise<InsertResult> {
    let written = 0
    const bad: RejectedEntry[] = [...rejects]
    for (const { entry, cdr } of items) {
      try {
        written += (await this.store.insertBatch([cdr])).written
      } catch (err) {
        if (!isDataError(err)) throw err
        this.log.error({ cdr: cdr.id, err: (err as Error).message }, 'the billing store refuses this CDR; kept in cdr_rejects')
        bad.push(rejectOf(entry, `store: ${(err as Error).message}`))
      }
    }
    const r = bad.length ? await this.store.insertBatch([], bad) : { written: 0, rejected: 0 }
    return { written, rejected: r.rejected }
  }

  /** Waits for the previous batch's XACK; its failure surfaces here (an outbox error, like any Redis call). */
  private async settleAck(): Promise<void> {
    const acking = this.acking
    this.acking = null
    if (acking) await acking
  }

  private async ack(entries: readonly Entry[]): Promise<void> {
    const byStream = new Map<string, string[]>()
    for (const e of entries) {
      const ids = byStream.get(e.stream)
      if (ids) ids.push(e.id)
      else byStream.set(e.stream, [e.id])
    }
    await Promise.all(
      [...byStream].map(async ([stream, ids]) => {
        // One key per MULTI: atomic, and a single slot on Redis Cluster.
        const m = this.redis.multi().xack(stream, this.options.group, ...ids)
        if (this.options.deleteAcked) m.xdel(stream, ...ids)
        const res = await m.exec()
        const err = res?.find(([e]) => e)?.[0]
        if (err) throw err
      }),
    )
  }

  // --- helpers ---------------------------------------------------------------------------------

  private fail(err: unknown, msg: string, store = false): void {
    const e = err instanceof Error ? err : new Error(String(err))
    this.s.failures++
    this.s.lastError = e.message
    try {
      this.options.onError?.(e, store ? 'store' : 'outbox')
    } catch {
      // hooks never stop the worker
    }
    if (this.stopping) return
    // At most one line per 10 s while the store stays down; every Redis failure is logged.
    const now = Date.now()
    if (store && now - this.lastStoreLog < 10_000) return
    if (store) this.lastStoreLog = now
    this.log.warn({ err: e.message }, msg)
  }

  private backoff(failures: number): number {
    const base = Math.min(this.options.retryMaxMs, this.options.retryMinMs * 2 ** Math.min(failures - 1, 16))
    return Math.round(base / 2 + Math.random() * (base / 2))
  }

  private sleep(ms: number): Promise<void> {
    if (this.stopping) return Promise.resolve()
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer)
        if (this.wake === done) this.wake = null
        resolve()
      }
      const timer = setTimeout(done, ms)
      this.wake = done
    })
  }
}

function cdrField(fields: string[] | null): string | null {
  if (!fields) return null
  for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === 'cdr') return fields[i + 1]
  // An entry without a `cdr` field is still not dropped: it becomes a reject with its raw fields.
  return JSON.stringify(fields)
}

function pairs(row: unknown[]): Record<string, unknown> {
  const o: Record<string, unknown> = {}
  for (let i = 0; i + 1 < row.length; i += 2) o[String(row[i])] = row[i + 1]
  return o
}

/** PostgreSQL text cannot hold NUL; the raw entry is kept readable either way. */
function rejectOf(e: Entry, error: string): RejectedEntry {
  const clean = (t: string): string => t.replace(/\u0000/g, '\\u0000')
  return { stream: e.stream, entryId: e.id, raw: clean(e.raw ?? ''), error: clean(error).slice(0, 2000) }
}

/**
 * An error about the data rather than the store being away: PostgreSQL SQLSTATE classes 22 (data
 * exception), 23 (integrity) and 54 (limit exceeded); SQLite constraint / type / size errors.
 * Anything else (connection refused, timeouts, SQLITE_BUSY, shutdown) is retried as it is.
 */
export function isDataError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code
  if (typeof code !== 'string') return false
  if (/^(22|23|54)[0-9A-Z]{3}$/.test(code)) return true
  return /^SQLITE_(CONSTRAINT|MISMATCH|TOOBIG|RANGE)/.test(code)
}

function isNoGroup(err: unknown): boolean {
  return err instanceof Error && /NOGROUP/.test(err.message)
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>
}
