// The Diameter Gy/Ro front end: a TCP listener, the peer table (allow-list, one connection per
// Origin-Host), request dispatch with bounded in-flight work, the duplicate-answer cache, and the
// server-initiated RAR/ASR driven by account events. Charging itself is the GyHandler's and the core's.
import { createServer, type Server, type Socket } from 'node:net'
import ipaddr from 'ipaddr.js'
import type { Config } from '../config/schema.js'
import type { ChargingService } from '../core/charging.js'
import type { AccountEvent, AccountEvents } from '../core/events.js'
import type { Component } from '../lib/lifecycle.js'
import type { Logger } from '../lib/logger.js'
import { FifoCache } from '../lib/fifo-cache.js'
import { Lru } from '../lib/lru.js'
import type { Metrics } from '../metrics/metrics.js'
import {
  answerHeader,
  avpNumber,
  avpString,
  childrenOf,
  defaultDictionary,
  encode,
  findAvp,
  findAvps,
  verbatimAvp,
  type AvpInput,
  type DiameterDecodeError,
  type DiameterMessage,
} from './codec.js'
import { CREDIT_CONTROL_APPLICATION, CREDIT_CONTROL_COMMAND, GyHandler, type FinalUnitPolicy, type GyAnswer } from './gy-handler.js'
import { CMD, PeerConnection, type CapabilitiesVerdict, type LocalIdentity } from './peer.js'
import { RC, isProtocolError } from './results.js'

const RELAY_APPLICATION = 0xffffffff
// RFC 6733 §6.3 duplicates: this in-memory cache answers a retransmission that arrives while its
// original is in flight or just answered, without a Redis round trip. Older duplicates still get
// their first answer from the core's idempotency (the session keeps its last two answers, a closed
// session's last one is kept 5 minutes), so the cache is kept small: less memory held per node.
const DUPLICATE_TTL_MS = 10_000
const DUPLICATE_MAX = 4_096

export interface DiameterServerOptions {
  config: Config['diameter']
  charging: ChargingService
  events: AccountEvents
  metrics: Metrics
  log: Logger
  /** Requests being processed on this node at once; beyond it: 3004 at once (default 4096). */
  maxInFlight?: number
  /** The same, per peer connection (default 1024). */
  maxInFlightPerPeer?: number
  /** Final-Unit-Action sent with the last units (default TERMINATE). */
  finalUnit?: FinalUnitPolicy
  /**
   * Strict mode: decode strictly (irregular AVPs, reserved bits → their RFC 6733 Result-Code) and refuse
   * any unknown M-bit AVP. Default: liberal with known peers, each tolerated irregularity counted.
   */
  strict?: boolean
  /** How long to wait for a RAA/ASA (default 5000 ms). */
  answerTimeoutMs?: number
  /** How long a DPR waits for its DPA and in-flight requests drain on stop (default 2000 ms). */
  stopTimeoutMs?: number
  /** Connections without a CER after this are closed (default 10000 ms). */
  cerTimeoutMs?: number
  productName?: string
}

interface CompiledPeer {
  originHost: string
  ranges: Array<[ipaddr.IPv4 | ipaddr.IPv6, number]>
}

/**
 * Where a session's server-initiated requests go: `peer` is the connection its CCRs came in on (the
 * next hop, maybe a relay), `host`/`realm` the credit-control client itself, which the RAR/ASR names
 * as Destination-Host/Destination-Realm so that a relay can route it (RFC 6733 §6.1).
 */
interface SessionRoute {
  peer: string
  host: string
  realm: string
}

/** How long a node's claim on sending one event's RAR/ASR to one session is kept (left to expire). */
const SERVER_REQUEST_CLAIM_MS = 60_000

/** A route as stored with the session (SessionRequest.route), or undefined when absent or not ours. */
function parseRoute(text: string | undefined): SessionRoute | undefined {
  if (text === undefined) return undefined
  try {
    const [peer, host, realm] = JSON.parse(text) as unknown[]
    if (typeof peer === 'string' && typeof host === 'string' && typeof realm === 'string') return { peer, host, realm }
  } catch {
    // not a route this version wrote
  }
  return undefined
}

/** The answer to a request, once sent (undefined: none to repeat, e.g. it failed). */
type CachedAnswer = Promise<{ buf: Buffer; resultCode: number; type: string } | undefined>

export interface PeerInfo {
  originHost: string | undefined
  originRealm: string | undefined
  address: string
  state: PeerConnection['state']
  inFlight: number
}

