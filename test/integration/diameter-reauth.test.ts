// Server-initiated requests and several OCS nodes: a top-up re-authorizes refused / final-unit
// sessions (RAR → the client's CCR-U is granted), an abort event sends ASR, answers are matched with
// a timeout, and two DiameterServers on one Redis share sessions (CCR-I on A, CCR-U/T on B).
import t from 'tap'
import { avpNumber, avpString, findAvp } from '../../src/diameter/codec.js'
import { keys } from '../../src/balance/keys.js'
import { allCdrs, makeAccount, money } from '../helpers/core.js'
import { metricValue, startDiameterEnv } from '../helpers/diameter-env.js'
import { ccrAvps, granted, msccs, resultCode } from '../helpers/diameter-client.js'

const MiB = 1048576

t.test('top-up → RAR → CCR-U granted; abort → ASR', async (t) => {
  const env = await startDiameterEnv(t, { answerTimeoutMs: 500 })
  const store = env.core.store
  const c = await env.connect({ originHost: 'pgw1.test', originRealm: 'epc.test' })

  await t.test('refused for credit, then topped up', async (t) => {
    const { accountId, msisdn } = await makeAccount(store, { balance: 0n })
    const sid = 'pgw1.test;topup;1'
    let a = await c.ccr(ccrAvps({ sessionId: sid, type: 1, number: 0, msisdn, mscc: [{ rg: 10, rsu: {} }] }))
    t.same([resultCode(a), resultCode(msccs(a)[0])], [4012, 4012], 'no money: 4012')
    t.same(await money(store, accountId), { balance: 0n, reserved: 0n })

    const r = await store.topup(accountId, 1_000_000n)
    t.same(r?.reauth, [sid], 'the refused session is waiting for a re-auth')
    t.same(await money(store, accountId), { balance: 1_000_000n, reserved: 0n })
    await env.events.publish({ type: 'reauth', accountId, sessions: r!.reauth, reason: 'topup' })

    const rar = await c.waitFor((m) => m.commandCode === 258)
    t.same([rar.flags.request, rar.flags.proxiable, rar.applicationId], [true, true, 4])
    t.equal(avpString(findAvp(rar.avps, 'Session-Id')), sid)
    t.equal(avpString(findAvp(rar.avps, 'Destination-Host')), 'pgw1.test')
    t.equal(avpString(findAvp(rar.avps, 'Destination-Realm')), 'epc.test')
    t.equal(avpNumber(findAvp(rar.avps, 'Auth-Application-Id')), 4)
    t.equal(avpNumber(findAvp(rar.avps, 'Re-Auth-Request-Type')), 0, 'AUTHORIZE_ONLY')

    // As Open5GS does: RAA 2001 (the helper answers), then a CCR-U asking again.
    a = await c.ccr(ccrAvps({ sessionId: sid, type: 2, number: 1, msisdn, mscc: [{ rg: 10, rsu: {}, usu: { input: 0, output: 0, reason: 7 } }] }))
    t.same([resultCode(a), granted(msccs(a)[0])], [2001, { total: 5 * MiB }], 'granted again after the top-up')
    t.same(await money(store, accountId), { balance: 950_000n, reserved: 50_000n })
    await t.resolves(waitMetric(env.metrics, 'RAR', '2001'), 'RAA 2001 counted')

    a = await c.ccr(ccrAvps({ sessionId: sid, type: 3, number: 2, msisdn, mscc: [{ rg: 10, usu: { input: MiB, output: MiB } }] }))
    t.equal(resultCode(a), 2001)
    t.same(await money(store, accountId), { balance: 980_000n, reserved: 0n }, '2 MiB charged at 0.01/MiB')
  })

  await t.test('abort (operator kill / barred) → ASR', async (t) => {
    const { accountId, msisdn } = await makeAccount(store, { balance: 1_000_000n })
    const sid = 'pgw1.test;abort;1'
    await c.ccr(ccrAvps({ sessionId: sid, type: 1, number: 0, msisdn, mscc: [{ rg: 10, rsu: { total: MiB } }] }))
    t.same(await money(store, accountId), { balance: 990_000n, reserved: 10_000n })
    await env.events.publish({ type: 'abort', accountId, sessions: [sid], reason: 'operator' })
    const asr = await c.waitFor((m) => m.commandCode === 274)
    t.same([asr.flags.request, asr.applicationId, avpString(findAvp(asr.avps, 'Session-Id'))], [true, 4, sid])
    t.equal(avpString(findAvp(asr.avps, 'Destination-Host')), 'pgw1.test')
    await t.resolves(waitMetric(env.metrics, 'ASR', '2001'), 'ASA 2001 counted')
    // The client then ends the session.
    const a = await c.ccr(ccrAvps({ sessionId: sid, type: 3, number: 1, msisdn, mscc: [{ rg: 10, usu: { total: MiB / 2 } }], terminationCause: 4 }))
    t.equal(resultCode(a), 2001)
    t.same(await money(store, accountId), { balance: 995_000n, reserved: 0n })
  })

  await t.test('a RAR nobody answers times out; sessions of other nodes are left alone', async (t) => {
    const { accountId, msisdn } = await makeAccount(store, { balance: 0n })
    const mute = await env.connect({ originHost: 'mute.test', onRequest: (m) => (m.commandCode === 258 ? null : undefined) })
    const sid = 'mute.test;1'
    await mute.ccr(ccrAvps({ sessionId: sid, type: 1, number: 0, msisdn, mscc: [{ rg: 10, rsu: {} }] }))
    const before = await metricValue(env.metrics, 'ocs_requests_total', { command: 'RAR', result: 'timeout' })
    t.equal(await env.server.reauth(sid), undefined, 'no RAA within the timeout')
    t.equal(await metricValue(env.metrics, 'ocs_requests_total', { command: 'RAR', result: 'timeout' }), before + 1)
    t.equal(await env.server.reauth('somebody-elses-session'), undefined, 'a session this node never saw: nothing sent')
    await env.events.publish({ type: 'reauth', accountId, sessions: ['somebody-elses-session'], reason: 'topup' })
    await new Promise((r) => setTimeout(r, 100))
    t.equal(c.received.filter((m) => avpString(findAvp(m.avps, 'Session-Id')) === 'somebody-elses-session').length, 0)
  })
})

