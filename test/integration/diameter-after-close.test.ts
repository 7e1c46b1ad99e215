// Diameter requests that arrive after their session closed, with no Subscription-Id (optional on
// CCR-U/T, RFC 4006 §3.1): a CCR-T retransmitted to another node gets its first answer again, and a
// CCR-T after the reaper closed the session is charged its final usage (the session index outlives
// the session: BalanceStore.keepSessionIndex), as is one with the Subscription-Id; a late copy of
// the CCR-I (a node that stalled with it) opens nothing: the closed session leaves its last
// CC-Request-Number for the idempotency window.
import t from 'tap'
import { encode } from '../../src/diameter/codec.js'
import { Reaper } from '../../src/core/reaper.js'
import { allCdrs, makeAccount, money } from '../helpers/core.js'
import { startDiameterEnv } from '../helpers/diameter-env.js'
import { DiameterTestClient, ccrAvps, resultCode } from '../helpers/diameter-client.js'

const MiB = 1048576

t.test('after the session closed', async (t) => {
  const env = await startDiameterEnv(t)
  const store = env.core.store
  const c = await env.connect()
  const reaper = new Reaper(store, 'reaper-node', 60_000)
  // Any node serves any CCR of a session (SPEC): the later requests go to a second node, as after a failover.
  const node2 = await env.addNode()
  const c2 = await env.connect({ port: node2.server.port })

  await t.test('CCR-T (no Subscription-Id: optional on U/T) retransmitted with the T flag to another node after the session closed', async (t) => {
    const { accountId, msisdn } = await makeAccount(store, { balance: 1_000_000n })
    const sid = 'pgw;ccrt-replay;1'
    t.equal(resultCode(await c.ccr(ccrAvps({ sessionId: sid, type: 1, number: 0, msisdn, mscc: [{ rg: 1, rsu: { total: MiB } }] }))), 2001)
    const tAvps = ccrAvps({ sessionId: sid, type: 3, number: 1, mscc: [{ rg: 1, usu: { total: MiB } }], terminationCause: 1 })
    const e2e = DiameterTestClient.nextEndToEnd()
    const first = await c.ccr(tAvps, { endToEnd: e2e })
    t.equal(resultCode(first), 2001, 'the CCR-T is answered 2001')
    const after = await money(store, accountId)
    t.same(after, { balance: 990_000n, reserved: 0n })
    // Failover: the same CCR-T, T flag, same End-to-End-Id, to the other node.
    const hbh = c2.nextHopByHop()
    const again = await c2.requestBytes(encode({ flags: { request: true, proxiable: true, retransmit: true }, commandCode: 272, applicationId: 4, hopByHop: hbh, endToEnd: e2e, avps: tAvps }), hbh)
    t.equal(resultCode(again), 2001, `the retransmission gets the first answer again (got ${resultCode(again)})`)
    // And a repeated CC-Request-Number with a new End-to-End-Id on the first node.
    const third = await c.ccr(tAvps)
    t.equal(resultCode(third), 2001, `a repeated CC-Request-Number gets the first answer again (got ${resultCode(third)})`)
    t.same(await money(store, accountId), after, 'charged once')
  })

  await t.test('a late copy of the CCR-I (new End-to-End-Id) after the session closed opens nothing and reserves nothing', async (t) => {
    const { accountId, msisdn } = await makeAccount(store, { balance: 1_000_000n })
    const sid = 'pgw;late-ccri;1'
    const iAvps = ccrAvps({ sessionId: sid, type: 1, number: 0, msisdn, mscc: [{ rg: 1, rsu: { total: MiB } }] })
    const first = await c.ccr(iAvps)
    t.equal(resultCode(first), 2001)
    t.equal(resultCode(await c.ccr(ccrAvps({ sessionId: sid, type: 3, number: 1, msisdn, mscc: [{ rg: 1, usu: { total: MiB / 2 } }] }))), 2001)
    const closed = await money(store, accountId)
    t.same(closed, { balance: 995_000n, reserved: 0n })
    // The same CCR-I again (as from a node that stalled with it while the client failed over).
    const late = await c2.ccr(iAvps, { flags: { retransmit: true } })
    t.equal(resultCode(late), 5012, 'answered UNABLE_TO_COMPLY (a stale request; its client has long had its answer)')
    t.same(await money(store, accountId), closed, 'nothing reserved by the late copy')
    t.same((await store.listSessions(accountId)).map((s) => s.id), [], 'no session reopened')
  })

  for (const withId of [true, false]) {
    await t.test(`CCR-T ${withId ? 'with' : 'without'} Subscription-Id`, async (t) => {
      const { accountId, msisdn } = await makeAccount(store, { balance: 1_000_000n })
      const sid = `pgw;reaped;${withId}`
      t.equal(resultCode(await c.ccr(ccrAvps({ sessionId: sid, type: 1, number: 0, msisdn, mscc: [{ rg: 1, rsu: { total: MiB } }] }))), 2001)
      t.equal(resultCode(await c.ccr(ccrAvps({ sessionId: sid, type: 2, number: 1, msisdn, mscc: [{ rg: 1, rsu: { total: MiB }, usu: { total: MiB } }] }))), 2001)
      // The client stalls past validity + grace: the reaper closes the session.
      t.ok((await reaper.sweep(Date.now() + 3_600_000)) >= 1, 'reaped')
      t.same(await money(store, accountId), { balance: 990_000n, reserved: 0n })
      // Then the CCR-T with the last 1 MiB used.
      const a = await c2.ccr(ccrAvps({ sessionId: sid, type: 3, number: 2, ...(withId ? { msisdn } : {}), mscc: [{ rg: 1, usu: { total: MiB } }], terminationCause: 1 }))
      t.equal(resultCode(a), 2001, 'the CCR-T is answered 2001')
      t.same(await money(store, accountId), { balance: 980_000n, reserved: 0n }, 'the final MiB is charged')
      const cdrs = (await allCdrs(env.client)).filter((x) => x.sessionId === sid)
      t.equal(cdrs.reduce((s, x) => s + Number(x.used), 0), 2 * MiB, 'CDRs hold all 2 MiB used')
    })
  }
})
