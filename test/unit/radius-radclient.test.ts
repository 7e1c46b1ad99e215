// Interop with FreeRADIUS's radclient (Debian package freeradius-utils), a client nobody here wrote.
// A tiny UDP responder in this file decodes with our codec, authenticates with our verifier and
// answers with our encoder; radclient must accept the replies (it checks the Response
// Authenticator and Message-Authenticator), and our verifier must accept radclient's requests and
// refuse them under a wrong secret.
import { spawn, spawnSync } from 'node:child_process';
import dgram from 'node:dgram';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t, { type Test } from 'tap';

import { passwordsEqual, userPassword, verifyChap, verifyRequest, type RadiusVerdict } from '../../src/radius/authenticator.js';
import { decode, encode, get, getEnum, type RadiusAttributeInput, type RadiusPacket } from '../../src/radius/codec.js';
import { run, type RunResult } from '../helpers/run.js';

const SECRET = 'testing123';
const PASSWORD = 'alicepw';
const OUR_DICTIONARIES = fileURLToPath(new URL('../../dictionaries/radius', import.meta.url));

const hasRadclient = spawnSync('radclient', ['-h'], { stdio: 'ignore' }).error === undefined;
if (!hasRadclient) {
  t.fail('radclient not found: install Debian package freeradius-utils (apt-get install -y freeradius-utils)');
}

interface Seen {
  packet?: RadiusPacket;
  verdict?: RadiusVerdict;
  error?: string;
  password?: 'ok' | 'wrong' | 'none';
}

interface ResponderOptions {
  /** Answer even requests that fail authentication (to show radclient then rejects our reply). */
  answerUnverified?: boolean;
  /** Put a Message-Authenticator in every reply. */
  messageAuthenticator?: boolean;
}

/** A minimal RADIUS server on 127.0.0.1:0 built only from our codec. */
async function startResponder(t: Test, opts: ResponderOptions = {}): Promise<{ port: number; seen: Seen[] }> {
  const socket = dgram.createSocket('udp4');
  const seen: Seen[] = [];
  socket.on('message', (msg, rinfo) => {
    const entry: Seen = {};
    seen.push(entry);
    let p: RadiusPacket;
    try {
      p = decode(msg);
    } catch (err) {
      entry.error = String(err);
      return;
    }
    entry.packet = p;
    entry.verdict = verifyRequest(msg, SECRET);
    if (!entry.verdict.ok && opts.answerUnverified !== true) return; // dropped, as the OCS will
    const reply = (code: string, attributes: RadiusAttributeInput[] = []) =>
      socket.send(
        encode({ code, identifier: p.identifier, attributes }, { secret: SECRET, requestAuthenticator: p.authenticator, messageAuthenticator: opts.messageAuthenticator ?? true }),
        rinfo.port,
        rinfo.address,
      );
    switch (p.code) {
      case 1: {
        const pap = userPassword(p, SECRET);
        const chap = verifyChap(p, PASSWORD);
        const good = pap !== undefined ? passwordsEqual(pap, PASSWORD) : chap === true;
        entry.password = pap === undefined && chap === undefined ? 'none' : good ? 'ok' : 'wrong';
        if (good) {
          reply('Access-Accept', [
            ['Session-Timeout', 3600],
            ['Acct-Interim-Interval', 300],
            ['Class', 'ocs:session:42'],
            ['Mikrotik-Total-Limit', 1073741824],
            ['Mikrotik-Total-Limit-Gigawords', 1],
            ['Reply-Message', 'Hello alice'],
          ]);
        } else {
          reply('Access-Reject', [['Reply-Message', 'Wrong password']]);
        }
        break;
      }
      case 4:
        reply('Accounting-Response');
        break;
      case 40:
        reply('Disconnect-ACK');
        break;
      case 43:
        if (get(p, 'Acct-Session-Id') === 'unknown-session') reply('CoA-NAK', [['Error-Cause', 'Session-Context-Not-Found']]);
        else reply('CoA-ACK');
        break;
    }
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => socket.close(() => resolve())));
  return { port: socket.address().port, seen };
}

/** Runs radclient with `input` on stdin; -t/-r keep a missing reply short. */
function radclient(args: string[], input = ''): Promise<RunResult> {
  return run('radclient', args, input);
}

const target = (port: number) => `127.0.0.1:${port}`;

