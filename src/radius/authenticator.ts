// RADIUS packet authentication: Request/Response Authenticators, Message-Authenticator,
// User-Password hiding and CHAP. Functions work on the packet octets exactly as received or
// sent (never on a re-encoding), use the Length field (trailing padding is ignored), and compare
// digests only with crypto.timingSafeEqual on equal-length Buffers.

import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

import { md5 } from '../lib/md5.js';
import { Lru } from '../lib/lru.js';

import { RadiusDecodeError, RadiusDecodeErrorCode, RadiusEncodeError, RadiusEncodeErrorCode } from './errors.js';

/** A shared secret; strings are used as their UTF-8 octets. */
export type RadiusSecret = string | Buffer;

export const AUTHENTICATOR_LENGTH = 16;
const HEADER_LENGTH = 20;
const MAX_LENGTH = 4096;
const ZERO_VECTOR: Buffer = Buffer.alloc(AUTHENTICATOR_LENGTH);

const ATTR_USER_PASSWORD = 2;
const ATTR_CHAP_PASSWORD = 3;
const ATTR_CHAP_CHALLENGE = 60;
const ATTR_EAP_MESSAGE = 79;
const ATTR_MESSAGE_AUTHENTICATOR = 80;

/** How the Authenticator field of each packet code is formed. */
export type AuthenticatorKind =
  /** Access-Request, Status-Server: 16 random octets (RFC 2865 3, RFC 5997). */
  | 'random'
  /** Accounting-, Disconnect-, CoA-Request: MD5 over the packet with a zero field (RFC 2866 3, RFC 5176 2.3). */
  | 'request-hash'
  /** Every reply: MD5(Code+ID+Length+RequestAuth+Attributes+Secret) (RFC 2865 3). */
  | 'response';

export function authenticatorKind(code: number): AuthenticatorKind | undefined {
  switch (code) {
    case 1: // Access-Request
    case 12: // Status-Server
      return 'random';
    case 4: // Accounting-Request
    case 40: // Disconnect-Request
    case 43: // CoA-Request
      return 'request-hash';
    case 2: // Access-Accept
    case 3: // Access-Reject
    case 5: // Accounting-Response
    case 11: // Access-Challenge
    case 41: // Disconnect-ACK
    case 42: // Disconnect-NAK
    case 44: // CoA-ACK
    case 45: // CoA-NAK
      return 'response';
    default:
      return undefined;
  }
}

export function secretBytes(secret: RadiusSecret): Buffer {
  if (typeof secret !== 'string') return secret;
  // Secrets come from the configuration (a few per NAS): their octets are made once, not per packet.
  let b = SECRET_BYTES.get(secret);
  if (b === undefined) {
    b = Buffer.from(secret, 'utf8');
    SECRET_BYTES.set(secret, b);
  }
  return b;
}
const SECRET_BYTES = new Lru<string, Buffer>(256);

/** A fresh random Request Authenticator for an Access-Request or Status-Server. */
export function randomAuthenticator(): Buffer {
  return randomBytes(AUTHENTICATOR_LENGTH);
}

/** The packet's Length field when it is usable (20..4096 and within the buffer), else undefined. */
function packetLength(packet: Buffer): number | undefined {
  if (packet.length < HEADER_LENGTH) return undefined;
  const len = packet.readUInt16BE(2);
  if (len < HEADER_LENGTH || len > MAX_LENGTH || len > packet.length) return undefined;
  return len;
}

function equal16(a: Buffer, b: Buffer): boolean {
  return a.length === AUTHENTICATOR_LENGTH && b.length === AUTHENTICATOR_LENGTH && timingSafeEqual(a, b);
}

/**
 * Whether a 16-octet digest is the packet's Authenticator field, compared in place and in constant
 * time (every octet looked at, whatever differs): spares a view of the field and a call into C++
 * on every request.
 */
function isPacketAuthenticator(digest: Buffer, packet: Buffer): boolean {
  let diff = 0;
  for (let i = 0; i < AUTHENTICATOR_LENGTH; i++) diff |= digest[i] ^ packet[4 + i];
  return diff === 0;
}

/**
 * MD5(Code+Identifier+Length + vector + Attributes + Secret) over the first `len` octets: the
 * input is laid out in one scratch buffer and hashed in one call (every request and every reply
 * goes through here). `vector` null: the packet's own Authenticator field, as it is. Synchronous,
 * so one buffer per thread is enough.
 */
