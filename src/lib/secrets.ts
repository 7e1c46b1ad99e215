import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto'
import { mkdirSync, readFileSync, writeFileSync, existsSync, chmodSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { OcsError } from './errors.js'

/**
 * Seals subscriber passwords with AES-256-GCM. RADIUS CHAP needs the cleartext password (it is
 * hashed with a per-request challenge), so a one-way hash alone cannot serve it; the sealed copy
 * sits beside the scrypt hash. The key is `secretsKey` from config (base64, 32 bytes: set the same
 * on every OCS node) or, for a single node, a key file created on first start with mode 0600.
 */
export class SecretBox {
  private constructor(private readonly key: Buffer) {}

  static async init(dataDir: string, configuredKey?: string): Promise<SecretBox> {
    if (configuredKey) {
      const key = Buffer.from(configuredKey, 'base64')
      if (key.length !== 32) throw new OcsError('OCS_ERR_CONFIG', 'invalid config secretsKey: must be 32 bytes, base64-encoded')
      return new SecretBox(key)
    }
    const file = join(dataDir, 'secrets.key')
    if (!existsSync(file)) {
      mkdirSync(dirname(file), { recursive: true })
      writeFileSync(file, randomBytes(32).toString('base64'), { mode: 0o600, flag: 'wx' })
    }
    chmodSync(file, 0o600)
    const key = Buffer.from(readFileSync(file, 'utf8').trim(), 'base64')
    if (key.length !== 32) throw new OcsError('OCS_ERR_CONFIG', `secrets key file ${file} does not hold 32 base64 bytes`)
    return new SecretBox(key)
  }

  /** For tests and tools: a box with a given raw key. */
  static withKey(key: Buffer): SecretBox {
    return new SecretBox(key)
  }

  /** "v1.<iv>.<tag>.<ciphertext>", base64url parts. */
  seal(plain: string): string {
    const iv = randomBytes(12)
    const c = createCipheriv('aes-256-gcm', this.key, iv)
    const body = Buffer.concat([c.update(plain, 'utf8'), c.final()])
    return ['v1', iv.toString('base64url'), c.getAuthTag().toString('base64url'), body.toString('base64url')].join('.')
  }

  open(sealed: string): string {
    const [v, iv, tag, body] = sealed.split('.')
    if (v !== 'v1' || !iv || !tag || body === undefined) throw new OcsError('OCS_ERR_VALIDATION', 'not a sealed secret')
    const d = createDecipheriv('aes-256-gcm', this.key, Buffer.from(iv, 'base64url'))
    d.setAuthTag(Buffer.from(tag, 'base64url'))
    return Buffer.concat([d.update(Buffer.from(body, 'base64url')), d.final()]).toString('utf8')
  }
}
