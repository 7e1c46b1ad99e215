// Diameter codec: every base type round-trips, the encoder takes flags and types from the dictionary,
// unknown AVPs survive decoding with their flags, and the lookup helpers behave.
import t from 'tap'
import {
  DiameterEncodeError,
  DiameterErrorCodes,
  answerHeader,
  avpBigInt,
  avpDate,
  avpNumber,
  avpString,
  childrenOf,
  createDictionary,
  dateToNtpSeconds,
  decode,
  decodeAvps,
  encode,
  encodeAvps,
  findAvp,
  findAvpPath,
  findAvps,
  findUnknownMandatory,
  ntpSecondsToDate,
  verbatimAvp,
  type Avp,
  type AvpInput,
  type DictionaryFile,
  type MessageInput,
} from '../../src/diameter/codec.js'

// A private test dictionary with one AVP of every type (vendor 99999), plus the real base AVPs we use.
const TEST_DICT: DictionaryFile = {
  name: 'test-types',
  source: 'test',
  avps: [
    { name: 'T-OctetString', code: 1001, vendorId: 99999, type: 'OctetString', mandatory: true, source: 'test' },
    { name: 'T-Integer32', code: 1002, vendorId: 99999, type: 'Integer32', mandatory: true, source: 'test' },
    { name: 'T-Integer64', code: 1003, vendorId: 99999, type: 'Integer64', mandatory: true, source: 'test' },
    { name: 'T-Unsigned32', code: 1004, vendorId: 99999, type: 'Unsigned32', mandatory: false, source: 'test' },
    { name: 'T-Unsigned64', code: 1005, vendorId: 99999, type: 'Unsigned64', mandatory: true, source: 'test' },
    { name: 'T-Float32', code: 1006, vendorId: 99999, type: 'Float32', mandatory: true, source: 'test' },
    { name: 'T-Float64', code: 1007, vendorId: 99999, type: 'Float64', mandatory: true, source: 'test' },
    { name: 'T-Grouped', code: 1008, vendorId: 99999, type: 'Grouped', mandatory: true, source: 'test' },
    { name: 'T-Address', code: 1009, vendorId: 99999, type: 'Address', mandatory: true, source: 'test' },
    { name: 'T-Time', code: 1010, vendorId: 99999, type: 'Time', mandatory: true, source: 'test' },
    { name: 'T-UTF8String', code: 1011, vendorId: 99999, type: 'UTF8String', mandatory: true, source: 'test' },
    { name: 'T-DiameterIdentity', code: 1012, vendorId: 99999, type: 'DiameterIdentity', mandatory: true, source: 'test' },
    { name: 'T-DiameterURI', code: 1013, vendorId: 99999, type: 'DiameterURI', mandatory: true, source: 'test' },
    { name: 'T-Enumerated', code: 1014, vendorId: 99999, type: 'Enumerated', mandatory: true, source: 'test', values: { ZERO: 0, MINUS: -5, BIG: 0x7fffffff } },
    { name: 'T-IPFilterRule', code: 1015, vendorId: 99999, type: 'IPFilterRule', mandatory: true, source: 'test' },
    { name: 'Session-Id', code: 263, vendorId: 0, type: 'UTF8String', mandatory: true, source: 'RFC 6733 §8.8' },
    { name: 'Plain-U32', code: 2000, vendorId: 0, type: 'Unsigned32', mandatory: false, source: 'test' },
  ],
}
const dictionary = createDictionary([TEST_DICT])

function message(avps: AvpInput[]): MessageInput {
  return { flags: { request: true, proxiable: true }, commandCode: 272, applicationId: 4, hopByHop: 1, endToEnd: 2, avps }
}

/** Encode one AVP in a message, decode it back, return the decoded AVP and the wire bytes. */
function roundTrip(input: AvpInput): { avp: Avp; wire: Buffer; again: Buffer } {
  const wire = encode(message([input]), { dictionary })
  const msg = decode(wire, { dictionary })
  const again = encode(msg, { dictionary })
  return { avp: msg.avps[0], wire, again }
}

