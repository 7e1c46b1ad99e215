// RADIUS accounting on one node: late and retransmitted reports (a Start after interims, an interim
// after later ones) are not counter wraps, a Start retransmitted after the Stop opens nothing, and a session whose Start this node never saw is charged
// in the unit its plan rates it in.
import t, { type Test } from 'tap';

import { radiusKeys } from '../../src/balance/keys.js';
import { RadiusCode, type RadiusAttributeInput } from '../../src/radius/codec.js';
import type { PlanDocument } from '../../src/rating/plan.js';
import { allCdrs, money } from '../helpers/core.js';
import { startRedis } from '../helpers/redis.js';
import { afterInterim, broadbandCost, NasSim, sessionAttrs, startHarness, makeSubscriber, TWO_NAS_CLIENTS, usageAttrs, type Harness } from '../helpers/radius-harness.js';

const redis = await startRedis();
t.teardown(() => redis.stop());

async function harness(t: Test): Promise<Harness> {
  await redis.client.flushall();
  return startHarness(t, { redis, clients: TWO_NAS_CLIENTS });
}

/** A report's counters: octets in and out, the session time, Gigawords or not. */
function usage(inO: number, outO: number, time: number, gigawords: boolean): RadiusAttributeInput[] {
  return usageAttrs({ in: inO, out: outO, time, gigawords });
}

const sess = sessionAttrs;

async function acct(t: Test, nas: NasSim, attrs: RadiusAttributeInput[], what: string): Promise<void> {
  const r = await nas.acct(attrs);
  t.equal(r?.packet.code, RadiusCode.AccountingResponse, `${what}: Accounting-Response`);
}

t.test('a Start retransmitted (re-signed, Acct-Delay-Time) after two interims charges nothing', async (t) => {
  const h = await harness(t);
  const initial = 100_000_000n;
  const { accountId } = await makeSubscriber(h, { username: 'alice', balance: initial });
  const nas = await NasSim.open(t, h, '127.0.0.1');
  const s = sess('alice', 'rs-1', 1);
  await acct(t, nas, [...s, ['Acct-Status-Type', 'Start']], 'Start');
  await acct(t, nas, [...s, ['Acct-Status-Type', 'Interim-Update'], ...usage(1_000_000, 1_000_000, 60, true)], 'I1');
  await acct(t, nas, [...s, ['Acct-Status-Type', 'Interim-Update'], ...usage(2_000_000, 2_000_000, 120, true)], 'I2');
  t.same(await money(h.core.store, accountId), afterInterim(initial, 4_000_000), 'after I2: 4,000,000 octets');
  await acct(t, nas, [...s, ['Acct-Status-Type', 'Start'], ['Acct-Delay-Time', 130]], 'Start retransmitted');
  t.same(await money(h.core.store, accountId), afterInterim(initial, 4_000_000), 'the Start retransmission charges nothing');
  await acct(t, nas, [...s, ['Acct-Status-Type', 'Stop'], ...usage(3_000_000, 3_000_000, 180, true)], 'Stop');
  t.same(await money(h.core.store, accountId), { balance: initial - broadbandCost(6_000_000), reserved: 0n }, 'total: 6,000,000 octets');
  const cdrs = await allCdrs(redis.client);
  t.equal(cdrs.length, 1);
  t.equal(cdrs[0]?.used, '6000000', 'CDR: 6,000,000 octets');
});

t.test('pppd (32-bit, no Gigawords): an interim retransmitted after two later interims charges nothing', async (t) => {
  const h = await harness(t);
  const initial = 100_000_000n;
  const { accountId } = await makeSubscriber(h, { username: 'bob', balance: initial });
  const nas = await NasSim.open(t, h, '127.0.0.4');
  const s = sess('bob', 'rs-2', 2, 'pppd-1');
  await acct(t, nas, [...s, ['Acct-Status-Type', 'Start']], 'Start');
  await acct(t, nas, [...s, ['Acct-Status-Type', 'Interim-Update'], ...usage(1_000_000, 0, 60, false)], 'I1');
  await acct(t, nas, [...s, ['Acct-Status-Type', 'Interim-Update'], ...usage(2_000_000, 0, 120, false)], 'I2');
  await acct(t, nas, [...s, ['Acct-Status-Type', 'Interim-Update'], ...usage(3_000_000, 0, 180, false)], 'I3');
  t.same(await money(h.core.store, accountId), afterInterim(initial, 3_000_000));
  await acct(t, nas, [...s, ['Acct-Status-Type', 'Interim-Update'], ['Acct-Delay-Time', 125], ...usage(1_000_000, 0, 60, false)], 'I1 retransmitted');
  t.same(await money(h.core.store, accountId), afterInterim(initial, 3_000_000), 'the retransmission of I1 charges nothing');
  await acct(t, nas, [...s, ['Acct-Status-Type', 'Stop'], ...usage(4_000_000, 0, 240, false)], 'Stop');
  t.same(await money(h.core.store, accountId), { balance: initial - broadbandCost(4_000_000), reserved: 0n }, 'total: 4,000,000 octets');
});

