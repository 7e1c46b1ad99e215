import t from 'tap'
import { startDiameterEnv } from '../helpers/diameter-env.js'
import { ccrAvps, resultCode, msccs, granted } from '../helpers/diameter-client.js'
import { makeAccount } from '../helpers/core.js'

t.test('smoke', async (t) => {
  const env = await startDiameterEnv(t)
  const { accountId, msisdn } = await makeAccount(env.core.store, { balance: 10_000_000n })
  const c = await env.connect()
  t.equal(resultCode(c.cea), 2001)
  const a = await c.ccr(ccrAvps({ sessionId: 's1', type: 1, number: 0, msisdn, mscc: [{ rg: 10, rsu: {} }] }))
  console.log(JSON.stringify(a, (k, v) => typeof v === 'bigint' ? v.toString() : v).slice(0, 1500))
  t.equal(resultCode(a), 2001)
  console.log(granted(msccs(a)[0]))
})
