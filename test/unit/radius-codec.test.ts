// RADIUS packet codec: round trips of every data type, VSAs, unknown attributes, byte-exact
// re-encoding, malformed vectors (each with its error code), encoder errors and a fuzz run.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import t from 'tap';

import {
  codeName,
  decode,
  encode,
  get,
  getAll,
  getAttribute,
  getAttributes,
  getEnum,
  getNumber,
  getOctets,
  getString,
  RadiusCode,
  type RadiusAttributeInput,
  type RadiusPacket,
} from '../../src/radius/codec.js';
import { DEFAULT_DICTIONARY_PATH, loadDictionary } from '../../src/radius/dictionary.js';
import { RadiusDecodeError, RadiusEncodeError } from '../../src/radius/errors.js';

const SECRET = 'testing123';
const REQ_AUTH = Buffer.from('00112233445566778899aabbccddeeff', 'hex');
const FIXTURES = new URL('../fixtures/radius/', import.meta.url);
const dict = loadDictionary([DEFAULT_DICTIONARY_PATH, fileURLToPath(new URL('dictionary.test', FIXTURES))]);

function fixture(path: string): Buffer {
  return Buffer.from(readFileSync(new URL(path, FIXTURES), 'utf8').trim(), 'hex');
}

const PPPD = ['access-request-pap', 'access-request-chap', 'accounting-start', 'accounting-stop', 'access-accept-from-freeradius', 'access-reject-from-freeradius'].map(
  (n) => fixture(`pppd-2.4.9-radius.so/${n}.hex`),
);

/** An Access-Accept holding `attributes`, decoded again. */
function roundTrip(attributes: RadiusAttributeInput[]): RadiusPacket {
  const buf = encode({ code: 'Access-Accept', identifier: 7, attributes }, { secret: SECRET, requestAuthenticator: REQ_AUTH, dictionary: dict });
  return decode(buf, { dictionary: dict });
}

/** A packet with the given attribute octets after a valid header. */
function packetWith(attrHex: string, code = 2): Buffer {
  const attrs = Buffer.from(attrHex.replace(/\s+/g, ''), 'hex');
  const b = Buffer.alloc(20 + attrs.length);
  b[0] = code;
  b[1] = 1;
  b.writeUInt16BE(b.length, 2);
  attrs.copy(b, 20);
  return b;
}

t.test('round trip of every data type, standard attributes', async (t) => {
  const when = new Date('2023-11-14T22:13:20Z');
  const p = roundTrip([
    ['User-Name', 'alice'],
    ['Reply-Message', 'Grüße ✓'],
    ['Class', Buffer.from([0, 1, 2, 255])],
    ['Session-Timeout', 3600],
    ['Acct-Interim-Interval', 0xffffffff],
    ['Termination-Action', 'RADIUS-Request'],
    ['Event-Timestamp', when],
    ['Framed-IP-Address', '10.67.1.1'],
    ['NAS-IPv6-Address', '2001:db8::1'],
    ['Framed-IPv6-Prefix', '2001:db8:1::/48'],
    ['Delegated-IPv6-Prefix', '2001:db8:ab00::/40'],
    ['Framed-Interface-Id', '0011:2233:4455:6677'],
    ['Error-Cause', 'Session-Context-Not-Found'],
  ]);
  t.same(
    p.attributes.map((a) => [a.name, a.value instanceof Date ? a.value.toISOString() : Buffer.isBuffer(a.value) ? a.value.toString('hex') : a.value]),
    [
      ['User-Name', 'alice'],
      ['Reply-Message', 'Grüße ✓'],
      ['Class', '000102ff'],
      ['Session-Timeout', 3600],
      ['Acct-Interim-Interval', 4294967295],
      ['Termination-Action', 1],
      ['Event-Timestamp', '2023-11-14T22:13:20.000Z'],
      ['Framed-IP-Address', '10.67.1.1'],
      ['NAS-IPv6-Address', '2001:db8::1'],
      ['Framed-IPv6-Prefix', '2001:db8:1::/48'],
      ['Delegated-IPv6-Prefix', '2001:db8:ab00::/40'],
      ['Framed-Interface-Id', '0011:2233:4455:6677'],
      ['Error-Cause', 503],
    ],
  );
  t.equal(getEnum(p, 'Termination-Action'), 'RADIUS-Request');
  t.equal(getEnum(p, 'Error-Cause'), 'Session-Context-Not-Found');
  // Exact wire forms (RFC 2865 5, RFC 3162 2.3, RFC 2869 5.3).
  const wire = (name: string) => getAttribute(p, name)!.raw.toString('hex');
  t.equal(wire('Session-Timeout'), '00000e10');
  t.equal(wire('Event-Timestamp'), '6553f100');
  t.equal(wire('Framed-IP-Address'), '0a430101');
  t.equal(wire('NAS-IPv6-Address'), '20010db8000000000000000000000001');
  t.equal(wire('Framed-IPv6-Prefix'), '003020010db80001', 'reserved, length 48, only the 6 prefix octets');
  t.equal(wire('Framed-Interface-Id'), '0011223344556677');
});

