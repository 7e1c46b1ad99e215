import t from 'tap'
import { BalanceStore } from '../../src/balance/store.js'
import { PlanCache } from '../../src/core/plan-cache.js'
import { DEMO_PLAN } from '../../src/rating/plan.js'
import { newRedis } from '../helpers/core.js'
import { startRedis } from '../helpers/redis.js'

// The plan cache every charging step reads: get() checks Redis's plan version at most every ttlMs;
// cached() answers without a wait only while that check is recent, so a step never rates with a
// plan older than get() would give it.

t.test('cached(): the plan get() would give while the version check is recent, else undefined', async (t) => {
  const redis = await startRedis()
  const client = newRedis(redis.port)
  t.teardown(async () => {
    client.disconnect()
    await redis.stop()
  })
  const store = new BalanceStore(client)
  await store.putPlan(DEMO_PLAN)
  const plans = new PlanCache(store, 300)

  t.equal(plans.cached('demo'), undefined, 'never checked: undefined (the caller awaits get())')
  const v1 = await plans.get('demo')
  t.equal(v1?.version, 1)
  t.equal(plans.cached('demo'), v1, 'just checked: the same compiled plan, without a wait')
  t.equal(plans.cached('no-such-plan'), undefined, 'an unknown plan: undefined')

  await store.putPlan({ ...DEMO_PLAN, version: 2 })
  t.equal(plans.cached('demo')?.version, 1, 'within ttlMs the cached version stands, as with get()')
  t.equal((await plans.get('demo'))?.version, 1)

  await new Promise((r) => setTimeout(r, 350))
  t.equal(plans.cached('demo'), undefined, 'ttlMs past: undefined until get() has checked again')
  t.equal((await plans.get('demo'))?.version, 2, 'get() checks and finds the new version')
  t.equal(plans.cached('demo')?.version, 2, 'which cached() then gives')
})
