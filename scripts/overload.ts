// Overload measurement (issue 9, criterion 6): its own OCS (scripts/ocs-node.ts in a child process,
// embedded Redis, AOF everysec) with small in-flight bounds, driven from this process.
//
//   tsx scripts/overload.ts [--protocol diameter|radius|all] [--bound 16] [--radius-bound 16]
//                           [--radius-queue-wait MS (radius.maxQueueWaitMs; default: the OCS's)]
//                           [--seconds 10] [--factor 3] [--burst 100000] [--json]
//
// Diameter (data sessions: CCR-I, 5 × CCR-U with 1 MB used, CCR-T; one MSCC; 64 subscribers):
//   1. capacity: closed loop with as many requests in flight as the bound (never refused);
//   2. unloaded p99: open loop (paced arrivals, independent of answers) at half the capacity;
//   3. overload: open loop at factor × capacity: the share answered 3004 DIAMETER_TOO_BUSY and how
//      fast, the p99 of the accepted ones (target: within 2 × the unloaded p99), timeouts;
//   4. memory: OCS RSS and heapUsed before and after the overload and after a burst of --burst CCRs
//      written at once, then a valid CCR-I must still get 2001.
// RADIUS (Interim-Updates of 256 started sessions; bound = RadiusServer maxInFlight, 16 like
// Diameter's since the seventh session, 32 before: the bound sets the latency of a full server):
//   capacity (closed loop, as many in flight as the bound), unloaded p99 (open loop at half), then a
//   flood at factor × capacity without retransmissions: replies, p99 of the answered, datagrams the
//   server dropped and counted (ocs_radius_dropped_total{reason="overload" or "stale"}), and those the kernel
//   dropped before the server read them (/proc/net/udp); then a valid Access-Request must be answered.
import dgram from 'node:dgram'
import { readFileSync } from 'node:fs'
import { connect, type Socket } from 'node:net'
import { parseArgs } from 'node:util'
import { avpNumber, decode, encode, findAvp, type AvpInput } from '../src/diameter/codec.js'
import { DiameterFramer } from '../src/diameter/framer.js'
import { computeRequestAuthenticator } from '../src/radius/authenticator.js'
import { encode as encodeRadius } from '../src/radius/codec.js'
import { cerBytes, diameterProbe, radiusProbe } from './fuzz-core.js'
import { startOwnOcs, type OwnOcs } from './own-ocs.js'
import { tickCork } from '../src/lib/tick-cork.js'

const { values: a } = parseArgs({
  options: {
    protocol: { type: 'string', default: 'all' },
    bound: { type: 'string', default: '16' },
    'radius-bound': { type: 'string', default: '16' },
    'radius-queue-wait': { type: 'string' },
    seconds: { type: 'string', default: '10' },
    factor: { type: 'string', default: '3' },
    burst: { type: 'string', default: '100000' },
    json: { type: 'boolean', default: false },
  },
})
const BOUND = Number(a.bound)
const RBOUND = Number(a['radius-bound'])
const SECONDS = Number(a.seconds)
const FACTOR = Number(a.factor)
const BURST = Number(a.burst)
const SUBSCRIBERS = 64
const MB = 1048576
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))
const pct = (xs: number[], p: number): number => {
  if (xs.length === 0) return 0
  const s = Float64Array.from(xs).sort()
  return s[Math.min(s.length - 1, Math.floor((s.length * p) / 100))]
}
const f2 = (x: number): string => x.toFixed(2)
const mib = (b: number): string => `${(b / MB).toFixed(0)} MiB`

// =============================================================================================
// Diameter

/** A CCR template whose Session-Id, MSISDN, CC-Request-Number, hop-by-hop and end-to-end are patched per request. */
class CcrTemplate {
  private readonly buf: Buffer
  private readonly sidAt: number
  private readonly msisdnAt: number
  private readonly numberAt: number
  static readonly SID = 'ovl;0000000000;0000000000'
  static readonly MSISDN = '4679000000'

