import t from 'tap'
import { readFileSync, readdirSync, mkdtempSync, writeFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { execFile, spawn } from 'node:child_process'
import { promisify } from 'node:util'
import { parse as parseYaml } from 'yaml'
import { startRedis, type TestRedis } from '../helpers/redis.js'
import { startTestOcs, api, TEST_API_KEY } from '../helpers/ocs.js'
import { freePort } from '../../src/balance/embedded-redis.js'
import type { Ocs } from '../../src/main.js'
import { DEMO_PLAN } from '../../src/rating/plan.js'
import dgram from 'node:dgram'
import { DiameterTestClient, ccrAvps } from '../helpers/diameter-client.js'
import { encode as encodeRadius, decode as decodeRadius } from '../../src/radius/codec.js'

// Grafana dashboards and Prometheus alert rules name only metrics the OCS really exports;
// promtool accepts the rules; a real Prometheus scrapes the OCS; labels never grow with subscribers;
// no secret reaches the log.

const run = promisify(execFile)
let redis: TestRedis
let ocs: Ocs
let logs: string[]
let call: ReturnType<typeof api>

t.before(async () => {
  redis = await startRedis()
  const s = await startTestOcs(redis.url, { logLevel: 'trace' })
  ocs = s.ocs
  logs = s.logs
  call = api(s.base)
  await ocs.store.putPlan(DEMO_PLAN)
})
t.teardown(async () => {
  await ocs.stop()
  await redis.stop()
})

const scrape = async (): Promise<string> => (await fetch(`http://127.0.0.1:${ocs.metricsServer.port}/metrics`)).text()

/** Metric names a PromQL expression uses (ocs_* and the synthetic `up`). */
function metricNames(expr: string): string[] {
  return [...expr.matchAll(/\b(ocs_[a-z0-9_]+)/g)].map((m) => m[1])
}

function exportedNames(text: string): Set<string> {
  const names = new Set<string>()
  for (const line of text.split('\n')) {
    const m = /^# TYPE (\S+) (\w+)/.exec(line)
    if (!m) continue
    names.add(m[1])
    if (m[2] === 'histogram') for (const sfx of ['_bucket', '_sum', '_count']) names.add(m[1] + sfx)
    if (m[2] === 'summary') for (const sfx of ['_sum', '_count']) names.add(m[1] + sfx)
  }
  return names
}

/** Diameter CER + CCR-I + CCR-T and a RADIUS Access-Request + Start + Stop against the running OCS. */
async function frontEnds(): Promise<void> {
  const dc = await DiameterTestClient.connect({ port: ocs.diameter.port })
  await dc.ccr(ccrAvps({ sessionId: 'obs;d1', type: 1, number: 0, msisdn: '46700001234', mscc: [{ rg: 1, rsu: {} }] }))
  await dc.ccr(ccrAvps({ sessionId: 'obs;d1', type: 3, number: 1, msisdn: '46700001234', mscc: [{ rg: 1, usu: { input: 1000, output: 1000 } }] }))
  await dc.close()
  const sock = dgram.createSocket('udp4')
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r))
  const ask = (buf: Buffer, port: number): Promise<Buffer> =>
    new Promise((res) => {
      sock.once('message', (m) => res(m))
      sock.send(buf, port, '127.0.0.1')
    })
  const accept = decodeRadius(await ask(encodeRadius({ code: 'Access-Request', identifier: 1, attributes: [['User-Name', 'obs'], ['User-Password', 'obs-secret-pw'], ['NAS-Identifier', 'obs-nas'], ['NAS-Port', 1]] }, { secret: 'testing123' }), ocs.radius.authPort))
  const cls = accept.attributes.find((a) => a.name === 'Class')?.value as Buffer
  for (const [id, status] of [[2, 'Start'], [3, 'Stop']] as const) {
    await ask(encodeRadius({ code: 'Accounting-Request', identifier: id, attributes: [['User-Name', 'obs'], ['Acct-Status-Type', status], ['Acct-Session-Id', 'obs-1'], ['NAS-Identifier', 'obs-nas'], ['NAS-Port', 1], ['Class', cls], ['Acct-Input-Octets', 1000], ['Acct-Output-Octets', 1000], ['Acct-Session-Time', 5]] }, { secret: 'testing123' }), ocs.radius.acctPort)
  }
  sock.close()
}

async function scenario(): Promise<void> {
  const a = (await call('POST', '/v1/accounts', { currency: 'EUR', type: 'prepaid', plan: 'demo', balance: '5' })).body
  await call('POST', '/v1/subscribers', { account: a.id, msisdn: '46700001234', username: 'obs', password: 'obs-secret-pw' })
  await call('POST', `/v1/accounts/${a.id}/topups`, { amount: '1' })
  const ids = [{ kind: 'msisdn' as const, value: '46700001234' }]
  await ocs.charging.initiate({ sessionId: 'obs-1', requestId: 'obs-1/0', identities: ids, protocol: 'diameter', items: [{ serviceContext: '32251@3gpp.org', requested: 'default' }] })
  await ocs.charging.event({ requestId: 'obs-sms', identities: ids, protocol: 'diameter', items: [{ serviceContext: '32274@3gpp.org', units: 1 }] })
  await frontEnds()
}

