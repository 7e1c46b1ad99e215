// DiameterFramer: TCP chunks in, whole messages out; bounded buffering; lying lengths are fatal.
import { readFileSync } from 'node:fs'
import t from 'tap'
import { DiameterErrorCodes as E, DiameterFrameError, decode, encode } from '../../src/diameter/codec.js'
import { DEFAULT_MAX_MESSAGE_SIZE, DiameterFramer } from '../../src/diameter/framer.js'

const DIR = new URL('../fixtures/diameter/kamailio-5.6-ims_charging/', import.meta.url)
const fixture = (n: string): Buffer => Buffer.from(readFileSync(new URL(`${n}.hex`, DIR), 'utf8').trim(), 'hex')
const CER = fixture('CER')
const CCR_I = fixture('CCR-I')
const CCR_U = fixture('CCR-U')
const CCR_T = fixture('CCR-T')

function dwr(hopByHop: number): Buffer {
  return encode({
    flags: { request: true },
    commandCode: 280,
    applicationId: 0,
    hopByHop,
    endToEnd: hopByHop,
    avps: [
      { name: 'Origin-Host', value: 'peer.example' },
      { name: 'Origin-Realm', value: 'example' },
    ],
  })
}

t.test('64 messages in one chunk', async (t) => {
  const msgs = Array.from({ length: 64 }, (_, i) => [CER, CCR_I, CCR_U, CCR_T][i % 4])
  const framer = new DiameterFramer()
  const out = framer.push(Buffer.concat(msgs))
  t.equal(out.length, 64)
  for (let i = 0; i < 64; i++) t.ok(out[i].equals(msgs[i]), `message ${i} intact`)
  t.equal(framer.bufferedBytes, 0)
  t.equal(decode(out[1]).commandCode, 272, 'framed message decodes')
})

t.test('one message split byte by byte', async (t) => {
  const framer = new DiameterFramer()
  const got: Buffer[] = []
  for (let i = 0; i < CCR_I.length; i++) {
    const out = framer.push(CCR_I.subarray(i, i + 1))
    if (i < CCR_I.length - 1) {
      if (out.length !== 0) t.fail(`message emitted early at byte ${i}`)
      if (framer.bufferedBytes !== i + 1) t.fail(`buffered ${framer.bufferedBytes} after ${i + 1} bytes`)
    }
    got.push(...out)
  }
  t.equal(got.length, 1)
  t.ok(got[0].equals(CCR_I))
  t.equal(framer.bufferedBytes, 0)
})

t.test('random chunking of a long stream reproduces every message', async (t) => {
  const msgs: Buffer[] = []
  for (let i = 0; i < 500; i++) msgs.push(i % 3 === 0 ? dwr(i) : [CCR_I, CCR_U, CCR_T][i % 3])
  const stream = Buffer.concat(msgs)
  let seed = 12345
  const rand = (): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff
    return seed / 0x7fffffff
  }
  const framer = new DiameterFramer()
  const out: Buffer[] = []
  for (let off = 0; off < stream.length; ) {
    const n = 1 + Math.floor(rand() * 1500)
    out.push(...framer.push(stream.subarray(off, off + n)))
    off += n
  }
  t.equal(out.length, msgs.length)
  t.ok(out.every((m, i) => m.equals(msgs[i])), 'all intact and in order')
  t.ok(decode(out[0]).flags.request)
})

t.test('header split inside the first four bytes, then the rest', async (t) => {
  const framer = new DiameterFramer()
  t.same(framer.push(CCR_T.subarray(0, 2)), [])
  t.same(framer.push(CCR_T.subarray(2, 3)), [])
  t.equal(framer.bufferedBytes, 3)
  const out = framer.push(Buffer.concat([CCR_T.subarray(3), CER.subarray(0, 1)]))
  t.equal(out.length, 1)
  t.ok(out[0].equals(CCR_T))
  t.equal(framer.bufferedBytes, 1)
  t.ok(framer.push(CER.subarray(1))[0].equals(CER))
})

