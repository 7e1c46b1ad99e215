// Several OCS nodes on one Redis: two RadiusServers, each with its own Redis connection, charging
// core and node id, on one redis-server. A NAS's reports may go to either node (failover, a load
// balancer): reports of one session taken by both nodes are charged once with exact deltas,
// Accounting-On at one node closes the sessions the other one saw, and an account event both nodes
// hear, or a depletion both nodes see, reaches the NAS as exactly one Disconnect/CoA.
// Driven by radclient (freeradius-utils) and a pyrad NAS listener, as test/integration/radius-peers.
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import t, { type Test } from 'tap';

import { radiusKeys } from '../../src/balance/keys.js';
import { RadiusSessionStore } from '../../src/balance/radius-sessions.js';
import { Reaper } from '../../src/core/reaper.js';
import { RadiusCode, get, type RadiusAttributeInput } from '../../src/radius/codec.js';
import type { NasVendor } from '../../src/radius/nas-profiles.js';
import { allCdrs, money } from '../helpers/core.js';
import { startRedis } from '../helpers/redis.js';
import {
  affordableOctets,
  broadbandCost,
  fakeCoaListener,
  makeSubscriber,
  metricValue,
  NasSim,
  SECRET,
  sleep,
  startHarness,
  type Harness,
  type HarnessOptions,
} from '../helpers/radius-harness.js';
import { run, type RunResult } from '../helpers/run.js';

const PYTHON = '/usr/bin/python3'; // Debian's python3-pyrad is installed for the system interpreter
const hasRadclient = spawnSync('radclient', ['-h'], { stdio: 'ignore' }).error === undefined;
if (!hasRadclient) t.fail('radclient not found: apt-get install -y freeradius-utils');
const hasPyrad = spawnSync(PYTHON, ['-c', 'import pyrad.packet'], { stdio: 'ignore' }).status === 0;
if (!hasPyrad) t.fail(`pyrad not importable by ${PYTHON}: apt-get install -y python3-pyrad`);

const redis = await startRedis();
t.teardown(() => redis.stop());

const MIB5 = 5 * 1024 * 1024;
const GIGAWORD = 2 ** 32;

/** Two OCS nodes on the shared Redis, flushed first. */
async function twoNodes(t: Test, vendor: NasVendor, coaPort: number, address = '127.0.0.1', extra: Partial<HarnessOptions> = {}): Promise<[Harness, Harness]> {
  await redis.client.flushall();
  const clients = [{ address, secret: SECRET, vendor, coaPort }];
  const node = (nodeId: string) => startHarness(t, { redis, clients, ownConnection: true, nodeId, coa: { timeoutMs: 150, retries: 2 }, ...extra });
  return [await node('node-a'), await node('node-b')];
}

/** Balance after usage U with a 5 MiB reservation kept ahead (the default quota). */
function afterInterim(initial: bigint, used: number): { balance: bigint; reserved: bigint } {
  return { balance: initial - broadbandCost(used + MIB5), reserved: broadbandCost(used + MIB5) - broadbandCost(used) };
}

/** radclient sending `request` (attribute list in its text form) to a node; the reply must be an Accounting-Response. */
async function radclient(t: Test, h: Harness, kind: 'auth' | 'acct', request: string): Promise<RunResult> {
  const port = kind === 'auth' ? h.server.authPort : h.server.acctPort;
  const filter = kind === 'acct' ? 'Response-Packet-Type == Accounting-Response' : 'Response-Packet-Type == Access-Accept';
  const dir = t.testdir({ 'request.txt': `${request}\n`, 'filter.txt': `${filter}\n` });
  return run('radclient', ['-x', '-t', '4', '-r', '1', '-f', `${join(dir, 'request.txt')}:${join(dir, 'filter.txt')}`, `127.0.0.1:${port}`, kind, SECRET]);
}

async function expectAnswered(t: Test, r: Promise<RunResult>, what: string): Promise<RunResult> {
  const res = await r;
  t.equal(res.code, 0, `${what}: answered as expected`);
  if (res.code !== 0) t.comment(res.stdout + res.stderr);
  return res;
}

