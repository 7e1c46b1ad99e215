import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import type { RedisClient } from '../balance/connect.js'
import { keys } from '../balance/keys.js'

// The admin API key. It is high-entropy random, so a SHA-256 digest is a sufficient stored hash
// (a slow KDF would only slow every request). Compared in constant time.

const digest = (key: string): Buffer => createHash('sha256').update(key, 'utf8').digest()

export class ApiKeyGuard {
  private constructor(private readonly hash: Buffer) {}

  /**
   * With a configured key, that key. Otherwise the hash kept in Redis; on first start a new key is
   * generated, its hash stored, and the key returned once (`generated`) so main can print it.
   */
  static async init(redis: RedisClient, configured?: string): Promise<{ guard: ApiKeyGuard; generated?: string }> {
    if (configured) return { guard: new ApiKeyGuard(digest(configured)) }
    const stored = await redis.get(keys.apiKeyHash())
    if (stored) return { guard: new ApiKeyGuard(Buffer.from(stored, 'hex')) }
    const key = `ocs_${randomBytes(24).toString('base64url')}`
    const won = await redis.set(keys.apiKeyHash(), digest(key).toString('hex'), 'NX')
    if (won !== 'OK') {
      // Another node generated it first: use theirs (printed by that node).
      return { guard: new ApiKeyGuard(Buffer.from((await redis.get(keys.apiKeyHash()))!, 'hex')) }
    }
    return { guard: new ApiKeyGuard(digest(key)), generated: key }
  }

  /** `Authorization: Bearer <key>` */
  check(header: string | undefined): boolean {
    if (!header) return false
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header)
    if (!m) return false
    return timingSafeEqual(digest(m[1]), this.hash)
  }
}