t.test('round trip of every data type, vendor attributes', async (t) => {
  const p = roundTrip([
    ['Mikrotik-Rate-Limit', '10M/20M'],
    ['Mikrotik-Total-Limit', 123456789],
    ['Mikrotik-Total-Limit-Gigawords', 2],
    ['Mikrotik-Host-IP', '192.0.2.1'],
    ['ChilliSpot-Max-Total-Octets', 5000000],
    ['ChilliSpot-Bandwidth-Max-Down', 2048],
    ['WISPr-Location-Name', 'Café,Paris'],
    ['Test-Byte', 255],
    ['Test-Short', 65535],
    ['Test-Signed', -2147483648],
    ['Test-Signed', 'Minus-One'],
    ['Test-Integer64', 0xffffffffffffffffn],
    ['Test-Integer64', 5_000_000_000],
    ['Test-Enum64', 'Big'],
    ['Test-Ether', '00:1A:2b:3c:4d:5e'],
    ['Test-Text', 'τεστ'],
    ['Test-Date', 0],
    ['Test-Octets16', Buffer.alloc(16, 0xab)],
    ['Test-Ifid', '0000:0000:0000:0001'],
    ['Test-IPv6', '::ffff:192.0.2.9'],
    ['Test-Prefix', '::/0'],
    ['Test-Ipaddr', '255.255.255.255'],
    ['Test-Wide-Attr', 7],
    ['Test-Usr-Attr', 'usr'],
  ]);
  t.same(
    p.attributes.map((a) => [a.name, a.vendorId, a.vendorType, a.value instanceof Date ? a.value.getTime() : Buffer.isBuffer(a.value) ? a.value.toString('hex') : a.value]),
    [
      ['Mikrotik-Rate-Limit', 14988, 8, '10M/20M'],
      ['Mikrotik-Total-Limit', 14988, 17, 123456789],
      ['Mikrotik-Total-Limit-Gigawords', 14988, 18, 2],
      ['Mikrotik-Host-IP', 14988, 10, '192.0.2.1'],
      ['ChilliSpot-Max-Total-Octets', 14559, 3, 5000000],
      ['ChilliSpot-Bandwidth-Max-Down', 14559, 5, 2048],
      ['WISPr-Location-Name', 14122, 2, 'Café,Paris'],
      ['Test-Byte', 99999, 1, 255],
      ['Test-Short', 99999, 2, 65535],
      ['Test-Signed', 99999, 3, -2147483648],
      ['Test-Signed', 99999, 3, -1],
      ['Test-Integer64', 99999, 4, 0xffffffffffffffffn],
      ['Test-Integer64', 99999, 4, 5_000_000_000n],
      ['Test-Enum64', 99999, 12, 0x100000000n],
      ['Test-Ether', 99999, 5, '00:1a:2b:3c:4d:5e'],
      ['Test-Text', 99999, 6, 'τεστ'],
      ['Test-Date', 99999, 7, 0],
      ['Test-Octets16', 99999, 8, 'ab'.repeat(16)],
      ['Test-Ifid', 99999, 9, '0000:0000:0000:0001'],
      ['Test-IPv6', 99999, 10, '::ffff:192.0.2.9'],
      ['Test-Prefix', 99999, 11, '::/0'],
      ['Test-Ipaddr', 99999, 13, '255.255.255.255'],
      ['Test-Wide-Attr', 99998, 300, 7],
      ['Test-Usr-Attr', 99997, 0x1234, 'usr'],
    ],
  );
  t.equal(getEnum(p, 'Test-Enum64'), 'Big');
  t.equal(getAttributes(p, 'Test-Signed')[1].valueName, 'Minus-One');
  const buf = encode({ code: 2, identifier: 1, attributes: [['Mikrotik-Total-Limit', 123456789]] }, { secret: SECRET, requestAuthenticator: REQ_AUTH });
  t.equal(buf.subarray(20).toString('hex'), '1a0c00003a8c' + '1106075bcd15', 'RFC 2865 5.26 layout: 26, len, vendor 14988, type 17, len 6, value');
  const wide = encode({ code: 2, identifier: 1, attributes: [['Test-Wide-Attr', 7]] }, { secret: SECRET, requestAuthenticator: REQ_AUTH, dictionary: dict });
  t.equal(wide.subarray(20).toString('hex'), '1a0e' + '0001869e' + '012c' + '0008' + '00000007', 'format=2,2 sub-attribute header');
  const usr = encode({ code: 2, identifier: 1, attributes: [['Test-Usr-Attr', 'usr']] }, { secret: SECRET, requestAuthenticator: REQ_AUTH, dictionary: dict });
  t.equal(usr.subarray(20).toString('hex'), '1a0d' + '0001869d' + '00001234' + '757372', 'format=4,0: no sub-attribute length');
});

