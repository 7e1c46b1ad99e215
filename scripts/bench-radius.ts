// The RADIUS part of `npm run bench`: the built OCS (dist/main.js, embedded Redis AOF everysec) in
// one process and scripts/load-radius.ts (a BNAS: auth, Start, n Interim-Updates, Stop per session)
// in another, with 5 interims per session (start/stop-heavy) and with 50 (closer to a BNAS in steady
// state: sessions last hours and report every few minutes). The 50-interim load also runs from
// scripts/load-radius.c (dist/bin/load-radius, compiled by scripts/setup.sh): the generator shares the
// box's two cores with what it measures, and the C one takes a third of the Node one's CPU per
// request — a real BNAS is not on the OCS's box. Returns Markdown lines.
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { cpus, tmpdir } from 'node:os'
import { join } from 'node:path'
import { medianBy, ROUNDS, waitLine } from './bench-diameter.js'
import { cpuBound, cpuText, withCpu, type CpuPerRequest } from './proc-cpu.js'

const KEY = 'bench-key-0123456789abcdef'

interface Load {
  requests: number
  perSec: number
  interimsPerSec: number
  p50: number
  p99: number
  interimP99: number
  results: Record<string, number>
  /** CPU µs per request by process (the C generator's runs) */
  cpu?: CpuPerRequest
}

const C_GENERATOR = 'dist/bin/load-radius'

async function load(auth: number, acct: number, seconds: number, concurrency: number, interims: number, generator: 'node' | 'c' = 'node'): Promise<Load> {
  const args = ['--auth-port', String(auth), '--acct-port', String(acct), '--json', '--quiet',
    '--duration', String(seconds), '--concurrency', String(concurrency), '--subscribers', '64', '--user-prefix', 'bench', '--password', 'benchpw',
    '--interims', String(interims)]
  const p = generator === 'c'
    ? spawn(C_GENERATOR, args, { stdio: ['ignore', 'pipe', 'inherit'] })
    : spawn(process.execPath, ['--import', 'tsx', 'scripts/load-radius.ts', ...args], { stdio: ['ignore', 'pipe', 'inherit'] })
  let out = ''
  p.stdout.on('data', (d) => (out += d))
  await new Promise((r) => p.once('exit', r))
  return JSON.parse(out.trim().split('\n').pop()!) as Load
}