t.test('every metric a dashboard panel or an alert rule uses appears in a live scrape after the front ends ran', async (t) => {
  await scenario()
  const text = await scrape()
  t.match(text, /ocs_requests_total\{protocol="diameter",command="CCR",type="INITIAL",result="2001"\} 1/)
  t.match(text, /ocs_requests_total\{protocol="radius",command="Access-Request"/)
  const live = exportedNames(text)
  const used = new Map<string, string>()
  for (const f of readdirSync('grafana/dashboards')) {
    const d = JSON.parse(readFileSync(join('grafana/dashboards', f), 'utf8')) as { panels: Array<{ title: string; targets: Array<{ expr: string }> }> }
    t.ok(d.panels.length > 0, `${f} has panels`)
    for (const p of d.panels) for (const tg of p.targets) for (const n of metricNames(tg.expr)) used.set(n, `${f} / ${p.title}`)
  }
  const rules = parseYaml(readFileSync('grafana/alerts.yml', 'utf8')) as { groups: Array<{ rules: Array<{ alert: string; expr: string }> }> }
  for (const g of rules.groups) for (const r of g.rules) for (const n of metricNames(r.expr)) used.set(n, `alert ${r.alert}`)
  t.ok(used.size > 15, `${used.size} metric names used`)
  for (const [name, where] of used) t.ok(live.has(name), `${name} (${where}) is exported`)
})

t.test('promtool accepts the alert rules', async (t) => {
  const { stdout } = await run('promtool', ['check', 'rules', 'grafana/alerts.yml'])
  t.match(stdout, /SUCCESS: \d+ rules found/)
})

t.test('a real Prometheus scrapes the OCS and loads the rules', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ocs-prom-'))
  const port = await freePort()
  writeFileSync(join(dir, 'alerts.yml'), readFileSync('grafana/alerts.yml'))
  writeFileSync(
    join(dir, 'prometheus.yml'),
    `global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files: [alerts.yml]\nscrape_configs:\n  - job_name: ocs\n    static_configs:\n      - targets: ['127.0.0.1:${ocs.metricsServer.port}']\n`,
  )
  const prom = spawn('prometheus', [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`], { stdio: 'ignore' })
  t.teardown(async () => {
    const done = new Promise((r) => prom.once('exit', r))
    prom.kill('SIGTERM')
    await done
    rmSync(dir, { recursive: true, force: true })
  })
  const query = async (q: string): Promise<Array<{ metric: Record<string, string>; value: [number, string] }>> => {
    const r = await fetch(`http://127.0.0.1:${port}/api/v1/query?query=${encodeURIComponent(q)}`)
    return ((await r.json()) as { data: { result: Array<{ metric: Record<string, string>; value: [number, string] }> } }).data.result
  }
  let up: Array<{ value: [number, string] }> = []
  for (let i = 0; i < 150 && !(up[0]?.value[1] === '1'); i++) {
    await new Promise((r) => setTimeout(r, 200))
    up = await query('up{job="ocs"}').catch(() => [])
  }
  t.equal(up[0]?.value[1], '1', 'target up')
  const lua = await query('ocs_lua_duration_seconds_count')
  t.ok(lua.some((s) => s.metric.script === 'session-charge'), 'Lua latency series scraped')
  const ccrs = await query('sum(ocs_requests_total{protocol="diameter",command="CCR"})')
  t.equal(ccrs[0]?.value[1], '2', 'Prometheus reports the 2 CCRs the scenario sent')
  const radius = await query('sum(ocs_requests_total{protocol="radius"})')
  t.equal(radius[0]?.value[1], '3', 'and the 3 RADIUS requests')
  const rules = (await (await fetch(`http://127.0.0.1:${port}/api/v1/rules`)).json()) as { data: { groups: Array<{ rules: unknown[] }> } }
  t.ok(rules.data.groups[0].rules.length >= 8, 'alert rules loaded')
})

t.test('label sets do not grow with subscribers: 10,000 distinct subscribers, same series count', async (t) => {
  const count = (text: string): number => text.split('\n').filter((l) => l && !l.startsWith('#') && !l.startsWith('ocs_process_') && !l.startsWith('ocs_nodejs_')).length
  const before = count(await scrape())
  const a = await ocs.store.createAccount({ currency: 'EUR', type: 'prepaid', plan: 'demo', timezone: 'UTC', language: 'en', taxRegion: 'x', country: 'SE', status: 'active', creditLimit: 0n }, 1_000_000_000n)
  const batch = 500
  for (let i = 0; i < 10_000; i += batch) {
    await Promise.all(
      Array.from({ length: batch }, async (_, j) => {
        const msisdn = `4671${String(i + j).padStart(7, '0')}`
        await ocs.store.createSubscriber({ account: a.id, msisdn })
        await ocs.charging.event({ requestId: `card-${i + j}`, identities: [{ kind: 'msisdn', value: msisdn }], protocol: 'diameter', items: [{ serviceContext: '32274@3gpp.org', units: 1 }] })
      }),
    )
  }
  const text = await scrape()
  t.equal(count(text), before, `series after 10,000 subscribers: ${count(text)} (before ${before})`)
  // (in a label value: a metric's value such as 0.0192084671044 may hold the digits)
  t.notMatch(text, /"[^"\n]*4671\d{7}[^"\n]*"/, 'no MSISDN in any label')
})

t.test('no secret in the log of a full scenario', async (t) => {
  await scenario().catch(() => undefined)
  const all = logs.join('')
  t.ok(all.length > 1000, 'the scenario logged')
  const sealingKey = readFileSync(join(ocs.config.dataDir, 'secrets.key'), 'utf8').trim()
  for (const secret of [TEST_API_KEY, 'obs-secret-pw', 'testing123', sealingKey]) t.notOk(all.includes(secret), `log never contains ${secret.slice(0, 3)}…`)
})
