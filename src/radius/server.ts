// The RADIUS front end: UDP authentication and accounting listeners (RFC 2865, RFC 2866), the
// per-datagram pipeline in front of the handlers, and the RFC 5176 client for Disconnect/CoA.
//
// Every datagram goes through, in order (cheapest first):
//   1. NAS lookup by source address          unknown → dropped, counted 'unknown-nas'   (RFC 2865 3)
//   2. header sanity, code for this port     else    → dropped, counted 'malformed' / 'unexpected-code'
//   3. RFC 5080 duplicate cache              answered → same reply again; in progress → dropped 'duplicate'
//   4. overload: queued too long             while overloaded, a datagram that waited in the socket
//                                            queue past radius.maxQueueWaitMs → dropped 'stale'
//      in-flight bound                       full    → dropped 'overload' (the NAS retransmits)
//   5. authenticators (constant time)        wrong   → dropped 'bad-authenticator'
//   6. decode                                broken  → dropped 'malformed'
//   7. handler → core → reply               accounting: more than maxReportsPerSession reports of one
//                                            session at once → dropped 'busy'
// Nothing a peer sends can throw out of the pipeline.

import dgram from 'node:dgram';
import { hostname } from 'node:os';
import { performance } from 'node:perf_hooks';

import { holdRedisWrites } from '../balance/connect.js';
import { RadiusSessionStore } from '../balance/radius-sessions.js';
import type { BalanceStore } from '../balance/store.js';
import type { Config } from '../config/schema.js';
import type { ChargingService } from '../core/charging.js';
import type { AccountEvents } from '../core/events.js';
import type { Component } from '../lib/lifecycle.js';
import type { Logger } from '../lib/logger.js';
import type { SecretBox } from '../lib/secrets.js';
import type { Metrics } from '../metrics/metrics.js';
import { AcctHandler, ITEM_KEY } from './acct-handler.js';
import { AuthHandler, REJECT_MESSAGES } from './auth-handler.js';
import { verifyRequest } from './authenticator.js';
import { NasClients, type NasClient } from './clients.js';
import { CoaClient } from './coa-client.js';
import { RadiusCode, decode, encode, type RadiusAttributeInput, type RadiusPacket } from './codec.js';
import { DuplicateCache } from './dedup.js';
import { defaultDictionary } from './dictionary.js';
import { Enforcer, type FairUsagePolicy } from './enforcer.js';
import { RadiusDecodeError } from './errors.js';
import { QueueProbe } from './queue-probe.js';
import { SessionTable } from './sessions.js';

export interface RadiusServerOptions {
  readonly config: Config['radius'];
  readonly charging: ChargingService;
  readonly store: BalanceStore;
  readonly secrets: SecretBox;
  readonly events: AccountEvents;
  readonly metrics: Metrics;
  readonly log: Logger;
  /** Acct-Interim-Interval sent in every Access-Accept (raised to the NAS profile's minimum). Default 300. */
  readonly interimIntervalSeconds?: number;
  /** Requests being processed at once; beyond it datagrams are dropped and counted. Default 2000. */
  readonly maxInFlight?: number;
  /** Sessions remembered on this node (counters, CoA addressing). Default 200,000. */
  readonly maxSessions?: number;
  /** Accounting reports of one session queued or in progress at once; beyond: dropped, counted 'busy'. Default: config maxReportsPerSession (8). */
  readonly maxReportsPerSession?: number;
  /** RFC 5080 duplicate cache: entries per port and how long a reply is kept. Default 65,536 / 30 s. */
  readonly duplicateCacheSize?: number;
  readonly duplicateTtlMs?: number;
  /** Disconnect/CoA: first wait, retransmissions, backoff factor. Default 1000 ms, 3, ×2. */
  readonly coa?: { readonly timeoutMs?: number; readonly retries?: number; readonly backoff?: number };
  /** Line rate assumed to size the Session-Timeout of a NAS without CoA listener (pppd). Default 100 Mbit/s. */
  readonly lineRateBitsPerSecond?: number;
  /** Longest Session-Timeout sent. Default 86,400 s. */
  readonly maxSessionTimeoutSeconds?: number;
  /** Throttle sessions by CoA past this volume. Default: off. */
  readonly fairUsage?: FairUsagePolicy;
  /** This node's name, on its claims to send a Disconnect/CoA (config nodeId). Default: host name and pid. */
  readonly nodeId?: string;
  /** A RADIUS session's state in Redis expires this long after its last report. Default: 3 interim intervals, at least a day. */
  readonly sessionRecordTtlSeconds?: number;
  /** A closed session's state stays this long, so a late report of it is not a new session. Default 600. */
  readonly closedSessionTtlSeconds?: number;
  /**
   * Queue-wait shedding (config maxQueueWaitMs) stays on this long after the last datagram dropped at
   * the in-flight bound. Default 20 ms: short on purpose, since a dropped RADIUS request costs its NAS
   * a retransmission seconds later; shed only while requests are being dropped anyway (a flood drops
   * at the bound all the time), not after a burst the server catches up from (with 100 ms, a bound
   * of 32 at half load shed 10-40 times more; BENCHMARKS.md).
   */
  readonly overloadHoldMs?: number;
}

