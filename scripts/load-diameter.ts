// Diameter Gy load generator: data sessions CCR-I → CCR-U × n → CCR-T from many concurrent
// sessions over one peer connection, with concurrency or rate control, a progress line each
// second, and percentiles at the end (also as one JSON line with --json, for npm run bench).
//
//   tsx scripts/load-diameter.ts --port 3868 --msisdn-prefix 4670 --subscribers 64 \
//       --concurrency 64 --duration 10 [--rate 5000] [--updates 5] [--rgs 1] [--context 32251@3gpp.org]
//       [--warmup 1]
// The first --warmup seconds (connection, CER, both sides' JIT) run the same load but are neither
// counted nor timed: the figures describe the steady state.
import { connect } from 'node:net'
import { once } from 'node:events'
import { parseArgs } from 'node:util'
import { Pacer } from './pacer.js'
import { encode, decode, findAvp, type AvpInput } from '../src/diameter/codec.js'
import { DiameterFramer } from '../src/diameter/framer.js'

const { values: a } = parseArgs({
  options: {
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string', default: '3868' },
    'msisdn-prefix': { type: 'string', default: '4670' },
    'msisdn-width': { type: 'string', default: '8' },
    subscribers: { type: 'string', default: '64' },
    concurrency: { type: 'string', default: '64' },
    rate: { type: 'string', default: '0' },
    duration: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '1' },
    updates: { type: 'string', default: '5' },
    rgs: { type: 'string', default: '1' },
    context: { type: 'string', default: '32251@3gpp.org' },
    /** octets (data: USU input/output octets) or time (voice: USU CC-Time) */
    units: { type: 'string', default: 'octets' },
    'origin-host': { type: 'string', default: `loadgen-${process.pid}.test` },
    json: { type: 'boolean', default: false },
    quiet: { type: 'boolean', default: false },
  },
})
const N = (k: keyof typeof a): number => Number(a[k])
const ORIGIN = a['origin-host'] as string

const socket = connect({ host: a.host as string, port: N('port') })
await once(socket, 'connect')
socket.setNoDelay(true)
const framer = new DiameterFramer()
const pending = new Map<number, (rc: number) => void>()
socket.on('data', (chunk: Buffer) => {
  for (const buf of framer.push(chunk)) {
    if ((buf[4] & 0x80) === 0) {
      // An answer: its hop-by-hop and top-level Result-Code are all we need (no full decode).
      const id = buf.readUInt32BE(12)
      const cb = pending.get(id)
      if (cb) {
        pending.delete(id)
        const at = avpValueOffset(buf, 268)
        cb(at < 0 ? 0 : buf.readUInt32BE(at))
      }
      continue
    }
    // A request from the server (DWR, RAR): answered so the server keeps us open.
    const m = decode(buf)
    const code = m.commandCode
    socket.write(encode({ flags: { request: false }, commandCode: code, applicationId: m.applicationId, hopByHop: m.hopByHop, endToEnd: m.endToEnd,
      avps: [...(code === 258 ? [{ name: 'Session-Id', value: String(findAvp(m.avps, 'Session-Id')?.value) }] : []), { name: 'Result-Code', value: 2001 }, { name: 'Origin-Host', value: ORIGIN }, { name: 'Origin-Realm', value: 'test' }] }))
  }
})
socket.on('error', (e) => {
  console.error(`connection error: ${e.message}`)
  process.exit(1)
})

let hbh = 1
/** Sends an encoded request with fresh hop-by-hop and end-to-end ids; resolves with its Result-Code. */
const sendBytes = (message: Buffer): Promise<number> => {
  const id = hbh++ >>> 0
  message.writeUInt32BE(id, 12)
  message.writeUInt32BE(id, 16)
  return new Promise((res) => {
    pending.set(id, res)
    socket.write(message)
  })
}
const cea = await sendBytes(encode({ flags: { request: true }, commandCode: 257, applicationId: 0, hopByHop: 0, endToEnd: 0, avps: [
  { name: 'Origin-Host', value: ORIGIN }, { name: 'Origin-Realm', value: 'test' }, { name: 'Host-IP-Address', value: '127.0.0.1' },
  { name: 'Vendor-Id', value: 0 }, { name: 'Product-Name', value: 'ocs-loadgen' }, { name: 'Auth-Application-Id', value: 4 },
  { name: 'Vendor-Specific-Application-Id', value: [{ name: 'Vendor-Id', value: 10415 }, { name: 'Auth-Application-Id', value: 4 }] },
] }))
if (cea !== 2001) {
  console.error(`CER refused: ${cea}`)
  process.exit(1)
}

const latencies: number[] = []
const results = new Map<string, number>()
let done = 0
let stopAt = Date.now() + (N('warmup') + N('duration')) * 1000
let measuring = N('warmup') <= 0
const rgs = Array.from({ length: N('rgs') }, (_, i) => i + 1)
const rate = N('rate')

const pacer = new Pacer(rate)

