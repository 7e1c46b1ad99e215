// Malformed Diameter input: each vector expects a specific error code and RFC 6733 Result-Code, the
// lenient decoder keeps what it can (opaque Grouped, opaque bad values) and says so, and a fuzzer
// checks that nothing but DiameterDecodeError ever leaves decode().
import { readFileSync } from 'node:fs'
import t from 'tap'
import {
  DiameterDecodeError,
  DiameterErrorCodes as E,
  avpNumber,
  avpString,
  childrenOf,
  decode,
  decodeHeader,
  encode,
  findAvp,
  type AvpInput,
} from '../../src/diameter/codec.js'

const DIR = new URL('../fixtures/diameter/kamailio-5.6-ims_charging/', import.meta.url)
const CCR_I = Buffer.from(readFileSync(new URL('CCR-I.hex', DIR), 'utf8').trim(), 'hex')

const HEADER = '01000000' + 'c0000110' + '00000004' + '0000abcd' + '00001234' // length patched in
/** A message from hex AVP bytes, with a correct Message Length unless one is given. */
function msgHex(avpsHex: string, length?: number): Buffer {
  const buf = Buffer.from(HEADER + avpsHex, 'hex')
  const len = length ?? buf.length
  buf[1] = (len >> 16) & 0xff
  buf[2] = (len >> 8) & 0xff
  buf[3] = len & 0xff
  return buf
}

const SESSION_ID = '0000010740000009' + '78000000' // Session-Id "x", padded

function catchDecode(buf: Buffer, strict = false): DiameterDecodeError {
  try {
    decode(buf, { strict })
  } catch (err) {
    if (err instanceof DiameterDecodeError) return err
    throw err
  }
  throw new Error('decode did not throw')
}

t.test('header damage', async (t) => {
  const vectors: Array<[string, Buffer, string, number]> = [
    ['empty buffer', Buffer.alloc(0), E.TRUNCATED, 5015],
    ['truncated header (19 bytes)', msgHex('').subarray(0, 19), E.TRUNCATED, 5015],
    ['length not a multiple of 4', msgHex(SESSION_ID, 30).subarray(0, 30), E.MESSAGE_LENGTH, 5015],
    ['length field 22 with 24 bytes', msgHex('00000000', 22), E.MESSAGE_LENGTH, 5015],
    ['length field below 20', msgHex('', 16), E.MESSAGE_LENGTH, 5015],
    ['length field 0', msgHex('', 0), E.MESSAGE_LENGTH, 5015],
    ['length beyond the bytes (truncated body)', msgHex(SESSION_ID, 48), E.TRUNCATED, 5015],
    ['trailing bytes after the message', Buffer.concat([msgHex(SESSION_ID), Buffer.alloc(4)]), E.MESSAGE_LENGTH, 5015],
  ]
  for (const [label, buf, code, rc] of vectors) {
    const err = catchDecode(buf)
    t.equal(err.code, code, `${label}: ${code}`)
    t.equal(err.resultCode, rc, `${label}: Result-Code ${rc}`)
  }
  const v2 = msgHex(SESSION_ID)
  v2[0] = 2
  const err = catchDecode(v2)
  t.same([err.code, err.resultCode], [E.VERSION, 5011], 'bad version → 5011 DIAMETER_UNSUPPORTED_VERSION')
  t.equal(err.header?.hopByHop, 0xabcd, 'header still read for the answer')
  const eOnRequest = msgHex(SESSION_ID)
  eOnRequest[4] = 0xa0 // R + E
  t.same([catchDecode(eOnRequest).code, catchDecode(eOnRequest).resultCode], [E.HEADER_BITS, 3008], 'E bit on a request → 3008')
  t.throws(() => decodeHeader(Buffer.alloc(3)), { code: E.TRUNCATED })
})

