// RFC 5176 Dynamic Authorization client: sends Disconnect-Request and CoA-Request to a NAS's
// listener and waits for its ACK/NAK. Retransmits the very same octets (same Identifier and
// Request Authenticator, RFC 5080 2.2.1) with exponential backoff, verifies every reply's Response
// Authenticator (and Message-Authenticator when present) in constant time, reads Error-Cause from
// a NAK, and counts each outcome. Bounded: at most `maxPending` requests in flight.

import dgram from 'node:dgram';

import type { Component } from '../lib/lifecycle.js';
import type { Logger } from '../lib/logger.js';
import type { Metrics } from '../metrics/metrics.js';
import { verifyReply } from './authenticator.js';
import { canonicalAddress } from './clients.js';
import { RadiusCode, decode, encode, getAttribute, type RadiusAttributeInput } from './codec.js';

export type DynamicAuthKind = 'coa' | 'disconnect';

export interface DynamicAuthTarget {
  readonly address: string;
  readonly port: number;
  readonly secret: string;
}

export type DynamicAuthResult =
  | { readonly result: 'ack' }
  | { readonly result: 'nak'; readonly errorCause?: number; readonly errorCauseName?: string }
  | { readonly result: 'timeout' };

export interface CoaClientOptions {
  readonly log: Logger;
  readonly metrics: Metrics;
  /** First wait for a reply; each retransmission waits `backoff` times longer. */
  readonly timeoutMs?: number;
  readonly retries?: number;
  readonly backoff?: number;
  readonly maxPending?: number;
  /** Local address to send from (the NAS checks it against its CoA client list); default: any. */
  readonly bindAddress?: string;
}

interface Pending {
  readonly kind: DynamicAuthKind;
  readonly target: DynamicAuthTarget;
  readonly packet: Buffer;
  readonly authenticator: Buffer;
  readonly resolve: (r: DynamicAuthResult) => void;
  timer: NodeJS.Timeout | undefined;
  attempt: number;
}

const REPLY_CODES: Readonly<Record<DynamicAuthKind, { ack: number; nak: number; request: number }>> = {
  disconnect: { request: RadiusCode.DisconnectRequest, ack: RadiusCode.DisconnectAck, nak: RadiusCode.DisconnectNak },
  coa: { request: RadiusCode.CoaRequest, ack: RadiusCode.CoaAck, nak: RadiusCode.CoaNak },
};

export class CoaClient implements Component {
  readonly name = 'radius-coa-client';
  private sock4: dgram.Socket | undefined;
  private sock6: dgram.Socket | undefined;
  private readonly pending = new Map<string, Pending>();
  private readonly cursor = new Map<string, number>();
  private readonly timeoutMs: number;
  private readonly retries: number;
  private readonly backoff: number;
  private readonly maxPending: number;

  constructor(private readonly opts: CoaClientOptions) {
    this.timeoutMs = opts.timeoutMs ?? 1000;
    this.retries = opts.retries ?? 3;
    this.backoff = opts.backoff ?? 2;
    this.maxPending = opts.maxPending ?? 4096;
  }

  async start(): Promise<void> {
    const bind = this.opts.bindAddress;
    const v6 = bind !== undefined && bind.includes(':');
    if (!v6) this.sock4 = await this.open('udp4', bind);
    // IPv6 NAS are reached from a second socket when the host has IPv6 at all.
    try {
      this.sock6 = await this.open('udp6', v6 ? bind : undefined);
    } catch (err) {
      this.opts.log.debug({ err: (err as Error).message }, 'no IPv6 socket for CoA/Disconnect');
    }
  }

  async stop(): Promise<void> {
    for (const p of this.pending.values()) {
      if (p.timer) clearTimeout(p.timer);
      p.resolve({ result: 'timeout' });
    }
    this.pending.clear();
    await Promise.all(
      [this.sock4, this.sock6].map(
        (s) => new Promise<void>((res) => (s === undefined ? res() : s.close(() => res()))),
      ),
    );
    this.sock4 = this.sock6 = undefined;
  }

  get inFlight(): number {
    return this.pending.size;
  }