function ccrAvps(sessionId: string, msisdn: string, type: number, number: number, used: boolean, request: boolean): AvpInput[] {
  const avps: AvpInput[] = [
    { name: 'Session-Id', value: sessionId }, { name: 'Origin-Host', value: ORIGIN }, { name: 'Origin-Realm', value: 'test' },
    { name: 'Destination-Realm', value: 'localdomain' }, { name: 'Auth-Application-Id', value: 4 },
    { name: 'Service-Context-Id', value: a.context as string }, { name: 'CC-Request-Type', value: type }, { name: 'CC-Request-Number', value: number },
    { name: 'Subscription-Id', value: [{ name: 'Subscription-Id-Type', value: 0 }, { name: 'Subscription-Id-Data', value: msisdn }] },
    { name: 'Multiple-Services-Indicator', value: 1 },
  ]
  for (const rg of rgs) {
    const kids: AvpInput[] = [{ name: 'Rating-Group', value: rg }]
    if (request) kids.push({ name: 'Requested-Service-Unit', value: [] })
    if (used) {
      const usu: AvpInput[] = a.units === 'time' ? [{ name: 'CC-Time', value: 30 }] : [{ name: 'CC-Input-Octets', value: 400_000n }, { name: 'CC-Output-Octets', value: 600_000n }]
      kids.push({ name: 'Used-Service-Unit', value: usu })
    }
    avps.push({ name: 'Multiple-Services-Credit-Control', value: kids })
  }
  return avps
}

/** A CCR with zero header ids (sendBytes writes them). */
function encodeCcr(avps: AvpInput[]): Buffer {
  return encode({ flags: { request: true, proxiable: true }, commandCode: 272, applicationId: 4, hopByHop: 0, endToEnd: 0, avps })
}

/** Offset of the value of the first top-level AVP `code` in an encoded message (-1: none). */
function avpValueOffset(msg: Buffer, code: number): number {
  for (let at = 20; at + 8 <= msg.length; ) {
    const len = msg.readUIntBE(at + 5, 3)
    if (len < 8) return -1 // malformed: never loop on it
    const vendor = (msg[at + 4] & 0x80) !== 0
    if (msg.readUInt32BE(at) === code) return at + (vendor ? 12 : 8)
    at += (len + 3) & ~3
  }
  return -1
}

/**
 * One session's requests, encoded once: building and encoding every AVP of every CCR cost the
 * generator about a third of its CPU at 8,000 CCR/s, and garbage, whose GC pauses count as the
 * server's latency. A CCR-U differs from the session's previous one only in CC-Request-Number and the header's
 * ids, which are written into a copy. The first template is checked against the codec's bytes.
 */
class SessionTemplate {
  private readonly update: Buffer
  private readonly updateNumberAt: number
  constructor(private readonly sessionId: string, private readonly msisdn: string) {
    this.update = encodeCcr(ccrAvps(sessionId, msisdn, 2, 1, true, true))
    this.updateNumberAt = avpValueOffset(this.update, 415)
  }

  initial(): Buffer {
    return encodeCcr(ccrAvps(this.sessionId, this.msisdn, 1, 0, false, true))
  }

  updateNumber(n: number): Buffer {
    const b = Buffer.from(this.update)
    b.writeUInt32BE(n, this.updateNumberAt)
    return b
  }

  terminate(n: number): Buffer {
    return encodeCcr(ccrAvps(this.sessionId, this.msisdn, 3, n, true, false))
  }
}
let templateChecked = false

async function ccr(type: number, message: Buffer): Promise<void> {
  await pacer.take()
  const t0 = process.hrtime.bigint()
  const rc = await sendBytes(message)
  if (!measuring) return
  latencies.push(Number(process.hrtime.bigint() - t0) / 1e6)
  const key = `${['', 'I', 'U', 'T'][type]}:${rc}`
  results.set(key, (results.get(key) ?? 0) + 1)
  done++
}

let sessionSeq = 0
async function worker(w: number): Promise<void> {
  while (Date.now() < stopAt) {
    const sub = (w + sessionSeq * 7) % N('subscribers')
    const msisdn = `${a['msisdn-prefix']}${String(sub).padStart(N('msisdn-width'), '0')}`
    const sid = `${ORIGIN};${Date.now()};${sessionSeq++}`
    const t = new SessionTemplate(sid, msisdn)
    if (!templateChecked) {
      templateChecked = true
      const viaCodec = encodeCcr(ccrAvps(sid, msisdn, 2, 3, true, true))
      if (!viaCodec.equals(t.updateNumber(3))) throw new Error('load-diameter: the CCR-U template differs from the codec\'s message')
    }
    await ccr(1, t.initial())
    for (let u = 1; u <= N('updates') && Date.now() < stopAt; u++) await ccr(2, t.updateNumber(u))
    await ccr(3, t.terminate(N('updates') + 1))
  }
}

let started = Date.now()
if (!measuring) {
  setTimeout(() => {
    measuring = true
    started = Date.now()
  }, N('warmup') * 1000)
}
let lastDone = 0
const progress = setInterval(() => {
  if (!a.quiet) process.stderr.write(`\r${((Date.now() - started) / 1000).toFixed(0)} s  ${done} CCRs  ${done - lastDone}/s  in flight ${pending.size}   `)
  lastDone = done
}, 1000)
await Promise.all(Array.from({ length: N('concurrency') }, (_, w) => worker(w)))
clearInterval(progress)
const elapsed = (Date.now() - started) / 1000
latencies.sort((x, y) => x - y)
const pct = (p: number): number => latencies[Math.min(latencies.length - 1, Math.floor((latencies.length * p) / 100))] ?? 0
const summary = { ccrs: done, seconds: elapsed, perSec: Math.round(done / elapsed), p50: pct(50), p90: pct(90), p99: pct(99), max: latencies[latencies.length - 1] ?? 0, results: Object.fromEntries(results) }
if (!a.quiet) process.stderr.write('\n')
if (a.json) console.log(JSON.stringify(summary))
else console.log(`${summary.ccrs} CCRs in ${elapsed.toFixed(1)} s = ${summary.perSec}/s; p50 ${summary.p50.toFixed(2)} ms, p90 ${summary.p90.toFixed(2)} ms, p99 ${summary.p99.toFixed(2)} ms; results ${JSON.stringify(summary.results)}`)
socket.end()
stopAt = 0
process.exit(0)
