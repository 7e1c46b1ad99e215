// RADIUS authorization over real UDP against the real core: PAP and CHAP, every NAS profile's
// Access-Accept, every Access-Reject with its Reply-Message, and the silent drops (unknown NAS,
// wrong secret, every single-bit flip of an authenticator), each counted.
import t, { type Test } from 'tap';

import { verifyReply } from '../../src/radius/authenticator.js';
import { get, getEnum, getString, type RadiusAttribute, type RadiusPacket } from '../../src/radius/codec.js';
import { parseClass } from '../../src/radius/session.js';
import { money } from '../helpers/core.js';
import { startRedis } from '../helpers/redis.js';
import { affordableOctets, metricReaches, metricValue, NasSim, NO_REPLY_WAIT_MS, SECRET, makeSubscriber, startHarness, sleep, type Harness } from '../helpers/radius-harness.js';

const redis = await startRedis();
t.teardown(() => redis.stop());

const CLIENTS = [
  { address: '127.0.0.1', secret: SECRET, vendor: 'generic' as const, coaPort: 3799 },
  { address: '127.0.0.2', secret: SECRET, vendor: 'mikrotik' as const, coaPort: 3799 },
  { address: '127.0.0.3', secret: SECRET, vendor: 'chillispot' as const, coaPort: 3799 },
  { address: '127.0.0.4', secret: SECRET, vendor: 'pppd' as const, coaPort: 3799 },
];

async function harness(t: Test): Promise<Harness> {
  await redis.client.flushall();
  return startHarness(t, { redis, clients: CLIENTS });
}

function names(p: RadiusPacket): string[] {
  return p.attributes.map((a: RadiusAttribute) => a.name ?? String(a.type));
}

t.test('Access-Accept per NAS profile, for PAP and CHAP', async (t) => {
  const h = await harness(t);
  const balance = 10_000_000n;
  const { accountId } = await makeSubscriber(h, { username: 'alice', balance });
  const affordable = affordableOctets(balance);
  t.equal(affordable, 2_097_152_000, '10 EUR at 0.005 EUR/MiB buy 2000 MiB');

  const generic = await NasSim.open(t, h, '127.0.0.1');
  for (const [how, reply] of [
    ['PAP', await generic.pap('alice', 'alicepw')],
    ['CHAP', await generic.chap('alice', 'alicepw')],
  ] as const) {
    t.equal(reply?.packet.code, 2, `generic ${how}: Access-Accept`);
    const p = reply!.packet;
    t.same(names(p), ['Message-Authenticator', 'Termination-Action', 'Acct-Interim-Interval', 'Class'], `generic ${how}: interim enforcement, no cap`);
    t.equal(getEnum(p, 'Termination-Action'), 'RADIUS-Request');
    t.equal(get(p, 'Acct-Interim-Interval'), 300);
    t.same(parseClass(p.attributes.find((a) => a.name === 'Class')!.raw), { identity: { kind: 'username', value: 'alice' } }, 'Class names the authorized identity');
  }

  const mikrotik = await NasSim.open(t, h, '127.0.0.2');
  const mt = await mikrotik.chap('alice', 'alicepw');
  t.equal(mt?.packet.code, 2, 'mikrotik CHAP: Access-Accept');
  t.same(names(mt!.packet), ['Message-Authenticator', 'Termination-Action', 'Acct-Interim-Interval', 'Class', 'Mikrotik-Total-Limit', 'Mikrotik-Total-Limit-Gigawords']);
  t.equal(get(mt!.packet, 'Mikrotik-Total-Limit'), affordable);
  t.equal(get(mt!.packet, 'Mikrotik-Total-Limit-Gigawords'), 0);

  const chilli = await NasSim.open(t, h, '127.0.0.3');
  const ch = await chilli.pap('alice', 'alicepw');
  t.same(names(ch!.packet), ['Message-Authenticator', 'Termination-Action', 'Acct-Interim-Interval', 'Class', 'ChilliSpot-Max-Total-Octets'], 'chillispot PAP');
  t.equal(get(ch!.packet, 'ChilliSpot-Max-Total-Octets'), affordable);

  const pppd = await NasSim.open(t, h, '127.0.0.4');
  const pp = await pppd.pap('alice', 'alicepw');
  t.same(names(pp!.packet), ['Message-Authenticator', 'Session-Timeout', 'Termination-Action', 'Acct-Interim-Interval', 'Class'], 'pppd: Session-Timeout, no CoA');
  t.equal(get(pp!.packet, 'Session-Timeout'), Math.floor(affordable / 12_500_000), 'what 10 EUR last at 100 Mbit/s');
  const ppChap = await pppd.chap('alice', 'alicepw');
  t.equal(ppChap?.packet.code, 2, 'pppd CHAP: Access-Accept');

  t.same(await money(h.core.store, accountId), { balance, reserved: 0n }, 'authorization alone reserves nothing');

  // More than 4 GiB affordable: Mikrotik-Total-Limit-Gigawords carries the high part.
  await makeSubscriber(h, { username: 'bob', balance: 100_000_000n });
  const big = await mikrotik.pap('bob', 'bobpw');
  const bigAffordable = affordableOctets(100_000_000n);
  t.equal(get(big!.packet, 'Mikrotik-Total-Limit'), bigAffordable % 2 ** 32);
  t.equal(get(big!.packet, 'Mikrotik-Total-Limit-Gigawords'), Math.floor(bigAffordable / 2 ** 32));
  t.equal(Math.floor(bigAffordable / 2 ** 32), 4);
  const bigChilli = await chilli.pap('bob', 'bobpw');
  t.equal(get(bigChilli!.packet, 'ChilliSpot-Max-Total-Gigawords'), 4);

  // A postpaid account with nothing paid yet is authorized on its credit limit.
  await makeSubscriber(h, { username: 'carol', balance: 0n, type: 'postpaid', creditLimit: 1_000_000n });
  const post = await mikrotik.pap('carol', 'carolpw');
  t.equal(get(post!.packet, 'Mikrotik-Total-Limit'), affordableOctets(1_000_000n));

  // Identified by Calling-Station-Id (no password).
  await makeSubscriber(h, { username: 'dave', msisdn: '46700000099', balance: 1_000_000n });
  const byNumber = await generic.auth([['Calling-Station-Id', '+46700000099'], ['NAS-Identifier', 'test-nas']]);
  t.equal(byNumber?.packet.code, 2, 'Calling-Station-Id as MSISDN: Access-Accept');
  t.same(parseClass(byNumber!.packet.attributes.find((a) => a.name === 'Class')!.raw), { identity: { kind: 'msisdn', value: '46700000099' } });

  t.equal(await metricValue(h, 'ocs_requests_total', { protocol: 'radius', command: 'Access-Request', result: 'accept' }), 10);
});