t.test('AVP length damage: 5014 with the offending AVP bytes', async (t) => {
  const zero = catchDecode(msgHex(SESSION_ID + '0000011b40000000'))
  t.same([zero.code, zero.resultCode, zero.avpCode], [E.AVP_LENGTH, 5014, 283], 'zero-length AVP')
  t.equal(zero.failedAvp?.toString('hex'), '0000011b40000000')
  t.equal(zero.header?.endToEnd, 0x1234)
  t.same(zero.partialAvps?.map((a) => avpString(a)), ['x'], 'Session-Id decoded before the failure')

  const short = catchDecode(msgHex('0000011b40000007' + '00000000'))
  t.same([short.code, short.resultCode], [E.AVP_LENGTH, 5014], 'AVP length 7 < 8')

  const vShort = catchDecode(msgHex('0000036dc000000b' + '000028af'))
  t.same([vShort.code, vShort.resultCode], [E.AVP_LENGTH, 5014], 'V bit with AVP length 11 < 12')

  const overrun = catchDecode(msgHex(SESSION_ID + '0000011b40000040' + '6c6f63616c000000'))
  t.same([overrun.code, overrun.resultCode, overrun.avpCode], [E.AVP_LENGTH, 5014, 283], 'AVP length overrunning the message')
  t.equal(overrun.failedAvp?.toString('hex'), '0000011b40000040' + '6c6f63616c000000')

  const stub = catchDecode(msgHex(SESSION_ID + '00000000'))
  t.same([stub.code, stub.resultCode], [E.AVP_LENGTH, 5014], '4 trailing bytes cannot hold an AVP header')

  // A Grouped AVP whose own length overruns the message is framing damage, not tolerated.
  const groupOverrun = catchDecode(msgHex('000001c840000030' + '000001b04000000c00000064'))
  t.same([groupOverrun.code, groupOverrun.avpCode], [E.AVP_LENGTH, 456])
})

t.test('values that do not fit their type: lenient keeps bytes + 5004 note, strict throws 5004', async (t) => {
  // CC-Request-Number (Unsigned32) with 3 bytes; Host-IP-Address family 1 with 5 address bytes; bad UTF-8.
  const vectors: Array<[string, string, number]> = [
    ['Unsigned32 with 3 bytes', '0000019f4000000b' + '00000100', 415],
    ['Unsigned64 with 4 bytes', '000001a54000000c' + '00000001', 421],
    ['IPv4 Address with 5 bytes', '000001014000000f' + '00017f0000010100', 257],
    ['Time with 8 bytes', '0000003740000010' + 'eeb2aa7a00000000', 55],
    ['invalid UTF-8 in a UTF8String', '000000014000000b' + 'c328ff00', 1],
  ]
  for (const [label, avpHex, code] of vectors) {
    const buf = msgHex(SESSION_ID + avpHex)
    const msg = decode(buf)
    const avp = msg.avps[1]
    t.same([avp.code, avp.type, avp.irregular], [code, 'OctetString', 'invalid-value'], `${label}: opaque`)
    t.ok(avp.name, `${label}: still named`)
    t.equal(msg.irregularities?.length, 1)
    t.same([msg.irregularities?.[0].resultCode, msg.irregularities?.[0].errorCode, msg.irregularities?.[0].avpCode], [5004, E.AVP_VALUE, code])
    t.equal(msg.irregularities?.[0].failedAvp?.toString('hex'), avp.raw?.toString('hex'), `${label}: Failed-AVP bytes`)
    t.ok(encode(msg).equals(buf), `${label}: re-encodes unchanged`)
    const err = catchDecode(buf, true)
    t.same([err.code, err.resultCode, err.avpCode], [E.AVP_VALUE, 5004, code], `${label}: strict → 5004`)
    t.ok(err.failedAvp && avpHex.startsWith(err.failedAvp.toString('hex')), `${label}: strict Failed-AVP`)
  }
})