function md5WithVector(packet: Buffer, len: number, vector: Buffer | null, secret: RadiusSecret): Buffer {
  const s = secretBytes(secret);
  if (len + s.length > MD5_INPUT.length) {
    const v = vector ?? packet.subarray(4, HEADER_LENGTH);
    return createHash('md5').update(packet.subarray(0, 4)).update(v).update(packet.subarray(HEADER_LENGTH, len)).update(s).digest();
  }
  if (vector === null) {
    packet.copy(MD5_INPUT, 0, 0, len);
  } else {
    packet.copy(MD5_INPUT, 0, 0, 4);
    vector.copy(MD5_INPUT, 4, 0, AUTHENTICATOR_LENGTH);
    packet.copy(MD5_INPUT, HEADER_LENGTH, HEADER_LENGTH, len);
  }
  s.copy(MD5_INPUT, len);
  return md5(MD5_INPUT, len + s.length);
}
/** MD5 over the first `len` octets of `packet` as they are (Authenticator field included) and the secret. */
export function md5OverPacket(packet: Buffer, len: number, secret: RadiusSecret): Buffer {
  return md5WithVector(packet, len, null, secret);
}
/** A packet and a secret of up to 1 KiB (a longer secret takes the slower path). */
const MD5_INPUT = Buffer.alloc(MAX_LENGTH + 1024);

/**
 * The Request Authenticator of an Accounting-Request (RFC 2866 section 3), Disconnect-Request or
 * CoA-Request (RFC 5176 section 2.3): MD5 over the packet with the Authenticator field as 16 zero
 * octets, followed by the secret. Throws RadiusDecodeError if the Length field is unusable.
 */
export function computeRequestAuthenticator(packet: Buffer, secret: RadiusSecret): Buffer {
  const len = packetLength(packet);
  if (len === undefined) throw new RadiusDecodeError(RadiusDecodeErrorCode.Length, 'bad RADIUS Length field');
  return md5WithVector(packet, len, ZERO_VECTOR, secret);
}

/** True when an Accounting-/Disconnect-/CoA-Request's Authenticator matches the secret. */
export function verifyRequestAuthenticator(packet: Buffer, secret: RadiusSecret): boolean {
  const len = packetLength(packet);
  if (len === undefined) return false;
  return isPacketAuthenticator(md5WithVector(packet, len, ZERO_VECTOR, secret), packet);
}

/**
 * The Response Authenticator of a reply (RFC 2865 section 3, RFC 2866 section 3, RFC 5176 2.3):
 * MD5(Code+ID+Length+RequestAuth+Attributes+Secret).
 */
export function computeResponseAuthenticator(packet: Buffer, requestAuthenticator: Buffer, secret: RadiusSecret): Buffer {
  const len = packetLength(packet);
  if (len === undefined) throw new RadiusDecodeError(RadiusDecodeErrorCode.Length, 'bad RADIUS Length field');
  if (requestAuthenticator.length !== AUTHENTICATOR_LENGTH) {
    throw new RadiusEncodeError(RadiusEncodeErrorCode.Code, 'request authenticator must be 16 octets');
  }
  return md5WithVector(packet, len, requestAuthenticator, secret);
}

/** True when a reply's Response Authenticator was made with this secret for this request. */
export function verifyResponseAuthenticator(packet: Buffer, requestAuthenticator: Buffer, secret: RadiusSecret): boolean {
  const len = packetLength(packet);
  if (len === undefined || requestAuthenticator.length !== AUTHENTICATOR_LENGTH) return false;
  return isPacketAuthenticator(md5WithVector(packet, len, requestAuthenticator, secret), packet);
}

/** Where the Message-Authenticator value sits: an offset, 'absent', or 'bad' (duplicate, wrong size, broken packet). */
export function findMessageAuthenticator(packet: Buffer): number | 'absent' | 'bad' {
  const len = packetLength(packet);
  if (len === undefined) return 'bad';
  let found: number | 'absent' = 'absent';
  for (let off = HEADER_LENGTH; off < len; ) {
    if (len - off < 2) return 'bad';
    const type = packet[off];
    const alen = packet[off + 1];
    if (alen < 2 || off + alen > len) return 'bad';
    if (type === ATTR_MESSAGE_AUTHENTICATOR) {
      // RFC 3579 3.2: exactly 16 octets, and at most one per packet.
      if (alen !== 2 + AUTHENTICATOR_LENGTH || found !== 'absent') return 'bad';
      found = off + 2;
    }
    off += alen;
  }
  return found;
}

