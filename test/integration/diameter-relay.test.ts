// The OCS behind a Diameter relay or proxy (a DRA; freeDiameter in test/e2e/diameter-freediameter.test.ts):
// - every answer carries the request's Proxy-Info AVPs unchanged and in their order (RFC 6733 §6.2,
//   §6.7.3): CCAs, error CCAs, and answers to commands the OCS does not serve;
// - server-initiated RAR/ASR go out on the connection the session's CCRs came in on; when the CCRs
//   were relayed (they carry Route-Record), the RAR/ASR name the client that sent them (the CCR's
//   Origin-Host/Origin-Realm) as Destination-Host/Destination-Realm, not the relay, which would
//   otherwise take them for itself (freeDiameter answered 3007 DIAMETER_APPLICATION_UNSUPPORTED).
import t from 'tap'
import { avpString, childrenOf, findAvp, findAvps, type AvpInput, type DiameterMessage } from '../../src/diameter/codec.js'
import { makeAccount, money } from '../helpers/core.js'
import { startDiameterEnv } from '../helpers/diameter-env.js'
import { ccrAvps, resultCode, type CcrSpec } from '../helpers/diameter-client.js'

const MiB = 1048576

const proxyInfo = (host: string, state: string): AvpInput => ({
  name: 'Proxy-Info',
  value: [
    { name: 'Proxy-Host', value: host },
    { name: 'Proxy-State', value: Buffer.from(state) },
  ],
})

/** [Proxy-Host, Proxy-State] of each Proxy-Info AVP, in order. */
function proxyInfos(m: DiameterMessage): Array<[string | undefined, string | undefined]> {
  return findAvps(m.avps, 'Proxy-Info').map((p) => {
    const kids = childrenOf(p)
    return [avpString(findAvp(kids, 'Proxy-Host')), (findAvp(kids, 'Proxy-State')?.value as Buffer | undefined)?.toString()]
  })
}

/** A CCR as a client behind the relay sends it: its own Origin-Host/Realm, Route-Record added by the relay. */
function relayedCcr(s: CcrSpec & { originRealm: string }, extra: AvpInput[] = []): AvpInput[] {
  return [
    ...ccrAvps(s).map((a) => (a.name === 'Origin-Realm' ? { name: 'Origin-Realm', value: s.originRealm } : a)),
    { name: 'Route-Record', value: s.originHost! },
    ...extra,
  ]
}

t.test('Proxy-Info is echoed in every answer, in order', async (t) => {
  const env = await startDiameterEnv(t)
  const { msisdn } = await makeAccount(env.core.store, { balance: 1_000_000n })
  const dra = await env.connect({ originHost: 'dra.test', originRealm: 'dra.realm' })
  const two = [proxyInfo('dra1.test', 'state-1'), proxyInfo('dra2.test', 'state-2')]
  const expected = [['dra1.test', 'state-1'], ['dra2.test', 'state-2']]

  let a = await dra.ccr(relayedCcr({ sessionId: 'pgw.behind.test;p;1', originHost: 'pgw.behind.test', originRealm: 'behind.realm', type: 1, number: 0, msisdn, mscc: [{ rg: 10, rsu: { total: MiB } }] }, two))
  t.equal(resultCode(a), 2001)
  t.same(proxyInfos(a), expected, 'CCA: both Proxy-Info AVPs, in the order of the request')

  a = await dra.ccr(relayedCcr({ sessionId: 'pgw.behind.test;p;2', originHost: 'pgw.behind.test', originRealm: 'behind.realm', type: 1, number: 0, msisdn: '46000000000', mscc: [{ rg: 10, rsu: {} }] }, two))
  t.equal(resultCode(a), 5030, 'unknown subscriber')
  t.same(proxyInfos(a), expected, 'error CCA: Proxy-Info echoed')

  a = await dra.request({
    commandCode: 271,
    applicationId: 3,
    avps: [
      { name: 'Session-Id', value: 'acr;1' },
      { name: 'Origin-Host', value: 'pgw.behind.test' },
      { name: 'Origin-Realm', value: 'behind.realm' },
      { name: 'Accounting-Record-Type', value: 2 },
      { name: 'Accounting-Record-Number', value: 0 },
      ...two,
    ],
  })
  t.equal(resultCode(a), 3001, 'ACR: 3001 COMMAND_UNSUPPORTED')
  t.same(proxyInfos(a), expected, 'protocol error answer: Proxy-Info echoed')

  a = await dra.ccr(relayedCcr({ sessionId: 'pgw.behind.test;p;3', originHost: 'pgw.behind.test', originRealm: 'behind.realm', type: 4, number: 0, msisdn, requestedAction: 3, rsu: { ssu: 1 }, context: '32274@3gpp.org' }))
  t.equal(resultCode(a), 2001)
  t.same(proxyInfos(a), [], 'no Proxy-Info in the request: none in the answer')
})

t.test('RAR and ASR behind a relay: sent to the relay, addressed to the client', async (t) => {
  const env = await startDiameterEnv(t, { answerTimeoutMs: 2000 })
  const { accountId, msisdn } = await makeAccount(env.core.store, { balance: 1_000_000n })
  const dra = await env.connect({ originHost: 'dra.test', originRealm: 'dra.realm' })
  const client = { originHost: 'pgw.behind.test', originRealm: 'behind.realm' }

  const sid = 'pgw.behind.test;r;1'
  const a = await dra.ccr(relayedCcr({ ...client, sessionId: sid, type: 1, number: 0, msisdn, mscc: [{ rg: 10, rsu: { total: MiB } }] }))
  t.equal(resultCode(a), 2001)
  t.equal(await env.server.reauth(sid), 2001, 'RAR answered (RAA 2001) over the relay connection')
  const rar = await dra.waitFor((m) => m.commandCode === 258)
  t.same(
    [avpString(findAvp(rar.avps, 'Session-Id')), avpString(findAvp(rar.avps, 'Destination-Host')), avpString(findAvp(rar.avps, 'Destination-Realm'))],
    [sid, client.originHost, client.originRealm],
    'RAR: Destination-Host/Realm of the client, not of the relay',
  )

  await env.events.publish({ type: 'abort', accountId, sessions: [sid], reason: 'operator' })
  const asr = await dra.waitFor((m) => m.commandCode === 274)
  t.same([avpString(findAvp(asr.avps, 'Destination-Host')), avpString(findAvp(asr.avps, 'Destination-Realm'))], [client.originHost, client.originRealm], 'ASR: the client too')

  // Without Route-Record the CCR came straight from the client: the peer's own identity, as in its CER
  // (a client whose CCRs carry another Origin-Host, like Kamailio's duplicated one, still gets its RAR).
  const direct = await env.connect({ originHost: 'pgw.direct.test', originRealm: 'direct.realm' })
  const sid2 = 'pgw.direct.test;r;2'
  await direct.ccr(ccrAvps({ sessionId: sid2, originHost: 'other.name.test', type: 1, number: 0, msisdn, mscc: [{ rg: 10, rsu: { total: MiB } }] }))
  t.equal(await env.server.reauth(sid2), 2001)
  const rar2 = await direct.waitFor((m) => m.commandCode === 258)
  t.same([avpString(findAvp(rar2.avps, 'Destination-Host')), avpString(findAvp(rar2.avps, 'Destination-Realm'))], ['pgw.direct.test', 'direct.realm'], 'a direct client: the peer from its CER')
  t.same(await money(env.core.store, accountId), { balance: 980_000n, reserved: 20_000n }, 'two sessions hold 1 MiB each')
})
