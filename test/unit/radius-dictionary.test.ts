// RADIUS dictionaries: the shipped files hold what BNAS and hotspots use, and the loader reads the
// FreeRADIUS format ($INCLUDE, vendors, values) and refuses what it does not understand, by line.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';

import {
  DEFAULT_DICTIONARY_PATH,
  defaultDictionary,
  loadDictionary,
  parseDictionary,
  type RadiusDictionary,
} from '../../src/radius/dictionary.js';
import { RadiusDictionaryError } from '../../src/radius/errors.js';

const dict = defaultDictionary();

t.test('the default dictionary loads from dictionaries/radius', async (t) => {
  t.ok(existsSync(DEFAULT_DICTIONARY_PATH), DEFAULT_DICTIONARY_PATH);
  t.ok(DEFAULT_DICTIONARY_PATH.endsWith(join('dictionaries', 'radius', 'dictionary')));
  t.equal(defaultDictionary(), dict, 'loaded once and cached');
});

t.test('standard attributes BNAS use (RFC 2865, 2866, 2869, 3162, 5176)', async (t) => {
  const expected: [string, number, string][] = [
    ['User-Name', 1, 'string'],
    ['User-Password', 2, 'string'],
    ['CHAP-Password', 3, 'octets'],
    ['NAS-IP-Address', 4, 'ipaddr'],
    ['NAS-Port', 5, 'integer'],
    ['Service-Type', 6, 'integer'],
    ['Framed-Protocol', 7, 'integer'],
    ['Framed-IP-Address', 8, 'ipaddr'],
    ['Filter-Id', 11, 'string'],
    ['Reply-Message', 18, 'string'],
    ['State', 24, 'octets'],
    ['Class', 25, 'octets'],
    ['Vendor-Specific', 26, 'vsa'],
    ['Session-Timeout', 27, 'integer'],
    ['Idle-Timeout', 28, 'integer'],
    ['Termination-Action', 29, 'integer'],
    ['Called-Station-Id', 30, 'string'],
    ['Calling-Station-Id', 31, 'string'],
    ['NAS-Identifier', 32, 'string'],
    ['Proxy-State', 33, 'octets'],
    ['Acct-Status-Type', 40, 'integer'],
    ['Acct-Delay-Time', 41, 'integer'],
    ['Acct-Input-Octets', 42, 'integer'],
    ['Acct-Output-Octets', 43, 'integer'],
    ['Acct-Session-Id', 44, 'string'],
    ['Acct-Authentic', 45, 'integer'],
    ['Acct-Session-Time', 46, 'integer'],
    ['Acct-Input-Packets', 47, 'integer'],
    ['Acct-Output-Packets', 48, 'integer'],
    ['Acct-Terminate-Cause', 49, 'integer'],
    ['Acct-Multi-Session-Id', 50, 'string'],
    ['Acct-Link-Count', 51, 'integer'],
    ['Acct-Input-Gigawords', 52, 'integer'],
    ['Acct-Output-Gigawords', 53, 'integer'],
    ['Event-Timestamp', 55, 'date'],
    ['CHAP-Challenge', 60, 'octets'],
    ['NAS-Port-Type', 61, 'integer'],
    ['EAP-Message', 79, 'octets'],
    ['Message-Authenticator', 80, 'octets'],
    ['Acct-Interim-Interval', 85, 'integer'],
    ['NAS-Port-Id', 87, 'string'],
    ['Chargeable-User-Identity', 89, 'octets'],
    ['NAS-IPv6-Address', 95, 'ipv6addr'],
    ['Framed-Interface-Id', 96, 'ifid'],
    ['Framed-IPv6-Prefix', 97, 'ipv6prefix'],
    ['Error-Cause', 101, 'integer'],
    ['Delegated-IPv6-Prefix', 123, 'ipv6prefix'],
    ['Framed-IPv6-Address', 168, 'ipv6addr'],
  ];
  for (const [name, code, type] of expected) {
    const a = dict.attributeByName(name);
    t.ok(a, name);
    t.equal(a?.code, code, `${name} is ${code}`);
    t.equal(a?.vendorId, 0);
    t.equal(a?.type, type, `${name} is ${type}`);
    t.equal(dict.attribute(code)?.name, name, `${code} is ${name}`);
  }
  t.equal(dict.attributeByName('User-Password')?.encrypt, 1, 'User-Password is hidden (encrypt=1)');
  t.equal(dict.attributeByName('Message-Authenticator')?.fixedLength, 16);
  t.equal(dict.attributeByName('acct-status-type')?.name, 'Acct-Status-Type', 'names are case-insensitive');
  t.equal(dict.attribute(17), undefined, '17 is unassigned');
});