async function acct(t: Test, nas: NasSim, attrs: RadiusAttributeInput[], what: string): Promise<void> {
  const r = await nas.acct(attrs);
  t.equal(r?.packet.code, RadiusCode.AccountingResponse, `${what}: Accounting-Response`);
}

t.test('radclient: Start via node A, Interims via B, A (and its retransmission via B), B, Stop via A: exact deltas, one CDR', async (t) => {
  const [a, b] = await twoNodes(t, 'generic', 3799);
  const initial = 100_000_000n;
  const { accountId } = await makeSubscriber(a, { username: 'alice', balance: initial });
  const accept = await expectAnswered(t, radclient(t, a, 'auth', 'User-Name = "alice", User-Password = "alicepw", NAS-Identifier = "bnas-9", NAS-Port = 4'), 'Access-Request at A');
  const cls = /Class = (0x[0-9a-f]+)/.exec(accept.stdout)?.[1];
  t.ok(cls, 'our Class');
  const base = `User-Name = "alice", Acct-Session-Id = "mn-1", NAS-Identifier = "bnas-9", NAS-Port = 4, Framed-IP-Address = 10.0.9.4, Class = ${cls}`;
  const usage = (inO: number, outO: number, time: number): string =>
    `Acct-Input-Octets = ${inO % GIGAWORD}, Acct-Input-Gigawords = ${Math.floor(inO / GIGAWORD)}, Acct-Output-Octets = ${outO % GIGAWORD}, Acct-Output-Gigawords = ${Math.floor(outO / GIGAWORD)}, Acct-Session-Time = ${time}`;

  await expectAnswered(t, radclient(t, a, 'acct', `${base}, Acct-Status-Type = Start`), 'Start at A');
  t.same(await money(a.core.store, accountId), { balance: initial - 25_000n, reserved: 25_000n }, 'Start: 5 MiB reserved');

  await expectAnswered(t, radclient(t, b, 'acct', `${base}, Acct-Status-Type = Interim-Update, ${usage(1_000_000, 3_000_000, 60)}`), 'interim 1 at B');
  t.same(await money(a.core.store, accountId), afterInterim(initial, 4_000_000), 'B charged the 4,000,000 octets since the Start A took');

  await expectAnswered(t, radclient(t, a, 'acct', `${base}, Acct-Status-Type = Interim-Update, ${usage(3_000_000, 5_000_000, 120)}`), 'interim 2 at A');
  t.same(await money(a.core.store, accountId), afterInterim(initial, 8_000_000), 'A charged only the 4,000,000 since B\'s interim (not 8,000,000 from its own last report)');

  await expectAnswered(t, radclient(t, b, 'acct', `${base}, Acct-Status-Type = Interim-Update, Acct-Delay-Time = 3, ${usage(3_000_000, 5_000_000, 120)}`), 'interim 2 again at B (NAS failover)');
  t.same(await money(a.core.store, accountId), afterInterim(initial, 8_000_000), 'the retransmission is charged once');

  const big = GIGAWORD + 1_000_000;
  await expectAnswered(t, radclient(t, b, 'acct', `${base}, Acct-Status-Type = Interim-Update, ${usage(big, 6_000_000, 180)}`), 'interim 3 at B (Input-Gigawords 1)');
  t.same(await money(a.core.store, accountId), afterInterim(initial, big + 6_000_000));

  const total = big + 2_000_000 + 7_000_000;
  await expectAnswered(t, radclient(t, a, 'acct', `${base}, Acct-Status-Type = Stop, Acct-Terminate-Cause = User-Request, ${usage(big + 2_000_000, 7_000_000, 200)}`), 'Stop at A');
  t.same(await money(a.core.store, accountId), { balance: initial - broadbandCost(total), reserved: 0n }, `exactly ${broadbandCost(total)} micro-EUR for ${total} octets`);
  const cdrs = await allCdrs(redis.client);
  t.equal(cdrs.length, 1, 'one CDR');
  t.equal(cdrs[0].used, String(total));
  t.equal(cdrs[0].closeReason, 'User-Request');
  t.equal(await redis.client.zcard(radiusKeys.nasSessions('id:bnas-9')), 0, 'the NAS lists no open session');

  // The Stop retransmitted to B after A answered it: a late report, nothing charged.
  await expectAnswered(t, radclient(t, b, 'acct', `${base}, Acct-Status-Type = Stop, Acct-Delay-Time = 5, Acct-Terminate-Cause = User-Request, ${usage(big + 2_000_000, 7_000_000, 200)}`), 'Stop again at B');
  t.same(await money(a.core.store, accountId), { balance: initial - broadbandCost(total), reserved: 0n });
  t.equal((await allCdrs(redis.client)).length, 1, 'still one CDR');
});

