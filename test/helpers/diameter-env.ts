// The pieces a Diameter test needs, built directly (as src/main.ts will): a private Redis, the
// charging core, account events, metrics and a DiameterServer on a free port. Everything is closed
// by t.teardown.
import type { Redis } from 'ioredis'
import { AccountEvents } from '../../src/core/events.js'
import { DiameterServer, type DiameterServerOptions } from '../../src/diameter/server.js'
import { createLogger } from '../../src/lib/logger.js'
import { Metrics } from '../../src/metrics/metrics.js'
import type { Config } from '../../src/config/schema.js'
import type { ChargingOptions } from '../../src/core/charging.js'
import { makeCore, newRedis, type Core } from './core.js'
import { startRedis, type TestRedis } from './redis.js'
import { DiameterTestClient, type ClientOptions } from './diameter-client.js'

interface Teardown {
  teardown(f: () => unknown): void
}

export type DiameterConfig = Config['diameter']

export function diameterConfig(over: Partial<DiameterConfig> = {}): DiameterConfig {
  return {
    host: '127.0.0.1',
    port: 0,
    originHost: 'ocs.localdomain',
    originRealm: 'localdomain',
    watchdogSeconds: 30,
    peers: [{ originHost: '*', addresses: ['127.0.0.1', '::1'] }],
    maxInFlight: 4096,
    maxInFlightPerPeer: 1024,
    ...over,
  }
}

export interface DiameterEnv {
  redis: TestRedis
  client: Redis
  core: Core
  events: AccountEvents
  metrics: Metrics
  server: DiameterServer
  port: number
  connect(opts?: Partial<ClientOptions>): Promise<DiameterTestClient>
  /** Another DiameterServer (another OCS node) on the same Redis, with its own core and events. */
  addNode(over?: Partial<DiameterServerOptions>): Promise<{ server: DiameterServer; core: Core; events: AccountEvents; metrics: Metrics }>
}

export async function startDiameterEnv(
  t: Teardown,
  over: Partial<Omit<DiameterServerOptions, 'config'>> & { config?: Partial<DiameterConfig>; core?: Partial<ChargingOptions> } = {},
): Promise<DiameterEnv> {
  const redis = await startRedis()
  const client = newRedis(redis.port)
  const clients: DiameterTestClient[] = []
  const stops: Array<() => Promise<void>> = []
  t.teardown(async () => {
    for (const c of clients) await c.close()
    for (const s of stops.reverse()) await s()
    client.disconnect()
    await redis.stop()
  })
  const node = async (o: Partial<DiameterServerOptions> = {}) => {
    const c = newRedis(redis.port)
    const core = await makeCore(c, over.core)
    const events = new AccountEvents(c)
    await events.start()
    const metrics = new Metrics(false)
    const { config: cfg, core: _core, ...rest } = over
    const server = new DiameterServer({
      config: diameterConfig(cfg),
      charging: core.charging,
      events,
      metrics,
      log: createLogger(process.env.OCS_TEST_LOG ?? 'silent'),
      ...rest,
      ...o,
    })
    await server.start()
    stops.push(async () => {
      await server.stop()
      await events.stop()
      c.disconnect()
    })
    return { server, core, events, metrics }
  }
  const first = await node()
  return {
    redis,
    client,
    core: first.core,
    events: first.events,
    metrics: first.metrics,
    server: first.server,
    port: first.server.port,
    async connect(opts: Partial<ClientOptions> = {}) {
      const c = await DiameterTestClient.connect({ port: first.server.port, ...opts })
      clients.push(c)
      return c
    },
    addNode: node,
  }
}

/** Counter value of a metric with these labels (0 when absent). */
export async function metricValue(metrics: Metrics, name: string, labels: Record<string, string> = {}): Promise<number> {
  const m = await metrics.registry.getSingleMetric(name)?.get()
  if (!m) return 0
  let sum = 0
  for (const v of m.values) {
    if (Object.entries(labels).every(([k, val]) => String((v.labels as Record<string, unknown>)[k]) === val)) sum += v.value
  }
  return sum
}
