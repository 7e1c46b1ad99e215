// RFC 5176 towards the NAS: Disconnect-Request on depletion (ACK, NAK with Error-Cause, no answer
// → retransmissions), CoA-Request restoring a capped session after a top-up, Disconnect on an
// operator abort, CoA on fair usage; a fake NAS listener in the test receives and answers them.
import t, { type Test } from 'tap';

import { RadiusCode, get, getEnum, type RadiusAttributeInput } from '../../src/radius/codec.js';
import type { NasVendor } from '../../src/radius/nas-profiles.js';
import { allCdrs, money } from '../helpers/core.js';
import { startRedis } from '../helpers/redis.js';
import {
  affordableOctets,
  broadbandCost,
  fakeCoaListener,
  metricReaches,
  metricValue,
  NasSim,
  SECRET,
  makeSubscriber,
  sleep,
  startHarness,
  type CoaAnswer,
  type Harness,
  type HarnessOptions,
} from '../helpers/radius-harness.js';

const redis = await startRedis();
t.teardown(() => redis.stop());

async function setup(
  t: Test,
  vendor: NasVendor,
  answer: Parameters<typeof fakeCoaListener>[2],
  extra: Partial<HarnessOptions> = {},
): Promise<{ h: Harness; nas: NasSim; coa: Awaited<ReturnType<typeof fakeCoaListener>> }> {
  await redis.client.flushall();
  const address = '127.0.0.5';
  const coa = await fakeCoaListener(t, address, answer);
  const h = await startHarness(t, { redis, clients: [{ address, secret: SECRET, vendor, coaPort: coa.port }], coa: { timeoutMs: 150, retries: 2 }, ...extra });
  const nas = await NasSim.open(t, h, address);
  return { h, nas, coa };
}

const base = (user: string, asid: string): RadiusAttributeInput[] => [
  ['User-Name', user],
  ['Acct-Session-Id', asid],
  ['NAS-Identifier', 'hotspot-1'],
  ['NAS-Port', 12],
  ['Framed-IP-Address', '10.1.2.3'],
  ['Calling-Station-Id', '00-11-22-33-44-55'],
];

async function acct(t: Test, nas: NasSim, attrs: RadiusAttributeInput[]): Promise<void> {
  const r = await nas.acct(attrs);
  t.equal(r?.packet.code, RadiusCode.AccountingResponse, `${getEnumOf(attrs)} answered`);
}

function getEnumOf(attrs: RadiusAttributeInput[]): string {
  const s = attrs.find((a) => Array.isArray(a) && a[0] === 'Acct-Status-Type') as [string, string] | undefined;
  return s?.[1] ?? '?';
}

const usage = (inO: number, outO: number, time: number): RadiusAttributeInput[] => [
  ['Acct-Input-Octets', inO],
  ['Acct-Output-Octets', outO],
  ['Acct-Session-Time', time],
];

t.test('depletion → Disconnect-Request to the NAS, ACKed; the Stop then closes the session', async (t) => {
  const { h, nas, coa } = await setup(t, 'generic', () => ({ code: 'ack' }));
  const initial = 30_000n; // 6 MiB
  const { accountId } = await makeSubscriber(h, { username: 'alice', balance: initial });
  await acct(t, nas, [...base('alice', 'dep-1'), ['Acct-Status-Type', 'Start']]);
  t.same(await money(h.core.store, accountId), { balance: 5_000n, reserved: 25_000n });
  t.equal(coa.received.length, 0, 'no Disconnect while credit lasts');

  // 6.5 MiB used: more than the balance; the core charges it all and grants nothing more.
  await acct(t, nas, [...base('alice', 'dep-1'), ['Acct-Status-Type', 'Interim-Update'], ...usage(5_000_000, 1_815_744, 60)]);
  const dm = await coa.next();
  t.ok(dm, 'Disconnect-Request received by the NAS');
  t.equal(dm!.packet.code, RadiusCode.DisconnectRequest);
  t.ok(dm!.verified, 'its Request Authenticator verifies with the shared secret');
  t.equal(get(dm!.packet, 'User-Name'), 'alice');
  t.equal(get(dm!.packet, 'Acct-Session-Id'), 'dep-1');
  t.equal(get(dm!.packet, 'NAS-Identifier'), 'hotspot-1');
  t.equal(get(dm!.packet, 'NAS-Port'), 12);
  t.equal(get(dm!.packet, 'Framed-IP-Address'), '10.1.2.3');
  t.equal(get(dm!.packet, 'Calling-Station-Id'), '00-11-22-33-44-55');
  t.ok(get(dm!.packet, 'Message-Authenticator'), 'with a Message-Authenticator');
  t.ok(get(dm!.packet, 'Event-Timestamp') instanceof Date, 'and an Event-Timestamp');
  t.equal(await metricReaches(h, 'ocs_radius_coa_total', { kind: 'disconnect', result: 'ack' }, 1), 1, 'ACK counted');

  // The NAS ends the session and reports it.
  await acct(t, nas, [...base('alice', 'dep-1'), ['Acct-Status-Type', 'Stop'], ...usage(5_000_000, 1_900_000, 65), ['Acct-Terminate-Cause', 'Admin-Reset']]);
  t.same(await money(h.core.store, accountId), { balance: initial - broadbandCost(6_900_000), reserved: 0n }, 'all usage charged, into the red');
  const cdrs = await allCdrs(h.redis.client);
  t.equal(cdrs.length, 1);
  t.equal(cdrs[0].closeReason, 'Admin-Reset');
  t.equal(cdrs[0].overage, true, 'the CDR marks the overage');
  t.equal(coa.received.length, 1, 'one Disconnect-Request only');
});