  /**
   * Sends one Disconnect-Request or CoA-Request and resolves with the NAS's answer, or 'timeout'
   * after the last retransmission. Never rejects.
   */
  send(kind: DynamicAuthKind, target: DynamicAuthTarget, attributes: readonly RadiusAttributeInput[]): Promise<DynamicAuthResult> {
    return new Promise<DynamicAuthResult>((resolve) => {
      const finish = (r: DynamicAuthResult): void => {
        this.opts.metrics.coaSent.inc({ kind, result: r.result });
        resolve(r);
      };
      const address = canonicalAddress(target.address);
      const sock = address === undefined ? undefined : address.includes(':') ? this.sock6 : this.sock4;
      if (address === undefined || sock === undefined) {
        this.opts.log.warn({ kind, nas: target.address }, 'cannot send to this NAS address');
        finish({ result: 'timeout' });
        return;
      }
      const id = this.pending.size >= this.maxPending ? undefined : this.allocateId(address);
      if (id === undefined) {
        this.opts.log.warn({ kind, nas: address }, 'too many CoA/Disconnect requests in flight; not sent');
        finish({ result: 'timeout' });
        return;
      }
      let packet: Buffer;
      try {
        // Message-Authenticator first (BlastRADIUS hardening), Event-Timestamp for replay protection (RFC 5176 3.6).
        packet = encode(
          { code: REPLY_CODES[kind].request, identifier: id, attributes: [...attributes, ['Event-Timestamp', new Date()]] },
          { secret: target.secret, messageAuthenticator: true },
        );
      } catch (err) {
        this.opts.log.error({ kind, err: (err as Error).message }, 'cannot encode CoA/Disconnect request');
        finish({ result: 'timeout' });
        return;
      }
      const key = `${address}|${id}`;
      const p: Pending = {
        kind,
        target: { ...target, address },
        packet,
        authenticator: Buffer.from(packet.subarray(4, 20)),
        resolve: (r) => {
          if (p.timer) clearTimeout(p.timer);
          this.pending.delete(key);
          finish(r);
        },
        timer: undefined,
        attempt: 0,
      };
      this.pending.set(key, p);
      const transmit = (): void => {
        sock.send(p.packet, target.port, address, (err) => {
          if (err) this.opts.log.debug({ kind, nas: address, err: err.message }, 'CoA/Disconnect send failed');
        });
        const wait = this.timeoutMs * this.backoff ** p.attempt;
        p.timer = setTimeout(() => {
          if (this.pending.get(key) !== p) return;
          if (p.attempt >= this.retries) {
            p.resolve({ result: 'timeout' });
            return;
          }
          p.attempt += 1;
          transmit();
        }, wait);
        p.timer.unref();
      };
      transmit();
    });
  }

  private allocateId(address: string): number | undefined {
    const start = this.cursor.get(address) ?? Math.floor(Math.random() * 256);
    for (let i = 0; i < 256; i++) {
      const id = (start + i) & 0xff;
      if (!this.pending.has(`${address}|${id}`)) {
        this.cursor.set(address, (id + 1) & 0xff);
        if (this.cursor.size > 65_536) this.cursor.delete(this.cursor.keys().next().value as string);
        return id;
      }
    }
    return undefined;
  }

  private onReply(msg: Buffer, from: string): void {
    if (msg.length < 20) return;
    const address = canonicalAddress(from);
    const p = address === undefined ? undefined : this.pending.get(`${address}|${msg[1]}`);
    if (p === undefined) {
      this.opts.metrics.radiusDropped.inc({ reason: 'unexpected-reply' });
      return;
    }
    const codes = REPLY_CODES[p.kind];
    if (msg[0] !== codes.ack && msg[0] !== codes.nak) {
      this.opts.metrics.radiusDropped.inc({ reason: 'unexpected-reply' });
      return;
    }
    const verdict = verifyReply(msg, p.authenticator, p.target.secret);
    if (!verdict.ok) {
      // Not from the NAS (or a wrong secret): keep waiting for a genuine answer.
      this.opts.metrics.radiusDropped.inc({ reason: 'bad-authenticator' });
      return;
    }
    if (msg[0] === codes.ack) {
      p.resolve({ result: 'ack' });
      return;
    }
    let errorCause: number | undefined;
    let errorCauseName: string | undefined;
    try {
      const a = getAttribute(decode(msg), 'Error-Cause');
      if (typeof a?.value === 'number') {
        errorCause = a.value;
        errorCauseName = a.valueName;
      }
    } catch {
      // A NAK we cannot fully decode is still a NAK.
    }
    p.resolve({ result: 'nak', ...(errorCause !== undefined ? { errorCause } : {}), ...(errorCauseName !== undefined ? { errorCauseName } : {}) });
  }

  private open(type: 'udp4' | 'udp6', address: string | undefined): Promise<dgram.Socket> {
    return new Promise((resolve, reject) => {
      const s = dgram.createSocket({ type, ipv6Only: type === 'udp6' });
      s.once('error', reject);
      s.bind({ port: 0, address, exclusive: true }, () => {
        s.removeListener('error', reject);
        s.on('error', (err) => this.opts.log.warn({ err: err.message }, 'CoA client socket error'));
        s.on('message', (msg, rinfo) => this.onReply(msg, rinfo.address));
        resolve(s);
      });
    });
  }
}
