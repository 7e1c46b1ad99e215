// One Diameter peer connection: framing, the base protocol (CER/CEA, DWR/DWA, DPR/DPA), the
// RFC 3539 watchdog, and requests we originate (RAR, ASR, DWR, DPR) matched to their answers by
// hop-by-hop id. Application requests go to the server through PeerHooks.request.
//
// The peer state machine follows RFC 6733 §5.6 for the responder side: the OCS never opens
// connections, so Wait-Conn-Ack, Wait-I-CEA and the election states do not exist here. RFC 6733
// models "connection + CER" as one event (R-Conn-CER); we hold an accepted socket in Wait-CER until
// its CER arrives (bounded by a timer). Every transition goes through PeerConnection.transition().
import type { Socket } from 'node:net'
import ipaddr from 'ipaddr.js'
import type { Logger } from '../lib/logger.js'
import { tickCork } from '../lib/tick-cork.js'
import type { Metrics } from '../metrics/metrics.js'
import {
  DiameterDecodeError,
  answerHeader,
  avpNumber,
  avpString,
  decode,
  encode,
  findAvp,
  type AvpInput,
  type DiameterMessage,
  type MessageInput,
} from './codec.js'
import { DiameterFramer } from './framer.js'
import { RC, isProtocolError } from './results.js'

export const CMD = { CER: 257, RAR: 258, ASR: 274, DWR: 280, DPR: 282, CCR: 272 } as const
export const VENDOR_3GPP = 10415
const STRICT = { strict: true } as const

/**
 * Peer states (RFC 6733 §5.6, responder side):
 * - Wait-CER: transport accepted, no CER yet (part of R-Conn-CER in the RFC);
 * - Open: R-Open, capabilities exchanged, any message may flow;
 * - Closing: a DPR was sent or received; answers and in-flight requests still complete;
 * - Closed: transport gone.
 */
export type PeerState = 'Wait-CER' | 'Open' | 'Closing' | 'Closed'

/** Events of the state machine (RFC 6733 §5.6 names in the comments). */
export type PeerEvent =
  | 'cer-accepted' // R-Conn-CER, R-Accept, Process-CER, R-Snd-CEA
  | 'cer-refused' // R-Conn-CER, R-Snd-CEA (error), R-Disc
  | 'non-cer' // a message other than CER before the capabilities exchange: R-Disc
  | 'cer-timeout' // no CER in time: R-Disc
  | 'snd-dpr' // Stop: R-Snd-DPR
  | 'rcv-dpr' // R-Rcv-DPR: R-Snd-DPA
  | 'rcv-dpa' // R-Rcv-DPA: R-Disc
  | 'dpa-timeout' // no DPA in time: R-Disc
  | 'watchdog-failure' // RFC 3539: no answer to DWR within Tw: R-Disc (a responder cannot reconnect)
  | 'replaced' // a new connection with the same Origin-Host was accepted: R-Disc on the old one
  | 'frame-error' // the byte stream cannot be framed: R-Disc
  | 'peer-disc' // R-Peer-Disc: the transport closed
  | 'overflow' // the peer does not read its answers: R-Disc

/** The one transition table. undefined = the event does not change the state. */
function transitionOf(state: PeerState, event: PeerEvent): PeerState | undefined {
  if (state === 'Closed') return undefined
  switch (event) {
    case 'cer-accepted':
      return state === 'Wait-CER' ? 'Open' : undefined // R-Open + R-Rcv-CER: R-Snd-CEA, stay R-Open
    case 'snd-dpr':
      return state === 'Open' ? 'Closing' : undefined
    case 'rcv-dpr':
      return state === 'Open' || state === 'Closing' ? 'Closing' : undefined
    case 'rcv-dpa':
      return state === 'Closing' ? 'Closed' : undefined
    default:
      return 'Closed'
  }
}

export interface LocalIdentity {
  originHost: string
  originRealm: string
  originStateId: number
  productName: string
  vendorId: number
  firmwareRevision: number
}

export interface CapabilitiesVerdict {
  resultCode: number
  errorMessage?: string
  /** label for diameter_rejected_peers_total */
  reason?: string
}

