import { join, resolve } from 'node:path'
import type { Logger } from '../lib/logger.js'
import { OcsError } from '../lib/errors.js'
import { PostgresBillingStore } from './postgres-store.js'
import { SqliteBillingStore } from './sqlite-store.js'
import type { BillingStore } from './types.js'

/**
 * The billing store named by `billing.db` (OCS_BILLING_DB): `sqlite:PATH`, `postgres://…` /
 * `postgresql://…`, or unset = SQLite at `<dataDir>/billing.sqlite`.
 *
 * SQLite is opened and migrated here (a local file: failing is a setup error). PostgreSQL is not
 * contacted: the OCS must start and charge while the billing database is away, so the CDR worker
 * runs `migrate()` (idempotent) with retries before its first write.
 */
export async function openBillingStore(url: string | undefined, dataDir: string, log?: Logger): Promise<BillingStore> {
  if (url !== undefined && /^postgres(ql)?:\/\//.test(url)) return new PostgresBillingStore(url, { log })
  let path: string
  if (url === undefined || url === '') path = resolve(join(dataDir, 'billing.sqlite'))
  else if (url.startsWith('sqlite:') && url.length > 'sqlite:'.length) {
    const p = url.slice('sqlite:'.length)
    path = p === ':memory:' ? p : resolve(p)
  } else throw new OcsError('OCS_ERR_CONFIG', `invalid config billing.db = ${JSON.stringify(redactUrl(url))}: sqlite:PATH or postgres://…`)
  try {
    return new SqliteBillingStore(path)
  } catch (err) {
    throw new OcsError('OCS_ERR_SETUP', `cannot open the billing store ${path}: ${(err as Error).message}`)
  }
}

/** The store's address without a password, for logs and errors. */
export function redactUrl(url: string | undefined): string {
  if (!url) return 'sqlite (default)'
  return url.replace(/\/\/([^:/@]+):[^@/]*@/, '//$1:***@')
}
