// Interop with pyrad (Debian package python3-pyrad), a RADIUS implementation nobody here wrote:
// pyrad builds packets our codec must decode and authenticate, and pyrad decodes and verifies the
// packets our encoder builds. pyrad also reads our dictionary files.
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';

import { userPassword, verifyReply, verifyRequest } from '../../src/radius/authenticator.js';
import { decode, encode, get, getEnum } from '../../src/radius/codec.js';

const SECRET = 'testing123';
const PYTHON = '/usr/bin/python3'; // Debian's python3-pyrad installs for the system interpreter only
const PEER = fileURLToPath(new URL('../fixtures/radius/pyrad-peer.py', import.meta.url));
const OUR_DICTIONARIES = fileURLToPath(new URL('../../dictionaries/radius', import.meta.url));

const probe = spawnSync(PYTHON, ['-c', 'import pyrad.packet'], { encoding: 'utf8' });
const hasPyrad = probe.status === 0;
if (!hasPyrad) t.fail(`pyrad not importable by ${PYTHON}: install Debian package python3-pyrad (${probe.stderr ?? probe.error})`);

/**
 * Our dictionary files as pyrad 2.1 can read them: pyrad predates FreeRADIUS's `vsa` type, so the
 * Vendor-Specific line says octets (pyrad handles attribute 26 itself). Nothing else changes.
 */
function pyradDictionary(dir: string): string {
  for (const f of readdirSync(OUR_DICTIONARIES)) {
    let text = readFileSync(join(OUR_DICTIONARIES, f), 'utf8');
    if (f === 'dictionary.rfc2865') {
      const patched = text.replace(/^(ATTRIBUTE\s+Vendor-Specific\s+26\s+)vsa\b/m, '$1octets');
      if (patched === text) throw new Error('Vendor-Specific line not found');
      text = patched;
    }
    writeFileSync(join(dir, f), text);
  }
  return join(dir, 'dictionary');
}

function peer(request: object): Record<string, any> {
  const r = spawnSync(PYTHON, [PEER], { input: JSON.stringify(request), encoding: 'utf8', timeout: 30000 });
  if (r.status !== 0) throw new Error(`pyrad peer failed (${r.status}): ${r.stderr}`);
  return JSON.parse(r.stdout) as Record<string, any>;
}

t.test('we decode and authenticate what pyrad builds', async (t) => {
  const dictionary = pyradDictionary(t.testdir({}));
  const built = peer({ mode: 'build', dictionary, secret: SECRET });
  const bytes = (name: string) => Buffer.from(built[name] as string, 'hex');

  const pap = bytes('accessRequest');
  const p = decode(pap);
  t.same(verifyRequest(pap, SECRET), { ok: true, messageAuthenticator: 'absent' });
  t.equal(userPassword(p, SECRET)?.toString(), 'alicepw', "pyrad's hidden password");
  t.equal(get(p, 'User-Name'), 'alice');
  t.equal(get(p, 'NAS-IP-Address'), '192.0.2.10');
  t.equal(getEnum(p, 'NAS-Port-Type'), 'Ethernet');
  t.equal(getEnum(p, 'Service-Type'), 'Framed-User');
  t.equal(get(p, 'Mikrotik-Rate-Limit'), '10M/20M');
  t.equal(get(p, 'Framed-IPv6-Prefix'), '2001:db8:1::/48', 'pyrad sends all 16 prefix octets');
  t.equal(get(p, 'NAS-IPv6-Address'), '2001:db8::1');
  t.same(get(p, 'Event-Timestamp'), new Date(1700000000 * 1000));

  const long = decode(bytes('accessRequestLong'));
  t.equal(userPassword(long, SECRET)?.toString(), built.longPassword, 'multi-block password (8 blocks)');

  const acctBuf = bytes('accountingRequest');
  const acct = decode(acctBuf);
  t.same(verifyRequest(acctBuf, SECRET), { ok: true, messageAuthenticator: 'absent' });
  t.same(verifyRequest(acctBuf, 'wrong'), { ok: false, reason: 'authenticator' });
  t.equal(getEnum(acct, 'Acct-Status-Type'), 'Interim-Update');
  t.equal(get(acct, 'Acct-Input-Octets'), 4000000000);
  t.equal(get(acct, 'Acct-Input-Gigawords'), 3);
  t.equal(get(acct, 'Acct-Session-Time'), 600);
  t.same(get(acct, 'Class'), Buffer.from('ocs:session:42'));
  t.equal(get(acct, 'ChilliSpot-Max-Total-Octets'), 5000000);
  t.equal(get(acct, 'WISPr-Location-Name'), 'Lobby');

  for (const [name, code] of [
    ['coaRequest', 43],
    ['disconnectRequest', 40],
  ] as const) {
    const buf = bytes(name);
    t.equal(decode(buf).code, code);
    t.same(verifyRequest(buf, SECRET), { ok: true, messageAuthenticator: 'absent' }, `${name} authenticator`);
    t.same(verifyRequest(buf, 'wrong'), { ok: false, reason: 'authenticator' });
  }
  t.equal(get(decode(bytes('coaRequest')), 'Mikrotik-Rate-Limit'), '1M/1M');

  const accept = bytes('accessAccept');
  const requestAuth = Buffer.from([...Array(16).keys()]);
  t.same(verifyReply(accept, requestAuth, SECRET), { ok: true, messageAuthenticator: 'absent' }, "pyrad's Response Authenticator");
  t.same(verifyReply(accept, Buffer.alloc(16), SECRET), { ok: false, reason: 'authenticator' });
  const a = decode(accept);
  t.equal(get(a, 'Session-Timeout'), 3600);
  t.equal(get(a, 'Mikrotik-Total-Limit'), 1073741824);
  t.equal(get(a, 'Reply-Message'), 'Hello alice');
});

