// RADIUS accounting against the real core and Redis, over real UDP: Start → Interims → Stop with
// the money asserted at every step, Gigawords, pppd's 32-bit wrap, retransmissions charged once,
// pppd's repeated Acct-Session-Id kept apart by NAS-Port, and Accounting-On closing a NAS's sessions.
import t, { type Test } from 'tap';

import { verifyReply } from '../../src/radius/authenticator.js';
import { getString, type RadiusAttributeInput } from '../../src/radius/codec.js';
import { allCdrs, money } from '../helpers/core.js';
import { startRedis } from '../helpers/redis.js';
import { afterInterim, broadbandCost, metricValue, NasSim, NO_REPLY_WAIT_MS, SECRET, sessionAttrs, startHarness, makeSubscriber, TWO_NAS_CLIENTS, usageAttrs, type Harness, type ReportedCounters } from '../helpers/radius-harness.js';

const redis = await startRedis();
t.teardown(() => redis.stop());

const GIGAWORD = 2 ** 32;

async function harness(t: Test): Promise<Harness> {
  await redis.client.flushall();
  return startHarness(t, { redis, clients: TWO_NAS_CLIENTS });
}

const session = sessionAttrs;

async function acct(t: Test, nas: NasSim, attrs: RadiusAttributeInput[], what: string): Promise<void> {
  const req = nas.buildAcct(attrs);
  const raw = await nas.sendRaw(req, nas.serverAcctPort);
  t.ok(raw, `${what}: Accounting-Response received`);
  if (raw) {
    t.equal(raw[0], 5, `${what}: code Accounting-Response`);
    t.ok(verifyReply(raw, req.subarray(4, 20), SECRET).ok, `${what}: Response Authenticator verifies`);
  }
}

t.test('Start → 3 Interims (one crossing 4 GiB with Gigawords) → Stop: exact money at every step, one CDR', async (t) => {
  const h = await harness(t);
  const initial = 100_000_000n;
  const { accountId } = await makeSubscriber(h, { username: 'alice', balance: initial });
  const nas = await NasSim.open(t, h, '127.0.0.1');
  const auth = await nas.pap('alice', 'alicepw');
  t.equal(auth?.packet.code, 2, 'Access-Accept');
  const cls = auth!.packet.attributes.find((a) => a.name === 'Class')!.raw;
  t.same(await money(h.core.store, accountId), { balance: initial, reserved: 0n }, 'authorization reserves nothing');

  const base = session('alice', 'sess-0001', 7, 'bnas-1', cls);
  await acct(t, nas, [...base, ['Acct-Status-Type', 'Start'], ['Acct-Delay-Time', 0]], 'Start');
  t.same(await money(h.core.store, accountId), { balance: initial - 25_000n, reserved: 25_000n }, 'Start: 5 MiB reserved ahead (0.025 EUR)');

  const steps: Array<{ c: ReportedCounters; label: string }> = [
    { c: { in: 1_000_000, out: 3_000_000, time: 60 }, label: 'interim 1' },
    { c: { in: GIGAWORD + 3_000_000_000, out: 500_000_000, time: 120, gigawords: true }, label: 'interim 2 (Input-Gigawords 1)' },
    { c: { in: GIGAWORD + 3_500_000_000, out: 600_000_000, time: 180, gigawords: true }, label: 'interim 3' },
  ];
  for (const { c, label } of steps) {
    await acct(t, nas, [...base, ['Acct-Status-Type', 'Interim-Update'], ...usageAttrs(c)], label);
    const used = (c.in ?? 0) + (c.out ?? 0);
    t.same(await money(h.core.store, accountId), afterInterim(initial, used), `${label}: charged ${broadbandCost(used)} for ${used} octets, next 5 MiB reserved`);
  }

  const last = { in: GIGAWORD + 3_900_000_000, out: 700_000_001, time: 240, gigawords: true };
  await acct(t, nas, [...base, ['Acct-Status-Type', 'Stop'], ['Acct-Terminate-Cause', 'User-Request'], ...usageAttrs(last)], 'Stop');
  const total = last.in + last.out;
  t.same(await money(h.core.store, accountId), { balance: initial - broadbandCost(total), reserved: 0n }, `Stop: exactly ${broadbandCost(total)} micro-EUR for ${total} octets`);

  const cdrs = (await allCdrs(h.redis.client)).filter((c) => c.account === accountId);
  t.equal(cdrs.length, 1, 'one CDR');
  t.equal(cdrs[0].total, broadbandCost(total).toString());
  t.equal(cdrs[0].used, String(total));
  t.equal(cdrs[0].inputOctets, String(last.in));
  t.equal(cdrs[0].outputOctets, String(last.out));
  t.equal(cdrs[0].closeReason, 'User-Request');
  t.equal(cdrs[0].protocol, 'radius');
  t.match(cdrs[0].sessionId, /^radius:sess-0001:/);
  t.equal(await metricValue(h, 'ocs_requests_total', { protocol: 'radius', command: 'Accounting-Request', type: 'Interim-Update', result: 'ok' }), 3);
  t.equal(await metricValue(h, 'ocs_requests_total', { protocol: 'radius', command: 'Accounting-Request', type: 'Stop', result: 'ok' }), 1);
});

