import t from 'tap'
import { createHash, randomBytes } from 'node:crypto'
import { md5 } from '../../src/lib/md5.js'

const openssl = (b: Uint8Array): string => createHash('md5').update(b).digest('hex')

t.test('the test suite of RFC 1321 appendix A.5', async (t) => {
  const suite: Array<[string, string]> = [
    ['', 'd41d8cd98f00b204e9800998ecf8427e'],
    ['a', '0cc175b9c0f1b6a831c399e269772661'],
    ['abc', '900150983cd24fb0d6963f7d28e17f72'],
    ['message digest', 'f96b697d7cb7938d525a2f31aaf161d0'],
    ['abcdefghijklmnopqrstuvwxyz', 'c3fcd3d76192e4007dfb496cca67e13b'],
    ['ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789', 'd174ab98d277d9f5a5611c2c9f419d9f'],
    ['12345678901234567890123456789012345678901234567890123456789012345678901234567890', '57edf4a22be3c955ac49da2e2107b67a'],
  ]
  for (const [text, digest] of suite) t.equal(md5(Buffer.from(text, 'latin1')).toString('hex'), digest, JSON.stringify(text))
})

t.test('the same digest as OpenSSL for every length from 0 to 300 octets (padding into one or two blocks)', async (t) => {
  let wrong = 0
  for (let n = 0; n <= 300; n++) {
    const data = randomBytes(n)
    if (md5(data).toString('hex') !== openssl(data)) wrong++
    // all ones: every word negative as a signed 32-bit integer
    const ones = Buffer.alloc(n, 0xff)
    if (md5(ones).toString('hex') !== openssl(ones)) wrong++
  }
  t.equal(wrong, 0)
  const big = randomBytes(4096)
  t.equal(md5(big).toString('hex'), openssl(big), 'a 4096-octet RADIUS packet')
})

t.test('the first `length` octets of a view that starts inside a larger buffer', async (t) => {
  const whole = randomBytes(400)
  const view = whole.subarray(37, 337)
  t.equal(md5(view, 150).toString('hex'), openssl(whole.subarray(37, 187)))
  t.equal(md5(view).toString('hex'), openssl(view))
  const a = md5(view, 10)
  const b = md5(view, 20)
  t.not(a.toString('hex'), b.toString('hex'), 'each digest is a buffer of its own')
  t.equal(a.toString('hex'), openssl(view.subarray(0, 10)))
})
