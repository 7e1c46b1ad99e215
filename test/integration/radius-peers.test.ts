// The RADIUS server judged by peers nobody here wrote:
// - FreeRADIUS's radclient (Debian freeradius-utils) for PAP, CHAP and accounting Start / Interim /
//   Stop, with reply filters listing every reply attribute, and the balance asserted after;
// - pppd 2.4.9's radius.so requests replayed as captured (secret testing123, alice / alicepw);
// - pyrad (Debian python3-pyrad) as the NAS's RFC 5176 listener, verifying our Disconnect-Request;
// - tshark (live capture on loopback) finding nothing malformed in the radclient exchange.
// The tools are required: a missing one fails the suite rather than skipping it.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t, { type Test } from 'tap';

import { verifyReply } from '../../src/radius/authenticator.js';
import { decode, get } from '../../src/radius/codec.js';
import { allCdrs, money } from '../helpers/core.js';
import { startRedis } from '../helpers/redis.js';
import { affordableOctets, broadbandCost, metricValue, NasSim, SECRET, makeSubscriber, sleep, startHarness, type Harness } from '../helpers/radius-harness.js';
import { run, type RunResult } from '../helpers/run.js';
import { startCapture } from '../helpers/capture.js';

const FIXTURES = new URL('../fixtures/radius/pppd-2.4.9-radius.so/', import.meta.url);
const OUR_DICTIONARIES = fileURLToPath(new URL('../../dictionaries/radius', import.meta.url));
const PYTHON = '/usr/bin/python3'; // Debian's python3-pyrad is installed for the system interpreter

const hasRadclient = spawnSync('radclient', ['-h'], { stdio: 'ignore' }).error === undefined;
if (!hasRadclient) t.fail('radclient not found: apt-get install -y freeradius-utils');
const hasPyrad = spawnSync(PYTHON, ['-c', 'import pyrad.packet'], { stdio: 'ignore' }).status === 0;
if (!hasPyrad) t.fail(`pyrad not importable by ${PYTHON}: apt-get install -y python3-pyrad`);
const hasTshark = spawnSync('tshark', ['-v'], { stdio: 'ignore' }).error === undefined;
if (!hasTshark) t.fail('tshark not found: apt-get install -y tshark');

const redis = await startRedis();
t.teardown(() => redis.stop());

async function harness(t: Test, vendor: 'generic' | 'mikrotik' | 'pppd', coaPort = 3799): Promise<Harness> {
  await redis.client.flushall();
  return startHarness(t, { redis, clients: [{ address: '127.0.0.1', secret: SECRET, vendor, coaPort }] });
}


// Requests through this helper expect an answer; 4 s covers a slow first request on a loaded box.
const quick = ['-t', '4', '-r', '1'];

function radclient(t: Test, h: Harness, kind: 'auth' | 'acct', request: string, filter?: string[]): Promise<RunResult> {
  const port = kind === 'auth' ? h.server.authPort : h.server.acctPort;
  const dir = t.testdir({ 'request.txt': `${request}\n`, 'filter.txt': filter ? `${filter.join('\n')}\n` : '' });
  const file = filter ? `${join(dir, 'request.txt')}:${join(dir, 'filter.txt')}` : join(dir, 'request.txt');
  return run('radclient', ['-x', ...quick, '-f', file, `127.0.0.1:${port}`, kind, SECRET]);
}

/** Names of the attributes radclient printed for the reply it received. */
function replyAttributes(stdout: string): string[] {
  const at = stdout.indexOf('Received ');
  if (at < 0) return [];
  return [...stdout.slice(at).matchAll(/^\t([A-Za-z0-9-]+) = /gm)].map((m) => m[1]);
}

/** The filter names every attribute of the reply, and nothing else. */
function filterCoversReply(t: Test, r: RunResult, filter: string[], what: string): void {
  const named = filter.map((l) => l.split(/\s/)[0]).filter((n) => n !== 'Response-Packet-Type');
  t.same(replyAttributes(r.stdout).sort(), named.sort(), `${what}: the filter lists every reply attribute`);
}

function expectOk(t: Test, r: RunResult, what: string): void {
  t.equal(r.code, 0, what);
  if (r.code !== 0) t.comment(r.stdout + r.stderr);
}