t.test('a node charges its own session\'s next interim in one step, and re-reads the state when the other node took a report since', async (t) => {
  const [a, b] = await twoNodes(t, 'generic', 3799);
  const initial = 100_000_000n;
  const { accountId } = await makeSubscriber(a, { username: 'alice', balance: initial });
  const base = 'User-Name = "alice", Acct-Session-Id = "mn-2", NAS-Identifier = "bnas-9", NAS-Port = 5';
  const interim = (inO: number, time: number): string => `${base}, Acct-Status-Type = Interim-Update, Acct-Input-Octets = ${inO}, Acct-Output-Octets = 0, Acct-Session-Time = ${time}`;

  await expectAnswered(t, radclient(t, a, 'acct', `${base}, Acct-Status-Type = Start`), 'Start at A');
  await expectAnswered(t, radclient(t, a, 'acct', interim(1_000_000, 60)), 'interim 1 at A');
  await expectAnswered(t, radclient(t, a, 'acct', interim(2_000_000, 120)), 'interim 2 at A (one step)');
  t.same(await money(a.core.store, accountId), afterInterim(initial, 2_000_000), 'A: 2,000,000 octets');
  await expectAnswered(t, radclient(t, b, 'acct', interim(3_500_000, 180)), 'interim 3 at B');
  t.same(await money(a.core.store, accountId), afterInterim(initial, 3_500_000), 'B: the 1,500,000 since A\'s report');
  await expectAnswered(t, radclient(t, a, 'acct', interim(4_000_000, 240)), 'interim 4 at A (its counters are stale)');
  t.same(await money(a.core.store, accountId), afterInterim(initial, 4_000_000), 'A charged 500,000 (from B\'s totals), not 2,000,000 from its own');
  await expectAnswered(t, radclient(t, b, 'acct', interim(4_100_000, 300)), 'interim 5 at B (its counters are stale)');
  t.same(await money(a.core.store, accountId), afterInterim(initial, 4_100_000), 'B charged 100,000, not 600,000');
  await expectAnswered(t, radclient(t, b, 'acct', interim(4_300_000, 360)), 'interim 6 at B (one step)');
  t.same(await money(a.core.store, accountId), afterInterim(initial, 4_300_000));
  await expectAnswered(t, radclient(t, a, 'acct', `${base}, Acct-Status-Type = Stop, Acct-Input-Octets = 4500000, Acct-Output-Octets = 0, Acct-Session-Time = 400`), 'Stop at A');
  t.same(await money(a.core.store, accountId), { balance: initial - broadbandCost(4_500_000), reserved: 0n }, 'exactly the 4,500,000 octets');
  const cdrs = await allCdrs(redis.client);
  t.equal(cdrs.length, 1, 'one CDR');
  t.equal(cdrs[0].used, '4500000');
  // A late interim at B after the Stop at A: B's one-step check finds the record closed.
  await expectAnswered(t, radclient(t, b, 'acct', interim(4_400_000, 380)), 'a late interim at B');
  t.same(await money(a.core.store, accountId), { balance: initial - broadbandCost(4_500_000), reserved: 0n }, 'nothing charged after the Stop');
  t.equal((await allCdrs(redis.client)).length, 1, 'still one CDR');
});

