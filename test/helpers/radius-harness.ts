// Test harness for the RADIUS front end: a real Redis, the charging core, a RadiusServer on free
// ports, NAS simulators sending from chosen loopback addresses (127.0.0.x, so each address can be
// a different NAS profile), and a fake NAS CoA/Disconnect listener.
import dgram from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import type { Test } from 'tap';

import { BalanceStore } from '../../src/balance/store.js';
import type { RadiusClientConfig } from '../../src/config/schema.js';
import { AccountEvents } from '../../src/core/events.js';
import { createLogger } from '../../src/lib/logger.js';
import { SecretBox } from '../../src/lib/secrets.js';
import { Metrics } from '../../src/metrics/metrics.js';
import { chapPassword, verifyRequest } from '../../src/radius/authenticator.js';
import { decode, encode, type RadiusAttributeInput, type RadiusPacket } from '../../src/radius/codec.js';
import { RadiusServer, type RadiusServerOptions } from '../../src/radius/server.js';
import { makeCore, type Core } from './core.js';
import { startRedis, type TestRedis } from './redis.js';

export const SECRET = 'testing123';

/** The demo plan's RADIUS tariff: 0.005 EUR per MiB = 5000 micro-EUR per 1048576 octets, rounded up. */
export function broadbandCost(octets: number | bigint): bigint {
  const o = BigInt(octets);
  return (o * 5000n + 1048575n) / 1048576n;
}

/** What `money` micro-EUR buy of the demo broadband service (as the server's quote computes it). */
export function affordableOctets(money: bigint): number {
  return Number((money * 2n ** 30n) / broadbandCost(2 ** 30));
}

/** The 5 MiB default quota a RADIUS session keeps reserved ahead of its usage. */
const MIB5 = 5 * 1024 * 1024;
const GIGAWORD = 2 ** 32;

/** A generic NAS on 127.0.0.1 and a pppd one on 127.0.0.4, with the test secret. */
export const TWO_NAS_CLIENTS = [
  { address: '127.0.0.1', secret: SECRET, vendor: 'generic' as const, coaPort: 3799 },
  { address: '127.0.0.4', secret: SECRET, vendor: 'pppd' as const, coaPort: 3799 },
];

/** Balance after usage U with a 5 MiB reservation kept ahead (the default quota). */
export function afterInterim(initial: bigint, used: number): { balance: bigint; reserved: bigint } {
  return { balance: initial - broadbandCost(used + MIB5), reserved: broadbandCost(used + MIB5) - broadbandCost(used) };
}

export interface ReportedCounters {
  in?: number;
  out?: number;
  time?: number;
  /** send Gigawords attributes (a NAS with 64-bit counters) */
  gigawords?: boolean;
}

/** An accounting report's counters as a NAS sends them (32-bit octets, Gigawords when asked). */
export function usageAttrs(c: ReportedCounters): RadiusAttributeInput[] {
  const a: RadiusAttributeInput[] = [];
  const inO = c.in ?? 0;
  const outO = c.out ?? 0;
  a.push(['Acct-Input-Octets', inO % GIGAWORD], ['Acct-Output-Octets', outO % GIGAWORD]);
  if (c.gigawords) a.push(['Acct-Input-Gigawords', Math.floor(inO / GIGAWORD)], ['Acct-Output-Gigawords', Math.floor(outO / GIGAWORD)]);
  if (c.time !== undefined) a.push(['Acct-Session-Time', c.time]);
  return a;
}

/** The attributes that identify one accounting session. */
export function sessionAttrs(user: string, asid: string, port: number, nasId = 'bnas-1', cls?: Buffer): RadiusAttributeInput[] {
  const a: RadiusAttributeInput[] = [
    ['User-Name', user],
    ['Acct-Session-Id', asid],
    ['NAS-Identifier', nasId],
    ['NAS-Port', port],
    ['Framed-IP-Address', `10.67.1.${port + 1}`],
  ];
  if (cls) a.push(['Class', cls]);
  return a;
}