t.test('pppd: 32-bit counters wrap without Gigawords; event time corrected by Acct-Delay-Time', async (t) => {
  const h = await harness(t);
  const initial = 50_000_000n;
  const { accountId } = await makeSubscriber(h, { username: 'alice', balance: initial });
  const nas = await NasSim.open(t, h, '127.0.0.4');
  const base = session('alice', '%lX6b0832c2%hX', 0, 'bnas-harness');
  await acct(t, nas, [...base, ['Acct-Status-Type', 'Start'], ['Acct-Delay-Time', 0]], 'Start');
  await acct(t, nas, [...base, ['Acct-Status-Type', 'Interim-Update'], ['Acct-Input-Octets', 4_000_000_000], ['Acct-Output-Octets', 10_000_000], ['Acct-Session-Time', 60]], 'interim before the wrap');
  t.same(await money(h.core.store, accountId), afterInterim(initial, 4_010_000_000));
  // Input went from 4,000,000,000 to 100,000,000: it wrapped past 2^32.
  await acct(t, nas, [...base, ['Acct-Status-Type', 'Interim-Update'], ['Acct-Input-Octets', 100_000_000], ['Acct-Output-Octets', 20_000_000], ['Acct-Session-Time', 120]], 'interim after the wrap');
  const wrappedIn = GIGAWORD + 100_000_000;
  t.same(await money(h.core.store, accountId), afterInterim(initial, wrappedIn + 20_000_000), 'the wrap counts as 2^32 more octets, not negative usage');
  await acct(
    t,
    nas,
    [...base, ['Acct-Status-Type', 'Stop'], ['Acct-Input-Octets', 200_000_000], ['Acct-Output-Octets', 30_000_000], ['Acct-Session-Time', 180], ['Acct-Delay-Time', 30], ['Acct-Terminate-Cause', 'Session-Timeout']],
    'Stop (delayed 30 s)',
  );
  const total = GIGAWORD + 200_000_000 + 30_000_000;
  t.same(await money(h.core.store, accountId), { balance: initial - broadbandCost(total), reserved: 0n });
  const [cdr] = (await allCdrs(h.redis.client)).filter((c) => c.account === accountId);
  t.equal(cdr.used, String(total));
  t.equal(cdr.closeReason, 'Session-Timeout');
  const end = Number(cdr.end);
  t.ok(Date.now() - end >= 29_000 && Date.now() - end < 40_000, `CDR end time is 30 s before the Stop arrived (${Date.now() - end} ms)`);
});

