import t from 'tap'
import { startCluster, type TestCluster } from '../helpers/cluster.js'
import { startTestOcs, api } from '../helpers/ocs.js'
import type { Ocs } from '../../src/main.js'
import { DEMO_PLAN } from '../../src/rating/plan.js'

// The OCS on a 3-master Redis Cluster through OCS_REDIS_CLUSTER's config key: provisioning,
// charging and the reaper all work across slots.
let cluster: TestCluster
let ocs: Ocs
let call: ReturnType<typeof api>

t.before(async () => {
  cluster = await startCluster()
  const s = await startTestOcs('', { redis: { cluster: cluster.ports.map((p) => `127.0.0.1:${p}`) } })
  ocs = s.ocs
  call = api(s.base)
  await ocs.store.putPlan(DEMO_PLAN)
})
t.teardown(async () => {
  await ocs.stop()
  await cluster.stop()
})

t.test('provision, charge, top up and read back through the API on a cluster', async (t) => {
  const ids: string[] = []
  for (let i = 0; i < 10; i++) {
    const a = await call('POST', '/v1/accounts', { currency: 'EUR', type: 'prepaid', plan: 'demo', balance: '1' })
    t.equal(a.status, 201)
    ids.push(a.body.id)
    t.equal((await call('POST', '/v1/subscribers', { account: a.body.id, msisdn: `4670555${String(i).padStart(4, '0')}` })).status, 201)
  }
  const r = await ocs.charging.initiate({ sessionId: 'cl-1', requestId: 'cl-1/0', identities: [{ kind: 'msisdn', value: '46705550003' }], protocol: 'diameter', items: [{ serviceContext: '32260@3gpp.org', requested: 60 }] })
  t.match(r, { kind: 'ok', outcomes: [{ kind: 'granted', units: 60 }] })
  t.equal((await call('GET', `/v1/accounts/${ids[3]}`)).body.balance, '0.900000')
  t.equal((await call('GET', `/v1/sessions?account=${ids[3]}`)).body.sessions.length, 1)
  t.equal((await call('POST', `/v1/accounts/${ids[3]}/topups`, { amount: '2' })).status, 201)
  t.equal((await call('GET', `/v1/accounts/${ids[3]}`)).body.balance, '2.900000')
  t.equal((await call('GET', '/v1/accounts?limit=500')).body.accounts.length, 10)
  t.equal(await ocs.reaper.sweep(Date.now() + 10_000_000), 1, 'the reaper sweeps every shard on the cluster')
  t.equal((await call('GET', `/v1/accounts/${ids[3]}`)).body.balance, '3.000000')
})
