import t from 'tap'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startCluster, type TestCluster } from '../helpers/cluster.js'
import { allCdrs, makeCore } from '../helpers/core.js'
import { SqliteBillingStore } from '../../src/cdr/sqlite-store.js'
import { SHARD_COUNT, shardOf } from '../../src/balance/keys.js'
import { allIds, chargeSome, drained, startWorker } from './cdr-suite.js'

// The worker on a 3-master Redis Cluster: every command names one shard stream, so a CROSSSLOT
// error anywhere fails this file. Two workers share the group, as two `npm run cdr-worker` would.
let cluster: TestCluster
const dir = mkdtempSync(join(tmpdir(), 'ocs-cdr-cluster-'))

t.before(async () => {
  cluster = await startCluster()
})
t.teardown(async () => {
  await cluster.stop()
  rmSync(dir, { recursive: true, force: true })
})

t.test('two workers drain every shard of a cluster into one store, each CDR once', async (t) => {
  const core = await makeCore(cluster.client)
  const { cdrs, accounts } = await chargeSome(core, 'cl', 12)
  const outbox = await allCdrs(cluster.client)
  t.equal(outbox.length, cdrs)
  const shards = new Set(accounts.map(shardOf))
  t.ok(shards.size >= 6, `${accounts.length} accounts on ${shards.size} shards`)
  const store = new SqliteBillingStore(join(dir, 'billing.sqlite'))
  t.teardown(() => store.close())
  const a = startWorker(t, cluster.client, store, { consumer: 'worker-a' })
  const b = startWorker(t, cluster.client, store, { consumer: 'worker-b', batchSize: 7 })
  await drained(cluster.client)
  t.same((await allIds(store)).sort(), outbox.map((c) => c.id).sort())
  t.equal(a.stats.written + b.stats.written, outbox.length, 'each CDR written by exactly one of the two workers')
  t.equal(a.stats.failures + b.stats.failures, 0, 'no CROSSSLOT or other errors')
  t.same(await a.backlog(), new Array(SHARD_COUNT).fill(0))

  // More charging while both run: it flows straight through.
  const more = await chargeSome(core, 'cl2', 3)
  await drained(cluster.client)
  t.equal(await store.count({}), outbox.length + more.cdrs)
})