t.test('RFC 2868 tagged attributes (has_tag) stay as wire octets, tag included', async (t) => {
  const p = roundTrip([['Test-Tagged', Buffer.from('01000003', 'hex')]]);
  t.same(get(p, 'Test-Tagged'), Buffer.from('01000003', 'hex'));
  t.throws(
    () => encode({ code: 2, identifier: 1, attributes: [['Test-Tagged', 3]] }, { secret: SECRET, requestAuthenticator: REQ_AUTH, dictionary: dict }),
    { code: 'OCS_ERR_RADIUS_ENCODE_VALUE' },
  );
});

t.test('IPv6 text forms follow RFC 5952', async (t) => {
  const cases: [string, string][] = [
    ['2001:0DB8:0000:0000:0000:0000:0000:0001', '2001:db8::1'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
    ['::', '::'],
    ['::1', '::1'],
    ['fe80::', 'fe80::'],
    ['1:0:0:2:0:0:0:3', '1:0:0:2::3'],
    ['::ffff:10.0.0.1', '::ffff:10.0.0.1'],
  ];
  for (const [input, want] of cases) t.equal(get(roundTrip([['NAS-IPv6-Address', input]]), 'NAS-IPv6-Address'), want, input);
  t.equal(get(roundTrip([['Framed-IPv6-Prefix', '2001:db8:1:2:3::/48']]), 'Framed-IPv6-Prefix'), '2001:db8:1::/48', 'host bits cleared');
  for (const bad of ['1::2::3', '1:2:3:4:5:6:7:8:9', '12345::', 'g::1', '1.2.3.4', '', ':::']) {
    t.throws(() => encode({ code: 2, identifier: 0, attributes: [['NAS-IPv6-Address', bad]] }, { secret: SECRET, requestAuthenticator: REQ_AUTH }), { code: 'OCS_ERR_RADIUS_ENCODE_VALUE' }, `rejects ${JSON.stringify(bad)}`);
  }
});

t.test('Framed-IPv6-Prefix as others send it: full 16 prefix octets (pyrad) or truncated', async (t) => {
  const full = decode(packetWith('61 14 00 40 20010db8000100020000000000000000'));
  t.equal(get(full, 'Framed-IPv6-Prefix'), '2001:db8:1:2::/64');
  const short = decode(packetWith('61 0a 00 30 20010db80001'));
  t.equal(get(short, 'Framed-IPv6-Prefix'), '2001:db8:1::/48');
  const zero = decode(packetWith('61 04 00 00'));
  t.equal(get(zero, 'Framed-IPv6-Prefix'), '::/0');
});

t.test('decode then encode reproduces the captured packets byte for byte', async (t) => {
  for (const buf of PPPD) {
    const p = decode(buf);
    const kind = p.code === 1 ? 'random' : p.code === 4 ? 'hash' : 'reply';
    const requestAuthenticator = kind === 'reply' ? requestAuthOf(p) : undefined;
    const out = encode(
      { code: p.code, identifier: p.identifier, authenticator: kind === 'random' ? p.authenticator : undefined, attributes: p.attributes },
      { secret: SECRET, requestAuthenticator },
    );
    t.same(out, buf, `${codeName(p.code)} ${p.identifier}`);
  }
});

function requestAuthOf(reply: RadiusPacket): Buffer {
  // The captured Accept answers the PAP request; the Reject answers 0xb5 (authenticator from decoded.txt).
  return reply.code === 2 ? decode(PPPD[0]).authenticator : Buffer.from('cfdfc0e56914a613ac4a28221c030bec', 'hex');
}

t.test('unknown attributes and vendors are kept raw and re-encoded unchanged', async (t) => {
  const buf = packetWith(
    [
      'c8 05 010203', // attribute 200: not in the dictionary
      '1a 0c 00003039 0106 61626364', // vendor 12345 (unknown), parses as 1,1 sub-attributes
      '1a 0a 00003039 ff09 0102', // vendor 12345, sub-length runs past the VSA: kept whole
      '1a 05 000030', // VSA too short for a Vendor-Id
      '1a 06 00003039', // Vendor-Id and nothing else
      '1a 09 00003a8c 6303 ff', // Mikrotik sub-attribute 99: known vendor, unknown attribute
    ].join(''),
  );
  const p = decode(buf);
  t.same(
    p.attributes.map((a) => ({ type: a.type, vendorId: a.vendorId, vendorType: a.vendorType, name: a.name, raw: a.raw.toString('hex') })),
    [
      { type: 200, vendorId: undefined, vendorType: undefined, name: undefined, raw: '010203' },
      { type: 26, vendorId: 12345, vendorType: 1, name: undefined, raw: '61626364' },
      { type: 26, vendorId: 12345, vendorType: undefined, name: 'Vendor-Specific', raw: '00003039ff090102' },
      { type: 26, vendorId: undefined, vendorType: undefined, name: 'Vendor-Specific', raw: '000030' },
      { type: 26, vendorId: 12345, vendorType: undefined, name: 'Vendor-Specific', raw: '00003039' },
      { type: 26, vendorId: 14988, vendorType: 99, name: undefined, raw: 'ff' },
    ],
  );
  t.same(getAttribute(p, 'Vendor-Specific')?.value, Buffer.from('00003039ff090102', 'hex'));
  const again = encode({ code: p.code, identifier: p.identifier, attributes: p.attributes }, { secret: SECRET, requestAuthenticator: REQ_AUTH });
  t.same(again.subarray(20), buf.subarray(20), 'attributes re-encoded byte for byte');
  // Unknown attributes can also be sent by number with Buffer values.
  const byNumber = encode(
    { code: 2, identifier: 1, attributes: [{ type: 200, value: Buffer.from('aa', 'hex') }, { type: 26, vendorId: 12345, vendorType: 7, value: Buffer.from('bb', 'hex') }, { type: 26, vendorId: 12345, value: Buffer.from('0203cc', 'hex') }] },
    { secret: SECRET, requestAuthenticator: REQ_AUTH },
  );
  t.equal(byNumber.subarray(20).toString('hex'), 'c803aa' + '1a090000303907' + '03bb' + '1a090000303902' + '03cc');
});

t.test('octets beyond the Length field are padding and ignored (RFC 2865 3)', async (t) => {
  const padded = Buffer.concat([PPPD[2], Buffer.from('deadbeef00', 'hex')]);
  const p = decode(padded);
  t.equal(p.length, PPPD[2].length);
  t.same(p.attributes.map((a) => a.raw), decode(PPPD[2]).attributes.map((a) => a.raw));
});

t.test('malformed packets: each fails with its own error code', async (t) => {
  const header = (len: number, total = len) => {
    const b = Buffer.alloc(total);
    b[0] = 4;
    b.writeUInt16BE(len, 2);
    return b;
  };
  const mikrotik = (sub: string) => {
    const v = Buffer.from('00003a8c' + sub.replace(/\s+/g, ''), 'hex');
    return packetWith(Buffer.concat([Buffer.from([26, v.length + 2]), v]).toString('hex'));
  };
  const cases: [string, Buffer, string][] = [
    ['empty datagram', Buffer.alloc(0), 'OCS_ERR_RADIUS_TOO_SHORT'],
    ['19 octets', Buffer.alloc(19), 'OCS_ERR_RADIUS_TOO_SHORT'],
    ['4097 octets', header(4096, 4097), 'OCS_ERR_RADIUS_TOO_LONG'],
    ['Length field 19', header(19, 20), 'OCS_ERR_RADIUS_LENGTH'],
    ['Length field 0', header(0, 20), 'OCS_ERR_RADIUS_LENGTH'],
    ['Length field 4097', header(4097, 4096), 'OCS_ERR_RADIUS_LENGTH'],
    ['Length field beyond the datagram (truncated)', PPPD[2].subarray(0, PPPD[2].length - 1), 'OCS_ERR_RADIUS_LENGTH'],
    ['attribute Length 0', packetWith('01 00'), 'OCS_ERR_RADIUS_ATTR_LENGTH'],
    ['attribute Length 1', packetWith('01 01 61'), 'OCS_ERR_RADIUS_ATTR_LENGTH'],
    ['attribute running past the end', packetWith('01 08 616c696365'), 'OCS_ERR_RADIUS_ATTR_OVERFLOW'],
    ['lone trailing octet', packetWith('01 03 61 05'), 'OCS_ERR_RADIUS_ATTR_OVERFLOW'],
    ['integer of 3 octets', packetWith('1b 05 000e10'), 'OCS_ERR_RADIUS_VALUE'],
    ['integer of 5 octets', packetWith('1b 07 0000000e10'), 'OCS_ERR_RADIUS_VALUE'],
    ['integer of 0 octets', packetWith('1b 02'), 'OCS_ERR_RADIUS_VALUE'],
    ['ipaddr of 5 octets', packetWith('08 07 0a43010100'), 'OCS_ERR_RADIUS_VALUE'],
    ['ipaddr of 3 octets', packetWith('04 05 0a4301'), 'OCS_ERR_RADIUS_VALUE'],
    ['date of 2 octets', packetWith('37 04 0000'), 'OCS_ERR_RADIUS_VALUE'],
    ['ipv6addr of 15 octets', packetWith('5f 11 ' + '00'.repeat(15)), 'OCS_ERR_RADIUS_VALUE'],
    ['ipv6prefix of 1 octet', packetWith('61 03 00'), 'OCS_ERR_RADIUS_VALUE'],
    ['ipv6prefix of 19 octets', packetWith('61 15 0080' + '00'.repeat(17)), 'OCS_ERR_RADIUS_VALUE'],
    ['ipv6prefix length 129', packetWith('61 04 0081'), 'OCS_ERR_RADIUS_VALUE'],
    ['ipv6prefix /64 with 4 prefix octets', packetWith('61 08 0040 20010db8'), 'OCS_ERR_RADIUS_VALUE'],
    ['ifid of 7 octets', packetWith('60 09 ' + '00'.repeat(7)), 'OCS_ERR_RADIUS_VALUE'],
    ['Message-Authenticator of 15 octets', packetWith('50 11 ' + '00'.repeat(15)), 'OCS_ERR_RADIUS_VALUE'],
    ['Mikrotik-Total-Limit of 3 octets', mikrotik('11 05 000001'), 'OCS_ERR_RADIUS_VALUE'],
    ['Mikrotik sub-attribute running past the VSA', mikrotik('08 09 61'), 'OCS_ERR_RADIUS_VSA'],
    ['Mikrotik sub-attribute length 1', mikrotik('08 01 61'), 'OCS_ERR_RADIUS_VSA'],
    ['Mikrotik sub-attribute header cut', mikrotik('08 03 61 08'), 'OCS_ERR_RADIUS_VSA'],
    ['Mikrotik VSA with no sub-attribute', mikrotik(''), 'OCS_ERR_RADIUS_VSA'],
  ];
  for (const [what, buf, code] of cases) {
    try {
      decode(buf);
      t.fail(`${what}: decoded without error`);
    } catch (err) {
      t.ok(err instanceof RadiusDecodeError, `${what}: RadiusDecodeError`);
      t.equal((err as RadiusDecodeError).code, code, `${what}: ${code}`);
    }
  }
});

t.test('random corruption never throws anything but RadiusDecodeError and never hangs', async (t) => {
  let seed = 0x5eed;
  const rnd = (n: number) => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed % n;
  };
  const seeds = [
    ...PPPD,
    encode({ code: 2, identifier: 1, attributes: [['Mikrotik-Total-Limit', 1], ['Framed-IPv6-Prefix', '2001:db8::/32'], ['Test-Wide-Attr', 1], ['Test-Usr-Attr', 'x']] }, { secret: SECRET, requestAuthenticator: REQ_AUTH, dictionary: dict, messageAuthenticator: true }),
  ];
  let ok = 0;
  let rejected = 0;
  const started = Date.now();
  for (let i = 0; i < 30000; i++) {
    const base = seeds[i % seeds.length];
    let buf: Buffer;
    switch (i % 4) {
      case 0: // flip a few bits
        buf = Buffer.from(base);
        for (let k = 1 + rnd(4); k > 0; k--) buf[rnd(buf.length)] ^= 1 << rnd(8);
        break;
      case 1: // truncate or extend, keeping or fixing the Length field
        buf = Buffer.concat([base.subarray(0, rnd(base.length + 1)), Buffer.alloc(rnd(8), rnd(256))]);
        if (buf.length >= 4 && rnd(2) === 0) buf.writeUInt16BE(buf.length, 2);
        break;
      case 2: // overwrite one attribute length octet
        buf = Buffer.from(base);
        buf[20 + rnd(Math.max(1, buf.length - 20))] = rnd(256);
        break;
      default: // random bytes with a plausible header
        buf = Buffer.alloc(20 + rnd(300));
        for (let k = 0; k < buf.length; k++) buf[k] = rnd(256);
        buf.writeUInt16BE(buf.length, 2);
    }
    try {
      decode(buf, { dictionary: dict });
      ok++;
    } catch (err) {
      if (!(err instanceof RadiusDecodeError)) {
        t.fail(`unexpected ${String(err)} for ${buf.toString('hex')}`);
        return;
      }
      rejected++;
    }
  }
  t.ok(ok > 0 && rejected > 0, `${ok} decoded, ${rejected} rejected`);
  t.ok(Date.now() - started < 20000, 'finished');
});