type Port = 'auth' | 'acct';

/**
 * Requests in progress from which the Redis commands of a poll phase's datagrams are held to its end
 * (see receive()). Measured with the C load generator: 128 sessions at once, 3-5 % more Interim-Updates/s
 * (~1.25 → ~0.3 write syscalls per request); 16 at once, holding every time cost 30 % (each batch waited
 * for the poll phase), with this bound nothing.
 */
const HOLD_FROM = 32;

const COMMAND: Readonly<Record<Port, string>> = { auth: 'Access-Request', acct: 'Accounting-Request' };

export class RadiusServer implements Component {
  readonly name = 'radius';
  /** Bound ports, known after start() (0 in the config = a free port was picked). */
  authPort = 0;
  acctPort = 0;

  private readonly clients: NasClients;
  private readonly sessions: SessionTable;
  private readonly coa: CoaClient;
  private readonly enforcer: Enforcer;
  private readonly auth: AuthHandler;
  private readonly acct: AcctHandler;
  private readonly dup: Record<Port, DuplicateCache>;
  private readonly maxInFlight: number;
  private readonly maxQueueWaitMs: number;
  private readonly overloadHoldMs: number;
  private probes: Partial<Record<Port, QueueProbe>> = {};
  private readonly running = new Set<Promise<void>>();
  private sockets: Partial<Record<Port, dgram.Socket>> = {};
  private unsubscribe: (() => void) | undefined;
  private accepting = false;

  constructor(private readonly opts: RadiusServerOptions) {
    const { charging, store, secrets, metrics, log } = opts;
    this.clients = new NasClients(opts.config.clients);
    this.maxInFlight = opts.maxInFlight ?? opts.config.maxInFlight ?? 2000;
    this.maxQueueWaitMs = opts.config.maxQueueWaitMs ?? 1;
    this.overloadHoldMs = opts.overloadHoldMs ?? 20;
    const closedTtlMs = (opts.closedSessionTtlSeconds ?? 600) * 1000;
    this.sessions = new SessionTable(opts.maxSessions ?? 200_000, closedTtlMs);
    const state = new RadiusSessionStore(store.redis);
    const wildcard = opts.config.host === '0.0.0.0' || opts.config.host === '::';
    this.coa = new CoaClient({ log, metrics, ...(opts.coa ?? {}), ...(wildcard ? {} : { bindAddress: opts.config.host }) });
    // A claim on a Disconnect/CoA outlives the request's last retransmission (RFC 5080 backoff).
    const { timeoutMs = 1000, retries = 3, backoff = 2 } = opts.coa ?? {};
    let coaMs = 0;
    for (let i = 0; i <= retries; i++) coaMs += timeoutMs * backoff ** i;
    this.enforcer = new Enforcer({
      coa: this.coa,
      state,
      clients: this.clients,
      charging,
      store,
      log,
      nodeId: opts.nodeId ?? `${hostname()}-${process.pid}`,
      itemKey: ITEM_KEY,
      claimTtlMs: Math.ceil(coaMs) + 15_000,
      ...(opts.fairUsage ? { fairUsage: opts.fairUsage } : {}),
    });
    this.auth = new AuthHandler({
      charging,
      store,
      secrets,
      log,
      interimIntervalSeconds: opts.interimIntervalSeconds ?? 300,
      lineRateBitsPerSecond: opts.lineRateBitsPerSecond ?? 100_000_000,
      maxSessionTimeoutSeconds: opts.maxSessionTimeoutSeconds ?? 86_400,
    });
    const interim = opts.interimIntervalSeconds ?? 300;
    this.acct = new AcctHandler({
      charging,
      state,
      sessions: this.sessions,
      enforcer: this.enforcer,
      log,
      recordTtlMs: (opts.sessionRecordTtlSeconds ?? Math.max(86_400, 3 * interim)) * 1000,
      closedTtlMs,
      maxReportsPerSession: opts.maxReportsPerSession ?? opts.config.maxReportsPerSession,
    });
    const size = opts.duplicateCacheSize ?? 65_536;
    const ttl = opts.duplicateTtlMs ?? 30_000;
    this.dup = { auth: new DuplicateCache(size, ttl), acct: new DuplicateCache(size, ttl) };
  }