export class DiameterServer implements Component {
  readonly name = 'diameter'
  /** The bound TCP port (after start; the picked one when the config says 0). */
  port = 0
  private server: Server | undefined
  private readonly gy: GyHandler
  private readonly local: LocalIdentity
  private readonly allow: CompiledPeer[]
  private readonly connections = new Set<PeerConnection>()
  /** Open peers by lower-cased Origin-Host: a reconnect replaces the old connection at once. */
  private readonly peers = new Map<string, PeerConnection>()
  /** Session-Id → the peer connection (lower-case Origin-Host) that sent its CCRs to this node, and the client behind it. */
  private readonly sessionPeers = new Lru<string, SessionRoute>(200_000)
  private readonly duplicates = new FifoCache<string, CachedAnswer>(DUPLICATE_MAX, DUPLICATE_TTL_MS)
  private inFlight = 0
  private drainWaiters: Array<() => void> = []
  private unsubscribe: (() => void) | undefined
  private stopping = false
  private readonly maxInFlight: number
  private readonly maxInFlightPerPeer: number

  constructor(private readonly opts: DiameterServerOptions) {
    const c = opts.config
    this.maxInFlight = opts.maxInFlight ?? c.maxInFlight ?? 4096
    this.maxInFlightPerPeer = opts.maxInFlightPerPeer ?? c.maxInFlightPerPeer ?? 1024
    this.local = {
      originHost: c.originHost,
      originRealm: c.originRealm,
      originStateId: Math.floor(Date.now() / 1000) >>> 0,
      productName: opts.productName ?? 'ocs',
      vendorId: 0,
      firmwareRevision: 1,
    }
    this.allow = c.peers.map((p) => ({
      originHost: p.originHost.toLowerCase(),
      ranges: p.addresses.map((a): [ipaddr.IPv4 | ipaddr.IPv6, number] => {
        if (a.includes('/')) return ipaddr.parseCIDR(a)
        const ip = ipaddr.process(a)
        return [ip, ip.kind() === 'ipv4' ? 32 : 128]
      }),
    }))
    this.gy = new GyHandler({
      charging: opts.charging,
      metrics: opts.metrics,
      log: opts.log,
      originHost: c.originHost,
      originRealm: c.originRealm,
      finalUnit: opts.finalUnit,
      strict: opts.strict,
    })
  }

