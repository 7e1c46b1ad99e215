// `npm run bench`: throughput and latency of the charging core against its ceiling, measured in
// the same run on the same Redis (AOF everysec), and written to BENCHMARKS.md.
//
//   core update  = ChargingService.update (commit usage + re-reserve) with 64 requests in flight
//   ceiling      = EVALSHA of a plain 8-command reservation-like script, 64 in flight
//   bare script  = FCALL of session-charge itself (the function library, as the OCS runs it) with the
//                  core's payloads (bench-bare-script.ts)
import { mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs'
import { tmpdir, cpus } from 'node:os'
import { join } from 'node:path'
import { execFileSync } from 'node:child_process'
import { Redis } from 'ioredis'
import { EmbeddedRedis } from '../src/balance/embedded-redis.js'
import { createLogger } from '../src/lib/logger.js'
import { BalanceStore } from '../src/balance/store.js'
import { PlanCache } from '../src/core/plan-cache.js'
import { ChargingService } from '../src/core/charging.js'
import { DEMO_PLAN, compilePlan, findService } from '../src/rating/plan.js'
import { DestinationDeck } from '../src/rating/deck.js'
import { chooseTariff } from '../src/rating/rate.js'
import { rate } from '../src/rating/engine.js'
import { benchDiameter } from './bench-diameter.js'
import { benchRadius } from './bench-radius.js'
import { benchCdr, fill as fillOutbox } from './bench-cdr.js'
import { benchMemory } from './bench-memory.js'
import { bareScriptOps, openBenchSessions } from './bench-bare-script.js'
import { Metrics } from '../src/metrics/metrics.js'
import { treeCpuMs } from './proc-cpu.js'

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5)
const INFLIGHT = 64

interface Result {
  name: string
  ops: number
  perSec: number
  p50: number
  p99: number
  /** CPU µs Redis spent per op (/proc) */
  redisUs?: number
}

/** The embedded Redis's guard process (its redis-server runs below it), for the CPU column. */
let redisRoot: number | undefined

/** CPU ms the embedded redis-server has used so far, where /proc tells. */
function redisCpuMs(): number | undefined {
  return redisRoot === undefined ? undefined : treeCpuMs(redisRoot)?.redis
}

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))]
}

/** Runs `op` with `INFLIGHT` concurrent loops for SECONDS after a 1 s warm-up. */
async function measure(name: string, op: (worker: number, i: number) => Promise<unknown>): Promise<Result> {
  const lat: number[] = []
  let stop = false
  let counting = false
  let ops = 0
  const loop = async (w: number): Promise<void> => {
    for (let i = 0; !stop; i++) {
      const t0 = process.hrtime.bigint()
      await op(w, i)
      if (counting) {
        ops++
        lat.push(Number(process.hrtime.bigint() - t0) / 1e6)
      }
    }
  }
  const loops = Array.from({ length: INFLIGHT }, (_, w) => loop(w))
  await new Promise((r) => setTimeout(r, 1000))
  counting = true
  const t0 = Date.now()
  const cpu0 = redisCpuMs()
  await new Promise((r) => setTimeout(r, SECONDS * 1000))
  counting = false
  const cpu1 = redisCpuMs()
  const elapsed = (Date.now() - t0) / 1000
  stop = true
  await Promise.all(loops)
  lat.sort((a, b) => a - b)
  const r: Result = { name, ops, perSec: Math.round(ops / elapsed), p50: pct(lat, 50), p99: pct(lat, 99) }
  if (cpu0 !== undefined && cpu1 !== undefined && ops > 0) r.redisUs = ((cpu1 - cpu0) * 1000) / ops
  return r
}

const CEILING_LUA = `
local v = redis.call('HGET', KEYS[1], 'amount')
redis.call('HINCRBY', KEYS[1], 'amount', -1)
redis.call('HINCRBY', KEYS[1], 'reserved', 1)
local s = redis.call('GET', KEYS[2])
redis.call('SET', KEYS[2], ARGV[1])
redis.call('ZADD', KEYS[3], ARGV[2], KEYS[2])
redis.call('HSET', KEYS[1], 'updated', ARGV[2])
redis.call('SET', KEYS[4], ARGV[1], 'EX', 600)
return v`