  async start(): Promise<void> {
    // A broken dictionary file stops start-up here, not on the first packet.
    defaultDictionary();
    await this.coa.start();
    try {
      this.sockets.auth = await this.bind('auth', this.opts.config.authPort);
      this.sockets.acct = await this.bind('acct', this.opts.config.acctPort);
    } catch (err) {
      await this.closeSockets();
      await this.coa.stop();
      throw err;
    }
    this.authPort = this.sockets.auth.address().port;
    this.acctPort = this.sockets.acct.address().port;
    if (this.maxQueueWaitMs > 0) {
      await this.startProbe('auth', this.authPort);
      await this.startProbe('acct', this.acctPort);
    }
    this.unsubscribe = this.opts.events.on((e) => this.enforcer.onAccountEvent(e));
    this.accepting = true;
    this.opts.log.info(
      { host: this.opts.config.host, authPort: this.authPort, acctPort: this.acctPort, clients: this.clients.size },
      'RADIUS listening',
    );
  }

  async stop(): Promise<void> {
    this.accepting = false;
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    // Let requests in progress answer (bounded), then close.
    await withTimeout(Promise.allSettled([...this.running]), 2000);
    await withTimeout(Promise.all([this.acct.drain(), this.enforcer.drain()]), 500);
    await this.coa.stop();
    for (const probe of Object.values(this.probes)) probe.stop();
    this.probes = {};
    await this.closeSockets();
  }

  /** Requests being processed now. */
  get inFlight(): number {
    return this.running.size;
  }

  private async bind(port: Port, number: number): Promise<dgram.Socket> {
    const host = this.opts.config.host;
    const sock = dgram.createSocket({ type: host.includes(':') ? 'udp6' : 'udp4', reuseAddr: false });
    await new Promise<void>((resolve, reject) => {
      sock.once('error', reject);
      sock.bind({ port: number, address: host, exclusive: true }, () => {
        sock.removeListener('error', reject);
        resolve();
      });
    });
    // A burst of datagrams beyond the kernel's default buffer (~200 KiB) is dropped unseen; ask for more.
    const wanted = this.opts.config.socketBufferBytes ?? 4_194_304;
    try {
      sock.setRecvBufferSize(wanted);
    } catch (err) {
      this.opts.log.warn({ port, wanted, err: (err as Error).message }, 'RADIUS socket receive buffer not raised');
    }
    const got = sock.getRecvBufferSize();
    if (got < wanted) this.opts.log.info({ port, wanted, got }, 'RADIUS socket receive buffer capped by the kernel (raise net.core.rmem_max)');
    sock.on('error', (err) => this.opts.log.warn({ port, err: err.message }, 'RADIUS socket error'));
    sock.on('message', (msg, rinfo) => this.receive(port, sock, msg, rinfo));
    return sock;
  }

  /** Starts the socket-queue probe of one port (queue-probe.ts); without one, no queue-wait shedding. */
  private async startProbe(port: Port, number: number): Promise<void> {
    const host = this.opts.config.host;
    const address = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
    const probe = new QueueProbe({ target: { address, port: number }, bindAddress: address });
    let problem: string | undefined;
    try {
      await probe.start();
      // receive() hands probes to it from here on; one must come back before shedding relies on them.
      this.probes[port] = probe;
      if (!(await probe.check())) problem = 'a probe sent to the socket did not come back within 1 s';
    } catch (err) {
      problem = (err as Error).message;
    }
    if (problem === undefined) return;
    delete this.probes[port];
    probe.stop();
    this.opts.log.warn({ port, address, err: problem }, 'RADIUS queue probe not started: no queue-wait shedding under overload');
  }

