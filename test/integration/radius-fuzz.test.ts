// Hostile input: 10,000 mutated valid packets and random garbage at both ports, a flood beyond the
// in-flight bound, and caps on every map. The server must stay up, count what it drops, and still
// answer a valid request afterwards.
import { readFileSync } from 'node:fs';
import t from 'tap';

import { chapPassword } from '../../src/radius/authenticator.js';
import { encode } from '../../src/radius/codec.js';
import { startRedis } from '../helpers/redis.js';
import { metricValue, NasSim, SECRET, makeSubscriber, sleep, startHarness } from '../helpers/radius-harness.js';

const redis = await startRedis();
t.teardown(() => redis.stop());

/** Deterministic PRNG (mulberry32) so a failure can be replayed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = a;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

const FIXTURES = new URL('../fixtures/radius/pppd-2.4.9-radius.so/', import.meta.url);
const fixture = (name: string): Buffer => Buffer.from(readFileSync(new URL(name, FIXTURES), 'utf8').trim(), 'hex');

function seeds(): Array<{ buf: Buffer; port: 'auth' | 'acct' }> {
  const opts = { secret: SECRET };
  const session: Array<[string, string | number]> = [
    ['User-Name', 'alice'],
    ['Acct-Session-Id', 'fuzz-1'],
    ['NAS-Identifier', 'fuzz-nas'],
    ['NAS-Port', 1],
  ];
  return [
    { port: 'auth', buf: encode({ code: 'Access-Request', identifier: 1, attributes: [['User-Name', 'alice'], ['User-Password', 'alicepw'], ['NAS-Port', 0]] }, opts) },
    { port: 'auth', buf: encode({ code: 'Access-Request', identifier: 2, attributes: [['User-Name', 'alice'], ['CHAP-Password', chapPassword(1, 'alicepw', Buffer.alloc(16, 7))], ['CHAP-Challenge', Buffer.alloc(16, 7)]] }, { ...opts, messageAuthenticator: true }) },
    { port: 'auth', buf: encode({ code: 'Access-Request', identifier: 3, attributes: [['Calling-Station-Id', '+46700000001'], ['Mikrotik-Rate-Limit', '1M/1M']] }, opts) },
    { port: 'auth', buf: encode({ code: 'Status-Server', identifier: 4 }, opts) },
    { port: 'acct', buf: encode({ code: 'Accounting-Request', identifier: 5, attributes: [...session, ['Acct-Status-Type', 'Start']] }, opts) },
    { port: 'acct', buf: encode({ code: 'Accounting-Request', identifier: 6, attributes: [...session, ['Acct-Status-Type', 'Interim-Update'], ['Acct-Input-Octets', 5], ['Acct-Input-Gigawords', 4294967295], ['Acct-Session-Time', 1]] }, opts) },
    { port: 'acct', buf: encode({ code: 'Accounting-Request', identifier: 7, attributes: [...session, ['Acct-Status-Type', 'Stop'], ['Acct-Output-Octets', 100]] }, opts) },
    { port: 'acct', buf: encode({ code: 'Accounting-Request', identifier: 8, attributes: [['Acct-Status-Type', 'Accounting-On'], ['NAS-Identifier', 'fuzz-nas']] }, opts) },
    { port: 'auth', buf: fixture('access-request-pap.hex') },
    { port: 'auth', buf: fixture('access-request-chap.hex') },
    { port: 'acct', buf: fixture('accounting-start.hex') },
    { port: 'acct', buf: fixture('accounting-stop.hex') },
  ];
}

function mutate(src: Buffer, rnd: () => number): Buffer {
  const int = (n: number): number => Math.floor(rnd() * n);
  let b = Buffer.from(src);
  const rounds = 1 + int(4);
  for (let r = 0; r < rounds; r++) {
    switch (int(9)) {
      case 0: // flip bits
        for (let i = 0, n = 1 + int(8); i < n; i++) b[int(b.length)] ^= 1 << int(8);
        break;
      case 1: // random bytes
        for (let i = 0, n = 1 + int(4); i < n; i++) b[int(b.length)] = int(256);
        break;
      case 2: // truncate
        b = b.subarray(0, int(b.length + 1));
        break;
      case 3: // append junk
        b = Buffer.concat([b, Buffer.from(Array.from({ length: 1 + int(64) }, () => int(256)))]);
        break;
      case 4: // Length field
        if (b.length >= 4) b.writeUInt16BE(int(5000), 2);
        break;
      case 5: // an attribute length byte
        if (b.length > 21) b[20 + int(b.length - 20)] = int(3);
        break;
      case 6: // a huge VSA / odd attribute
        b = Buffer.concat([b, Buffer.from([26, 2 + int(20)]), Buffer.from(Array.from({ length: int(24) }, () => int(256)))]);
        if (b.length >= 4) b.writeUInt16BE(Math.min(b.length, 4096), 2);
        break;
      case 7: // code
        b[0] = [1, 4, 12, 40, 43, 2, 5, int(256)][int(8)];
        break;
      default: // duplicate a slice of attributes
        if (b.length > 24) {
          const from = 20 + int(b.length - 20);
          b = Buffer.concat([b, b.subarray(from, Math.min(b.length, from + int(40)))]);
          if (b.length >= 4 && rnd() < 0.5) b.writeUInt16BE(Math.min(b.length, 4096), 2);
        }
    }
  }
  return b;
}

t.test('10,000 mutated valid packets and garbage: no crash, drops counted, a valid request answered afterwards', async (t) => {
  const h = await startHarness(t, { redis, clients: [{ address: '127.0.0.1', secret: SECRET, vendor: 'generic', coaPort: 9 }], coa: { timeoutMs: 50, retries: 0 } });
  await makeSubscriber(h, { username: 'alice', balance: 10_000_000n, msisdn: '46700000001' });
  const nas = await NasSim.open(t, h, '127.0.0.1');
  const rnd = prng(0x5eed);
  const base = seeds();
  const ports = { auth: h.server.authPort, acct: h.server.acctPort };
  let sent = 0;
  for (let i = 0; i < 10_000; i++) {
    const garbage = rnd() < 0.15;
    const s = base[Math.floor(rnd() * base.length)];
    const buf = garbage ? Buffer.from(Array.from({ length: Math.floor(rnd() * (rnd() < 0.1 ? 4200 : 120)) }, () => Math.floor(rnd() * 256))) : mutate(s.buf, rnd);
    if (buf.length === 0) continue;
    nas.socket.send(buf, garbage ? (rnd() < 0.5 ? ports.auth : ports.acct) : ports[s.port], '127.0.0.1');
    sent++;
    if (i % 100 === 99) await sleep(5); // pace: keep the kernel's receive buffer from dropping them for us
  }
  for (let i = 0; i < 100 && h.server.inFlight > 0; i++) await sleep(50);
  t.equal(h.server.inFlight, 0, 'nothing stuck in flight');
  const malformed = await metricValue(h, 'ocs_radius_dropped_total', { reason: 'malformed' });
  const badAuth = await metricValue(h, 'ocs_radius_dropped_total', { reason: 'bad-authenticator' });
  t.ok(malformed > 500, `malformed packets dropped and counted (${malformed})`);
  t.ok(badAuth > 500, `forged ones dropped and counted (${badAuth})`);
  t.comment(`sent ${sent}; dropped malformed ${malformed}, bad-authenticator ${badAuth}, unexpected-code ${await metricValue(h, 'ocs_radius_dropped_total', { reason: 'unexpected-code' })}`);

  // A fresh socket: late replies to the fuzzed requests (same Identifiers) still arrive on the old one.
  const after = await NasSim.open(t, h, '127.0.0.1');
  const ok = await after.pap('alice', 'alicepw');
  t.equal(ok?.packet.code, 2, 'a valid Access-Request is still answered');
  const acct = await after.acct([['User-Name', 'alice'], ['Acct-Session-Id', 'after-fuzz'], ['Acct-Status-Type', 'Start']]);
  t.equal(acct?.packet.code, 5, 'a valid Accounting-Request is still answered');
});

t.test('a flood beyond maxInFlight is dropped and counted; maps stay within their caps', async (t) => {
  await redis.client.flushall();
  const h = await startHarness(t, {
    redis,
    clients: [{ address: '127.0.0.1', secret: SECRET, vendor: 'generic', coaPort: 9 }],
    maxInFlight: 4,
    maxSessions: 50,
    duplicateCacheSize: 100,
  });
  await makeSubscriber(h, { username: 'alice', balance: 100_000_000n });
  const nas = await NasSim.open(t, h, '127.0.0.1');
  let replies = 0;
  nas.socket.on('message', () => replies++);
  for (let i = 0; i < 400; i++) nas.socket.send(nas.buildAuth([['User-Name', 'alice'], ['User-Password', 'alicepw']], { identifier: i & 0xff }), h.server.authPort, '127.0.0.1');
  for (let i = 0; i < 100 && h.server.inFlight > 0; i++) await sleep(50);
  await sleep(100);
  const overload = await metricValue(h, 'ocs_radius_dropped_total', { reason: 'overload' });
  t.ok(overload > 0, `overload drops counted (${overload})`);
  t.equal(await metricValue(h, 'ocs_overload_rejections_total', { protocol: 'radius' }), overload);
  t.ok(replies + overload <= 400 && replies > 0, `${replies} answered, ${overload} dropped`);
  const after = await nas.pap('alice', 'alicepw');
  t.equal(after?.packet.code, 2, 'answered again once the flood is over');

  // 200 sessions started: this node remembers at most 50; the duplicate cache at most 100 replies.
  for (let i = 0; i < 200; i++) {
    const r = await nas.acct([['User-Name', 'alice'], ['Acct-Session-Id', `cap-${i}`], ['NAS-Port', i], ['Acct-Status-Type', 'Start']]);
    if (r?.packet.code !== 5) t.fail(`Start ${i} not answered`);
  }
  const server = h.server as unknown as { sessions: { size: number }; dup: { auth: { size: number }; acct: { size: number } } };
  t.ok(server.sessions.size <= 50, `session table capped (${server.sessions.size})`);
  t.ok(server.dup.acct.size <= 100 && server.dup.auth.size <= 100, `duplicate caches capped (${server.dup.auth.size}, ${server.dup.acct.size})`);
  // A session this node forgot is recovered from the core: its interim charges only the delta.
  const r = await nas.acct([['User-Name', 'alice'], ['Acct-Session-Id', 'cap-0'], ['NAS-Port', 0], ['Acct-Status-Type', 'Interim-Update'], ['Acct-Input-Octets', 1000]]);
  t.equal(r?.packet.code, 5);
});
