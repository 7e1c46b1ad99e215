import t from 'tap'
import { startRedis, type TestRedis } from '../helpers/redis.js'
import { startTestOcs, api } from '../helpers/ocs.js'
import type { Ocs } from '../../src/main.js'
import { DEMO_PLAN } from '../../src/rating/plan.js'

let redis: TestRedis
let ocs: Ocs
let base: string
let metricsBase: string

t.before(async () => {
  redis = await startRedis()
  const s = await startTestOcs(redis.url)
  ocs = s.ocs
  base = s.base
  metricsBase = `http://127.0.0.1:${ocs.metricsServer.port}`
  await ocs.store.putPlan(DEMO_PLAN)
})
t.teardown(async () => {
  await ocs.stop()
  await redis.stop()
})

t.test('/healthz and /readyz on the metrics port', async (t) => {
  const h = await fetch(`${metricsBase}/healthz`)
  t.equal(h.status, 200)
  const r = await fetch(`${metricsBase}/readyz`)
  t.equal(r.status, 200)
  t.match(await r.json(), { status: 'ready', checks: ['redis', 'rest-api', 'radius', 'billing-store', 'diameter'] })
})

t.test('/metrics: charging, top-up and gauges appear after a scenario; labels never carry identities', async (t) => {
  const call = api(base)
  const a = (await call('POST', '/v1/accounts', { currency: 'EUR', type: 'prepaid', plan: 'demo', balance: '5' })).body
  await call('POST', '/v1/subscribers', { account: a.id, msisdn: '46700000777' })
  await call('POST', `/v1/accounts/${a.id}/topups`, { amount: '1' })
  await ocs.charging.initiate({ sessionId: 'm-1', requestId: 'm-1/0', identities: [{ kind: 'msisdn', value: '46700000777' }], protocol: 'diameter', items: [{ serviceContext: '32260@3gpp.org', requested: 60 }] })
  const text = await (await fetch(`${metricsBase}/metrics`)).text()
  t.match(text, /ocs_lua_duration_seconds_count\{script="session-charge"\} 1/)
  t.match(text, /ocs_topups_total 1/)
  t.match(text, /ocs_topup_amount_micro_total 1000000/)
  t.match(text, /ocs_active_sessions{protocol="diameter"} 1/)
  t.match(text, /ocs_outbox_backlog{shard="0"} 0/)
  t.match(text, /ocs_reserved_units{unit="seconds"} 60/)
  t.match(text, /ocs_reserved_amount_micro 100000/)
  t.match(text, /ocs_process_resident_memory_bytes/)
  t.notMatch(text, /46700000777|m-1|${a.id}/, 'no identity, session or account id in any series')
})

t.test('/readyz reports Redis down', async (t) => {
  const s = await startRedis()
  const other = await startTestOcs(s.url)
  const mb = `http://127.0.0.1:${other.ocs.metricsServer.port}`
  t.equal((await fetch(`${mb}/readyz`)).status, 200)
  await s.stop()
  const r = await fetch(`${mb}/readyz`)
  t.equal(r.status, 503)
  t.match(await r.json(), { status: 'not ready', failing: { redis: String } })
  await other.ocs.stop()
})
