// `npm run bench`: throughput and latency of the charging core against its ceiling, measured in
// the same run on the same Redis (AOF everysec), and written to BENCHMARKS.md.
//
//   core update  = ChargingService.update (commit usage + re-reserve) with 64 requests in flight
//   ceiling      = EVALSHA of a plain 8-command reservation-like script, 64 in flight
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
import { DEMO_PLAN } from '../src/rating/plan.js'

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5)
const INFLIGHT = 64

interface Result {
  name: string
  ops: number
  perSec: number
  p50: number
  p99: number
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
  await new Promise((r) => setTimeout(r, SECONDS * 1000))
  counting = false
  const elapsed = (Date.now() - t0) / 1000
  stop = true
  await Promise.all(loops)
  lat.sort((a, b) => a - b)
  return { name, ops, perSec: Math.round(ops / elapsed), p50: pct(lat, 50), p99: pct(lat, 99) }
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

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'ocs-bench-'))
  // The same embedded redis-server the OCS runs by default: AOF everysec.
  const redisServer = new EmbeddedRedis(dir, createLogger('silent'))
  await redisServer.start()
  const client = new Redis({ port: redisServer.port, enableAutoPipelining: true })
  ceilingSha = (await client.script('LOAD', CEILING_LUA)) as string
  const redisVersion = /redis_version:(\S+)/.exec(await client.info('server'))?.[1] ?? '?'
  try {
    const store = new BalanceStore(client)
    await store.putPlan(DEMO_PLAN)
    const charging = new ChargingService(store, new PlanCache(store), {
      nodeId: 'bench', defaultQuota: { seconds: 60, octets: 5 << 20, events: 1 }, validitySeconds: 900, reaperGraceSeconds: 120, quotaThresholdPercent: 20, idempotencySeconds: 300,
    })
    // One account and one open data session per worker: the measured step is a CCR-U.
    const subs: string[] = []
    for (let w = 0; w < INFLIGHT; w++) {
      const a = await store.createAccount({ currency: 'EUR', type: 'prepaid', plan: 'demo', timezone: 'UTC', language: 'en', taxRegion: 'x', country: 'SE', status: 'active', creditLimit: 0n }, 1_000_000_000_000n)
      const msisdn = `4670${String(w).padStart(8, '0')}`
      await store.createSubscriber({ account: a.id, msisdn })
      subs.push(msisdn)
      await charging.initiate({ sessionId: `bench-${w}`, requestId: `bench-${w}/i`, identities: [{ kind: 'msisdn', value: msisdn }], protocol: 'diameter', items: [{ serviceContext: '32251@3gpp.org', ratingGroup: 1, requested: 'default' }] })
    }
    const results: Result[] = []
    for (let round = 0; round < 3; round++) {
      results.push(
        await measure('ceiling: EVALSHA 8-command script', (w, i) =>
          client.evalsha(ceilingSha, 4, `{b${w}}:acct`, `{b${w}}:sess`, `{b${w}}:exp`, `{b${w}}:idem:${i % 1000}`, 'x'.repeat(200), String(i)),
        ),
      )
      results.push(
        await measure('core update (commit + re-reserve)', (w, i) =>
          charging.update({ sessionId: `bench-${w}`, requestId: `bench-${w}/${round}/${i}`, identities: [], protocol: 'diameter',
            items: [{ serviceContext: '32251@3gpp.org', ratingGroup: 1, requested: 'default', used: [{ units: 1_000_000, inputOctets: 400_000, outputOctets: 600_000 }] }] }),
        ),
      )
    }
    report(results, redisVersion)
  } finally {
    client.disconnect()
    await redisServer.stop()
    rmSync(dir, { recursive: true, force: true })
  }
}

let ceilingSha = ''

function report(results: Result[], redisVersion: string): void {
  const median = (name: string): Result => {
    const rs = results.filter((r) => r.name === name).sort((a, b) => a.perSec - b.perSec)
    return rs[Math.floor(rs.length / 2)]
  }
  const ceiling = median('ceiling: EVALSHA 8-command script')
  const core = median('core update (commit + re-reserve)')
  const cpu = cpus()[0]?.model ?? 'unknown CPU'
  let redisLine = redisVersion
  try {
    redisLine = execFileSync('redis-server', ['--version']).toString().trim()
  } catch { /* keep INFO's */ }
  const lines = [
    '| benchmark | run | ops/s | p50 ms | p99 ms |',
    '|---|---|---:|---:|---:|',
    ...results.map((r, i) => `| ${r.name} | ${Math.floor(i / 2) + 1} | ${r.perSec} | ${r.p50.toFixed(2)} | ${r.p99.toFixed(2)} |`),
  ]
  const ratio = core.perSec / ceiling.perSec
  const summary = `core update ${core.perSec}/s vs ceiling ${ceiling.perSec}/s (ratio ${ratio.toFixed(2)}; medians of 3 interleaved rounds)`
  console.log(lines.join('\n'))
  console.log(summary)
  const section = [
    '<!-- bench:core:start -->',
    '## Charging core',
    '',
    `Command: \`npm run bench\` (BENCH_SECONDS=${SECONDS}, ${INFLIGHT} requests in flight, 1 s warm-up, 3 rounds interleaved).`,
    `Machine: ${cpus().length} × ${cpu}, Node ${process.version}, ${redisLine}, AOF everysec; client, OCS core and Redis on one box.`,
    'Message mix: a data CCR-U equivalent — commit 1,000,000 octets on one rating group and re-reserve the default 5 MiB.',
    '',
    ...lines,
    '',
    `**${summary}.** Target (issue 3): ≥ 20,000 updates/s.`,
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
