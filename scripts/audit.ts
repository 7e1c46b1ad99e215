// `npm run audit`: money conservation for every account (see src/cdr/audit.ts). Prints the accounts
// that break it and exits 1 if any does. Uses the OCS config; finds the embedded Redis of a running
// `npm start` on the same data dir, or OCS_REDIS_URL / OCS_REDIS_CLUSTER.
import { loadConfig } from '../src/config/load.js'
import { connectRedis, toolRedisUrl } from '../src/balance/connect.js'
import { BalanceStore } from '../src/balance/store.js'
import { openBillingStore } from '../src/cdr/open-store.js'
import { audit } from '../src/cdr/audit.js'
import { formatMoney } from '../src/lib/money.js'
import { OcsError } from '../src/lib/errors.js'

try {
  const config = loadConfig()
  const url = toolRedisUrl(config)
  if (!url && !config.redis.cluster) throw new OcsError('OCS_ERR_CONFIG', `audit: no Redis: set OCS_REDIS_URL, or run it beside a running \`npm start\` on data dir ${config.dataDir}`)
  const redis = connectRedis(config.redis, url)
  const billing = await openBillingStore(config.billing.db, config.dataDir)
  const r = await audit(redis, new BalanceStore(redis), billing)
  for (const b of r.broken) {
    console.log(`BROKEN ${b.account}: expected balance ${formatMoney(b.balance + b.difference)} but it is ${formatMoney(b.balance)} ` +
      `(topups ${formatMoney(b.topups)}, adjustments ${formatMoney(b.adjustments)}, refunds ${formatMoney(b.refunds)}, CDR charges ${formatMoney(b.cdrCharges)}, ` +
      `open-session charges ${formatMoney(b.openCharged)}, reserved ${formatMoney(b.reserved)}, ledger charged ${formatMoney(b.ledgerCharged)})`)
  }
  console.log(`${r.accounts} accounts audited, ${r.broken.length} broken; ${r.cdrsInStore} CDRs in the store, ${r.outboxBacklog} in the outbox`)
  await billing.close()
  redis.disconnect()
  process.exit(r.broken.length ? 1 : 0)
} catch (err) {
  console.error(err instanceof OcsError ? err.message : `audit failed: ${(err as Error).message}`)
  process.exit(2)
}
