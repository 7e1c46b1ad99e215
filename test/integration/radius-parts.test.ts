// The RADIUS front end's parts, by named cases: counters (Gigawords, 32-bit wraps), session keys,
// our Class, event time, NAS lookup, the RFC 5080 duplicate cache, the bounded session table, the
// per-session lock, and the RFC 5176 client against a UDP socket answering ACK / NAK / forgeries.
import dgram from 'node:dgram';
import t from 'tap';

import type { RadiusClientConfig } from '../../src/config/schema.js';
import { createLogger } from '../../src/lib/logger.js';
import { Metrics } from '../../src/metrics/metrics.js';
import { canonicalAddress, NasClients } from '../../src/radius/clients.js';
import { CoaClient } from '../../src/radius/coa-client.js';
import { decode, encode } from '../../src/radius/codec.js';
import { DuplicateCache } from '../../src/radius/dedup.js';
import { KeyedLock } from '../../src/radius/keyed-lock.js';
import { nasProfile, splitGigawords } from '../../src/radius/nas-profiles.js';
import { accountingRequestId, advanceCounter, coreSessionId, eventTime, makeClass, msisdnFrom, parseClass, sessionKey } from '../../src/radius/session.js';
import { SessionTable, type RadiusSession } from '../../src/radius/sessions.js';

const G = 2 ** 32;

t.test('advanceCounter: cumulative counters, Gigawords, 32-bit wraps', async (t) => {
  const cases: Array<[string, number, { low: number | undefined; gigawords: number | undefined }, { total: number; wrapped: boolean; backwards: boolean }, boolean?]> = [
    ['first report', 0, { low: 1000, gigawords: undefined }, { total: 1000, wrapped: false, backwards: false }],
    ['growing, no Gigawords', 1000, { low: 5000, gigawords: undefined }, { total: 5000, wrapped: false, backwards: false }],
    ['pppd wrap past 4 GiB', 4_000_000_000, { low: 100, gigawords: undefined }, { total: G + 100, wrapped: true, backwards: false }],
    ['after one wrap, growing', G + 100, { low: 2000, gigawords: undefined }, { total: G + 2000, wrapped: false, backwards: false }],
    ['second wrap', G + 4_000_000_000, { low: 7, gigawords: undefined }, { total: 2 * G + 7, wrapped: true, backwards: false }],
    ['unchanged (idle)', G + 5, { low: 5, gigawords: undefined }, { total: G + 5, wrapped: false, backwards: false }],
    ['Gigawords 1', 3_000_000_000, { low: 5, gigawords: 1 }, { total: G + 5, wrapped: false, backwards: false }],
    ['Gigawords 0 then low grows', 10, { low: 20, gigawords: 0 }, { total: 20, wrapped: false, backwards: false }],
    ['backwards with Gigawords: ignored', G + 500, { low: 100, gigawords: 1 }, { total: G + 500, wrapped: false, backwards: true }],
    // A counter the NAS left out (a Start, a time-only interim) reports nothing; it is not a wrap to 0.
    ['counter left out', 3_000_000, { low: undefined, gigawords: undefined }, { total: 3_000_000, wrapped: false, backwards: false }],
    ['counter left out, after a wrap', G + 7, { low: undefined, gigawords: undefined }, { total: G + 7, wrapped: false, backwards: false }],
    // A stale report (a late copy, or a Start): lower is ignored, not taken as a 4 GiB wrap.
    ['stale, lower: ignored', 3_000_000, { low: 1_000_000, gigawords: undefined }, { total: 3_000_000, wrapped: false, backwards: true }, true],
    ['stale, higher: still counted', 3_000_000, { low: 4_000_000, gigawords: undefined }, { total: 4_000_000, wrapped: false, backwards: false }, true],
    ['stale with Gigawords, lower: ignored', G + 500, { low: 100, gigawords: 1 }, { total: G + 500, wrapped: false, backwards: true }, true],
  ];
  for (const [name, prev, rep, want, stale] of cases) t.same(advanceCounter(prev, rep, stale), want, name);
});

