// RADIUS packet codec (RFC 2865 section 3 and 5, RFC 2866, RFC 5176): decode(buf) / encode(packet).
// Pure: no sockets, timers or logs. The dictionary decides names and value types; attributes it
// does not know are kept as raw octets so nothing a NAS sends is lost.

import {
  AUTHENTICATOR_LENGTH,
  authenticatorKind,
  computeMessageAuthenticator,
  hidePassword,
  md5OverPacket,
  randomAuthenticator,
  type RadiusSecret,
} from './authenticator.js';
import { defaultDictionary, type RadiusAttributeDef, type RadiusDataType, type RadiusDictionary } from './dictionary.js';
import { RadiusDecodeError, RadiusDecodeErrorCode, RadiusEncodeError, RadiusEncodeErrorCode } from './errors.js';
import { decodeValue, encodeValue, type RadiusValue, type RadiusValueInput } from './values.js';

export type { RadiusValue, RadiusValueInput } from './values.js';

export const RADIUS_HEADER_LENGTH = 20;
export const RADIUS_MAX_LENGTH = 4096;

/** Packet codes (RFC 2865 3, RFC 2866 3, RFC 5997, RFC 5176 2). */
export const RadiusCode = {
  AccessRequest: 1,
  AccessAccept: 2,
  AccessReject: 3,
  AccountingRequest: 4,
  AccountingResponse: 5,
  AccessChallenge: 11,
  StatusServer: 12,
  DisconnectRequest: 40,
  DisconnectAck: 41,
  DisconnectNak: 42,
  CoaRequest: 43,
  CoaAck: 44,
  CoaNak: 45,
} as const;
export type RadiusCodeNumber = (typeof RadiusCode)[keyof typeof RadiusCode];

const CODE_NAMES: Readonly<Record<number, string>> = {
  1: 'Access-Request',
  2: 'Access-Accept',
  3: 'Access-Reject',
  4: 'Accounting-Request',
  5: 'Accounting-Response',
  11: 'Access-Challenge',
  12: 'Status-Server',
  40: 'Disconnect-Request',
  41: 'Disconnect-ACK',
  42: 'Disconnect-NAK',
  43: 'CoA-Request',
  44: 'CoA-ACK',
  45: 'CoA-NAK',
};
const CODES_BY_NAME: ReadonlyMap<string, number> = new Map(Object.entries(CODE_NAMES).map(([n, s]) => [s.toLowerCase(), Number(n)]));

/** "Access-Accept" for 2, "Code-99" for codes we do not know. */
export function codeName(code: number): string {
  return CODE_NAMES[code] ?? `Code-${code}`;
}

const ATTR_VENDOR_SPECIFIC = 26;
const ATTR_MESSAGE_AUTHENTICATOR = 80;

/** One decoded attribute. For VSAs, one entry per vendor sub-attribute. */
export interface RadiusAttribute {
  /** Attribute type on the wire (26 for every vendor attribute). */
  readonly type: number;
  /** Vendor-Specific only: the IANA enterprise number (absent when the VSA is too short to hold one). */
  readonly vendorId?: number;
  /** Vendor-Specific only: the vendor's sub-attribute type (absent when the VSA could not be split). */
  readonly vendorType?: number;
  /** Dictionary name, when the dictionary knows the attribute. */
  readonly name?: string;
  /** Dictionary data type, when known. */
  readonly dataType?: RadiusDataType;
  /** Decoded value: string, number, bigint (integer64), Date (date) or Buffer (octets, hidden, unknown). */
  readonly value: RadiusValue;
  /** For enumerated integers: the VALUE name of `value`, when the dictionary has one. */
  readonly valueName?: string;
  /**
   * The value octets exactly as on the wire (after the type/length header, or after the vendor
   * sub-attribute header). A view into the decoded buffer, not a copy. The encoder writes `raw`
   * verbatim when present, so decode-then-encode reproduces the attributes byte for byte.
   */
  readonly raw: Buffer;
}