export interface Harness {
  redis: TestRedis;
  core: Core;
  events: AccountEvents;
  metrics: Metrics;
  secrets: SecretBox;
  server: RadiusServer;
}

export interface HarnessOptions extends Partial<Omit<RadiusServerOptions, 'config' | 'charging' | 'store' | 'secrets' | 'events' | 'metrics' | 'log'>> {
  clients: RadiusClientConfig[];
  /** Share one Redis across harnesses of a file. */
  redis?: TestRedis;
  /** A Redis connection of this harness's own (another OCS node on the same Redis), instead of `redis.client`. */
  ownConnection?: boolean;
  logLevel?: string;
  /** radius.maxQueueWaitMs (default 1, as in the config). */
  maxQueueWaitMs?: number;
}

/** Starts Redis (unless given), the core and a RadiusServer on 127.0.0.1 with free ports; all closed at teardown. */
export async function startHarness(t: Test, opts: HarnessOptions): Promise<Harness> {
  const redis = opts.redis ?? (await startRedis());
  if (opts.redis === undefined) t.teardown(() => redis.stop());
  let client: Redis = redis.client;
  if (opts.ownConnection) {
    // Like connectRedis: commands of one tick share a round trip.
    client = new Redis({ port: redis.port, enableAutoPipelining: true });
  }
  const core = await makeCore(client);
  const events = new AccountEvents(client);
  await events.start();
  t.teardown(() => events.stop());
  const metrics = new Metrics(false);
  const secrets = SecretBox.withKey(randomBytes(32));
  const { clients, redis: _r, ownConnection: _o, logLevel, maxQueueWaitMs = 1, ...rest } = opts;
  const server = new RadiusServer({
    config: { host: '127.0.0.1', authPort: 0, acctPort: 0, interimIntervalSeconds: 300, clients, maxInFlight: 2000, maxQueueWaitMs, maxReportsPerSession: 8, socketBufferBytes: 4_194_304 },
    charging: core.charging,
    store: core.store,
    secrets,
    events,
    metrics,
    log: createLogger(logLevel ?? 'silent'),
    ...rest,
  });
  await server.start();
  t.teardown(() => server.stop());
  if (opts.ownConnection) t.teardown(() => client.disconnect());
  return { redis, core, events, metrics, secrets, server };
}

export interface SubscriberOptions {
  balance?: bigint;
  username: string;
  password?: string;
  msisdn?: string;
  /** Only the scrypt hash (an old subscriber): CHAP is then impossible. */
  hashOnly?: boolean;
  status?: 'active' | 'suspended' | 'barred';
  type?: 'prepaid' | 'postpaid';
  creditLimit?: bigint;
}

export async function makeSubscriber(h: Harness, o: SubscriberOptions): Promise<{ accountId: string; subscriberId: string }> {
  const store = h.core.store;
  const acct = await store.createAccount(
    {
      currency: 'EUR',
      type: o.type ?? 'prepaid',
      plan: 'demo',
      timezone: 'Europe/Paris',
      language: 'en',
      taxRegion: 'none',
      country: 'SE',
      status: o.status ?? 'active',
      creditLimit: o.creditLimit ?? 0n,
    },
    o.balance ?? 0n,
  );
  const password = o.password ?? `${o.username}pw`;
  const sub = await store.createSubscriber({
    account: acct.id,
    username: o.username,
    ...(o.msisdn ? { msisdn: o.msisdn } : {}),
    passwordHash: await BalanceStore.hashPassword(password),
    ...(o.hashOnly ? {} : { passwordSealed: h.secrets.seal(password) }),
  });
  return { accountId: acct.id, subscriberId: sub.id };
}

/**
 * The metric once it has reached `atLeast`, polled every 20 ms for up to REPLY_WAIT_MS (then whatever
 * it is): for counts that follow an exchange the test does not wait on itself (a NAS's ACK reaching
 * the OCS, a retry timer expiring), where a fixed sleep is a race on a loaded box.
 */