  constructor(type: number, rsu: boolean, usu: boolean) {
    const kids: AvpInput[] = [{ name: 'Rating-Group', value: 1 }]
    if (rsu) kids.push({ name: 'Requested-Service-Unit', value: [] })
    if (usu) kids.push({ name: 'Used-Service-Unit', value: [{ name: 'CC-Input-Octets', value: 400_000n }, { name: 'CC-Output-Octets', value: 600_000n }] })
    this.buf = encode({
      flags: { request: true, proxiable: true },
      commandCode: 272,
      applicationId: 4,
      hopByHop: 0,
      endToEnd: 0,
      avps: [
        { name: 'Session-Id', value: CcrTemplate.SID },
        { name: 'Origin-Host', value: 'overload.test' },
        { name: 'Origin-Realm', value: 'test' },
        { name: 'Destination-Realm', value: 'localdomain' },
        { name: 'Auth-Application-Id', value: 4 },
        { name: 'Service-Context-Id', value: '32251@3gpp.org' },
        { name: 'CC-Request-Type', value: type },
        { name: 'CC-Request-Number', value: 0x5a5a5a5a },
        { name: 'Subscription-Id', value: [{ name: 'Subscription-Id-Type', value: 0 }, { name: 'Subscription-Id-Data', value: CcrTemplate.MSISDN }] },
        { name: 'Multiple-Services-Indicator', value: 1 },
        { name: 'Multiple-Services-Credit-Control', value: kids },
      ],
    })
    this.sidAt = this.buf.indexOf(CcrTemplate.SID)
    this.msisdnAt = this.buf.indexOf(CcrTemplate.MSISDN)
    this.numberAt = this.buf.indexOf(Buffer.from([0x5a, 0x5a, 0x5a, 0x5a]))
  }

  make(sid: string, msisdn: string, number: number, hbh: number): Buffer {
    const b = Buffer.from(this.buf)
    b.write(sid, this.sidAt, 'latin1')
    b.write(msisdn, this.msisdnAt, 'latin1')
    b.writeUInt32BE(number, this.numberAt)
    b.writeUInt32BE(hbh, 12)
    b.writeUInt32BE(hbh, 16)
    return b
  }
}

/** The top-level Result-Code of an answer, from its bytes (0 when absent). */
function rawResultCode(f: Buffer): number {
  for (let off = 20; off + 12 <= f.length; ) {
    const len = f.readUIntBE(off + 5, 3)
    if (len < 8) return 0
    if (f.readUInt32BE(off) === 268 && (f[off + 4] & 0x80) === 0) return f.readUInt32BE(off + 8)
    off += (len + 3) & ~3
  }
  return 0
}

const UPDATES = 5
const TEMPLATES = { I: new CcrTemplate(1, true, false), U: new CcrTemplate(2, true, true), T: new CcrTemplate(3, false, true) }

interface Slot {
  sid: string
  msisdn: string
  step: number
  busy: boolean
}

interface PhaseStats {
  sent: number
  answered: number
  accepted: number[]
  busy: number[]
  codes: Map<number, number>
}

const newPhase = (): PhaseStats => ({ sent: 0, answered: 0, accepted: [], busy: [], codes: new Map() })

class DiameterLoad {
  private readonly socket: Socket
  private readonly framer = new DiameterFramer({ maxMessageSize: 0xffffff })
  private readonly pending = new Map<number, { t0: number; slot: Slot; phase: PhaseStats }>()
  private hbh = 10
  private sessionSeq = 0
  private readonly cork: () => void
  readonly slots: Slot[] = []
  private next = 0
  private waiters = new Map<Slot, () => void>()

  private constructor(socket: Socket) {
    this.socket = socket
    this.cork = tickCork(socket)
    socket.setNoDelay(true)
    socket.on('error', () => undefined)
  }