t.test('an Acct-Session-Id and NAS-Identifier that are not UTF-8 are echoed octet for octet in the Disconnect-Request', async (t) => {
  const { h, nas, coa } = await setup(t, 'generic', () => ({ code: 'ack' }));
  const { accountId } = await makeSubscriber(h, { username: 'alice', balance: 30_000n });
  const asid = Buffer.from([0x64, 0x65, 0x70, 0xff, 0xfe, 0x00, 0xc3, 0x32]); // "dep", invalid UTF-8, a NUL
  const nasId = Buffer.from([0x68, 0x73, 0xe9, 0x31]); // Latin-1 "hsé1"
  const attrs: RadiusAttributeInput[] = [
    ['User-Name', 'alice'],
    { name: 'Acct-Session-Id', raw: asid },
    { name: 'NAS-Identifier', raw: nasId },
    ['NAS-Port', 12],
  ];
  await acct(t, nas, [...attrs, ['Acct-Status-Type', 'Start']]);
  await acct(t, nas, [...attrs, ['Acct-Status-Type', 'Interim-Update'], ...usage(5_000_000, 1_815_744, 60)]);
  const dm = await coa.next();
  t.equal(dm?.packet.code, RadiusCode.DisconnectRequest, 'Disconnect-Request received');
  t.same(dm!.packet.attributes.find((a) => a.name === 'Acct-Session-Id')?.raw, asid, 'Acct-Session-Id: the octets the NAS sent');
  t.same(dm!.packet.attributes.find((a) => a.name === 'NAS-Identifier')?.raw, nasId, 'NAS-Identifier: the octets the NAS sent');
  t.equal(get(dm!.packet, 'User-Name'), 'alice', 'valid text still sent as text');
  await acct(t, nas, [...attrs, ['Acct-Status-Type', 'Stop'], ...usage(5_000_000, 1_900_000, 65)]);
  t.equal((await money(h.core.store, accountId)).reserved, 0n, 'the Stop closes that same session');
});

t.test('Disconnect-NAK with Error-Cause is counted, and the next interim tries again', async (t) => {
  const { h, nas, coa } = await setup(t, 'mikrotik', (): CoaAnswer => ({ code: 'nak', errorCause: 'Session-Context-Not-Found' }));
  await makeSubscriber(h, { username: 'alice', balance: 10_000n });
  await acct(t, nas, [...base('alice', 'nak-1'), ['Acct-Status-Type', 'Start']]);
  await acct(t, nas, [...base('alice', 'nak-1'), ['Acct-Status-Type', 'Interim-Update'], ...usage(3_000_000, 0, 60)]);
  const first = await coa.next();
  t.equal(first?.packet.code, RadiusCode.DisconnectRequest);
  t.equal(await metricReaches(h, 'ocs_radius_coa_total', { kind: 'disconnect', result: 'nak' }, 1), 1, 'NAK counted');
  await acct(t, nas, [...base('alice', 'nak-1'), ['Acct-Status-Type', 'Interim-Update'], ...usage(3_500_000, 0, 120)]);
  const second = await coa.next();
  t.equal(second?.packet.code, RadiusCode.DisconnectRequest, 'sent again after the NAK');
  t.equal(await metricReaches(h, 'ocs_radius_coa_total', { kind: 'disconnect', result: 'nak' }, 2), 2);
});

t.test('a NAS that does not answer: the same Disconnect-Request retransmitted with backoff, then a timeout counted', async (t) => {
  const { h, nas, coa } = await setup(t, 'generic', () => ({ code: 'none' }));
  await makeSubscriber(h, { username: 'alice', balance: 10_000n });
  await acct(t, nas, [...base('alice', 'to-1'), ['Acct-Status-Type', 'Start']]);
  await acct(t, nas, [...base('alice', 'to-1'), ['Acct-Status-Type', 'Interim-Update'], ...usage(3_000_000, 0, 60)]);
  const copies = [await coa.next(), await coa.next(), await coa.next()];
  t.ok(copies.every((c) => c !== undefined), 'three transmissions (1 + 2 retries)');
  t.ok(copies.every((c) => c!.raw.equals(copies[0]!.raw)), 'identical octets each time (RFC 5080)');
  const spread = copies[2]!.at - copies[0]!.at;
  t.ok(spread >= 400, `with backoff 150 + 300 ms (${spread} ms from the first copy to the third)`);
  t.equal(await metricReaches(h, 'ocs_radius_coa_total', { kind: 'disconnect', result: 'timeout' }, 1), 1, 'then a timeout counted');
  t.equal(coa.received.length, 3, 'no more copies');
});