t.test('radclient Accounting-On at node B closes the sessions started through node A, each with its CDR', async (t) => {
  const [a, b] = await twoNodes(t, 'generic', 3799);
  const initial = 10_000_000n;
  const alice = await makeSubscriber(a, { username: 'alice', balance: initial });
  const bob = await makeSubscriber(a, { username: 'bob', balance: initial });
  const carol = await makeSubscriber(a, { username: 'carol', balance: initial });
  const nasA = await NasSim.open(t, a, '127.0.0.1');
  const nasB = await NasSim.open(t, b, '127.0.0.1');
  const sess = (user: string, asid: string, port: number, nas: string): RadiusAttributeInput[] => [
    ['User-Name', user],
    ['Acct-Session-Id', asid],
    ['NAS-Identifier', nas],
    ['NAS-Port', port],
  ];
  const usage = (inO: number, outO: number, time: number): RadiusAttributeInput[] => [
    ['Acct-Input-Octets', inO],
    ['Acct-Output-Octets', outO],
    ['Acct-Session-Time', time],
  ];
  await acct(t, nasA, [...sess('alice', 'on-1', 1, 'bnas-1'), ['Acct-Status-Type', 'Start']], 'alice Start at A');
  await acct(t, nasA, [...sess('bob', 'on-2', 2, 'bnas-1'), ['Acct-Status-Type', 'Start']], 'bob Start at A');
  await acct(t, nasA, [...sess('carol', 'on-3', 1, 'bnas-2'), ['Acct-Status-Type', 'Start']], 'carol Start at A (another NAS)');
  await acct(t, nasA, [...sess('alice', 'on-1', 1, 'bnas-1'), ['Acct-Status-Type', 'Interim-Update'], ...usage(1_000_000, 1_000_000, 60)], 'alice interim at A');
  await acct(t, nasB, [...sess('bob', 'on-2', 2, 'bnas-1'), ['Acct-Status-Type', 'Interim-Update'], ...usage(3_000_000, 0, 60)], 'bob interim at B');
  t.equal(await redis.client.zcard(radiusKeys.nasSessions('id:bnas-1')), 2, 'bnas-1 lists two open sessions in Redis');

  await expectAnswered(t, radclient(t, b, 'acct', 'Acct-Status-Type = Accounting-On, NAS-Identifier = "bnas-1", Acct-Session-Id = "00000000"'), 'Accounting-On from bnas-1 at B');
  t.same(await money(a.core.store, alice.accountId), { balance: initial - broadbandCost(2_000_000), reserved: 0n }, 'alice (seen by A only): closed, reported usage charged, reservation released');
  t.same(await money(a.core.store, bob.accountId), { balance: initial - broadbandCost(3_000_000), reserved: 0n }, 'bob: closed');
  t.same(await money(a.core.store, carol.accountId), { balance: initial - 25_000n, reserved: 25_000n }, 'carol on another NAS: still open');
  const cdrs = await allCdrs(redis.client);
  t.same(cdrs.map((c) => c.closeReason).sort(), ['Accounting-On', 'Accounting-On'], 'a CDR for each, closed by Accounting-On');
  t.same(cdrs.map((c) => c.account).sort(), [alice.accountId, bob.accountId].sort());
  t.equal((await a.core.store.listSessions(alice.accountId)).length, 0, 'alice\'s core session is gone');
  t.equal((await a.core.store.listSessions(bob.accountId)).length, 0);
  t.equal((await a.core.store.listSessions(carol.accountId)).length, 1);
  t.equal(await redis.client.zcard(radiusKeys.nasSessions('id:bnas-1')), 0, 'bnas-1 lists nothing');

  // A still remembers alice's session in memory: a late interim there must not reopen it.
  await acct(t, nasA, [...sess('alice', 'on-1', 1, 'bnas-1'), ['Acct-Status-Type', 'Interim-Update'], ...usage(5_000_000, 1_000_000, 120)], 'late interim at A');
  await acct(t, nasB, [...sess('bob', 'on-2', 2, 'bnas-1'), ['Acct-Status-Type', 'Interim-Update'], ...usage(6_000_000, 0, 120)], 'late interim at B');
  t.same(await money(a.core.store, alice.accountId), { balance: initial - broadbandCost(2_000_000), reserved: 0n }, 'nothing more charged to alice');
  t.same(await money(a.core.store, bob.accountId), { balance: initial - broadbandCost(3_000_000), reserved: 0n }, 'nor to bob');
  t.equal((await allCdrs(redis.client)).length, 2, 'no new session, no new CDR');

  // The NAS re-sends its Accounting-On (Acct-Delay-Time 5: sent before the sessions begun since): those stay open.
  const dave = await makeSubscriber(a, { username: 'dave', balance: initial });
  await acct(t, nasA, [...sess('dave', 'on-4', 3, 'bnas-1'), ['Acct-Status-Type', 'Start']], 'dave Start at A after the restart');
  await expectAnswered(t, radclient(t, b, 'acct', 'Acct-Status-Type = Accounting-On, NAS-Identifier = "bnas-1", Acct-Session-Id = "00000000", Acct-Delay-Time = 5'), 'the Accounting-On re-sent, at B');
  t.same(await money(a.core.store, dave.accountId), { balance: initial - 25_000n, reserved: 25_000n }, 'dave\'s new session is left alone');
  t.equal(await redis.client.zcard(radiusKeys.nasSessions('id:bnas-1')), 1);

  await acct(t, nasA, [...sess('carol', 'on-3', 1, 'bnas-2'), ['Acct-Status-Type', 'Interim-Update'], ...usage(500_000, 500_000, 60)], 'carol interim at A');
  await expectAnswered(t, radclient(t, b, 'acct', 'Acct-Status-Type = Accounting-Off, NAS-Identifier = "bnas-2", Acct-Session-Id = "00000000"'), 'Accounting-Off from bnas-2 at B');
  t.same(await money(a.core.store, carol.accountId), { balance: initial - broadbandCost(1_000_000), reserved: 0n }, 'carol closed');
  t.same((await allCdrs(redis.client)).map((c) => c.closeReason).sort(), ['Accounting-Off', 'Accounting-On', 'Accounting-On']);
});