  static async open(port: number): Promise<DiameterLoad> {
    const socket = connect({ host: '127.0.0.1', port })
    await new Promise<void>((r, j) => {
      socket.once('connect', r)
      socket.once('error', j)
    })
    const load = new DiameterLoad(socket)
    const cea = new Promise<void>((resolve, reject) => {
      socket.on('data', (chunk: Buffer) => {
        for (const f of load.framer.push(chunk)) {
          // CCAs: the Result-Code read straight from the bytes (a full decode of 20,000 answers a
          // second would take the CPU the OCS needs on a 2-core box).
          if (f.readUIntBE(5, 3) === 272 && (f[4] & 0x80) === 0) {
            load.onAnswer(f.readUInt32BE(12), rawResultCode(f))
            continue
          }
          const m = decode(f)
          if (m.commandCode === 257) {
            if (avpNumber(findAvp(m.avps, 'Result-Code')) === 2001) resolve()
            else reject(new Error('CER refused'))
            continue
          }
          if (m.flags.request) {
            // The server's DWR: answer it.
            socket.write(encode({ flags: { request: false }, commandCode: m.commandCode, applicationId: m.applicationId, hopByHop: m.hopByHop, endToEnd: m.endToEnd, avps: [{ name: 'Result-Code', value: 2001 }, { name: 'Origin-Host', value: 'overload.test' }, { name: 'Origin-Realm', value: 'test' }] }))
            continue
          }
          load.onAnswer(m.hopByHop, avpNumber(findAvp(m.avps, 'Result-Code')) ?? 0)
        }
      })
    })
    socket.write(cerBytes('overload.test'))
    await cea
    return load
  }

  get inFlight(): number {
    return this.pending.size
  }

  newSlot(): Slot {
    const s: Slot = { sid: '', msisdn: '', step: 0, busy: false }
    this.renew(s)
    this.slots.push(s)
    return s
  }

  private renew(s: Slot): void {
    const n = this.sessionSeq++
    s.sid = `ovl;${String(process.pid % 1e10).padStart(10, '0')};${String(n).padStart(10, '0')}`
    s.msisdn = `4679${String(n % SUBSCRIBERS).padStart(6, '0')}`
    s.step = 0
  }

  send(s: Slot, phase: PhaseStats): void {
    const hbh = (this.hbh = (this.hbh + 1) >>> 0)
    const t = s.step === 0 ? TEMPLATES.I : s.step <= UPDATES ? TEMPLATES.U : TEMPLATES.T
    s.busy = true
    this.pending.set(hbh, { t0: performance.now(), slot: s, phase })
    phase.sent++
    this.cork()
    this.socket.write(t.make(s.sid, s.msisdn, s.step, hbh))
  }

  private onAnswer(hbh: number, rc: number): void {
    const p = this.pending.get(hbh)
    if (!p) return
    this.pending.delete(hbh)
    const ms = performance.now() - p.t0
    const { slot, phase } = p
    phase.answered++
    phase.codes.set(rc, (phase.codes.get(rc) ?? 0) + 1)
    if (rc === 3004) phase.busy.push(ms)
    else phase.accepted.push(ms)
    slot.busy = false
    if (rc === 2001) {
      if (++slot.step > UPDATES + 1) this.renew(slot)
    } else if (rc !== 3004) this.renew(slot) // refused: the request is tried again at the slot's next turn
    const w = this.waiters.get(slot)
    if (w) {
      this.waiters.delete(slot)
      w()
    }
  }

  /** Closed loop: `concurrency` sessions, each sends its next request when the previous is answered. */
  async closed(concurrency: number, seconds: number, phase: PhaseStats): Promise<void> {
    const end = Date.now() + seconds * 1000
    const mine = Array.from({ length: concurrency }, () => this.newSlot())
    await Promise.all(
      mine.map(async (s) => {
        while (Date.now() < end) {
          const done = new Promise<void>((r) => this.waiters.set(s, r))
          this.send(s, phase)
          await done
        }
      }),
    )
    this.slots.splice(0)
  }

  /** Open loop: `rate` requests per second whatever the answers; a session whose request is out waits its turn. */
  async open(rate: number, seconds: number, phase: PhaseStats, onTick?: () => void): Promise<void> {
    const start = performance.now()
    const end = start + seconds * 1000
    let sent = 0
    while (performance.now() < end) {
      const due = Math.floor(((performance.now() - start) * rate) / 1000) - sent
      for (let i = 0; i < due; i++) {
        let s: Slot | undefined
        for (let k = 0; k < 32 && this.slots.length > 0; k++) {
          const c = this.slots[this.next++ % this.slots.length]
          if (!c.busy) {
            s = c
            break
          }
        }
        this.send(s ?? this.newSlot(), phase)
        sent++
      }
      onTick?.()
      await sleep(1)
    }
  }

  /** Everything written at once (pipelined), then every answer awaited. */
  async burst(n: number, phase: PhaseStats): Promise<void> {
    for (let i = 0; i < n; i++) {
      this.send(this.newSlot(), phase)
      if (i % 1000 === 999) await new Promise((r) => setImmediate(r))
    }
  }