t.test('a lying length is fatal, and stays fatal', async (t) => {
  const tooSmall = Buffer.from(CER)
  tooSmall.writeUIntBE(12, 1, 3)
  const f1 = new DiameterFramer()
  t.throws(() => f1.push(tooSmall), { code: E.FRAME_LENGTH, value: 12 })
  t.type(f1.error, DiameterFrameError)
  t.throws(() => f1.push(CER), { code: E.FRAME_LENGTH }, 'every later push throws the same error')

  const huge = Buffer.from(CER)
  huge.writeUIntBE(0xffffff, 1, 3)
  const f2 = new DiameterFramer()
  t.throws(() => f2.push(huge.subarray(0, 4)), { code: E.FRAME_TOO_LARGE, value: 0xffffff }, 'detected from the first 4 bytes')
  t.equal(f2.bufferedBytes, 0, 'nothing buffered for it')

  const f3 = new DiameterFramer({ maxMessageSize: 256 })
  t.same(f3.push(CER).length, 1, '184 bytes fits under 256')
  t.throws(() => f3.push(CCR_I), { code: E.FRAME_TOO_LARGE, value: 836 })

  const badVersion = Buffer.from(CER)
  badVersion[0] = 0x47 // 'G' as in "GET / HTTP/1.1"
  t.throws(() => new DiameterFramer().push(badVersion), { code: E.FRAME_VERSION, value: 0x47 })

  // After good messages in the same chunk, the good ones are lost with the connection; the error is what matters.
  const f4 = new DiameterFramer()
  t.throws(() => f4.push(Buffer.concat([CER, tooSmall])), { code: E.FRAME_LENGTH })
  f4.reset()
  t.equal(f4.error, null)
  t.same(f4.push(CER).length, 1, 'reset makes it usable again')
})

t.test('limits: default 1 MiB, exact maximum accepted, bad options refused', async (t) => {
  t.equal(new DiameterFramer().maxMessageSize, DEFAULT_MAX_MESSAGE_SIZE)
  t.equal(DEFAULT_MAX_MESSAGE_SIZE, 1048576)
  const big = encode({
    commandCode: 272,
    applicationId: 4,
    hopByHop: 1,
    endToEnd: 1,
    avps: [{ name: 'Class', value: Buffer.alloc(DEFAULT_MAX_MESSAGE_SIZE - 28) }],
  })
  t.equal(big.length, DEFAULT_MAX_MESSAGE_SIZE)
  const framer = new DiameterFramer()
  let out: Buffer[] = []
  for (let off = 0; off < big.length; off += 65536) out = out.concat(framer.push(big.subarray(off, off + 65536)))
  t.equal(out.length, 1)
  t.ok(out[0].equals(big))
  const over = Buffer.from(big.subarray(0, 8))
  over.writeUIntBE(DEFAULT_MAX_MESSAGE_SIZE + 4, 1, 3)
  t.throws(() => new DiameterFramer().push(over), { code: E.FRAME_TOO_LARGE })
  t.throws(() => new DiameterFramer({ maxMessageSize: 10 }), RangeError)
  t.throws(() => new DiameterFramer({ maxMessageSize: 0x1000000 }), RangeError)
})

t.test('messages fully inside a chunk are views, split ones are copies', async (t) => {
  const chunk = Buffer.concat([CER, CCR_I.subarray(0, 100)])
  const framer = new DiameterFramer()
  const [first] = framer.push(chunk)
  chunk[10] ^= 0xff
  t.equal(first[10], chunk[10], 'zero-copy view of the chunk')
  const rest = Buffer.from(CCR_I.subarray(100))
  const [second] = framer.push(rest)
  chunk[150] ^= 0xff
  rest[0] ^= 0xff
  t.ok(second.equals(CCR_I), 'assembled copy, independent of both chunks')
})
