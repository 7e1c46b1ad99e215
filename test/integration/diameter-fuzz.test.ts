// The server answers or closes, never crashes and never hangs: 9,000 valid CCRs with their AVP bytes
// mutated (every one must be answered, since its header is intact), 1,000 header-level mutations,
// garbage, truncated, oversized and deeply nested input on fresh connections (each must be answered
// or closed), and afterwards a valid CCR still gets 2001. Seeded: OCS_FUZZ_SEED reproduces a run.
import { readFileSync } from 'node:fs'
import { connect } from 'node:net'
import { once } from 'node:events'
import t from 'tap'
import { encode, type AvpInput } from '../../src/diameter/codec.js'
import { makeAccount } from '../helpers/core.js'
import { startDiameterEnv } from '../helpers/diameter-env.js'
import { DiameterTestClient, ccrAvps, resultCode } from '../helpers/diameter-client.js'
import { open5gsCcr } from '../helpers/diameter-open5gs.js'

const seed = Number(process.env.OCS_FUZZ_SEED ?? Date.now() % 1e9)

function rng(s: number): () => number {
  return () => {
    s = (s + 0x6d2b79f5) | 0
    let x = Math.imul(s ^ (s >>> 15), 1 | s)
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296
  }
}

t.test(`fuzz (seed ${seed})`, async (t) => {
  const env = await startDiameterEnv(t, { maxInFlight: 100_000, maxInFlightPerPeer: 100_000 })
  const { msisdn } = await makeAccount(env.core.store, { balance: 1_000_000_000n, msisdn: '46700000001' })
  const rand = rng(seed)
  const int = (n: number) => Math.floor(rand() * n)

  const kamailio = ['CCR-I', 'CCR-U', 'CCR-T'].map((n) =>
    Buffer.from(readFileSync(new URL(`../fixtures/diameter/kamailio-5.6-ims_charging/${n}.hex`, import.meta.url), 'utf8').trim(), 'hex'),
  )
  const enc = (avps: AvpInput[]) => encode({ flags: { request: true, proxiable: true }, commandCode: 272, applicationId: 4, hopByHop: 0, endToEnd: 0, avps }, { maxDepth: 1000 })
  const bases: Buffer[] = [
    ...kamailio,
    enc(ccrAvps({ sessionId: 'fz;1', type: 1, number: 0, msisdn, mscc: [{ rg: 1, rsu: {} }, { rg: 2, rsu: { total: 1000 } }] })),
    enc(ccrAvps({ sessionId: 'fz;1', type: 2, number: 1, msisdn, mscc: [{ rg: 1, rsu: {}, usu: { input: 10, output: 20 } }] })),
    enc(ccrAvps({ sessionId: 'fz;2', type: 4, number: 0, msisdn, context: '32274@3gpp.org', requestedAction: 0, rsu: { ssu: 1 } })),
    open5gsCcr({ type: 1, number: 0, rsu: 'fixed' }, 0, 0),
  ]

  /** Mutate the AVP part of a message; the header stays intact except its length. */
  const mutateBody = (base: Buffer): Buffer => {
    let b = Buffer.from(base)
    const n = 1 + int(4)
    for (let k = 0; k < n; k++) {
      const at = 20 + int(b.length - 20)
      switch (int(7)) {
        case 0:
          b[at] ^= 1 << int(8)
          break
        case 1:
          b[at] = int(256)
          break
        case 2: // an AVP length field's neighbourhood: a lying length
          if (at + 4 <= b.length) b.writeUInt32BE(int(2) ? int(0x100) : ((int(256) << 24) | int(0x1000000)) >>> 0, at)
          break
        case 3: // truncate
          b = b.subarray(0, Math.max(20, at))
          break
        case 4: // append junk
          b = Buffer.concat([b, Buffer.from(Array.from({ length: 1 + int(40) }, () => int(256)))])
          break
        case 5: // zero-length AVP header
          if (at + 8 <= b.length) b.fill(0, at + 4, at + 8)
          break
        default: // duplicate a slice
          b = Buffer.concat([b, b.subarray(20 + int(b.length - 20))])
      }
    }
    // Mostly keep the length a multiple of 4, so the damage reaches the AVP decoder (else: 5015).
    if (int(5) !== 0 && b.length % 4 !== 0) b = b.subarray(0, Math.max(20, b.length - (b.length % 4)))
    b = Buffer.from(b)
    b.writeUInt32BE(0x01000000 | b.length, 0)
    return b
  }

  await t.test('9,000 CCRs with mutated AVPs over one connection: every one answered', async (t) => {
    const c = await env.connect({ originHost: 'fuzz.test' })
    let answered = 0
    const codes = new Map<number, number>()
    for (let batch = 0; batch < 30; batch++) {
      const waits: Array<Promise<unknown>> = []
      for (let i = 0; i < 300; i++) {
        const msg = mutateBody(bases[int(bases.length)])
        const hbh = c.nextHopByHop()
        msg.writeUInt32BE(hbh, 12)
        msg.writeUInt32BE(DiameterTestClient.nextEndToEnd(), 16)
        waits.push(
          c.requestBytes(msg, hbh, 15_000).then((a) => {
            answered++
            const rc = resultCode(a) ?? 0
            codes.set(rc, (codes.get(rc) ?? 0) + 1)
          }),
        )
      }
      await Promise.all(waits)
    }
    t.equal(answered, 9000, 'all 9,000 answered')
    t.equal(c.closed, false, 'the connection stays up')
    t.comment(`result codes: ${JSON.stringify(Object.fromEntries([...codes].sort((a, b) => b[1] - a[1])))}`)
  })

  await t.test('1,000 header mutations, garbage, truncated, oversized, nested: answered or closed, never hung', async (t) => {
    const nested = (depth: number): AvpInput => (depth === 0 ? { name: 'CC-Time', value: 1 } : { name: 'Multiple-Services-Credit-Control', value: [nested(depth - 1)] })
    const specials: Array<() => Buffer> = [
      () => Buffer.from(Array.from({ length: 1 + int(200) }, () => int(256))), // garbage
      () => bases[int(bases.length)].subarray(0, 1 + int(bases[0].length - 1)), // truncated, then EOF
      () => {
        const b = Buffer.from(bases[0])
        b.writeUInt32BE(0x01000000 | 0xfffff0, 0) // oversized Message Length
        return b
      },
      () => enc([...ccrAvps({ sessionId: 'fz;deep', type: 1, number: 0, msisdn }), nested(200)]), // deep nesting
      () => {
        const b = Buffer.alloc(20 + 8 * 1000) // a thousand zero-length AVPs
        b.writeUInt32BE(0x01000000 | b.length, 0)
        b.writeUInt32BE(0x80000110, 4)
        b.writeUInt32BE(4, 8)
        return b
      },
    ]
    let answered = 0
    let closed = 0
    const one = async (i: number): Promise<void> => {
      const sock = connect({ port: env.port, host: '127.0.0.1' })
      sock.on('error', () => undefined)
      let hung = false
      const closedP = once(sock, 'close')
      await once(sock, 'connect')
      let got = 0
      sock.on('data', () => {
        got++
      })
      const cer = encode({ flags: { request: true }, commandCode: 257, applicationId: 0, hopByHop: 1, endToEnd: 1, avps: [{ name: 'Origin-Host', value: `fz${i}.test` }, { name: 'Origin-Realm', value: 'test' }, { name: 'Host-IP-Address', value: '127.0.0.1' }, { name: 'Vendor-Id', value: 0 }, { name: 'Product-Name', value: 'fz' }, { name: 'Auth-Application-Id', value: 4 }] })
      let payload: Buffer
      if (i % 5 === 0) payload = specials[int(specials.length)]()
      else {
        payload = Buffer.from(bases[int(bases.length)])
        for (let k = 0, n = 1 + int(3); k < n; k++) payload[int(20)] = int(256)
      }
      sock.write(Buffer.concat([cer, payload]))
      await new Promise((r) => setTimeout(r, 30))
      sock.end()
      const timer = setTimeout(() => {
        hung = true
        sock.destroy()
      }, 5000)
      await closedP
      clearTimeout(timer)
      if (got > 1) answered++
      if (!hung) closed++
    }
    for (let i = 0; i < 1000; i += 50) await Promise.all(Array.from({ length: 50 }, (_, k) => one(i + k)))
    t.equal(closed, 1000, 'every connection ended within 5 s')
    t.comment(`${answered} of them got more than the CEA back`)
  })

  await t.test('afterwards a valid CCR still gets 2001', async (t) => {
    // A fresh subscriber: fuzzed CCRs may legitimately have reserved or spent all of the first one's money.
    const fresh = await makeAccount(env.core.store, { balance: 1_000_000n })
    const c = await env.connect({ originHost: 'after.test' })
    const a = await c.ccr(ccrAvps({ sessionId: 'fz;after', type: 1, number: 0, msisdn: fresh.msisdn, mscc: [{ rg: 1, rsu: {} }] }))
    t.equal(resultCode(a), 2001)
    t.equal(env.server.ready, true)
  })
})