t.test('enumerated values', async (t) => {
  const values = (name: string) => Object.fromEntries(dict.attributeByName(name)!.valuesByName);
  t.match(values('Acct-Status-Type'), { Start: 1, Stop: 2, 'Interim-Update': 3, 'Accounting-On': 7, 'Accounting-Off': 8 });
  t.match(values('Service-Type'), { 'Login-User': 1, 'Framed-User': 2, 'Authorize-Only': 17 });
  t.match(values('Framed-Protocol'), { PPP: 1 });
  t.match(values('Acct-Authentic'), { RADIUS: 1, Local: 2 });
  t.match(values('NAS-Port-Type'), { Virtual: 5, Ethernet: 15, 'Wireless-802.11': 19, PPPoEoVLAN: 33 });
  t.match(values('Acct-Terminate-Cause'), { 'User-Request': 1, 'Lost-Carrier': 2, 'Idle-Timeout': 4, 'Session-Timeout': 5, 'Admin-Reset': 6, 'NAS-Request': 10 });
  t.match(values('Termination-Action'), { Default: 0, 'RADIUS-Request': 1 });
  t.match(values('Error-Cause'), { 'Residual-Context-Removed': 201, 'Missing-Attribute': 402, 'Session-Context-Not-Found': 503 });
  t.equal(dict.attributeByName('Acct-Status-Type')!.values.get(3), 'Interim-Update');
});

t.test('vendors: Mikrotik, ChilliSpot/CoovaChilli, WISPr', async (t) => {
  const vendorAttr = (vendor: number, code: number, name: string, type: string) => {
    const a = dict.attribute(code, vendor);
    t.equal(a?.name, name, `${vendor}/${code} is ${name}`);
    t.equal(a?.type, type, `${name} is ${type}`);
    t.equal(dict.attributeByName(name), a);
  };
  t.same(dict.vendorByName('Mikrotik'), { name: 'Mikrotik', id: 14988, typeSize: 1, lengthSize: 1 });
  vendorAttr(14988, 1, 'Mikrotik-Recv-Limit', 'integer');
  vendorAttr(14988, 2, 'Mikrotik-Xmit-Limit', 'integer');
  vendorAttr(14988, 8, 'Mikrotik-Rate-Limit', 'string');
  vendorAttr(14988, 14, 'Mikrotik-Recv-Limit-Gigawords', 'integer');
  vendorAttr(14988, 15, 'Mikrotik-Xmit-Limit-Gigawords', 'integer');
  vendorAttr(14988, 17, 'Mikrotik-Total-Limit', 'integer');
  vendorAttr(14988, 18, 'Mikrotik-Total-Limit-Gigawords', 'integer');
  vendorAttr(14988, 19, 'Mikrotik-Address-List', 'string');
  t.equal(dict.vendor(14559)?.name, 'ChilliSpot');
  vendorAttr(14559, 1, 'ChilliSpot-Max-Input-Octets', 'integer');
  vendorAttr(14559, 2, 'ChilliSpot-Max-Output-Octets', 'integer');
  vendorAttr(14559, 3, 'ChilliSpot-Max-Total-Octets', 'integer');
  vendorAttr(14559, 4, 'ChilliSpot-Bandwidth-Max-Up', 'integer');
  vendorAttr(14559, 5, 'ChilliSpot-Bandwidth-Max-Down', 'integer');
  vendorAttr(14559, 21, 'ChilliSpot-Max-Input-Gigawords', 'integer');
  vendorAttr(14559, 22, 'ChilliSpot-Max-Output-Gigawords', 'integer');
  vendorAttr(14559, 23, 'ChilliSpot-Max-Total-Gigawords', 'integer');
  t.equal(dict.vendor(14122)?.name, 'WISPr');
  vendorAttr(14122, 1, 'WISPr-Location-ID', 'string');
  vendorAttr(14122, 7, 'WISPr-Bandwidth-Max-Up', 'integer');
  vendorAttr(14122, 8, 'WISPr-Bandwidth-Max-Down', 'integer');
  vendorAttr(14122, 9, 'WISPr-Session-Terminate-Time', 'string');
  t.equal(dict.attribute(17), undefined, 'vendor numbers do not leak into the standard space');
  const names = [...dict.vendors()].map((v) => v.name).sort();
  t.same(names, ['ChilliSpot', 'Mikrotik', 'WISPr']);
  t.ok([...dict.attributes()].length > 150);
});

