// A small Diameter client for tests, built on our codec: connects over TCP, exchanges capabilities,
// sends requests and matches answers by hop-by-hop id, and answers what the server sends (DWR, DPR,
// RAR, ASR) unless told otherwise. Also CCR builders in the shapes real clients use.
import { connect, type Socket } from 'node:net'
import { once } from 'node:events'
import {
  answerHeader,
  avpNumber,
  childrenOf,
  decode,
  encode,
  findAvp,
  findAvpPath,
  findAvps,
  type Avp,
  type AvpInput,
  type DiameterMessage,
  type MessageInput,
} from '../../src/diameter/codec.js'
import { DiameterFramer } from '../../src/diameter/framer.js'
import { tickCork } from '../../src/lib/tick-cork.js'

export interface ClientOptions {
  port: number
  host?: string
  originHost?: string
  originRealm?: string
  /** Extra/replacement CER AVPs; default advertises Auth-Application-Id 4 + VSAI {10415, 4}. */
  cerAvps?: AvpInput[]
  /**
   * Answer a server-initiated request: return AVPs to answer with, or null to stay silent.
   * Default: Result-Code 2001 for everything.
   */
  onRequest?: (msg: DiameterMessage) => AvpInput[] | null | undefined
  /** Skip the CER (the test sends its own). */
  noCer?: boolean
}

let e2e = 0x5a000000

export class DiameterTestClient {
  readonly socket: Socket
  readonly originHost: string
  readonly originRealm: string
  /** Requests the server sent us (DWR, RAR, ASR, DPR), in order. */
  readonly received: DiameterMessage[] = []
  /** Answers with no pending request. */
  readonly stray: DiameterMessage[] = []
  cea: DiameterMessage | undefined
  closed = false
  readonly closedPromise: Promise<void>
  private readonly framer = new DiameterFramer()
  private readonly pending = new Map<number, (m: DiameterMessage) => void>()
  private waiters: Array<{ pred: (m: DiameterMessage) => boolean; resolve: (m: DiameterMessage) => void }> = []
  private hbh = 1000
  private readonly cork: () => void
  private readonly opts: ClientOptions

  private constructor(socket: Socket, opts: ClientOptions) {
    this.socket = socket
    this.cork = tickCork(socket)
    this.opts = opts
    this.originHost = opts.originHost ?? 'client.test'
    this.originRealm = opts.originRealm ?? 'test'
    this.closedPromise = new Promise((resolve) => socket.once('close', () => {
      this.closed = true
      resolve()
    }))
    socket.on('error', () => undefined)
    socket.on('data', (chunk: Buffer) => {
      for (const buf of this.framer.push(chunk)) this.onMessage(decode(buf))
    })
  }

  static async connect(opts: ClientOptions): Promise<DiameterTestClient> {
    const socket = connect({ port: opts.port, host: opts.host ?? '127.0.0.1' })
    await once(socket, 'connect')
    socket.setNoDelay(true)
    const c = new DiameterTestClient(socket, opts)
    if (!opts.noCer) {
      c.cea = await c.request({ commandCode: 257, applicationId: 0, avps: c.cerAvps() })
    }
    return c
  }

  cerAvps(): AvpInput[] {
    return (
      this.opts.cerAvps ?? [
        { name: 'Origin-Host', value: this.originHost },
        { name: 'Origin-Realm', value: this.originRealm },
        { name: 'Host-IP-Address', value: '127.0.0.1' },
        { name: 'Vendor-Id', value: 0 },
        { name: 'Product-Name', value: 'ocs-test-client' },
        { name: 'Supported-Vendor-Id', value: 10415 },
        { name: 'Auth-Application-Id', value: 4 },
        { name: 'Vendor-Specific-Application-Id', value: [{ name: 'Vendor-Id', value: 10415 }, { name: 'Auth-Application-Id', value: 4 }] },
      ]
    )
  }

  nextHopByHop(): number {
    return ++this.hbh
  }

  static nextEndToEnd(): number {
    return ++e2e
  }

  /** Send a request; resolves with its answer (rejects after timeoutMs). */
  request(m: Partial<MessageInput> & { commandCode: number; avps: readonly AvpInput[] }, timeoutMs = 5000): Promise<DiameterMessage> {
    const msg: MessageInput = {
      applicationId: 4,
      hopByHop: this.nextHopByHop(),
      endToEnd: DiameterTestClient.nextEndToEnd(),
      ...m,
      flags: { request: true, proxiable: m.commandCode !== 257 && m.commandCode !== 280 && m.commandCode !== 282, ...m.flags },
    }
    return this.requestBytes(encode(msg), msg.hopByHop, timeoutMs)
  }