export interface PeerHooks {
  /** Admission of a CER: allow-list and common application. */
  capabilities(peer: PeerConnection, cer: DiameterMessage): CapabilitiesVerdict
  opened(peer: PeerConnection): void
  /** An application request (not CER/DWR/DPR) on an Open or Closing connection. */
  request(peer: PeerConnection, msg: DiameterMessage, raw: Buffer): void
  /** A request whose header is readable but whose AVPs are not. */
  decodeError(peer: PeerConnection, err: DiameterDecodeError): void
  closed(peer: PeerConnection): void
}

export interface PeerOptions {
  socket: Socket
  local: LocalIdentity
  hooks: PeerHooks
  metrics: Metrics
  log: Logger
  /** Tw (RFC 3539), milliseconds. */
  watchdogMs: number
  cerTimeoutMs?: number
  dpaTimeoutMs?: number
  /** Bytes of unsent answers after which a peer that does not read is disconnected. */
  maxWriteBuffer?: number
  /** Decode strictly: irregularities become errors answered with their Result-Code (default: tolerate and count). */
  strict?: boolean
}

interface Pending {
  resolve(m: DiameterMessage | undefined): void
  timer: NodeJS.Timeout
}

// End-to-end ids: the low 12 bits of the boot time in the high 12 bits, a random low part (RFC 6733 §3).
let endToEnd = (((Math.floor(Date.now() / 1000) & 0xfff) << 20) | Math.floor(Math.random() * 0x100000)) >>> 0
export function nextEndToEnd(): number {
  endToEnd = (endToEnd + 1) >>> 0
  return endToEnd
}

export function normaliseAddress(addr: string | undefined): string {
  if (addr === undefined) return ''
  try {
    return ipaddr.process(addr).toString()
  } catch {
    return addr
  }
}

export class PeerConnection {
  state: PeerState = 'Wait-CER'
  /** From the CER. */
  originHost: string | undefined
  originRealm: string | undefined
  readonly remoteAddress: string
  readonly localAddress: string
  /** Application requests being processed for this peer (the server counts them). */
  inFlight = 0
  private readonly socket: Socket
  private readonly framer = new DiameterFramer()
  private readonly pending = new Map<number, Pending>()
  private hopByHop = Math.floor(Math.random() * 0x7fffffff)
  private lastRx = Date.now()
  private dwrOutstanding = false
  private watchdog: NodeJS.Timeout | undefined
  private stateTimer: NodeJS.Timeout | undefined
  private closedNotified = false
  private dpaWaiters: Array<() => void> = []
  /** Answers completed in the same tick (e.g. one Redis reply batch) leave in one write. */
  private readonly cork: () => void

  constructor(private readonly o: PeerOptions) {
    this.socket = o.socket
    this.cork = tickCork(o.socket)
    this.remoteAddress = normaliseAddress(o.socket.remoteAddress)
    this.localAddress = normaliseAddress(o.socket.localAddress)
    this.socket.setNoDelay(true)
    this.socket.on('data', (chunk: Buffer) => this.onData(chunk))
    this.socket.on('error', (err) => this.o.log.debug({ peer: this.label, err: err.message }, 'diameter socket error'))
    this.socket.on('close', () => this.onClose())
    this.stateTimer = setTimeout(() => {
      if (this.state === 'Wait-CER') {
        this.o.metrics.malformed.inc({ protocol: 'diameter', reason: 'no-cer' })
        this.transition('cer-timeout')
      }
    }, o.cerTimeoutMs ?? 10_000)
    this.stateTimer.unref()
  }

  isClosed(): boolean {
    return this.state === 'Closed'
  }

  get label(): string {
    return this.originHost ?? this.remoteAddress
  }

  /** Apply an event; on a move to Closed, the transport is shut. */
  transition(event: PeerEvent): void {
    const to = transitionOf(this.state, event)
    if (to === undefined || to === this.state) return
    const from = this.state
    this.state = to
    this.o.log.debug({ peer: this.label, from, to, event }, 'diameter peer state')
    if (to === 'Closed') this.shut(event === 'cer-refused' || event === 'rcv-dpa' ? 'end' : 'destroy')
  }

  /** Write an encoded message; false if the connection cannot take it. */
  send(buf: Buffer): boolean {
    if (this.state === 'Closed' || this.socket.destroyed || !this.socket.writable) return false
    this.cork()
    this.socket.write(buf)
    if (this.socket.writableLength > (this.o.maxWriteBuffer ?? 16 * 1024 * 1024)) {
      this.o.log.warn({ peer: this.label }, 'diameter peer does not read its answers: disconnecting')
      this.o.metrics.malformed.inc({ protocol: 'diameter', reason: 'write-overflow' })
      this.transition('overflow')
      return false
    }
    return true
  }