/** A live tshark capture on loopback for the given UDP ports; stop() returns what it found. */
async function capture(t: Test, ports: number[]): Promise<{ stop(): Promise<{ radius: number; malformed: number; text: string }> }> {
  const dir = mkdtempSync(join(tmpdir(), 'ocs-radius-pcap-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'radius.pcap');
  const filter = ports.map((p) => `udp port ${p}`).join(' or ');
  const cap = await startCapture('tshark', filter, file);
  t.teardown(() => cap.stop());
  return {
    async stop() {
      await cap.stop();
      const decodeAs = ports.flatMap((p) => ['-d', `udp.port==${p},radius`]);
      const all = await run('tshark', ['-r', file, ...decodeAs, '-Y', 'radius', '-T', 'fields', '-e', 'radius.code']);
      const bad = await run('tshark', ['-r', file, ...decodeAs, '-Y', '_ws.malformed || _ws.expert.severity >= warning']);
      const text = await run('tshark', ['-r', file, ...decodeAs, '-Y', 'radius']);
      return { radius: all.stdout.trim().split('\n').filter(Boolean).length, malformed: bad.stdout.trim().split('\n').filter(Boolean).length, text: text.stdout + bad.stdout };
    },
  };
}

t.test('radclient: PAP and CHAP Access-Accept for a Mikrotik NAS, accounting Start / Interim / Stop, balance after', async (t) => {
  const h = await harness(t, 'mikrotik');
  const initial = 50_000_000n;
  const { accountId } = await makeSubscriber(h, { username: 'alice', balance: initial });
  const cap = hasTshark ? await capture(t, [h.server.authPort, h.server.acctPort]) : undefined;
  const acceptFilter = [
    'Response-Packet-Type == Access-Accept',
    'Message-Authenticator =* ANY',
    'Termination-Action == RADIUS-Request',
    'Acct-Interim-Interval == 300',
    'Class =* ANY',
    `Mikrotik-Total-Limit == ${affordableOctets(initial) % 2 ** 32}`,
    `Mikrotik-Total-Limit-Gigawords == ${Math.floor(affordableOctets(initial) / 2 ** 32)}`,
  ];
  const pap = await radclient(t, h, 'auth', 'User-Name = "alice", User-Password = "alicepw", NAS-Identifier = "mt-1", NAS-Port = 5', acceptFilter);
  expectOk(t, pap, 'PAP: radclient accepted our Access-Accept and every attribute matched the filter');
  filterCoversReply(t, pap, acceptFilter, 'PAP');
  t.match(pap.stdout, /Received Access-Accept/);
  const cls = /Class = (0x[0-9a-f]+)/.exec(pap.stdout)?.[1];
  t.ok(cls, 'radclient shows our Class');

  const chap = await radclient(t, h, 'auth', 'User-Name = "alice", CHAP-Password = "alicepw", NAS-Identifier = "mt-1"', acceptFilter);
  expectOk(t, chap, 'CHAP: accepted, same attributes');
  filterCoversReply(t, chap, acceptFilter, 'CHAP');

  const rejectFilter = ['Response-Packet-Type == Access-Reject', 'Message-Authenticator =* ANY', 'Reply-Message == "Authentication failed"'];
  const wrong = await radclient(t, h, 'auth', 'User-Name = "alice", User-Password = "nope"', rejectFilter);
  expectOk(t, wrong, 'a wrong password: our Access-Reject with its Reply-Message');
  filterCoversReply(t, wrong, rejectFilter, 'Access-Reject');

  // A filter with a wrong value fails: radclient really compares.
  const control = await radclient(t, h, 'auth', 'User-Name = "alice", User-Password = "alicepw"', acceptFilter.map((l) => (l.startsWith('Acct-Interim') ? 'Acct-Interim-Interval == 301' : l)));
  t.not(control.code, 0, 'control: a mismatching filter fails');

  const base = `User-Name = "alice", Acct-Session-Id = "rc-1", NAS-Identifier = "mt-1", NAS-Port = 5, Framed-IP-Address = 10.0.0.5, Class = ${cls}`;
  const ack = ['Response-Packet-Type == Accounting-Response'];
  const startReply = await radclient(t, h, 'acct', `${base}, Acct-Status-Type = Start, Acct-Delay-Time = 0`, ack);
  expectOk(t, startReply, 'Start acknowledged');
  filterCoversReply(t, startReply, ack, 'Accounting-Response');
  t.same(await money(h.core.store, accountId), { balance: initial - 25_000n, reserved: 25_000n });
  expectOk(t, await radclient(t, h, 'acct', `${base}, Acct-Status-Type = Interim-Update, Acct-Input-Octets = 4000000000, Acct-Input-Gigawords = 0, Acct-Output-Octets = 1000000, Acct-Session-Time = 300`, ack), 'Interim acknowledged');
  t.same(await money(h.core.store, accountId), { balance: initial - broadbandCost(4_001_000_000 + 5 * 1024 * 1024), reserved: broadbandCost(4_001_000_000 + 5 * 1024 * 1024) - broadbandCost(4_001_000_000) });
  expectOk(
    t,
    await radclient(t, h, 'acct', `${base}, Acct-Status-Type = Stop, Acct-Input-Octets = 100000000, Acct-Input-Gigawords = 1, Acct-Output-Octets = 2000000, Acct-Session-Time = 400, Acct-Terminate-Cause = User-Request`, ack),
    'Stop acknowledged',
  );
  const total = 2 ** 32 + 100_000_000 + 2_000_000;
  t.same(await money(h.core.store, accountId), { balance: initial - broadbandCost(total), reserved: 0n }, `exactly ${broadbandCost(total)} micro-EUR charged`);
  const cdrs = await allCdrs(h.redis.client);
  t.equal(cdrs.length, 1);
  t.equal(cdrs[0].used, String(total));

  const wrongSecret = await run('radclient', ['-x', '-t', '0.5', '-r', '1', `127.0.0.1:${h.server.acctPort}`, 'acct', 'not-the-secret'], `${base}, Acct-Status-Type = Start\n`);
  t.not(wrongSecret.code, 0, 'a wrong secret: no reply');
  t.match(wrongSecret.stdout + wrongSecret.stderr, /No reply from server/);
  t.ok((await metricValue(h, 'ocs_radius_dropped_total', { reason: 'bad-authenticator' })) >= 1);

  if (cap) {
    // Control: one broken datagram (an attribute running past Length) that tshark must flag.
    const control = await NasSim.open(t, h, '127.0.0.1');
    const broken = Buffer.concat([Buffer.from([4, 99, 0, 30]), Buffer.alloc(16), Buffer.from([1, 20, 0x61, 0x6c, 0x69, 0x63, 0x65, 0, 0, 0])]);
    t.equal(await control.sendRaw(broken, h.server.acctPort, 300), undefined, 'the control datagram is dropped');
    const seen = await cap.stop();
    t.ok(seen.radius >= 14, `tshark decoded the exchange as RADIUS (${seen.radius} packets)`);
    t.equal(seen.malformed, 1, 'tshark flags only the control datagram: nothing of ours is malformed or warned about');
    if (seen.malformed !== 1) t.comment(seen.text);
  }
});

t.test('pppd 2.4.9 radius.so requests replayed as captured: Accept for PAP and CHAP, Accounting-Response for Start and Stop', async (t) => {
  const h = await harness(t, 'pppd');
  const initial = 10_000_000n;
  const { accountId } = await makeSubscriber(h, { username: 'alice', password: 'alicepw', balance: initial });
  const nas = await NasSim.open(t, h, '127.0.0.1');
  const hex = (name: string) => Buffer.from(readFileSync(new URL(name, FIXTURES), 'utf8').trim(), 'hex');

  for (const name of ['access-request-pap.hex', 'access-request-chap.hex']) {
    const req = hex(name);
    const raw = await nas.sendRaw(req, h.server.authPort);
    t.ok(raw, `${name}: answered`);
    const p = decode(raw!);
    t.equal(p.code, 2, `${name}: Access-Accept`);
    t.equal(p.identifier, req[1]);
    t.ok(verifyReply(raw!, req.subarray(4, 20), SECRET).ok, `${name}: pppd would accept our Response Authenticator`);
    t.equal(get(p, 'Session-Timeout'), Math.floor(affordableOctets(initial) / 12_500_000), `${name}: Session-Timeout from the balance (pppd has no CoA listener)`);
    t.equal(get(p, 'Acct-Interim-Interval'), 300, `${name}: Acct-Interim-Interval`);
    t.ok(get(p, 'Class'), `${name}: Class`);
  }

  const start = hex('accounting-start.hex');
  const r1 = await nas.sendRaw(start, h.server.acctPort);
  t.equal(r1?.[0], 5, 'accounting-start.hex: Accounting-Response');
  t.ok(verifyReply(r1!, start.subarray(4, 20), SECRET).ok);
  t.same(await money(h.core.store, accountId), { balance: initial - 25_000n, reserved: 25_000n }, 'Start reserved ahead');
  const again = await nas.sendRaw(start, h.server.acctPort);
  t.ok(again?.equals(r1!), 'the same capture replayed: the same reply, nothing more reserved');
  t.same(await money(h.core.store, accountId), { balance: initial - 25_000n, reserved: 25_000n });

  const stop = hex('accounting-stop.hex');
  const r2 = await nas.sendRaw(stop, h.server.acctPort);
  t.equal(r2?.[0], 5, 'accounting-stop.hex: Accounting-Response');
  t.ok(verifyReply(r2!, stop.subarray(4, 20), SECRET).ok);
  const used = 52_536_464 + 57_869_148; // Acct-Input-Octets + Acct-Output-Octets of the capture
  t.same(await money(h.core.store, accountId), { balance: initial - broadbandCost(used), reserved: 0n }, `Stop: ${broadbandCost(used)} micro-EUR for ${used} octets`);
  const cdrs = await allCdrs(h.redis.client);
  t.equal(cdrs.length, 1);
  t.equal(cdrs[0].closeReason, 'User-Request');
});

/** Our dictionary files as pyrad 2.1 reads them (it predates the `vsa` type; see test/unit/radius-pyrad.test.ts). */
function pyradDictionary(dir: string): string {
  for (const f of readdirSync(OUR_DICTIONARIES)) {
    let text = readFileSync(join(OUR_DICTIONARIES, f), 'utf8');
    if (f === 'dictionary.rfc2865') text = text.replace(/^(ATTRIBUTE\s+Vendor-Specific\s+26\s+)vsa\b/m, '$1octets');
    writeFileSync(join(dir, f), text);
  }
  return join(dir, 'dictionary');
}

const PYRAD_NAS = `
import json, socket, sys
from pyrad import packet
from pyrad.dictionary import Dictionary

d = Dictionary(sys.argv[1])
secret = sys.argv[2].encode()
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(('127.0.0.1', 0))
print(s.getsockname()[1], flush=True)
s.settimeout(20)
data, addr = s.recvfrom(4096)
req = packet.CoAPacket(secret=secret, dict=d, packet=data)
ok = req.VerifyCoARequest()
wrong = packet.CoAPacket(secret=b'wrong', dict=d, packet=data).VerifyCoARequest()
out = {'code': req.code, 'verified': ok, 'verifiedWrongSecret': wrong}
for n in ('User-Name', 'Acct-Session-Id', 'NAS-Identifier', 'NAS-Port', 'Framed-IP-Address'):
    out[n] = req[n][0] if n in req else None
reply = req.CreateReply()
reply.code = packet.DisconnectACK if req.code == packet.DisconnectRequest else packet.CoAACK
s.sendto(reply.ReplyPacket(), addr)
print(json.dumps(out), flush=True)
`;

t.test('pyrad as the NAS CoA listener verifies and ACKs our Disconnect-Request', async (t) => {
  const dir = t.testdir({ 'nas.py': PYRAD_NAS });
  const dictionary = pyradDictionary(dir);
  const child = spawn(PYTHON, [join(dir, 'nas.py'), dictionary, SECRET], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  let out = '';
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  // Complete lines only, from one listener: a listener per waitLine appended every chunk once per
  // call, and a line that came in two chunks then read as two JSON objects run together.
  const lines: string[] = [];
  const waiters = new Set<() => void>();
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
    lines.splice(0, lines.length, ...out.split('\n').slice(0, -1).filter(Boolean));
    for (const w of [...waiters]) w();
  });
  const waitLine = (n: number): Promise<string> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(`pyrad NAS: no output (${err})`));
      }, 15_000);
      const check = (): void => {
        if (lines.length >= n) {
          clearTimeout(timer);
          waiters.delete(check);
          resolve(lines[n - 1]);
        }
      };
      waiters.add(check);
      check();
    });
  const port = Number(await waitLine(1));
  t.ok(port > 0, `pyrad listening on ${port}`);

  const h = await harness(t, 'generic', port);
  await makeSubscriber(h, { username: 'alice', balance: 10_000n });
  const nas = await NasSim.open(t, h, '127.0.0.1');
  const base: Array<[string, string | number]> = [
    ['User-Name', 'alice'],
    ['Acct-Session-Id', 'py-1'],
    ['NAS-Identifier', 'bnas-7'],
    ['NAS-Port', 3],
    ['Framed-IP-Address', '10.9.8.7'],
  ];
  await nas.acct([...base, ['Acct-Status-Type', 'Start']]);
  await nas.acct([...base, ['Acct-Status-Type', 'Interim-Update'], ['Acct-Input-Octets', 3_000_000], ['Acct-Session-Time', 60]]);
  const seen = JSON.parse(await waitLine(2)) as Record<string, unknown>;
  t.same(seen, {
    code: 40,
    verified: true,
    verifiedWrongSecret: false,
    'User-Name': 'alice',
    'Acct-Session-Id': 'py-1',
    'NAS-Identifier': 'bnas-7',
    'NAS-Port': 3,
    'Framed-IP-Address': '10.9.8.7',
  }, 'pyrad verified the Request Authenticator and read the session identification');
  for (let i = 0; i < 50 && (await metricValue(h, 'ocs_radius_coa_total', { kind: 'disconnect', result: 'ack' })) === 0; i++) await sleep(20);
  t.equal(await metricValue(h, 'ocs_radius_coa_total', { kind: 'disconnect', result: 'ack' }), 1, "pyrad's Disconnect-ACK verified and counted");
});