/** scriptCeiling: the bare charging script's Interim-Update rate measured in the same run (bench-bare-script.ts). */
export async function benchRadius(seconds: number, scriptCeiling?: number): Promise<string[]> {
  if (!existsSync(C_GENERATOR)) throw new Error(`${C_GENERATOR} is missing: run \`OCS_SETUP_BENCH=1 bash scripts/setup.sh\` (it compiles scripts/load-radius.c)`)
  const dir = mkdtempSync(join(tmpdir(), 'ocs-bench-r-'))
  const { OCS_REDIS_URL: _u, OCS_REDIS_CLUSTER: _c, ...env } = process.env
  const ocs = spawn(process.execPath, ['dist/main.js'], {
    env: { ...env, OCS_CONFIG: '/dev/null', OCS_DATA_DIR: dir, OCS_API_KEY: KEY, OCS_HTTP_PORT: '0', OCS_METRICS_PORT: '0', OCS_DIAMETER_PORT: '0', OCS_RADIUS_AUTH_PORT: '0', OCS_RADIUS_ACCT_PORT: '0', OCS_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  try {
    const ready = await waitLine(ocs, /REST API http:\/\/127\.0\.0\.1:(\d+)\/.*RADIUS auth (\d+) acct (\d+)/)
    const http = `http://127.0.0.1:${ready[1]}`
    const post = async (path: string, body: unknown): Promise<{ id: string }> => {
      const r = await fetch(`${http}${path}`, { method: 'POST', headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' }, body: JSON.stringify(body) })
      if (r.status !== 201) throw new Error(`${path}: ${r.status} ${await r.text()}`)
      return (await r.json()) as { id: string }
    }
    for (let i = 0; i < 64; i++) {
      const acct = await post('/v1/accounts', { currency: 'EUR', type: 'prepaid', plan: 'demo', balance: '1000000' })
      await post('/v1/subscribers', { account: acct.id, username: `bench${i}`, password: 'benchpw' })
    }
    const rows = ['| RADIUS benchmark | round | requests/s | Interim-Update/s | p50 ms | p99 ms | interim p99 ms | CPU µs per request | answers |', '|---|---|---:|---:|---:|---:|---:|---|---|']
    const runs: Load[] = []
    const steady: Load[] = []
    const steadyC: Load[] = []
    for (let round = 1; round <= ROUNDS; round++) {
      const l = await load(Number(ready[2]), Number(ready[3]), seconds, 128, 5)
      runs.push(l)
      rows.push(`| OCS full stack, 128 sessions at once, 5 interims per session | ${round} | ${l.perSec} | ${l.interimsPerSec} | ${l.p50.toFixed(2)} | ${l.p99.toFixed(2)} | ${l.interimP99.toFixed(2)} | – | ${JSON.stringify(l.results)} |`)
      const s = await load(Number(ready[2]), Number(ready[3]), seconds, 128, 50)
      steady.push(s)
      rows.push(`| OCS full stack, 128 sessions at once, 50 interims per session | ${round} | ${s.perSec} | ${s.interimsPerSec} | ${s.p50.toFixed(2)} | ${s.p99.toFixed(2)} | ${s.interimP99.toFixed(2)} | – | ${JSON.stringify(s.results)} |`)
      const c = await withCpu(ocs.pid!, () => load(Number(ready[2]), Number(ready[3]), seconds, 128, 50, 'c'), (x) => x.perSec)
      steadyC.push(c)
      rows.push(`| the same, C load generator | ${round} | ${c.perSec} | ${c.interimsPerSec} | ${c.p50.toFixed(2)} | ${c.p99.toFixed(2)} | ${c.interimP99.toFixed(2)} | ${cpuText(c.cpu)} | ${JSON.stringify(c.results)} |`)
    }
    const mixed = medianBy(runs, (x) => x.perSec)
    const stead = medianBy(steady, (x) => x.interimsPerSec)
    const steadC = medianBy(steadyC, (x) => x.interimsPerSec)
    const ratio = (l: Load): string => (scriptCeiling ? `, ratio ${(l.interimsPerSec / scriptCeiling).toFixed(2)} to the bare charging script's Interim-Update ceiling of ${scriptCeiling}/s` : '')
    const cpuNote = steadC.cpu === undefined ? '' : ` CPU per request in µs, C generator, 50 interims per session (the median round; /proc): ${cpuText(steadC.cpu)}, so at that cost the ${cpus().length} cores could serve at most ${cpuBound(steadC.cpu, cpus().length)} requests/s however the work were scheduled.`
    rows.push('', `**RADIUS ${steadC.interimsPerSec} Interim-Update/s with 50 interims per session from the C load generator (interim p99 ${steadC.interimP99.toFixed(2)} ms${ratio(steadC)}); ${stead.interimsPerSec}/s from the Node generator (interim p99 ${stead.interimP99.toFixed(2)} ms${ratio(stead)}); ${mixed.perSec} requests/s with 5 interims per session, Node generator (${mixed.interimsPerSec} of them Interim-Update/s)** (median of ${ROUNDS} rounds each). Per session: Access-Request (PAP), Start, n × Interim-Update, Stop; 64 subscribers; load generator in its own process on the same two cores. Target (issue 6): ≥ 15,000 Interim-Update/s.${cpuNote}`)
    return rows
  } finally {
    ocs.kill('SIGTERM')
    await new Promise((r) => (ocs.exitCode !== null ? r(null) : ocs.once('exit', r)))
    rmSync(dir, { recursive: true, force: true })
  }
}