/**
 * HMAC-MD5 keyed with the secret over the packet, with the Message-Authenticator value (at
 * `valueOffset`) taken as 16 zero octets and the Authenticator field taken as `vector`
 * (RFC 2869 5.14, RFC 3579 3.2, RFC 5176 3.3).
 */
export function computeMessageAuthenticator(packet: Buffer, secret: RadiusSecret, vector: Buffer, valueOffset: number): Buffer {
  const len = packetLength(packet);
  if (len === undefined) throw new RadiusDecodeError(RadiusDecodeErrorCode.Length, 'bad RADIUS Length field');
  if (valueOffset < HEADER_LENGTH + 2 || valueOffset + AUTHENTICATOR_LENGTH > len) {
    throw new RadiusDecodeError(RadiusDecodeErrorCode.AttributeOverflow, 'Message-Authenticator outside the packet');
  }
  return createHmac('md5', secretBytes(secret))
    .update(packet.subarray(0, 4))
    .update(vector)
    .update(packet.subarray(HEADER_LENGTH, valueOffset))
    .update(ZERO_VECTOR)
    .update(packet.subarray(valueOffset + AUTHENTICATOR_LENGTH, len))
    .digest();
}

export type MessageAuthenticatorCheck = 'absent' | 'valid' | 'invalid';

/**
 * Checks the Message-Authenticator of a packet, if it has one.
 *
 * The Authenticator field stands in the HMAC as:
 * - Access-Request / Status-Server: the field as sent (RFC 3579 3.2);
 * - Accounting-/Disconnect-/CoA-Request: 16 zero octets (RFC 5176 3.3; FreeRADIUS does the same for accounting);
 * - Access-Accept/-Reject/-Challenge: the Request Authenticator of the request (RFC 3579 3.2);
 * - Accounting-Response, Disconnect-/CoA-ACK/-NAK: the Request Authenticator of the request (RFC 5176 3.3)
 *   or 16 zero octets; either is accepted, because implementations differ (FreeRADIUS 3.x's rad_sign
 *   uses zeros for all of them, while radclient 3.2.1 was seen to verify CoA/Disconnect ACK/NAK with
 *   the request's authenticator and Accounting-Response with zeros).
 * Replies need `requestAuthenticator`; without it their check is 'invalid'.
 */
export function verifyMessageAuthenticator(
  packet: Buffer,
  secret: RadiusSecret,
  requestAuthenticator?: Buffer,
): MessageAuthenticatorCheck {
  const where = findMessageAuthenticator(packet);
  if (where === 'absent') return 'absent';
  if (where === 'bad') return 'invalid';
  const got = packet.subarray(where, where + AUTHENTICATOR_LENGTH);
  const code = packet[0];
  const kind = authenticatorKind(code);
  if (kind === 'random') {
    return equal16(computeMessageAuthenticator(packet, secret, packet.subarray(4, HEADER_LENGTH), where), got) ? 'valid' : 'invalid';
  }
  if (kind === 'request-hash') {
    return equal16(computeMessageAuthenticator(packet, secret, ZERO_VECTOR, where), got) ? 'valid' : 'invalid';
  }
  if (kind === 'response') {
    if (requestAuthenticator === undefined || requestAuthenticator.length !== AUTHENTICATOR_LENGTH) return 'invalid';
    const withRequest = equal16(computeMessageAuthenticator(packet, secret, requestAuthenticator, where), got);
    if (withRequest) return 'valid';
    const accessReply = code === 2 || code === 3 || code === 11;
    if (!accessReply && equal16(computeMessageAuthenticator(packet, secret, ZERO_VECTOR, where), got)) return 'valid';
    return 'invalid';
  }
  return 'invalid';
}

/** Why a packet failed authentication; `ok: true` when it passed. */
export type RadiusVerdict =
  | { readonly ok: true; readonly messageAuthenticator: 'absent' | 'valid' }
  | {
      readonly ok: false;
      readonly reason:
        | 'malformed' // Length field or attribute layout unusable
        | 'unexpected-code' // not a request (verifyRequest) / not a reply (verifyReply)
        | 'authenticator' // Request or Response Authenticator does not match
        | 'message-authenticator' // Message-Authenticator present but wrong
        | 'message-authenticator-missing'; // required but absent
    };