t.test('pppd has no CoA listener: nothing is sent on depletion (its Session-Timeout is the brake)', async (t) => {
  const { h, nas, coa } = await setup(t, 'pppd', () => ({ code: 'ack' }));
  await makeSubscriber(h, { username: 'alice', balance: 10_000n });
  await acct(t, nas, [...base('alice', 'ppp-1'), ['Acct-Status-Type', 'Start']]);
  await acct(t, nas, [...base('alice', 'ppp-1'), ['Acct-Status-Type', 'Interim-Update'], ...usage(3_000_000, 0, 60)]);
  await sleep(300);
  t.equal(coa.received.length, 0);
  t.equal(await metricValue(h, 'ocs_radius_coa_total'), 0);
});

t.test('a capped Mikrotik session is restored by CoA after a top-up; an operator abort sends Disconnect', async (t) => {
  const { h, nas, coa } = await setup(t, 'mikrotik', () => ({ code: 'ack' }));
  const { accountId } = await makeSubscriber(h, { username: 'alice', balance: 20_000n });
  const accept = await nas.pap('alice', 'alicepw');
  t.equal(get(accept!.packet, 'Mikrotik-Total-Limit'), affordableOctets(20_000n), 'capped at 4 MiB');
  const cls = accept!.packet.attributes.find((a) => a.name === 'Class')!.raw;
  await acct(t, nas, [...base('alice', 'cap-1'), ['Class', cls], ['Acct-Status-Type', 'Start']]);
  t.same(await money(h.core.store, accountId), { balance: 0n, reserved: 20_000n }, 'the last 4 MiB reserved: a final grant');
  await acct(t, nas, [...base('alice', 'cap-1'), ['Class', cls], ['Acct-Status-Type', 'Interim-Update'], ...usage(1_000_000, 1_000_000, 60)]);
  t.equal(coa.received.length, 0, 'nothing sent while the cap holds');

  const top = await h.core.store.topup(accountId, 10_000_000n);
  t.ok(top && top.reauth.length === 1, 'the core lists the session for re-authorization');
  await h.events.publish({ type: 'reauth', accountId, sessions: top!.reauth, reason: 'topup' });
  const restore = await coa.next();
  t.equal(restore?.packet.code, RadiusCode.CoaRequest, 'CoA-Request after the top-up');
  t.ok(restore!.verified);
  t.equal(get(restore!.packet, 'Acct-Session-Id'), 'cap-1');
  const { balance } = await money(h.core.store, accountId);
  const limit = 2_000_000 + affordableOctets(balance);
  t.equal(get(restore!.packet, 'Mikrotik-Total-Limit'), limit % 2 ** 32, 'the new cap: usage so far + what the balance now affords');
  t.equal(get(restore!.packet, 'Mikrotik-Total-Limit-Gigawords'), Math.floor(limit / 2 ** 32));
  t.equal(await metricReaches(h, 'ocs_radius_coa_total', { kind: 'coa', result: 'ack' }, 1), 1);

  const [open] = await h.core.store.listSessions(accountId);
  await h.events.publish({ type: 'abort', accountId, sessions: [open.id as string], reason: 'operator' });
  const dm = await coa.next();
  t.equal(dm?.packet.code, RadiusCode.DisconnectRequest, 'Disconnect-Request on an operator abort');
  t.equal(get(dm!.packet, 'Acct-Session-Id'), 'cap-1');
});

t.test('fair usage crossed → CoA-Request with the throttle attributes, once', async (t) => {
  const { h, nas, coa } = await setup(t, 'mikrotik', () => ({ code: 'ack' }), { fairUsage: { thresholdOctets: 10 * 1024 * 1024 } });
  await makeSubscriber(h, { username: 'alice', balance: 10_000_000n });
  await acct(t, nas, [...base('alice', 'fu-1'), ['Acct-Status-Type', 'Start']]);
  await acct(t, nas, [...base('alice', 'fu-1'), ['Acct-Status-Type', 'Interim-Update'], ...usage(5_000_000, 1_000_000, 60)]);
  t.equal(coa.received.length, 0, 'below the threshold');
  await acct(t, nas, [...base('alice', 'fu-1'), ['Acct-Status-Type', 'Interim-Update'], ...usage(9_000_000, 2_000_000, 120)]);
  const c = await coa.next();
  t.equal(c?.packet.code, RadiusCode.CoaRequest);
  t.equal(get(c!.packet, 'Mikrotik-Rate-Limit'), '1M/1M');
  await acct(t, nas, [...base('alice', 'fu-1'), ['Acct-Status-Type', 'Interim-Update'], ...usage(12_000_000, 3_000_000, 180)]);
  await sleep(200);
  t.equal(coa.received.length, 1, 'not sent again once applied');
  t.equal(getEnum(c!.packet, 'Service-Type'), undefined);
});