  /** Wait for the answers in flight; what is still out after `ms` counts as timed out. */
  async drain(ms = 10_000): Promise<number> {
    const end = Date.now() + ms
    while (this.pending.size > 0 && Date.now() < end) await sleep(10)
    const left = this.pending.size
    this.pending.clear()
    for (const s of this.slots) s.busy = false
    return left
  }

  close(): void {
    this.socket.destroy()
  }
}

interface DiameterReport {
  bound: number
  idle: { p50: number; p99: number }
  capacity: { perSec: number; p50: number; p99: number }
  unloaded: { rate: number; perSec: number; p50: number; p99: number; busyShare: number }
  overload: {
    offeredPerSec: number
    acceptedPerSec: number
    busyShare: number
    acceptedP50: number
    acceptedP99: number
    busyP50: number
    busyP99: number
    timeouts: number
    p99Ratio: number
    codes: Record<string, number>
  }
  memory: {
    rssBefore: number
    heapBefore: number
    rssAfterOverload: number
    heapAfterOverload: number
    rssPeak: number
    burst: number
    burstBusyShare: number
    burstTimeouts: number
    rssAfterBurst: number
    heapAfterBurst: number
  }
  probe: number | undefined
}

async function diameter(ocs: OwnOcs): Promise<DiameterReport> {
  const load = await DiameterLoad.open(ocs.diameterPort)
  console.log(`[diameter] in-flight bound ${BOUND} (maxInFlight and maxInFlightPerPeer); warm-up 3 s`)
  await load.closed(BOUND, 3, newPhase())
  await load.drain()

  const idl = newPhase()
  await load.closed(1, Math.min(5, SECONDS), idl)
  await load.drain()
  const idle = { p50: pct(idl.accepted, 50), p99: pct(idl.accepted, 99) }
  console.log(`[diameter] idle (one request at a time): p50 ${f2(idle.p50)} ms, p99 ${f2(idle.p99)} ms`)

  const cap = newPhase()
  await load.closed(BOUND, SECONDS, cap)
  await load.drain()
  const capacity = { perSec: Math.round(cap.answered / SECONDS), p50: pct(cap.accepted, 50), p99: pct(cap.accepted, 99) }
  console.log(`[diameter] capacity (closed loop, ${BOUND} in flight): ${capacity.perSec} CCR/s, p50 ${f2(capacity.p50)} ms, p99 ${f2(capacity.p99)} ms, answers ${JSON.stringify(Object.fromEntries(cap.codes))}`)

  const un = newPhase()
  const unRate = Math.round(capacity.perSec / 2)
  await load.open(unRate, SECONDS, un)
  await load.drain()
  const unloaded = { rate: unRate, perSec: Math.round(un.answered / SECONDS), p50: pct(un.accepted, 50), p99: pct(un.accepted, 99), busyShare: un.busy.length / Math.max(1, un.answered) }
  console.log(`[diameter] unloaded (open loop at ${unRate}/s, half the capacity): p50 ${f2(unloaded.p50)} ms, p99 ${f2(unloaded.p99)} ms, 3004 share ${(unloaded.busyShare * 100).toFixed(2)} %`)

  const rssBefore = ocs.rss()
  const heapBefore = await ocs.metric('ocs_nodejs_heap_size_used_bytes')
  let rssPeak = rssBefore
  let lastSample = 0
  const ov = newPhase()
  const rate = Math.round(capacity.perSec * FACTOR)
  const t0 = Date.now()
  await load.open(rate, SECONDS, ov, () => {
    if (Date.now() - lastSample > 200) {
      lastSample = Date.now()
      rssPeak = Math.max(rssPeak, ocs.rss())
    }
  })
  const offeredSeconds = (Date.now() - t0) / 1000
  const timeouts = await load.drain()
  const rssAfterOverload = ocs.rss()
  const heapAfterOverload = await ocs.metric('ocs_nodejs_heap_size_used_bytes')
  const overload = {
    offeredPerSec: Math.round(ov.sent / offeredSeconds),
    acceptedPerSec: Math.round(ov.accepted.length / offeredSeconds),
    busyShare: ov.busy.length / Math.max(1, ov.answered),
    acceptedP50: pct(ov.accepted, 50),
    acceptedP99: pct(ov.accepted, 99),
    busyP50: pct(ov.busy, 50),
    busyP99: pct(ov.busy, 99),
    timeouts,
    p99Ratio: pct(ov.accepted, 99) / Math.max(0.001, unloaded.p99),
    codes: Object.fromEntries(ov.codes),
  }
  console.log(
    `[diameter] overload (open loop at ${rate}/s = ${FACTOR} × capacity; offered ${overload.offeredPerSec}/s): accepted ${overload.acceptedPerSec}/s p50 ${f2(overload.acceptedP50)} ms p99 ${f2(overload.acceptedP99)} ms ` +
      `(${f2(overload.p99Ratio)} × the unloaded p99); 3004 for ${(overload.busyShare * 100).toFixed(1)} % (p50 ${f2(overload.busyP50)} ms, p99 ${f2(overload.busyP99)} ms); ${timeouts} timeouts; answers ${JSON.stringify(overload.codes)}`,
  )

  const b = newPhase()
  await load.burst(BURST, b)
  const burstTimeouts = await load.drain(60_000)
  await sleep(1000)
  const memory = {
    rssBefore,
    heapBefore,
    rssAfterOverload,
    heapAfterOverload,
    rssPeak,
    burst: BURST,
    burstBusyShare: b.busy.length / Math.max(1, b.answered),
    burstTimeouts,
    rssAfterBurst: ocs.rss(),
    heapAfterBurst: await ocs.metric('ocs_nodejs_heap_size_used_bytes'),
  }
  console.log(
    `[diameter] memory: RSS ${mib(rssBefore)} before the overload, ${mib(rssAfterOverload)} after (peak ${mib(rssPeak)}), ${mib(memory.rssAfterBurst)} after a burst of ${BURST} CCR-Is at once ` +
      `(${(memory.burstBusyShare * 100).toFixed(1)} % 3004, ${burstTimeouts} timeouts); heapUsed ${mib(heapBefore)} → ${mib(heapAfterOverload)} → ${mib(memory.heapAfterBurst)}`,
  )
  load.close()
  const probe = await diameterProbe('127.0.0.1', ocs.diameterPort, '4679000000', 'overload-probe.test')
  console.log(`[diameter] afterwards a valid CCR-I: ${probe ?? 'no answer'}`)
  return { bound: BOUND, idle, capacity, unloaded, overload, memory, probe }
}