export interface VerifyOptions {
  /**
   * Demand a Message-Authenticator even where the RFCs make it optional (per-client setting;
   * pppd 2.4.9 never sends one). It is always required in Status-Server and with EAP-Message.
   */
  readonly requireMessageAuthenticator?: boolean;
}

function hasAttribute(packet: Buffer, type: number): boolean {
  const len = packetLength(packet);
  if (len === undefined) return false;
  for (let off = HEADER_LENGTH; off + 2 <= len && packet[off + 1] >= 2; off += packet[off + 1]) {
    if (packet[off] === type) return true;
  }
  return false;
}

/**
 * Authenticates a request received from a NAS (or, for CoA/Disconnect, from a dynamic
 * authorization client): Request Authenticator for Accounting/CoA/Disconnect-Request, and the
 * Message-Authenticator when present or required. Access-Request passwords are checked separately
 * (unhidePassword / verifyChapPassword).
 */
export function verifyRequest(packet: Buffer, secret: RadiusSecret, opts: VerifyOptions = {}): RadiusVerdict {
  if (packetLength(packet) === undefined) return { ok: false, reason: 'malformed' };
  const code = packet[0];
  const kind = authenticatorKind(code);
  if (kind !== 'random' && kind !== 'request-hash') return { ok: false, reason: 'unexpected-code' };
  if (kind === 'request-hash' && !verifyRequestAuthenticator(packet, secret)) return { ok: false, reason: 'authenticator' };
  return checkMessageAuthenticator(packet, secret, undefined, opts.requireMessageAuthenticator === true || code === 12);
}

/**
 * Authenticates a reply to a request we sent (CoA/Disconnect client, or tests acting as a NAS):
 * its Response Authenticator against our request's authenticator, and its Message-Authenticator
 * when present or required.
 */
export function verifyReply(packet: Buffer, requestAuthenticator: Buffer, secret: RadiusSecret, opts: VerifyOptions = {}): RadiusVerdict {
  if (packetLength(packet) === undefined) return { ok: false, reason: 'malformed' };
  if (authenticatorKind(packet[0]) !== 'response') return { ok: false, reason: 'unexpected-code' };
  if (!verifyResponseAuthenticator(packet, requestAuthenticator, secret)) return { ok: false, reason: 'authenticator' };
  return checkMessageAuthenticator(packet, secret, requestAuthenticator, opts.requireMessageAuthenticator === true);
}

function checkMessageAuthenticator(
  packet: Buffer,
  secret: RadiusSecret,
  requestAuthenticator: Buffer | undefined,
  required: boolean,
): RadiusVerdict {
  const ma = verifyMessageAuthenticator(packet, secret, requestAuthenticator);
  if (ma === 'invalid') {
    return { ok: false, reason: findMessageAuthenticator(packet) === 'bad' ? 'malformed' : 'message-authenticator' };
  }
  if (ma === 'absent' && (required || hasAttribute(packet, ATTR_EAP_MESSAGE))) {
    return { ok: false, reason: 'message-authenticator-missing' };
  }
  return { ok: true, messageAuthenticator: ma };
}

/**
 * Hides a User-Password (RFC 2865 section 5.2): pad with NULs to a multiple of 16 (at least 16,
 * at most 128), then c(1) = p(1) xor MD5(S + RA), c(i) = p(i) xor MD5(S + c(i-1)).
 */
export function hidePassword(password: string | Buffer, secret: RadiusSecret, requestAuthenticator: Buffer): Buffer {
  const p = typeof password === 'string' ? Buffer.from(password, 'utf8') : password;
  if (p.length > 128) throw new RadiusEncodeError(RadiusEncodeErrorCode.Value, 'User-Password longer than 128 octets');
  if (requestAuthenticator.length !== AUTHENTICATOR_LENGTH) {
    throw new RadiusEncodeError(RadiusEncodeErrorCode.Value, 'request authenticator must be 16 octets');
  }
  const padded = Buffer.alloc(Math.max(16, Math.ceil(p.length / 16) * 16));
  p.copy(padded);
  const s = secretBytes(secret);
  let prev = requestAuthenticator;
  for (let off = 0; off < padded.length; off += 16) {
    const b = createHash('md5').update(s).update(prev).digest();
    for (let i = 0; i < 16; i++) padded[off + i] ^= b[i];
    prev = padded.subarray(off, off + 16);
  }
  return padded;
}

