import * as crypto from 'node:crypto'

// One-shot digests for the per-request hot paths (RADIUS session and idempotency ids; the RADIUS
// authenticators' MD5 is md5.ts). crypto.hash (Node ≥ 20.12) makes no Hash object and crosses
// into OpenSSL once: measured here ~0.5 µs cheaper for SHA-256 of a short string than
// createHash().update().digest(). Older Node 20 releases get the createHash path.

const oneShot: typeof crypto.hash | undefined = typeof crypto.hash === 'function' ? crypto.hash : undefined

/** The digest of `data` (a string is hashed as UTF-8) as base64url text. */
export function digestBase64url(algorithm: 'md5' | 'sha256', data: Buffer | string): string {
  return oneShot ? oneShot(algorithm, data, 'base64url') : crypto.createHash(algorithm).update(data).digest('base64url')
}
