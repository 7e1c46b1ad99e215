// Golden vectors from clients nobody here wrote: pppd 2.4.9's radius.so plugin (Debian bookworm) and
// FreeRADIUS 3.2.1, captured on loopback (test/fixtures/radius/pppd-2.4.9-radius.so/README.md).
// Shared secret testing123; PAP and CHAP password alicepw (both stated in the README).
import { readFileSync } from 'node:fs';
import t from 'tap';

import {
  chapPassword,
  unhidePassword,
  userPassword,
  verifyChap,
  verifyRequest,
  verifyRequestAuthenticator,
  verifyResponseAuthenticator,
} from '../../src/radius/authenticator.js';
import { decode, encode, get, getEnum, type RadiusPacket } from '../../src/radius/codec.js';
import { defaultDictionary } from '../../src/radius/dictionary.js';

const DIR = new URL('../fixtures/radius/pppd-2.4.9-radius.so/', import.meta.url);
const SECRET = 'testing123';
const PASSWORD = 'alicepw';

function hex(name: string): Buffer {
  return Buffer.from(readFileSync(new URL(`${name}.hex`, DIR), 'utf8').trim(), 'hex');
}

// ---------------------------------------------------------------------------------------------
// decoded.txt is Wireshark's decoding of the whole exchange (38 packets; 6 of them also as .hex).

interface WiresharkAvp {
  name: string;
  type: number;
  length: number;
  val: string;
}
interface WiresharkPacket {
  code: number;
  identifier: number;
  authenticator: string;
  avps: WiresharkAvp[];
}

function parseDecodedTxt(): WiresharkPacket[] {
  const out: WiresharkPacket[] = [];
  let cur: WiresharkPacket | undefined;
  for (const line of readFileSync(new URL('decoded.txt', DIR), 'utf8').split('\n')) {
    const s = line.trim();
    if (s === 'RADIUS Protocol') {
      cur = { code: -1, identifier: -1, authenticator: '', avps: [] };
      out.push(cur);
      continue;
    }
    if (cur === undefined) continue;
    let m: RegExpExecArray | null;
    if ((m = /^Code: .* \((\d+)\)$/.exec(s))) cur.code = Number(m[1]);
    else if ((m = /^Packet identifier: 0x[0-9a-f]+ \((\d+)\)$/.exec(s))) cur.identifier = Number(m[1]);
    else if ((m = /^Authenticator: ([0-9a-f]{32})$/.exec(s))) cur.authenticator = m[1];
    else if ((m = /^AVP: t=([A-Za-z0-9-]+)\((\d+)\) l=(\d+) val=(.*)$/.exec(s))) {
      cur.avps.push({ name: m[1], type: Number(m[2]), length: Number(m[3]), val: m[4] });
    }
  }
  return out;
}

const WIRESHARK = parseDecodedTxt();

/** Wireshark writes enumerated values as Name(number); the number is what is on the wire. */
function wiresharkNumber(val: string): number | undefined {
  const m = /\((\d+)\)$/.exec(val) ?? /^(\d+)$/.exec(val);
  return m ? Number(m[1]) : undefined;
}

function findBlock(p: RadiusPacket): WiresharkPacket {
  const auth = p.authenticator.toString('hex');
  const block = WIRESHARK.find((w) => w.authenticator === auth && w.identifier === p.identifier && w.code === p.code);
  if (block === undefined) throw new Error(`no decoded.txt entry for authenticator ${auth}`);
  return block;
}

t.test('decoded.txt parses into the 38 packets of the capture', async (t) => {
  t.equal(WIRESHARK.length, 38);
  for (const w of WIRESHARK) {
    t.ok(w.code > 0 && w.identifier >= 0 && w.authenticator.length === 32, `header of packet id ${w.identifier}`);
  }
});