t.test('Grouped AVP whose children do not parse: kept opaque, message survives', async (t) => {
  // Kamailio's CCR-I with the User-Equipment-Info-Value length inside User-Equipment-Info made to lie.
  const buf = Buffer.from(CCR_I)
  const uei = buf.indexOf(Buffer.from('000001cc40000019', 'hex'))
  t.ok(uei > 0)
  buf[uei + 7] = 0x40 // 64 bytes: overruns the 48-byte Grouped AVP
  const msg = decode(buf)
  const ueiAvp = findAvp(msg.avps, 'User-Equipment-Info')!
  t.same([ueiAvp.type, ueiAvp.irregular, ueiAvp.flags.mandatory], ['OctetString', 'grouped-opaque', true])
  t.equal(childrenOf(ueiAvp), undefined)
  t.equal((ueiAvp.value as Buffer).length, 40)
  t.equal(msg.irregularities?.length, 1)
  const irr = msg.irregularities![0]
  t.same([irr.kind, irr.resultCode, irr.errorCode, irr.name], ['grouped-opaque', 5014, E.AVP_LENGTH, 'User-Equipment-Info'])
  t.equal(irr.failedAvp?.length, 48)
  // Everything charging needs is still there.
  t.equal(avpString(findAvp(msg.avps, 'Session-Id')), 'scscf.softswitch.test;3699977208;1')
  t.equal(avpNumber(findAvp(msg.avps, 'CC-Request-Type')), 1)
  t.ok(findAvp(msg.avps, 'Multiple-Services-Credit-Control'))
  t.ok(encode(msg).equals(buf), 'bytes kept verbatim')
  const strict = catchDecode(buf, true)
  t.same([strict.code, strict.resultCode, strict.avpCode], [E.AVP_LENGTH, 5014, 460], 'strict: the child error')

  // Irregularities of children of an opaque Grouped AVP are dropped with them.
  const nested = msgHex('000001c84000001c' + '000001a44000000b' + '000004' + '00' + '000001b000000000')
  const n = decode(nested)
  t.equal(n.avps[0].irregular, 'grouped-opaque')
  t.same(n.irregularities?.map((i) => i.kind), ['grouped-opaque'])
})

t.test('nesting deeper than maxDepth', async (t) => {
  let avp: AvpInput = { name: 'Rating-Group', value: 1 }
  for (let i = 0; i < 20; i++) avp = { name: 'Multiple-Services-Credit-Control', value: [avp] }
  const buf = encode({ commandCode: 272, applicationId: 4, hopByHop: 1, endToEnd: 1, avps: [avp] }, { maxDepth: 32 })
  const msg = decode(buf, { maxDepth: 8 })
  t.equal(msg.irregularities?.[0].errorCode, E.NESTING)
  let depth = 0
  let cur = msg.avps[0]
  while (childrenOf(cur)) {
    cur = childrenOf(cur)![0]
    depth++
  }
  t.equal(depth, 8, 'decoded down to the limit, opaque below')
  t.equal(cur.irregular, 'grouped-opaque')
  t.same([catchDecode(buf, true).code], [E.NESTING], 'strict: error')
  t.equal(decode(buf, { maxDepth: 32 }).irregularities, undefined)
  // Default limit (16) against a 5000-deep chain of minimal Grouped AVPs: no stack overflow.
  const parts: Buffer[] = []
  const levels = 5000
  for (let i = 0; i < levels; i++) {
    const h = Buffer.from('000001c840000000', 'hex')
    h.writeUIntBE(8 * (levels - i), 5, 3)
    parts.push(h)
  }
  const deep = Buffer.concat([Buffer.from(HEADER, 'hex'), ...parts])
  deep.writeUIntBE(deep.length, 1, 3)
  t.equal(decode(deep).irregularities?.[0].errorCode, E.NESTING)
})