t.test('retransmissions are charged once: identical copies answered from the cache, re-signed copies by idempotency', async (t) => {
  const h = await harness(t);
  const initial = 10_000_000n;
  const { accountId } = await makeSubscriber(h, { username: 'alice', balance: initial });
  const nas = await NasSim.open(t, h, '127.0.0.1');
  const base = session('alice', 'retx-1', 3);

  const start = nas.buildAcct([...base, ['Acct-Status-Type', 'Start'], ['Acct-Delay-Time', 0]]);
  const r1 = await nas.sendRaw(start, nas.serverAcctPort);
  const r2 = await nas.sendRaw(start, nas.serverAcctPort);
  t.ok(r1 && r2 && r1.equals(r2), 'the same Start twice: the same reply octets');
  // A Start re-signed with a new Identifier and Acct-Delay-Time: another RFC 5080 key, same request.
  await acct(t, nas, [...base, ['Acct-Status-Type', 'Start'], ['Acct-Delay-Time', 3]], 'Start re-sent with Acct-Delay-Time 3');
  t.same(await money(h.core.store, accountId), { balance: initial - 25_000n, reserved: 25_000n }, 'one reservation');

  // With a Message-Authenticator: the reply carries one, and a retransmission gets the same octets.
  const interim = nas.buildAcct([...base, ['Acct-Status-Type', 'Interim-Update'], ...usageAttrs({ in: 2_000_000, out: 2_000_000, time: 60 })], { messageAuthenticator: true });
  const i1 = await nas.sendRaw(interim, nas.serverAcctPort);
  const i2 = await nas.sendRaw(interim, nas.serverAcctPort);
  t.ok(i1 && i2 && i1.equals(i2), 'the same Interim twice: the same reply octets');
  t.equal(i1?.readUInt16BE(2), 38, 'an Accounting-Response with a Message-Authenticator');
  t.equal(verifyReply(i1!, interim.subarray(4, 20), SECRET, { requireMessageAuthenticator: true }).ok, true, 'both authenticators right');
  await acct(t, nas, [...base, ['Acct-Status-Type', 'Interim-Update'], ['Acct-Delay-Time', 5], ...usageAttrs({ in: 2_000_000, out: 2_000_000, time: 60 })], 'Interim re-sent with Acct-Delay-Time 5');
  t.same(await money(h.core.store, accountId), afterInterim(initial, 4_000_000), 'the interim is charged once');
  t.equal(await metricValue(h, 'ocs_tolerated_irregularities_total', { protocol: 'radius', kind: 'retransmission' }), 2, 'two replies from the duplicate cache');

  const stopAttrs: RadiusAttributeInput[] = [...base, ['Acct-Status-Type', 'Stop'], ...usageAttrs({ in: 3_000_000, out: 2_500_000, time: 90 })];
  await acct(t, nas, stopAttrs, 'Stop');
  await acct(t, nas, [...stopAttrs, ['Acct-Delay-Time', 4]], 'Stop re-sent with Acct-Delay-Time 4');
  t.same(await money(h.core.store, accountId), { balance: initial - broadbandCost(5_500_000), reserved: 0n }, 'the Stop is charged once');
  t.equal((await allCdrs(h.redis.client)).filter((c) => c.account === accountId).length, 1, 'one CDR');
});

t.test("pppd's repeated Acct-Session-Id: sessions on different NAS-Ports stay apart, even of one user", async (t) => {
  const h = await harness(t);
  const initial = 10_000_000n;
  const alice = await makeSubscriber(h, { username: 'alice', balance: initial });
  const bob = await makeSubscriber(h, { username: 'bob', balance: initial });
  const nas = await NasSim.open(t, h, '127.0.0.4');
  const asid = '%lX6b0832f0%hX';
  const sessions: Array<{ user: string; port: number; in: number; out: number }> = [
    { user: 'alice', port: 0, in: 5_271_268, out: 5_916_796 },
    { user: 'bob', port: 1, in: 1_000_000, out: 2_000_000 },
    { user: 'alice', port: 2, in: 5_286_588, out: 5_810_520 },
  ];
  for (const s of sessions) await acct(t, nas, [...session(s.user, asid, s.port, 'bnas-harness'), ['Acct-Status-Type', 'Start']], `Start ${s.user} port ${s.port}`);
  t.same(await money(h.core.store, alice.accountId), { balance: initial - 50_000n, reserved: 50_000n }, 'alice: two sessions, two reservations');
  t.same(await money(h.core.store, bob.accountId), { balance: initial - 25_000n, reserved: 25_000n }, 'bob: his own session');
  for (const s of sessions) {
    await acct(t, nas, [...session(s.user, asid, s.port, 'bnas-harness'), ['Acct-Status-Type', 'Stop'], ...usageAttrs({ in: s.in, out: s.out, time: 4 }), ['Acct-Terminate-Cause', 'User-Request']], `Stop ${s.user} port ${s.port}`);
  }
  const aliceCost = broadbandCost(sessions[0].in + sessions[0].out) + broadbandCost(sessions[2].in + sessions[2].out);
  t.same(await money(h.core.store, alice.accountId), { balance: initial - aliceCost, reserved: 0n }, 'alice pays both sessions, each rated on its own');
  t.same(await money(h.core.store, bob.accountId), { balance: initial - broadbandCost(3_000_000), reserved: 0n }, 'bob pays only his');
  const cdrs = await allCdrs(h.redis.client);
  t.equal(cdrs.filter((c) => c.account === alice.accountId).length, 2, 'two CDRs for alice');
  t.equal(cdrs.filter((c) => c.account === bob.accountId).length, 1, 'one for bob');
  t.equal(new Set(cdrs.map((c) => c.sessionId)).size, 3, 'three distinct sessions');
});

