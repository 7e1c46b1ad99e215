// RADIUS authenticators: Request/Response Authenticator, Message-Authenticator, PAP hiding, CHAP.
// Known answers come from RFC 2865 section 7.1 and the pppd capture; the HMAC is also recomputed
// here independently of the code under test.
import { createHash, createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import t from 'tap';

import {
  chapPassword,
  computeMessageAuthenticator,
  computeRequestAuthenticator,
  computeResponseAuthenticator,
  findMessageAuthenticator,
  hidePassword,
  passwordsEqual,
  unhidePassword,
  userPassword,
  verifyChap,
  verifyChapPassword,
  verifyMessageAuthenticator,
  verifyReply,
  verifyRequest,
  verifyRequestAuthenticator,
  verifyResponseAuthenticator,
} from '../../src/radius/authenticator.js';
import { decode, encode, getAttribute, RadiusCode } from '../../src/radius/codec.js';
import { RadiusDecodeError } from '../../src/radius/errors.js';

const SECRET = 'testing123';
const REQ_AUTH = Buffer.from('0f403f9473978057bd83d5cb98f4227a', 'hex');
const FIXTURES = new URL('../fixtures/radius/', import.meta.url);
const fixture = (path: string) => Buffer.from(readFileSync(new URL(path, FIXTURES), 'utf8').trim(), 'hex');

/** Message-Authenticator recomputed from scratch: HMAC-MD5 over a copy with the MA zeroed and the Authenticator field replaced. */
function referenceMa(packet: Buffer, secret: string, vector: Buffer): Buffer {
  const copy = Buffer.from(packet);
  vector.copy(copy, 4);
  for (let off = 20; off < copy.length; off += copy[off + 1]) {
    if (copy[off] === 80) copy.fill(0, off + 2, off + 18);
  }
  return createHmac('md5', secret).update(copy).digest();
}

function maValue(packet: Buffer): Buffer {
  const off = findMessageAuthenticator(packet);
  if (typeof off !== 'number') throw new Error('no Message-Authenticator');
  return packet.subarray(off, off + 16);
}

function flipEachBit(buf: Buffer, from: number, to: number, check: (mutated: Buffer, bit: number) => void): number {
  let n = 0;
  for (let i = from; i < to; i++) {
    for (let b = 0; b < 8; b++) {
      const m = Buffer.from(buf);
      m[i] ^= 1 << b;
      check(m, i * 8 + b);
      n++;
    }
  }
  return n;
}

t.test('RFC 2865 section 7.1 example: PAP and the Access-Accept Response Authenticator', async (t) => {
  const request = fixture('rfc2865-section-7.1/access-request.hex');
  const accept = fixture('rfc2865-section-7.1/access-accept.hex');
  const p = decode(request);
  t.equal(p.authenticator.toString('hex'), '0f403f9473978057bd83d5cb98f4227a');
  t.equal(userPassword(p, 'xyzzy5461')?.toString(), 'arctangent');
  t.same(hidePassword('arctangent', 'xyzzy5461', p.authenticator), getAttribute(p, 'User-Password')!.raw, 'hiding gives the RFC octets');
  t.equal(verifyResponseAuthenticator(accept, p.authenticator, 'xyzzy5461'), true);
  t.same(computeResponseAuthenticator(accept, p.authenticator, 'xyzzy5461'), accept.subarray(4, 20));
  t.same(verifyReply(accept, p.authenticator, 'xyzzy5461'), { ok: true, messageAuthenticator: 'absent' });
  // Our encoder produces the very same Access-Accept.
  const ours = encode(
    { code: 'Access-Accept', identifier: 0, attributes: [['Service-Type', 'Login-User'], ['Login-Service', 'Telnet'], ['Login-IP-Host', '192.168.1.3']] },
    { secret: 'xyzzy5461', requestAuthenticator: p.authenticator },
  );
  t.same(ours, accept);
  // And the same Access-Request, given its authenticator.
  const req = encode(
    { code: 'Access-Request', identifier: 0, authenticator: p.authenticator, attributes: [['User-Name', 'nemo'], ['User-Password', 'arctangent'], ['NAS-IP-Address', '192.168.1.16'], ['NAS-Port', 3]] },
    { secret: 'xyzzy5461' },
  );
  t.same(req, request);
});

t.test('Accounting-, CoA- and Disconnect-Request authenticators: build and verify', async (t) => {
  for (const code of [RadiusCode.AccountingRequest, RadiusCode.CoaRequest, RadiusCode.DisconnectRequest]) {
    const buf = encode({ code, identifier: 9, attributes: [['User-Name', 'alice'], ['Acct-Session-Id', 'abc']] }, { secret: SECRET });
    const zeroed = Buffer.from(buf);
    zeroed.fill(0, 4, 20);
    const expected = createHash('md5').update(zeroed).update(SECRET).digest();
    t.same(buf.subarray(4, 20), expected, `code ${code}: MD5(Code+ID+Length+16 zeros+Attributes+Secret)`);
    t.same(computeRequestAuthenticator(buf, SECRET), expected);
    t.equal(verifyRequestAuthenticator(buf, SECRET), true);
    t.equal(verifyRequestAuthenticator(buf, 'testing1234'), false);
    t.same(verifyRequest(buf, SECRET), { ok: true, messageAuthenticator: 'absent' });
    t.same(verifyRequest(buf, 'x'), { ok: false, reason: 'authenticator' });
    t.equal(verifyRequestAuthenticator(Buffer.concat([buf, Buffer.from('00ff', 'hex')]), SECRET), true, 'trailing padding ignored');
  }
  // A secret too long for the scratch buffer (packet and secret past 5 KiB) takes node:crypto's path.
  const longSecret = 's'.repeat(2000);
  const big = encode({ code: RadiusCode.AccountingRequest, identifier: 3, attributes: Array.from({ length: 14 }, () => ['Reply-Message', 'x'.repeat(250)] as ['Reply-Message', string]) }, { secret: longSecret });
  t.ok(big.length + longSecret.length > 4096 + 1024);
  const bigZeroed = Buffer.from(big).fill(0, 4, 20);
  t.same(big.subarray(4, 20), createHash('md5').update(bigZeroed).update(longSecret).digest(), 'long secret: the same authenticator');
  t.equal(verifyRequestAuthenticator(big, longSecret), true);
  t.equal(verifyRequestAuthenticator(big, longSecret.slice(1)), false);
  const ra = Buffer.alloc(16, 7);
  const bigReply = encode({ code: RadiusCode.AccountingResponse, identifier: 3, attributes: Array.from({ length: 14 }, () => ['Reply-Message', 'y'.repeat(250)] as ['Reply-Message', string]) }, { secret: longSecret, requestAuthenticator: ra });
  const signed = Buffer.from(bigReply);
  ra.copy(signed, 4);
  t.same(bigReply.subarray(4, 20), createHash('md5').update(signed).update(longSecret).digest(), 'long secret: the same Response Authenticator');
  t.equal(verifyResponseAuthenticator(bigReply, ra, longSecret), true);
  t.equal(verifyRequestAuthenticator(Buffer.alloc(10), SECRET), false, 'short buffer is false, not an exception');
  t.throws(() => computeRequestAuthenticator(Buffer.alloc(10), SECRET), RadiusDecodeError);
});

t.test('every single-bit flip of a valid accounting packet is rejected', async (t) => {
  const buf = fixture('pppd-2.4.9-radius.so/accounting-stop.hex');
  t.equal(verifyRequestAuthenticator(buf, SECRET), true, 'the original verifies');
  let accepted = 0;
  const inAuth = flipEachBit(buf, 4, 20, (m) => {
    if (verifyRequestAuthenticator(m, SECRET)) accepted++;
  });
  t.equal(inAuth, 128);
  const whole = flipEachBit(buf, 0, buf.length, (m) => {
    if (verifyRequest(m, SECRET).ok) accepted++;
  });
  t.equal(whole, buf.length * 8);
  t.equal(accepted, 0, `none of ${inAuth} authenticator flips and ${whole} packet flips accepted`);
});

t.test('every single-bit flip of a Message-Authenticator is rejected', async (t) => {
  const cases: [string, Buffer, (m: Buffer) => boolean][] = [];
  const accessRequest = encode(
    { code: 'Access-Request', identifier: 3, attributes: [['User-Name', 'alice'], ['User-Password', 'alicepw'], ['NAS-Identifier', 'bnas']] },
    { secret: SECRET, messageAuthenticator: true },
  );
  cases.push(['Access-Request', accessRequest, (m) => verifyRequest(m, SECRET, { requireMessageAuthenticator: true }).ok]);
  const accounting = encode({ code: 'Accounting-Request', identifier: 4, attributes: [['Acct-Status-Type', 'Start'], ['Acct-Session-Id', 's1']] }, { secret: SECRET, messageAuthenticator: true });
  cases.push(['Accounting-Request', accounting, (m) => verifyRequest(m, SECRET, { requireMessageAuthenticator: true }).ok]);
  const accept = encode({ code: 'Access-Accept', identifier: 3, attributes: [['Session-Timeout', 60]] }, { secret: SECRET, requestAuthenticator: REQ_AUTH, messageAuthenticator: true });
  cases.push(['Access-Accept', accept, (m) => verifyReply(m, REQ_AUTH, SECRET, { requireMessageAuthenticator: true }).ok]);
  const coaAck = encode({ code: 'CoA-ACK', identifier: 3 }, { secret: SECRET, requestAuthenticator: REQ_AUTH, messageAuthenticator: true });
  cases.push(['CoA-ACK', coaAck, (m) => verifyReply(m, REQ_AUTH, SECRET, { requireMessageAuthenticator: true }).ok]);

  for (const [what, buf, accepts] of cases) {
    t.equal(accepts(buf), true, `${what}: original accepted`);
    t.equal(verifyMessageAuthenticator(buf, SECRET, REQ_AUTH), 'valid');
    const off = findMessageAuthenticator(buf) as number;
    let maFlipsAccepted = 0;
    const n = flipEachBit(buf, off, off + 16, (m) => {
      if (verifyMessageAuthenticator(m, SECRET, REQ_AUTH) !== 'invalid') maFlipsAccepted++;
    });
    t.equal(n, 128);
    t.equal(maFlipsAccepted, 0, `${what}: all 128 flips of the Message-Authenticator rejected`);
    let packetFlipsAccepted = 0;
    const total = flipEachBit(buf, 0, buf.length, (m) => {
      if (accepts(m)) packetFlipsAccepted++;
    });
    t.equal(packetFlipsAccepted, 0, `${what}: all ${total} flips anywhere in the packet rejected`);
  }
});

t.test('Message-Authenticator per packet code (RFC 2869 5.14, RFC 3579 3.2, RFC 5176 3.3)', async (t) => {
  const zero = Buffer.alloc(16);
  // Requests: the vector is the packet's own authenticator (Access-Request, Status-Server) or zeros.
  for (const code of [1, 12]) {
    const auth = Buffer.from('a1a2a3a4a5a6a7a8a9aaabacadaeafb0', 'hex');
    const buf = encode({ code, identifier: 1, authenticator: auth, attributes: [['User-Name', 'x']] }, { secret: SECRET, messageAuthenticator: true });
    t.same(buf.subarray(4, 20), auth, `code ${code}: authenticator kept`);
    t.equal(buf[20], 80, 'Message-Authenticator added as the first attribute');
    t.same(maValue(buf), referenceMa(buf, SECRET, auth), `code ${code}: HMAC over the packet as sent`);
    t.equal(verifyMessageAuthenticator(buf, SECRET), 'valid');
    t.equal(verifyMessageAuthenticator(buf, 'other'), 'invalid');
  }
  for (const code of [4, 40, 43]) {
    const buf = encode({ code, identifier: 1, attributes: [['User-Name', 'x']] }, { secret: SECRET, messageAuthenticator: true });
    t.same(maValue(buf), referenceMa(buf, SECRET, zero), `code ${code}: HMAC with a zero Authenticator field`);
    t.equal(verifyRequestAuthenticator(buf, SECRET), true, `code ${code}: Request Authenticator computed after the MA`);
    t.equal(verifyMessageAuthenticator(buf, SECRET), 'valid');
  }
  // Access replies: the request's authenticator, nothing else.
  for (const code of [2, 3, 11]) {
    const buf = encode({ code, identifier: 1, attributes: [['Reply-Message', 'x']] }, { secret: SECRET, requestAuthenticator: REQ_AUTH, messageAuthenticator: true });
    t.same(maValue(buf), referenceMa(buf, SECRET, REQ_AUTH), `code ${code}: HMAC with the request's authenticator`);
    t.equal(verifyResponseAuthenticator(buf, REQ_AUTH, SECRET), true, `code ${code}: Response Authenticator over the final MA`);
    t.equal(verifyMessageAuthenticator(buf, SECRET, REQ_AUTH), 'valid');
    t.equal(verifyMessageAuthenticator(buf, SECRET, zero), 'invalid', 'another request authenticator fails');
    t.equal(verifyMessageAuthenticator(buf, SECRET), 'invalid', 'a reply cannot be checked without its request');
    const zeroStyle = encode({ code, identifier: 1, attributes: [['Reply-Message', 'x']] }, { secret: SECRET, requestAuthenticator: REQ_AUTH, messageAuthenticator: true, replyMessageAuthenticatorVector: 'zero' });
    t.same(zeroStyle, buf, 'the zero option does not apply to Access replies');
  }
  // Accounting-Response: zeros by default (what radclient 3.2 verifies); Disconnect/CoA ACK/NAK: the request's.
  for (const code of [5, 41, 42, 44, 45]) {
    const buf = encode({ code, identifier: 1 }, { secret: SECRET, requestAuthenticator: REQ_AUTH, messageAuthenticator: true });
    t.same(maValue(buf), referenceMa(buf, SECRET, code === 5 ? zero : REQ_AUTH), `code ${code}: default vector`);
    t.equal(verifyResponseAuthenticator(buf, REQ_AUTH, SECRET), true);
    t.equal(verifyMessageAuthenticator(buf, SECRET, REQ_AUTH), 'valid');
    for (const style of ['request', 'zero'] as const) {
      const other = encode({ code, identifier: 1 }, { secret: SECRET, requestAuthenticator: REQ_AUTH, messageAuthenticator: true, replyMessageAuthenticatorVector: style });
      t.same(maValue(other), referenceMa(other, SECRET, style === 'zero' ? zero : REQ_AUTH), `code ${code}: ${style} vector on request`);
      t.equal(verifyMessageAuthenticator(other, SECRET, REQ_AUTH), 'valid', `code ${code}: ${style} vector accepted`);
    }
  }
  // computeMessageAuthenticator is the same HMAC.
  const buf = encode({ code: 1, identifier: 1, attributes: [['User-Name', 'x'], ['Message-Authenticator', Buffer.alloc(16, 7)]] }, { secret: SECRET });
  const off = findMessageAuthenticator(buf) as number;
  t.same(computeMessageAuthenticator(buf, SECRET, buf.subarray(4, 20), off), maValue(buf), 'a listed Message-Authenticator is filled in whatever its value');
});

t.test('verifyRequest / verifyReply verdicts', async (t) => {
  const acct = encode({ code: 4, identifier: 1, attributes: [['Acct-Status-Type', 'Stop']] }, { secret: SECRET });
  t.same(verifyRequest(acct.subarray(0, 19), SECRET), { ok: false, reason: 'malformed' });
  t.same(verifyRequest(encode({ code: 2, identifier: 1 }, { secret: SECRET, requestAuthenticator: REQ_AUTH }), SECRET), { ok: false, reason: 'unexpected-code' });
  t.same(verifyReply(acct, REQ_AUTH, SECRET), { ok: false, reason: 'unexpected-code' });
  t.same(verifyReply(acct.subarray(0, 10), REQ_AUTH, SECRET), { ok: false, reason: 'malformed' });

  const statusServer = encode({ code: 12, identifier: 1 }, { secret: SECRET, messageAuthenticator: false });
  t.same(verifyRequest(statusServer, SECRET), { ok: false, reason: 'message-authenticator-missing' }, 'Status-Server needs a MA (RFC 5997)');
  const statusServerDefault = encode({ code: 12, identifier: 1 }, { secret: SECRET });
  t.same(verifyRequest(statusServerDefault, SECRET), { ok: true, messageAuthenticator: 'valid' }, 'the encoder adds one to Status-Server by default');
  const eap = encode({ code: 1, identifier: 1, attributes: [['EAP-Message', Buffer.from('0201000501', 'hex')]] }, { secret: SECRET });
  t.same(verifyRequest(eap, SECRET), { ok: false, reason: 'message-authenticator-missing' }, 'EAP-Message needs a MA (RFC 3579 3.2)');
  const eapMa = encode({ code: 1, identifier: 1, attributes: [['EAP-Message', Buffer.from('0201000501', 'hex')]] }, { secret: SECRET, messageAuthenticator: true });
  t.same(verifyRequest(eapMa, SECRET), { ok: true, messageAuthenticator: 'valid' });
  t.same(verifyRequest(eapMa, 'wrong'), { ok: false, reason: 'message-authenticator' });

  // Two Message-Authenticators: invalid (RFC 3579 3.2 allows one).
  const one = encode({ code: 1, identifier: 1 }, { secret: SECRET, messageAuthenticator: true });
  const two = Buffer.concat([one, one.subarray(20)]);
  two.writeUInt16BE(two.length, 2);
  t.equal(findMessageAuthenticator(two), 'bad');
  t.equal(verifyMessageAuthenticator(two, SECRET), 'invalid');
  t.same(verifyRequest(two, SECRET), { ok: false, reason: 'malformed' });
  t.equal(findMessageAuthenticator(one.subarray(0, 30)), 'bad', 'cut packet');

  const accept = encode({ code: 2, identifier: 1, attributes: [['Session-Timeout', 10]] }, { secret: SECRET, requestAuthenticator: REQ_AUTH });
  t.same(verifyReply(accept, REQ_AUTH, SECRET), { ok: true, messageAuthenticator: 'absent' });
  t.same(verifyReply(accept, REQ_AUTH, SECRET, { requireMessageAuthenticator: true }), { ok: false, reason: 'message-authenticator-missing' });
  t.same(verifyReply(accept, Buffer.alloc(16), SECRET), { ok: false, reason: 'authenticator' });
  t.same(verifyReply(accept, REQ_AUTH.subarray(0, 15), SECRET), { ok: false, reason: 'authenticator' });
  // A reply whose MA is wrong but whose Response Authenticator was recomputed over it.
  const forged = encode({ code: 2, identifier: 1 }, { secret: SECRET, requestAuthenticator: REQ_AUTH, messageAuthenticator: true });
  forged[22] ^= 1;
  forged.set(REQ_AUTH, 4);
  createHash('md5').update(forged).update(SECRET).digest().copy(forged, 4);
  t.same(verifyReply(forged, REQ_AUTH, SECRET), { ok: false, reason: 'message-authenticator' });
});

t.test('User-Password hiding (RFC 2865 5.2), 0 to 128 octets', async (t) => {
  const ra = Buffer.from('00112233445566778899aabbccddeeff', 'hex');
  for (let len = 0; len <= 128; len++) {
    const pw = Buffer.alloc(len);
    for (let i = 0; i < len; i++) pw[i] = 1 + ((i * 37) % 255); // no NULs: they would be taken as padding
    const hidden = hidePassword(pw, SECRET, ra);
    t.equal(hidden.length, Math.max(16, Math.ceil(len / 16) * 16), `length ${len}: padded`);
    t.same(unhidePassword(hidden, SECRET, ra), pw, `length ${len}: round trip`);
  }
  // Second block chains on the first ciphertext block, not on the authenticator.
  const long = 'p'.repeat(40);
  const hidden = hidePassword(long, SECRET, ra);
  const b1 = createHash('md5').update(SECRET).update(ra).digest();
  const b2 = createHash('md5').update(SECRET).update(hidden.subarray(0, 16)).digest();
  t.equal(hidden[0], 'p'.charCodeAt(0) ^ b1[0]);
  t.equal(hidden[16], 'p'.charCodeAt(0) ^ b2[0]);
  t.not(hidePassword(long, SECRET, Buffer.alloc(16)).toString('hex'), hidden.toString('hex'), 'depends on the authenticator');
  t.throws(() => hidePassword('x'.repeat(129), SECRET, ra), { code: 'OCS_ERR_RADIUS_ENCODE_VALUE' });
  t.throws(() => hidePassword('x', SECRET, Buffer.alloc(8)), { code: 'OCS_ERR_RADIUS_ENCODE_VALUE' });
  for (const bad of [0, 15, 17, 100, 144]) {
    t.throws(() => unhidePassword(Buffer.alloc(bad), SECRET, ra), { code: 'OCS_ERR_RADIUS_PASSWORD' }, `hidden length ${bad}`);
  }
  t.throws(() => unhidePassword(Buffer.alloc(16), SECRET, Buffer.alloc(3)), { code: 'OCS_ERR_RADIUS_PASSWORD' });
  // Through the encoder: a 128-octet password in an Access-Request.
  const pw128 = 'Z'.repeat(128);
  const req = decode(encode({ code: 'Access-Request', identifier: 1, attributes: [['User-Name', 'u'], ['User-Password', pw128]] }, { secret: SECRET }));
  t.equal(userPassword(req, SECRET)?.toString(), pw128);
  t.equal(getAttribute(req, 'User-Password')!.raw.length, 128);
  t.equal(passwordsEqual(userPassword(req, SECRET)!, pw128), true);
  t.equal(passwordsEqual('alicepw', 'alicepx'), false);
  t.equal(passwordsEqual('alice', 'alicepw'), false);
});

t.test('CHAP (RFC 1994 / RFC 2865 5.3): with CHAP-Challenge and with the Request Authenticator', async (t) => {
  const challenge = Buffer.from('2616f10a02831c6aeed59b9e9c87cce80dfb5dddcc0ff5', 'hex');
  const value = chapPassword(0x70, 'alicepw', challenge);
  t.equal(value.toString('hex'), '70829d8d672ef01d607ed8bef5bbd9feb9', 'same response pppd computed');
  t.equal(verifyChapPassword(value, 'alicepw', challenge), true);
  t.equal(verifyChapPassword(value, 'alicepw', challenge.subarray(1)), false);
  t.equal(verifyChapPassword(value.subarray(0, 16), 'alicepw', challenge), false, 'wrong length');
  t.equal(verifyChapPassword(value, 'alicepw', Buffer.alloc(0)), false, 'empty challenge');
  t.throws(() => chapPassword(256, 'x', challenge), { code: 'OCS_ERR_RADIUS_ENCODE_VALUE' });

  // No CHAP-Challenge: the Request Authenticator is the challenge.
  const auth = Buffer.from('11111111222222223333333344444444', 'hex');
  const req = decode(encode({ code: 1, identifier: 2, authenticator: auth, attributes: [['User-Name', 'bob'], ['CHAP-Password', chapPassword(9, 'bobpw', auth)]] }, { secret: SECRET }));
  t.equal(verifyChap(req, 'bobpw'), true);
  t.equal(verifyChap(req, 'bobpx'), false);
  t.equal(verifyChap(decode(encode({ code: 1, identifier: 2 }, { secret: SECRET })), 'x'), undefined, 'no CHAP-Password');
  const withChallenge = decode(
    encode({ code: 1, identifier: 2, attributes: [['CHAP-Challenge', challenge], ['CHAP-Password', value]] }, { secret: SECRET }),
  );
  t.equal(verifyChap(withChallenge, 'alicepw'), true);
});