t.test('reserved bits: lenient notes them, strict answers 3008/3009', async (t) => {
  const avpBits = msgHex('0000010747000009' + '78000000') // Session-Id flags 0x47
  const msg = decode(avpBits)
  t.equal(avpString(msg.avps[0]), 'x')
  t.same(msg.irregularities?.map((i) => [i.kind, i.resultCode]), [['reserved-avp-bits', 3009]])
  t.same([catchDecode(avpBits, true).code, catchDecode(avpBits, true).resultCode], [E.AVP_BITS, 3009])

  const hdrBits = msgHex(SESSION_ID)
  hdrBits[4] = 0xc1
  t.same(decode(hdrBits).irregularities?.map((i) => [i.kind, i.resultCode]), [['reserved-header-bits', 3008]])
  t.same([catchDecode(hdrBits, true).code, catchDecode(hdrBits, true).resultCode], [E.HEADER_BITS, 3008])

  const tOnAnswer = msgHex(SESSION_ID)
  tOnAnswer[4] = 0x50
  t.equal(decode(tOnAnswer).irregularities?.[0].kind, 'reserved-header-bits')
  t.equal(catchDecode(tOnAnswer, true).code, E.HEADER_BITS)
})

t.test('a Grouped AVP whose length omits its last child padding is tolerated', async (t) => {
  // Subscription-Id { Type 0, Data "46700000001" (19 bytes) } with length 8+12+19 = 39 instead of 40
  const buf = msgHex('000001bb40000027' + '000001c24000000c00000000' + '000001bc40000013' + '3436373030303030303031' + '00')
  const msg = decode(buf)
  t.equal(avpString(findAvp(childrenOf(msg.avps[0]), 'Subscription-Id-Data')), '46700000001')
  t.equal(msg.irregularities, undefined)
})

// Deterministic PRNG (mulberry32) so a failure is reproducible.
function rng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let x = a
    x = Math.imul(x ^ (x >>> 15), x | 1)
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61)
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296
  }
}

t.test('fuzz: mutated Kamailio CCRs only ever yield a message or a DiameterDecodeError', async (t) => {
  const rand = rng(0xd1a3e7e5)
  const seeds = ['CCR-I', 'CCR-U', 'CCR-T', 'CER'].map((n) => Buffer.from(readFileSync(new URL(`${n}.hex`, DIR), 'utf8').trim(), 'hex'))
  const codes = new Map<string, number>()
  let ok = 0
  const started = Date.now()
  const iterations = 30000
  for (let i = 0; i < iterations; i++) {
    const src = seeds[i % seeds.length]
    let buf = Buffer.from(src)
    const kind = Math.floor(rand() * 5)
    if (kind === 0) {
      for (let k = 0, n = 1 + Math.floor(rand() * 8); k < n; k++) buf[Math.floor(rand() * buf.length)] ^= 1 << Math.floor(rand() * 8)
    } else if (kind === 1) {
      // Lie in an AVP length field (anywhere: most offsets hit AVP headers of some level).
      const at = 20 + Math.floor(rand() * (buf.length - 24))
      buf.writeUIntBE(Math.floor(rand() * 0x1000000), at, 3)
    } else if (kind === 2) {
      buf = buf.subarray(0, Math.floor(rand() * buf.length))
    } else if (kind === 3) {
      for (let k = 20; k < buf.length; k++) if (rand() < 0.02) buf[k] = Math.floor(rand() * 256)
    } else {
      buf = Buffer.concat([buf, Buffer.from(Array.from({ length: Math.floor(rand() * 64) }, () => Math.floor(rand() * 256)))])
    }
    // Keep the header length consistent half of the time so the AVP parser is reached.
    if (rand() < 0.5 && buf.length >= 20) buf.writeUIntBE(buf.length, 1, 3)
    try {
      decode(buf, { strict: rand() < 0.3 })
      ok++
    } catch (err) {
      if (!(err instanceof DiameterDecodeError)) {
        t.fail(`iteration ${i}: ${(err as Error).stack}`)
        return
      }
      codes.set(err.code, (codes.get(err.code) ?? 0) + 1)
    }
  }
  const ms = Date.now() - started
  t.comment(`${iterations} mutated messages in ${ms} ms: ${ok} decoded, errors ${JSON.stringify(Object.fromEntries(codes))}`)
  t.ok(ok > 0, 'some mutations still decode (leniency)')
  t.ok(codes.size >= 4, 'several distinct error codes exercised')
  t.ok(ms < 60000, 'no pathological slowness')
})