t.test('a session the core reaped (its NAS silent too long) goes on at the other node from the totals last charged', async (t) => {
  const [a, b] = await twoNodes(t, 'generic', 3799);
  const initial = 10_000_000n;
  const { accountId } = await makeSubscriber(a, { username: 'alice', balance: initial });
  const nasA = await NasSim.open(t, a, '127.0.0.1');
  const nasB = await NasSim.open(t, b, '127.0.0.1');
  const base: RadiusAttributeInput[] = [
    ['User-Name', 'alice'],
    ['Acct-Session-Id', 'reap-1'],
    ['NAS-Identifier', 'bnas-3'],
    ['NAS-Port', 2],
  ];
  const usage = (inO: number, outO: number, time: number): RadiusAttributeInput[] => [
    ['Acct-Input-Octets', inO],
    ['Acct-Output-Octets', outO],
    ['Acct-Session-Time', time],
  ];
  await acct(t, nasA, [...base, ['Acct-Status-Type', 'Start']], 'Start at A');
  await acct(t, nasA, [...base, ['Acct-Status-Type', 'Interim-Update'], ...usage(2_000_000, 1_000_000, 60)], 'interim at A');
  await sleep(50);
  t.equal(await new Reaper(a.core.store, 'reaper', 60_000).sweep(Date.now() + 3_600_000), 1, 'the core reaps the session');
  t.same(await money(a.core.store, accountId), { balance: initial - broadbandCost(3_000_000), reserved: 0n }, 'what was reported is charged, the reservation released');

  await acct(t, nasB, [...base, ['Acct-Status-Type', 'Interim-Update'], ...usage(5_000_000, 2_000_000, 2_000)], 'the NAS comes back: interim at B');
  const since = 7_000_000 - 3_000_000;
  t.same(
    await money(a.core.store, accountId),
    { balance: initial - broadbandCost(3_000_000) - broadbandCost(since + MIB5), reserved: broadbandCost(since + MIB5) - broadbandCost(since) },
    'B opened the session again and charged only the 4,000,000 octets since A\'s interim',
  );
  await acct(t, nasA, [...base, ['Acct-Status-Type', 'Stop'], ...usage(6_000_000, 2_000_000, 2_100)], 'Stop at A');
  const cdrs = await allCdrs(redis.client);
  t.equal(cdrs.length, 2, 'the reaped part and the rest');
  t.equal(cdrs.reduce((sum, c) => sum + Number(c.used), 0), 8_000_000, 'the CDRs add up to the NAS\'s totals');
  t.same(await money(a.core.store, accountId), { balance: initial - broadbandCost(3_000_000) - broadbandCost(5_000_000), reserved: 0n });
});

