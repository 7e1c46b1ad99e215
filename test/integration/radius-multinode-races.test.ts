// Two OCS nodes on one Redis, reports of one RADIUS session interleaved between them (forced by
// delaying one node between its steps): a Stop is checked against the counters it was computed
// from and marks the record closed in the same step as its charge, so no octet is charged twice and
// a late interim never reopens the session.
import t, { type Test } from 'tap';

import { radiusKeys } from '../../src/balance/keys.js';
import { RadiusSessionStore } from '../../src/balance/radius-sessions.js';
import { RadiusCode, type RadiusAttributeInput } from '../../src/radius/codec.js';
import { allCdrs, money } from '../helpers/core.js';
import { startRedis } from '../helpers/redis.js';
import { broadbandCost, NasSim, SECRET, startHarness, makeSubscriber, type Harness } from '../helpers/radius-harness.js';

const redis = await startRedis();
t.teardown(() => redis.stop());

async function twoNodes(t: Test): Promise<[Harness, Harness]> {
  await redis.client.flushall();
  const clients = [{ address: '127.0.0.1', secret: SECRET, vendor: 'generic' as const, coaPort: 3799 }];
  const node = (nodeId: string) => startHarness(t, { redis, clients, ownConnection: true, nodeId });
  return [await node('node-a'), await node('node-b')];
}

function usage(inO: number, time: number): RadiusAttributeInput[] {
  return [['Acct-Input-Octets', inO], ['Acct-Output-Octets', 0], ['Acct-Input-Gigawords', 0], ['Acct-Output-Gigawords', 0], ['Acct-Session-Time', time]];
}

const S: RadiusAttributeInput[] = [['User-Name', 'alice'], ['Acct-Session-Id', 'race-1'], ['NAS-Identifier', 'bnas-r'], ['NAS-Port', 7]];

async function acct(t: Test, nas: NasSim, attrs: RadiusAttributeInput[], what: string): Promise<void> {
  const r = await nas.acct(attrs);
  t.equal(r?.packet.code, RadiusCode.AccountingResponse, `${what}: Accounting-Response`);
}

const initial = 100_000_000n;

/** Two nodes, alice's session started at A and one interim (1,000,000 octets) charged there. */
async function startedAtA(t: Test): Promise<{ a: Harness; b: Harness; accountId: string; nasA: NasSim; nasB: NasSim }> {
  const [a, b] = await twoNodes(t);
  const { accountId } = await makeSubscriber(a, { username: 'alice', balance: initial });
  const nasA = await NasSim.open(t, a);
  const nasB = await NasSim.open(t, b);
  await acct(t, nasA, [...S, ['Acct-Status-Type', 'Start']], 'Start at A');
  await acct(t, nasA, [...S, ['Acct-Status-Type', 'Interim-Update'], ...usage(1_000_000, 60)], 'I1 at A');
  return { a, b, accountId, nasA, nasB };
}

t.test('Stop at B while an interim is charged at A (between B reading the state and charging): each octet charged once', async (t) => {
  const { a, b, accountId, nasA, nasB } = await startedAtA(t);

  // B has read the session's state for the Stop; before its charge runs, A charges I2.
  const charging = b.core.charging;
  const terminate = charging.terminate.bind(charging);
  let once = true;
  charging.terminate = async (req) => {
    if (once) {
      once = false;
      await acct(t, nasA, [...S, ['Acct-Status-Type', 'Interim-Update'], ...usage(2_000_000, 120)], 'I2 at A (while B handles the Stop)');
    }
    return terminate(req);
  };
  await acct(t, nasB, [...S, ['Acct-Status-Type', 'Stop'], ...usage(3_000_000, 180)], 'Stop at B');

  t.same(await money(a.core.store, accountId), { balance: initial - broadbandCost(3_000_000), reserved: 0n }, 'exactly 3,000,000 octets charged');
  const cdrs = await allCdrs(redis.client);
  t.equal(cdrs.length, 1, 'one CDR');
  t.equal(cdrs[0]?.used, '3000000', 'the CDR says 3,000,000 octets');
});

t.test('a late interim at A while B closes the session after its Stop: nothing charged, no session reopened', async (t) => {
  const { a, b, accountId, nasA, nasB } = await startedAtA(t);

  // B has charged the Stop (the core session is closed); before B marks the record closed, the
  // NAS's I2 (sent before the Stop, delayed) reaches A.
  const close = RadiusSessionStore.prototype.close;
  let once = true;
  t.teardown(() => {
    RadiusSessionStore.prototype.close = close;
  });
  RadiusSessionStore.prototype.close = async function (this: RadiusSessionStore, ...args: Parameters<typeof close>) {
    if (once) {
      once = false;
      await acct(t, nasA, [...S, ['Acct-Status-Type', 'Interim-Update'], ...usage(2_000_000, 120)], 'late I2 at A');
    }
    return close.apply(this, args);
  };
  await acct(t, nasB, [...S, ['Acct-Status-Type', 'Stop'], ...usage(3_000_000, 180)], 'Stop at B');
  RadiusSessionStore.prototype.close = close;

  t.same(await money(a.core.store, accountId), { balance: initial - broadbandCost(3_000_000), reserved: 0n }, 'exactly 3,000,000 octets charged, nothing reserved');
  t.equal((await a.core.store.listSessions(accountId)).length, 0, 'no core session left open');
  const cdrs = await allCdrs(redis.client);
  t.equal(cdrs.length, 1, 'one CDR');
  t.equal(await redis.client.zcard(radiusKeys.nasSessions('id:bnas-r')), 0, 'the NAS lists no open session');
});
