import t from 'tap'
import { startCluster, type TestCluster } from '../helpers/cluster.js'
import { commandStat, functionLibraries } from '../helpers/redis.js'
import { makeCore, type Core } from '../helpers/core.js'
import { coreSuite } from './core-suite.js'
import { keys } from '../../src/balance/keys.js'
import { functionLibrary } from '../../src/balance/scripts.js'
import { Redis } from 'ioredis'

// The same core suite on a 3-master Redis Cluster: every script touches one hash tag only,
// so a CROSSSLOT error anywhere fails this file.
let cluster: TestCluster
let core: Core

t.before(async () => {
  cluster = await startCluster()
  core = await makeCore(cluster.client)
})
t.teardown(async () => {
  await cluster.stop()
})

t.test('accounts spread over the masters', async (t) => {
  const slots = new Set<number>()
  for (let i = 0; i < 64; i++) slots.add(Number(await cluster.client.cluster('KEYSLOT', keys.outbox(i))))
  t.ok(slots.size > 32, `outbox shards use ${slots.size} distinct slots`)
})

coreSuite(t, () => ({ core, client: cluster.client }))

t.test('the charging scripts ran as the function library on every master', async (t) => {
  for (const port of cluster.ports) {
    const node = new Redis({ port })
    try {
      t.same(await functionLibraries(node), [functionLibrary().name], `master ${port}: the library loaded`)
      const fcall = await commandStat(node, 'fcall')
      t.ok(fcall.calls > 0, `master ${port}: ${fcall.calls} FCALLs`)
    } finally {
      node.disconnect()
    }
  }
})
