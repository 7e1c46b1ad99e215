// `npm run cdr-worker`: the CDR outbox worker as its own process, so several can share the outbox
// streams (one consumer group; each process is its own consumer). Reads the same config as the OCS
// (config/ocs.yaml, OCS_* env). Stops cleanly on SIGTERM/SIGINT: the batch in hand is committed and
// acknowledged, or left pending for another worker to reclaim.
//
// Tuning flags (optional): --batch-size=N --block-ms=N --claim-idle-ms=N --consumer=NAME --group=NAME
import { parseArgs } from 'node:util'
import { loadConfig } from '../src/config/load.js'
import type { Config } from '../src/config/schema.js'
import { connectRedis, toolRedisUrl } from '../src/balance/connect.js'
import { OcsError } from '../src/lib/errors.js'
import { createLogger } from '../src/lib/logger.js'
import { exitOnSignals } from '../src/lib/shutdown.js'
import { openBillingStore, redactUrl } from '../src/cdr/open-store.js'
import { CdrWorker, type CdrWorkerOptions } from '../src/cdr/worker.js'

function die(line: string, code = 2): never {
  process.stderr.write(`${line}\n`)
  process.exit(code)
}

function intFlag(v: string | undefined, name: string, min: number): number | undefined {
  if (v === undefined) return undefined
  if (!/^\d+$/.test(v) || Number(v) < min) die(`cdr-worker: --${name} = ${JSON.stringify(v)}: an integer ≥ ${min}`)
  return Number(v)
}

async function main(): Promise<void> {
  let flags: Record<string, string | undefined>
  try {
    flags = parseArgs({
      options: {
        'batch-size': { type: 'string' },
        'block-ms': { type: 'string' },
        'claim-idle-ms': { type: 'string' },
        consumer: { type: 'string' },
        group: { type: 'string' },
      },
      strict: true,
    }).values as Record<string, string | undefined>
  } catch (err) {
    die(`cdr-worker: ${(err as Error).message}`)
  }
  let config: Config
  try {
    config = loadConfig()
  } catch (err) {
    die(err instanceof OcsError ? err.message : String(err))
  }
  const redisUrl = toolRedisUrl(config)
  if (!redisUrl && !config.redis.cluster) {
    die(`cdr-worker: no Redis: set OCS_REDIS_URL (or OCS_REDIS_CLUSTER), or run it beside a running \`npm start\` on the same data dir (${config.dataDir})`)
  }
  const options: Partial<CdrWorkerOptions> = {
    batchSize: intFlag(flags['batch-size'], 'batch-size', 1),
    blockMs: intFlag(flags['block-ms'], 'block-ms', 1),
    claimIdleMs: intFlag(flags['claim-idle-ms'], 'claim-idle-ms', 100),
    consumer: flags.consumer,
    group: flags.group,
  }
  const log = createLogger(config.logLevel)
  const redis = connectRedis(config.redis, redisUrl)
  redis.on('error', (err: Error) => log.warn({ err: err.message }, 'redis connection error'))
  let store
  try {
    store = await openBillingStore(config.billing.db, config.dataDir, log)
  } catch (err) {
    redis.disconnect()
    die(err instanceof OcsError ? err.message : String(err), 1)
  }
  const worker = new CdrWorker(redis, store, options, log)
  await worker.start()
  log.info({ store: redactUrl(config.billing.db) }, 'cdr-worker running')

  exitOnSignals(log, async () => {
    await worker.stop()
    await store.close().catch(() => undefined)
    // QUIT would wait in the offline queue while Redis is away: only a ready connection says goodbye.
    if (redis.status === 'ready') await redis.quit().catch(() => redis.disconnect())
    else redis.disconnect()
  })
}

void main()