  private async closeSockets(): Promise<void> {
    const socks = Object.values(this.sockets);
    this.sockets = {};
    await Promise.all(socks.map((s) => new Promise<void>((res) => s.close(() => res()))));
  }

  private drop(reason: string): void {
    this.opts.metrics.radiusDropped.inc({ reason });
  }

  /** Steps 1-6 of the pipeline, synchronous; step 7 runs as tracked async work. */
  private receive(port: Port, sock: dgram.Socket, msg: Buffer, rinfo: dgram.RemoteInfo): void {
    const probe = this.probes[port];
    if (probe?.take(msg, rinfo)) return;
    if (!this.accepting) return;
    try {
      const { source, client } = this.clients.identify(rinfo.address);
      if (client === undefined) return this.drop('unknown-nas');
      if (msg.length < 20 || msg.readUInt16BE(2) < 20 || msg.readUInt16BE(2) > Math.min(msg.length, 4096)) {
        this.opts.metrics.malformed.inc({ protocol: 'radius', reason: 'length' });
        return this.drop('malformed');
      }
      const code = msg[0];
      const allowed = code === RadiusCode.StatusServer || code === (port === 'auth' ? RadiusCode.AccessRequest : RadiusCode.AccountingRequest);
      if (!allowed) return this.drop('unexpected-code');

      const now = Date.now();
      const cache = this.dup[port];
      const dkey = DuplicateCache.key(source, rinfo.port, msg);
      const seen = cache.lookup(dkey, now);
      if (seen.kind === 'answered' || seen.kind === 'acknowledged') {
        this.opts.metrics.tolerated.inc({ protocol: 'radius', kind: 'retransmission' });
        const reply = seen.kind === 'answered' ? seen.reply : accountingResponse(msg[1], msg.subarray(4, 20), client.secret, seen.messageAuthenticator);
        sock.send(reply, rinfo.port, rinfo.address);
        return;
      }
      if (seen.kind === 'pending') return this.drop('duplicate');
      if (probe !== undefined) {
        // While overloaded, answer fresh requests rather than ones that queued so long that the
        // answer is late anyway: same throughput, bounded latency for what is answered (CoDel's idea).
        const t = performance.now();
        if (probe.waitMs(t) > this.maxQueueWaitMs) {
          this.opts.metrics.overload.inc({ protocol: 'radius' });
          return this.drop('stale');
        }
      }
      if (this.running.size >= this.maxInFlight) {
        probe?.keepActive(performance.now(), this.overloadHoldMs);
        this.opts.metrics.overload.inc({ protocol: 'radius' });
        return this.drop('overload');
      }
      // Taken: a retransmission from now on is a duplicate of a request in progress.
      cache.begin(dkey, now);
      const verdict = verifyRequest(msg, client.secret);
      if (!verdict.ok) {
        cache.forget(dkey);
        if (verdict.reason === 'malformed') this.opts.metrics.malformed.inc({ protocol: 'radius', reason: 'attributes' });
        return this.drop(verdict.reason === 'malformed' ? 'malformed' : 'bad-authenticator');
      }
      let packet: RadiusPacket;
      try {
        packet = decode(msg);
      } catch (err) {
        cache.forget(dkey);
        this.opts.metrics.malformed.inc({ protocol: 'radius', reason: err instanceof RadiusDecodeError ? err.code : 'decode' });
        return this.drop('malformed');
      }
      const hasMa = verdict.messageAuthenticator === 'valid';
      // Each datagram is its own libuv callback, so the per-tick cork of the Redis socket writes one
      // command per syscall. Under load, the commands of the datagrams read in one poll phase are
      // held to its end and leave together (at most 16 a write); with few requests in progress,
      // holding only adds latency.
      if (this.running.size >= HOLD_FROM) holdRedisWrites(this.opts.store.redis);
      const work = this.serve(port, sock, rinfo, packet, client, source, hasMa, dkey);
      this.running.add(work);
      // (then, not finally: serve() never rejects, and finally costs two more promises a request)
      void work.then(() => this.running.delete(work));
    } catch (err) {
      this.opts.log.error({ port, err: err instanceof Error ? err.message : String(err) }, 'RADIUS datagram handling failed');
      this.drop('internal');
    }
  }