export interface RadiusPacket {
  readonly code: number;
  readonly identifier: number;
  /** The 16-octet Authenticator field (a view into the decoded buffer). */
  readonly authenticator: Buffer;
  /** The Length field: octets of the packet proper (trailing padding excluded). */
  readonly length: number;
  readonly attributes: readonly RadiusAttribute[];
}

export interface DecodeOptions {
  /** Defaults to the project dictionary (dictionaries/radius/dictionary). */
  readonly dictionary?: RadiusDictionary;
}

function decodeFail(code: RadiusDecodeErrorCode, message: string, offset?: number): never {
  throw new RadiusDecodeError(code, message, offset);
}

/**
 * Decodes one RADIUS packet (a UDP payload). Never throws anything but RadiusDecodeError, whose
 * `code` says what was wrong; authenticity is checked separately (verifyRequest / verifyReply).
 * Without `opts.dictionary` the default dictionary is read on first use: call defaultDictionary()
 * at start-up so a broken dictionary file stops the process there, not on the first packet.
 */
export function decode(buf: Buffer, opts: DecodeOptions = {}): RadiusPacket {
  if (buf.length < RADIUS_HEADER_LENGTH) {
    decodeFail(RadiusDecodeErrorCode.TooShort, `packet of ${buf.length} octets is shorter than the 20-octet header`);
  }
  if (buf.length > RADIUS_MAX_LENGTH) {
    decodeFail(RadiusDecodeErrorCode.TooLong, `packet of ${buf.length} octets is longer than 4096`);
  }
  const length = buf.readUInt16BE(2);
  // RFC 2865 3: below 20 or above 4096 is malformed; a datagram shorter than Length is discarded;
  // octets beyond Length are padding and ignored.
  if (length < RADIUS_HEADER_LENGTH || length > RADIUS_MAX_LENGTH) {
    decodeFail(RadiusDecodeErrorCode.Length, `Length field ${length} is outside 20..4096`, 2);
  }
  if (length > buf.length) {
    decodeFail(RadiusDecodeErrorCode.Length, `Length field ${length} is larger than the ${buf.length} octets received`, 2);
  }
  const dict = opts.dictionary ?? defaultDictionary();
  const attributes: RadiusAttribute[] = [];
  let off = RADIUS_HEADER_LENGTH;
  while (off < length) {
    if (length - off < 2) decodeFail(RadiusDecodeErrorCode.AttributeOverflow, 'attribute header runs past the end of the packet', off);
    const type = buf[off];
    const alen = buf[off + 1];
    if (alen < 2) decodeFail(RadiusDecodeErrorCode.AttributeLength, `attribute ${type} has Length ${alen} (minimum 2)`, off);
    if (off + alen > length) {
      decodeFail(RadiusDecodeErrorCode.AttributeOverflow, `attribute ${type} of Length ${alen} runs past the end of the packet`, off);
    }
    const start = off + 2;
    const end = off + alen;
    if (type === ATTR_VENDOR_SPECIFIC) decodeVsa(dict, buf, start, end, attributes);
    else attributes.push(decodeAttribute(dict.attribute(type), type, buf, start, end));
    off = end;
  }
  return {
    code: buf[0],
    identifier: buf[1],
    authenticator: buf.subarray(4, RADIUS_HEADER_LENGTH),
    length,
    attributes,
  };
}

