import t from 'tap'
import { startRedis, type TestRedis } from '../helpers/redis.js'
import { startTestOcs, api } from '../helpers/ocs.js'
import { fakeCoaListener, NasSim, SECRET, type Harness } from '../helpers/radius-harness.js'
import { RadiusCode, get, getNumber, type RadiusAttributeInput } from '../../src/radius/codec.js'
import { DEMO_PLAN } from '../../src/rating/plan.js'
import { loadConfig } from '../../src/config/load.js'

// RADIUS behaviour an operator sets in config/ocs.yaml, through the whole OCS: the interim interval
// and a fair-usage threshold whose CoA carries the configured attributes.

let redis: TestRedis
t.before(async () => {
  redis = await startRedis()
})
t.teardown(() => redis.stop())

t.test('radius.fairUsage and radius.interimIntervalSeconds from config', async (t) => {
  const coa = await fakeCoaListener(t, '127.0.0.6', () => ({ code: 'ack' }))
  const { ocs, base } = await startTestOcs(redis.url, {
    radius: {
      authPort: 0,
      acctPort: 0,
      interimIntervalSeconds: 120,
      clients: [{ address: '127.0.0.6', secret: SECRET, vendor: 'mikrotik', coaPort: coa.port }],
      fairUsage: { thresholdOctets: 10_000_000, restrict: { mikrotik: [['Mikrotik-Rate-Limit', '512k/512k']] } },
    },
  })
  t.teardown(() => ocs.stop())
  await ocs.store.putPlan(DEMO_PLAN)
  const call = api(base)
  const a = (await call('POST', '/v1/accounts', { currency: 'EUR', type: 'prepaid', plan: 'demo', balance: '10' })).body
  await call('POST', '/v1/subscribers', { account: a.id, username: 'fup', password: 'fuppw' })
  const nas = await NasSim.open(t, { server: ocs.radius } as unknown as Harness, '127.0.0.6')
  const accept = await nas.pap('fup', 'fuppw')
  t.equal(accept?.packet.code, RadiusCode.AccessAccept)
  t.equal(getNumber(accept!.packet, 'Acct-Interim-Interval'), 120)
  const cls = get(accept!.packet, 'Class') as Buffer
  const sess: RadiusAttributeInput[] = [['User-Name', 'fup'], ['Acct-Session-Id', 'fup-1'], ['NAS-Identifier', 'test-nas'], ['NAS-Port', 0], ['Class', cls]]
  t.equal((await nas.acct([...sess, ['Acct-Status-Type', 'Start']]))?.packet.code, RadiusCode.AccountingResponse)
  await nas.acct([...sess, ['Acct-Status-Type', 'Interim-Update'], ['Acct-Input-Octets', 3_000_000], ['Acct-Output-Octets', 3_000_000], ['Acct-Session-Time', 120]])
  t.equal(coa.received.length, 0, 'below the threshold: no CoA')
  await nas.acct([...sess, ['Acct-Status-Type', 'Interim-Update'], ['Acct-Input-Octets', 6_000_000], ['Acct-Output-Octets', 6_000_000], ['Acct-Session-Time', 240]])
  const c = await coa.next()
  t.equal(c?.packet.code, RadiusCode.CoaRequest, 'CoA-Request once fair usage is crossed')
  t.equal(get(c!.packet, 'Mikrotik-Rate-Limit'), '512k/512k', 'with the configured attributes')
})

t.test('a bad fair-usage config is refused naming the key', async (t) => {
  t.throws(() => loadConfig({ env: {}, file: '/dev/null', overrides: { radius: { fairUsage: { thresholdOctets: 0 } } } }), { message: /^invalid config radius\.fairUsage\.thresholdOctets = 0/ })
  t.throws(() => loadConfig({ env: {}, file: '/dev/null', overrides: { radius: { fairUsage: { thresholdOctets: 1, restrict: { cisco: [] } } } } }), { message: /radius\.fairUsage\.restrict/ })
  t.throws(() => loadConfig({ env: {}, file: '/dev/null', overrides: { radius: { interimIntervalSeconds: 10 } } }), { message: /^invalid config radius\.interimIntervalSeconds = 10/ })
})
