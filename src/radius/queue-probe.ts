// How long datagrams wait in a RADIUS socket's kernel receive queue.
//
// Under a flood the server drops what it cannot take (the in-flight bound), but the datagrams it
// does take may have sat in the kernel's receive queue for a long time first: with a 4 MiB
// buffer and a CPU-starved event loop, ~100 ms (BENCHMARKS.md, "RADIUS under a flood"). Node
// exposes neither SO_TIMESTAMP nor the queue's length, so the wait is measured: a probe datagram,
// stamped with its send time, is sent to the listening socket over loopback from a socket of our
// own. The receive queue is FIFO, so a probe comes out after everything that arrived before it:
//   - a probe still queued after A ms means every datagram read now arrived before it: waited > A ms;
//   - a probe that took W ms to come out says the datagrams just behind it waited about W ms.
// waitMs() is the larger of the two: always a wait some probe really saw, never the time between
// two probes, so a server that drops what is above its target does not drop a request that came in
// fresh while the queue was short (an upper bound, now − send time of the last probe read, did:
// BENCHMARKS.md).
// Probing runs only while the server asks for it (it asks while overloaded), one probe in flight:
// the next goes out as soon as one comes back from a queue that held it ≥ intervalMs (a backlog
// to track closely), else after intervalMs, so at most ~1,000 small datagrams/s while the queue is
// short, and none while the server keeps up.

import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { performance } from 'node:perf_hooks';

const TOKEN_BYTES = 16;
const PROBE_BYTES = TOKEN_BYTES + 8;

export interface QueueProbeOptions {
  /** The listening socket's address as seen from this host, and its port. */
  readonly target: { readonly address: string; readonly port: number };
  /** Address to send from (a loopback or the host's own address, same family as the target). */
  readonly bindAddress: string;
  /** Probe pacing while the queue is short (see above). Default 1 ms. */
  readonly intervalMs?: number;
  /** A probe not back after this long is taken as lost (queue full) and replaced. Default 100 ms. */
  readonly lostAfterMs?: number;
}

export class QueueProbe {
  private sock: dgram.Socket | undefined;
  private address = '';
  private port = -1;
  private readonly token = randomBytes(TOKEN_BYTES);
  private readonly intervalMs: number;
  private readonly lostAfterMs: number;
  /** Send time of the probe in flight. */
  private sentAt: number | undefined;
  /** How long the last probe that came out had waited. */
  private lastWait = 0;
  private activeUntil = 0;
  private timer: NodeJS.Timeout | undefined;
  /** Probes that came back (for check()). */
  private returned = 0;

  constructor(private readonly opts: QueueProbeOptions) {
    this.intervalMs = opts.intervalMs ?? 1;
    this.lostAfterMs = opts.lostAfterMs ?? 100;
  }

  async start(): Promise<void> {
    const sock = dgram.createSocket(this.opts.bindAddress.includes(':') ? 'udp6' : 'udp4');
    await new Promise<void>((resolve, reject) => {
      sock.once('error', reject);
      sock.bind({ port: 0, address: this.opts.bindAddress }, () => {
        sock.removeListener('error', reject);
        resolve();
      });
    });
    sock.on('error', () => undefined); // a failed probe send is a lost probe, handled by lostAfterMs
    this.address = sock.address().address;
    this.port = sock.address().port;
    this.sock = sock;
  }

  /**
   * Sends one probe and tells whether it came back through the target socket within `timeoutMs`
   * (the server's receive path must already hand datagrams to take()). A probe that cannot come back
   * (no route to the address, a firewall) would read as an ever longer wait: the server then runs
   * without queue-wait shedding instead.
   */
  async check(timeoutMs = 1000): Promise<boolean> {
    const before = this.returned;
    this.keepActive(performance.now(), 0);
    const end = performance.now() + timeoutMs;
    while (this.returned === before && performance.now() < end) await new Promise((r) => setTimeout(r, 5));
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.sentAt = undefined;
    this.lastWait = 0;
    return this.returned > before;
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.sock?.close();
    this.sock = undefined;
    this.port = -1;
  }

  /** Whether the server asked for probing within its hold time. */
  active(now: number): boolean {
    return now < this.activeUntil;
  }

  /** Keep measuring for the next `holdMs` (the server calls this while it drops for overload). */
  keepActive(now: number, holdMs: number): void {
    this.activeUntil = now + holdMs;
    if (this.sentAt === undefined && this.timer === undefined) this.send();
  }

  /** How long a datagram read now has waited in the queue, as far as the probes tell (above). 0 while inactive. */
  waitMs(now: number): number {
    if (!this.active(now)) return 0;
    return this.sentAt === undefined ? this.lastWait : Math.max(this.lastWait, now - this.sentAt);
  }

  /** True (and consumed) when the datagram is one of our probes; cheap for everything else. */
  take(msg: Buffer, rinfo: dgram.RemoteInfo): boolean {
    if (rinfo.port !== this.port || msg.length !== PROBE_BYTES || rinfo.address !== this.address) return false;
    if (!this.token.equals(msg.subarray(0, TOKEN_BYTES))) return false;
    const now = performance.now();
    const sentAt = msg.readDoubleBE(TOKEN_BYTES);
    this.returned++;
    this.lastWait = now - sentAt;
    if (this.sentAt !== undefined && sentAt >= this.sentAt) {
      this.sentAt = undefined;
      if (this.timer) clearTimeout(this.timer); // the lost-probe timer
      this.timer = undefined;
      this.next(now);
    }
    return true;
  }

  private next(now: number): void {
    if (!this.active(now)) {
      // Idle again: forget the old measure so the next overload starts from a fresh one.
      this.lastWait = 0;
      return;
    }
    if (this.lastWait >= this.intervalMs) return this.send();
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (this.active(performance.now())) this.send();
      else this.lastWait = 0;
    }, this.intervalMs);
    this.timer.unref();
  }

  private send(): void {
    const sock = this.sock;
    if (!sock) return;
    const now = performance.now();
    const msg = Buffer.allocUnsafe(PROBE_BYTES);
    this.token.copy(msg, 0);
    msg.writeDoubleBE(now, TOKEN_BYTES);
    this.sentAt = now;
    sock.send(msg, this.opts.target.port, this.opts.target.address);
    // A probe the kernel dropped (receive queue full) never comes back: send another after a while.
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (this.sentAt !== now) return;
      // Lost: the queue overflowed, so what is read meanwhile waited at least this long.
      this.sentAt = undefined;
      this.lastWait = Math.max(this.lastWait, this.lostAfterMs);
      if (this.active(performance.now())) this.send();
      else this.lastWait = 0;
    }, this.lostAfterMs);
    this.timer.unref();
  }
}