t.test('session keys keep pppd sessions with one Acct-Session-Id apart', async (t) => {
  const a = sessionKey('id:bnas', 0, '%lX6b0832f0%hX', 'alice');
  const b = sessionKey('id:bnas', 1, '%lX6b0832f0%hX', 'alice');
  const c = sessionKey('id:bnas', 0, '%lX6b0832f0%hX', 'bob');
  const d = sessionKey('id:other', 0, '%lX6b0832f0%hX', 'alice');
  t.equal(new Set([a, b, c, d]).size, 4, 'NAS, port and user all count');
  t.not(sessionKey('n', 1, 'a|b', 'c'), sessionKey('n', 1, 'a', 'b|c'), "a '|' in a field cannot make two keys equal");
  // The key is stored with the session and hashed into its core id: nodes of every version must spell it alike.
  t.equal(sessionKey('id:bnas', 0, '%lX6b0832f0%hX', 'alice'), 'id:bnas|0|%lX6b0832f0%hX|alice');
  t.equal(sessionKey('id:b|n\\as', undefined, 'x\\|y', undefined), 'id:b\\|n\\\\as|-|x\\\\\\|y|-', "'\\' and '|' escaped, absent parts '-'");
  t.not(coreSessionId(a, '%lX6b0832f0%hX'), coreSessionId(b, '%lX6b0832f0%hX'));
  t.match(coreSessionId(a, '%lX6b0832f0%hX'), /^radius:%lX6b0832f0%hX:[A-Za-z0-9_-]{22}$/);
});

t.test('source addresses in canonical form, remembered per NAS table, garbage refused every time', async (t) => {
  const clients = new NasClients([{ address: '10.0.0.0/8', secret: 's', vendor: 'generic', coaPort: 3799 }]);
  for (let i = 0; i < 2; i++) {
    t.equal(canonicalAddress('::ffff:10.0.0.1'), '10.0.0.1', `IPv4-mapped (${i})`);
    t.equal(canonicalAddress('2001:db8:0:0:0:0:0:1'), '2001:db8::1', `IPv6 shortened (${i})`);
    t.equal(canonicalAddress('10.0.0.300'), undefined, `not an address (${i})`);
    t.match(clients.identify('::ffff:10.0.0.1'), { source: '10.0.0.1', client: { address: '10.0.0.0/8' } }, `identified (${i})`);
    t.same(clients.identify('2001:db8:0:0:0:0:0:1'), { source: '2001:db8::1', client: undefined }, `canonical, no client (${i})`);
    t.same(clients.identify('10.0.0.300'), { source: '10.0.0.300', client: undefined }, `not an address: kept as given (${i})`);
  }
  // More distinct sources than it remembers: still right.
  for (let i = 0; i < 5000; i++) clients.identify(`::ffff:10.${i >> 8}.${i & 255}.1`);
  t.equal(clients.identify('::ffff:10.0.0.1').source, '10.0.0.1');
  t.equal(clients.identify('::ffff:10.19.135.1').source, '10.19.135.1');
  t.equal(clients.lookup('::ffff:10.19.135.1')?.address, '10.0.0.0/8');
});

