import { Redis, Cluster } from 'ioredis'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Config } from '../config/schema.js'
import { PORT_FILE } from './embedded-redis.js'

export type RedisClient = Redis | Cluster

/**
 * A Redis client for the OCS: single node (URL) or Cluster (seed list). Commands fail fast while
 * Redis is away (no offline queue growing without bound): the front ends answer 3004 / drop, and
 * the network retransmits.
 */
export function connectRedis(cfg: Config['redis'], url?: string): RedisClient {
  const common = {
    commandTimeout: cfg.commandTimeoutMs,
    maxRetriesPerRequest: 1,
    enableOfflineQueue: true,
    retryStrategy: (times: number) => Math.min(50 * times, 1000),
    // Concurrent charging steps share round trips: one write and one read per event-loop tick.
    enableAutoPipelining: true,
  }
  if (cfg.cluster && cfg.cluster.length > 0) {
    const nodes = cfg.cluster.map((hp) => {
      const [host, port] = hp.split(':')
      return { host, port: Number(port) }
    })
    return new Cluster(nodes, { redisOptions: common, enableOfflineQueue: true, scaleReads: 'master' })
  }
  const target = url ?? cfg.url
  if (!target) throw new Error('no Redis URL')
  return new Redis(target, common)
}

/**
 * For tools that run beside the OCS (audit, CDR worker): the configured Redis, or the embedded one
 * a running `npm start` on the same data dir announced in its port file.
 */
export function toolRedisUrl(cfg: Config): string | undefined {
  if (cfg.redis.url || cfg.redis.cluster) return cfg.redis.url
  try {
    const port = readFileSync(join(cfg.dataDir, 'redis', PORT_FILE), 'utf8').trim()
    return /^\d+$/.test(port) ? `redis://127.0.0.1:${port}` : undefined
  } catch {
    return undefined
  }
}