/** A reader over an in-memory file system (absolute paths). */
function memoryReader(files: Record<string, string>) {
  return (path: string) => files[path];
}

function expectError(t: Test, text: string, pattern: RegExp, files: Record<string, string> = {}): void {
  try {
    parseDictionary(text, { file: '/d/dictionary', reader: memoryReader(files) });
    t.fail(`accepted: ${text}`);
  } catch (err) {
    t.ok(err instanceof RadiusDictionaryError, 'RadiusDictionaryError');
    t.equal((err as RadiusDictionaryError).code, 'OCS_ERR_RADIUS_DICTIONARY');
    t.match((err as Error).message, pattern);
  }
}

t.test('the parser: $INCLUDE, VALUE before ATTRIBUTE, vendor formats, old syntax', async (t) => {
  const files = {
    '/d/sub/dictionary.one': 'ATTRIBUTE\tOne\t1\tstring\n$INCLUDE ../dictionary.two # relative to this file\n',
    '/d/dictionary.two': 'ATTRIBUTE Two 2 integer\r\nVALUE Two Second 2\r\n',
  };
  const d: RadiusDictionary = parseDictionary(
    [
      '# comment line',
      '   ',
      'VALUE Three Early 0x10   # VALUE may precede its ATTRIBUTE',
      '$INCLUDE sub/dictionary.one',
      '$INCLUDE- dictionary.missing',
      'ATTRIBUTE Three 3 integer',
      'ATTRIBUTE Three 3 integer  # identical redefinition is harmless',
      'ATTRIBUTE Alias-Of-One 1 string',
      'VENDOR Acme 4242 format=2,2',
      'VENDOR Plain 4343',
      'BEGIN-VENDOR Acme',
      'ATTRIBUTE Acme-Big 1000 integer64',
      'END-VENDOR Acme',
      'ATTRIBUTE Plain-Thing 7 octets[4] Plain',
      'ATTRIBUTE Secret-Thing 8 string encrypt=2,has_tag',
      'ATTRIBUTE Old-Abinary 9 abinary',
      'VALUE Acme-Big Huge 18446744073709551615',
    ].join('\n'),
    { file: '/d/dictionary', reader: memoryReader(files) },
  );
  t.equal(d.attribute(1)?.name, 'One', 'the first name of a number wins');
  t.equal(d.attributeByName('Alias-Of-One')?.code, 1, 'aliases resolve by name');
  t.equal(d.attribute(2)?.valuesByName.get('Second'), 2);
  t.equal(d.attribute(3)?.values.get(16), 'Early');
  t.same(d.vendor(4242), { name: 'Acme', id: 4242, typeSize: 2, lengthSize: 2 });
  t.equal(d.attribute(1000, 4242)?.type, 'integer64');
  t.equal(d.attribute(1000, 4242)?.values.get(0xffffffffffffffffn), 'Huge');
  t.equal(d.attribute(7, 4343)?.fixedLength, 4);
  t.equal(d.attribute(8)?.encrypt, 2);
  t.equal(d.attribute(8)?.hasTag, true);
  t.equal(d.attribute(9)?.type, 'octets', 'abinary kept opaque');
});