t.test('pyrad decodes and verifies what we build', async (t) => {
  const dictionary = pyradDictionary(t.testdir({}));
  const requestAuthenticator = Buffer.from('f0e1d2c3b4a5968778695a4b3c2d1e0f', 'hex');
  const longPassword = 'x'.repeat(100) + 'Ω'.repeat(14); // 128 octets, the RFC 2865 maximum
  t.equal(Buffer.byteLength(longPassword), 128);
  const packets = {
    accessRequest: encode(
      {
        code: 'Access-Request',
        identifier: 1,
        attributes: [
          ['User-Name', 'alice'],
          ['User-Password', 'alicepw'],
          ['NAS-IP-Address', '192.0.2.10'],
          ['NAS-Port-Type', 'Virtual'],
          ['Framed-IPv6-Prefix', '2001:db8:1::/48'],
          ['NAS-IPv6-Address', '2001:db8::1'],
          ['Mikrotik-Rate-Limit', '10M/20M'],
          ['Event-Timestamp', new Date(1700000000 * 1000)],
        ],
      },
      { secret: SECRET },
    ),
    accessRequestLong: encode({ code: 'Access-Request', identifier: 2, attributes: [['User-Name', 'bob'], ['User-Password', longPassword]] }, { secret: SECRET }),
    accountingRequest: encode(
      {
        code: 'Accounting-Request',
        identifier: 3,
        attributes: [
          ['Acct-Status-Type', 'Stop'],
          ['Acct-Input-Octets', 4294967295],
          ['Acct-Input-Gigawords', 7],
          ['Mikrotik-Total-Limit', 99],
        ],
      },
      { secret: SECRET },
    ),
    coaRequest: encode({ code: 'CoA-Request', identifier: 4, attributes: [['Acct-Session-Id', 'sess-1'], ['Mikrotik-Rate-Limit', '512k/512k']] }, { secret: SECRET }),
    disconnectRequest: encode({ code: 'Disconnect-Request', identifier: 5, attributes: [['Acct-Session-Id', 'sess-1']] }, { secret: SECRET }),
    accessAccept: encode(
      {
        code: 'Access-Accept',
        identifier: 12,
        attributes: [
          ['Session-Timeout', 3600],
          ['Mikrotik-Total-Limit', 1073741824],
          ['Mikrotik-Total-Limit-Gigawords', 1],
          ['ChilliSpot-Max-Total-Octets', 5000000],
          ['Reply-Message', 'Hello alice'],
          ['Acct-Interim-Interval', 300],
        ],
      },
      { secret: SECRET, requestAuthenticator },
    ),
  };
  const hex = Object.fromEntries(Object.entries(packets).map(([k, v]) => [k, v.toString('hex')]));
  const r = peer({ mode: 'check', dictionary, secret: SECRET, packets: hex, requestAuthenticator: requestAuthenticator.toString('hex') });

  t.equal(r.accessRequest.password, 'alicepw', 'pyrad unhides our User-Password');
  t.same(r.accessRequest.values, {
    'User-Name': 'alice',
    'NAS-IP-Address': '192.0.2.10',
    'NAS-Port-Type': 'Virtual',
    'Framed-IPv6-Prefix': '2001:db8:1::/48',
    'NAS-IPv6-Address': '2001:db8::1',
    'Mikrotik-Rate-Limit': '10M/20M',
    'Event-Timestamp': 1700000000,
  });
  t.equal(r.accessRequestLong.password, longPassword, 'pyrad unhides our 128-octet password');
  t.equal(r.accountingRequest.verified, true, 'pyrad verifies our Accounting-Request authenticator');
  t.equal(r.accountingRequestWrongSecret.verified, false, 'and refuses it under another secret');
  t.same(r.accountingRequest.values, { 'Acct-Status-Type': 'Stop', 'Acct-Input-Octets': 4294967295, 'Acct-Input-Gigawords': 7, 'Mikrotik-Total-Limit': 99 });
  t.same(r.coaRequest, { code: 43, verified: true, values: { 'Acct-Session-Id': 'sess-1', 'Mikrotik-Rate-Limit': '512k/512k' } }, 'pyrad verifies our CoA-Request');
  t.same(r.disconnectRequest, { code: 40, verified: true, values: { 'Acct-Session-Id': 'sess-1', 'Mikrotik-Rate-Limit': null } }, 'pyrad verifies our Disconnect-Request');
  t.equal(r.accessAccept.verified, true, 'pyrad verifies our Access-Accept Response Authenticator');
  t.same(r.accessAccept.values, {
    'Session-Timeout': 3600,
    'Mikrotik-Total-Limit': 1073741824,
    'Mikrotik-Total-Limit-Gigawords': 1,
    'ChilliSpot-Max-Total-Octets': 5000000,
    'Reply-Message': 'Hello alice',
    'Acct-Interim-Interval': 300,
  });
});