t.test('session and request ids are the ones earlier versions derived (they are stored in Redis)', async (t) => {
  // Values computed with createHash('sha256').update(…) as the ids were made before the one-shot
  // digest: a session open across an upgrade keeps its id, and a retransmission its request id.
  t.equal(coreSessionId('nas-1|7|%lX6b0832f0%hX|user@ex', '%lX6b0832f0%hX'), 'radius:%lX6b0832f0%hX:Jc46BPDE0_06DMLNFg9IYs');
  const cls = Buffer.from('6f6373313a4142', 'hex');
  const usage = (inLow: number | undefined, inGw: number | undefined, outLow: number | undefined, time: number | undefined) => ({
    input: { low: inLow, gigawords: inGw }, output: { low: outLow, gigawords: undefined }, sessionTime: time,
  });
  t.equal(accountingRequestId('radius:abc:xyz', 'Interim-Update', usage(4294967295, 1, 12, 360), cls), 'radius:JfpJA4QIN-2foL3O5Q-6ew0xJ5NT2Ojt');
  t.equal(accountingRequestId('radius:Ünïcode:q', 'Stop', usage(5, undefined, 6, undefined), undefined), 'radius:S8-ZiHrry7d0XeEgkkHYsrxUZVcxPhKv', 'UTF-8, no Class');
  // An id text too long for the scratch buffer takes the other path to the same digest.
  const long = 'x'.repeat(5000);
  t.equal(accountingRequestId(long, 'Stop', usage(1, undefined, 2, 3), cls), 'radius:1S8llzKU_yGIek6uyjP0zzBB-Ro8QtYV');
  t.not(accountingRequestId(long, 'Stop', usage(1, undefined, 2, 3), cls), accountingRequestId(long, 'Stop', usage(1, undefined, 2, 4), cls));
  // Counters left out (a Start) give the id they gave when they were read as 0.
  t.equal(accountingRequestId('radius:abc:xyz', 'Start', usage(undefined, undefined, undefined, undefined), cls), accountingRequestId('radius:abc:xyz', 'Start', usage(0, undefined, 0, undefined), cls));
});

t.test('Class carries the authorized identity; foreign and oversized ones are handled', async (t) => {
  t.same(parseClass(makeClass({ kind: 'username', value: 'alice:with:colons' })), { identity: { kind: 'username', value: 'alice:with:colons' } });
  t.same(parseClass(makeClass({ kind: 'msisdn', value: '46700000001' })), { identity: { kind: 'msisdn', value: '46700000001' } });
  t.not(makeClass({ kind: 'username', value: 'a' }).toString(), makeClass({ kind: 'username', value: 'a' }).toString(), 'a nonce per authorization');
  const long = makeClass({ kind: 'username', value: 'x'.repeat(300) });
  t.ok(long.length <= 253);
  t.same(parseClass(long), {}, 'too long to carry: ours, without an identity');
  t.equal(parseClass(Buffer.from('FreeRADIUS-class')), undefined);
  t.equal(parseClass(undefined), undefined);
});

t.test('event time: Event-Timestamp wins, else arrival minus Acct-Delay-Time', async (t) => {
  const now = 1_700_000_100_000;
  const pkt = (attrs: Array<[string, number | Date]>) => decode(encode({ code: 'Accounting-Request', identifier: 1, attributes: attrs }, { secret: 's' }));
  t.equal(eventTime(pkt([['Acct-Delay-Time', 30]]), now), now - 30_000);
  t.equal(eventTime(pkt([['Event-Timestamp', new Date(1_700_000_000_000)], ['Acct-Delay-Time', 30]]), now), 1_700_000_000_000);
  t.equal(eventTime(pkt([['Acct-Delay-Time', 10_000_000]]), now), now, 'an absurd delay is ignored');
  t.equal(eventTime(pkt([]), now), now);
});

t.test('Calling-Station-Id as an MSISDN', async (t) => {
  t.equal(msisdnFrom('+46700000001'), '46700000001');
  t.equal(msisdnFrom('46 700 000 001'), '46700000001');
  t.equal(msisdnFrom('00-11-22-33-44-55'), undefined);
  t.equal(msisdnFrom('00:11:22:33:44:55'), undefined);
  t.equal(msisdnFrom(undefined), undefined);
});