t.test('every .hex decodes to exactly the attributes Wireshark shows in decoded.txt', async (t) => {
  const files = [
    'access-request-pap',
    'access-request-chap',
    'accounting-start',
    'accounting-stop',
    'access-accept-from-freeradius',
    'access-reject-from-freeradius',
  ];
  for (const f of files) {
    const buf = hex(f);
    const p = decode(buf);
    const w = findBlock(p);
    t.equal(p.length, buf.length, `${f}: Length field is the whole datagram`);
    t.equal(p.attributes.length, w.avps.length, `${f}: attribute count`);
    p.attributes.forEach((a, i) => {
      const want = w.avps[i];
      const what = `${f} #${i} ${want.name}`;
      t.equal(a.type, want.type, `${what}: type`);
      t.equal(a.raw.length + 2, want.length, `${what}: length`);
      t.equal(a.name, want.name, `${what}: name`);
      if (want.val === 'Encrypted') {
        t.equal(a.name, 'User-Password', `${what}: only the password is hidden`);
        t.equal(unhidePassword(a.raw, SECRET, p.authenticator).toString(), PASSWORD, `${what}: unhidden`);
      } else if (a.dataType === 'octets') {
        t.equal(a.raw.toString('hex'), want.val, `${what}: octets`);
      } else if (typeof a.value === 'number') {
        t.equal(a.value, wiresharkNumber(want.val), `${what}: number`);
      } else {
        t.equal(a.value, want.val, `${what}: value`);
      }
    });
  }
});

t.test('Access-Request with PAP (pppd)', async (t) => {
  const buf = hex('access-request-pap');
  const p = decode(buf);
  t.equal(p.code, 1);
  t.equal(p.identifier, 0xd8);
  t.equal(p.authenticator.toString('hex'), 'b1f30b3d9d830b48e7c65aaaf7095de9');
  t.same(
    p.attributes.map((a) => [a.name, a.name === 'User-Password' ? '(hidden)' : a.value]),
    [
      ['Service-Type', 2],
      ['Framed-Protocol', 1],
      ['User-Name', 'alice'],
      ['User-Password', '(hidden)'],
      ['NAS-Identifier', 'bnas-harness'],
      ['NAS-Port', 0],
    ],
  );
  t.equal(getEnum(p, 'Service-Type'), 'Framed-User', 'Wireshark says Framed(2); our dictionary uses the FreeRADIUS name');
  t.equal(getEnum(p, 'Framed-Protocol'), 'PPP');
  t.equal(userPassword(p, SECRET)?.toString(), PASSWORD, 'PAP password recovered with the shared secret');
  t.not(userPassword(p, 'wrong-secret')?.toString(), PASSWORD, 'a wrong secret does not recover it');
  t.equal(get(p, 'Calling-Station-Id'), undefined, 'pppd sends no Calling-Station-Id');
  t.equal(get(p, 'Message-Authenticator'), undefined, 'pppd sends no Message-Authenticator');
  t.same(verifyRequest(buf, SECRET), { ok: true, messageAuthenticator: 'absent' }, 'an Access-Request without MA passes by default');
  t.same(verifyRequest(buf, SECRET, { requireMessageAuthenticator: true }), { ok: false, reason: 'message-authenticator-missing' });
});

t.test('Access-Request with CHAP (pppd): 23-octet CHAP-Challenge', async (t) => {
  const p = decode(hex('access-request-chap'));
  t.equal(p.identifier, 0xc8);
  const challenge = get(p, 'CHAP-Challenge') as Buffer;
  const chap = get(p, 'CHAP-Password') as Buffer;
  t.equal(challenge.toString('hex'), '2616f10a02831c6aeed59b9e9c87cce80dfb5dddcc0ff5');
  t.equal(challenge.length, 23, 'pppd sends a 23-octet challenge, not 16');
  t.equal(chap.toString('hex'), '70829d8d672ef01d607ed8bef5bbd9feb9');
  t.equal(verifyChap(p, PASSWORD), true, 'CHAP response matches alicepw');
  t.equal(verifyChap(p, 'alicepx'), false, 'and not another password');
  t.same(chapPassword(chap[0], PASSWORD, challenge), chap, 'we compute the same CHAP-Password');
  t.equal(userPassword(p, SECRET), undefined, 'no User-Password in a CHAP request');
  t.equal(get(p, 'User-Name'), 'alice');
  t.equal(get(p, 'NAS-Identifier'), 'bnas-harness');
});