function decodeAttribute(
  def: RadiusAttributeDef | undefined,
  type: number,
  buf: Buffer,
  start: number,
  end: number,
  vendorId?: number,
  vendorType?: number,
): RadiusAttribute {
  const raw = buf.subarray(start, end);
  if (type === ATTR_MESSAGE_AUTHENTICATOR && vendorId === undefined && end - start !== AUTHENTICATOR_LENGTH) {
    // RFC 3579 3.2: a Message-Authenticator of any other size makes the packet invalid.
    decodeFail(RadiusDecodeErrorCode.Value, `Message-Authenticator must be 16 octets, got ${end - start}`, start - 2);
  }
  if (def === undefined) {
    return vendorId === undefined ? { type, value: raw, raw } : { type, vendorId, vendorType, value: raw, raw };
  }
  const value = decodeValue(def, buf, start, end);
  const valueName = def.values.size > 0 && (typeof value === 'number' || typeof value === 'bigint') ? def.values.get(value) : undefined;
  const attr: {
    type: number;
    vendorId?: number;
    vendorType?: number;
    name: string;
    dataType: RadiusDataType;
    value: RadiusValue;
    valueName?: string;
    raw: Buffer;
  } = { type, name: def.name, dataType: def.type, value, raw };
  if (vendorId !== undefined) {
    attr.vendorId = vendorId;
    attr.vendorType = vendorType;
  }
  if (valueName !== undefined) attr.valueName = valueName;
  return attr;
}

// RFC 2865 5.26: Vendor-Id (4 octets) then, by convention, sub-attributes of the vendor's format
// (1-octet type and length for nearly everyone; the dictionary's VENDOR format=t,l otherwise).
// A VSA of a vendor we know must split cleanly; one of an unknown vendor is split when it parses
// as 1,1 sub-attributes and otherwise kept whole, as FreeRADIUS does.
function decodeVsa(dict: RadiusDictionary, buf: Buffer, start: number, end: number, out: RadiusAttribute[]): void {
  const whole = buf.subarray(start, end);
  if (end - start < 4) {
    out.push({ type: ATTR_VENDOR_SPECIFIC, name: 'Vendor-Specific', value: whole, raw: whole });
    return;
  }
  const vendorId = buf.readUInt32BE(start);
  const vendor = dict.vendor(vendorId);
  const typeSize = vendor?.typeSize ?? 1;
  const lengthSize = vendor?.lengthSize ?? 1;
  const parts: RadiusAttribute[] = [];
  let off = start + 4;
  let broken: string | undefined;
  if (off === end) broken = 'no sub-attributes';
  while (broken === undefined && off < end) {
    const hdr = typeSize + lengthSize;
    if (end - off < hdr) {
      broken = 'sub-attribute header runs past the end of the VSA';
      break;
    }
    const vtype = typeSize === 1 ? buf[off] : typeSize === 2 ? buf.readUInt16BE(off) : buf.readUInt32BE(off);
    let vlen: number;
    if (lengthSize === 0) vlen = end - off;
    else if (lengthSize === 1) vlen = buf[off + typeSize];
    else vlen = buf.readUInt16BE(off + typeSize);
    if (vlen < hdr) {
      broken = `sub-attribute ${vtype} has length ${vlen} (minimum ${hdr})`;
      break;
    }
    if (off + vlen > end) {
      broken = `sub-attribute ${vtype} of length ${vlen} runs past the end of the VSA`;
      break;
    }
    parts.push(decodeAttribute(dict.attribute(vtype, vendorId), ATTR_VENDOR_SPECIFIC, buf, off + hdr, off + vlen, vendorId, vtype));
    off += vlen;
  }
  if (broken === undefined) {
    for (const p of parts) out.push(p);
    return;
  }
  if (vendor !== undefined) {
    decodeFail(RadiusDecodeErrorCode.VendorSpecific, `Vendor-Specific of ${vendor.name} (${vendorId}): ${broken}`, start - 2);
  }
  out.push({ type: ATTR_VENDOR_SPECIFIC, vendorId, name: 'Vendor-Specific', value: whole, raw: whole });
}

// ---------------------------------------------------------------------------------------------
// Lookups on decoded packets. Names are the dictionary's canonical spelling (exact match).

/** The first attribute with this name. */
export function getAttribute(packet: RadiusPacket, name: string): RadiusAttribute | undefined {
  for (const a of packet.attributes) if (a.name === name) return a;
  return undefined;
}