// =============================================================================================
// RADIUS

interface RSession {
  user: string
  asid: string
  port: number
  octets: number
  seq: number
  template: Buffer
  octetsAt: number
  timeAt: number
  busy: boolean
}

class RadiusLoad {
  private readonly socks: dgram.Socket[] = []
  private readonly pending = new Map<number, { t0: number; s: RSession; phase: PhaseStats }>()
  private seq = 0
  private waiters = new Map<RSession, () => void>()
  readonly sessions: RSession[] = []
  late = 0

  constructor(
    private readonly authPort: number,
    private readonly acctPort: number,
    private readonly secret: string,
  ) {}

  async open(nsocks: number): Promise<void> {
    for (let k = 0; k < nsocks; k++) {
      const s = dgram.createSocket('udp4')
      await new Promise<void>((r) => s.bind(0, '127.0.0.1', r))
      s.setRecvBufferSize(4 * MB)
      s.on('message', (m) => this.onReply(k, m))
      this.socks.push(s)
    }
  }

  private onReply(k: number, m: Buffer): void {
    const key = k * 256 + m[1]
    const p = this.pending.get(key)
    if (!p) {
      this.late++
      return
    }
    this.pending.delete(key)
    p.phase.answered++
    p.phase.accepted.push(performance.now() - p.t0)
    p.phase.codes.set(m[0], (p.phase.codes.get(m[0]) ?? 0) + 1)
    p.s.busy = false
    const w = this.waiters.get(p.s)
    if (w) {
      this.waiters.delete(p.s)
      w()
    }
  }

  private slot(): { k: number; id: number; key: number } {
    const n = this.seq++
    const k = n % this.socks.length
    const id = Math.floor(n / this.socks.length) & 0xff
    return { k, id, key: k * 256 + id }
  }

