// Where the charging script's time goes (`npm run profile:script`): EVALSHA of session-charge.lua (the
// OCS runs the same body as a function, FCALL, which spares lib.lua's closures: ~1.2–2.8 µs) with
// the payload the core sends for a CCR-U (or, with --radius, an Interim-Update with the RADIUS session
// record), whole and cut short before each --cut point (`do return 'x' end` injected before the first
// occurrence of that Lua text), 32 in flight on an embedded Redis (AOF everysec). Prints Redis's own µs
// per call (INFO commandstats) and the Redis process's CPU per call, for two interleaved rounds.
// With --instructions, Redis runs under valgrind's callgrind instead, and each line is the number of
// machine instructions Redis executed per call (one round, the counters zeroed before each variant,
// 1,000 calls after 100 unmeasured ones; also the FCALL the OCS makes). Instructions do not depend on
// what else the machine is doing: on this shared box, where µs per call moves by 30 % between runs,
// they tell a 1 % change apart (the same count within ~0.1 % run after run).
// The difference between two cut points is what the lines between them cost (garbage collection
// included). With --radius, cut only before the script writes (e.g. "local closed = false"): a cut
// after it leaves the session's counters ahead of the ones the next report names.
//
//   npm run profile:script -- --cut "local bk = loadBuckets(KEYS[2])" --cut "local closed = false"
import { execFileSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
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
    calls: { type: 'string' },
    cut: { type: 'string', multiple: true, default: [] },
    instructions: { type: 'boolean', default: false },
  },
})
const CALLS = Number(args.calls ?? (args.instructions ? 1000 : 20000))
const WORKERS = 32

const full = loadLua('session-charge')
const variants: Array<[string, string]> = [['whole script', full]]
for (const point of args.cut ?? []) {
  const at = full.indexOf(point)
  if (at < 0) throw new Error(`--cut: "${point}" is not in session-charge.lua`)
  variants.push([`cut before: ${point.trim()}`, `${full.slice(0, at)}do return '${CUT_REPLY}' end\n${full.slice(at)}`])
}

const dir = mkdtempSync(join(tmpdir(), 'ocs-profile-'))
const counter = args.instructions ? useCallgrind(dir) : undefined
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
  const kind = args.radius ? 'radius' : 'ccrU'
  type Op = (w: number, i: number) => Promise<unknown>
  // CALLS calls, WORKERS of them in flight
  const drive = async (op: Op): Promise<void> => {
    let started = 0
    await Promise.all(Array.from({ length: WORKERS }, async (_, w) => {
      while (started < CALLS) await op(w, started++)
    }))
  }
  if (counter) {
    const run = async (op: Op, name: string): Promise<void> => {
      for (let i = 0; i < 100; i++) await op(i % WORKERS, i)
      counter.zero(pid)
      await drive(op)
      console.log(`${Math.round(counter.read(pid) / CALLS).toLocaleString('en').padStart(9)} instructions/call in Redis  ${name}`)
    }
    for (const [name, source] of variants) await run((await bare.using(source))[kind], `${name} (EVALSHA)`)
    await run(bare[kind], 'whole script as the OCS calls it (FCALL)')
  } else {
    for (let round = 1; round <= 2; round++) {
      for (const [name, source] of variants) {
        const op = (await bare.using(source))[kind]
        await client.config('RESETSTAT')
        const t0 = ticks()
        await drive(op)
        const stat = (await client.info('commandstats')).split('\n').find((l) => l.startsWith('cmdstat_evalsha'))
        const usec = /usec_per_call=([\d.]+)/.exec(stat ?? '')?.[1] ?? '?'
        console.log(`round ${round}  ${usec.padStart(6)} µs/call in Redis  ${((ticks() - t0) * 1e4 / CALLS).toFixed(1).padStart(6)} µs CPU/call  ${name}`)
      }
    }
  }
} finally {
  client.disconnect()
  await redis.stop()
  rmSync(dir, { recursive: true, force: true })
}

/**
 * Makes the embedded Redis start under callgrind (a `redis-server` wrapper first on PATH) and returns
 * how to zero its instruction counter and read it (callgrind_control dumps the counts since the last
 * zeroing into a new file; its `summary:` line is the total).
 */
function useCallgrind(dir: string): { zero(pid: string): void; read(pid: string): number } {
  try {
    execFileSync('valgrind', ['--version'], { stdio: 'ignore' })
  } catch {
    throw new Error('--instructions needs valgrind (Debian package valgrind)')
  }
  const bin = join(dir, 'bin')
  mkdirSync(bin)
  const real = execFileSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' }).trim()
  writeFileSync(join(bin, 'redis-server'), `#!/bin/sh\nexec valgrind --tool=callgrind --callgrind-out-file=${dir}/cg.%p.out ${real} "$@"\n`, { mode: 0o755 })
  process.env.PATH = `${bin}:${process.env.PATH}`
  return {
    zero: (pid) => execFileSync('callgrind_control', ['-z', pid], { stdio: 'ignore' }),
    read: (pid) => {
      execFileSync('callgrind_control', ['-d', pid], { stdio: 'ignore' })
      const dumps = readdirSync(dir).filter((f) => f.startsWith(`cg.${pid}.out.`))
      const last = dumps.sort((a, b) => Number(a.split('.').pop()) - Number(b.split('.').pop())).pop()
      if (last === undefined) throw new Error('callgrind wrote no dump')
      return Number(/\nsummary: (\d+)/.exec(readFileSync(join(dir, last), 'utf8'))?.[1] ?? NaN)
    },
  }
}
