// MD5 (RFC 1321) in JavaScript, for the RADIUS authenticators only: every request is verified
// with one and every reply signed with one, over 20-200 octets. node:crypto's one-shot MD5 costs
// ~0.7-0.9 µs a call here whatever the length (a crossing into OpenSSL and a digest lookup);
// this costs ~0.25 µs for one 64-octet block and ~0.45 µs for a 130-octet packet (Node 20, this
// box; BENCHMARKS.md). Checked against node:crypto for every length from 0 to 300 octets and
// against the RFC's test suite (test/unit/md5.test.ts). Message-Authenticator (HMAC-MD5) stays
// with node:crypto.

const STATE = new Int32Array(4)
/** The last one or two blocks: the data's tail, the 0x80 octet, zeros, the bit length. */
const TAIL = new Uint8Array(128)

/** The MD5 digest of the first `length` octets of `data`. */
export function md5(data: Uint8Array, length = data.length): Buffer {
  STATE[0] = 0x67452301
  STATE[1] = 0xefcdab89 | 0
  STATE[2] = 0x98badcfe | 0
  STATE[3] = 0x10325476
  let off = 0
  for (; off + 64 <= length; off += 64) block(data, off)
  const rest = length - off
  TAIL.fill(0)
  for (let i = 0; i < rest; i++) TAIL[i] = data[off + i]
  TAIL[rest] = 0x80
  const end = rest < 56 ? 64 : 128
  // the length in bits, 64-bit little-endian (a RADIUS packet's is far below 2^32)
  const lo = (length * 8) >>> 0
  const hi = Math.floor(length / 0x20000000)
  for (let i = 0; i < 4; i++) {
    TAIL[end - 8 + i] = lo >>> (8 * i)
    TAIL[end - 4 + i] = hi >>> (8 * i)
  }
  block(TAIL, 0)
  if (end === 128) block(TAIL, 64)
  const out = Buffer.allocUnsafe(16)
  for (let j = 0; j < 4; j++) {
    const v = STATE[j]
    out[4 * j] = v
    out[4 * j + 1] = v >>> 8
    out[4 * j + 2] = v >>> 16
    out[4 * j + 3] = v >>> 24
  }
  return out
}

/**
 * One 64-octet block at `o` into STATE: the RFC's four rounds of sixteen steps written out, each
 * `a = b + ((a + F(b, c, d) + X[k] + T[i]) <<< s)` with T[i] = floor(2^32 * |sin(i)|) as a signed
 * 32-bit integer (a loop over tables runs ~3 times slower: V8 then neither unrolls nor keeps the
 * words in registers).
 */
