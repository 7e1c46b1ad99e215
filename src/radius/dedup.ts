// RFC 5080 section 2.2.2 duplicate detection: a request with the same source address and port,
// Identifier and Request Authenticator as one already seen is a retransmission. While the first
// copy is being processed a retransmission is dropped; once answered, it gets the same reply
// octets again, without being processed (so it is never charged twice). Bounded in entries and
// time; pure apart from the `now` the caller passes.

export type DuplicateCheck =
  | { readonly kind: 'new' }
  | { readonly kind: 'pending' }
  | { readonly kind: 'answered'; readonly reply: Buffer };

interface Entry {
  reply: Buffer | undefined;
  at: number;
}

/** How often entries past their time are swept out. */
const SWEEP_MS = 1000;

export class DuplicateCache {
  private readonly map = new Map<string, Entry>();
  private sweptAt = 0;

  constructor(
    private readonly maxEntries: number,
    private readonly ttlMs: number,
  ) {}

  /** Key of a request: source address and port, Identifier, Request Authenticator (RFC 5080 2.2.2). */
  static key(address: string, port: number, packet: Buffer): string {
    return `${address}|${port}|${packet[1]}|${packet.toString('base64', 4, 20)}`;
  }

  /** Looks a request up; a 'new' one is recorded as pending until answer() or forget(). */
  check(key: string, now: number): DuplicateCheck {
    const e = this.map.get(key);
    if (e !== undefined && now - e.at <= this.ttlMs) {
      return e.reply === undefined ? { kind: 'pending' } : { kind: 'answered', reply: e.reply };
    }
    if (e !== undefined) this.map.delete(key);
    this.map.set(key, { reply: undefined, at: now });
    this.evict(now);
    return { kind: 'new' };
  }

  /** The reply sent for a request, kept for its retransmissions. */
  answer(key: string, reply: Buffer, now: number): void {
    this.map.delete(key);
    this.map.set(key, { reply, at: now });
    this.evict(now);
  }

  /** No reply was sent (dropped, or charging unavailable): a retransmission is processed afresh. */
  forget(key: string): void {
    const e = this.map.get(key);
    if (e !== undefined && e.reply === undefined) this.map.delete(key);
  }

  get size(): number {
    return this.map.size;
  }

  private evict(now: number): void {
    // Beyond the size at once; by age once in a while (check() ignores an expired entry anyway):
    // walking the map at every request costs more than the rest of the lookup.
    if (this.map.size <= this.maxEntries && now - this.sweptAt < SWEEP_MS) return;
    this.sweptAt = now;
    // Oldest first (Map keeps insertion order and every write re-inserts).
    for (const [k, e] of this.map) {
      if (this.map.size <= this.maxEntries && now - e.at <= this.ttlMs) break;
      this.map.delete(k);
    }
  }
}