export async function metricReaches(h: Harness, name: string, labels: Record<string, string>, atLeast: number): Promise<number> {
  const deadline = Date.now() + REPLY_WAIT_MS;
  let v = await metricValue(h, name, labels);
  while (v < atLeast && Date.now() < deadline) {
    await sleep(20);
    v = await metricValue(h, name, labels);
  }
  return v;
}

/** Reads a counter of the registry: the sum over series whose labels include `labels`. */
export async function metricValue(h: Harness, name: string, labels: Record<string, string> = {}): Promise<number> {
  const m = h.metrics.registry.getSingleMetric(name);
  if (m === undefined) throw new Error(`no metric ${name}`);
  const data = await m.get();
  let sum = 0;
  for (const v of data.values) {
    if (Object.entries(labels).every(([k, want]) => String((v.labels as Record<string, unknown>)[k]) === want)) sum += v.value;
  }
  return sum;
}

export interface Reply {
  packet: RadiusPacket;
  raw: Buffer;
}

/**
 * How long a test NAS waits for an answer it expects: as long as the Diameter test client (5 s). It
 * does not retransmit, so on a loaded CI box a slow answer must not read as no answer. Where no answer
 * is the expected outcome, tests wait NO_REPLY_WAIT_MS instead.
 */
export const REPLY_WAIT_MS = 5000;
export const NO_REPLY_WAIT_MS = 1500;

/** A NAS: sends requests from `address` (any 127.0.0.x works on Linux loopback) and waits for replies. */
export class NasSim {
  private nextId = 0;
  private readonly waiters = new Map<number, (r: Buffer) => void>();

  private constructor(
    readonly socket: dgram.Socket,
    readonly secret: string,
    readonly serverAuthPort: number,
    readonly serverAcctPort: number,
  ) {
    socket.on('message', (msg) => {
      if (msg.length < 20) return;
      const w = this.waiters.get(msg[1]);
      if (w) {
        this.waiters.delete(msg[1]);
        w(msg);
      }
    });
  }

  static async open(t: Test, h: Harness, address = '127.0.0.1', secret = SECRET): Promise<NasSim> {
    const socket = dgram.createSocket('udp4');
    await new Promise<void>((res) => socket.bind(0, address, res));
    t.teardown(() => new Promise<void>((res) => socket.close(() => res())));
    return new NasSim(socket, secret, h.server.authPort, h.server.acctPort);
  }

  id(): number {
    this.nextId = (this.nextId + 1) & 0xff;
    return this.nextId;
  }