/** Every attribute with this name, in packet order. */
export function getAttributes(packet: RadiusPacket, name: string): RadiusAttribute[] {
  return packet.attributes.filter((a) => a.name === name);
}

/** The value of the first attribute with this name. */
export function get(packet: RadiusPacket, name: string): RadiusValue | undefined {
  return getAttribute(packet, name)?.value;
}

/** The values of every attribute with this name, in packet order. */
export function getAll(packet: RadiusPacket, name: string): RadiusValue[] {
  const out: RadiusValue[] = [];
  for (const a of packet.attributes) if (a.name === name) out.push(a.value);
  return out;
}

/** The first value with this name if it decoded as a string. */
export function getString(packet: RadiusPacket, name: string): string | undefined {
  const v = get(packet, name);
  return typeof v === 'string' ? v : undefined;
}

/** The first value with this name if it decoded as a number (integer, byte, short, signed). */
export function getNumber(packet: RadiusPacket, name: string): number | undefined {
  const v = get(packet, name);
  return typeof v === 'number' ? v : undefined;
}

/** The raw octets of the first attribute with this name (e.g. Class, State). */
export function getOctets(packet: RadiusPacket, name: string): Buffer | undefined {
  return getAttribute(packet, name)?.raw;
}

/** The enum name of the first attribute with this name (e.g. "Start" for Acct-Status-Type 1). */
export function getEnum(packet: RadiusPacket, name: string): string | undefined {
  return getAttribute(packet, name)?.valueName;
}

// ---------------------------------------------------------------------------------------------
// Encoding

/** An attribute to encode: by dictionary name, or by number (type, or 26 + vendorId + vendorType). */
export type RadiusAttributeInput =
  | {
      readonly name: string;
      readonly value?: RadiusValueInput;
      /** Value octets written as they are (no hiding, no type check). Wins over `value`. */
      readonly raw?: Buffer;
    }
  | {
      readonly name?: undefined;
      readonly type: number;
      readonly vendorId?: number;
      readonly vendorType?: number;
      readonly value?: RadiusValueInput;
      readonly raw?: Buffer;
    }
  | readonly [name: string, value: RadiusValueInput];

export interface RadiusPacketInput {
  /** A packet code number or its name ("Access-Accept"). */
  readonly code: number | string;
  /** 0..255; a reply uses its request's identifier. */
  readonly identifier: number;
  /** Access-Request / Status-Server only: the Request Authenticator to use (random when absent). */
  readonly authenticator?: Buffer;
  readonly attributes?: readonly (RadiusAttributeInput | RadiusAttribute)[];
}

export interface EncodeOptions {
  readonly secret: RadiusSecret;
  /** Required for replies: the Authenticator of the request being answered. */
  readonly requestAuthenticator?: Buffer;
  /**
   * Add a Message-Authenticator (as the first attribute) when the packet has none; default false,
   * except for Status-Server, which requires one (RFC 5997). One listed in the attributes is always
   * filled in, whatever its given value.
   */
  readonly messageAuthenticator?: boolean;
  /**
   * What stands for the Authenticator field in the Message-Authenticator HMAC of an
   * Accounting-Response or Disconnect-/CoA-ACK/-NAK (Access replies always use the request's,
   * RFC 3579 3.2). Defaults follow what FreeRADIUS 3.2 (radclient) verifies: 'zero' for
   * Accounting-Response (no RFC defines it), 'request' for Disconnect-/CoA-ACK/-NAK (RFC 5176 3.3).
   * An Accounting-Response to a Status-Server should pass 'request' (FreeRADIUS does).
   */
  readonly replyMessageAuthenticatorVector?: 'request' | 'zero';
  readonly dictionary?: RadiusDictionary;
}

function encodeFail(code: RadiusEncodeErrorCode, message: string): never {
  throw new RadiusEncodeError(code, message);
}

