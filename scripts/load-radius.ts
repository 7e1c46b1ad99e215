// RADIUS load generator, a BNAS in a box: per session Access-Request (PAP) → Accounting Start →
// Interim-Update × n → Stop, many sessions at once from one UDP socket, with concurrency or rate
// control, a progress line each second and percentiles at the end (--json for npm run bench).
//
//   tsx scripts/load-radius.ts --auth-port 1812 --acct-port 1813 --secret testing123 \
//       --user-prefix user --subscribers 64 --password pw --concurrency 64 --duration 10 [--rate N] [--interims 5]
import dgram from 'node:dgram'
import { parseArgs } from 'node:util'
import { Pacer } from './pacer.js'
import { computeRequestAuthenticator } from '../src/radius/authenticator.js'
import { encode, decode, codeName, RadiusCode, type RadiusAttributeInput } from '../src/radius/codec.js'

const { values: a } = parseArgs({
  options: {
    host: { type: 'string', default: '127.0.0.1' },
    'auth-port': { type: 'string', default: '1812' },
    'acct-port': { type: 'string', default: '1813' },
    secret: { type: 'string', default: 'testing123' },
    'user-prefix': { type: 'string', default: 'user' },
    password: { type: 'string', default: 'pw' },
    subscribers: { type: 'string', default: '64' },
    concurrency: { type: 'string', default: '64' },
    rate: { type: 'string', default: '0' },
    duration: { type: 'string', default: '10' },
    /** seconds of the same load before anything is counted or timed (steady state only) */
    warmup: { type: 'string', default: '1' },
    interims: { type: 'string', default: '5' },
    json: { type: 'boolean', default: false },
    quiet: { type: 'boolean', default: false },
  },
})
const N = (k: keyof typeof a): number => Number(a[k])
const secret = a.secret as string

// One connected socket per server port: a connected UDP socket sends without the address lookup Node
// makes for every unconnected send, and without a route lookup in the kernel (the generator shares
// the box with the server it measures, so its own CPU per request counts).
async function connected(port: number): Promise<dgram.Socket> {
  const s = dgram.createSocket('udp4')
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', r))
  await new Promise<void>((r) => s.connect(port, a.host as string, r))
  // A connected socket reports ICMP port-unreachable as an error: the request is then lost and
  // retransmitted like any other.
  s.on('error', () => undefined)
  s.on('message', (m) => onReply(s, m))
  return s
}
// The Identifier is one byte: each of 256 ids is a slot, shared by both sockets (an id is in use on
// one of them at a time); a request waits for a free slot.
interface Pending {
  resolve: (m: Buffer | undefined) => void
  buf: Buffer
  sock: dgram.Socket
  /** performance.now() after which the request is sent again (or given up after the third send) */
  due: number
  sends: number
}
const pending: Array<Pending | undefined> = new Array(256).fill(undefined)
function onReply(sock: dgram.Socket, m: Buffer): void {
  const p = pending[m[1]]
  if (p && p.sock === sock) {
    pending[m[1]] = undefined
    p.resolve(m)
  }
}
const RETRANSMIT_MS = 2000
const ID_REST_MS = 10_000
// One timer for every retransmission (a NAS retransmits after ~2 s, up to 3 sends), instead of a
// timer per request.
const sweeper = setInterval(() => {
  const now = performance.now()
  for (let id = 0; id < 256; id++) {
    const p = pending[id]
    if (!p || p.due > now) continue
    if (p.sends >= 3) {
      pending[id] = undefined
      p.resolve(undefined)
    } else {
      p.sends++
      p.due = now + RETRANSMIT_MS
      p.sock.send(p.buf)
    }
  }
}, 100)
const authSock = await connected(Number(a['auth-port']))
const acctSock = await connected(Number(a['acct-port']))
const freeIds: number[] = Array.from({ length: 256 }, (_, i) => i)
const idWaiters: Array<(id: number) => void> = []
const giveId = (id: number): void => {
  const w = idWaiters.shift()
  if (w) w(id)
  else freeIds.push(id)
}

const latencies: number[] = []
const interimLat: number[] = []
const results = new Map<string, number>()
let done = 0
const rate = N('rate')
const pacer = new Pacer(rate)

/**
 * An Interim-Update of one session: its constant attributes encoded once, then Acct-Input-Octets,
 * Acct-Output-Octets and Acct-Session-Time written in place and the Request Authenticator computed
 * (the codec encoding every attribute of every packet was a third of this generator's CPU, taken
 * from the server under test on a 2-core box). The first packet is checked against the codec's.
 */
class InterimTemplate {
  private readonly buf: Buffer
  constructor(base: RadiusAttributeInput[]) {
    const head = encode({ code: 'Accounting-Request', identifier: 0, attributes: [...base, ['Acct-Status-Type', 'Interim-Update']] }, { secret })
    this.buf = Buffer.alloc(head.length + 18)
    head.copy(this.buf)
    this.buf.writeUInt16BE(this.buf.length, 2)
    // Acct-Input-Octets (42), Acct-Output-Octets (43), Acct-Session-Time (46): integers, 6 octets each.
    for (const [i, type] of [42, 43, 46].entries()) this.buf.writeUInt16BE((type << 8) | 6, head.length + i * 6)
  }