  /** Send a request we originate and wait for its answer (undefined on timeout or disconnect). */
  request(msg: Omit<MessageInput, 'hopByHop' | 'endToEnd'>, timeoutMs: number): Promise<DiameterMessage | undefined> {
    const hbh = this.nextHopByHop()
    let buf: Buffer
    try {
      buf = encode({ ...msg, flags: { ...msg.flags, request: true }, hopByHop: hbh, endToEnd: nextEndToEnd() })
    } catch (err) {
      this.o.log.error({ peer: this.label, command: msg.commandCode, err: (err as Error).message }, 'cannot encode a request')
      return Promise.resolve(undefined)
    }
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.pending.delete(hbh)
        resolve(undefined)
      }, timeoutMs)
      timer.unref()
      this.pending.set(hbh, { resolve, timer })
      if (!this.send(buf)) {
        clearTimeout(timer)
        this.pending.delete(hbh)
        resolve(undefined)
      }
    })
  }

  /** Stop: send DPR (RFC 6733 §5.4) and resolve on DPA, on close, or after dpaTimeoutMs. */
  disconnect(cause: 'REBOOTING' | 'BUSY' | 'DO_NOT_WANT_TO_TALK_TO_YOU' = 'REBOOTING'): Promise<void> {
    if (this.state === 'Wait-CER') {
      this.transition('peer-disc')
      return Promise.resolve()
    }
    if (this.state !== 'Open') return this.closedPromise()
    this.transition('snd-dpr')
    const done = new Promise<void>((resolve) => this.dpaWaiters.push(resolve))
    void this.request(
      {
        commandCode: CMD.DPR,
        applicationId: 0,
        avps: [...this.originAvps(), { name: 'Disconnect-Cause', value: cause }],
      },
      this.o.dpaTimeoutMs ?? 2000,
    ).then((dpa) => {
      if (dpa === undefined) this.o.log.debug({ peer: this.label }, 'no DPA in time')
      this.notifyDpa()
    })
    return done
  }

  /** Close the transport now (peer replaced, server stopping). */
  destroy(event: PeerEvent = 'peer-disc'): void {
    this.transition(event)
  }

  /** After DPR/DPA and the drain: R-Disc, letting written answers reach the peer first. */
  close(): void {
    this.transition(this.state === 'Closing' ? 'rcv-dpa' : 'peer-disc')
  }

  // ------------------------------------------------------------------------------------------

  private closedPromise(): Promise<void> {
    if (this.state === 'Closed') return Promise.resolve()
    return new Promise((resolve) => this.dpaWaiters.push(resolve))
  }

  private notifyDpa(): void {
    const w = this.dpaWaiters
    this.dpaWaiters = []
    for (const f of w) f()
  }

  private nextHopByHop(): number {
    this.hopByHop = (this.hopByHop + 1) >>> 0
    return this.hopByHop
  }

  private originAvps(): AvpInput[] {
    return [
      { name: 'Origin-Host', value: this.o.local.originHost },
      { name: 'Origin-Realm', value: this.o.local.originRealm },
    ]
  }

  private shut(how: 'end' | 'destroy'): void {
    this.clearTimers()
    for (const [, p] of this.pending) {
      clearTimeout(p.timer)
      p.resolve(undefined)
    }
    this.pending.clear()
    if (how === 'end' && !this.socket.destroyed) {
      // Let the last answer (CEA with an error, DPA) reach the peer, then make sure the socket goes.
      this.socket.end()
      setTimeout(() => this.socket.destroy(), 1000).unref()
    } else {
      this.socket.destroy()
    }
  }

  private clearTimers(): void {
    if (this.watchdog) clearTimeout(this.watchdog)
    if (this.stateTimer) clearTimeout(this.stateTimer)
    this.watchdog = undefined
    this.stateTimer = undefined
  }

  private onClose(): void {
    if (this.state !== 'Closed') this.transition('peer-disc')
    this.clearTimers()
    this.notifyDpa()
    if (!this.closedNotified) {
      this.closedNotified = true
      this.o.hooks.closed(this)
    }
  }

  private onData(chunk: Buffer): void {
    if (this.state === 'Closed') return
    let frames: Buffer[]
    try {
      frames = this.framer.push(chunk)
    } catch (err) {
      // A lying Message Length or a non-Diameter stream: nothing after it can be trusted.
      this.o.metrics.malformed.inc({ protocol: 'diameter', reason: 'framing' })
      this.o.log.info({ peer: this.label, err: (err as Error).message }, 'diameter framing error: closing the connection')
      this.transition('frame-error')
      return
    }
    if (frames.length > 0) {
      this.lastRx = Date.now()
      this.dwrOutstanding = false // RFC 3539 §3.4.1: any message received proves the peer alive
    }
    for (const buf of frames) {
      if (this.isClosed()) return
      try {
        this.onMessage(buf)
      } catch (err) {
        // Never let one message take the server down.
        this.o.log.error({ peer: this.label, err: (err as Error)?.stack ?? String(err) }, 'diameter message handling failed')
      }
    }
  }

  private onMessage(buf: Buffer): void {
    let msg: DiameterMessage
    try {
      msg = decode(buf, this.o.strict === true ? STRICT : undefined)
    } catch (err) {
      if (!(err instanceof DiameterDecodeError)) throw err
      this.o.metrics.malformed.inc({ protocol: 'diameter', reason: err.code })
      if (this.state === 'Wait-CER' || this.state === 'Closed') {
        this.transition('non-cer')
        return
      }
      if (err.header?.flags.request) this.o.hooks.decodeError(this, err)
      return
    }
    const f = msg.flags
    if (!f.request) {
      this.onAnswer(msg)
      return
    }
    if (this.state === 'Wait-CER') {
      if (msg.commandCode === CMD.CER) this.onCer(msg)
      else {
        this.o.metrics.malformed.inc({ protocol: 'diameter', reason: 'no-cer' })
        this.transition('non-cer')
      }
      return
    }
    switch (msg.commandCode) {
      case CMD.CER:
        this.onCer(msg)
        return
      case CMD.DWR:
        this.answerBase(msg, [{ name: 'Result-Code', value: RC.SUCCESS }, ...this.originAvps(), { name: 'Origin-State-Id', value: this.o.local.originStateId }])
        this.count('DWR', RC.SUCCESS)
        return
      case CMD.DPR:
        this.answerBase(msg, [{ name: 'Result-Code', value: RC.SUCCESS }, ...this.originAvps()])
        this.count('DPR', RC.SUCCESS)
        this.transition('rcv-dpr')
        // The DPR sender closes the transport on our DPA (RFC 6733 §5.4.2); make sure it goes.
        if (this.stateTimer) clearTimeout(this.stateTimer)
        this.stateTimer = setTimeout(() => this.transition('dpa-timeout'), this.o.dpaTimeoutMs ?? 2000)
        this.stateTimer.unref()
        return
      default:
        this.o.hooks.request(this, msg, buf)
    }
  }

  private onAnswer(msg: DiameterMessage): void {
    const p = this.pending.get(msg.hopByHop)
    if (p !== undefined) {
      this.pending.delete(msg.hopByHop)
      clearTimeout(p.timer)
      // A DPA does not close the transport here: the server drains in-flight answers first, then calls close().
      p.resolve(msg)
      return
    }
    this.o.metrics.malformed.inc({ protocol: 'diameter', reason: 'unexpected-answer' })
  }

  private onCer(cer: DiameterMessage): void {
    const host = avpString(findAvp(cer.avps, 'Origin-Host'))
    const realm = avpString(findAvp(cer.avps, 'Origin-Realm'))
    let verdict: CapabilitiesVerdict
    if (host === undefined || realm === undefined) {
      verdict = { resultCode: RC.MISSING_AVP, errorMessage: 'CER without Origin-Host/Origin-Realm', reason: 'bad-cer' }
    } else if (this.state === 'Open' && this.originHost !== undefined && host.toLowerCase() !== this.originHost.toLowerCase()) {
      verdict = { resultCode: RC.UNKNOWN_PEER, errorMessage: 'Origin-Host differs from the first CER', reason: 'bad-cer' }
    } else {
      if (this.state === 'Wait-CER') {
        this.originHost = host
        this.originRealm = realm
      }
      verdict = this.state === 'Wait-CER' ? this.o.hooks.capabilities(this, cer) : { resultCode: RC.SUCCESS }
    }
    const ok = verdict.resultCode === RC.SUCCESS
    const avps: AvpInput[] = [{ name: 'Result-Code', value: verdict.resultCode }, ...this.originAvps()]
    if (this.localAddress) avps.push({ name: 'Host-IP-Address', value: this.localAddress })
    avps.push(
      { name: 'Vendor-Id', value: this.o.local.vendorId },
      { name: 'Product-Name', value: this.o.local.productName },
      { name: 'Origin-State-Id', value: this.o.local.originStateId },
    )
    if (verdict.errorMessage) avps.push({ name: 'Error-Message', value: verdict.errorMessage })
    // Kamailio's cdp routes credit control only to a peer whose CEA has Vendor-Specific-Application-Id {10415, 4}.
    avps.push(
      { name: 'Supported-Vendor-Id', value: VENDOR_3GPP },
      { name: 'Auth-Application-Id', value: 4 },
      { name: 'Vendor-Specific-Application-Id', value: [{ name: 'Vendor-Id', value: VENDOR_3GPP }, { name: 'Auth-Application-Id', value: 4 }] },
      { name: 'Firmware-Revision', value: this.o.local.firmwareRevision },
    )
    this.answerBase(cer, avps, isProtocolError(verdict.resultCode))
    this.count('CER', verdict.resultCode)
    if (!ok) {
      this.o.metrics.diameterRejectedPeers.inc({ reason: verdict.reason ?? String(verdict.resultCode) })
      this.o.log.warn({ peer: host ?? this.remoteAddress, address: this.remoteAddress, resultCode: verdict.resultCode }, 'diameter peer refused')
      this.transition('cer-refused')
      return
    }
    if (this.state === 'Wait-CER') {
      this.transition('cer-accepted')
      if (this.stateTimer) clearTimeout(this.stateTimer)
      this.stateTimer = undefined
      this.armWatchdog(this.o.watchdogMs)
      this.o.hooks.opened(this)
    }
  }

  private count(command: string, rc: number): void {
    this.o.metrics.requests.inc({ protocol: 'diameter', command, type: '-', result: String(rc) })
  }

  private answerBase(req: DiameterMessage, avps: AvpInput[], error = false): void {
    this.send(encode({ ...answerHeader(req, error), avps }))
  }

  // RFC 3539 §3.4 watchdog: after Tw without any message, send DWR; after another Tw without an
  // answer the connection has failed. Tw is jittered by ±2 s when it is at least 6 s (§3.4.1).
  private armWatchdog(ms: number): void {
    if (this.watchdog) clearTimeout(this.watchdog)
    this.watchdog = setTimeout(() => this.onWatchdog(), Math.max(1, ms))
    this.watchdog.unref()
  }

  private jitteredTw(): number {
    const tw = this.o.watchdogMs
    return tw >= 6000 ? tw - 2000 + Math.floor(Math.random() * 4000) : tw
  }

  private onWatchdog(): void {
    this.watchdog = undefined
    if (this.state !== 'Open' && this.state !== 'Closing') return
    const idle = Date.now() - this.lastRx
    if (!this.dwrOutstanding && idle < this.o.watchdogMs) {
      this.armWatchdog(this.o.watchdogMs - idle)
      return
    }
    if (this.dwrOutstanding) {
      this.o.metrics.diameterWatchdogFailures.inc()
      this.o.log.warn({ peer: this.label }, 'diameter watchdog: no DWA within Tw, closing the connection')
      this.transition('watchdog-failure')
      return
    }
    this.dwrOutstanding = true
    void this.request({ commandCode: CMD.DWR, applicationId: 0, avps: [...this.originAvps(), { name: 'Origin-State-Id', value: this.o.local.originStateId }] }, this.o.watchdogMs * 2).then(
      (dwa) => {
        if (dwa !== undefined) this.dwrOutstanding = false
      },
    )
    this.armWatchdog(this.jitteredTw())
  }

  /** Result-Code of an answer (for logs and metrics). */
  static resultCode(msg: DiameterMessage | undefined): number | undefined {
    return msg === undefined ? undefined : avpNumber(findAvp(msg.avps, 'Result-Code'))
  }
}