  /** A request/reply with the usual NAS retransmission (3 tries, 1 s apart). */
  async ask(code: 'Access-Request' | 'Accounting-Request', attributes: Parameters<typeof encodeRadius>[0]['attributes']): Promise<Buffer | undefined> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const { k, id } = this.slot()
      const buf = encodeRadius({ code, identifier: id, attributes }, { secret: this.secret })
      const reply = await new Promise<Buffer | undefined>((resolve) => {
        const timer = setTimeout(() => {
          this.socks[k].off('message', on)
          resolve(undefined)
        }, 1000)
        const on = (m: Buffer): void => {
          if (m[1] !== id) return
          clearTimeout(timer)
          this.socks[k].off('message', on)
          resolve(m)
        }
        this.socks[k].on('message', on)
        this.socks[k].send(buf, code === 'Access-Request' ? this.authPort : this.acctPort, '127.0.0.1')
      })
      if (reply) return reply
    }
    return undefined
  }

  async start(n: number): Promise<void> {
    for (let i = 0; i < n; i++) {
      const user = `ovl${i % SUBSCRIBERS}`
      const asid = `ovl-${process.pid}-${i}`
      const nas: Parameters<typeof encodeRadius>[0]['attributes'] = [['NAS-Identifier', 'overload-nas'], ['NAS-Port', i]]
      const acc = await this.ask('Access-Request', [['User-Name', user], ['User-Password', 'ovlpw'], ...nas])
      if (acc?.[0] !== 2) throw new Error(`session ${i}: no Access-Accept`)
      const st = await this.ask('Accounting-Request', [['User-Name', user], ['Acct-Session-Id', asid], ...nas, ['Acct-Status-Type', 'Start']])
      if (st?.[0] !== 5) throw new Error(`session ${i}: Start not answered`)
      const template = encodeRadius(
        { code: 'Accounting-Request', identifier: 0, attributes: [['User-Name', user], ['Acct-Session-Id', asid], ...nas, ['Acct-Status-Type', 'Interim-Update'], ['Acct-Input-Octets', 0x5a5a5a5a], ['Acct-Session-Time', 0x5b5b5b5b]] },
        { secret: this.secret },
      )
      this.sessions.push({ user, asid, port: i, octets: 0, seq: 0, template, octetsAt: template.indexOf(Buffer.from([0x5a, 0x5a, 0x5a, 0x5a])), timeAt: template.indexOf(Buffer.from([0x5b, 0x5b, 0x5b, 0x5b])), busy: false })
    }
  }

  /** The session's next Interim-Update (the NAS's counters grow by 1 MB per report, sent or lost). */
  send(s: RSession, phase: PhaseStats): void {
    const { k, id, key } = this.slot()
    if (this.pending.has(key)) this.pending.get(key)!.s.busy = false // an old one never answered
    s.octets = (s.octets + 1_000_000) % 2 ** 32
    s.seq++
    const b = Buffer.from(s.template)
    b[1] = id
    b.writeUInt32BE(s.octets, s.octetsAt)
    b.writeUInt32BE(s.seq * 10, s.timeAt)
    b.fill(0, 4, 20)
    computeRequestAuthenticator(b, this.secret).copy(b, 4)
    s.busy = true
    this.pending.set(key, { t0: performance.now(), s, phase })
    phase.sent++
    this.socks[k].send(b, this.acctPort, '127.0.0.1')
  }

  async closed(concurrency: number, seconds: number, phase: PhaseStats): Promise<void> {
    const end = Date.now() + seconds * 1000
    await Promise.all(
      this.sessions.slice(0, concurrency).map(async (s) => {
        while (Date.now() < end) {
          const done = new Promise<void>((r) => this.waiters.set(s, r))
          this.send(s, phase)
          await Promise.race([done, sleep(1000)])
        }
      }),
    )
  }

  async openLoop(rate: number, seconds: number, phase: PhaseStats): Promise<void> {
    const start = performance.now()
    const end = start + seconds * 1000
    let sent = 0
    let next = 0
    while (performance.now() < end) {
      const due = Math.floor(((performance.now() - start) * rate) / 1000) - sent
      for (let i = 0; i < due; i++) {
        this.send(this.sessions[next++ % this.sessions.length], phase)
        sent++
      }
      await sleep(1)
    }
  }

  async drain(ms = 3000): Promise<number> {
    const end = Date.now() + ms
    while (this.pending.size > 0 && Date.now() < end) await sleep(10)
    const left = this.pending.size
    this.pending.clear()
    for (const s of this.sessions) s.busy = false
    return left
  }

  close(): void {
    for (const s of this.socks) s.close()
  }
}