/** Rating is pure: deck load, prefix lookups and full tariff choices, timed in-process (median of 3). */
function benchRating(): string[] {
  const rows: string[] = []
  for (let i = 0; i < 100_000; i++) rows.push(`${44 + (i % 50)}${String(i).padStart(6, '0')},Dest ${i},0.${String(10 + (i % 80)).padStart(2, '0')},30,6,0`)
  const csv = `prefix,destination,price,first_increment,next_increment,connect_fee\n${rows.join('\n')}\n`
  const med = (xs: number[]): number => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]
  const loads: number[] = []
  let deck = DestinationDeck.fromCsv('bench', csv)
  for (let r = 0; r < 3; r++) {
    const t0 = process.hrtime.bigint()
    deck = DestinationDeck.fromCsv('bench', csv)
    loads.push(Number(process.hrtime.bigint() - t0) / 1e6)
  }
  const numbers = Array.from({ length: 1000 }, (_, i) => {
    const j = (i * 97) % 100_000
    return `${44 + (j % 50)}${String(j).padStart(6, '0')}1234`
  })
  const lookups: number[] = []
  for (let r = 0; r < 3; r++) {
    const t0 = process.hrtime.bigint()
    let hits = 0
    for (let i = 0; i < 2_000_000; i++) if (deck.lookup(numbers[i % 1000])) hits++
    lookups.push(2_000_000 / (Number(process.hrtime.bigint() - t0) / 1e9))
    if (hits !== 2_000_000) throw new Error('lookup bench missed')
  }
  const plan = compilePlan({ id: 'b', version: 1, currency: 'EUR', services: [{ name: 'voice', unit: 'seconds', match: { context: '32260@3gpp.org' }, tariff: { rate: '0.10', per: 60 }, deck: 'bench',
    timeBands: [{ name: 'peak', days: ['mon', 'tue', 'wed', 'thu', 'fri'], from: '08:00', to: '18:00', percent: 100 }, { name: 'off', days: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'], from: '00:00', to: '24:00', percent: 50 }] }],
    taxes: [{ region: '*', rate: '20', inclusive: false }], promotions: [{ name: 'launch', percent: 10, services: ['voice'] }] })
  const svc = findService(plan, { serviceContext: '32260@3gpp.org' })!
  const decks = new Map([['bench', deck]])
  const rates: number[] = []
  for (let r = 0; r < 3; r++) {
    const t0 = process.hrtime.bigint()
    const at = Date.UTC(2026, 10, 26, 10)
    for (let i = 0; i < 300_000; i++) chooseTariff(plan, svc, `+${numbers[i % 1000]}`, { at: at + i, timezone: 'Europe/Paris', decks })
    rates.push(300_000 / (Number(process.hrtime.bigint() - t0) / 1e9))
  }
  // Full rate(): seconds usage of 30 s…10 min starting every second over 3.5 days (peak, off-peak and
  // the calls across their boundaries), deck destination, promotion and tax.
  const account = { currency: 'EUR', timezone: 'Europe/Paris', taxRegion: 'FR' }
  const service = { serviceContext: '32260@3gpp.org' }
  const at0 = Date.UTC(2026, 10, 26, 10)
  const clock = (): number => at0
  const full: number[] = []
  for (let r = 0; r < 3; r++) {
    const t0 = process.hrtime.bigint()
    let gross = 0n
    for (let i = 0; i < 300_000; i++) {
      const x = rate({ service, units: 30 + (i % 600), start: at0 + i * 1000, destination: `+${numbers[i % 1000]}` }, plan, account, clock, decks)
      if (x.ok) gross += x.gross
    }
    full.push(300_000 / (Number(process.hrtime.bigint() - t0) / 1e9))
    if (gross === 0n) throw new Error('rate bench priced nothing')
  }
  return [
    '| rating benchmark | median of 3 | target |',
    '|---|---:|---|',
    `| 100,000-prefix CSV deck load | ${med(loads).toFixed(0)} ms | < 1000 ms |`,
    `| longest-prefix lookups | ${Math.round(med(lookups)).toLocaleString('en')} /s | ≥ 1,000,000 /s |`,
    `| chooseTariff (normalise + deck + time band + promotion + tax + boundary) | ${Math.round(med(rates)).toLocaleString('en')} /s | — |`,
    `| full rate() (seconds usage: deck + band split + promotion + tax) | ${Math.round(med(full)).toLocaleString('en')} /s | ≥ 300,000 /s |`,
  ]
}

async function main(): Promise<void> {
  const ratingLines = benchRating()
  console.log(ratingLines.join('\n'))
  const dir = mkdtempSync(join(tmpdir(), 'ocs-bench-'))
  // The same embedded redis-server the OCS runs by default: AOF everysec.
  const redisServer = new EmbeddedRedis(dir, createLogger('silent'))
  await redisServer.start()
  redisRoot = redisServer.pid
  // As the OCS connects (src/balance/connect.ts: no auto-pipelining by default).
  const client = new Redis({ port: redisServer.port })
  ceilingSha = (await client.script('LOAD', CEILING_LUA)) as string
  const redisVersion = /redis_version:(\S+)/.exec(await client.info('server'))?.[1] ?? '?'
  try {
    const store = new BalanceStore(client)
    await store.putPlan(DEMO_PLAN)
    const charging = new ChargingService(store, new PlanCache(store), {
      nodeId: 'bench', defaultQuota: { seconds: 60, octets: 5 << 20, events: 1 }, validitySeconds: 900, reaperGraceSeconds: 120, quotaThresholdPercent: 20, idempotencySeconds: 300,
    })
    // One account and one open data session per worker: the measured step is a CCR-U.
    const subs = await openBenchSessions(store, charging, INFLIGHT)
    const bare = await bareScriptOps(client, store, charging, INFLIGHT, subs)
    const results: Result[] = []
    for (let round = 0; round < 3; round++) {
      results.push(
        await measure('ceiling: EVALSHA 8-command script', (w, i) =>
          client.evalsha(ceilingSha, 4, `{b${w}}:acct`, `{b${w}}:sess`, `{b${w}}:exp`, `{b${w}}:idem:${i % 1000}`, 'x'.repeat(200), String(i)),
        ),
      )
      results.push(await measure(BARE_CCR_U, bare.ccrU))
      results.push(await measure(BARE_RADIUS, bare.radius))
      results.push(
        await measure('core update (commit + re-reserve)', (w, i) =>
          charging.update({ sessionId: `bench-${w}`, requestId: `bench-${w}/${round}/${i}`, identities: [], protocol: 'diameter',
            items: [{ serviceContext: '32251@3gpp.org', ratingGroup: 1, requested: 'default', used: [{ units: 1_000_000, inputOctets: 400_000, outputOctets: 600_000 }] }] }),
        ),
      )
    }
    // Charging while the CDR worker (a child process, as npm start runs it) drains 100,000 CDRs into SQLite.
    const updateOp = (tag: string) => (w: number, i: number) =>
      charging.update({ sessionId: `bench-${w}`, requestId: `bench-${w}/${tag}/${i}`, identities: [], protocol: 'diameter',
        items: [{ serviceContext: '32251@3gpp.org', ratingGroup: 1, requested: 'default', used: [{ units: 1_000_000, inputOctets: 400_000, outputOctets: 600_000 }] }] })
    const paused = await measure('core update, CDR worker paused', updateOp('paused'))
    await fillOutbox(client)
    // The compiled worker, as `npm start` runs it (the sources would be compiled on the fly in the child).
    const { CdrWorkerProcess } = (await import(new URL('../dist/cdr/worker-process.js', import.meta.url).href)) as typeof import('../src/cdr/worker-process.js')
    // Under SCHED_IDLE, as npm start runs it (scheduling.cdrWorkerIdle, on by default since the thirteenth
    // session; before the twenty-second session's last runs this measured it at nice 10).
    const workerProc = new CdrWorkerProcess({ redis: { commandTimeoutMs: 1000, autoPipelining: false }, redisUrl: `redis://127.0.0.1:${redisServer.port}`, dataDir: dir, consumer: 'bench-worker', logLevel: 'warn' }, new Metrics(false), createLogger('silent'), true)
    await workerProc.start()
    const running = await measure('core update, CDR worker draining', updateOp('running'))
    await workerProc.stop()
    const cdrLines = await benchCdr()
    cdrLines.push(`| charging updates/s, CDR worker (child process, SCHED_IDLE) paused → draining 100k CDRs into SQLite | ${paused.perSec} → ${running.perSec} (ratio ${(running.perSec / paused.perSec).toFixed(2)}) | ratio ≥ 0.9 |`)
    console.log(cdrLines.join('\n'))
    const diameterLines = await benchDiameter(SECONDS, median(results, BARE_CCR_U).perSec)
    console.log(diameterLines.join('\n'))
    const radiusLines = await benchRadius(SECONDS, median(results, BARE_RADIUS).perSec)
    console.log(radiusLines.join('\n'))
    // Last: it empties this Redis and fills it with 100,000 open sessions.
    const mem = await benchMemory(redisServer.port, 100_000)
    const memLines = [
      '| memory | figure | target |',
      '|---|---:|---|',
      `| Redis used_memory per open data session (${mem.sessions.toLocaleString('en')} sessions, 10 per account; session hash, its index entries and stored answer) | ${mem.bytesPerSession} bytes | ≤ 1,024 bytes |`,
    ]
    console.log(memLines.join('\n'))
    report(results, redisVersion, ratingLines, [...cdrLines, '', ...diameterLines, '', ...radiusLines, '', ...memLines])
  } finally {
    client.disconnect()
    await redisServer.stop()
    rmSync(dir, { recursive: true, force: true })
  }
}

let ceilingSha = ''
const BARE_CCR_U = 'bare charging script: FCALL session-charge, CCR-U payload'
const BARE_RADIUS = 'bare charging script: FCALL session-charge, Interim-Update payload (with the RADIUS session record)'

function median(results: Result[], name: string): Result {
  const rs = results.filter((r) => r.name === name).sort((a, b) => a.perSec - b.perSec)
  return rs[Math.floor(rs.length / 2)]
}

function report(results: Result[], redisVersion: string, ratingLines: string[], diameterLines: string[]): void {
  const ceiling = median(results, 'ceiling: EVALSHA 8-command script')
  const core = median(results, 'core update (commit + re-reserve)')
  const bare = median(results, BARE_CCR_U)
  const cpu = cpus()[0]?.model ?? 'unknown CPU'
  let redisLine = redisVersion
  try {
    redisLine = execFileSync('redis-server', ['--version']).toString().trim()
  } catch { /* keep INFO's */ }
  const lines = [
    '| benchmark | run | ops/s | p50 ms | p99 ms | Redis CPU µs per op |',
    '|---|---|---:|---:|---:|---:|',
    // the run of a row: how many results of that name so far (the rounds interleave several measurements)
    ...results.map((r, i) => `| ${r.name} | ${results.slice(0, i + 1).filter((x) => x.name === r.name).length} | ${r.perSec} | ${r.p50.toFixed(2)} | ${r.p99.toFixed(2)} | ${r.redisUs === undefined ? '–' : r.redisUs.toFixed(0)} |`),
  ]
  const ratio = core.perSec / ceiling.perSec
  const summary = `core update ${core.perSec}/s vs ceiling ${ceiling.perSec}/s (ratio ${ratio.toFixed(2)}; medians of 3 interleaved rounds); vs the charging script's own ceiling ${bare.perSec}/s (ratio ${(core.perSec / bare.perSec).toFixed(2)})`
  console.log(lines.join('\n'))
  console.log(summary)
  const section = [
    '<!-- bench:core:start -->',
    '## Charging core',
    '',
    `Command: \`npm run bench\` (BENCH_SECONDS=${SECONDS}, ${INFLIGHT} requests in flight, 1 s warm-up, 3 rounds interleaved).`,
    `Machine: ${cpus().length} × ${cpu}, Node ${process.version}, ${redisLine}, AOF everysec; client, OCS core and Redis on one box.`,
    'Message mix: a data CCR-U equivalent — commit 1,000,000 octets on one rating group and re-reserve the default 5 MiB.',
    'Bare charging script: session-charge (the function library the OCS loads, by FCALL) from the bench client with the payload the core sends for that CCR-U',
    '(captured, request id and time changed per call), and for an Interim-Update (the same plus the RADIUS session record read,',
    'checked and written in the script): what Redis does with our script alone, without protocol, rating or the JS charging path.',
    '',
    ...lines,
    '',
    `**${summary}.** Target (issue 3): ≥ 20,000 updates/s.`,
    '',
    '## Rating (in-process, pure functions)',
    '',
    ...ratingLines,
    '',
    '## CDR flush, Diameter Gy and RADIUS full stack',
    '',
    'CDRs: the real CdrWorker draining 100,000 synthetic CDRs from the 64 outbox shards (Redis AOF everysec) into each store.',
    'Diameter: the built OCS (`node --trace-gc-nvp dist/main.js`, embedded Redis, AOF everysec, its default settings; the trace gives the table\'s garbage-collection column; the CPU column counts idle pollers, where they ran, apart, not in the total) in one process, a load generator in another: `scripts/load-diameter.c`',
    '(compiled by scripts/setup.sh; ~4 µs of CPU per CCR, no garbage collector: the target figures) and `scripts/load-diameter.ts`, the same sessions;',
    'each one\'s ceiling is the same generator against `scripts/noop-diameter.ts`. RADIUS: the same OCS set-up with `scripts/load-radius.ts` and, for the 50-interim load, also `scripts/load-radius.c` (compiled by scripts/setup.sh; ~6 µs of CPU per request against ~14 for the Node generator, on the same two cores).',
    '',
    ...diameterLines,
    '<!-- bench:core:end -->',
  ].join('\n')
  let doc = ''
  try {
    doc = readFileSync('BENCHMARKS.md', 'utf8')
  } catch {
    doc = '# Benchmarks\n\nFigures written by `npm run bench`. The machine is shared and noisy: compare ratios to the ceiling measured in the same run, not absolute numbers across runs.\n'
  }
  const re = /<!-- bench:core:start -->[\s\S]*<!-- bench:core:end -->/
  doc = re.test(doc) ? doc.replace(re, section) : `${doc.trimEnd()}\n\n${section}\n`
  writeFileSync('BENCHMARKS.md', doc)
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