  /** Send raw request bytes whose hop-by-hop id is `hbh`; resolves with the answer. */
  requestBytes(buf: Buffer, hbh: number, timeoutMs = 5000): Promise<DiameterMessage> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(hbh)
        reject(new Error(`no answer to hop-by-hop ${hbh} within ${timeoutMs} ms`))
      }, timeoutMs)
      this.pending.set(hbh, (a) => {
        clearTimeout(timer)
        resolve(a)
      })
      this.cork()
      this.socket.write(buf)
    })
  }

  /** A CCR (application 4) with these AVPs. */
  ccr(avps: AvpInput[], extra: Partial<MessageInput> = {}, timeoutMs = 5000): Promise<DiameterMessage> {
    return this.request({ commandCode: 272, applicationId: 4, avps, ...extra }, timeoutMs)
  }

  write(buf: Buffer): void {
    this.socket.write(buf)
  }

  /** Resolves with the next server-initiated request matching pred (or one already received). */
  waitFor(pred: (m: DiameterMessage) => boolean, timeoutMs = 5000): Promise<DiameterMessage> {
    const seen = this.received.find(pred)
    if (seen) return Promise.resolve(seen)
    return new Promise((resolve, reject) => {
      const w = { pred, resolve: (m: DiameterMessage) => {
        clearTimeout(timer)
        resolve(m)
      } }
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((x) => x !== w)
        reject(new Error(`no matching request from the server within ${timeoutMs} ms`))
      }, timeoutMs)
      this.waiters.push(w)
    })
  }

  async close(): Promise<void> {
    if (!this.closed) {
      this.socket.destroy()
      await this.closedPromise
    }
  }

  private onMessage(m: DiameterMessage): void {
    if (!m.flags.request) {
      const p = this.pending.get(m.hopByHop)
      if (p) {
        this.pending.delete(m.hopByHop)
        p(m)
      } else this.stray.push(m)
      return
    }
    this.received.push(m)
    const answer = this.opts.onRequest ? this.opts.onRequest(m) : undefined
    if (answer !== null) {
      const avps = answer ?? [
        ...(findAvp(m.avps, 'Session-Id') ? [{ name: 'Session-Id', value: findAvp(m.avps, 'Session-Id')!.value as string }] : []),
        { name: 'Result-Code', value: 2001 },
        { name: 'Origin-Host', value: this.originHost },
        { name: 'Origin-Realm', value: this.originRealm },
      ]
      if (!this.socket.destroyed) this.socket.write(encode({ ...answerHeader(m), avps }))
    }
    for (const w of [...this.waiters]) {
      if (w.pred(m)) {
        this.waiters = this.waiters.filter((x) => x !== w)
        w.resolve(m)
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// CCR builders

export interface Units {
  time?: number
  total?: number | bigint
  input?: number | bigint
  output?: number | bigint
  ssu?: number | bigint
  /** Tariff-Change-Usage */
  tcu?: number
  /** Reporting-Reason inside the USU */
  reason?: number
}

export interface Mscc {
  rg?: number
  si?: number
  /** {} = empty RSU */
  rsu?: Units
  usu?: Units | Units[]
  /** Reporting-Reason at MSCC level */
  reason?: number
  extra?: AvpInput[]
}

export interface CcrSpec {
  sessionId: string
  type: 1 | 2 | 3 | 4
  number: number
  originHost?: string
  context?: string
  msisdn?: string
  imsi?: string
  mscc?: Mscc[]
  /** top-level (single-service) units */
  rsu?: Units
  usu?: Units
  requestedAction?: number
  terminationCause?: number
  extra?: AvpInput[]
}

export function unitAvps(u: Units): AvpInput[] {
  const out: AvpInput[] = []
  if (u.tcu !== undefined) out.push({ name: 'Tariff-Change-Usage', value: u.tcu })
  if (u.time !== undefined) out.push({ name: 'CC-Time', value: u.time })
  if (u.total !== undefined) out.push({ name: 'CC-Total-Octets', value: BigInt(u.total) })
  if (u.input !== undefined) out.push({ name: 'CC-Input-Octets', value: BigInt(u.input) })
  if (u.output !== undefined) out.push({ name: 'CC-Output-Octets', value: BigInt(u.output) })
  if (u.ssu !== undefined) out.push({ name: 'CC-Service-Specific-Units', value: BigInt(u.ssu) })
  if (u.reason !== undefined) out.push({ name: 'Reporting-Reason', value: u.reason })
  return out
}

export function msccAvp(m: Mscc): AvpInput {
  const kids: AvpInput[] = []
  if (m.rsu) kids.push({ name: 'Requested-Service-Unit', value: unitAvps(m.rsu) })
  for (const u of m.usu === undefined ? [] : Array.isArray(m.usu) ? m.usu : [m.usu]) kids.push({ name: 'Used-Service-Unit', value: unitAvps(u) })
  if (m.si !== undefined) kids.push({ name: 'Service-Identifier', value: m.si })
  if (m.rg !== undefined) kids.push({ name: 'Rating-Group', value: m.rg })
  if (m.reason !== undefined) kids.push({ name: 'Reporting-Reason', value: m.reason })
  kids.push(...(m.extra ?? []))
  return { name: 'Multiple-Services-Credit-Control', value: kids }
}

export function ccrAvps(s: CcrSpec): AvpInput[] {
  const avps: AvpInput[] = [
    { name: 'Session-Id', value: s.sessionId },
    { name: 'Origin-Host', value: s.originHost ?? 'client.test' },
    { name: 'Origin-Realm', value: 'test' },
    { name: 'Destination-Realm', value: 'localdomain' },
    { name: 'Auth-Application-Id', value: 4 },
    { name: 'Service-Context-Id', value: s.context ?? '32251@3gpp.org' },
    { name: 'CC-Request-Type', value: s.type },
    { name: 'CC-Request-Number', value: s.number },
  ]
  if (s.requestedAction !== undefined) avps.push({ name: 'Requested-Action', value: s.requestedAction })
  if (s.imsi) avps.push({ name: 'Subscription-Id', value: [{ name: 'Subscription-Id-Type', value: 1 }, { name: 'Subscription-Id-Data', value: s.imsi }] })
  if (s.msisdn) avps.push({ name: 'Subscription-Id', value: [{ name: 'Subscription-Id-Type', value: 0 }, { name: 'Subscription-Id-Data', value: s.msisdn }] })
  if (s.rsu) avps.push({ name: 'Requested-Service-Unit', value: unitAvps(s.rsu) })
  if (s.usu) avps.push({ name: 'Used-Service-Unit', value: unitAvps(s.usu) })
  if (s.mscc) {
    avps.push({ name: 'Multiple-Services-Indicator', value: 1 })
    for (const m of s.mscc) avps.push(msccAvp(m))
  }
  if (s.terminationCause !== undefined) avps.push({ name: 'Termination-Cause', value: s.terminationCause })
  avps.push(...(s.extra ?? []))
  return avps
}

// ---------------------------------------------------------------------------------------------
// Reading answers

export function resultCode(m: DiameterMessage | Avp[] | undefined): number | undefined {
  const avps = Array.isArray(m) ? m : m?.avps
  return avpNumber(findAvp(avps, 'Result-Code'))
}

export function msccs(m: DiameterMessage): Avp[][] {
  return findAvps(m.avps, 'Multiple-Services-Credit-Control').map((a) => childrenOf(a) ?? [])
}

/** Granted units of an MSCC (or of the top level): CC-Time / CC-Total-Octets / CC-Service-Specific-Units as numbers. */
export function granted(list: Avp[]): { time?: number; total?: number; ssu?: number } | undefined {
  const gsu = childrenOf(findAvp(list, 'Granted-Service-Unit'))
  if (!gsu) return undefined
  const out: { time?: number; total?: number; ssu?: number } = {}
  const t = avpNumber(findAvp(gsu, 'CC-Time'))
  if (t !== undefined) out.time = t
  const o = avpNumber(findAvp(gsu, 'CC-Total-Octets'))
  if (o !== undefined) out.total = o
  const s = avpNumber(findAvp(gsu, 'CC-Service-Specific-Units'))
  if (s !== undefined) out.ssu = s
  return out
}

export { findAvp, findAvps, findAvpPath, childrenOf, avpNumber }
