import { join } from 'node:path'
import { loadConfig } from './config/load.js'
import type { Config } from './config/schema.js'
import { OcsError } from './lib/errors.js'
import { createLogger, type Logger } from './lib/logger.js'
import type { Component } from './lib/lifecycle.js'
import { EmbeddedRedis } from './balance/embedded-redis.js'
import { setRealtime } from './lib/realtime.js'
import { IdlePoller } from './lib/idle-poll.js'
import { setHeapGrowingPercent } from './lib/gc-tuning.js'
import { connectRedis, type RedisClient } from './balance/connect.js'
import { BalanceStore } from './balance/store.js'
import { PlanCache } from './core/plan-cache.js'
import { ChargingService } from './core/charging.js'
import { Reaper } from './core/reaper.js'
import { CycleRunner } from './core/cycles.js'
import { loadPlanFiles } from './core/plan-files.js'
import { AccountEvents } from './core/events.js'
import { ApiKeyGuard } from './api/auth.js'
import { ApiServer } from './api/server.js'
import { loadDemoData } from './demo.js'
import { SecretBox } from './lib/secrets.js'
import { exitOnSignals } from './lib/shutdown.js'
import { Metrics } from './metrics/metrics.js'
import { MetricsServer } from './metrics/server.js'
import { keys, SHARD_COUNT } from './balance/keys.js'
import { RadiusServer } from './radius/server.js'
import { openBillingStore } from './cdr/open-store.js'
import { CdrWorker } from './cdr/worker.js'
import { CdrWorkerProcess } from './cdr/worker-process.js'
import type { BillingStore } from './cdr/types.js'
import { DiameterServer } from './diameter/server.js'
import { defaultDictionary as diameterDictionary } from './diameter/dictionary.js'
import { defaultDictionary as radiusDictionary } from './radius/dictionary.js'

// The composition root: builds every component from the frozen config, starts them in order,
// and on SIGTERM/SIGINT stops them in reverse order within 5 s.

export interface Ocs {
  config: Config
  store: BalanceStore
  charging: ChargingService
  events: AccountEvents
  reaper: Reaper
  cycles: CycleRunner
  api: ApiServer
  billing: BillingStore
  /** the in-process worker when billing.worker = inline */
  cdrWorker?: CdrWorker
  radius: RadiusServer
  diameter: DiameterServer
  metrics: Metrics
  metricsServer: MetricsServer
  secrets: SecretBox
  redisUrl?: string
  stop(): Promise<void>
}

/** Wraps the Redis client so it has the same lifecycle as everything else. */
class RedisConnection implements Component {
  readonly name = 'redis-client'
  constructor(readonly client: RedisClient) {}
  async start(): Promise<void> {
    if (this.client.status !== 'ready') await new Promise<void>((res, rej) => {
      this.client.once('ready', () => res())
      this.client.once('error', (e: Error) => rej(new OcsError('OCS_ERR_REDIS_UNAVAILABLE', `cannot reach Redis: ${e.message}`)))
    })
  }
  async stop(): Promise<void> {
    await this.client.quit().catch(() => this.client.disconnect())
  }
}

/** The billing store with the common lifecycle (closed after the CDR worker stops). */
class BillingStoreHandle implements Component {
  readonly name = 'billing-store'
  constructor(readonly store: BillingStore) {}
  async start(): Promise<void> {}
  async stop(): Promise<void> {
    await this.store.close()
  }
}