t.test('encoder errors carry their codes', async (t) => {
  const reply = (attributes: RadiusAttributeInput[], extra: object = {}) => () =>
    encode({ code: 'Access-Accept', identifier: 1, attributes }, { secret: SECRET, requestAuthenticator: REQ_AUTH, dictionary: dict, ...extra });
  t.throws(reply([['No-Such-Attribute', 1]]), { code: 'OCS_ERR_RADIUS_ENCODE_ATTRIBUTE' });
  t.throws(reply([['Session-Timeout', -1]]), { code: 'OCS_ERR_RADIUS_ENCODE_VALUE' });
  t.throws(reply([['Session-Timeout', 2 ** 32]]), { code: 'OCS_ERR_RADIUS_ENCODE_VALUE' });
  t.throws(reply([['Session-Timeout', 1.5]]), { code: 'OCS_ERR_RADIUS_ENCODE_VALUE' });
  t.throws(reply([['Session-Timeout', 'Forever']]), { code: 'OCS_ERR_RADIUS_ENCODE_VALUE' }, 'unknown enum name');
  t.throws(reply([['Test-Byte', 256]]), { code: 'OCS_ERR_RADIUS_ENCODE_VALUE' });
  t.throws(reply([['Test-Integer64', -1n]]), { code: 'OCS_ERR_RADIUS_ENCODE_VALUE' });
  t.throws(reply([['Test-Integer64', 2 ** 60]]), { code: 'OCS_ERR_RADIUS_ENCODE_VALUE' }, 'unsafe number for integer64');
  t.throws(reply([['Test-Octets16', Buffer.alloc(15)]]), { code: 'OCS_ERR_RADIUS_ENCODE_VALUE' });
  t.throws(reply([['Framed-IP-Address', '10.0.0.256']]), { code: 'OCS_ERR_RADIUS_ENCODE_VALUE' });
  t.throws(reply([['Framed-IP-Address', '10.0.0']]), { code: 'OCS_ERR_RADIUS_ENCODE_VALUE' });
  t.throws(reply([['Framed-IPv6-Prefix', '2001:db8::/129']]), { code: 'OCS_ERR_RADIUS_ENCODE_VALUE' });
  t.throws(reply([['Test-Ether', '00:11:22:33:44']]), { code: 'OCS_ERR_RADIUS_ENCODE_VALUE' });
  t.throws(reply([['Reply-Message', 'x'.repeat(254)]]), { code: 'OCS_ERR_RADIUS_ENCODE_VALUE' });
  t.doesNotThrow(reply([['Reply-Message', 'x'.repeat(253)]]), '253 octets fit');
  t.throws(reply([['Mikrotik-Rate-Limit', 'x'.repeat(248)]]), { code: 'OCS_ERR_RADIUS_ENCODE_VALUE' }, 'VSA values hold 247 octets');
  t.doesNotThrow(reply([['Mikrotik-Rate-Limit', 'x'.repeat(247)]]));
  t.throws(reply(Array.from({ length: 17 }, () => ['Reply-Message', 'x'.repeat(253)] as const)), { code: 'OCS_ERR_RADIUS_ENCODE_TOO_LONG' });
  t.throws(reply([['User-Password', 'secret']]), { code: 'OCS_ERR_RADIUS_ENCODE_ATTRIBUTE' }, 'User-Password only in Access-Request');
  t.throws(reply([{ type: 200, value: 5 }]), { code: 'OCS_ERR_RADIUS_ENCODE_ATTRIBUTE' }, 'unknown attribute needs a Buffer');
  t.throws(reply([{ name: 'Session-Timeout' }]), { code: 'OCS_ERR_RADIUS_ENCODE_VALUE' }, 'no value');
  t.throws(reply([['Message-Authenticator', Buffer.alloc(16)], ['Message-Authenticator', Buffer.alloc(16)]]), { code: 'OCS_ERR_RADIUS_ENCODE_ATTRIBUTE' });
  t.throws(() => encode({ code: 'Access-Accept', identifier: 1 }, { secret: SECRET }), { code: 'OCS_ERR_RADIUS_ENCODE_CODE' }, 'reply without the request authenticator');
  t.throws(() => encode({ code: 99, identifier: 1 }, { secret: SECRET }), { code: 'OCS_ERR_RADIUS_ENCODE_CODE' });
  t.throws(() => encode({ code: 'Access-Bogus', identifier: 1 }, { secret: SECRET }), { code: 'OCS_ERR_RADIUS_ENCODE_CODE' });
  t.throws(() => encode({ code: 4, identifier: 256 }, { secret: SECRET }), { code: 'OCS_ERR_RADIUS_ENCODE_CODE' });
  t.throws(() => encode({ code: 1, identifier: 1, authenticator: Buffer.alloc(15) }, { secret: SECRET }), { code: 'OCS_ERR_RADIUS_ENCODE_CODE' });
  try {
    reply([['Session-Timeout', -1]])();
  } catch (err) {
    t.ok(err instanceof RadiusEncodeError);
  }
});

