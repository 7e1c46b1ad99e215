// The plan's fair usage through the whole path: the core counts the account's octets in the billing
// cycle and reports the plan's action on the grant once past the limit; the RADIUS front end turns
// it into one CoA-Request for the session (Filter-Id from the plan, or the NAS's redirect
// attributes), and into a lifting CoA-Request once a grant comes without it (a new cycle). Two OCS
// nodes on one Redis take the session's reports in turn; the NAS's listener counts what arrives.
import t, { type Test } from 'tap';

import type { PlanDocument } from '../../src/rating/plan.js';
import { RadiusCode, get, type RadiusAttributeInput } from '../../src/radius/codec.js';
import type { NasVendor } from '../../src/radius/nas-profiles.js';
import { startRedis } from '../helpers/redis.js';
import { fakeCoaListener, NasSim, SECRET, sleep, startHarness, type Harness } from '../helpers/radius-harness.js';

const redis = await startRedis();
t.teardown(() => redis.stop());

const MB = 1_000_000;
const PLANS: PlanDocument[] = [
  {
    id: 'fup-restrict', version: 1, currency: 'EUR', precision: 6,
    cycle: { period: 'daily', day: 1 },
    fairUsage: { octets: 8 * MB, action: 'restrict', filterId: 'fup-1mbit' },
    services: [{ name: 'broadband', unit: 'octets', match: { radius: '*' }, tariff: { name: 'bb', rate: '0.005000', per: 1048576 } }],
  },
  {
    id: 'fup-redirect', version: 1, currency: 'EUR', precision: 6,
    cycle: { period: 'daily', day: 1 },
    fairUsage: { octets: 8 * MB, action: 'redirect', redirectUrl: 'http://portal.example/fair-usage' },
    services: [{ name: 'broadband', unit: 'octets', match: { radius: '*' }, tariff: { name: 'bb', rate: '0.005000', per: 1048576 } }],
  },
];

async function setup(t: Test, vendor: NasVendor, address: string, plan: string): Promise<{ a: Harness; b: Harness; coa: Awaited<ReturnType<typeof fakeCoaListener>>; nasA: NasSim; nasB: NasSim }> {
  await redis.client.flushall();
  const coa = await fakeCoaListener(t, address, () => ({ code: 'ack' }));
  const clients = [{ address, secret: SECRET, vendor, coaPort: coa.port }];
  const a = await startHarness(t, { redis, clients, ownConnection: true, nodeId: 'node-a', coa: { timeoutMs: 150, retries: 2 } });
  const b = await startHarness(t, { redis, clients, ownConnection: true, nodeId: 'node-b', coa: { timeoutMs: 150, retries: 2 } });
  for (const p of PLANS) await a.core.store.putPlan(p);
  const acct = await a.core.store.createAccount(
    { currency: 'EUR', type: 'prepaid', plan, timezone: 'Europe/Paris', language: 'en', taxRegion: 'none', country: 'SE', status: 'active', creditLimit: 0n },
    100_000_000n,
  );
  await a.core.store.createSubscriber({ account: acct.id, username: 'fred' });
  return { a, b, coa, nasA: await NasSim.open(t, a, address), nasB: await NasSim.open(t, b, address) };
}

/** Reports stamped (Event-Timestamp) in yesterday's cycle, then in today's. */
const YESTERDAY = new Date(Date.now() - 30 * 3600_000);

async function report(t: Test, nas: NasSim, base: RadiusAttributeInput[], status: string, octets: number, at: Date, what: string): Promise<void> {
  const r = await nas.acct([
    ...base,
    ['Acct-Status-Type', status],
    ['Acct-Input-Octets', octets / 2],
    ['Acct-Output-Octets', octets / 2],
    ['Acct-Session-Time', 60],
    ['Event-Timestamp', at],
  ]);
  t.equal(r?.packet.code, RadiusCode.AccountingResponse, `${what}: answered`);
}

t.test('plan restrict: one CoA-Request with the plan\'s Filter-Id when the cycle\'s octets pass the limit, one lifting CoA in the next cycle', async (t) => {
  const { coa, nasA, nasB } = await setup(t, 'generic', '127.0.0.11', 'fup-restrict');
  const base: RadiusAttributeInput[] = [['User-Name', 'fred'], ['Acct-Session-Id', 'fup-p1'], ['NAS-Identifier', 'bras-1'], ['NAS-Port', 1]];
  await report(t, nasA, base, 'Start', 0, YESTERDAY, 'Start at A');
  await report(t, nasB, base, 'Interim-Update', 4 * MB, YESTERDAY, 'interim at B, 4 MB');
  t.equal(coa.received.length, 0, 'below the limit');
  await report(t, nasA, base, 'Interim-Update', 9 * MB, YESTERDAY, 'interim at A, 9 MB: past the limit');
  const restrict = await coa.next();
  t.equal(restrict?.packet.code, RadiusCode.CoaRequest, 'CoA-Request');
  t.ok(restrict!.verified);
  t.equal(get(restrict!.packet, 'Filter-Id'), 'fup-1mbit', 'the plan\'s Filter-Id');
  t.equal(get(restrict!.packet, 'Acct-Session-Id'), 'fup-p1');
  await sleep(100);
  await report(t, nasB, base, 'Interim-Update', 10 * MB, YESTERDAY, 'interim at B, still past it');
  await report(t, nasA, base, 'Interim-Update', 11 * MB, YESTERDAY, 'interim at A, still past it');
  await sleep(200);
  t.equal(coa.received.length, 1, 'once for the session, whichever node takes its reports');

  await report(t, nasB, base, 'Interim-Update', 12 * MB, new Date(), 'interim at B in today\'s cycle');
  const lift = await coa.next();
  t.equal(lift?.packet.code, RadiusCode.CoaRequest, 'a lifting CoA-Request');
  t.equal(get(lift!.packet, 'Filter-Id'), 'default', 'the generic profile\'s lifting Filter-Id');
  await report(t, nasA, base, 'Interim-Update', 13 * MB, new Date(), 'interim at A');
  await sleep(200);
  t.equal(coa.received.length, 2, 'lifted once');
});

t.test('plan redirect on a Mikrotik NAS: its redirect attribute with the plan\'s URL; a Start past the limit is redirected at once', async (t) => {
  const { coa, nasA, nasB } = await setup(t, 'mikrotik', '127.0.0.12', 'fup-redirect');
  const first: RadiusAttributeInput[] = [['User-Name', 'fred'], ['Acct-Session-Id', 'fup-r1'], ['NAS-Identifier', 'mt-1']];
  await report(t, nasA, first, 'Start', 0, new Date(), 'Start at A');
  await report(t, nasB, first, 'Interim-Update', 9 * MB, new Date(), 'interim at B, past the limit');
  const c = await coa.next();
  t.equal(c?.packet.code, RadiusCode.CoaRequest);
  t.equal(get(c!.packet, 'Mikrotik-Advertise-URL'), 'http://portal.example/fair-usage');
  t.equal(get(c!.packet, 'Filter-Id'), undefined);
  // The counter is the account's for the cycle: its next session starts past the limit.
  const second: RadiusAttributeInput[] = [['User-Name', 'fred'], ['Acct-Session-Id', 'fup-r2'], ['NAS-Identifier', 'mt-1']];
  await report(t, nasB, second, 'Start', 0, new Date(), 'a second session, Start at B');
  const d = await coa.next();
  t.equal(get(d!.packet, 'Acct-Session-Id'), 'fup-r2', 'redirected from its Start');
  await sleep(200);
  t.equal(coa.received.length, 2);
});
