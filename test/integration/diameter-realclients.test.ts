// Real client shapes answered correctly: Kamailio 5.6 ims_charging's own bytes (CER, CCR-I/U/T captured
// from it, test/fixtures/diameter/kamailio-5.6-ims_charging) replayed over a socket, and Open5GS-shaped
// Gy CCRs (test/fixtures/diameter/open5gs, built per SPEC "What real Gy clients send").
import { readFileSync } from 'node:fs'
import t from 'tap'
import { avpNumber, avpString, childrenOf, decode, findAvp, findAvps, type DiameterMessage } from '../../src/diameter/codec.js'
import { makeAccount, money } from '../helpers/core.js'
import { metricValue, startDiameterEnv } from '../helpers/diameter-env.js'
import { granted, msccs, resultCode } from '../helpers/diameter-client.js'
import { OPEN5GS, OPEN5GS_FIXTURES, OPEN5GS_FIXTURE_DIR, open5gsCcr } from '../helpers/diameter-open5gs.js'

const KAMAILIO = new URL('../fixtures/diameter/kamailio-5.6-ims_charging/', import.meta.url)
const hex = (dir: URL, name: string) => Buffer.from(readFileSync(new URL(`${name}.hex`, dir), 'utf8').trim(), 'hex')

type TT = Parameters<Extract<Parameters<typeof t.test>[0], (...args: never[]) => unknown>>[0]

function echoes(t: TT, a: DiameterMessage, req: DiameterMessage): void {
  t.equal(a.hopByHop, req.hopByHop, 'hop-by-hop of the request')
  t.equal(a.endToEnd, req.endToEnd, 'end-to-end of the request')
  for (const name of ['Session-Id', 'CC-Request-Type', 'CC-Request-Number']) {
    t.same(findAvp(a.avps, name)?.value, findAvp(req.avps, name)?.value, `${name} echoed`)
  }
  t.equal(avpNumber(findAvp(a.avps, 'Auth-Application-Id')), 4)
}

t.test('Kamailio ims_charging bytes, replayed', async (t) => {
  const env = await startDiameterEnv(t)
  const { accountId } = await makeAccount(env.core.store, { balance: 1_000_000n, msisdn: '46700000001' })
  const c = await env.connect({ noCer: true })

  const cerBytes = hex(KAMAILIO, 'CER')
  const cer = decode(cerBytes)
  const cea = await c.requestBytes(cerBytes, cer.hopByHop)
  t.equal(resultCode(cea), 2001, 'CEA 2001')
  const vsai = childrenOf(findAvp(cea.avps, 'Vendor-Specific-Application-Id'))
  t.same([avpNumber(findAvp(vsai, 'Vendor-Id')), avpNumber(findAvp(vsai, 'Auth-Application-Id'))], [10415, 4], 'with Vendor-Specific-Application-Id {10415, 4}: cdp will route Ro to us')
  t.same(env.server.peerList().map((p) => p.originHost), ['scscf.softswitch.test'])

  const replay = async (name: string) => {
    const bytes = hex(KAMAILIO, name)
    const req = decode(bytes)
    const a = await c.requestBytes(bytes, req.hopByHop)
    echoes(t, a, req)
    return a
  }
  // CCR-I: MSCC RG 100 / SI 1000 asking CC-Time 4, long-form Service-Context-Id, Origin-Host twice,
  // M-bit Accounting-Record-Type/-Number, no top-level Auth-Application-Id.
  let a = await replay('CCR-I')
  t.equal(resultCode(a), 2001)
  let [m] = msccs(a)
  t.same([avpNumber(findAvp(m, 'Rating-Group')), avpNumber(findAvp(m, 'Service-Identifier')), resultCode(m), granted(m)], [100, 1000, 2001, { time: 4 }])
  t.equal(avpNumber(findAvp(m, 'Validity-Time')), 900)
  t.same(await money(env.core.store, accountId), { balance: 900_000n, reserved: 100_000n }, 'the first minute (60/1) held')

  a = await replay('CCR-U')
  t.equal(resultCode(a), 2001)
  ;[m] = msccs(a)
  t.same(granted(m), { time: 4 })
  t.same(await money(env.core.store, accountId), { balance: 900_000n, reserved: 0n }, '1 s used: the first minute charged; 4 more seconds fit in it')

  a = await replay('CCR-T')
  t.equal(resultCode(a), 2001)
  t.same(await money(env.core.store, accountId), { balance: 900_000n, reserved: 0n }, '4 s in all: 0.10 EUR')
  t.ok((await metricValue(env.metrics, 'ocs_tolerated_irregularities_total', { kind: 'duplicate-avp' })) >= 3, 'duplicated Origin-Host/Realm counted as tolerated')
  t.ok((await metricValue(env.metrics, 'ocs_tolerated_irregularities_total', { kind: 'missing-auth-application-id' })) >= 3)
})

