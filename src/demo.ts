import { BalanceStore } from './balance/store.js'
import { DEMO_PLAN } from './rating/plan.js'
import type { Logger } from './lib/logger.js'
import type { SecretBox } from './lib/secrets.js'

/** Demo data for a first start on an empty store: the demo plan, one prepaid and one postpaid subscriber. */
export async function loadDemoData(store: BalanceStore, secrets: SecretBox, log: Logger): Promise<string[] | undefined> {
  if (!(await store.isEmpty())) return undefined
  await store.putPlan(DEMO_PLAN)
  const prepaid = await store.createAccount(
    { currency: 'EUR', type: 'prepaid', plan: 'demo', timezone: 'Europe/Paris', language: 'en', taxRegion: 'default', country: 'SE', status: 'active', creditLimit: 0n },
    10_000_000n,
  )
  await store.createSubscriber({ account: prepaid.id, msisdn: '46700000001', imsi: '240010000000001', username: 'alice', passwordHash: await BalanceStore.hashPassword('alicepw'), passwordSealed: secrets.seal('alicepw') })
  const postpaid = await store.createAccount(
    { currency: 'EUR', type: 'postpaid', plan: 'demo', timezone: 'Europe/Stockholm', language: 'en', taxRegion: 'default', country: 'SE', status: 'active', creditLimit: 50_000_000n },
  )
  await store.createSubscriber({ account: postpaid.id, msisdn: '46700000002', imsi: '240010000000002', username: 'bob', passwordHash: await BalanceStore.hashPassword('bobpw'), passwordSealed: secrets.seal('bobpw') })
  const lines = [
    `demo prepaid account ${prepaid.id}: balance 10.00 EUR, MSISDN 46700000001, IMSI 240010000000001, RADIUS user alice / alicepw`,
    `demo postpaid account ${postpaid.id}: credit limit 50.00 EUR, MSISDN 46700000002, IMSI 240010000000002, RADIUS user bob / bobpw`,
  ]
  log.info({ prepaid: prepaid.id, postpaid: postpaid.id }, 'demo data loaded')
  return lines
}