t.test('two OCS nodes on one Redis: CCR-I on A, CCR-U and CCR-T on B', async (t) => {
  const env = await startDiameterEnv(t)
  const store = env.core.store
  const nodeB = await env.addNode()
  const onA = await env.connect({ originHost: 'pgw.test' })
  const onB = await env.connect({ originHost: 'pgw.test', port: nodeB.server.port })
  const { accountId, msisdn } = await makeAccount(store, { balance: 1_000_000n })
  const sid = 'pgw.test;multi;1'

  let a = await onA.ccr(ccrAvps({ sessionId: sid, type: 1, number: 0, imsi: '001010000000001', msisdn, mscc: [{ rg: 10, rsu: {} }] }))
  t.same([resultCode(a), granted(msccs(a)[0])], [2001, { total: 5 * MiB }], 'CCR-I on node A')
  t.same(await money(store, accountId), { balance: 950_000n, reserved: 50_000n })

  // Open5GS sends no Subscription-Id on U/T in some releases: the session id alone must do.
  a = await onB.ccr(ccrAvps({ sessionId: sid, type: 2, number: 1, mscc: [{ rg: 10, rsu: {}, usu: { input: 3 * MiB, output: MiB } }] }))
  t.same([resultCode(a), granted(msccs(a)[0])], [2001, { total: 5 * MiB }], 'CCR-U on node B')
  t.same(await money(store, accountId), { balance: 910_000n, reserved: 50_000n }, '4 MiB charged, a new 5 MiB held')

  const r = await store.topup(accountId, 1n)
  t.same(r?.reauth, [], 'nothing to re-authorize: the session is not refused')

  a = await onB.ccr(ccrAvps({ sessionId: sid, type: 3, number: 2, mscc: [{ rg: 10, usu: { input: MiB / 2, output: MiB / 2 } }] }))
  t.equal(resultCode(a), 2001, 'CCR-T on node B')
  t.same(await money(store, accountId), { balance: 950_001n, reserved: 0n }, '5 MiB in all, reservation released')
  t.equal((await allCdrs(env.client)).filter((x) => x.sessionId === sid).length, 1, 'one CDR for the session')

  // A retransmission of the CCR-T to node A (failover) gets the stored answer, charges nothing.
  a = await onA.ccr(ccrAvps({ sessionId: sid, type: 3, number: 2, mscc: [{ rg: 10, usu: { input: MiB / 2, output: MiB / 2 } }] }), { flags: { retransmit: true } })
  t.equal(resultCode(a), 2001)
  t.same(await money(store, accountId), { balance: 950_001n, reserved: 0n })
})