/** A pyrad NAS listener: ACKs every Disconnect/CoA that verifies for `seconds`, printing each as a JSON line. */
const PYRAD_LISTENER = `
import json, socket, sys, time
from pyrad import packet
from pyrad.dictionary import Dictionary

d = Dictionary(sys.argv[1])
secret = sys.argv[2].encode()
until = time.time() + float(sys.argv[3])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(('127.0.0.1', 0))
print(s.getsockname()[1], flush=True)
while time.time() < until:
    s.settimeout(max(0.01, until - time.time()))
    try:
        data, addr = s.recvfrom(4096)
    except socket.timeout:
        break
    req = packet.CoAPacket(secret=secret, dict=d, packet=data)
    ok = req.VerifyCoARequest()
    out = {'code': req.code, 'verified': ok}
    for n in ('User-Name', 'Acct-Session-Id', 'NAS-Identifier'):
        out[n] = req[n][0] if n in req else None
    print(json.dumps(out), flush=True)
    if ok:
        reply = req.CreateReply()
        reply.code = packet.DisconnectACK if req.code == packet.DisconnectRequest else packet.CoAACK
        s.sendto(reply.ReplyPacket(), addr)
print('done', flush=True)
`;

/** The RFC attributes pyrad 2.1 needs to read our Disconnect-Request. */
const PYRAD_DICTIONARY = [
  'ATTRIBUTE User-Name 1 string',
  'ATTRIBUTE NAS-IP-Address 4 ipaddr',
  'ATTRIBUTE NAS-Port 5 integer',
  'ATTRIBUTE Framed-IP-Address 8 ipaddr',
  'ATTRIBUTE Calling-Station-Id 31 string',
  'ATTRIBUTE NAS-Identifier 32 string',
  'ATTRIBUTE Acct-Session-Id 44 string',
  'ATTRIBUTE Event-Timestamp 55 date',
  'ATTRIBUTE Message-Authenticator 80 octets',
  '',
].join('\n');

async function pyradListener(t: Test, seconds: number): Promise<{ port: number; done: Promise<Array<Record<string, unknown>>> }> {
  const dir = t.testdir({ 'nas.py': PYRAD_LISTENER, dictionary: PYRAD_DICTIONARY });
  const child = spawn(PYTHON, [join(dir, 'nas.py'), join(dir, 'dictionary'), SECRET, String(seconds)], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  let out = '';
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`pyrad NAS did not start: ${err}`)), 15_000);
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const first = out.split('\n')[0];
      if (out.includes('\n') && /^\d+$/.test(first)) {
        clearTimeout(timer);
        resolve(Number(first));
      }
    });
  });
  const done = new Promise<Array<Record<string, unknown>>>((resolve) =>
    child.once('exit', () => {
      if (err) t.comment(err);
      resolve(
        out
          .split('\n')
          .slice(1)
          .filter((l) => l.startsWith('{'))
          .map((l) => JSON.parse(l) as Record<string, unknown>),
      );
    }),
  );
  return { port, done };
}