t.test('NAS lookup: most specific block wins, IPv4-mapped sources, unknown sources', async (t) => {
  const c = (address: string, vendor: RadiusClientConfig['vendor'], secret = 's'): RadiusClientConfig => ({ address, secret, vendor, coaPort: 3799 });
  const clients = new NasClients([c('10.0.0.0/8', 'generic', 'wide'), c('10.1.2.3', 'mikrotik', 'one'), c('10.1.0.0/16', 'chillispot'), c('2001:db8::/32', 'pppd')]);
  t.equal(clients.lookup('10.1.2.3')?.profile.vendor, 'mikrotik');
  t.equal(clients.lookup('10.1.2.4')?.profile.vendor, 'chillispot');
  t.equal(clients.lookup('10.200.0.1')?.secret, 'wide');
  t.equal(clients.lookup('::ffff:10.1.2.3')?.profile.vendor, 'mikrotik', 'IPv4-mapped IPv6');
  t.equal(clients.lookup('2001:db8::7')?.profile.vendor, 'pppd');
  t.equal(clients.lookup('192.0.2.1'), undefined);
  t.equal(clients.lookup('not an address'), undefined);
  t.equal(clients.lookup('192.0.2.1'), undefined, 'cached negative answer');
});

t.test('NAS profiles: vendor volume attributes with Gigawords', async (t) => {
  t.same(splitGigawords(5 * G + 7), { low: 7, gigawords: 5 });
  t.same(nasProfile('mikrotik').volumeQuota(G + 1), [['Mikrotik-Total-Limit', 1], ['Mikrotik-Total-Limit-Gigawords', 1]]);
  t.same(nasProfile('chillispot').volumeQuota(1000), [['ChilliSpot-Max-Total-Octets', 1000]]);
  t.same(nasProfile('chillispot').volumeQuota(2 * G), [['ChilliSpot-Max-Total-Octets', 0], ['ChilliSpot-Max-Total-Gigawords', 2]]);
  t.same(nasProfile('generic').volumeQuota(1000), []);
  t.equal(nasProfile('pppd').dynamicAuthorization, false);
});

t.test('duplicate cache (RFC 5080): pending, answered, forgotten, expired, capped', async (t) => {
  const d = new DuplicateCache(3, 1000);
  const pkt = Buffer.alloc(20, 1);
  const k = DuplicateCache.key('10.0.0.1', 1812, pkt);
  t.not(k, DuplicateCache.key('10.0.0.1', 1813, pkt), 'source port counts');
  t.same(d.check(k, 0), { kind: 'new' });
  t.same(d.check(k, 1), { kind: 'pending' });
  d.answer(k, Buffer.from('reply'), 2);
  t.same(d.check(k, 3), { kind: 'answered', reply: Buffer.from('reply') });
  t.same(d.check(k, 2000), { kind: 'new' }, 'expired');
  d.forget(k);
  t.same(d.check(k, 2001), { kind: 'new' }, 'forgotten when no reply was sent');
  d.acknowledge(k, true, 2002);
  t.same(d.check(k, 2003), { kind: 'acknowledged', messageAuthenticator: true }, 'an Accounting-Response: only whether it had a Message-Authenticator');
  d.forget(k);
  t.same(d.check(k, 2004), { kind: 'acknowledged', messageAuthenticator: true }, 'an answered request is not forgotten');
  const k2 = DuplicateCache.key('10.0.0.2', 1813, pkt);
  d.check(k2, 2005);
  d.acknowledge(k2, false, 2006);
  t.same(d.check(k2, 2007), { kind: 'acknowledged', messageAuthenticator: false });
  const fresh = new DuplicateCache(3, 1000);
  t.same(fresh.lookup(k, 0), { kind: 'new' });
  t.same(fresh.lookup(k, 1), { kind: 'new' }, 'a lookup alone records nothing (a request dropped for overload leaves no entry)');
  t.equal(fresh.size, 0);
  fresh.begin(k, 2);
  t.same(fresh.lookup(k, 3), { kind: 'pending' }, 'begin() records it');
  for (let i = 0; i < 10; i++) d.check(`x${i}`, 2008);
  t.ok(d.size <= 3, 'capped');

  const aged = new DuplicateCache(100, 1000);
  for (let i = 0; i < 5; i++) aged.check(`a${i}`, 10_000);
  aged.check('b', 10_500);
  t.equal(aged.size, 6, 'within the time: kept');
  aged.check('c', 11_200);
  t.equal(aged.size, 2, 'swept by age once their time is past');
});