t.test('the parser refuses what it does not understand, naming file and line', async (t) => {
  expectError(t, 'ATTRIBUTE A 1 integer\nFOO bar', /\/d\/dictionary:2: unsupported dictionary statement FOO/);
  expectError(t, 'ATTRIBUTE A x integer', /:1: bad attribute number x/);
  expectError(t, 'ATTRIBUTE A 241.1 integer', /extended and TLV attributes are not supported/);
  expectError(t, 'ATTRIBUTE A 256 integer', /out of range 1-255/);
  expectError(t, 'ATTRIBUTE A 0 integer', /out of range 1-255/);
  expectError(t, 'ATTRIBUTE A 1 float', /unsupported attribute type float/);
  expectError(t, 'ATTRIBUTE A 1 string[4]', /bad sized type/);
  expectError(t, 'ATTRIBUTE A 1 integer bogus_flag', /unsupported attribute flag bogus_flag/);
  expectError(t, 'ATTRIBUTE A 1 integer encrypt=1', /encrypt= needs a string or octets/);
  expectError(t, 'ATTRIBUTE A 1', /ATTRIBUTE takes/);
  expectError(t, 'ATTRIBUTE A 1 integer\nATTRIBUTE A 2 integer', /:2: attribute A redefined differently/);
  expectError(t, 'ATTRIBUTE X 1 vsa', /type vsa is only for attribute 26/);
  expectError(t, 'VALUE Nope Name 1', /:1: VALUE for unknown attribute Nope/);
  expectError(t, 'ATTRIBUTE S 1 string\nVALUE S Name 1', /:2: VALUE for S, which is of type string/);
  expectError(t, 'ATTRIBUTE B 1 byte\nVALUE B Big 256', /out of range for byte/);
  expectError(t, 'ATTRIBUTE B 1 integer\nVALUE B X 1\nVALUE B X 2', /:3: VALUE B X redefined as 2/);
  expectError(t, 'ATTRIBUTE B 1 integer\nVALUE B X one', /bad number one/);
  expectError(t, 'VENDOR V', /VENDOR takes/);
  expectError(t, 'VENDOR V 0', /bad vendor number 0/);
  expectError(t, 'VENDOR V 9 format=1,1,c', /unsupported vendor option format=1,1,c/);
  expectError(t, 'VENDOR V 9\nVENDOR W 9', /vendor number 9 already defined as V/);
  expectError(t, 'VENDOR V 9\nVENDOR V 10', /vendor V redefined differently/);
  expectError(t, 'BEGIN-VENDOR Nobody', /BEGIN-VENDOR of unknown vendor Nobody/);
  expectError(t, 'VENDOR V 9\nBEGIN-VENDOR V', /BEGIN-VENDOR V is never closed/);
  expectError(t, 'VENDOR V 9\nVENDOR W 10\nBEGIN-VENDOR V\nEND-VENDOR W', /:4: END-VENDOR W does not close BEGIN-VENDOR V/);
  expectError(t, 'END-VENDOR V', /does not close any BEGIN-VENDOR/);
  expectError(t, 'VENDOR V 9\nBEGIN-VENDOR V\nBEGIN-VENDOR V', /inside BEGIN-VENDOR/);
  expectError(t, 'VENDOR V 9 format=2,2\nATTRIBUTE A 70000 integer V', /out of range 1-65535/);
  expectError(t, '$INCLUDE nowhere', /:1: cannot read included file \/d\/nowhere/);
  expectError(t, '$INCLUDE', /\$INCLUDE takes one file name/);
  expectError(t, '$INCLUDE a', /\$INCLUDE loop: \/d\/dictionary -> \/d\/a -> \/d\/dictionary/, {
    '/d/a': '$INCLUDE dictionary',
    '/d/dictionary': '$INCLUDE a',
  });
  expectError(t, '$INCLUDE inc', /\/d\/inc:1: unsupported attribute type nope/, { '/d/inc': 'ATTRIBUTE A 1 nope' });
});

t.test('loadDictionary reads real files and merges several', async (t) => {
  const dir = t.testdir({});
  mkdirSync(join(dir, 'vendors'));
  writeFileSync(join(dir, 'dictionary'), '$INCLUDE vendors/dictionary.acme\nATTRIBUTE Base 1 string\n');
  writeFileSync(join(dir, 'vendors', 'dictionary.acme'), 'VENDOR Acme 777\nBEGIN-VENDOR Acme\nATTRIBUTE Acme-Quota 1 integer\nEND-VENDOR Acme\n');
  writeFileSync(join(dir, 'extra'), 'ATTRIBUTE Extra 2 integer\n');
  const d = loadDictionary([join(dir, 'dictionary'), join(dir, 'extra')]);
  t.equal(d.attribute(1, 777)?.name, 'Acme-Quota');
  t.equal(d.attribute(2)?.name, 'Extra');
  const merged = loadDictionary([DEFAULT_DICTIONARY_PATH, join(dir, 'vendors', 'dictionary.acme')]);
  t.equal(merged.attributeByName('Acme-Quota')?.vendorId, 777, 'an operator vendor file adds to the shipped ones');
  t.equal(merged.attributeByName('Mikrotik-Total-Limit')?.vendorId, 14988);
  t.throws(() => loadDictionary(join(dir, 'missing')), { code: 'OCS_ERR_RADIUS_DICTIONARY' });
});
