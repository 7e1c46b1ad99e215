// Entry of the CDR worker child process the OCS forks (billing.worker = process): the same
// CdrWorker as `npm run cdr-worker`, off the charging event loop (the SQLite driver is synchronous).
// It reports batches to the parent over IPC for the parent's metrics, and exits when the parent
// goes away (IPC disconnect) or asks it to stop (SIGTERM).
import { connectRedis, type RedisClientConfig } from '../balance/connect.js'
import { createLogger } from '../lib/logger.js'
import { openBillingStore } from './open-store.js'
import { CdrWorker } from './worker.js'

export interface WorkerChildConfig {
  redis: RedisClientConfig
  redisUrl?: string
  billingDb?: string
  dataDir: string
  consumer: string
  logLevel: string
}

const cfg = JSON.parse(process.env.OCS_CDR_WORKER ?? '{}') as WorkerChildConfig
const log = createLogger(cfg.logLevel ?? 'info').child({ component: 'cdr-worker' })
const redis = connectRedis(cfg.redis, cfg.redisUrl)
redis.on('error', () => undefined)
const store = await openBillingStore(cfg.billingDb, cfg.dataDir, log)
const send = (m: unknown): void => {
  if (process.connected) process.send?.(m)
}
const worker = new CdrWorker(
  redis,
  store,
  {
    consumer: cfg.consumer,
    // Beside the OCS on the same cores: drain at most a fifth of the time so charging keeps its CPU,
    // in batches of 1,000 rather than SQLite's 5,000 (worker.ts SQLITE_BATCH): a pass over the shards
    // reads up to eight batches, so a backlog takes a core in bursts of ~0.15 s rather than ~0.7 s.
    // (Charging beside a backlog drained at nice 10 did not tell the two apart: 0.89 of its rate at
    // 5,000, 0.96 and 0.87 at 1,000, in three bench runs.)
    batchSize: 1000,
    dutyCycle: 0.2,
    onBatch: (written) => send({ written }),
    onError: (_e, source) => {
      if (source === 'store') send({ failed: 1 })
    },
  },
  log,
)
await worker.start()
send({ ready: true })

let stopping = false
async function stop(code: number): Promise<void> {
  if (stopping) return
  stopping = true
  const force = setTimeout(() => process.exit(1), 4000)
  force.unref()
  await worker.stop().catch(() => undefined)
  await store.close().catch(() => undefined)
  redis.disconnect()
  process.exit(code)
}
process.on('SIGTERM', () => void stop(0))
process.on('SIGINT', () => void stop(0))
// The parent died (even by SIGKILL): its IPC channel closes; a batch in hand stays pending and is reclaimed.
process.on('disconnect', () => void stop(0))
