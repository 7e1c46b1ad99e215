// The base protocol over real sockets: CER/CEA, the allow-list, DWR/DWA both ways with the RFC 3539
// watchdog, DPR/DPA, reconnects with the same Origin-Host, overload (3004), framing errors and stop().
// Charging is a stub here (no Redis): these tests are about the peer, not the balance.
import t from 'tap'
import { connect } from 'node:net'
import { once } from 'node:events'
import type { Redis } from 'ioredis'
import { AccountEvents } from '../../src/core/events.js'
import type { ChargingService } from '../../src/core/charging.js'
import { itemKey, type ChargeAnswer, type SessionRequest } from '../../src/core/types.js'
import { DiameterServer, type DiameterServerOptions } from '../../src/diameter/server.js'
import { avpNumber, avpString, childrenOf, encode, findAvp, findAvps } from '../../src/diameter/codec.js'
import { createLogger } from '../../src/lib/logger.js'
import { Metrics } from '../../src/metrics/metrics.js'
import { DiameterTestClient, ccrAvps, resultCode } from '../helpers/diameter-client.js'
import { diameterConfig, metricValue, type DiameterConfig } from '../helpers/diameter-env.js'

type TT = Parameters<Extract<Parameters<typeof t.test>[0], (...args: never[]) => unknown>>[0]

/** A charging core that grants 1000 octets per item, optionally holding each answer until released. */
function stubCharging(opts: { hold?: boolean; unavailable?: boolean } = {}) {
  const held: Array<() => void> = []
  const answer = (req: SessionRequest): ChargeAnswer =>
    opts.unavailable
      ? { kind: 'unavailable', reason: 'redis down' }
      : {
          kind: 'ok',
          accountId: 'a1',
          outcomes: req.items.map((it) => ({ kind: 'granted', key: itemKey(it), unit: 'octets', units: 1000, validity: 60, finalUnit: false, threshold: 0 })),
          charged: 0n,
          closed: false,
          cdrs: 0,
        }
  const session = async (req: SessionRequest): Promise<ChargeAnswer> => {
    if (opts.hold) await new Promise<void>((resolve) => held.push(resolve))
    return answer(req)
  }
  const charging = { initiate: session, update: session, terminate: session } as unknown as ChargingService
  return {
    charging,
    held,
    release() {
      for (const f of held.splice(0)) f()
    },
  }
}