t.test('packet codes and header', async (t) => {
  for (const [name, code] of Object.entries(RadiusCode)) {
    const kind = [1, 12].includes(code) ? 'random' : [4, 40, 43].includes(code) ? 'hash' : 'reply';
    const buf = encode({ code, identifier: 255, attributes: [] }, { secret: SECRET, requestAuthenticator: kind === 'reply' ? REQ_AUTH : undefined, messageAuthenticator: false });
    const p = decode(buf);
    t.equal(p.code, code, name);
    t.equal(p.identifier, 255);
    t.equal(p.length, 20);
    t.equal(buf.length, 20);
    t.equal(encode({ code: codeName(code), identifier: 0 }, { secret: SECRET, requestAuthenticator: REQ_AUTH })[0], code, `by name ${codeName(code)}`);
  }
  t.equal(codeName(40), 'Disconnect-Request');
  t.equal(codeName(45), 'CoA-NAK');
  t.equal(codeName(99), 'Code-99');
  t.equal(decode(packetWith('', 99)).code, 99, 'unknown codes decode; the caller decides');
});

t.test('lookup helpers', async (t) => {
  const p = roundTrip([
    ['Class', 'first'],
    ['Session-Timeout', 60],
    ['Class', Buffer.from('second')],
    ['Reply-Message', 'hi'],
    ['Mikrotik-Total-Limit', 5],
  ]);
  t.same(getAll(p, 'Class'), [Buffer.from('first'), Buffer.from('second')]);
  t.equal(getAttributes(p, 'Class').length, 2);
  t.same(getOctets(p, 'Class'), Buffer.from('first'));
  t.equal(getNumber(p, 'Session-Timeout'), 60);
  t.equal(getNumber(p, 'Reply-Message'), undefined, 'typed getter ignores other types');
  t.equal(getString(p, 'Reply-Message'), 'hi');
  t.equal(getString(p, 'Session-Timeout'), undefined);
  t.equal(getNumber(p, 'Mikrotik-Total-Limit'), 5);
  t.equal(get(p, 'Idle-Timeout'), undefined);
  t.same(getAll(p, 'Idle-Timeout'), []);
  t.equal(getEnum(p, 'Session-Timeout'), undefined);
});

t.test('decoding takes microseconds', async (t) => {
  for (const [what, buf] of [
    ['Access-Request', PPPD[0]],
    ['Accounting-Request', PPPD[3]],
  ] as const) {
    for (let i = 0; i < 2000; i++) decode(buf); // warm up
    const n = 20000;
    const start = process.hrtime.bigint();
    for (let i = 0; i < n; i++) decode(buf);
    const micros = Number(process.hrtime.bigint() - start) / 1000 / n;
    t.ok(micros < 50, `${what}: ${micros.toFixed(2)} µs per decode`);
  }
});