t.test('Accounting-On closes every open session of that NAS, and only of that NAS', async (t) => {
  const h = await harness(t);
  const initial = 10_000_000n;
  const a = await makeSubscriber(h, { username: 'alice', balance: initial });
  const b = await makeSubscriber(h, { username: 'bob', balance: initial });
  const c = await makeSubscriber(h, { username: 'carol', balance: initial });
  const nas = await NasSim.open(t, h, '127.0.0.1');
  await acct(t, nas, [...session('alice', 'on-1', 1, 'bnas-1'), ['Acct-Status-Type', 'Start']], 'alice Start on bnas-1');
  await acct(t, nas, [...session('bob', 'on-2', 2, 'bnas-1'), ['Acct-Status-Type', 'Start']], 'bob Start on bnas-1');
  await acct(t, nas, [...session('carol', 'on-3', 1, 'bnas-2'), ['Acct-Status-Type', 'Start']], 'carol Start on bnas-2');
  await acct(t, nas, [...session('alice', 'on-1', 1, 'bnas-1'), ['Acct-Status-Type', 'Interim-Update'], ...usageAttrs({ in: 1_000_000, out: 1_000_000, time: 60 })], 'alice interim');
  await acct(t, nas, [...session('bob', 'on-2', 2, 'bnas-1'), ['Acct-Status-Type', 'Interim-Update'], ...usageAttrs({ in: 3_000_000, out: 0, time: 60 })], 'bob interim');

  await acct(t, nas, [['Acct-Status-Type', 'Accounting-On'], ['NAS-Identifier', 'bnas-1'], ['Acct-Session-Id', '00000000']], 'Accounting-On from bnas-1');
  t.same(await money(h.core.store, a.accountId), { balance: initial - broadbandCost(2_000_000), reserved: 0n }, 'alice: closed, reported usage charged, reservation released');
  t.same(await money(h.core.store, b.accountId), { balance: initial - broadbandCost(3_000_000), reserved: 0n }, 'bob: closed');
  t.same(await money(h.core.store, c.accountId), { balance: initial - 25_000n, reserved: 25_000n }, 'carol on another NAS: still open');
  const cdrs = await allCdrs(h.redis.client);
  t.same(cdrs.map((x) => x.closeReason).sort(), ['Accounting-On', 'Accounting-On']);
  t.same((await h.core.store.listSessions(c.accountId)).length, 1);
  t.same((await h.core.store.listSessions(a.accountId)).length, 0);
  // A late interim of a closed session does not reopen it.
  await acct(t, nas, [...session('alice', 'on-1', 1, 'bnas-1'), ['Acct-Status-Type', 'Interim-Update'], ...usageAttrs({ in: 5_000_000, out: 1_000_000, time: 120 })], 'late interim');
  t.same(await money(h.core.store, a.accountId), { balance: initial - broadbandCost(2_000_000), reserved: 0n }, 'nothing more charged');
});

t.test('another node (or a restart) continues a session from the counters the core recorded', async (t) => {
  const h = await harness(t);
  const initial = 10_000_000n;
  const { accountId } = await makeSubscriber(h, { username: 'alice', balance: initial });
  const nas = await NasSim.open(t, h, '127.0.0.1');
  const base = session('alice', 'move-1', 4);
  await acct(t, nas, [...base, ['Acct-Status-Type', 'Start']], 'Start on node 1');
  await acct(t, nas, [...base, ['Acct-Status-Type', 'Interim-Update'], ...usageAttrs({ in: 3_000_000, out: 1_000_000, time: 60 })], 'interim on node 1');
  // A second server on the same Redis: it has never seen this session.
  const h2 = await startHarness(t, { redis, clients: TWO_NAS_CLIENTS });
  const nas2 = await NasSim.open(t, h2, '127.0.0.1');
  await acct(t, nas2, [...base, ['Acct-Status-Type', 'Interim-Update'], ...usageAttrs({ in: 5_000_000, out: 2_000_000, time: 120 })], 'interim on node 2');
  t.same(await money(h.core.store, accountId), afterInterim(initial, 7_000_000), 'node 2 charged only the delta');
  await acct(t, nas2, [...base, ['Acct-Status-Type', 'Stop'], ...usageAttrs({ in: 6_000_000, out: 2_000_000, time: 150 })], 'Stop on node 2');
  t.same(await money(h.core.store, accountId), { balance: initial - broadbandCost(8_000_000), reserved: 0n });
});