t.test('session table: capped, closed sessions remembered, sessions by NAS', async (t) => {
  const table = new SessionTable(2, 1000);
  const mk = (key: string, nas: string): RadiusSession => ({
    key,
    coreId: `core-${key}`,
    nasIdentity: nas,
    nasAddress: '127.0.0.1',
    client: { address: '127.0.0.1', secret: 's', profile: nasProfile('generic'), coaPort: 3799 },
    identities: [],
    target: { acctSessionId: key },
    unit: 'octets',
    lastIn: 0,
    lastOut: 0,
    lastSessionTime: 0,
    restricted: false,
    base: { in: 0, out: 0, time: 0 },
    fairUsage: 'none',
    startedAt: 0,
    refreshedAt: 0,
    updatedAt: 0,
  });
  table.put(mk('a', 'n1'), 1);
  table.put(mk('b', 'n1'), 2);
  table.put(mk('c', 'n2'), 3);
  t.equal(table.size, 2);
  t.equal(table.get('a'), undefined, 'least recently used forgotten');
  t.equal(table.byCoreId('core-a'), undefined, 'and out of the core-id index');
  t.equal(table.byCoreId('core-b')?.key, 'b');
  t.same(table.ofNas('n1').map((s) => s.key), ['b']);
  table.close('b', 10);
  t.ok(table.recentlyClosed('b', 500));
  t.notOk(table.recentlyClosed('b', 2000));
  t.equal(table.byCoreId('core-b'), undefined);
  t.same(table.ofNas('n1'), []);
  // Put again after its closing: open, no longer taken as closed; the next put evicts c, not it.
  table.put(mk('b', 'n1'), 20);
  t.notOk(table.recentlyClosed('b', 21));
  table.put(mk('d', 'n2'), 22);
  table.put(mk('b', 'n1'), 23);
  table.put(mk('e', 'n2'), 24);
  t.same([table.get('b')?.key, table.get('d'), table.get('e')?.key], ['b', undefined, 'e'], 'b, put again, outlives d');
  t.same(table.ofNas('n2').map((s) => s.key), ['e'], 'evicted sessions leave their NAS list');

  // The same session object put again and again (each report), and once after a close that came
  // from elsewhere (an Accounting-On while one of its reports was in progress).
  const again = new SessionTable(4, 1000);
  const f = mk('f', 'n3');
  for (let i = 0; i < 3; i++) again.put(f, 100 + i);
  t.equal(f.updatedAt, 102, 'each put stamps the session');
  t.equal(again.byCoreId('core-f'), f);
  again.close('f', 110);
  t.equal(again.byCoreId('core-f'), undefined);
  again.put(f, 120);
  t.equal(again.get('f'), f, 'open again');
  t.notOk(again.recentlyClosed('f', 121), 'no longer taken as closed');
  t.equal(again.byCoreId('core-f'), f, 'back in the core-id index');
  t.same(again.ofNas('n3'), [f], 'and in its NAS list');
});

t.test('keyed lock: one at a time per key, keys in parallel', async (t) => {
  const lock = new KeyedLock();
  const order: string[] = [];
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  await Promise.all([
    lock.run('a', async () => (await sleep(30), order.push('a1'))),
    lock.run('a', async () => order.push('a2')),
    lock.run('b', async () => order.push('b1')),
  ]);
  t.same(order, ['b1', 'a1', 'a2']);
  t.equal(lock.size, 0, 'no entries left');
});