/**
 * Recovers a hidden User-Password (RFC 2865 section 5.2), trailing NUL padding removed.
 * Throws RadiusDecodeError (OCS_ERR_RADIUS_PASSWORD) if the hidden value is not 16..128 octets
 * in steps of 16. A wrong secret yields garbage, not an error: compare the result.
 */
export function unhidePassword(hidden: Buffer, secret: RadiusSecret, requestAuthenticator: Buffer): Buffer {
  if (hidden.length < 16 || hidden.length > 128 || hidden.length % 16 !== 0) {
    throw new RadiusDecodeError(
      RadiusDecodeErrorCode.Password,
      `hidden User-Password must be 16..128 octets in steps of 16, got ${hidden.length}`,
    );
  }
  if (requestAuthenticator.length !== AUTHENTICATOR_LENGTH) {
    throw new RadiusDecodeError(RadiusDecodeErrorCode.Password, 'request authenticator must be 16 octets');
  }
  const s = secretBytes(secret);
  const out = Buffer.alloc(hidden.length);
  let prev = requestAuthenticator;
  for (let off = 0; off < hidden.length; off += 16) {
    const b = createHash('md5').update(s).update(prev).digest();
    for (let i = 0; i < 16; i++) out[off + i] = hidden[off + i] ^ b[i];
    prev = hidden.subarray(off, off + 16);
  }
  let end = out.length;
  while (end > 0 && out[end - 1] === 0) end--;
  return out.subarray(0, end);
}

/** Compares a recovered password with the expected one without leaking where they differ. */
export function passwordsEqual(a: string | Buffer, b: string | Buffer): boolean {
  const x = createHash('sha256').update(a).digest();
  const y = createHash('sha256').update(b).digest();
  return timingSafeEqual(x, y) && Buffer.from(a).equals(Buffer.from(b));
}

/** The CHAP-Password value for a password: CHAP Ident followed by MD5(Ident + password + challenge) (RFC 1994, RFC 2865 5.3). */
export function chapPassword(ident: number, password: string | Buffer, challenge: Buffer): Buffer {
  if (!Number.isInteger(ident) || ident < 0 || ident > 255) throw new RadiusEncodeError(RadiusEncodeErrorCode.Value, 'CHAP ident must be 0..255');
  const digest = createHash('md5').update(Buffer.from([ident])).update(password).update(challenge).digest();
  return Buffer.concat([Buffer.from([ident]), digest]);
}

/** True when a 17-octet CHAP-Password value is the response to `challenge` for `password`. */
export function verifyChapPassword(chapValue: Buffer, password: string | Buffer, challenge: Buffer): boolean {
  if (chapValue.length !== 17 || challenge.length === 0) return false;
  const expected = createHash('md5').update(chapValue.subarray(0, 1)).update(password).update(challenge).digest();
  return timingSafeEqual(expected, chapValue.subarray(1));
}

/** The attributes a credential check needs, as found in a decoded packet. */
interface PacketLike {
  readonly authenticator: Buffer;
  readonly attributes: readonly { readonly type: number; readonly vendorId?: number; readonly raw: Buffer }[];
}

function firstRaw(packet: PacketLike, type: number): Buffer | undefined {
  for (const a of packet.attributes) if (a.type === type && a.vendorId === undefined) return a.raw;
  return undefined;
}

/** The clear-text User-Password of a decoded Access-Request, or undefined when it has none. */
export function userPassword(packet: PacketLike, secret: RadiusSecret): Buffer | undefined {
  const hidden = firstRaw(packet, ATTR_USER_PASSWORD);
  return hidden === undefined ? undefined : unhidePassword(hidden, secret, packet.authenticator);
}

/**
 * Checks the CHAP-Password of a decoded Access-Request against a known password. The challenge is
 * CHAP-Challenge when present, else the Request Authenticator (RFC 2865 5.3 / 5.40).
 * Returns undefined when the packet carries no CHAP-Password.
 */
export function verifyChap(packet: PacketLike, password: string | Buffer): boolean | undefined {
  const chap = firstRaw(packet, ATTR_CHAP_PASSWORD);
  if (chap === undefined) return undefined;
  const challenge = firstRaw(packet, ATTR_CHAP_CHALLENGE) ?? packet.authenticator;
  return verifyChapPassword(chap, password, challenge);
}