async function startServer(t: TT, over: Partial<DiameterServerOptions> & { cfg?: Partial<DiameterConfig> } = {}) {
  const metrics = new Metrics(false)
  const { cfg, ...rest } = over
  const server = new DiameterServer({
    config: diameterConfig(cfg),
    charging: stubCharging().charging,
    events: new AccountEvents({} as Redis),
    metrics,
    log: createLogger(process.env.OCS_TEST_LOG ?? 'silent'),
    ...rest,
  })
  await server.start()
  const clients: DiameterTestClient[] = []
  t.teardown(async () => {
    for (const c of clients) await c.close()
    await server.stop()
  })
  return {
    server,
    metrics,
    async connect(o: Partial<Parameters<typeof DiameterTestClient.connect>[0]> = {}) {
      const c = await DiameterTestClient.connect({ port: server.port, ...o })
      clients.push(c)
      return c
    },
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

t.test('CEA carries what Kamailio and Open5GS need', async (t) => {
  const { connect: open, server } = await startServer(t)
  t.ok(server.port > 0, 'port 0 → a picked port')
  t.equal(server.ready, true)
  const c = await open({ originHost: 'pgw.test', originRealm: 'test' })
  const cea = c.cea!
  t.same(cea.flags, { request: false, proxiable: false, error: false, retransmit: false })
  t.equal(cea.commandCode, 257)
  t.equal(resultCode(cea), 2001)
  t.equal(avpString(findAvp(cea.avps, 'Origin-Host')), 'ocs.localdomain')
  t.equal(avpString(findAvp(cea.avps, 'Origin-Realm')), 'localdomain')
  t.equal(avpString(findAvp(cea.avps, 'Host-IP-Address')), '127.0.0.1')
  t.equal(avpNumber(findAvp(cea.avps, 'Vendor-Id')), 0)
  t.equal(avpString(findAvp(cea.avps, 'Product-Name')), 'ocs')
  t.ok(avpNumber(findAvp(cea.avps, 'Origin-State-Id'))! > 0)
  t.equal(avpNumber(findAvp(cea.avps, 'Auth-Application-Id')), 4)
  t.equal(avpNumber(findAvp(cea.avps, 'Supported-Vendor-Id')), 10415)
  const vsai = childrenOf(findAvp(cea.avps, 'Vendor-Specific-Application-Id'))
  t.same([avpNumber(findAvp(vsai, 'Vendor-Id')), avpNumber(findAvp(vsai, 'Auth-Application-Id'))], [10415, 4], 'Vendor-Specific-Application-Id {10415, 4}')
  t.same(server.peerList().map((p) => [p.originHost, p.state]), [['pgw.test', 'Open']])
  // A second CER on an open connection is answered again (RFC 6733 §5.6.4 R-Open, R-Rcv-CER).
  const again = await c.request({ commandCode: 257, applicationId: 0, avps: c.cerAvps() })
  t.equal(resultCode(again), 2001)
})

t.test('unknown peers get CEA 3010 and the connection is closed', async (t) => {
  const s1 = await startServer(t, { cfg: { peers: [{ originHost: 'allowed.test', addresses: ['127.0.0.0/8'] }] } })
  const bad = await s1.connect({ originHost: 'other.test' })
  t.same([resultCode(bad.cea), bad.cea!.flags.error], [3010, true], 'wrong Origin-Host: 3010 with the E bit')
  await bad.closedPromise
  t.pass('closed by the server')
  const good = await s1.connect({ originHost: 'Allowed.Test' })
  t.equal(resultCode(good.cea), 2001, 'the allowed Origin-Host (any case) from an allowed address')
  t.equal(await metricValue(s1.metrics, 'ocs_diameter_rejected_peers_total', { reason: 'unknown-peer' }), 1, 'refusal counted')

  const s2 = await startServer(t, { cfg: { peers: [{ originHost: '*', addresses: ['10.0.0.0/8', '2001:db8::/32'] }] } })
  const far = await s2.connect()
  t.equal(resultCode(far.cea), 3010, 'an address outside the allowed blocks: 3010')
  await far.closedPromise

  const s3 = await startServer(t)
  const noApp = await s3.connect({ cerAvps: [{ name: 'Origin-Host', value: 'x.test' }, { name: 'Origin-Realm', value: 'test' }, { name: 'Host-IP-Address', value: '127.0.0.1' }, { name: 'Vendor-Id', value: 0 }, { name: 'Product-Name', value: 'x' }, { name: 'Auth-Application-Id', value: 16777238 }] })
  t.equal(resultCode(noApp.cea), 5010, 'no credit-control application advertised: 5010')
  await noApp.closedPromise
})

t.test('a request before the CER closes the connection; so does a lying length', async (t) => {
  const s = await startServer(t)
  const early = await s.connect({ noCer: true })
  early.write(encode({ flags: { request: true }, commandCode: 280, applicationId: 0, hopByHop: 1, endToEnd: 1, avps: [{ name: 'Origin-Host', value: 'x' }, { name: 'Origin-Realm', value: 'y' }] }))
  await early.closedPromise
  t.pass('DWR before CER: closed')

  const liar = await s.connect()
  const buf = Buffer.alloc(20)
  buf.writeUInt32BE(0x01000010, 0) // version 1, Message Length 16 (< 20)
  liar.write(buf)
  await liar.closedPromise
  t.pass('Message Length below 20: closed')
  t.ok((await metricValue(s.metrics, 'ocs_malformed_total', { reason: 'framing' })) >= 1, 'counted')

  const raw = connect({ port: s.server.port, host: '127.0.0.1' })
  await once(raw, 'connect')
  raw.write('GET / HTTP/1.1\r\n\r\n')
  await once(raw, 'close')
  t.pass('not Diameter at all: closed')

  const ok = await s.connect()
  t.equal(resultCode(ok.cea), 2001, 'the server still accepts peers')
})

t.test('DWR/DWA both ways; watchdog failure closes the connection', async (t) => {
  const s = await startServer(t, { cfg: { watchdogSeconds: 0.3 } })
  const c = await s.connect()
  const dwa = await c.request({ commandCode: 280, applicationId: 0, avps: [{ name: 'Origin-Host', value: c.originHost }, { name: 'Origin-Realm', value: c.originRealm }] })
  t.same([dwa.commandCode, dwa.flags.request, resultCode(dwa)], [280, false, 2001], 'client DWR → DWA 2001')
  t.ok(avpNumber(findAvp(dwa.avps, 'Origin-State-Id')) !== undefined, 'DWA with Origin-State-Id')
  const dwr = await c.waitFor((m) => m.commandCode === 280, 3000)
  t.equal(avpString(findAvp(dwr.avps, 'Origin-Host')), 'ocs.localdomain', 'the server sends DWR after Tw of silence')
  await sleep(800)
  t.equal(c.closed, false, 'answered DWRs keep the connection')
  t.ok(c.received.filter((m) => m.commandCode === 280).length >= 2, 'DWR repeats every Tw of silence')

  const mute = await s.connect({ originHost: 'mute.test', onRequest: (m) => (m.commandCode === 280 ? null : undefined) })
  const started = Date.now()
  await mute.closedPromise
  t.ok(Date.now() - started < 3000, `a peer that never answers DWR is dropped after ~2 Tw (${Date.now() - started} ms)`)
  t.equal(await metricValue(s.metrics, 'ocs_diameter_watchdog_failures_total'), 1, 'watchdog failure counted')
  t.equal(c.closed, false, 'the other peer is unaffected')
})

t.test('DPR from the peer: DPA, then the connection goes', async (t) => {
  const s = await startServer(t, { stopTimeoutMs: 300 })
  const c = await s.connect()
  const dpa = await c.request({ commandCode: 282, applicationId: 0, avps: [{ name: 'Origin-Host', value: c.originHost }, { name: 'Origin-Realm', value: c.originRealm }, { name: 'Disconnect-Cause', value: 0 }] })
  t.same([dpa.commandCode, resultCode(dpa)], [282, 2001])
  await c.closedPromise
  t.pass('closed by the server when the peer does not close after DPA')
  for (let i = 0; i < 250 && s.server.peerList().length > 0; i++) await sleep(20)
  t.same(s.server.peerList(), [])
})

t.test('a reconnect with the same Origin-Host replaces the old connection at once', async (t) => {
  const s = await startServer(t)
  const old = await s.connect({ originHost: 'scscf.softswitch.test' })
  const fresh = await s.connect({ originHost: 'scscf.softswitch.test' })
  t.equal(resultCode(fresh.cea), 2001, 'the new connection is accepted at once')
  await old.closedPromise
  t.pass('the old one is closed')
  const a = await fresh.ccr(ccrAvps({ sessionId: 'k;1', type: 1, number: 0, msisdn: '1', mscc: [{ rg: 1, rsu: {} }] }))
  t.equal(resultCode(a), 2001, 'and the new one is served')
  t.equal(s.server.peerList().length, 1)
})

t.test('overload: beyond the in-flight bound, 3004 at once; core unavailable: 3004', async (t) => {
  const stub = stubCharging({ hold: true })
  const s = await startServer(t, { charging: stub.charging, maxInFlight: 3, maxInFlightPerPeer: 2 })
  const c1 = await s.connect({ originHost: 'a.test' })
  const c2 = await s.connect({ originHost: 'b.test' })
  const req = (c: DiameterTestClient, n: number) => c.ccr(ccrAvps({ sessionId: `ov;${c.originHost};${n}`, type: 1, number: n, msisdn: '1', mscc: [{ rg: 1, rsu: {} }] }))
  const p1 = req(c1, 1)
  const p2 = req(c1, 2)
  const busy = await req(c1, 3)
  t.same([resultCode(busy), busy.flags.error], [3004, true], 'third request of one peer: 3004 TOO_BUSY with the E bit')
  t.same([avpNumber(findAvp(busy.avps, 'CC-Request-Type')), avpNumber(findAvp(busy.avps, 'CC-Request-Number'))], [1, 3], 'echoing the request')
  const p4 = req(c2, 1)
  const busy2 = await req(c2, 2)
  t.equal(resultCode(busy2), 3004, 'total bound reached: 3004 for another peer too')
  await sleep(20)
  stub.release()
  t.same((await Promise.all([p1, p2, p4])).map(resultCode), [2001, 2001, 2001], 'the admitted requests complete')
  t.equal(await metricValue(s.metrics, 'ocs_overload_rejections_total'), 2)
  const again = req(c1, 4)
  await sleep(20)
  stub.release()
  t.equal(resultCode(await again), 2001, 'capacity is back once the answers are out')

  const down = await startServer(t, { charging: stubCharging({ unavailable: true }).charging })
  const c3 = await down.connect()
  const a = await req(c3, 1)
  t.same([resultCode(a), a.flags.error], [3004, true], 'Redis unavailable: 3004')
})

t.test('stop(): DPR to each peer, in-flight requests drained, then closed', async (t) => {
  const stub = stubCharging({ hold: true })
  const metrics = new Metrics(false)
  const server = new DiameterServer({ config: diameterConfig(), charging: stub.charging, events: new AccountEvents({} as Redis), metrics, log: createLogger('silent'), stopTimeoutMs: 1000 })
  await server.start()
  const c = await DiameterTestClient.connect({ port: server.port, onRequest: (m) => (m.commandCode === 282 ? [{ name: 'Result-Code', value: 2001 }, { name: 'Origin-Host', value: 'client.test' }, { name: 'Origin-Realm', value: 'test' }] : undefined) })
  t.teardown(() => c.close())
  const inflight = c.ccr(ccrAvps({ sessionId: 'stop;1', type: 1, number: 0, msisdn: '1', mscc: [{ rg: 1, rsu: {} }] }))
  await sleep(20)
  const started = Date.now()
  const stopped = server.stop()
  const dpr = await c.waitFor((m) => m.commandCode === 282, 2000)
  t.equal(avpNumber(findAvp(dpr.avps, 'Disconnect-Cause')), 0, 'DPR with Disconnect-Cause REBOOTING')
  t.equal(server.ready, false)
  stub.release()
  t.equal(resultCode(await inflight), 2001, 'the request in flight is answered after the DPR')
  await stopped
  await c.closedPromise
  t.ok(Date.now() - started < 3000, `stop() is bounded (${Date.now() - started} ms)`)
  await t.rejects(DiameterTestClient.connect({ port: server.port }), 'no longer accepting')
})

t.test('unknown answers are dropped and counted; the connection stays', async (t) => {
  const s = await startServer(t)
  const c = await s.connect()
  c.write(encode({ flags: { request: false }, commandCode: 258, applicationId: 4, hopByHop: 424242, endToEnd: 1, avps: [{ name: 'Session-Id', value: 'x' }, { name: 'Result-Code', value: 2001 }, { name: 'Origin-Host', value: 'c' }, { name: 'Origin-Realm', value: 'r' }] }))
  const dwa = await c.request({ commandCode: 280, applicationId: 0, avps: [{ name: 'Origin-Host', value: c.originHost }, { name: 'Origin-Realm', value: c.originRealm }] })
  t.equal(resultCode(dwa), 2001)
  t.equal(await metricValue(s.metrics, 'ocs_malformed_total', { reason: 'unexpected-answer' }), 1)
  t.equal(findAvps(dwa.avps, 'Result-Code').length, 1)
})