  packet(id: number, input: number, output: number, time: number): Buffer {
    const b = Buffer.from(this.buf)
    b[1] = id
    const end = b.length
    // 32-bit counters wrap past 4 GiB, as on a NAS without Gigawords.
    b.writeUInt32BE(input % 2 ** 32, end - 16)
    b.writeUInt32BE(output % 2 ** 32, end - 10)
    b.writeUInt32BE(time, end - 4)
    computeRequestAuthenticator(b, secret).copy(b, 4)
    return b
  }
}
let templateChecked = false

/** Sends one request, retransmitting after 2 s like a NAS (up to 3 sends); returns the reply or undefined. */
async function send(code: 'Access-Request' | 'Accounting-Request', attributes: RadiusAttributeInput[] | ((id: number) => Buffer), kind: string): Promise<Buffer | undefined> {
  if (rate > 0) await pacer.take()
  const id = freeIds.length > 0 ? freeIds.pop()! : await new Promise<number>((r) => idWaiters.push(r))
  const buf = typeof attributes === 'function' ? attributes(id) : encode({ code, identifier: id, attributes }, { secret })
  const sock = code === 'Access-Request' ? authSock : acctSock
  const t0 = performance.now()
  let sent: Pending | undefined
  const reply = await new Promise<Buffer | undefined>((resolve) => {
    sent = { resolve, buf, sock, due: t0 + RETRANSMIT_MS, sends: 1 }
    pending[id] = sent
    sock.send(buf)
  })
  // A request sent more than once may still get a second (late) answer: its id rests before it is
  // used again, so that answer cannot pass for the next request's (a NAS checks the Response
  // Authenticator instead).
  if (reply !== undefined && sent!.sends === 1) giveId(id)
  else setTimeout(() => giveId(id), ID_REST_MS)
  if (!measuring) return reply
  const ms = performance.now() - t0
  latencies.push(ms)
  if (kind === 'Interim-Update') interimLat.push(ms)
  const outcome = reply ? codeName(reply[0]) : 'timeout'
  const key = `${kind}:${outcome}`
  results.set(key, (results.get(key) ?? 0) + 1)
  done++
  return reply
}

let stopAt = Date.now() + (N('warmup') + N('duration')) * 1000
let measuring = N('warmup') <= 0
let seq = 0
async function worker(w: number): Promise<void> {
  while (Date.now() < stopAt) {
    const user = `${a['user-prefix']}${(w + seq * 7) % N('subscribers')}`
    const sid = `lg${process.pid}-${seq++}`
    const nas: RadiusAttributeInput[] = [['NAS-Identifier', 'loadgen-nas'], ['NAS-Port', w]]
    const accept = await send('Access-Request', [['User-Name', user], ['User-Password', a.password as string], ...nas], 'Access-Request')
    if (!accept || decode(accept).code !== RadiusCode.AccessAccept) continue
    const cls = decode(accept).attributes.find((x) => x.name === 'Class')?.value
    const base: RadiusAttributeInput[] = [['User-Name', user], ['Acct-Session-Id', sid], ...nas, ...(cls ? ([['Class', cls]] as RadiusAttributeInput[]) : [])]
    await send('Accounting-Request', [...base, ['Acct-Status-Type', 'Start']], 'Start')
    const template = new InterimTemplate(base)
    let octets = 0
    for (let i = 1; i <= N('interims') && Date.now() < stopAt; i++) {
      octets += 1_000_000
      const [half, time] = [octets / 2, i * 60]
      if (!templateChecked) {
        templateChecked = true
        const viaCodec = encode({ code: 'Accounting-Request', identifier: 7, attributes: [...base, ['Acct-Status-Type', 'Interim-Update'], ['Acct-Input-Octets', half], ['Acct-Output-Octets', half], ['Acct-Session-Time', time]] }, { secret })
        if (!viaCodec.equals(template.packet(7, half, half, time))) throw new Error('load-radius: the Interim-Update template differs from the codec\'s packet')
      }
      await send('Accounting-Request', (id) => template.packet(id, half, half, time), 'Interim-Update')
    }
    await send('Accounting-Request', [...base, ['Acct-Status-Type', 'Stop'], ['Acct-Input-Octets', octets / 2], ['Acct-Output-Octets', octets / 2], ['Acct-Session-Time', 400]], 'Stop')
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
  if (!a.quiet) process.stderr.write(`\r${((Date.now() - started) / 1000).toFixed(0)} s  ${done} requests  ${done - lastDone}/s   `)
  lastDone = done
}, 1000)
await Promise.all(Array.from({ length: N('concurrency') }, (_, w) => worker(w)))
clearInterval(progress)
const elapsed = (Date.now() - started) / 1000
const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((x, y) => x - y)
  return s[Math.min(s.length - 1, Math.floor((s.length * p) / 100))] ?? 0
}
const summary = {
  requests: done, seconds: elapsed, perSec: Math.round(done / elapsed), interimsPerSec: Math.round(interimLat.length / elapsed),
  p50: pct(latencies, 50), p99: pct(latencies, 99), interimP99: pct(interimLat, 99), results: Object.fromEntries(results),
}
if (!a.quiet) process.stderr.write('\n')
if (a.json) console.log(JSON.stringify(summary))
else console.log(`${summary.requests} requests in ${elapsed.toFixed(1)} s = ${summary.perSec}/s (${summary.interimsPerSec} interims/s); p50 ${summary.p50.toFixed(2)} ms, p99 ${summary.p99.toFixed(2)} ms; ${JSON.stringify(summary.results)}`)
stopAt = 0
clearInterval(sweeper)
authSock.close()
acctSock.close()
process.exit(0)