export async function startOcs(config: Config, log: Logger, print: (line: string) => void = (l) => process.stdout.write(`${l}\n`)): Promise<Ocs> {
  const started: Component[] = []
  const start = async <T extends Component>(c: T): Promise<T> => {
    await c.start()
    started.push(c)
    return c
  }
  const stop = async (): Promise<void> => {
    for (const c of started.reverse()) {
      try {
        await c.stop()
      } catch (err) {
        log.warn({ component: c.name, err: (err as Error).message }, 'component failed to stop cleanly')
      }
    }
    started.length = 0
  }

  try {
    // Dictionaries load before any socket opens, so a broken file stops the start.
    radiusDictionary()
    diameterDictionary()
    const metrics = new Metrics()
    const secrets = await SecretBox.init(config.dataDir, config.secretsKey)
    let redisUrl: string | undefined
    let embedded: EmbeddedRedis | undefined
    if (!config.redis.url && !config.redis.cluster) {
      embedded = await start(new EmbeddedRedis(join(config.dataDir, 'redis'), log, { aofRewriteMinSizeMb: config.redis.aofRewriteMinSizeMb }))
      redisUrl = embedded.clientUrl
    }
    const conn = await start(new RedisConnection(connectRedis(config.redis, redisUrl)))
    conn.client.on('error', (err: Error) => log.warn({ err: err.message }, 'redis connection error'))
    const billing = (await start(new BillingStoreHandle(await openBillingStore(config.billing.db, config.dataDir, log)))).store
    let cdrWorker: CdrWorker | undefined
    if (config.billing.worker === 'inline') {
      // Its own connection, so CDR batches never queue ahead of charging replies.
      const cdrConn = await start(new RedisConnection(connectRedis(config.redis, redisUrl)))
      cdrConn.client.on('error', () => undefined)
      cdrWorker = await start(
        new CdrWorker(
          cdrConn.client,
          billing,
          {
            consumer: `${config.nodeId}-${process.pid}`,
            // The synchronous SQLite driver holds the event loop while a batch commits: small batches
            // keep that under a few ms (the default, billing.worker = process, avoids it altogether).
            batchSize: billing.kind === 'sqlite' ? 200 : 1000,
            onBatch: (written) => metrics.cdrsWritten.inc(written),
            onError: (_e, source) => {
              if (source === 'store') metrics.cdrsFailed.inc()
            },
          },
          log,
        ),
      )
    } else if (config.billing.worker === 'process') {
      await start(
        new CdrWorkerProcess(
          { redis: config.redis, redisUrl, billingDb: config.billing.db, dataDir: config.dataDir, consumer: `${config.nodeId}-${process.pid}-cdr`, logLevel: config.logLevel },
          metrics,
          log,
          config.scheduling.cdrWorkerIdle,
        ),
      )
    }
    const store = new BalanceStore(conn.client)
    const plans = new PlanCache(store)
    const events = await start(new AccountEvents(conn.client, log))
    const charging = new ChargingService(store, plans, { nodeId: config.nodeId, ...config.charging }, log, metrics)
    const reaper = new Reaper(store, config.nodeId, config.charging.reaperIntervalMs, log)
    reaper.onReaped = (n) => metrics.reaperReleases.inc(n)
    await start(reaper)

    if (config.demoData) {
      const lines = await loadDemoData(store, secrets, log)
      for (const l of lines ?? []) print(l)
    }
    for (const l of await loadPlanFiles(store, config.plansDir)) log.info({ plan: l }, 'plan file stored')
    const cycles = new CycleRunner(store, plans, { nodeId: config.nodeId, intervalMs: config.charging.cycleIntervalMs, retryMs: config.charging.cycleRetrySeconds * 1000 }, events, log)
    await start(cycles)
    const { guard, generated } = await ApiKeyGuard.init(conn.client, config.apiKey)
    if (generated) print(`admin API key (printed once, stored hashed): ${generated}`)

    const api = await start(new ApiServer(config.http.host, config.http.port, guard, { store, events, plans, secrets, metrics, billing, cycles }, log))

    const radius = await start(new RadiusServer({
        config: config.radius,
        charging,
        store,
        secrets,
        events,
        metrics,
        log,
        interimIntervalSeconds: config.radius.interimIntervalSeconds,
        nodeId: config.nodeId,
        ...(config.radius.fairUsage ? { fairUsage: config.radius.fairUsage } : {}),
      }))
    const diameter = await start(new DiameterServer({ config: config.diameter, charging, events, metrics, log }))

    // Last but the metrics server: the pollers wait for traffic, and start-up is not traffic.
    await start(new IdlePoller(config.scheduling.idlePoll, log, (on) => metrics.idlePolling.set(on ? 1 : 0)))

    const metricsServer = new MetricsServer(config.metrics.host, config.metrics.port, metrics, log)
    metricsServer.addCheck('redis', async () => ((await conn.client.ping()) === 'PONG' ? undefined : 'no PONG'))
    metricsServer.addCheck('rest-api', async () => (api.app.server.listening ? undefined : 'not listening'))
    metricsServer.addCheck('radius', async () => (radius.authPort > 0 && radius.acctPort > 0 ? undefined : 'not bound'))
    metricsServer.addCheck('billing-store', async () => {
      await billing.ping()
      return undefined
    })
    metricsServer.addCheck('diameter', async () => (diameter.ready ? undefined : 'not listening'))
    metricsServer.beforeScrape = async () => {
      // Cluster-wide gauges read from Redis: a few keys per shard, cheap at scrape intervals.
      for (let shard = 0; shard < SHARD_COUNT; shard++) metrics.outboxBacklog.set({ shard: String(shard) }, await conn.client.xlen(keys.outbox(shard)))
      const stats = await store.stats()
      metrics.reservedAmount.set(Number(stats.reserved))
      for (const u of ['seconds', 'octets', 'events']) metrics.reservedUnits.set({ unit: u }, stats.granted[u] ?? 0)
      for (const p of ['diameter', 'radius', 'api']) metrics.activeSessions.set({ protocol: p }, stats.sessions[p] ?? 0)
    }
    await start(metricsServer)
    // Last, so that the CDR worker child (started above: SCHED_IDLE, or nice 10) is not made real-time.
    const rt = config.scheduling.realtimePriority
    if (rt !== undefined) {
      const targets: Array<[string, number]> = [['ocs', process.pid]]
      // An external Redis is the operator's to schedule (e.g. systemd CPUSchedulingPolicy=rr).
      if (embedded) targets.push(['redis', Number(/process_id:(\d+)/.exec(await conn.client.info('server'))?.[1])])
      for (const [name, pid] of targets) {
        const why = setRealtime(pid, rt)
        if (why) log.warn({ process: name, pid, priority: rt, err: why }, 'real-time scheduling not set (needs root or CAP_SYS_NICE): normal priority')
        else log.info({ process: name, pid, priority: rt }, 'real-time scheduling set (SCHED_RR)')
      }
    }
    print(`OCS ${config.nodeId} ready: REST API http://${config.http.host}:${api.port}/ (docs at /docs), Diameter ${diameter.port}, RADIUS auth ${radius.authPort} acct ${radius.acctPort}, metrics http://${config.metrics.host}:${metricsServer.port}/metrics`)
    return { config, store, charging, events, reaper, cycles, api, billing, cdrWorker, radius, diameter, metrics, metricsServer, secrets, redisUrl, stop }
  } catch (err) {
    await stop()
    throw err
  }
}

async function main(): Promise<void> {
  let config: Config
  try {
    config = loadConfig()
  } catch (err) {
    // One line, before any socket is opened.
    process.stderr.write(`${err instanceof OcsError ? err.message : String(err)}\n`)
    process.exit(2)
  }
  setHeapGrowingPercent(config.scheduling.heapGrowingPercent)
  const log = createLogger(config.logLevel)
  let ocs: Ocs
  try {
    ocs = await startOcs(config, log)
  } catch (err) {
    log.fatal({ err: (err as Error).message }, 'OCS failed to start')
    process.stderr.write(`OCS failed to start: ${(err as Error).message}\n`)
    process.exit(1)
  }
  exitOnSignals(log, () => ocs.stop())
}

if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) void main()
