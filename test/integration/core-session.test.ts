import t from 'tap'
import { startRedis, type TestRedis } from '../helpers/redis.js'
import { makeCore, newRedis, type Core } from '../helpers/core.js'
import type { Redis } from 'ioredis'
import { coreSuite } from './core-suite.js'

let redis: TestRedis
let client: Redis
let core: Core

t.before(async () => {
  redis = await startRedis()
  client = newRedis(redis.port)
  core = await makeCore(client)
})
t.teardown(async () => {
  client.disconnect()
  await redis.stop()
})

coreSuite(t, () => ({ core, client }))
