// Hostile input through the engine of `npm run fuzz` (scripts/fuzz-core.ts): a 10,000-case slice of
// mutated valid packets (the pppd captures, PAP/CHAP Access-Requests, Status-Server, Accounting
// Start/Interim/Stop/On) and garbage at both ports, from 16 sockets, most re-signed after the mutation
// so it reaches the decoder and the handlers, the rest with wrong authenticators. The server must
// stay up, answer or count every datagram, sign every reply right, and still answer afterwards.
// Then a flood beyond the in-flight bound, and caps on every map. OCS_FUZZ_SEED reproduces a run.
import t from 'tap';

import { fuzzRadius, radiusDigest, radiusProbe } from '../../scripts/fuzz-core.js';
import { startRedis } from '../helpers/redis.js';
import { metricValue, NasSim, SECRET, makeSubscriber, sleep, startHarness } from '../helpers/radius-harness.js';

const redis = await startRedis();
t.teardown(() => redis.stop());

const seed = Number(process.env.OCS_FUZZ_SEED ?? Date.now() % 1e9);
const COUNT = 10_000;

t.test(`10,000 mutated RADIUS packets (seed ${seed}): no crash, every one answered or counted, a valid request answered afterwards`, async (t) => {
  const h = await startHarness(t, { redis, clients: [{ address: '127.0.0.1', secret: SECRET, vendor: 'generic', coaPort: 9 }], coa: { timeoutMs: 50, retries: 0 } });
  await makeSubscriber(h, { username: 'alice', balance: 10n ** 15n, msisdn: '46700000001' });
  const opts = { seed, secret: SECRET, user: 'alice', password: 'alicepw', msisdn: '46700000001' };
  const s = await fuzzRadius({ ...opts, host: '127.0.0.1', authPort: h.server.authPort, acctPort: h.server.acctPort, count: COUNT, sockets: 16 });
  for (let i = 0; i < 100 && h.server.inFlight > 0; i++) await sleep(50);
  t.equal(h.server.inFlight, 0, 'nothing stuck in flight');
  const reasons = ['unknown-nas', 'malformed', 'unexpected-code', 'duplicate', 'overload', 'stale', 'busy', 'bad-authenticator', 'internal', 'unavailable'];
  const drops: Record<string, number> = {};
  for (const r of reasons) drops[r] = await metricValue(h, 'ocs_radius_dropped_total', { reason: r });
  const counted = await metricValue(h, 'ocs_radius_dropped_total');
  t.comment(`${s.sent} packets in ${s.seconds.toFixed(1)} s (${s.perSec}/s): ${s.signed} signed, ${s.garbage} garbage; answered ${s.answered} ${JSON.stringify(s.replyCodes)}; dropped and counted ${counted} ${JSON.stringify(drops)}`);
  t.equal(s.sent, COUNT, 'every packet sent');
  t.equal(s.badReplies, 0, `every reply verifies against its request ${JSON.stringify(s.samples)}`);
  t.equal(drops.internal, 0, 'no datagram failed inside the pipeline');
  t.ok(drops.malformed > 500 && drops['bad-authenticator'] > 500, 'malformed and forged packets dropped and counted');
  t.ok(s.answered > COUNT * 0.2, `many answered (${s.answered})`);
  // Each datagram is answered or counted in the drop metric (the kernel may drop a few on a busy box).
  t.ok(s.answered + counted <= s.sent && s.answered + counted >= s.sent * 0.99, `answered ${s.answered} + counted drops ${counted} ≈ sent ${s.sent}`);
  t.equal(radiusDigest(opts, COUNT, 16), s.digest, 'the packets depend only on the seed');

  t.equal(await radiusProbe('127.0.0.1', h.server.authPort, SECRET, 'alice', 'alicepw'), 'accept', 'a valid Access-Request is still answered, from a fresh socket');
  const after = await NasSim.open(t, h, '127.0.0.1');
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
  const overload = (await metricValue(h, 'ocs_radius_dropped_total', { reason: 'overload' })) + (await metricValue(h, 'ocs_radius_dropped_total', { reason: 'stale' }));
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