/** Datagrams the kernel dropped on the OCS's RADIUS sockets (receive buffer full), from /proc/net/udp. */
function kernelDrops(ports: number[]): number {
  let sum = 0
  for (const file of ['/proc/net/udp', '/proc/net/udp6']) {
    let text = ''
    try {
      text = readFileSync(file, 'utf8')
    } catch {
      continue
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/)
      if (f.length < 13) continue
      const port = parseInt(f[1].split(':')[1], 16)
      if (ports.includes(port)) sum += Number(f[12])
    }
  }
  return sum
}

interface RadiusReport {
  bound: number
  idle: { p50: number; p99: number }
  capacity: { perSec: number; p50: number; p99: number }
  unloaded: { rate: number; p50: number; p99: number; lost: number; drops: { overload: number; stale: number } }
  flood: { rate: number; offeredPerSec: number; answeredPerSec: number; answeredShare: number; p50: number; p99: number; p99Ratio: number; overloadDrops: number; staleDrops: number; otherDrops: number; kernelDrops: number; unaccounted: number }
  rss: { before: number; after: number }
  probe: string | undefined
}

/** RADIUS datagrams the OCS dropped and counted so far: at the in-flight bound, as stale, in all. */
async function radiusDrops(ocs: OwnOcs): Promise<{ overload: number; stale: number; all: number }> {
  const name = 'ocs_radius_dropped_total'
  return { overload: await ocs.metric(name, { reason: 'overload' }), stale: await ocs.metric(name, { reason: 'stale' }), all: await ocs.metric(name) }
}

