import t from 'tap'
import { allCdrs, makeAccount, makeCore, money, startFileCore } from '../helpers/core.js'
import { coreSuite } from './core-suite.js'

const { client, core } = await startFileCore(t)

coreSuite(t, () => ({ core, client }))

t.test('an event request id used again after its idempotency window is charged again, with a CDR of its own', async (t) => {
  const short = await makeCore(client, { idempotencySeconds: 1 })
  const { accountId, msisdn } = await makeAccount(short.store, { balance: 1_000_000n })
  const ev = { requestId: 'reused-ev', identities: [{ kind: 'msisdn' as const, value: msisdn }], protocol: 'diameter' as const, items: [{ serviceContext: '32274@3gpp.org', units: 1 }] }
  t.equal((await short.charging.event(ev)).kind, 'ok')
  t.equal((await short.charging.event(ev)).kind, 'ok', 'a retransmission within the window: the stored answer')
  t.same(await money(short.store, accountId), { balance: 950_000n, reserved: 0n }, 'charged once')
  await new Promise((r) => setTimeout(r, 1200))
  t.equal((await short.charging.event(ev)).kind, 'ok')
  t.same(await money(short.store, accountId), { balance: 900_000n, reserved: 0n }, 'after the window: a new charge')
  const cdrs = (await allCdrs(client)).filter((c) => c.id.startsWith('ev#reused-ev#'))
  t.equal(new Set(cdrs.map((c) => c.id)).size, 2, `two CDR ids, so the billing store keeps both: ${cdrs.map((c) => c.id).join(', ')}`)
})