function block(m: Uint8Array, o: number): void {
  const x0 = m[o + 0] | (m[o + 1] << 8) | (m[o + 2] << 16) | (m[o + 3] << 24)
  const x1 = m[o + 4] | (m[o + 5] << 8) | (m[o + 6] << 16) | (m[o + 7] << 24)
  const x2 = m[o + 8] | (m[o + 9] << 8) | (m[o + 10] << 16) | (m[o + 11] << 24)
  const x3 = m[o + 12] | (m[o + 13] << 8) | (m[o + 14] << 16) | (m[o + 15] << 24)
  const x4 = m[o + 16] | (m[o + 17] << 8) | (m[o + 18] << 16) | (m[o + 19] << 24)
  const x5 = m[o + 20] | (m[o + 21] << 8) | (m[o + 22] << 16) | (m[o + 23] << 24)
  const x6 = m[o + 24] | (m[o + 25] << 8) | (m[o + 26] << 16) | (m[o + 27] << 24)
  const x7 = m[o + 28] | (m[o + 29] << 8) | (m[o + 30] << 16) | (m[o + 31] << 24)
  const x8 = m[o + 32] | (m[o + 33] << 8) | (m[o + 34] << 16) | (m[o + 35] << 24)
  const x9 = m[o + 36] | (m[o + 37] << 8) | (m[o + 38] << 16) | (m[o + 39] << 24)
  const x10 = m[o + 40] | (m[o + 41] << 8) | (m[o + 42] << 16) | (m[o + 43] << 24)
  const x11 = m[o + 44] | (m[o + 45] << 8) | (m[o + 46] << 16) | (m[o + 47] << 24)
  const x12 = m[o + 48] | (m[o + 49] << 8) | (m[o + 50] << 16) | (m[o + 51] << 24)
  const x13 = m[o + 52] | (m[o + 53] << 8) | (m[o + 54] << 16) | (m[o + 55] << 24)
  const x14 = m[o + 56] | (m[o + 57] << 8) | (m[o + 58] << 16) | (m[o + 59] << 24)
  const x15 = m[o + 60] | (m[o + 61] << 8) | (m[o + 62] << 16) | (m[o + 63] << 24)
  let a = STATE[0]
  let b = STATE[1]
  let c = STATE[2]
  let d = STATE[3]
  let t: number
  // round 1: F(b, c, d) = (b & c) | (~b & d)
  t = (a + ((b & c) | (~b & d)) + x0 - 680876936) | 0
  a = (b + ((t << 7) | (t >>> 25))) | 0
  t = (d + ((a & b) | (~a & c)) + x1 - 389564586) | 0
  d = (a + ((t << 12) | (t >>> 20))) | 0
  t = (c + ((d & a) | (~d & b)) + x2 + 606105819) | 0
  c = (d + ((t << 17) | (t >>> 15))) | 0
  t = (b + ((c & d) | (~c & a)) + x3 - 1044525330) | 0
  b = (c + ((t << 22) | (t >>> 10))) | 0
  t = (a + ((b & c) | (~b & d)) + x4 - 176418897) | 0
  a = (b + ((t << 7) | (t >>> 25))) | 0
  t = (d + ((a & b) | (~a & c)) + x5 + 1200080426) | 0
  d = (a + ((t << 12) | (t >>> 20))) | 0
  t = (c + ((d & a) | (~d & b)) + x6 - 1473231341) | 0
  c = (d + ((t << 17) | (t >>> 15))) | 0
  t = (b + ((c & d) | (~c & a)) + x7 - 45705983) | 0
  b = (c + ((t << 22) | (t >>> 10))) | 0
  t = (a + ((b & c) | (~b & d)) + x8 + 1770035416) | 0
  a = (b + ((t << 7) | (t >>> 25))) | 0
  t = (d + ((a & b) | (~a & c)) + x9 - 1958414417) | 0
  d = (a + ((t << 12) | (t >>> 20))) | 0
  t = (c + ((d & a) | (~d & b)) + x10 - 42063) | 0
  c = (d + ((t << 17) | (t >>> 15))) | 0
  t = (b + ((c & d) | (~c & a)) + x11 - 1990404162) | 0
  b = (c + ((t << 22) | (t >>> 10))) | 0
  t = (a + ((b & c) | (~b & d)) + x12 + 1804603682) | 0
  a = (b + ((t << 7) | (t >>> 25))) | 0
  t = (d + ((a & b) | (~a & c)) + x13 - 40341101) | 0
  d = (a + ((t << 12) | (t >>> 20))) | 0
  t = (c + ((d & a) | (~d & b)) + x14 - 1502002290) | 0
  c = (d + ((t << 17) | (t >>> 15))) | 0
  t = (b + ((c & d) | (~c & a)) + x15 + 1236535329) | 0
  b = (c + ((t << 22) | (t >>> 10))) | 0
  // round 2: G(b, c, d) = (b & d) | (c & ~d)
  t = (a + ((b & d) | (c & ~d)) + x1 - 165796510) | 0
  a = (b + ((t << 5) | (t >>> 27))) | 0
  t = (d + ((a & c) | (b & ~c)) + x6 - 1069501632) | 0
  d = (a + ((t << 9) | (t >>> 23))) | 0
  t = (c + ((d & b) | (a & ~b)) + x11 + 643717713) | 0
  c = (d + ((t << 14) | (t >>> 18))) | 0
  t = (b + ((c & a) | (d & ~a)) + x0 - 373897302) | 0
  b = (c + ((t << 20) | (t >>> 12))) | 0
  t = (a + ((b & d) | (c & ~d)) + x5 - 701558691) | 0
  a = (b + ((t << 5) | (t >>> 27))) | 0
  t = (d + ((a & c) | (b & ~c)) + x10 + 38016083) | 0
  d = (a + ((t << 9) | (t >>> 23))) | 0
  t = (c + ((d & b) | (a & ~b)) + x15 - 660478335) | 0
  c = (d + ((t << 14) | (t >>> 18))) | 0
  t = (b + ((c & a) | (d & ~a)) + x4 - 405537848) | 0
  b = (c + ((t << 20) | (t >>> 12))) | 0
  t = (a + ((b & d) | (c & ~d)) + x9 + 568446438) | 0
  a = (b + ((t << 5) | (t >>> 27))) | 0
  t = (d + ((a & c) | (b & ~c)) + x14 - 1019803690) | 0
  d = (a + ((t << 9) | (t >>> 23))) | 0
  t = (c + ((d & b) | (a & ~b)) + x3 - 187363961) | 0
  c = (d + ((t << 14) | (t >>> 18))) | 0
  t = (b + ((c & a) | (d & ~a)) + x8 + 1163531501) | 0
  b = (c + ((t << 20) | (t >>> 12))) | 0
  t = (a + ((b & d) | (c & ~d)) + x13 - 1444681467) | 0
  a = (b + ((t << 5) | (t >>> 27))) | 0
  t = (d + ((a & c) | (b & ~c)) + x2 - 51403784) | 0
  d = (a + ((t << 9) | (t >>> 23))) | 0
  t = (c + ((d & b) | (a & ~b)) + x7 + 1735328473) | 0
  c = (d + ((t << 14) | (t >>> 18))) | 0
  t = (b + ((c & a) | (d & ~a)) + x12 - 1926607734) | 0
  b = (c + ((t << 20) | (t >>> 12))) | 0
  // round 3: H(b, c, d) = b ^ c ^ d
  t = (a + (b ^ c ^ d) + x5 - 378558) | 0
  a = (b + ((t << 4) | (t >>> 28))) | 0
  t = (d + (a ^ b ^ c) + x8 - 2022574463) | 0
  d = (a + ((t << 11) | (t >>> 21))) | 0
  t = (c + (d ^ a ^ b) + x11 + 1839030562) | 0
  c = (d + ((t << 16) | (t >>> 16))) | 0
  t = (b + (c ^ d ^ a) + x14 - 35309556) | 0
  b = (c + ((t << 23) | (t >>> 9))) | 0
  t = (a + (b ^ c ^ d) + x1 - 1530992060) | 0
  a = (b + ((t << 4) | (t >>> 28))) | 0
  t = (d + (a ^ b ^ c) + x4 + 1272893353) | 0
  d = (a + ((t << 11) | (t >>> 21))) | 0
  t = (c + (d ^ a ^ b) + x7 - 155497632) | 0
  c = (d + ((t << 16) | (t >>> 16))) | 0
  t = (b + (c ^ d ^ a) + x10 - 1094730640) | 0
  b = (c + ((t << 23) | (t >>> 9))) | 0
  t = (a + (b ^ c ^ d) + x13 + 681279174) | 0
  a = (b + ((t << 4) | (t >>> 28))) | 0
  t = (d + (a ^ b ^ c) + x0 - 358537222) | 0
  d = (a + ((t << 11) | (t >>> 21))) | 0
  t = (c + (d ^ a ^ b) + x3 - 722521979) | 0
  c = (d + ((t << 16) | (t >>> 16))) | 0
  t = (b + (c ^ d ^ a) + x6 + 76029189) | 0
  b = (c + ((t << 23) | (t >>> 9))) | 0
  t = (a + (b ^ c ^ d) + x9 - 640364487) | 0
  a = (b + ((t << 4) | (t >>> 28))) | 0
  t = (d + (a ^ b ^ c) + x12 - 421815835) | 0
  d = (a + ((t << 11) | (t >>> 21))) | 0
  t = (c + (d ^ a ^ b) + x15 + 530742520) | 0
  c = (d + ((t << 16) | (t >>> 16))) | 0
  t = (b + (c ^ d ^ a) + x2 - 995338651) | 0
  b = (c + ((t << 23) | (t >>> 9))) | 0
  // round 4: I(b, c, d) = c ^ (b | ~d)
  t = (a + (c ^ (b | ~d)) + x0 - 198630844) | 0
  a = (b + ((t << 6) | (t >>> 26))) | 0
  t = (d + (b ^ (a | ~c)) + x7 + 1126891415) | 0
  d = (a + ((t << 10) | (t >>> 22))) | 0
  t = (c + (a ^ (d | ~b)) + x14 - 1416354905) | 0
  c = (d + ((t << 15) | (t >>> 17))) | 0
  t = (b + (d ^ (c | ~a)) + x5 - 57434055) | 0
  b = (c + ((t << 21) | (t >>> 11))) | 0
  t = (a + (c ^ (b | ~d)) + x12 + 1700485571) | 0
  a = (b + ((t << 6) | (t >>> 26))) | 0
  t = (d + (b ^ (a | ~c)) + x3 - 1894986606) | 0
  d = (a + ((t << 10) | (t >>> 22))) | 0
  t = (c + (a ^ (d | ~b)) + x10 - 1051523) | 0
  c = (d + ((t << 15) | (t >>> 17))) | 0
  t = (b + (d ^ (c | ~a)) + x1 - 2054922799) | 0
  b = (c + ((t << 21) | (t >>> 11))) | 0
  t = (a + (c ^ (b | ~d)) + x8 + 1873313359) | 0
  a = (b + ((t << 6) | (t >>> 26))) | 0
  t = (d + (b ^ (a | ~c)) + x15 - 30611744) | 0
  d = (a + ((t << 10) | (t >>> 22))) | 0
  t = (c + (a ^ (d | ~b)) + x6 - 1560198380) | 0
  c = (d + ((t << 15) | (t >>> 17))) | 0
  t = (b + (d ^ (c | ~a)) + x13 + 1309151649) | 0
  b = (c + ((t << 21) | (t >>> 11))) | 0
  t = (a + (c ^ (b | ~d)) + x4 - 145523070) | 0
  a = (b + ((t << 6) | (t >>> 26))) | 0
  t = (d + (b ^ (a | ~c)) + x11 - 1120210379) | 0
  d = (a + ((t << 10) | (t >>> 22))) | 0
  t = (c + (a ^ (d | ~b)) + x2 + 718787259) | 0
  c = (d + ((t << 15) | (t >>> 17))) | 0
  t = (b + (d ^ (c | ~a)) + x9 - 343485551) | 0
  b = (c + ((t << 21) | (t >>> 11))) | 0
  STATE[0] = (STATE[0] + a) | 0
  STATE[1] = (STATE[1] + b) | 0
  STATE[2] = (STATE[2] + c) | 0
  STATE[3] = (STATE[3] + d) | 0
}