async function radius(ocs: OwnOcs): Promise<RadiusReport> {
  const load = new RadiusLoad(ocs.authPort, ocs.acctPort, 'testing123')
  await load.open(64)
  await load.start(256)
  console.log(`[radius] in-flight bound ${RBOUND} (RadiusServer maxInFlight); 256 sessions started; warm-up 3 s`)
  await load.closed(RBOUND, 3, newPhase())
  await load.drain()
  const idl = newPhase()
  await load.closed(1, Math.min(5, SECONDS), idl)
  await load.drain()
  const idle = { p50: pct(idl.accepted, 50), p99: pct(idl.accepted, 99) }
  console.log(`[radius] idle (one request at a time): p50 ${f2(idle.p50)} ms, p99 ${f2(idle.p99)} ms`)
  const cap = newPhase()
  await load.closed(RBOUND, SECONDS, cap)
  await load.drain()
  const capacity = { perSec: Math.round(cap.answered / SECONDS), p50: pct(cap.accepted, 50), p99: pct(cap.accepted, 99) }
  console.log(`[radius] capacity (closed loop, ${RBOUND} in flight): ${capacity.perSec} Interim-Update/s, p50 ${f2(capacity.p50)} ms, p99 ${f2(capacity.p99)} ms`)
  const un = newPhase()
  const unRate = Math.round(capacity.perSec / 2)
  const unBefore = await radiusDrops(ocs)
  await load.openLoop(unRate, SECONDS, un)
  const lost = await load.drain()
  const unAfter = await radiusDrops(ocs)
  const unDrops = { overload: unAfter.overload - unBefore.overload, stale: unAfter.stale - unBefore.stale }
  const unloaded = { rate: unRate, p50: pct(un.accepted, 50), p99: pct(un.accepted, 99), lost, drops: unDrops }
  console.log(
    `[radius] unloaded (open loop at ${unRate}/s): p50 ${f2(unloaded.p50)} ms, p99 ${f2(unloaded.p99)} ms, ${lost} unanswered ` +
      `(${unDrops.overload} dropped at the in-flight bound in bursts, ${unDrops.stale} stale while that lasted)`,
  )

  const ports = [ocs.authPort, ocs.acctPort]
  const before = await radiusDrops(ocs)
  const kernelBefore = kernelDrops(ports)
  const rssBefore = ocs.rss()
  const fl = newPhase()
  const rate = Math.round(capacity.perSec * FACTOR)
  const t0 = Date.now()
  await load.openLoop(rate, SECONDS, fl)
  const secs = (Date.now() - t0) / 1000
  await load.drain()
  await sleep(500)
  const after = await radiusDrops(ocs)
  const overloadDrops = after.overload - before.overload
  const staleDrops = after.stale - before.stale
  const otherDrops = after.all - before.all - overloadDrops - staleDrops
  const kDrops = kernelDrops(ports) - kernelBefore
  const flood = {
    rate,
    offeredPerSec: Math.round(fl.sent / secs),
    answeredPerSec: Math.round(fl.answered / secs),
    answeredShare: fl.answered / Math.max(1, fl.sent),
    p50: pct(fl.accepted, 50),
    p99: pct(fl.accepted, 99),
    p99Ratio: pct(fl.accepted, 99) / Math.max(0.001, unloaded.p99),
    overloadDrops,
    staleDrops,
    otherDrops,
    kernelDrops: kDrops,
    unaccounted: fl.sent - fl.answered - overloadDrops - staleDrops - otherDrops - kDrops,
  }
  const rss = { before: rssBefore, after: ocs.rss() }
  console.log(
    `[radius] flood (open loop at ${rate}/s = ${FACTOR} × capacity, offered ${flood.offeredPerSec}/s, no retransmissions): answered ${flood.answeredPerSec}/s (${(flood.answeredShare * 100).toFixed(1)} %), p50 ${f2(flood.p50)} ms, p99 ${f2(flood.p99)} ms ` +
      `(${f2(flood.p99Ratio)} × unloaded); dropped by the server and counted: ${overloadDrops} overload (in-flight bound) + ${staleDrops} stale (queued past radius.maxQueueWaitMs) + ${otherDrops} other; dropped by the kernel (socket buffer full): ${kDrops}; unaccounted ${flood.unaccounted}; RSS ${mib(rss.before)} → ${mib(rss.after)}`,
  )
  load.close()
  const probe = await radiusProbe('127.0.0.1', ocs.authPort, 'testing123', 'ovl0', 'ovlpw')
  console.log(`[radius] afterwards a valid Access-Request: ${probe ?? 'no reply'}`)
  return { bound: RBOUND, idle, capacity, unloaded, flood, rss, probe }
}

// =============================================================================================

const protocols = a.protocol === 'all' ? ['diameter', 'radius'] : [a.protocol as string]
const ocs = await startOwnOcs({ config: { diameter: { maxInFlight: BOUND, maxInFlightPerPeer: BOUND }, radius: { maxInFlight: RBOUND, ...(a['radius-queue-wait'] === undefined ? {} : { maxQueueWaitMs: Number(a['radius-queue-wait']) }) } } })
let code = 0
try {
  for (let i = 0; i < SUBSCRIBERS; i++) await ocs.subscriber({ balance: '1000000', msisdn: `4679${String(i).padStart(6, '0')}`, username: `ovl${i}`, password: 'ovlpw' })
  console.log(`overload: own OCS pid ${ocs.pid}, ${SUBSCRIBERS} subscribers; ${SECONDS} s per phase; load generator in this process; ${process.env.npm_config_user_agent ?? `node ${process.version}`}`)
  const report: { diameter?: DiameterReport; radius?: RadiusReport } = {}
  if (protocols.includes('diameter')) report.diameter = await diameter(ocs)
  if (protocols.includes('radius')) report.radius = await radius(ocs)
  const alive = ocs.alive()
  console.log(`OCS ${alive ? 'alive' : `exited ${JSON.stringify(ocs.exit)}`}; ${ocs.errorCount} error lines logged${ocs.errorCount ? `: ${[...ocs.errorKinds].map(([k, v]) => `${v} × ${k}`).join('; ')}` : ''}`)
  if (a.json) console.log(JSON.stringify(report))
  if (!alive || (report.diameter && report.diameter.probe !== 2001) || (report.radius && report.radius.probe === undefined)) code = 1
} catch (err) {
  console.error(`overload failed: ${(err as Error).stack}`)
  code = 2
} finally {
  await ocs.stop()
}
process.exit(code)