  /** Sends raw octets and waits for the reply with the same Identifier (undefined after `timeoutMs`). */
  sendRaw(buf: Buffer, port: number, timeoutMs = REPLY_WAIT_MS): Promise<Buffer | undefined> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiters.delete(buf[1]);
        resolve(undefined);
      }, timeoutMs);
      this.waiters.set(buf[1], (r) => {
        clearTimeout(timer);
        resolve(r);
      });
      this.socket.send(buf, port, '127.0.0.1');
    });
  }

  buildAuth(attributes: RadiusAttributeInput[], opts: { identifier?: number; messageAuthenticator?: boolean } = {}): Buffer {
    return encode({ code: 'Access-Request', identifier: opts.identifier ?? this.id(), attributes }, { secret: this.secret, messageAuthenticator: opts.messageAuthenticator ?? false });
  }

  buildAcct(attributes: RadiusAttributeInput[], opts: { identifier?: number; messageAuthenticator?: boolean } = {}): Buffer {
    return encode({ code: 'Accounting-Request', identifier: opts.identifier ?? this.id(), attributes }, { secret: this.secret, messageAuthenticator: opts.messageAuthenticator ?? false });
  }

  async auth(attributes: RadiusAttributeInput[], opts: { messageAuthenticator?: boolean; timeoutMs?: number } = {}): Promise<Reply | undefined> {
    const raw = await this.sendRaw(this.buildAuth(attributes, opts), this.serverAuthPort, opts.timeoutMs);
    return raw === undefined ? undefined : { raw, packet: decode(raw) };
  }

  pap(user: string, password: string, extra: RadiusAttributeInput[] = [], timeoutMs?: number): Promise<Reply | undefined> {
    return this.auth([['User-Name', user], ['User-Password', password], ['NAS-Identifier', 'test-nas'], ['NAS-Port', 0], ...extra], { timeoutMs });
  }

  chap(user: string, password: string, extra: RadiusAttributeInput[] = []): Promise<Reply | undefined> {
    const challenge = randomBytes(16);
    return this.auth([['User-Name', user], ['CHAP-Password', chapPassword(7, password, challenge)], ['CHAP-Challenge', challenge], ['NAS-Identifier', 'test-nas'], ...extra]);
  }

  async acct(attributes: RadiusAttributeInput[], opts: { identifier?: number; timeoutMs?: number } = {}): Promise<Reply | undefined> {
    const raw = await this.sendRaw(this.buildAcct(attributes, opts), this.serverAcctPort, opts.timeoutMs);
    return raw === undefined ? undefined : { raw, packet: decode(raw) };
  }
}

export interface ReceivedRequest {
  packet: RadiusPacket;
  raw: Buffer;
  verified: boolean;
  /** when it arrived (ms) */
  at: number;
}

export type CoaAnswer = { code: 'ack' } | { code: 'nak'; errorCause?: string } | { code: 'none' };

/** A NAS's RFC 5176 listener on a free UDP port of `address`: records what arrives and answers as `answer` says. */
export async function fakeCoaListener(
  t: Test,
  address: string,
  answer: (p: RadiusPacket) => CoaAnswer = () => ({ code: 'ack' }),
  secret = SECRET,
): Promise<{ port: number; received: ReceivedRequest[]; next(timeoutMs?: number): Promise<ReceivedRequest | undefined> }> {
  const socket = dgram.createSocket('udp4');
  const received: ReceivedRequest[] = [];
  let waiter: ((r: ReceivedRequest) => void) | undefined;
  let consumed = 0;
  socket.on('message', (msg, rinfo) => {
    let packet: RadiusPacket;
    try {
      packet = decode(msg);
    } catch {
      return;
    }
    const verified = verifyRequest(msg, secret).ok;
    const r = { packet, raw: msg, verified, at: Date.now() };
    received.push(r);
    if (waiter) {
      const w = waiter;
      waiter = undefined;
      consumed++;
      w(r);
    }
    if (!verified) return;
    const a = answer(packet);
    if (a.code === 'none') return;
    const isDm = packet.code === 40;
    const code = a.code === 'ack' ? (isDm ? 'Disconnect-ACK' : 'CoA-ACK') : isDm ? 'Disconnect-NAK' : 'CoA-NAK';
    const attributes: RadiusAttributeInput[] = a.code === 'nak' && a.errorCause ? [['Error-Cause', a.errorCause]] : [];
    socket.send(encode({ code, identifier: packet.identifier, attributes }, { secret, requestAuthenticator: packet.authenticator }), rinfo.port, rinfo.address);
  });
  await new Promise<void>((res) => socket.bind(0, address, res));
  t.teardown(() => new Promise<void>((res) => socket.close(() => res())));
  return {
    port: socket.address().port,
    received,
    next(timeoutMs = REPLY_WAIT_MS) {
      if (consumed < received.length) return Promise.resolve(received[consumed++]);
      return new Promise((resolve) => {
        const timer = setTimeout(() => {
          waiter = undefined;
          resolve(undefined);
        }, timeoutMs);
        waiter = (r) => {
          clearTimeout(timer);
          resolve(r);
        };
      });
    },
  };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
