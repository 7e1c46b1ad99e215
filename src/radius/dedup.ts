// RFC 5080 section 2.2.2 duplicate detection: a request with the same source address and port,
// Identifier and Request Authenticator as one already seen is a retransmission. While the first
// copy is being processed a retransmission is dropped; once answered, it gets the same reply
// octets again, without being processed (so it is never charged twice). Bounded in entries and
// time; pure apart from the `now` the caller passes.

import { FifoCache } from '../lib/fifo-cache.js';

export type DuplicateCheck =
  | { readonly kind: 'new' }
  | { readonly kind: 'pending' }
  | { readonly kind: 'answered'; readonly reply: Buffer }
  /** Answered with an Accounting-Response without attributes: rebuilt from the request (see acknowledge()). */
  | { readonly kind: 'acknowledged'; readonly messageAuthenticator: boolean };

const NEW: DuplicateCheck = Object.freeze({ kind: 'new' });
const PENDING: DuplicateCheck = Object.freeze({ kind: 'pending' });
const ACKNOWLEDGED: DuplicateCheck = Object.freeze({ kind: 'acknowledged', messageAuthenticator: false });
const ACKNOWLEDGED_MA: DuplicateCheck = Object.freeze({ kind: 'acknowledged', messageAuthenticator: true });

export class DuplicateCache {
  /** null: the first copy is being processed; a boolean: acknowledged, with or without Message-Authenticator. */
  private readonly cache: FifoCache<string, Buffer | boolean | null>;

  constructor(maxEntries: number, ttlMs: number) {
    this.cache = new FifoCache(maxEntries, ttlMs);
  }

  /** Key of a request: source address and port, Identifier, Request Authenticator (RFC 5080 2.2.2). */
  static key(address: string, port: number, packet: Buffer): string {
    return `${address}|${port}|${packet[1]}|${packet.toString('base64', 4, 20)}`;
  }

  /**
   * Looks a request up without recording it: a server that then drops it (overload) leaves no
   * entry behind; one that takes it calls begin().
   */
  lookup(key: string, now: number): DuplicateCheck {
    const seen = this.cache.get(key, now);
    if (seen === null) return PENDING;
    if (seen === undefined) return NEW;
    if (typeof seen === 'boolean') return seen ? ACKNOWLEDGED_MA : ACKNOWLEDGED;
    return { kind: 'answered', reply: seen };
  }

  /** Records a new request as pending until answer() or forget(). */
  begin(key: string, now: number): void {
    this.cache.set(key, null, now);
  }

  /** lookup(), then begin() for a new request. */
  check(key: string, now: number): DuplicateCheck {
    const seen = this.lookup(key, now);
    if (seen === NEW) this.begin(key, now);
    return seen;
  }

  /** The reply sent for a request, kept for its retransmissions. */
  answer(key: string, reply: Buffer, now: number): void {
    this.settle(key, reply, now);
  }

  /**
   * The request was answered with an Accounting-Response without attributes. Its octets follow from
   * the request's Identifier and Authenticator (the key's), the secret and whether it carries a
   * Message-Authenticator, so they are rebuilt for a retransmission instead of kept: at full load a
   * kept reply was a fifth of what the OCS's scavenges moved to the old generation.
   */
  acknowledge(key: string, messageAuthenticator: boolean, now: number): void {
    this.settle(key, messageAuthenticator, now);
  }

  /** The pending mark becomes the outcome in place; written anew if it was evicted meanwhile. */
  private settle(key: string, outcome: Buffer | boolean, now: number): void {
    if (!this.cache.replace(key, outcome)) this.cache.set(key, outcome, now);
  }

  /** No reply was sent (dropped, or charging unavailable): a retransmission is processed afresh. */
  forget(key: string): void {
    if (this.cache.peek(key) === null) this.cache.delete(key);
  }

  get size(): number {
    return this.cache.size;
  }
}