  async start(): Promise<void> {
    const server = createServer((socket) => this.accept(socket))
    server.on('error', (err) => this.opts.log.error({ err: err.message }, 'diameter listener error'))
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error): void => reject(err)
      server.once('error', onError)
      server.listen(this.opts.config.port, this.opts.config.host, () => {
        server.off('error', onError)
        resolve()
      })
    })
    this.server = server
    const addr = server.address()
    this.port = typeof addr === 'object' && addr !== null ? addr.port : this.opts.config.port
    this.unsubscribe = this.opts.events.on((e) => this.onAccountEvent(e))
    this.opts.log.info({ host: this.opts.config.host, port: this.port, originHost: this.local.originHost }, 'diameter listening')
  }

  /**
   * Stop accepting, send DPR to every open peer, let in-flight requests finish, wait for the DPAs
   * (at most stopTimeoutMs), then close every connection.
   */
  async stop(): Promise<void> {
    const server = this.server
    if (server === undefined) return
    this.server = undefined
    this.stopping = true
    this.unsubscribe?.()
    const listenerClosed = new Promise<void>((resolve) => server.close(() => resolve()))
    const limit = this.opts.stopTimeoutMs ?? 2000
    const conns = [...this.connections]
    await Promise.all([...conns.map((p) => p.disconnect('REBOOTING')), this.drain(limit)])
    for (const p of conns) p.close()
    // Sockets end gracefully (answers already written flush first); none outlives a short grace.
    await Promise.race([listenerClosed, sleep(1500)])
    for (const p of [...this.connections]) p.destroy()
    await listenerClosed
    this.opts.log.info('diameter stopped')
  }

  /** Readiness: listening and not stopping. */
  get ready(): boolean {
    return this.server !== undefined && !this.stopping
  }

  /** The connections of this node (for health and the API). */
  peerList(): PeerInfo[] {
    return [...this.connections].map((p) => ({ originHost: p.originHost, originRealm: p.originRealm, address: p.remoteAddress, state: p.state, inFlight: p.inFlight }))
  }

  /** Send a Re-Auth-Request for a session whose peer is connected to this node; resolves to the RAA's Result-Code. */
  reauth(sessionId: string): Promise<number | undefined> {
    return this.serverRequest('RAR', sessionId, this.sessionPeers.get(sessionId))
  }

  /** Send an Abort-Session-Request for a session whose peer is connected to this node; resolves to the ASA's Result-Code. */
  abort(sessionId: string): Promise<number | undefined> {
    return this.serverRequest('ASR', sessionId, this.sessionPeers.get(sessionId))
  }

  // ------------------------------------------------------------------------------------------
  // Connections and capabilities

  private accept(socket: Socket): void {
    if (this.stopping) {
      socket.destroy()
      return
    }
    const peer = new PeerConnection({
      socket,
      local: this.local,
      metrics: this.opts.metrics,
      log: this.opts.log,
      watchdogMs: Math.round(this.opts.config.watchdogSeconds * 1000),
      cerTimeoutMs: this.opts.cerTimeoutMs,
      dpaTimeoutMs: this.opts.stopTimeoutMs,
      strict: this.opts.strict,
      hooks: {
        capabilities: (p, cer) => this.capabilities(p, cer),
        opened: (p) => this.opened(p),
        request: (p, msg) => this.onRequest(p, msg),
        decodeError: (p, err) => this.onDecodeError(p, err),
        closed: (p) => this.closed(p),
      },
    })
    this.connections.add(peer)
  }

  private capabilities(peer: PeerConnection, cer: DiameterMessage): CapabilitiesVerdict {
    if (this.stopping) return { resultCode: RC.TOO_BUSY, errorMessage: 'shutting down', reason: 'stopping' }
    const host = (peer.originHost ?? '').toLowerCase()
    if (!this.allowed(peer.remoteAddress, host)) {
      return { resultCode: RC.UNKNOWN_PEER, errorMessage: 'peer not allowed', reason: 'unknown-peer' }
    }
    // RFC 6733 §5.3: a common application, advertised at the top level or in Vendor-Specific-Application-Id.
    const apps = findAvps(cer.avps, 'Auth-Application-Id').map(avpNumber)
    for (const v of findAvps(cer.avps, 'Vendor-Specific-Application-Id')) apps.push(avpNumber(findAvp(childrenOf(v), 'Auth-Application-Id')))
    apps.push(...findAvps(cer.avps, 'Acct-Application-Id').map(avpNumber))
    if (!apps.includes(CREDIT_CONTROL_APPLICATION) && !apps.includes(RELAY_APPLICATION)) {
      return { resultCode: RC.NO_COMMON_APPLICATION, errorMessage: 'Diameter Credit Control (4) not advertised', reason: 'no-common-application' }
    }
    return { resultCode: RC.SUCCESS }
  }

  private allowed(address: string, host: string): boolean {
    let ip: ipaddr.IPv4 | ipaddr.IPv6
    try {
      ip = ipaddr.process(address)
    } catch {
      return false
    }
    for (const p of this.allow) {
      if (p.originHost !== '*' && p.originHost !== host) continue
      for (const [net, bits] of p.ranges) if (net.kind() === ip.kind() && ip.match(net, bits)) return true
    }
    return false
  }

  private opened(peer: PeerConnection): void {
    const key = (peer.originHost ?? '').toLowerCase()
    const old = this.peers.get(key)
    if (old !== undefined && old !== peer) {
      // Kamailio reconnects with the same Origin-Host after a drop: the new connection wins at once.
      this.opts.log.info({ peer: peer.originHost, old: old.remoteAddress }, 'diameter peer reconnected: replacing the old connection')
      this.peers.delete(key)
      old.destroy('replaced')
    }
    this.peers.set(key, peer)
    this.opts.metrics.diameterPeerState.set({ peer: peer.originHost ?? '' }, 1)
    this.opts.log.info({ peer: peer.originHost, realm: peer.originRealm, address: peer.remoteAddress }, 'diameter peer open')
  }

  private closed(peer: PeerConnection): void {
    this.connections.delete(peer)
    const key = (peer.originHost ?? '').toLowerCase()
    if (peer.originHost !== undefined && this.peers.get(key) === peer) {
      this.peers.delete(key)
      this.opts.metrics.diameterPeerState.set({ peer: peer.originHost }, 0)
      this.opts.log.info({ peer: peer.originHost }, 'diameter peer closed')
    }
  }

  // ------------------------------------------------------------------------------------------
  // Requests

  private onRequest(peer: PeerConnection, msg: DiameterMessage): void {
    const started = performance.now()
    if (msg.commandCode !== CREDIT_CONTROL_COMMAND) {
      const abbrev = defaultDictionary().command(msg.commandCode)?.requestAbbrev ?? String(msg.commandCode)
      this.sendPlain(peer, msg, abbrev, RC.COMMAND_UNSUPPORTED, `command ${msg.commandCode} is not supported`)
      return
    }
    if (msg.applicationId !== CREDIT_CONTROL_APPLICATION) {
      this.sendGy(peer, msg, this.gy.errorAnswer(GyHandler.echoOf(msg.avps), RC.APPLICATION_UNSUPPORTED, `application ${msg.applicationId} is not supported`), started)
      return
    }
    // RFC 6733 §6.3 duplicate detection: (Origin-Host, End-to-End-Id) already answered → the same answer.
    const origin = avpString(findAvp(msg.avps, 'Origin-Host')) ?? peer.originHost ?? ''
    const dupKey = `${origin.toLowerCase()}|${msg.endToEnd}`
    const cached = this.duplicates.get(dupKey, Date.now())
    if (cached !== undefined) {
      void cached
        .then((a) => {
          if (a === undefined) return this.process(peer, msg, dupKey, started)
          const copy = Buffer.from(a.buf)
          copy.writeUInt32BE(msg.hopByHop, 12)
          peer.send(copy)
          this.opts.metrics.requests.inc({ protocol: 'diameter', command: 'CCR', type: a.type, result: String(a.resultCode) })
        })
        .catch((err: unknown) => this.opts.log.error({ err: String(err) }, 'duplicate answer failed'))
      return
    }
    if (this.inFlight >= this.maxInFlight || peer.inFlight >= this.maxInFlightPerPeer) {
      this.opts.metrics.overload.inc({ protocol: 'diameter' })
      this.sendGy(peer, msg, this.gy.errorAnswer(GyHandler.echoOf(msg.avps), RC.TOO_BUSY, 'too many requests in flight'), started)
      return
    }
    this.process(peer, msg, dupKey, started)
  }

  private process(peer: PeerConnection, msg: DiameterMessage, dupKey: string, started: number): void {
    this.inFlight++
    peer.inFlight++
    const answer = this.gy
      .handle(msg, (sessionId) => this.routeToStore(peer, msg, sessionId))
      .then((a) => {
        const buf = this.sendGy(peer, msg, a, started)
        this.trackSession(peer, msg, a)
        return buf !== undefined && a.cacheable ? { buf, resultCode: a.resultCode, type: a.type } : undefined
      })
      .catch((err: unknown) => {
        // Never reached in practice (the handler answers 5012 itself); never let it become an unhandled rejection.
        this.opts.log.error({ err: (err as Error)?.stack ?? String(err) }, 'CCR processing failed')
        return undefined
      })
    this.remember(dupKey, answer)
    void answer.finally(() => {
      this.inFlight--
      peer.inFlight--
      if (this.inFlight === 0 && this.drainWaiters.length > 0) {
        const w = this.drainWaiters
        this.drainWaiters = []
        for (const f of w) f()
      }
    })
  }

  private remember(key: string, answer: CachedAnswer): void {
    // Bounded: the oldest entries go beyond the size or the age.
    this.duplicates.set(key, answer, Date.now())
  }

  private trackSession(peer: PeerConnection, req: DiameterMessage, a: GyAnswer): void {
    if (a.sessionId === undefined || peer.originHost === undefined) return
    if (a.requestType === 3) {
      this.sessionPeers.delete(a.sessionId)
      return
    }
    if ((a.requestType === 1 || a.requestType === 2) && (a.resultCode < 3000 || (a.resultCode >= 4000 && a.resultCode < 5000))) {
      this.sessionPeers.set(a.sessionId, routeOf(peer, req)!)
    }
  }

  /**
   * The route to store with a CCR-I/U's session (SessionRequest.route) when it is one this node has
   * not seen for it: the first request of a session on this node, or after a failover or reconnect.
   * An update on the same route stores nothing (most CCRs).
   */
  private routeToStore(peer: PeerConnection, req: DiameterMessage, sessionId: string): string | undefined {
    const r = routeOf(peer, req)
    if (r === undefined) return undefined
    const known = this.sessionPeers.get(sessionId)
    if (known !== undefined && known.peer === r.peer && known.host === r.host && known.realm === r.realm) return undefined
    return JSON.stringify([r.peer, r.host, r.realm])
  }

  /** Encode and send a CCA; returns the bytes (for the duplicate cache). */
  private sendGy(peer: PeerConnection, req: DiameterMessage, a: GyAnswer, started: number): Buffer | undefined {
    let buf: Buffer
    try {
      buf = encode({ ...answerHeader(req, a.error), avps: withProxyInfo(req, a.avps) })
    } catch (err) {
      this.opts.log.error({ err: (err as Error).message, sessionId: a.sessionId }, 'CCA encoding failed')
      a = this.gy.errorAnswer({ sessionId: a.sessionId, requestType: a.requestType }, RC.UNABLE_TO_COMPLY)
      buf = encode({ ...answerHeader(req, false), avps: withProxyInfo(req, a.avps) })
    }
    peer.send(buf)
    const m = this.opts.metrics
    m.requests.inc({ protocol: 'diameter', command: 'CCR', type: a.type, result: String(a.resultCode) })
    m.requestDuration.observe({ protocol: 'diameter', command: 'CCR' }, (performance.now() - started) / 1000)
    return buf
  }

  /** An answer-message (RFC 6733 §7.2) for requests we do not serve. */
  private sendPlain(peer: PeerConnection, req: DiameterMessage, command: string, resultCode: number, message: string, failedAvp?: AvpInput): void {
    const avps: AvpInput[] = []
    const sid = avpString(findAvp(req.avps, 'Session-Id'))
    if (sid !== undefined) avps.push({ name: 'Session-Id', value: sid })
    avps.push(
      { name: 'Result-Code', value: resultCode },
      { name: 'Origin-Host', value: this.local.originHost },
      { name: 'Origin-Realm', value: this.local.originRealm },
      { name: 'Error-Message', value: message.slice(0, 200) },
    )
    if (failedAvp) avps.push({ name: 'Failed-AVP', value: [failedAvp] })
    peer.send(encode({ ...answerHeader(req, isProtocolError(resultCode)), avps: withProxyInfo(req, avps) }))
    this.opts.metrics.requests.inc({ protocol: 'diameter', command, type: '-', result: String(resultCode) })
  }

  /** A request whose AVPs cannot be decoded: the Result-Code the codec names, with Failed-AVP (RFC 6733 §7). */
  private onDecodeError(peer: PeerConnection, err: DiameterDecodeError): void {
    const header = err.header!
    const rc = err.resultCode ?? RC.UNABLE_TO_COMPLY
    const failed = err.failedAvp !== undefined ? wellFormedAvp(err.failedAvp) : undefined
    const req = { ...header, avps: err.partialAvps ?? [] } as DiameterMessage
    if (header.commandCode === CREDIT_CONTROL_COMMAND) {
      this.sendGy(peer, req, this.gy.errorAnswer(GyHandler.echoOf(err.partialAvps), rc, err.message, failed), performance.now())
    } else {
      const abbrev = defaultDictionary().command(header.commandCode)?.requestAbbrev ?? String(header.commandCode)
      this.sendPlain(peer, req, abbrev, rc, err.message, failed)
    }
  }

  private drain(limitMs: number): Promise<void> {
    if (this.inFlight === 0) return Promise.resolve()
    return Promise.race([new Promise<void>((resolve) => this.drainWaiters.push(resolve)), sleep(limitMs)])
  }

  // ------------------------------------------------------------------------------------------
  // Server-initiated requests

  private onAccountEvent(e: AccountEvent): void {
    const kind = e.type === 'reauth' ? 'RAR' : 'ASR'
    for (const sid of e.sessions) {
      void this.eventRequest(e, kind, sid).then(
        (rc) => {
          if (rc !== null) this.opts.log.info({ sessionId: sid, accountId: e.accountId, reason: e.reason, command: kind, resultCode: rc ?? 'timeout' }, 'server-initiated request answered')
        },
        (err: unknown) => this.opts.log.warn({ sessionId: sid, command: kind, err: String(err) }, 'server-initiated request failed'),
      )
    }
  }

  /**
   * One event's RAR/ASR to one session, from this node if it has an open connection to the
   * session's client — by the route stored with the session, else by the one this node saw — and
   * wins the claim on it: every node hears every event, and several may reach the client (a PGW
   * connected to two nodes, a node restarted since the session's last CCR). null: not sent here.
   */
  private async eventRequest(e: AccountEvent, kind: 'RAR' | 'ASR', sessionId: string): Promise<number | undefined | null> {
    const stored = parseRoute(await this.opts.charging.sessionRoute(e.accountId, sessionId))
    const route = [stored, this.sessionPeers.get(sessionId)].find((r) => r !== undefined && this.peers.get(r.peer)?.state === 'Open')
    if (route === undefined) return null
    // An event from a node of an earlier version carries no id: sent as before, by the nodes that saw the session.
    if (e.id !== undefined && !(await this.opts.charging.claimServerRequest(e.accountId, e.id, sessionId, SERVER_REQUEST_CLAIM_MS))) return null
    return this.serverRequest(kind, sessionId, route)
  }

  private async serverRequest(kind: 'RAR' | 'ASR', sessionId: string, route: SessionRoute | undefined): Promise<number | undefined> {
    const peer = route === undefined ? undefined : this.peers.get(route.peer)
    if (route === undefined || peer === undefined || peer.state !== 'Open') return undefined
    const avps: AvpInput[] = [
      { name: 'Session-Id', value: sessionId },
      { name: 'Origin-Host', value: this.local.originHost },
      { name: 'Origin-Realm', value: this.local.originRealm },
      // The client that sent the CCRs, which a relay between us routes to (RFC 4006 §5.5, RFC 6733 §6.1).
      { name: 'Destination-Realm', value: route.realm },
      { name: 'Destination-Host', value: route.host },
      { name: 'Auth-Application-Id', value: CREDIT_CONTROL_APPLICATION },
    ]
    if (kind === 'RAR') avps.push({ name: 'Re-Auth-Request-Type', value: 'AUTHORIZE_ONLY' })
    const answer = await peer.request(
      { commandCode: kind === 'RAR' ? CMD.RAR : CMD.ASR, applicationId: CREDIT_CONTROL_APPLICATION, flags: { proxiable: true }, avps },
      this.opts.answerTimeoutMs ?? 5000,
    )
    const rc = PeerConnection.resultCode(answer)
    this.opts.metrics.requests.inc({ protocol: 'diameter', command: kind, type: '-', result: rc === undefined ? 'timeout' : String(rc) })
    if (kind === 'ASR' && rc === RC.SUCCESS) this.sessionPeers.delete(sessionId)
    return rc
  }
}