t.test('keyed lock: work that fails, at once or later, lets the next piece of work of its key run', async (t) => {
  const lock = new KeyedLock();
  const order: string[] = [];
  const later = lock.run('a', async () => {
    await new Promise((r) => setTimeout(r, 10));
    throw new Error('later');
  });
  const atOnce = lock.run('a', (() => {
    order.push('a2');
    throw new Error('at once');
  }) as () => Promise<never>);
  const next = lock.run('a', async () => (order.push('a3'), 'a3'));
  t.equal(lock.depth('a'), 3);
  await t.rejects(later, /later/);
  await t.rejects(atOnce, /at once/);
  t.equal(await next, 'a3');
  t.same(order, ['a2', 'a3'], 'each in turn, after the one before it failed');
  const first = lock.run('b', (() => {
    throw new Error('no queue');
  }) as () => Promise<never>);
  await t.rejects(first, /no queue/, 'a synchronous throw with nothing queued is a rejection too');
  await new Promise((r) => setTimeout(r, 0));
  t.equal(lock.size, 0, 'no entries left');
});

t.test('keyed lock: tryRun refuses work beyond a key\'s queue bound, other keys unaffected', async (t) => {
  const lock = new KeyedLock();
  const order: number[] = [];
  let open!: () => void;
  const gate = new Promise<void>((r) => (open = r));
  const runs = Array.from({ length: 5 }, (_, i) => lock.tryRun('a', 3, async () => (await gate, order.push(i), i)));
  t.same(runs.map((r) => r !== undefined), [true, true, true, false, false], 'three queued or running, the rest refused at once');
  t.equal(lock.depth('a'), 3);
  t.ok(lock.tryRun('b', 3, async () => 'b'), 'another key has its own bound');
  open();
  t.same(await Promise.all(runs.slice(0, 3)), [0, 1, 2], 'the accepted ones run, in order');
  t.same(order, [0, 1, 2]);
  t.equal(lock.depth('a'), 0);
  t.ok(lock.tryRun('a', 3, async () => 'again'), 'room again once the queue drained');
  await new Promise((r) => setTimeout(r, 0));
  t.equal(lock.size, 0, 'no entries left');
});

t.test('CoA client: ACK, NAK with Error-Cause, a forged reply ignored, timeout', async (t) => {
  const metrics = new Metrics(false);
  const client = new CoaClient({ log: createLogger('silent'), metrics, timeoutMs: 100, retries: 1 });
  await client.start();
  t.teardown(() => client.stop());
  const nas = dgram.createSocket('udp4');
  await new Promise<void>((r) => nas.bind(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => nas.close(() => r())));
  let mode: 'ack' | 'nak' | 'forged' | 'silent' = 'ack';
  nas.on('message', (msg, rinfo) => {
    const p = decode(msg);
    const secret = mode === 'forged' ? 'not-the-secret' : 's3cret';
    if (mode === 'silent') return;
    const code = mode === 'nak' ? 'Disconnect-NAK' : 'Disconnect-ACK';
    const attributes: Array<[string, string]> = mode === 'nak' ? [['Error-Cause', 'Session-Context-Not-Found']] : [];
    nas.send(encode({ code, identifier: p.identifier, attributes }, { secret, requestAuthenticator: p.authenticator }), rinfo.port, rinfo.address);
  });
  const target = { address: '127.0.0.1', port: nas.address().port, secret: 's3cret' };
  t.same(await client.send('disconnect', target, [['User-Name', 'alice']]), { result: 'ack' });
  mode = 'nak';
  t.same(await client.send('disconnect', target, [['User-Name', 'alice']]), { result: 'nak', errorCause: 503, errorCauseName: 'Session-Context-Not-Found' });
  mode = 'forged';
  t.same(await client.send('disconnect', target, [['User-Name', 'alice']]), { result: 'timeout' }, 'a reply under another secret is not an answer');
  mode = 'silent';
  t.same(await client.send('disconnect', target, [['User-Name', 'alice']]), { result: 'timeout' });
  const data = await metrics.coaSent.get();
  const count = (result: string) => data.values.filter((v) => v.labels.result === result).reduce((s, v) => s + v.value, 0);
  t.same([count('ack'), count('nak'), count('timeout')], [1, 1, 2]);
  t.equal(client.inFlight, 0);
});
