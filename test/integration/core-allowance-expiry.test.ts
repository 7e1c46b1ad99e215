// Units granted from an allowance that ends before the client reports: the grant is valid no longer
// than the allowance, and the units it held are paid from the allowance even when reported after its
// end (not in money forced past a prepaid account's limit).
import t from 'tap'
import { startRedis } from '../helpers/redis.js'
import { allCdrs, makeCore, money, newRedis } from '../helpers/core.js'

const VOICE = '32260@3gpp.org'
const redis = await startRedis()
const client = newRedis(redis.port)
t.teardown(async () => {
  client.disconnect()
  await redis.stop()
})

t.test('seconds granted from an allowance ending 10 s later are not charged in money to a prepaid account', async (t) => {
  const core = await makeCore(client)
  const acct = await core.store.createAccount(
    { currency: 'EUR', type: 'prepaid', plan: 'demo', timezone: 'Europe/Paris', language: 'en', taxRegion: 'none', country: 'SE', status: 'active', creditLimit: 0n },
    0n,
  )
  await core.store.createSubscriber({ account: acct.id, msisdn: '46700001111' })
  const ids = [{ kind: 'msisdn' as const, value: '46700001111' }]
  const T = Date.now()
  await core.store.addBucket(acct.id, { id: 'minutes', kind: 'seconds', amount: 600n, scope: ['voice'], priority: 0, from: T - 3_600_000, to: T + 10_000 })
  const item = { serviceContext: VOICE }
  const i = await core.charging.initiate({ sessionId: 'bx1', requestId: 'bx1/0', identities: ids, protocol: 'diameter', eventTime: T, items: [{ ...item, requested: 60 }] })
  t.match(i, { kind: 'ok', outcomes: [{ kind: 'granted', units: 60 }] }, '60 s granted from the allowance (no money on the account)')
  const g = i.kind === 'ok' ? i.outcomes[0] : undefined
  t.ok(g?.kind === 'granted' && g.validity <= 10, `grant validity ${g?.kind === 'granted' ? g.validity : '-'} s does not outlive the allowance (10 s)`)
  // the client uses the 60 s it was granted and reports at the end of the call
  await core.charging.terminate({ sessionId: 'bx1', requestId: 'bx1/t', identities: ids, protocol: 'diameter', eventTime: T + 60_000, items: [{ ...item, used: [{ units: 60 }] }] })
  const cdr = (await allCdrs(client)).find((c) => c.sessionId === 'bx1')!
  t.equal(cdr.total, '0', `money charged for units granted from the allowance: ${cdr.total}`)
  t.ok((await money(core.store, acct.id)).balance >= 0n, `prepaid balance ${(await money(core.store, acct.id)).balance} stays ≥ 0`)
})