t.test('Open5GS-shaped Gy CCRs', async (t) => {
  const env = await startDiameterEnv(t)
  const store = env.core.store
  const { accountId } = await makeAccount(store, { balance: 1_000_000n, msisdn: OPEN5GS.msisdn })
  await store.createSubscriber({ account: accountId, imsi: OPEN5GS.imsi })
  const c = await env.connect({ originHost: OPEN5GS.originHost, originRealm: OPEN5GS.originRealm })

  for (const [name, o, id] of OPEN5GS_FIXTURES) {
    t.ok(open5gsCcr(o, id, id).equals(hex(OPEN5GS_FIXTURE_DIR, name)), `${name}.hex is what the builder makes`)
  }
  const send = async (name: string) => {
    const bytes = hex(OPEN5GS_FIXTURE_DIR, name)
    const req = decode(bytes)
    const a = await c.requestBytes(bytes, req.hopByHop)
    echoes(t, a, req)
    t.equal(a.flags.error, false)
    return a
  }
  const msccOf = (a: DiameterMessage) => {
    const all = msccs(a)
    t.equal(all.length, 1, 'one MSCC back')
    t.equal(findAvp(all[0], 'Rating-Group'), undefined, 'no Rating-Group invented')
    return all[0]
  }

  let a = await send('CCR-I')
  let m = msccOf(a)
  t.same([resultCode(a), resultCode(m), granted(m)], [2001, 2001, { total: OPEN5GS.rsuOctets }], 'CCR-I: GSU CC-Total-Octets as requested')
  t.equal(avpNumber(findAvp(m, 'Validity-Time')), 900, 'Validity-Time in the MSCC')
  t.same(await money(store, accountId), { balance: 990_463n, reserved: 9_537n })

  a = await send('CCR-U')
  m = msccOf(a)
  t.same([resultCode(a), granted(m)], [2001, { total: OPEN5GS.rsuOctets }])
  t.same(await money(store, accountId), { balance: 985_694n, reserved: 9_537n }, 'input + output = 500000 octets charged (0.004769)')

  a = await send('CCR-U-validity')
  m = msccOf(a)
  t.same([resultCode(a), granted(m)], [2001, { total: OPEN5GS.rsuOctets }], 'Reporting-Reason at MSCC level, zero usage')
  t.same(await money(store, accountId), { balance: 985_694n, reserved: 9_537n })

  a = await send('CCR-T')
  t.equal(resultCode(a), 2001)
  t.same(await money(store, accountId), { balance: 993_801n, reserved: 0n }, '650000 octets in all: 0.006199')

  a = await send('CCR-I-empty-rsu')
  m = msccOf(a)
  t.same([resultCode(a), granted(m)], [2001, { total: 5 * 1048576 }], 'an empty RSU: the default quota')
  t.ok(findAvps(m, 'Volume-Quota-Threshold').length === 1)
  t.equal(avpString(findAvp(a.avps, 'Origin-Host')), 'ocs.localdomain')
  t.same(await money(store, accountId), { balance: 943_801n, reserved: 50_000n })
  t.ok((await metricValue(env.metrics, 'ocs_tolerated_irregularities_total', { kind: 'requested-action-on-session' })) >= 5, 'Requested-Action on session CCRs ignored and counted')
})