/**
 * Where a CCR's session is reached. A CCR that went through a relay or proxy carries Route-Record
 * (RFC 6733 §6.1.9): then its Origin-Host/Realm name the client behind it. Otherwise the peer is the client.
 */
function routeOf(peer: PeerConnection, req: DiameterMessage): SessionRoute | undefined {
  if (peer.originHost === undefined) return undefined
  const relayed = findAvp(req.avps, 'Route-Record') !== undefined
  return {
    peer: peer.originHost.toLowerCase(),
    host: (relayed ? avpString(findAvp(req.avps, 'Origin-Host')) : undefined) ?? peer.originHost,
    realm: (relayed ? avpString(findAvp(req.avps, 'Origin-Realm')) : undefined) ?? peer.originRealm ?? '',
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref())
}

/**
 * The answer's AVPs followed by the request's Proxy-Info AVPs, unchanged and in their order: RFC 6733
 * §6.2 (a proxy that added Proxy-Info to a request finds its state in the answer, §6.7.3).
 */
export function withProxyInfo(req: Pick<DiameterMessage, 'avps'>, avps: AvpInput[]): AvpInput[] {
  const proxyInfo = findAvps(req.avps, 'Proxy-Info')
  return proxyInfo.length === 0 ? avps : [...avps, ...proxyInfo]
}

/**
 * Failed-AVP content from the bytes of an AVP that did not decode: a copy whose AVP Length matches the
 * bytes we have (a lying length copied verbatim would make our own answer undecodable), capped at 1 KiB.
 */
export function wellFormedAvp(bytes: Buffer): AvpInput | undefined {
  if (bytes.length < 8) return undefined
  const hdr = (bytes[4] & 0x80) !== 0 ? 12 : 8
  const len = Math.min(bytes.length, 1024)
  if (len < hdr) return undefined
  const copy = Buffer.from(bytes.subarray(0, len))
  copy[5] = (len >>> 16) & 0xff
  copy[6] = (len >>> 8) & 0xff
  copy[7] = len & 0xff
  return verbatimAvp(copy)
}