function resolveCode(code: number | string): number {
  const n = typeof code === 'number' ? code : CODES_BY_NAME.get(code.toLowerCase());
  if (n === undefined || authenticatorKind(n) === undefined) encodeFail(RadiusEncodeErrorCode.Code, `unknown packet code ${String(code)}`);
  return n as number;
}

interface Encoded {
  /** Complete attribute octets (header included). */
  bytes: Buffer;
  isMessageAuthenticator: boolean;
}

/**
 * Encodes a packet and signs it for its code: fills Length, the Authenticator (random for
 * Access-Request/Status-Server, RFC 2866/5176 request hash for Accounting/CoA/Disconnect-Request,
 * Response Authenticator for replies), hides User-Password, and fills the Message-Authenticator.
 * The Authenticator a reply must be checked against is the result's octets 4..20.
 * Throws RadiusEncodeError (a programming or configuration error, never caused by a peer).
 */
export function encode(packet: RadiusPacketInput, opts: EncodeOptions): Buffer {
  const code = resolveCode(packet.code);
  const kind = authenticatorKind(code);
  if (!Number.isInteger(packet.identifier) || packet.identifier < 0 || packet.identifier > 255) {
    encodeFail(RadiusEncodeErrorCode.Code, `identifier ${packet.identifier} is outside 0..255`);
  }
  const dict = opts.dictionary ?? defaultDictionary();

  // The vector User-Password hiding and the HMAC are computed with.
  let headerVector: Buffer;
  if (kind === 'random') {
    headerVector = packet.authenticator ?? randomAuthenticator();
    if (headerVector.length !== AUTHENTICATOR_LENGTH) encodeFail(RadiusEncodeErrorCode.Code, 'authenticator must be 16 octets');
  } else if (kind === 'request-hash') {
    headerVector = Buffer.alloc(AUTHENTICATOR_LENGTH);
  } else {
    const ra = opts.requestAuthenticator;
    if (ra === undefined || ra.length !== AUTHENTICATOR_LENGTH) {
      encodeFail(RadiusEncodeErrorCode.Code, `${codeName(code)} needs the 16-octet requestAuthenticator of the request it answers`);
    }
    headerVector = ra as Buffer;
  }

  const encoded: Encoded[] = [];
  for (const input of packet.attributes ?? []) encoded.push(encodeAttribute(dict, input, code, opts.secret, headerVector));
  let maCount = encoded.filter((e) => e.isMessageAuthenticator).length;
  if (maCount > 1) encodeFail(RadiusEncodeErrorCode.Attribute, 'more than one Message-Authenticator');
  if (maCount === 0 && (opts.messageAuthenticator ?? code === RadiusCode.StatusServer)) {
    const bytes = Buffer.alloc(2 + AUTHENTICATOR_LENGTH);
    bytes[0] = ATTR_MESSAGE_AUTHENTICATOR;
    bytes[1] = bytes.length;
    // First, as the BlastRADIUS (CVE-2024-3596) mitigations recommend.
    encoded.unshift({ bytes, isMessageAuthenticator: true });
    maCount = 1;
  }

  let length = RADIUS_HEADER_LENGTH;
  for (const e of encoded) length += e.bytes.length;
  if (length > RADIUS_MAX_LENGTH) encodeFail(RadiusEncodeErrorCode.TooLong, `packet of ${length} octets exceeds 4096`);

  const out = Buffer.alloc(length);
  out[0] = code;
  out[1] = packet.identifier;
  out.writeUInt16BE(length, 2);
  headerVector.copy(out, 4);
  let off = RADIUS_HEADER_LENGTH;
  let maOffset = -1;
  for (const e of encoded) {
    e.bytes.copy(out, off);
    if (e.isMessageAuthenticator) {
      out.fill(0, off + 2, off + 2 + AUTHENTICATOR_LENGTH);
      maOffset = off + 2;
    }
    off += e.bytes.length;
  }

  if (maOffset >= 0) {
    let maVector = headerVector;
    const accessReply = code === 2 || code === 3 || code === 11;
    if (kind === 'response' && !accessReply) {
      const style = opts.replyMessageAuthenticatorVector ?? (code === RadiusCode.AccountingResponse ? 'zero' : 'request');
      if (style === 'zero') maVector = Buffer.alloc(AUTHENTICATOR_LENGTH);
    }
    computeMessageAuthenticator(out, opts.secret, maVector, maOffset).copy(out, maOffset);
  }

  if (kind !== 'random') {
    // Request hash (zero vector already in place) or Response Authenticator (request's vector in place).
    md5OverPacket(out, out.length, opts.secret).copy(out, 4);
  }
  return out;
}