t.test('the Access-Accept is signed for the request, with a Message-Authenticator', async (t) => {
  const h = await harness(t);
  await makeSubscriber(h, { username: 'alice', balance: 1_000_000n });
  const nas = await NasSim.open(t, h, '127.0.0.1');
  const req = nas.buildAuth([['User-Name', 'alice'], ['User-Password', 'alicepw']], { messageAuthenticator: true });
  const raw = await nas.sendRaw(req, nas.serverAuthPort);
  t.same(verifyReply(raw!, req.subarray(4, 20), SECRET, { requireMessageAuthenticator: true }), { ok: true, messageAuthenticator: 'valid' });
  t.notOk(verifyReply(raw!, req.subarray(4, 20), 'other-secret').ok);
});

t.test('Access-Reject with a Reply-Message: unknown, wrong password, CHAP without a sealed password, barred, suspended, out of credit', async (t) => {
  const h = await harness(t);
  await makeSubscriber(h, { username: 'alice', balance: 1_000_000n });
  await makeSubscriber(h, { username: 'old', balance: 1_000_000n, hashOnly: true });
  await makeSubscriber(h, { username: 'barred', balance: 1_000_000n, status: 'barred' });
  await makeSubscriber(h, { username: 'suspended', balance: 1_000_000n, status: 'suspended' });
  await makeSubscriber(h, { username: 'broke', balance: 0n });
  const nas = await NasSim.open(t, h, '127.0.0.1');
  const cases: Array<[string, Promise<{ packet: RadiusPacket } | undefined>, number, string | undefined]> = [
    ['unknown user', nas.pap('mallory', 'x'), 3, 'Authentication failed'],
    ['wrong PAP password', nas.pap('alice', 'alicepx'), 3, 'Authentication failed'],
    ['wrong CHAP password', nas.chap('alice', 'wrong'), 3, 'Authentication failed'],
    ['CHAP for a subscriber with only a password hash', nas.chap('old', 'oldpw'), 3, 'Authentication failed'],
    ['PAP for that subscriber: checked against the hash', nas.pap('old', 'oldpw'), 2, undefined],
    ['PAP with a wrong password against the hash', nas.pap('old', 'oldpx'), 3, 'Authentication failed'],
    ['barred', nas.pap('barred', 'barredpw'), 3, 'Account barred'],
    ['suspended', nas.pap('suspended', 'suspendedpw'), 3, 'Account suspended'],
    ['out of credit', nas.pap('broke', 'brokepw'), 3, 'Out of credit'],
    ['no password and no Calling-Station-Id', nas.auth([['User-Name', 'alice']]), 3, 'Authentication failed'],
    ['a MAC address is not a number', nas.auth([['Calling-Station-Id', '00-11-22-33-44-55']]), 3, 'Authentication failed'],
  ];
  for (const [what, pending, code, message] of cases) {
    const r = await pending;
    t.equal(r?.packet.code, code, `${what}: ${code === 2 ? 'Accept' : 'Reject'}`);
    t.equal(getString(r!.packet, 'Reply-Message'), message, `${what}: Reply-Message`);
  }
  t.equal(await metricValue(h, 'ocs_requests_total', { command: 'Access-Request', result: 'reject' }), 10);
});