t.test('depletion seen by both nodes (an interim at B, its retransmission at A, the next interim at A): pyrad receives exactly one Disconnect-Request', async (t) => {
  const listener = await pyradListener(t, 4);
  const [a, b] = await twoNodes(t, 'generic', listener.port);
  const initial = 30_000n; // 6 MiB
  const { accountId } = await makeSubscriber(a, { username: 'alice', balance: initial });
  const nasA = await NasSim.open(t, a, '127.0.0.1');
  const nasB = await NasSim.open(t, b, '127.0.0.1');
  const base: RadiusAttributeInput[] = [
    ['User-Name', 'alice'],
    ['Acct-Session-Id', 'dep-2'],
    ['NAS-Identifier', 'hotspot-2'],
    ['NAS-Port', 3],
  ];
  await acct(t, nasA, [...base, ['Acct-Status-Type', 'Start']], 'Start at A');
  t.same(await money(a.core.store, accountId), { balance: 5_000n, reserved: 25_000n });
  // 6.5 MiB used: more than the balance; B charges it all and the credit is gone.
  const over: RadiusAttributeInput[] = [...base, ['Acct-Status-Type', 'Interim-Update'], ['Acct-Input-Octets', 5_000_000], ['Acct-Output-Octets', 1_815_744], ['Acct-Session-Time', 60]];
  await acct(t, nasB, over, 'interim at B');
  await acct(t, nasA, [...over, ['Acct-Delay-Time', 2]], 'the same interim re-sent to A');
  await sleep(300);
  await acct(t, nasA, [...base, ['Acct-Status-Type', 'Interim-Update'], ['Acct-Input-Octets', 5_000_000], ['Acct-Output-Octets', 1_900_000], ['Acct-Session-Time', 65]], 'next interim at A');
  const seen = await listener.done;
  t.equal(seen.length, 1, 'exactly one request reached the NAS');
  t.match(seen[0], { code: 40, verified: true, 'User-Name': 'alice', 'Acct-Session-Id': 'dep-2', 'NAS-Identifier': 'hotspot-2' }, 'a Disconnect-Request pyrad verified');
  const acks = [await metricValue(a, 'ocs_radius_coa_total', { kind: 'disconnect', result: 'ack' }), await metricValue(b, 'ocs_radius_coa_total', { kind: 'disconnect', result: 'ack' })];
  t.same(acks, [0, 1], 'sent by B (which saw the depletion first), ACKed, counted there');

  await acct(t, nasA, [...base, ['Acct-Status-Type', 'Stop'], ['Acct-Input-Octets', 5_000_000], ['Acct-Output-Octets', 1_900_000], ['Acct-Session-Time', 65], ['Acct-Terminate-Cause', 'Admin-Reset']], 'Stop at A');
  t.same(await money(a.core.store, accountId), { balance: initial - broadbandCost(6_900_000), reserved: 0n }, 'all usage charged once, into the red');
  const cdrs = await allCdrs(redis.client);
  t.equal(cdrs.length, 1);
  t.equal(cdrs[0].closeReason, 'Admin-Reset');
});

t.test('account events heard by both nodes: one restoring CoA after a top-up, one Disconnect after an abort', async (t) => {
  const address = '127.0.0.8';
  const coa = await fakeCoaListener(t, address, () => ({ code: 'ack' }));
  const [a, b] = await twoNodes(t, 'mikrotik', coa.port, address);
  const { accountId } = await makeSubscriber(a, { username: 'alice', balance: 20_000n });
  const nasA = await NasSim.open(t, a, address);
  const nasB = await NasSim.open(t, b, address);
  const accept = await nasA.pap('alice', 'alicepw');
  const cls = accept!.packet.attributes.find((x) => x.name === 'Class')!.raw;
  const base: RadiusAttributeInput[] = [
    ['User-Name', 'alice'],
    ['Acct-Session-Id', 'ev-1'],
    ['NAS-Identifier', 'mt-7'],
    ['NAS-Port', 9],
    ['Class', cls],
  ];
  await acct(t, nasA, [...base, ['Acct-Status-Type', 'Start']], 'Start at A');
  t.same(await money(a.core.store, accountId), { balance: 0n, reserved: 20_000n }, 'a final grant: the NAS holds the cap');
  await acct(t, nasB, [...base, ['Acct-Status-Type', 'Interim-Update'], ['Acct-Input-Octets', 1_000_000], ['Acct-Output-Octets', 1_000_000], ['Acct-Session-Time', 60]], 'interim at B');
  t.equal(coa.received.length, 0);

  const top = await a.core.store.topup(accountId, 10_000_000n);
  t.equal(top?.reauth.length, 1, 'the core lists the session for re-authorization');
  await a.events.publish({ type: 'reauth', accountId, sessions: top!.reauth, reason: 'topup' });
  const restore = await coa.next();
  t.equal(restore?.packet.code, RadiusCode.CoaRequest, 'a CoA-Request restores the session');
  t.equal(get(restore!.packet, 'Acct-Session-Id'), 'ev-1');
  const { balance } = await money(a.core.store, accountId);
  t.equal(get(restore!.packet, 'Mikrotik-Total-Limit'), (2_000_000 + affordableOctets(balance)) % 2 ** 32, 'the new cap: usage so far (B\'s interim) + what the balance affords');
  await sleep(400);
  t.equal(coa.received.length, 1, 'exactly one CoA-Request from the two nodes');
  t.equal(
    (await metricValue(a, 'ocs_radius_coa_total', { kind: 'coa' })) + (await metricValue(b, 'ocs_radius_coa_total', { kind: 'coa' })),
    1,
    'one sent in all',
  );
  const [open] = await a.core.store.listSessions(accountId);
  t.equal(await redis.client.hget(radiusKeys.session(accountId, open.id as string), 'r'), '0', 'the cap is lifted in the shared state');

  // The same event again (another top-up): nothing is capped any more, nothing is sent.
  await b.events.publish({ type: 'reauth', accountId, sessions: [open.id as string], reason: 'topup' });
  await sleep(300);
  t.equal(coa.received.length, 1, 'nothing to restore');

  await a.events.publish({ type: 'abort', accountId, sessions: [open.id as string], reason: 'operator' });
  const dm = await coa.next();
  t.equal(dm?.packet.code, RadiusCode.DisconnectRequest, 'Disconnect-Request on an operator abort');
  await sleep(400);
  t.equal(coa.received.length, 2, 'exactly one Disconnect-Request from the two nodes');
});