function isTuple(input: RadiusAttributeInput | RadiusAttribute): input is readonly [string, RadiusValueInput] {
  return Array.isArray(input);
}

interface ResolvedAttribute {
  def: RadiusAttributeDef | undefined;
  type: number;
  vendorId: number | undefined;
  vendorType: number | undefined;
  value: RadiusValueInput | undefined;
  raw: Buffer | undefined;
}

/** Finds what an input names: by dictionary name, or by numbers (looked up in the dictionary when possible). */
function resolveAttribute(dict: RadiusDictionary, input: RadiusAttributeInput | RadiusAttribute): ResolvedAttribute {
  let def: RadiusAttributeDef | undefined;
  let r: ResolvedAttribute;
  if (isTuple(input) || (input.name !== undefined && !('type' in input && typeof input.type === 'number'))) {
    const name = isTuple(input) ? input[0] : (input.name as string);
    def = dict.attributeByName(name);
    if (def === undefined) return encodeFail(RadiusEncodeErrorCode.Attribute, `unknown attribute ${name}`);
    r = isTuple(input)
      ? { def, type: 0, vendorId: undefined, vendorType: undefined, value: input[1], raw: undefined }
      : { def, type: 0, vendorId: undefined, vendorType: undefined, value: input.value, raw: input.raw };
  } else {
    const i = input as { type: number; vendorId?: number; vendorType?: number; value?: RadiusValueInput; raw?: Buffer };
    if (!Number.isInteger(i.type) || i.type < 1 || i.type > 255) encodeFail(RadiusEncodeErrorCode.Attribute, `attribute type ${i.type} is outside 1..255`);
    if (i.type !== ATTR_VENDOR_SPECIFIC) def = dict.attribute(i.type);
    else if (i.vendorId !== undefined && i.vendorType !== undefined) def = dict.attribute(i.vendorType, i.vendorId);
    r = { def, type: i.type, vendorId: i.vendorId, vendorType: i.vendorType, value: i.value, raw: i.raw };
  }
  if (def !== undefined) {
    r.type = def.vendorId === 0 ? def.code : ATTR_VENDOR_SPECIFIC;
    if (def.vendorId !== 0) {
      r.vendorId = def.vendorId;
      r.vendorType = def.code;
    }
  }
  return r;
}