t.test('one RAR per event whichever nodes reach the client, also after the node that took its CCRs restarted', async (t) => {
  const env = await startDiameterEnv(t, { answerTimeoutMs: 500 })
  const store = env.core.store
  const nodeB = await env.addNode()
  const onA = await env.connect({ originHost: 'pgw.test', originRealm: 'epc.test' })
  const onB = await env.connect({ originHost: 'pgw.test', originRealm: 'epc.test', port: nodeB.server.port })
  const requestsFor = (sid: string, code: number): number =>
    [...onA.received, ...onB.received].filter((m) => m.commandCode === code && avpString(findAvp(m.avps, 'Session-Id')) === sid).length

  await t.test('a PGW connected to both nodes, the session served by both: one RAR', async (t) => {
    const { accountId, msisdn } = await makeAccount(store, { balance: 0n })
    const sid = 'pgw.test;both;1'
    let a = await onA.ccr(ccrAvps({ sessionId: sid, type: 1, number: 0, msisdn, mscc: [{ rg: 10, rsu: {} }] }))
    t.equal(resultCode(a), 4012, 'CCR-I on A refused for credit')
    a = await onB.ccr(ccrAvps({ sessionId: sid, type: 2, number: 1, mscc: [{ rg: 10, rsu: {} }] }))
    t.equal(resultCode(a), 4012, 'CCR-U on B refused too')
    t.same(JSON.parse((await env.client.hget(keys.session(accountId, sid), 'rt'))!), ['pgw.test', 'pgw.test', 'epc.test'], 'the route is stored with the session')

    const r = await store.topup(accountId, 1_000_000n)
    t.same(r?.reauth, [sid])
    await env.events.publish({ type: 'reauth', accountId, sessions: r!.reauth, reason: 'topup' })
    for (let i = 0; i < 100 && requestsFor(sid, 258) === 0; i++) await new Promise((res) => setTimeout(res, 20))
    await new Promise((res) => setTimeout(res, 300))
    t.equal(requestsFor(sid, 258), 1, 'both nodes hear the event; one sends the RAR')

    a = await onB.ccr(ccrAvps({ sessionId: sid, type: 2, number: 2, mscc: [{ rg: 10, rsu: {} }] }))
    t.same([resultCode(a), granted(msccs(a)[0])], [2001, { total: 5 * MiB }], 'granted again after the RAR')
    t.same(await money(store, accountId), { balance: 950_000n, reserved: 50_000n })
  })

  await t.test('the node that took the CCRs restarts: the RAR and the ASR still reach the client', async (t) => {
    const { accountId, msisdn } = await makeAccount(store, { balance: 0n })
    const sid = 'pgw2.test;restart;1'
    const first = await env.addNode()
    const before = await env.connect({ originHost: 'pgw2.test', originRealm: 'epc.test', port: first.server.port })
    let a = await before.ccr(ccrAvps({ sessionId: sid, type: 1, number: 0, msisdn, mscc: [{ rg: 10, rsu: {} }] }))
    t.equal(resultCode(a), 4012, 'CCR-I refused for credit')
    await first.server.stop()
    // The same node back (a new process knows no sessions), and the PGW reconnected to it.
    const again = await env.addNode()
    const after = await env.connect({ originHost: 'pgw2.test', originRealm: 'epc.test', port: again.server.port })

    const r = await store.topup(accountId, 1_000_000n)
    t.same(r?.reauth, [sid])
    await env.events.publish({ type: 'reauth', accountId, sessions: r!.reauth, reason: 'topup' })
    const rar = await after.waitFor((m) => m.commandCode === 258, 2000)
    t.same([avpString(findAvp(rar.avps, 'Session-Id')), avpString(findAvp(rar.avps, 'Destination-Host')), avpString(findAvp(rar.avps, 'Destination-Realm'))], [sid, 'pgw2.test', 'epc.test'])
    a = await after.ccr(ccrAvps({ sessionId: sid, type: 2, number: 1, mscc: [{ rg: 10, rsu: {} }] }))
    t.same([resultCode(a), granted(msccs(a)[0])], [2001, { total: 5 * MiB }], 'granted again on the restarted node')

    await env.events.publish({ type: 'abort', accountId, sessions: [sid], reason: 'operator' })
    const asr = await after.waitFor((m) => m.commandCode === 274, 2000)
    t.equal(avpString(findAvp(asr.avps, 'Session-Id')), sid)
    a = await after.ccr(ccrAvps({ sessionId: sid, type: 3, number: 2, mscc: [{ rg: 10, usu: { total: MiB } }], terminationCause: 4 }))
    t.equal(resultCode(a), 2001)
    t.same(await money(store, accountId), { balance: 990_000n, reserved: 0n }, '1 MiB charged, nothing held')
    t.equal(requestsFor(sid, 258) + requestsFor(sid, 274), 0, 'nothing for this client went to the other PGW')
    // What the closed session leaves for the idempotency window is its last CC-Request-Number only.
    t.same(await env.client.hgetall(keys.session(accountId, sid)), { sq: '2' }, 'the route went with the session')
  })
})

async function waitMetric(metrics: Parameters<typeof metricValue>[0], command: string, result: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if ((await metricValue(metrics, 'ocs_requests_total', { command, result })) > 0) return
    await new Promise((r) => setTimeout(r, 20))
  }
  throw new Error(`no ${command} with result ${result} counted`)
}
