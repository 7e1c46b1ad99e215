// Soak: minutes of mixed traffic against the built OCS on its defaults (embedded Redis, SQLite,
// CDR worker child) — Diameter data and voice sessions, RADIUS sessions, top-ups and plan changes
// through the API — then the money audit: zero broken accounts, outbox drained, one CDR in the
// store per closed session. Not part of `npm test`.
//
//   tsx scripts/soak.ts [--minutes 3]
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { Redis } from 'ioredis'
import { waitLine } from './bench-diameter.js'
import { BalanceStore } from '../src/balance/store.js'
import { SqliteBillingStore } from '../src/cdr/sqlite-store.js'
import { audit } from '../src/cdr/audit.js'
import { PORT_FILE } from '../src/balance/embedded-redis.js'

const { values } = parseArgs({ options: { minutes: { type: 'string', default: '3' } } })
const seconds = Math.round(Number(values.minutes) * 60)
const KEY = 'soak-key-0123456789abcdef'
const dir = mkdtempSync(join(tmpdir(), 'ocs-soak-'))
const { OCS_REDIS_URL: _u, OCS_REDIS_CLUSTER: _c, ...env } = process.env
const ocs = spawn(process.execPath, ['dist/main.js'], {
  env: { ...env, OCS_CONFIG: '/dev/null', OCS_DATA_DIR: dir, OCS_API_KEY: KEY, OCS_HTTP_PORT: '0', OCS_METRICS_PORT: '0', OCS_DIAMETER_PORT: '0', OCS_RADIUS_AUTH_PORT: '0', OCS_RADIUS_ACCT_PORT: '0', OCS_LOG_LEVEL: 'warn' },
  stdio: ['ignore', 'pipe', 'pipe'],
})
const children: ChildProcess[] = [ocs]
const done = async (code: number): Promise<never> => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGTERM')
  await new Promise((r) => setTimeout(r, 1500))
  rmSync(dir, { recursive: true, force: true })
  process.exit(code)
}

try {
  const ready = await waitLine(ocs, /REST API http:\/\/127\.0\.0\.1:(\d+)\/.*Diameter (\d+), RADIUS auth (\d+) acct (\d+)/)
  // The embedded Redis announces its port in the data dir (see EmbeddedRedis).
  const redisPort = Number(readFileSync(join(dir, 'redis', PORT_FILE), 'utf8'))
  const http = `http://127.0.0.1:${ready[1]}`
  const call = async (method: string, path: string, body?: unknown): Promise<{ id?: string }> => {
    const r = await fetch(`${http}${path}`, { method, headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) })
    if (r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${await r.text()}`)
    return (await r.json()) as { id?: string }
  }
  await call('PUT', '/v1/plans/cheap', { id: 'cheap', version: 1, currency: 'EUR', services: [
    { name: 'data', unit: 'octets', match: { context: '32251@3gpp.org' }, tariff: { rate: '0.005', per: 1048576 } },
    { name: 'voice', unit: 'seconds', match: { context: '32260@3gpp.org' }, tariff: { rate: '0.05', per: 60, first: 30, next: 6 } },
    { name: 'broadband', unit: 'octets', match: { radius: '*' }, tariff: { rate: '0.002', per: 1048576 } },
  ] })
  const accounts: string[] = []
  for (let i = 0; i < 48; i++) {
    const a = await call('POST', '/v1/accounts', { currency: 'EUR', type: i % 4 === 0 ? 'postpaid' : 'prepaid', plan: 'demo', balance: i % 4 === 0 ? '0' : '50', creditLimit: i % 4 === 0 ? '50' : '0' })
    accounts.push(a.id!)
    await call('POST', '/v1/subscribers', { account: a.id, msisdn: `4679${String(i).padStart(6, '0')}`, username: `soak${i}`, password: 'soakpw' })
  }
  console.log(`soak: ${seconds} s of Diameter data + voice, RADIUS, top-ups and plan changes on ${accounts.length} accounts`)
  const load = (script: string, args: string[]): Promise<string> => {
    const p = spawn(process.execPath, ['--import', 'tsx', script, '--json', '--quiet', '--duration', String(seconds), ...args], { stdio: ['ignore', 'pipe', 'inherit'] })
    children.push(p)
    let out = ''
    p.stdout.on('data', (d) => (out += d))
    return new Promise((r) => p.once('exit', () => r(out.trim().split('\n').pop() ?? '')))
  }
  const common = ['--subscribers', '48', '--msisdn-prefix', '4679', '--msisdn-width', '6']
  const runs = Promise.all([
    load('scripts/load-diameter.ts', ['--port', ready[2], '--concurrency', '16', '--rate', '1500', '--origin-host', 'pgw-data.soak', ...common]),
    load('scripts/load-diameter.ts', ['--port', ready[2], '--concurrency', '8', '--rate', '500', '--context', '32260@3gpp.org', '--units', 'time', '--origin-host', 'sbc-voice.soak', ...common]),
    load('scripts/load-radius.ts', ['--auth-port', ready[3], '--acct-port', ready[4], '--concurrency', '16', '--rate', '1000', '--subscribers', '48', '--user-prefix', 'soak', '--password', 'soakpw']),
  ])
  let topups = 0
  let planChanges = 0
  const end = Date.now() + seconds * 1000
  while (Date.now() < end) {
    const acct = accounts[Math.floor(Math.random() * accounts.length)]
    if (Math.random() < 0.8) {
      await call('POST', `/v1/accounts/${acct}/topups`, { amount: `${1 + Math.floor(Math.random() * 20)}.${String(Math.floor(Math.random() * 100)).padStart(2, '0')}` })
      topups++
    } else {
      await call('PATCH', `/v1/accounts/${acct}`, { plan: Math.random() < 0.5 ? 'cheap' : 'demo' })
      planChanges++
    }
    await new Promise((r) => setTimeout(r, 200))
  }
  const [data, voice, radius] = (await runs).map((l) => JSON.parse(l) as { requests?: number; ccrs?: number; perSec: number; p99: number; results: Record<string, number> })
  console.log(`data   ${JSON.stringify(data)}\nvoice  ${JSON.stringify(voice)}\nradius ${JSON.stringify(radius)}\ntop-ups ${topups}, plan changes ${planChanges}`)
  // Let the CDR worker drain, then audit with the same Redis and billing store.
  const redis = new Redis({ port: redisPort })
  const billing = new SqliteBillingStore(join(dir, 'billing.sqlite'))
  let report = await audit(redis, new BalanceStore(redis), billing)
  for (let i = 0; i < 120 && report.outboxBacklog > 0; i++) {
    await new Promise((r) => setTimeout(r, 500))
    report = await audit(redis, new BalanceStore(redis), billing)
  }
  const openSessions = (await new BalanceStore(redis).stats()).sessions
  for (const b of report.broken) console.log(`BROKEN ${JSON.stringify(b, (_k, v) => (typeof v === 'bigint' ? v.toString() : v))}`)
  console.log(`audit: ${report.accounts} accounts, ${report.broken.length} broken; ${report.cdrsInStore} CDRs in the store, outbox backlog ${report.outboxBacklog}; open sessions ${JSON.stringify(openSessions)}`)
  redis.disconnect()
  await billing.close()
  await done(report.broken.length === 0 && report.outboxBacklog === 0 ? 0 : 1)
} catch (err) {
  console.error(`soak failed: ${(err as Error).message}`)
  await done(2)
}