const TIME_PLAN: PlanDocument = {
  id: 'timed',
  version: 1,
  name: 'Time-rated broadband',
  currency: 'EUR',
  precision: 6,
  services: [{ name: 'broadband-time', unit: 'seconds', match: { radius: '*' }, tariff: { name: 'bb-1s', rate: '0.001000', per: 1 } }],
};

for (const status of ['Stop', 'Interim-Update'] as const) {
  t.test(`time-rated RADIUS plan: a ${status} without a Start is charged by Acct-Session-Time, not by octets`, async (t) => {
    const h = await harness(t);
    await h.core.store.putPlan(TIME_PLAN);
    const initial = 100_000_000n; // 100 EUR
    const { accountId } = await makeSubscriber(h, { username: 'carol', balance: initial });
    await h.core.store.updateAccount(accountId, { plan: 'timed' });
    const nas = await NasSim.open(t, h, '127.0.0.1');
    const s = sess('carol', `ts-${status}`, 3);
    await acct(t, nas, [...s, ['Acct-Status-Type', status], ...usage(500_000, 500_000, 60, true)], `${status} without Start`);
    if (status === 'Interim-Update') await acct(t, nas, [...s, ['Acct-Status-Type', 'Stop'], ...usage(500_000, 500_000, 60, true)], 'Stop');
    t.same(await money(h.core.store, accountId), { balance: initial - 60_000n, reserved: 0n }, '60 s at 0.001 EUR/s = 60,000 micro-EUR');
    const cdrs = await allCdrs(redis.client);
    t.equal(cdrs[0]?.used, '60', 'CDR: 60 seconds');
  });
}

t.test('the time-rated plan with a Start charges 60 s as 60,000 micro-EUR', async (t) => {
  const h = await harness(t);
  await h.core.store.putPlan(TIME_PLAN);
  const initial = 100_000_000n;
  const { accountId } = await makeSubscriber(h, { username: 'dan', balance: initial });
  await h.core.store.updateAccount(accountId, { plan: 'timed' });
  const nas = await NasSim.open(t, h, '127.0.0.1');
  const s = sess('dan', 'ts-ok', 4);
  await acct(t, nas, [...s, ['Acct-Status-Type', 'Start']], 'Start');
  await acct(t, nas, [...s, ['Acct-Status-Type', 'Stop'], ...usage(500_000, 500_000, 60, true)], 'Stop');
  t.same(await money(h.core.store, accountId), { balance: initial - 60_000n, reserved: 0n });
  t.equal((await allCdrs(redis.client))[0]?.used, '60');
});

t.test('a Start with zero counters, and an interim without octet counters, after interims: no wrap, nothing more charged', async (t) => {
  const h = await harness(t);
  const initial = 100_000_000n;
  const { accountId } = await makeSubscriber(h, { username: 'gil', balance: initial });
  const nas = await NasSim.open(t, h, '127.0.0.4');
  const s = sess('gil', 'rs-z', 7, 'pppd-2');
  await acct(t, nas, [...s, ['Acct-Status-Type', 'Start']], 'Start');
  await acct(t, nas, [...s, ['Acct-Status-Type', 'Interim-Update'], ...usage(2_000_000, 1_000_000, 60, false)], 'I1');
  t.same(await money(h.core.store, accountId), afterInterim(initial, 3_000_000), 'after I1: 3,000,000 octets');
  await acct(t, nas, [...s, ['Acct-Status-Type', 'Start'], ['Acct-Delay-Time', 65], ['Acct-Input-Octets', 0], ['Acct-Output-Octets', 0]], 'the Start again, counters at 0');
  await acct(t, nas, [...s, ['Acct-Status-Type', 'Interim-Update'], ['Acct-Session-Time', 120]], 'I2: session time only');
  t.same(await money(h.core.store, accountId), afterInterim(initial, 3_000_000), 'still 3,000,000 octets');
  await acct(t, nas, [...s, ['Acct-Status-Type', 'Stop'], ...usage(2_500_000, 1_500_000, 180, false)], 'Stop');
  t.same(await money(h.core.store, accountId), { balance: initial - broadbandCost(4_000_000), reserved: 0n }, 'total: 4,000,000 octets');
  const cdrs = await allCdrs(redis.client);
  t.equal(cdrs.length, 1);
  t.equal(cdrs[0]?.used, '4000000', 'CDR: 4,000,000 octets');
});