t.test('fair usage (config policy) crossed at B: one CoA, not sent again by A', async (t) => {
  const address = '127.0.0.9';
  const coa = await fakeCoaListener(t, address, () => ({ code: 'ack' }));
  const [a, b] = await twoNodes(t, 'mikrotik', coa.port, address, { fairUsage: { thresholdOctets: 10 * 1024 * 1024 } });
  await makeSubscriber(a, { username: 'alice', balance: 10_000_000n });
  const nasA = await NasSim.open(t, a, address);
  const nasB = await NasSim.open(t, b, address);
  const base: RadiusAttributeInput[] = [
    ['User-Name', 'alice'],
    ['Acct-Session-Id', 'fu-2'],
    ['NAS-Identifier', 'mt-8'],
  ];
  const interim = (inO: number, outO: number, time: number): RadiusAttributeInput[] => [
    ...base,
    ['Acct-Status-Type', 'Interim-Update'],
    ['Acct-Input-Octets', inO],
    ['Acct-Output-Octets', outO],
    ['Acct-Session-Time', time],
  ];
  await acct(t, nasA, [...base, ['Acct-Status-Type', 'Start']], 'Start at A');
  await acct(t, nasA, interim(5_000_000, 1_000_000, 60), 'interim at A, below the threshold');
  t.equal(coa.received.length, 0);
  await acct(t, nasB, interim(9_000_000, 2_000_000, 120), 'interim at B, past it');
  const c = await coa.next();
  t.equal(c?.packet.code, RadiusCode.CoaRequest);
  t.equal(get(c!.packet, 'Mikrotik-Rate-Limit'), '1M/1M');
  await sleep(100);
  await acct(t, nasA, interim(12_000_000, 3_000_000, 180), 'interim at A');
  await acct(t, nasB, interim(13_000_000, 3_000_000, 240), 'interim at B');
  await sleep(300);
  t.equal(coa.received.length, 1, 'throttled once for the session, whichever node takes its reports');
});

t.test('a NAS\'s list in Redis sheds sessions whose record expired (reaped, never stopped)', async (t) => {
  await redis.client.flushall();
  const state = new RadiusSessionStore(redis.client);
  const nas = radiusKeys.nasSessions('id:old-nas');
  const now = Date.now();
  await redis.client.hset(radiusKeys.session('acct1', 'radius:live:x'), 'a', '10.0.0.1');
  await redis.client.zadd(nas, now - 3_600_000, 'acct1|radius:live:x', now - 3_600_000, 'acct1|radius:reaped:x', now, 'acct1|radius:opening:x');
  t.equal(await state.pruneNas('id:old-nas', now - 60_000, 32), 1, 'one gone');
  t.same((await redis.client.zrange(nas, 0, -1)).sort(), ['acct1|radius:live:x', 'acct1|radius:opening:x'], 'the live one stays, and the one being opened right now');
});