t.test('Accounting-Request Start (pppd)', async (t) => {
  const buf = hex('accounting-start');
  const p = decode(buf);
  t.equal(p.code, 4);
  t.equal(p.identifier, 0xd9);
  t.same(
    p.attributes.map((a) => [a.name, a.value]),
    [
      ['Acct-Session-Id', '%lX6b0832c2%hX'],
      ['User-Name', 'alice'],
      ['Acct-Status-Type', 1],
      ['Service-Type', 2],
      ['Framed-Protocol', 1],
      ['Acct-Authentic', 1],
      ['NAS-Port-Type', 5],
      ['Framed-IP-Address', '10.67.1.1'],
      ['NAS-Identifier', 'bnas-harness'],
      ['NAS-Port', 0],
      ['Acct-Delay-Time', 0],
    ],
  );
  t.equal(getEnum(p, 'Acct-Status-Type'), 'Start');
  t.equal(getEnum(p, 'Acct-Authentic'), 'RADIUS');
  t.equal(getEnum(p, 'NAS-Port-Type'), 'Virtual');
  t.equal(verifyRequestAuthenticator(buf, SECRET), true, 'Request Authenticator verifies with testing123');
  t.equal(verifyRequestAuthenticator(buf, 'testing124'), false, 'and not with another secret');
  t.same(verifyRequest(buf, SECRET), { ok: true, messageAuthenticator: 'absent' });
  t.same(verifyRequest(buf, 'testing124'), { ok: false, reason: 'authenticator' });
});

t.test('Accounting-Request Stop (pppd): 32-bit counters, no Gigawords', async (t) => {
  const buf = hex('accounting-stop');
  const p = decode(buf);
  t.equal(p.identifier, 0xda);
  t.same(
    p.attributes.map((a) => [a.name, a.value]),
    [
      ['Acct-Session-Id', '%lX6b0832c2%hX'],
      ['User-Name', 'alice'],
      ['Acct-Status-Type', 2],
      ['Service-Type', 2],
      ['Framed-Protocol', 1],
      ['Acct-Authentic', 1],
      ['Acct-Session-Time', 8],
      ['Acct-Output-Octets', 57869148],
      ['Acct-Input-Octets', 52536464],
      ['Acct-Output-Packets', 51100],
      ['Acct-Input-Packets', 46277],
      ['NAS-Port-Type', 5],
      ['Acct-Terminate-Cause', 1],
      ['Framed-IP-Address', '10.67.1.1'],
      ['NAS-Identifier', 'bnas-harness'],
      ['NAS-Port', 0],
      ['Acct-Delay-Time', 0],
    ],
  );
  t.equal(getEnum(p, 'Acct-Status-Type'), 'Stop');
  t.equal(getEnum(p, 'Acct-Terminate-Cause'), 'User-Request');
  t.equal(get(p, 'Acct-Input-Gigawords'), undefined);
  t.equal(get(p, 'Acct-Output-Gigawords'), undefined);
  t.equal(verifyRequestAuthenticator(buf, SECRET), true);
  t.equal(verifyRequestAuthenticator(buf, 'Testing123'), false);
});