t.test('a Start retransmitted (re-signed) after the Stop does not open the session again', async (t) => {
  const h = await harness(t);
  const initial = 100_000_000n;
  const { accountId } = await makeSubscriber(h, { username: 'erin', balance: initial });
  const nas = await NasSim.open(t, h, '127.0.0.1');
  const auth = await nas.pap('erin', 'erinpw');
  t.equal(auth?.packet.code, RadiusCode.AccessAccept, 'Access-Accept');
  const cls = auth!.packet.attributes.find((a) => a.name === 'Class')!.raw;
  const s: RadiusAttributeInput[] = [...sess('erin', 'rs-3', 5), ['Class', cls]];
  await acct(t, nas, [...s, ['Acct-Status-Type', 'Start']], 'Start');
  await acct(t, nas, [...s, ['Acct-Status-Type', 'Stop'], ...usage(1_000_000, 0, 5, true)], 'Stop');
  t.same(await money(h.core.store, accountId), { balance: initial - broadbandCost(1_000_000), reserved: 0n });
  await acct(t, nas, [...s, ['Acct-Status-Type', 'Start'], ['Acct-Delay-Time', 10]], 'the Start retransmitted (its answer was lost)');
  t.same(await money(h.core.store, accountId), { balance: initial - broadbandCost(1_000_000), reserved: 0n }, 'nothing reserved again');
  t.equal((await h.core.store.listSessions(accountId)).length, 0, 'no core session open');
  t.equal(await redis.client.zcard(radiusKeys.nasSessions('id:bnas-1')), 0, 'the NAS lists no open session');
});

t.test('a Stop the NAS sent before its Accounting-Off (Acct-Delay-Time) but processed after it: its usage is charged', async (t) => {
  const h = await harness(t);
  const initial = 100_000_000n;
  const { accountId } = await makeSubscriber(h, { username: 'fay', balance: initial });
  const nas = await NasSim.open(t, h, '127.0.0.1');
  const s = sess('fay', 'off-1', 6, 'bnas-off');
  await acct(t, nas, [...s, ['Acct-Status-Type', 'Start'], ['Acct-Delay-Time', 90]], 'Start (buffered by the NAS: sent 90 s ago)');
  await acct(t, nas, [...s, ['Acct-Status-Type', 'Interim-Update'], ...usage(1_000_000, 0, 60, true)], 'I1');
  // Graceful shutdown: the NAS sends the session's Stop, then Accounting-Off; the Stop's first copy is lost, and
  // its retransmission (Acct-Delay-Time 4) arrives after the Accounting-Off.
  await acct(t, nas, [['Acct-Status-Type', 'Accounting-Off'], ['NAS-Identifier', 'bnas-off'], ['Acct-Session-Id', '0']], 'Accounting-Off');
  t.same(await money(h.core.store, accountId), { balance: initial - broadbandCost(1_000_000), reserved: 0n }, 'the Accounting-Off closed the session at what I1 reported');
  await acct(t, nas, [...s, ['Acct-Status-Type', 'Stop'], ['Acct-Delay-Time', 4], ...usage(3_000_000, 0, 90, true)], 'Stop (sent before the Off)');
  t.same(await money(h.core.store, accountId), { balance: initial - broadbandCost(3_000_000), reserved: 0n }, 'the 3,000,000 octets the Stop reports are charged');
  const used = (await allCdrs(redis.client)).filter((c) => c.account === accountId).reduce((n, c) => n + Number(c.used), 0);
  t.equal(used, 3_000_000, 'the CDRs hold 3,000,000 octets in all');
  // A Stop sent after the Off (no delay) is late: nothing more.
  await acct(t, nas, [...s, ['Acct-Status-Type', 'Stop'], ...usage(4_000_000, 0, 95, true)], 'a Stop made after the close');
  t.same(await money(h.core.store, accountId), { balance: initial - broadbandCost(3_000_000), reserved: 0n }, 'nothing more charged');
});