t.test('accounting for an unknown user is answered (and logged), a packet without Acct-Session-Id is dropped', async (t) => {
  const h = await harness(t);
  const nas = await NasSim.open(t, h, '127.0.0.1');
  await acct(t, nas, [...session('nobody', 'x-1', 1), ['Acct-Status-Type', 'Start']], 'Start of an unknown user');
  t.equal(await metricValue(h, 'ocs_requests_total', { command: 'Accounting-Request', type: 'Start', result: 'unknown-subscriber' }), 1);
  const r = await nas.acct([['User-Name', 'alice'], ['Acct-Status-Type', 'Start']], { timeoutMs: NO_REPLY_WAIT_MS });
  t.equal(r, undefined, 'no Acct-Session-Id: no answer');
  t.equal(await metricValue(h, 'ocs_radius_dropped_total', { reason: 'malformed' }), 1);
  t.equal(getString((await nas.acct([...session('nobody', 'x-2', 1), ['Acct-Status-Type', 'Tunnel-Start']]))!.packet, 'Reply-Message'), undefined, 'other status types are acknowledged');
});

t.test('usage no line can carry (2^49 octets in one report) is dropped, counted, and charges nothing', async (t) => {
  const h = await harness(t);
  const initial = 100_000_000n;
  const { accountId } = await makeSubscriber(h, { username: 'carol', balance: initial });
  const nas = await NasSim.open(t, h, '127.0.0.1');
  const base = session('carol', 'huge-1', 3);
  await acct(t, nas, [...base, ['Acct-Status-Type', 'Start']], 'Start');
  const afterStart = await money(h.core.store, accountId);
  const r = await nas.acct([...base, ['Acct-Status-Type', 'Interim-Update'], ...usageAttrs({ in: 2 ** 49, out: 0, gigawords: true })], { timeoutMs: NO_REPLY_WAIT_MS });
  t.equal(r, undefined, '2^49 octets: no Accounting-Response');
  t.same(await money(h.core.store, accountId), afterStart, 'nothing charged');
  t.equal(await metricValue(h, 'ocs_radius_dropped_total', { reason: 'malformed' }), 1, 'counted as malformed');
  await acct(t, nas, [...base, ['Acct-Status-Type', 'Stop'], ...usageAttrs({ in: 1_000_000, out: 0 })], 'Stop with real counters');
  t.same(await money(h.core.store, accountId), { balance: initial - broadbandCost(1_000_000), reserved: 0n }, 'the real usage is charged at Stop');
});

t.test('a running count past 2^52 octets (the 17th report of 2^48) is dropped, counted, and charges nothing', async (t) => {
  // Each report is within the per-report bound; the charging script refuses the one whose running
  // total it could no longer keep exactly (Lua's doubles), before writing anything.
  const h = await harness(t);
  const initial = 100_000_000n;
  const { accountId } = await makeSubscriber(h, { username: 'carol', balance: initial });
  const nas = await NasSim.open(t, h, '127.0.0.1');
  const base = session('carol', 'huge-2', 4);
  await acct(t, nas, [...base, ['Acct-Status-Type', 'Start']], 'Start');
  for (let n = 1; n <= 16; n++) {
    const r = await nas.acct([...base, ['Acct-Status-Type', 'Interim-Update'], ...usageAttrs({ in: n * 2 ** 48, out: 0, gigawords: true })]);
    t.equal(r?.raw[0], 5, `interim ${n}: Accounting-Response`);
  }
  const afterSixteen = await money(h.core.store, accountId);
  t.equal(afterSixteen.balance, initial - broadbandCost(16 * 2 ** 48), 'sixteen reports of 2^48 octets debited exactly (past the balance: usage that happened)');
  const r = await nas.acct([...base, ['Acct-Status-Type', 'Interim-Update'], ...usageAttrs({ in: 17 * 2 ** 48, out: 0, gigawords: true })], { timeoutMs: NO_REPLY_WAIT_MS });
  t.equal(r, undefined, 'the 17th: no Accounting-Response');
  t.same(await money(h.core.store, accountId), afterSixteen, 'nothing charged for it');
  t.equal(await metricValue(h, 'ocs_radius_dropped_total', { reason: 'malformed' }), 1, 'counted as malformed');
  await acct(t, nas, [...base, ['Acct-Status-Type', 'Stop'], ...usageAttrs({ in: 16 * 2 ** 48, out: 0, gigawords: true })], 'Stop with the last counters taken');
  const cdr = (await allCdrs(h.redis.client)).filter((c) => c.account === accountId);
  t.same(cdr.map((c) => [c.used, c.total]), [[String(16 * 2 ** 48), String(broadbandCost(16 * 2 ** 48))]], 'one CDR with the sixteen reports');
});