function encodeAttribute(
  dict: RadiusDictionary,
  input: RadiusAttributeInput | RadiusAttribute,
  code: number,
  secret: RadiusSecret,
  vector: Buffer,
): Encoded {
  const resolved = resolveAttribute(dict, input);
  const { def, type, vendorId, vendorType, value } = resolved;
  let raw = resolved.raw;
  const isMa = type === ATTR_MESSAGE_AUTHENTICATOR && vendorId === undefined;
  if (isMa) {
    const bytes = Buffer.alloc(2 + AUTHENTICATOR_LENGTH);
    bytes[0] = ATTR_MESSAGE_AUTHENTICATOR;
    bytes[1] = bytes.length;
    return { bytes, isMessageAuthenticator: true };
  }

  // Vendor sub-attribute header sizes; standard attributes have none.
  let vendorHeader = 0;
  let typeSize: 1 | 2 | 4 = 1;
  let lengthSize: 0 | 1 | 2 = 1;
  const isVendorAttr = type === ATTR_VENDOR_SPECIFIC && vendorId !== undefined && vendorType !== undefined;
  if (isVendorAttr) {
    const vendor = dict.vendor(vendorId as number);
    typeSize = vendor?.typeSize ?? 1;
    lengthSize = vendor?.lengthSize ?? 1;
    vendorHeader = 4 + typeSize + lengthSize;
    const maxType = typeSize === 1 ? 0xff : typeSize === 2 ? 0xffff : 0xffffffff;
    if (!Number.isInteger(vendorType) || (vendorType as number) < 0 || (vendorType as number) > maxType) {
      encodeFail(RadiusEncodeErrorCode.Attribute, `vendor attribute type ${vendorType} does not fit ${typeSize} octet(s)`);
    }
  } else if (type === ATTR_VENDOR_SPECIFIC && vendorId !== undefined && raw === undefined && Buffer.isBuffer(value)) {
    // A whole VSA given as octets after the Vendor-Id.
    raw = Buffer.concat([u32(vendorId), value]);
  }
  const maxValue = 253 - vendorHeader;

  let valueBytes: Buffer;
  if (raw !== undefined) {
    valueBytes = raw;
  } else if (value === undefined) {
    return encodeFail(RadiusEncodeErrorCode.Value, `attribute ${def?.name ?? type} has no value`);
  } else if (def === undefined) {
    if (!Buffer.isBuffer(value)) encodeFail(RadiusEncodeErrorCode.Attribute, `attribute ${type} is not in the dictionary: give its value as a Buffer`);
    valueBytes = value as Buffer;
  } else if (def.encrypt === 1) {
    if (code !== 1) encodeFail(RadiusEncodeErrorCode.Attribute, `${def.name} can only be sent in an Access-Request`);
    if (typeof value !== 'string' && !Buffer.isBuffer(value)) encodeFail(RadiusEncodeErrorCode.Value, `${def.name} expects a string or Buffer`);
    valueBytes = hidePassword(value as string | Buffer, secret, vector);
  } else if (def.encrypt !== 0) {
    return encodeFail(RadiusEncodeErrorCode.Attribute, `${def.name}: encrypt=${def.encrypt} is not supported; give raw octets`);
  } else if (def.hasTag) {
    // RFC 2868 tagged values are written as given (tag octet included).
    if (!Buffer.isBuffer(value)) encodeFail(RadiusEncodeErrorCode.Value, `${def.name} is tagged (has_tag): give its octets, tag included`);
    valueBytes = value as Buffer;
  } else {
    valueBytes = encodeValue(def, value, maxValue);
  }
  if (valueBytes.length > maxValue) {
    encodeFail(RadiusEncodeErrorCode.Value, `attribute ${def?.name ?? type}: value of ${valueBytes.length} octets is longer than ${maxValue}`);
  }

  if (!isVendorAttr) {
    const bytes = Buffer.allocUnsafe(2 + valueBytes.length);
    bytes[0] = type;
    bytes[1] = bytes.length;
    valueBytes.copy(bytes, 2);
    return { bytes, isMessageAuthenticator: false };
  }
  const subLength = typeSize + lengthSize + valueBytes.length;
  const bytes = Buffer.alloc(2 + 4 + subLength);
  bytes[0] = ATTR_VENDOR_SPECIFIC;
  bytes[1] = bytes.length;
  bytes.writeUInt32BE(vendorId as number, 2);
  let p = 6;
  if (typeSize === 1) bytes[p] = vendorType as number;
  else if (typeSize === 2) bytes.writeUInt16BE(vendorType as number, p);
  else bytes.writeUInt32BE(vendorType as number, p);
  p += typeSize;
  if (lengthSize === 1) bytes[p] = subLength;
  else if (lengthSize === 2) bytes.writeUInt16BE(subLength, p);
  p += lengthSize;
  valueBytes.copy(bytes, p);
  return { bytes, isMessageAuthenticator: false };
}

function u32(n: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32BE(n);
  return b;
}
