import { Redis, Cluster } from 'ioredis'
import type { Config } from '../config/schema.js'

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