t.test('unknown NAS, wrong secret and every single-bit flip of an authenticator: dropped silently and counted', async (t) => {
  const h = await harness(t);
  await makeSubscriber(h, { username: 'alice', balance: 1_000_000n });

  const stranger = await NasSim.open(t, h, '127.0.0.9');
  t.equal(await stranger.pap('alice', 'alicepw', [], NO_REPLY_WAIT_MS), undefined, 'unknown NAS: no answer');
  t.equal(await metricValue(h, 'ocs_radius_dropped_total', { reason: 'unknown-nas' }), 1);

  const wrong = await NasSim.open(t, h, '127.0.0.1', 'not-the-secret');
  t.equal(await wrong.acct([['User-Name', 'alice'], ['Acct-Session-Id', 's'], ['Acct-Status-Type', 'Start']], { timeoutMs: NO_REPLY_WAIT_MS }), undefined, 'Accounting-Request under a wrong secret: no answer');
  t.equal(await wrong.auth([['User-Name', 'alice'], ['User-Password', 'alicepw']], { messageAuthenticator: true, timeoutMs: NO_REPLY_WAIT_MS }), undefined, 'Access-Request with a Message-Authenticator under a wrong secret: no answer');
  t.equal(await metricValue(h, 'ocs_radius_dropped_total', { reason: 'bad-authenticator' }), 2);

  // Every single-bit flip of the Request Authenticator of a valid Accounting-Request, and of the
  // Message-Authenticator-protected Access-Request's authenticator: 2 × 128 packets, none answered.
  const nas = await NasSim.open(t, h, '127.0.0.1');
  let answered = 0;
  nas.socket.on('message', () => answered++);
  const acct = nas.buildAcct([['User-Name', 'alice'], ['Acct-Session-Id', 'flip'], ['Acct-Status-Type', 'Start']], { identifier: 1 });
  const auth = nas.buildAuth([['User-Name', 'alice'], ['User-Password', 'alicepw']], { identifier: 2, messageAuthenticator: true });
  for (const [buf, port] of [
    [acct, h.server.acctPort],
    [auth, h.server.authPort],
  ] as const) {
    for (let bit = 0; bit < 128; bit++) {
      const flipped = Buffer.from(buf);
      flipped[4 + (bit >> 3)] ^= 1 << (bit & 7);
      nas.socket.send(flipped, port, '127.0.0.1');
    }
  }
  const counted = await metricReaches(h, 'ocs_radius_dropped_total', { reason: 'bad-authenticator' }, 2 + 256);
  await sleep(100);
  t.equal(answered, 0, 'no flipped packet answered');
  t.equal(counted, 2 + 256, 'all 256 counted');
  const good = await nas.sendRaw(acct, h.server.acctPort);
  t.equal(good?.[0], 5, 'the unflipped packet is answered');
});
