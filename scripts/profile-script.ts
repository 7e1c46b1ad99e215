// Where the charging script's time goes (`npm run profile:script`): EVALSHA of session-charge.lua (the
// OCS runs the same body as a function, FCALL, which spares lib.lua's closures: ~1.2–2.8 µs) with
// the payload the core sends for a CCR-U (or, with --radius, an Interim-Update with the RADIUS session
// record), whole and cut short before each --cut point (`do return 'x' end` injected before the first
// occurrence of that Lua text), 32 in flight on an embedded Redis (AOF everysec). Prints Redis's own µs
// per call (INFO commandstats) and the Redis process's CPU per call, for two interleaved rounds.
// The difference between two cut points is what the lines between them cost (garbage collection
// included). With --radius, cut only before the script writes (e.g. "local closed = false"): a cut
// after it leaves the session's counters ahead of the ones the next report names.
//
//   npm run profile:script -- --cut "local bk = loadBuckets(KEYS[2])" --cut "local closed = false"
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { Redis } from 'ioredis'
import { EmbeddedRedis } from '../src/balance/embedded-redis.js'
import { loadLua } from '../src/balance/scripts.js'
import { BalanceStore } from '../src/balance/store.js'
import { ChargingService } from '../src/core/charging.js'
import { PlanCache } from '../src/core/plan-cache.js'
import { createLogger } from '../src/lib/logger.js'
import { DEMO_PLAN } from '../src/rating/plan.js'
import { bareScriptOps, CUT_REPLY, openBenchSessions } from './bench-bare-script.js'

const { values: args } = parseArgs({
  options: {
    radius: { type: 'boolean', default: false },
    calls: { type: 'string', default: '20000' },
    cut: { type: 'string', multiple: true, default: [] },
  },
})
const CALLS = Number(args.calls)
const WORKERS = 32

const full = loadLua('session-charge')
const variants: Array<[string, string]> = [['whole script', full]]
for (const point of args.cut ?? []) {
  const at = full.indexOf(point)
  if (at < 0) throw new Error(`--cut: "${point}" is not in session-charge.lua`)
  variants.push([`cut before: ${point.trim()}`, `${full.slice(0, at)}do return '${CUT_REPLY}' end\n${full.slice(at)}`])
}

const dir = mkdtempSync(join(tmpdir(), 'ocs-profile-'))
const redis = new EmbeddedRedis(join(dir, 'redis'), createLogger('silent'))
await redis.start()
const client = new Redis({ port: redis.port })
try {
  const store = new BalanceStore(client)
  await store.putPlan(DEMO_PLAN)
  const charging = new ChargingService(store, new PlanCache(store), {
    nodeId: 'profile', defaultQuota: { seconds: 60, octets: 5 << 20, events: 1 }, validitySeconds: 900, reaperGraceSeconds: 120,
    quotaThresholdPercent: 20, idempotencySeconds: 300,
  })
  const msisdns = await openBenchSessions(store, charging, WORKERS)
  const bare = await bareScriptOps(client, store, charging, WORKERS, msisdns)
  const pid = /process_id:(\d+)/.exec(await client.info('server'))![1]
  // utime + stime of the Redis process, in clock ticks (1/100 s)
  const ticks = (): number => {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')
    return Number(f[11]) + Number(f[12])
  }
  console.log(`session-charge.lua, ${args.radius ? 'Interim-Update' : 'CCR-U'} payload, ${CALLS} calls per line, ${WORKERS} in flight`)
  for (let round = 1; round <= 2; round++) {
    for (const [name, source] of variants) {
      const op = (await bare.using(source))[args.radius ? 'radius' : 'ccrU']
      await client.config('RESETSTAT')
      const t0 = ticks()
      let started = 0
      await Promise.all(Array.from({ length: WORKERS }, async (_, w) => {
        while (started < CALLS) await op(w, started++)
      }))
      const stat = (await client.info('commandstats')).split('\n').find((l) => l.startsWith('cmdstat_evalsha'))
      const usec = /usec_per_call=([\d.]+)/.exec(stat ?? '')?.[1] ?? '?'
      console.log(`round ${round}  ${usec.padStart(6)} µs/call in Redis  ${((ticks() - t0) * 1e4 / CALLS).toFixed(1).padStart(6)} µs CPU/call  ${name}`)
    }
  }
} finally {
  client.disconnect()
  await redis.stop()
  rmSync(dir, { recursive: true, force: true })
}