/** radclient exited 0; its output is shown only when it did not. */
function expectSuccess(t: Test, r: RunResult, what: string): void {
  t.equal(r.code, 0, what);
  if (r.code !== 0) t.comment(r.stdout + r.stderr);
}
// Every request here expects an answer: 3 s covers a first request to a fresh server on a loaded box.
const quick = ['-t', '3', '-r', '1'];

t.test('Access-Request (PAP) answered by our Access-Accept: reply filter lists every attribute', async (t) => {
  const { port, seen } = await startResponder(t);
  const dir = t.testdir({
    'request.txt': 'User-Name = "alice", User-Password = "alicepw", NAS-Identifier = "bnas-harness", Service-Type = Framed-User, Framed-Protocol = PPP\n',
    'filter.txt': [
      'Response-Packet-Type == Access-Accept',
      'Message-Authenticator =* ANY',
      'Session-Timeout == 3600',
      'Acct-Interim-Interval == 300',
      'Class == 0x6f63733a73657373696f6e3a3432',
      'Mikrotik-Total-Limit == 1073741824',
      'Mikrotik-Total-Limit-Gigawords == 1',
      'Reply-Message == "Hello alice"',
      '',
    ].join('\n'),
    'wrong-filter.txt': 'Response-Packet-Type == Access-Accept\nMessage-Authenticator =* ANY\nSession-Timeout == 3601\nAcct-Interim-Interval == 300\nClass == 0x6f63733a73657373696f6e3a3432\nMikrotik-Total-Limit == 1073741824\nMikrotik-Total-Limit-Gigawords == 1\nReply-Message == "Hello alice"\n',
  });
  const r = await radclient(['-x', ...quick, '-f', `${join(dir, 'request.txt')}:${join(dir, 'filter.txt')}`, target(port), 'auth', SECRET]);
  expectSuccess(t, r, 'radclient accepted our Access-Accept');
  t.match(r.stdout, /Received Access-Accept Id \d+ from 127\.0\.0\.1/);
  t.match(r.stdout, /Session-Timeout = 3600/);
  t.match(r.stdout, /Class = 0x6f63733a73657373696f6e3a3432/);
  t.match(r.stdout, /Mikrotik-Total-Limit = 1073741824/);
  t.match(r.stdout, /Mikrotik-Total-Limit-Gigawords = 1/);
  t.match(r.stdout, /Reply-Message = "Hello alice"/);
  t.match(r.stdout, /Message-Authenticator = 0x[0-9a-f]{32}/);
  t.equal(seen.length, 1);
  t.same(seen[0].verdict, { ok: true, messageAuthenticator: 'absent' });
  t.equal(seen[0].password, 'ok', 'our PAP unhiding recovered radclient\'s password');
  t.equal(get(seen[0].packet!, 'NAS-Identifier'), 'bnas-harness');
  t.equal(getEnum(seen[0].packet!, 'Service-Type'), 'Framed-User');

  // Negative control: radclient does compare the reply with the filter.
  const bad = await radclient([...quick, '-f', `${join(dir, 'request.txt')}:${join(dir, 'wrong-filter.txt')}`, target(port), 'auth', SECRET]);
  t.not(bad.code, 0, 'a filter that does not match fails');
  t.match(bad.stderr, /didn't match filter: Session-Timeout == 3601/);
});

t.test('Access-Request with CHAP and with a Message-Authenticator', async (t) => {
  const { port, seen } = await startResponder(t);
  const chap = await radclient(['-x', ...quick, target(port), 'auth', SECRET], 'User-Name = "alice", CHAP-Password = "alicepw"\n');
  expectSuccess(t, chap, 'CHAP request accepted');
  t.match(chap.stdout, /Received Access-Accept/);
  t.ok(get(seen[0].packet!, 'CHAP-Password'), 'radclient sent CHAP-Password');
  t.equal(get(seen[0].packet!, 'CHAP-Challenge'), undefined, 'without CHAP-Challenge: the Request Authenticator is the challenge');
  t.equal(seen[0].password, 'ok', 'our CHAP check accepted radclient\'s response');

  const ma = await radclient(['-x', ...quick, target(port), 'auth', SECRET], 'User-Name = "alice", User-Password = "alicepw", Message-Authenticator = 0x00\n');
  expectSuccess(t, ma, 'request with Message-Authenticator accepted');
  t.same(seen[1].verdict, { ok: true, messageAuthenticator: 'valid' }, 'radclient\'s Message-Authenticator verifies');

  const wrong = await radclient(['-x', ...quick, target(port), 'auth', SECRET], 'User-Name = "alice", User-Password = "not-alicepw"\n');
  t.match(wrong.stdout, /Received Access-Reject/, 'our Access-Reject is accepted as a reply');
  t.match(wrong.stdout, /Reply-Message = "Wrong password"/);
  t.equal(seen[2].password, 'wrong');
});

t.test('Accounting-Request Start / Interim-Update / Stop answered by our Accounting-Response', async (t) => {
  const { port, seen } = await startResponder(t, { messageAuthenticator: false });
  const base = 'User-Name = "alice", Acct-Session-Id = "%lX6b0832c2%hX", NAS-Identifier = "bnas-harness", NAS-Port = 0, Framed-IP-Address = 10.67.1.1';
  const requests = [
    `${base}, Acct-Status-Type = Start, Acct-Delay-Time = 0`,
    `${base}, Acct-Status-Type = Interim-Update, Acct-Input-Octets = 4000000000, Acct-Output-Octets = 123, Acct-Input-Gigawords = 2, Acct-Session-Time = 300, Class = 0x6f63733a73657373696f6e3a3432`,
    `${base}, Acct-Status-Type = Stop, Acct-Input-Octets = 52536464, Acct-Output-Octets = 57869148, Acct-Session-Time = 8, Acct-Terminate-Cause = User-Request`,
  ];
  for (const [i, line] of requests.entries()) {
    const r = await radclient(['-x', ...quick, target(port), 'acct', SECRET], line + '\n');
    expectSuccess(t, r, `request ${i}: radclient accepted our Accounting-Response`);
    t.match(r.stdout, /Received Accounting-Response/);
    t.same(seen[i].verdict, { ok: true, messageAuthenticator: 'absent' }, `request ${i}: Request Authenticator verifies`);
  }
  const interim = seen[1].packet!;
  t.equal(getEnum(interim, 'Acct-Status-Type'), 'Interim-Update');
  t.equal(get(interim, 'Acct-Input-Octets'), 4000000000);
  t.equal(get(interim, 'Acct-Input-Gigawords'), 2);
  t.equal(get(interim, 'Acct-Session-Id'), '%lX6b0832c2%hX');
  t.same(get(interim, 'Class'), Buffer.from('ocs:session:42'));
  t.equal(getEnum(seen[2].packet!, 'Acct-Terminate-Cause'), 'User-Request');
});

t.test('Accounting-Request with a Message-Authenticator, and our reply with one', async (t) => {
  const { port, seen } = await startResponder(t, { messageAuthenticator: true });
  const r = await radclient(['-x', ...quick, target(port), 'acct', SECRET], 'User-Name = "alice", Acct-Status-Type = Start, Acct-Session-Id = "s1", Message-Authenticator = 0x00\n');
  expectSuccess(t, r, 'Accounting-Response with Message-Authenticator accepted');
  t.match(r.stdout, /Received Accounting-Response[\s\S]*Message-Authenticator = 0x[0-9a-f]{32}/);
  t.same(seen[0].verdict, { ok: true, messageAuthenticator: 'valid' });
});

t.test('a wrong shared secret: our verifier refuses radclient, and radclient refuses our reply', async (t) => {
  const strict = await startResponder(t);
  const acct = await radclient(['-x', '-t', '0.5', '-r', '1', target(strict.port), 'acct', 'not-the-secret'], 'User-Name = "alice", Acct-Status-Type = Start, Acct-Session-Id = "s1"\n');
  t.not(acct.code, 0, 'no reply, so radclient fails');
  t.match(acct.stdout + acct.stderr, /No reply from server/);
  t.same(strict.seen[0].verdict, { ok: false, reason: 'authenticator' }, 'Accounting-Request refused');
  const auth = await radclient(['-x', '-t', '0.5', '-r', '1', target(strict.port), 'auth', 'not-the-secret'], 'User-Name = "alice", User-Password = "alicepw", Message-Authenticator = 0x00\n');
  t.not(auth.code, 0);
  t.same(strict.seen[1].verdict, { ok: false, reason: 'message-authenticator' }, 'Access-Request with a Message-Authenticator refused');
  const coa = await radclient(['-x', '-t', '0.5', '-r', '1', target(strict.port), 'coa', 'not-the-secret'], 'User-Name = "alice", Acct-Session-Id = "s1"\n');
  t.not(coa.code, 0);
  t.same(strict.seen[2].verdict, { ok: false, reason: 'authenticator' }, 'CoA-Request refused');

  // Our replies signed with testing123 are refused by a radclient that uses another secret.
  const lax = await startResponder(t, { answerUnverified: true, messageAuthenticator: false });
  const r = await radclient(['-x', '-t', '0.5', '-r', '1', target(lax.port), 'acct', 'not-the-secret'], 'User-Name = "alice", Acct-Status-Type = Start, Acct-Session-Id = "s1"\n');
  t.not(r.code, 0, 'radclient checks the Response Authenticator');
  t.equal(lax.seen.length, 1, 'our responder did answer');
  t.match(r.stderr, /Reply verification failed: .* invalid Response Authenticator/, 'radclient names the bad authenticator');
});

t.test('CoA-Request and Disconnect-Request answered by our ACK / NAK', async (t) => {
  const { port, seen } = await startResponder(t, { messageAuthenticator: true });
  const coa = await radclient(['-x', ...quick, target(port), 'coa', SECRET], 'User-Name = "alice", Acct-Session-Id = "s1", Mikrotik-Rate-Limit = "1M/1M"\n');
  expectSuccess(t, coa, 'CoA-ACK accepted');
  t.match(coa.stdout, /Received CoA-ACK[\s\S]*Message-Authenticator = 0x[0-9a-f]{32}/);
  t.same(seen[0].verdict, { ok: true, messageAuthenticator: 'absent' });
  t.equal(get(seen[0].packet!, 'Mikrotik-Rate-Limit'), '1M/1M');

  const dm = await radclient(['-x', ...quick, target(port), 'disconnect', SECRET], 'User-Name = "alice", Acct-Session-Id = "s1", Message-Authenticator = 0x00\n');
  expectSuccess(t, dm, 'Disconnect-ACK accepted');
  t.match(dm.stdout, /Received Disconnect-ACK/);
  t.same(seen[1].verdict, { ok: true, messageAuthenticator: 'valid' });

  const nak = await radclient(['-x', ...quick, target(port), 'coa', SECRET], 'User-Name = "alice", Acct-Session-Id = "unknown-session"\n');
  t.match(nak.stdout, /Received CoA-NAK[\s\S]*Error-Cause = Session-Context-Not-Found/);
});

t.test('radclient reads our dictionary files', async (t) => {
  const { port, seen } = await startResponder(t);
  const raddb = t.testdir({ dictionary: '' }); // an empty raddb: only our files are loaded
  const input = [
    'User-Name = "alice"',
    'User-Password = "alicepw"',
    'Mikrotik-Rate-Limit = "10M/20M"',
    'ChilliSpot-Max-Total-Octets = 5000000',
    'WISPr-Location-Name = "Lobby"',
    'Framed-IPv6-Prefix = 2001:db8:1::/48',
    'NAS-IPv6-Address = 2001:db8::1',
    'Framed-Interface-Id = 0011:2233:4455:6677',
    'Event-Timestamp = 1700000000',
    'NAS-Port-Type = Ethernet',
  ].join(', ');
  const r = await radclient(['-D', OUR_DICTIONARIES, '-d', raddb, '-x', ...quick, target(port), 'auth', SECRET], input + '\n');
  expectSuccess(t, r, 'radclient with our dictionaries accepted our Access-Accept');
  t.match(r.stdout, /Received Access-Accept[\s\S]*Mikrotik-Total-Limit = 1073741824/);
  const p = seen[0].packet!;
  t.equal(get(p, 'Mikrotik-Rate-Limit'), '10M/20M');
  t.equal(get(p, 'ChilliSpot-Max-Total-Octets'), 5000000);
  t.equal(get(p, 'WISPr-Location-Name'), 'Lobby');
  t.equal(get(p, 'Framed-IPv6-Prefix'), '2001:db8:1::/48');
  t.equal(get(p, 'NAS-IPv6-Address'), '2001:db8::1');
  t.equal(get(p, 'Framed-Interface-Id'), '0011:2233:4455:6677');
  t.same(get(p, 'Event-Timestamp'), new Date(1700000000 * 1000));
  t.equal(getEnum(p, 'NAS-Port-Type'), 'Ethernet');
  t.equal(seen[0].password, 'ok');
});