t.test('every base type round-trips', async (t) => {
  const cases: Array<[string, unknown, unknown?]> = [
    ['T-OctetString', Buffer.from([0, 1, 2, 0xff, 0x80])],
    ['T-OctetString', Buffer.alloc(0)],
    ['T-Integer32', -2147483648],
    ['T-Integer32', 2147483647],
    ['T-Integer32', -1],
    ['T-Integer64', -9223372036854775808n],
    ['T-Integer64', 9223372036854775807n],
    ['T-Integer64', -1n],
    ['T-Integer64', -(2n ** 40n)],
    ['T-Integer64', -42, -42n],
    ['T-Unsigned32', 0],
    ['T-Unsigned32', 4294967295],
    ['T-Unsigned64', 2n ** 40n],
    ['T-Unsigned64', 2n ** 32n],
    ['T-Unsigned64', 2n ** 53n + 1n],
    ['T-Unsigned64', 2n ** 64n - 1n],
    ['T-Unsigned64', 1099511627776, 2n ** 40n],
    ['T-Float32', 1.5],
    ['T-Float32', -0.25],
    ['T-Float64', Math.PI],
    ['T-Float64', -1e300],
    ['T-Address', '192.0.2.33'],
    ['T-Address', '0.0.0.0'],
    ['T-Address', '2001:db8::1'],
    ['T-Address', '::'],
    ['T-Address', '::1'],
    ['T-Address', 'fe80::1:0:0:5'],
    ['T-Address', '2001:DB8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['T-Address', '2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
    ['T-Address', '::ffff:192.0.2.1', '::ffff:c000:201'],
    ['T-Address', { family: 8, data: Buffer.from('46700000001') }],
    ['T-Time', new Date(Date.UTC(2026, 10, 26, 12, 54, 18))],
    ['T-Time', new Date(Date.UTC(1970, 0, 1))],
    ['T-Time', new Date(Date.UTC(2036, 1, 7, 6, 28, 15))],
    ['T-Time', new Date(Date.UTC(2036, 1, 7, 6, 28, 16))],
    ['T-Time', new Date(Date.UTC(2100, 0, 1))],
    ['T-Time', new Date(Date.UTC(2026, 0, 1, 0, 0, 0, 999)), new Date(Date.UTC(2026, 0, 1))],
    ['T-UTF8String', 'tel:+46700000001'],
    ['T-UTF8String', 'Grüße, 東京 🚀'],
    ['T-UTF8String', ''],
    ['T-DiameterIdentity', 'ocs.localdomain'],
    ['T-DiameterURI', 'aaa://ocs.localdomain:3868;transport=tcp;protocol=diameter'],
    ['T-Enumerated', 7],
    ['T-Enumerated', 'MINUS', -5],
    ['T-Enumerated', 'BIG', 0x7fffffff],
    ['T-IPFilterRule', 'permit out ip from any to 10.0.0.0/8'],
  ]
  for (const [name, value, expected] of cases) {
    const { avp, wire, again } = roundTrip({ name, value: value as AvpInput['value'] })
    const label = `${name} ${typeof value === 'bigint' ? `${value}n` : value instanceof Date ? value.toISOString() : JSON.stringify(value)}`
    t.equal(avp.name, name, `${label}: name`)
    t.equal(avp.type, dictionary.avpByName(name)!.type, `${label}: type`)
    t.same(avp.value, expected ?? value, `${label}: value`)
    t.ok(again.equals(wire), `${label}: re-encoded bytes identical`)
    t.equal(wire.length % 4, 0, `${label}: padded`)
  }
})

t.test('64-bit values are bigints, including small ones; 2^40 is exact on the wire', async (t) => {
  const { avp, wire } = roundTrip({ name: 'T-Unsigned64', value: 2n ** 40n })
  t.equal(typeof avp.value, 'bigint')
  // 20 header + 12 AVP header (V bit) + 8 data
  t.equal(wire.subarray(32, 40).toString('hex'), '0000010000000000')
  t.equal(avpBigInt(avp), 1099511627776n)
  t.equal(avpNumber(avp), 1099511627776, 'safe-range bigint as number')
  const huge = roundTrip({ name: 'T-Unsigned64', value: 2n ** 64n - 1n }).avp
  t.equal(avpNumber(huge), undefined, 'beyond 2^53: no number')
  t.equal(avpBigInt(huge), 18446744073709551615n)
  const neg = roundTrip({ name: 'T-Integer64', value: -5n }).avp
  t.equal(neg.value, -5n)
  t.equal(roundTrip({ name: 'T-Integer64', value: -5n }).wire.subarray(32, 40).toString('hex'), 'fffffffffffffffb')
})

t.test('Time follows NTP seconds with the RFC 4330 2036 wrap', async (t) => {
  t.equal(dateToNtpSeconds(new Date(Date.UTC(1970, 0, 1))), 2208988800)
  t.equal(dateToNtpSeconds(new Date(Date.UTC(2036, 1, 7, 6, 28, 16))), 0, '2036-02-07T06:28:16Z wraps to 0')
  t.same(ntpSecondsToDate(0), new Date(Date.UTC(2036, 1, 7, 6, 28, 16)))
  t.same(ntpSecondsToDate(0xeeb2aa7a), new Date(Date.UTC(2026, 10, 26, 12, 54, 18)))
  t.equal(dateToNtpSeconds(new Date(Date.UTC(1960, 0, 1))), -1, 'before 1968: not representable')
  t.equal(dateToNtpSeconds(new Date(Date.UTC(2200, 0, 1))), -1, 'after 2104: not representable')
  t.equal(dateToNtpSeconds(new Date(Number.NaN)), -1)
  t.throws(() => encode(message([{ name: 'T-Time', value: new Date(Date.UTC(1900, 0, 1)) }]), { dictionary }), {
    code: DiameterErrorCodes.ENCODE_VALUE,
  })
})

t.test('Grouped AVPs nest and round-trip', async (t) => {
  const input: AvpInput = {
    name: 'T-Grouped',
    value: [
      { name: 'T-Unsigned32', value: 1 },
      { name: 'T-Grouped', value: [{ name: 'T-UTF8String', value: 'abc' }, { name: 'T-Grouped', value: [] }] },
      { name: 'T-Unsigned64', value: 5n },
    ],
  }
  const { avp, wire, again } = roundTrip(input)
  t.equal(avp.type, 'Grouped')
  const kids = childrenOf(avp)!
  t.same(kids.map((k) => k.name), ['T-Unsigned32', 'T-Grouped', 'T-Unsigned64'])
  t.equal(avpString(findAvpPath([avp], ['T-Grouped', 'T-Grouped', 'T-UTF8String'])), 'abc')
  t.same(childrenOf(findAvpPath([avp], ['T-Grouped', 'T-Grouped', 'T-Grouped'])), [], 'empty Grouped')
  t.ok(again.equals(wire))
})

t.test('encoder: M bit from the dictionary, V from the vendor, P never; explicit flags win', async (t) => {
  const wire = encode(
    message([
      { name: 'Session-Id', value: 's;1' },
      { name: 'Plain-U32', value: 7 },
      { name: 'T-Unsigned32', value: 7 },
      { name: 'T-Integer32', value: 7 },
      { name: 'T-Integer32', value: 7, flags: { mandatory: false, protected: true } },
    ]),
    { dictionary },
  )
  const msg = decode(wire, { dictionary })
  t.same(
    msg.avps.map((a) => [a.name, a.flags.vendor, a.flags.mandatory, a.flags.protected]),
    [
      ['Session-Id', false, true, false],
      ['Plain-U32', false, false, false],
      ['T-Unsigned32', true, false, false],
      ['T-Integer32', true, true, false],
      ['T-Integer32', true, false, true],
    ],
  )
  // Session-Id 's;1': header 8 + 3 bytes = 11, padded to 12 with a zero
  t.equal(wire.subarray(20, 32).toString('hex'), '0000010740' + '00000b' + '733b31' + '00')
  t.equal(msg.avps[2].vendorId, 99999)
})

t.test('encoder: header fields', async (t) => {
  const wire = encode({
    flags: { request: true, proxiable: true, error: false, retransmit: true },
    commandCode: 0x123456,
    applicationId: 0xffffffff,
    hopByHop: 0xdeadbeef,
    endToEnd: 0x01020304,
    avps: [],
  })
  t.equal(wire.toString('hex'), '01000014' + 'd0123456' + 'ffffffff' + 'deadbeef' + '01020304')
  const msg = decode(wire)
  t.same(msg.flags, { request: true, proxiable: true, error: false, retransmit: true })
  t.same([msg.commandCode, msg.applicationId, msg.hopByHop, msg.endToEnd], [0x123456, 0xffffffff, 0xdeadbeef, 0x01020304])
  const ans = answerHeader(msg)
  t.same(ans, {
    commandCode: 0x123456,
    applicationId: 0xffffffff,
    hopByHop: 0xdeadbeef,
    endToEnd: 0x01020304,
    flags: { request: false, proxiable: true, error: false, retransmit: false },
  })
  t.equal(encode({ ...ans, avps: [] })[4], 0x40)
  t.equal(encode({ ...answerHeader(msg, true), avps: [] })[4], 0x60, 'error answer: P and E')
})

t.test('encoder: named values for Enumerated and Result-Code (real dictionary)', async (t) => {
  const wire = encode(
    message([
      { name: 'CC-Request-Type', value: 'TERMINATION_REQUEST' },
      { name: 'Result-Code', value: 'DIAMETER_CREDIT_LIMIT_REACHED' },
      { name: 'Subscription-Id', value: [{ name: 'Subscription-Id-Type', value: 'END_USER_IMSI' }, { name: 'Subscription-Id-Data', value: '001010123456789' }] },
    ]),
  )
  const msg = decode(wire)
  t.equal(avpNumber(findAvp(msg.avps, 'CC-Request-Type')), 3)
  t.equal(avpNumber(findAvp(msg.avps, 'Result-Code')), 4012)
  t.equal(avpNumber(findAvpPath(msg.avps, ['Subscription-Id', 'Subscription-Id-Type'])), 1)
  t.throws(() => encode(message([{ name: 'CC-Request-Type', value: 'NOPE' }])), { code: DiameterErrorCodes.ENCODE_VALUE })
})

t.test('encoder: 3GPP AVPs get V + vendor 10415 from the dictionary', async (t) => {
  const wire = encode(
    message([
      {
        name: 'Multiple-Services-Credit-Control',
        value: [
          { name: 'Granted-Service-Unit', value: [{ name: 'CC-Total-Octets', value: 10n * 1024n ** 3n }] },
          { name: 'Volume-Quota-Threshold', value: 1048576 },
          { name: 'Time-Quota-Threshold', value: 30 },
          { name: 'Quota-Holding-Time', value: 60 },
          { name: 'Validity-Time', value: 3600 },
          { name: 'Final-Unit-Indication', value: [{ name: 'Final-Unit-Action', value: 'REDIRECT' }, { name: 'Redirect-Server', value: [{ name: 'Redirect-Address-Type', value: 'URL' }, { name: 'Redirect-Server-Address', value: 'http://topup.example/' }] }] },
        ],
      },
    ]),
  )
  const mscc = childrenOf(decode(wire).avps[0])!
  const vqt = findAvp(mscc, 'Volume-Quota-Threshold')!
  t.same([vqt.code, vqt.vendorId, vqt.flags.vendor, vqt.flags.mandatory], [869, 10415, true, true])
  t.equal(findAvp(mscc, 'Time-Quota-Threshold')?.code, 868)
  t.equal(findAvp(mscc, 'Quota-Holding-Time')?.code, 871)
  t.equal(avpBigInt(findAvpPath(mscc, ['Granted-Service-Unit', 'CC-Total-Octets'])), 10737418240n)
  t.equal(avpNumber(findAvpPath(mscc, ['Final-Unit-Indication', 'Final-Unit-Action'])), 1)
  t.equal(avpString(findAvpPath(mscc, ['Final-Unit-Indication', 'Redirect-Server', 'Redirect-Server-Address'])), 'http://topup.example/')
})

t.test('encoder: rejects what cannot go on the wire', async (t) => {
  const bad: Array<[string, AvpInput, string]> = [
    ['unknown name', { name: 'No-Such-AVP', value: 1 }, DiameterErrorCodes.ENCODE_UNKNOWN_AVP],
    ['unknown code without type', { code: 4242, value: 1 }, DiameterErrorCodes.ENCODE_UNKNOWN_AVP],
    ['no name, no code', { value: 1 }, DiameterErrorCodes.ENCODE_UNKNOWN_AVP],
    ['U32 negative', { name: 'T-Unsigned32', value: -1 }, DiameterErrorCodes.ENCODE_VALUE],
    ['U32 too big', { name: 'T-Unsigned32', value: 2 ** 32 }, DiameterErrorCodes.ENCODE_VALUE],
    ['U32 fraction', { name: 'T-Unsigned32', value: 1.5 }, DiameterErrorCodes.ENCODE_VALUE],
    ['U32 string', { name: 'T-Unsigned32', value: '5' }, DiameterErrorCodes.ENCODE_VALUE],
    ['I32 too small', { name: 'T-Integer32', value: -(2 ** 31) - 1 }, DiameterErrorCodes.ENCODE_VALUE],
    ['U64 negative', { name: 'T-Unsigned64', value: -1n }, DiameterErrorCodes.ENCODE_VALUE],
    ['U64 too big', { name: 'T-Unsigned64', value: 2n ** 64n }, DiameterErrorCodes.ENCODE_VALUE],
    ['U64 unsafe number', { name: 'T-Unsigned64', value: 2 ** 60 }, DiameterErrorCodes.ENCODE_VALUE],
    ['I64 too small', { name: 'T-Integer64', value: -(2n ** 63n) - 1n }, DiameterErrorCodes.ENCODE_VALUE],
    ['string for number', { name: 'T-Float64', value: '1.0' }, DiameterErrorCodes.ENCODE_VALUE],
    ['bad address', { name: 'T-Address', value: '300.1.1.1' }, DiameterErrorCodes.ENCODE_VALUE],
    ['bad IPv6', { name: 'T-Address', value: '1::2::3' }, DiameterErrorCodes.ENCODE_VALUE],
    ['Time not a Date', { name: 'T-Time', value: 12345 }, DiameterErrorCodes.ENCODE_VALUE],
    ['Grouped not an array', { name: 'T-Grouped', value: 'x' }, DiameterErrorCodes.ENCODE_VALUE],
    ['vendor flag cleared with a vendor id', { name: 'T-Unsigned32', value: 1, flags: { vendor: false } }, DiameterErrorCodes.ENCODE_VALUE],
    ['unknown enum name', { name: 'T-Enumerated', value: 'NOPE' }, DiameterErrorCodes.ENCODE_VALUE],
  ]
  for (const [label, avp, code] of bad) {
    t.throws(() => encode(message([avp]), { dictionary }), { code, name: 'DiameterEncodeError' }, label)
  }
  t.throws(() => encode({ ...message([]), hopByHop: -1 }, { dictionary }), { code: DiameterErrorCodes.ENCODE_MESSAGE })
  t.throws(() => encode({ ...message([]), commandCode: 0x1000000 }, { dictionary }), { code: DiameterErrorCodes.ENCODE_MESSAGE })
  let deep: AvpInput = { name: 'T-Unsigned32', value: 1 }
  for (let i = 0; i < 40; i++) deep = { name: 'T-Grouped', value: [deep] }
  t.throws(() => encode(message([deep]), { dictionary }), { code: DiameterErrorCodes.ENCODE_MESSAGE }, 'nesting limit')
  // A failed encode leaves nothing behind: the next one is clean.
  t.ok(decode(encode(message([{ name: 'Session-Id', value: 'ok' }]), { dictionary }), { dictionary }))
  t.type(new DiameterEncodeError(DiameterErrorCodes.ENCODE_VALUE, 'x'), Error)
})

t.test('unknown AVPs decode as opaque bytes with their flags and re-encode unchanged', async (t) => {
  const wire = encode(
    message([
      { name: 'Session-Id', value: 'a;1' },
      { code: 50001, vendorId: 193, type: 'OctetString', value: Buffer.from('ericsson'), flags: { mandatory: false } },
      { code: 50002, vendorId: 2011, type: 'Unsigned32', value: 9, flags: { mandatory: true } },
      { code: 60000, value: Buffer.from([1, 2, 3]) },
    ]),
    { dictionary },
  )
  const msg = decode(wire, { dictionary })
  const [, eric, huawei, plain] = msg.avps
  t.same([eric.name, eric.type, eric.vendorId, eric.flags.vendor, eric.flags.mandatory], [undefined, 'OctetString', 193, true, false])
  t.same(eric.value, Buffer.from('ericsson'))
  t.equal(eric.raw?.length, 12 + 8, 'raw = whole AVP')
  t.same([huawei.name, huawei.flags.mandatory, huawei.value], [undefined, true, Buffer.from([0, 0, 0, 9])])
  t.same([plain.code, plain.vendorId, plain.flags.vendor, plain.value], [60000, 0, false, Buffer.from([1, 2, 3])])
  t.equal(findUnknownMandatory(msg.avps), huawei, 'the M-bit one is the 5001 candidate')
  t.equal(findAvp(msg.avps, 50002, 2011), huawei)
  t.same(findAvps(msg.avps, 60000).length, 1)
  t.ok(encode(msg, { dictionary }).equals(wire))
})

t.test('unknown M-bit AVP inside a known Grouped is found too', async (t) => {
  const msg = decode(
    encode(message([{ name: 'Multiple-Services-Credit-Control', value: [{ name: 'Rating-Group', value: 1 }, { code: 9999, vendorId: 10415, value: Buffer.alloc(4), flags: { mandatory: true } }] }])),
  )
  t.equal(findUnknownMandatory(msg.avps)?.code, 9999)
})

t.test('keepRaw attaches the wire bytes of every AVP', async (t) => {
  const wire = encode(message([{ name: 'Session-Id', value: 'x' }, { name: 'T-Grouped', value: [{ name: 'T-Integer32', value: 1 }] }]), { dictionary })
  const msg = decode(wire, { dictionary, keepRaw: true })
  t.equal(msg.avps[0].raw?.toString('hex'), '00000107400000097800'.slice(0, 18))
  t.equal(msg.avps[1].raw?.length, 12 + 16)
  t.equal(childrenOf(msg.avps[1])![0].raw?.length, 16)
  t.equal(decode(wire, { dictionary }).avps[0].raw, undefined, 'not by default')
})

t.test('decodeAvps / encodeAvps / verbatimAvp', async (t) => {
  const bytes = encodeAvps([{ name: 'Session-Id', value: 'abc' }, { name: 'T-Integer64', value: -3n }], { dictionary })
  const { avps, irregularities } = decodeAvps(bytes, { dictionary })
  t.same(avps.map((a) => a.value), ['abc', -3n])
  t.same(irregularities, [])
  // Failed-AVP carrying an AVP exactly as received, even a broken one.
  const broken = Buffer.from('0000010740000063616263', 'hex') // claims length 0x63
  const wire = encodeAvps([{ name: 'Failed-AVP', value: [verbatimAvp(broken)] }])
  t.equal(wire.toString('hex'), '0000011740000014' + '0000010740000063616263' + '00')
})

t.test('helpers tolerate absent AVPs', async (t) => {
  t.equal(findAvp(undefined, 'Session-Id'), undefined)
  t.same(findAvps(undefined, 'Session-Id'), [])
  t.equal(findAvpPath([], ['A', 'B']), undefined)
  t.equal(childrenOf(undefined), undefined)
  t.equal(avpNumber(undefined), undefined)
  t.equal(avpBigInt(undefined), undefined)
  t.equal(avpString(undefined), undefined)
  t.equal(avpDate(undefined), undefined)
  t.equal(findUnknownMandatory(undefined), undefined)
  const msg = decode(encode(message([{ name: 'Session-Id', value: 'x' }]), { dictionary }), { dictionary })
  t.equal(avpNumber(msg.avps[0]), undefined, 'string is not a number')
  t.equal(avpDate(msg.avps[0]), undefined)
  t.equal(childrenOf(msg.avps[0]), undefined)
})