t.test("FreeRADIUS's Access-Accept and Access-Reject verify against their Access-Requests", async (t) => {
  const pap = decode(hex('access-request-pap'));
  const accept = hex('access-accept-from-freeradius');
  const a = decode(accept);
  t.equal(a.code, 2);
  t.equal(a.identifier, pap.identifier);
  t.same(
    a.attributes.map((x) => [x.name, x.value]),
    [
      ['Reply-Message', 'Hello alice'],
      ['Session-Timeout', 3600],
      ['Acct-Interim-Interval', 300],
    ],
  );
  t.equal(verifyResponseAuthenticator(accept, pap.authenticator, SECRET), true, 'Accept verifies');
  t.equal(verifyResponseAuthenticator(accept, pap.authenticator, 'testing12'), false, 'not with a wrong secret');
  t.equal(verifyResponseAuthenticator(accept, decode(hex('access-request-chap')).authenticator, SECRET), false, 'not for another request');

  // The Access-Reject answers request 0xb5, which is only in decoded.txt (not in a .hex file).
  const reject = hex('access-reject-from-freeradius');
  const r = decode(reject);
  t.equal(r.code, 3);
  t.equal(r.identifier, 0xb5);
  const request = WIRESHARK.find((w) => w.code === 1 && w.identifier === 0xb5);
  t.ok(request, 'its Access-Request is in decoded.txt');
  const requestAuth = Buffer.from(request!.authenticator, 'hex');
  t.equal(verifyResponseAuthenticator(reject, requestAuth, SECRET), true, 'Reject verifies');
  t.equal(verifyResponseAuthenticator(reject, pap.authenticator, SECRET), false);
  // Surprise: this Access-Reject carries Session-Timeout and Acct-Interim-Interval, which RFC 2865 5.44 forbids there.
  t.same(
    r.attributes.map((x) => x.name),
    ['Reply-Message', 'Session-Timeout', 'Acct-Interim-Interval'],
  );
});

t.test('our encoder rebuilds every accounting and reply packet of decoded.txt with the same authenticator', async (t) => {
  // The Authenticator of an Accounting-Request is MD5 over its octets with the secret, and that of a
  // reply is MD5 over its octets with the request's authenticator: encoding the decoded attributes
  // again must therefore reproduce the captured authenticator exactly.
  let checked = 0;
  for (let i = 0; i < WIRESHARK.length; i++) {
    const w = WIRESHARK[i];
    if (w.code === 1) continue; // Access-Request: random authenticator, hidden password not in decoded.txt
    const attributes = w.avps.map((avp) => {
      const n = wiresharkNumber(avp.val);
      const numeric = defaultDictionary().attribute(avp.type)?.type === 'integer' ? n : undefined;
      return { type: avp.type, value: numeric ?? avp.val };
    });
    let requestAuthenticator: Buffer | undefined;
    if (w.code !== 4) {
      const req = WIRESHARK.slice(0, i).reverse().find((x) => x.identifier === w.identifier && (x.code === 1 || x.code === 4));
      t.ok(req, `request of ${w.code}/${w.identifier} found`);
      requestAuthenticator = Buffer.from(req!.authenticator, 'hex');
    }
    const out = encode({ code: w.code, identifier: w.identifier, attributes }, { secret: SECRET, requestAuthenticator });
    t.equal(out.subarray(4, 20).toString('hex'), w.authenticator, `code ${w.code} id ${w.identifier}`);
    checked++;
  }
  t.equal(checked, 31, '12 Accounting-Requests, 12 Accounting-Responses, 6 Access-Accepts, 1 Access-Reject');
});

t.test('sessions in the capture that a key of NAS + Acct-Session-Id + User-Name would merge', async (t) => {
  // pppd 2.4.9 prints "%lX<hex seconds>%hX": two sessions of alice that started in the same second on
  // NAS ports 0 and 1 share Acct-Session-Id; only NAS-Port and Framed-IP-Address tell them apart.
  const starts = WIRESHARK.filter((w) => w.code === 4 && w.avps.some((a) => a.name === 'Acct-Status-Type' && a.val === 'Start(1)'));
  const key = (w: WiresharkPacket, names: string[]) => names.map((n) => w.avps.find((a) => a.name === n)?.val).join('|');
  const narrow = new Set(starts.map((w) => key(w, ['NAS-Identifier', 'Acct-Session-Id', 'User-Name'])));
  const wide = new Set(starts.map((w) => key(w, ['NAS-Identifier', 'Acct-Session-Id', 'User-Name', 'NAS-Port'])));
  t.equal(starts.length, 6);
  t.equal(narrow.size, 5, 'two Starts collide without NAS-Port');
  t.equal(wide.size, 6, 'NAS-Port separates them');
});