  /** Step 7 for a request taken: processed, recorded in the duplicate cache, answered. Never rejects. */
  private async serve(port: Port, sock: dgram.Socket, rinfo: dgram.RemoteInfo, packet: RadiusPacket, client: NasClient, source: string, hasMa: boolean, dkey: string): Promise<void> {
    const cache = this.dup[port];
    try {
      const reply = await this.process(port, packet, client, source, hasMa);
      if (reply === undefined) {
        cache.forget(dkey);
        return;
      }
      if (packet.code === RadiusCode.AccountingRequest) cache.acknowledge(dkey, hasMa, Date.now());
      else cache.answer(dkey, reply, Date.now());
      if (this.sockets[port] === sock) sock.send(reply, rinfo.port, rinfo.address);
    } catch (err) {
      cache.forget(dkey);
      this.opts.log.error({ port, err: err instanceof Error ? err.message : String(err) }, 'RADIUS request failed');
    }
  }

  /** The handler's decision as reply octets, or undefined for no reply. */
  private async process(port: Port, packet: RadiusPacket, client: NasClient, source: string, hasMa: boolean): Promise<Buffer | undefined> {
    const { metrics, log } = this.opts;
    const command = packet.code === RadiusCode.StatusServer ? 'Status-Server' : COMMAND[port];
    const end = metrics.requestDuration.startTimer({ protocol: 'radius', command });
    const sign = { secret: client.secret, requestAuthenticator: packet.authenticator };
    try {
      if (packet.code === RadiusCode.StatusServer) {
        // RFC 5997: alive; answered with the port's reply code, Message-Authenticator included.
        metrics.requests.inc({ protocol: 'radius', command, type: '-', result: 'ok' });
        return encode(
          { code: port === 'auth' ? RadiusCode.AccessAccept : RadiusCode.AccountingResponse, identifier: packet.identifier },
          { ...sign, messageAuthenticator: true, replyMessageAuthenticatorVector: 'request' },
        );
      }
      if (port === 'auth') {
        const d = await this.auth.handle(packet, client);
        if (d.kind === 'drop') {
          log.warn({ nas: source, err: d.reason }, 'Access-Request not answered: charging unavailable');
          this.drop('unavailable');
          metrics.requests.inc({ protocol: 'radius', command, type: '-', result: 'unavailable' });
          return undefined;
        }
        metrics.requests.inc({ protocol: 'radius', command, type: '-', result: d.kind });
        const attributes: RadiusAttributeInput[] = d.kind === 'accept' ? d.attributes : [['Reply-Message', REJECT_MESSAGES[d.reason]]];
        if (d.kind === 'reject') log.info({ nas: source, reason: d.reason }, 'Access-Reject');
        // Message-Authenticator in every Access reply (RFC 3579 3.2; BlastRADIUS hardening).
        return encode({ code: d.kind === 'accept' ? RadiusCode.AccessAccept : RadiusCode.AccessReject, identifier: packet.identifier, attributes }, { ...sign, messageAuthenticator: true });
      }
      const d = await this.acct.handle(packet, client, source);
      if (d.kind === 'drop') {
        if (d.reason === 'malformed') metrics.malformed.inc({ protocol: 'radius', reason: 'accounting' });
        this.drop(d.reason);
        metrics.requests.inc({ protocol: 'radius', command, type: d.type, result: d.reason });
        // A flood on one session is counted, not logged line by line (as the in-flight bound's drops).
        if (d.reason !== 'busy') log.warn({ nas: source, type: d.type, reason: d.reason, err: d.detail }, 'Accounting-Request not answered');
        return undefined;
      }
      metrics.requests.inc({ protocol: 'radius', command, type: d.type, result: d.result });
      return accountingResponse(packet.identifier, packet.authenticator, client.secret, hasMa);
    } finally {
      end();
    }
  }
}

/**
 * The Accounting-Response to a request: no attributes, a Message-Authenticator when the request had
 * one. A pure function of its arguments, so the duplicate cache rebuilds it for a retransmission.
 */
function accountingResponse(identifier: number, requestAuthenticator: Buffer, secret: NasClient['secret'], messageAuthenticator: boolean): Buffer {
  return encode({ code: RadiusCode.AccountingResponse, identifier }, { secret, requestAuthenticator, messageAuthenticator });
}

async function withTimeout(p: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([p, new Promise<void>((res) => (timer = setTimeout(res, ms)))]);
  if (timer) clearTimeout(timer);
}
