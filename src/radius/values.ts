// Attribute value encoding and decoding per data type (RFC 2865 section 5, RFC 3162, RFC 8044).
// Pure functions over Buffers.

import type { RadiusAttributeDef, RadiusDataType } from './dictionary.js';
import { integerRange } from './dictionary.js';
import { RadiusDecodeError, RadiusDecodeErrorCode, RadiusEncodeError, RadiusEncodeErrorCode } from './errors.js';

/** A decoded attribute value. */
export type RadiusValue = string | number | bigint | Buffer | Date;

/** What an encoder accepts for a value: the decoded forms, plus enum names for integer types. */
export type RadiusValueInput = string | number | bigint | Buffer | Date;

/** Longest value a standard attribute can carry (255 - type - length). */
export const MAX_ATTRIBUTE_VALUE_LENGTH = 253;

/** Octets a value of this type must have, or undefined when variable. */
export function fixedSize(type: RadiusDataType): number | undefined {
  switch (type) {
    case 'byte':
      return 1;
    case 'short':
      return 2;
    case 'integer':
    case 'signed':
    case 'date':
    case 'ipaddr':
      return 4;
    case 'integer64':
    case 'ifid':
      return 8;
    case 'ether':
      return 6;
    case 'ipv6addr':
      return 16;
    default:
      return undefined;
  }
}

/**
 * Decodes buf[start, end) as a value of `def`. Throws RadiusDecodeError (OCS_ERR_RADIUS_VALUE) when
 * the size does not fit the type. Hidden values (encrypt=1/2/3) stay as their wire octets: they can
 * only be read with the shared secret (see unhidePassword()). So do RFC 2868 tagged values (has_tag).
 */
export function decodeValue(def: RadiusAttributeDef, buf: Buffer, start: number, end: number): RadiusValue {
  const len = end - start;
  if (def.encrypt !== 0 || def.hasTag) return buf.subarray(start, end);
  const type = def.type;
  const size = fixedSize(type);
  if (size !== undefined && len !== size) {
    throw new RadiusDecodeError(
      RadiusDecodeErrorCode.Value,
      `${def.name}: a ${type} value must be ${size} octets, got ${len}`,
      start,
    );
  }
  switch (type) {
    case 'string':
    case 'text':
      return buf.toString('utf8', start, end);
    case 'integer':
      return buf.readUInt32BE(start);
    case 'byte':
      return buf[start];
    case 'short':
      return buf.readUInt16BE(start);
    case 'signed':
      return buf.readInt32BE(start);
    case 'integer64':
      return buf.readBigUInt64BE(start);
    case 'date':
      return new Date(buf.readUInt32BE(start) * 1000);
    case 'ipaddr':
      return `${buf[start]}.${buf[start + 1]}.${buf[start + 2]}.${buf[start + 3]}`;
    case 'ipv6addr':
      return formatIPv6(buf, start);
    case 'ipv6prefix':
      return decodeIPv6Prefix(def, buf, start, end);
    case 'ifid':
      return hexGroups(buf, start, 8, 2, ':');
    case 'ether':
      return hexGroups(buf, start, 6, 1, ':');
    case 'octets':
      if (def.fixedLength !== undefined && len !== def.fixedLength) {
        throw new RadiusDecodeError(
          RadiusDecodeErrorCode.Value,
          `${def.name}: value must be ${def.fixedLength} octets, got ${len}`,
          start,
        );
      }
      return buf.subarray(start, end);
    case 'vsa':
      return buf.subarray(start, end);
  }
}

// RFC 3162 2.3: Reserved (1), Prefix-Length (1, 0..128), Prefix (0..16 octets). Octets beyond the
// prefix length are ignored; missing trailing octets are zero (RFC 8044 3.10 lets senders truncate).
function decodeIPv6Prefix(def: RadiusAttributeDef, buf: Buffer, start: number, end: number): string {
  const len = end - start;
  if (len < 2 || len > 18) {
    throw new RadiusDecodeError(
      RadiusDecodeErrorCode.Value,
      `${def.name}: an ipv6prefix value must be 2 to 18 octets, got ${len}`,
      start,
    );
  }
  const bits = buf[start + 1];
  if (bits > 128 || Math.ceil(bits / 8) > len - 2) {
    throw new RadiusDecodeError(
      RadiusDecodeErrorCode.Value,
      `${def.name}: prefix length ${bits} does not fit ${len - 2} prefix octets`,
      start,
    );
  }
  const addr = Buffer.alloc(16);
  buf.copy(addr, 0, start + 2, end);
  maskBits(addr, bits);
  return `${formatIPv6(addr, 0)}/${bits}`;
}

function maskBits(addr: Buffer, bits: number): void {
  for (let i = 0; i < 16; i++) {
    const keep = Math.max(0, Math.min(8, bits - i * 8));
    addr[i] &= (0xff << (8 - keep)) & 0xff;
  }
}

function hexGroups(buf: Buffer, start: number, n: number, per: number, sep: string): string {
  let s = '';
  for (let i = 0; i < n; i++) {
    if (i > 0 && i % per === 0) s += sep;
    s += buf[start + i].toString(16).padStart(2, '0');
  }
  return s;
}

/** RFC 5952 text form of the 16 octets at buf[off]: lower case, longest run of 2+ zero groups as "::". */
export function formatIPv6(buf: Buffer, off: number): string {
  const g: number[] = [];
  for (let i = 0; i < 8; i++) g.push(buf.readUInt16BE(off + i * 2));
  // IPv4-mapped addresses (RFC 5952 section 5).
  if (g[0] === 0 && g[1] === 0 && g[2] === 0 && g[3] === 0 && g[4] === 0 && g[5] === 0xffff) {
    return `::ffff:${buf[off + 12]}.${buf[off + 13]}.${buf[off + 14]}.${buf[off + 15]}`;
  }
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (bestLen < 2) return g.map((x) => x.toString(16)).join(':');
  const head = g.slice(0, bestStart).map((x) => x.toString(16)).join(':');
  const tail = g.slice(bestStart + bestLen).map((x) => x.toString(16)).join(':');
  return `${head}::${tail}`;
}

/** Parses an IPv4 dotted quad into 4 octets, or undefined. */
export function parseIPv4(s: string): Buffer | undefined {
  const parts = s.split('.');
  if (parts.length !== 4) return undefined;
  const out = Buffer.alloc(4);
  for (let i = 0; i < 4; i++) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(parts[i])) return undefined;
    const n = Number(parts[i]);
    if (n > 255) return undefined;
    out[i] = n;
  }
  return out;
}

/** Parses an IPv6 address (with optional "::" and trailing dotted IPv4) into 16 octets, or undefined. */
export function parseIPv6(s: string): Buffer | undefined {
  if (s.length === 0 || s.length > 45) return undefined;
  const out = Buffer.alloc(16);
  let tailV4: Buffer | undefined;
  let text = s;
  const lastColon = text.lastIndexOf(':');
  if (lastColon >= 0 && text.indexOf('.', lastColon) > lastColon) {
    tailV4 = parseIPv4(text.slice(lastColon + 1));
    if (tailV4 === undefined) return undefined;
    text = text.slice(0, lastColon + 1) + '0:0';
  }
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const parseGroups = (part: string): number[] | undefined => {
    if (part === '') return [];
    const groups = part.split(':');
    const nums: number[] = [];
    for (const grp of groups) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(grp)) return undefined;
      nums.push(parseInt(grp, 16));
    }
    return nums;
  };
  const head = parseGroups(halves[0]);
  const tail = halves.length === 2 ? parseGroups(halves[1]) : [];
  if (head === undefined || tail === undefined) return undefined;
  if (halves.length === 1 && head.length !== 8) return undefined;
  if (halves.length === 2 && head.length + tail.length > 7) return undefined;
  const groups = [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
  for (let i = 0; i < 8; i++) out.writeUInt16BE(groups[i], i * 2);
  if (tailV4 !== undefined) tailV4.copy(out, 12);
  return out;
}

function encodeFail(def: RadiusAttributeDef, msg: string): never {
  throw new RadiusEncodeError(RadiusEncodeErrorCode.Value, `${def.name}: ${msg}`);
}

function toInteger(def: RadiusAttributeDef, value: RadiusValueInput): number {
  let n: number;
  if (typeof value === 'string') {
    const named = def.valuesByName.get(value);
    if (named !== undefined) n = Number(named);
    else if (/^-?[0-9]+$/.test(value)) n = Number(value);
    else return encodeFail(def, `unknown value name ${JSON.stringify(value)}`);
  } else if (typeof value === 'bigint') n = Number(value);
  else if (typeof value === 'number') n = value;
  else if (value instanceof Date) n = Math.floor(value.getTime() / 1000);
  else return encodeFail(def, 'expects a number');
  const [lo, hi] = def.type === 'date' ? [0, 0xffffffff] : integerRange(def.type);
  if (!Number.isInteger(n) || n < lo || n > hi) encodeFail(def, `${String(value)} is out of range ${lo}..${hi}`);
  return n;
}

/** Encodes a value for `def`. Throws RadiusEncodeError (OCS_ERR_RADIUS_ENCODE_VALUE) when it does not fit. */
export function encodeValue(def: RadiusAttributeDef, value: RadiusValueInput, maxLength = MAX_ATTRIBUTE_VALUE_LENGTH): Buffer {
  let out: Buffer;
  switch (def.type) {
    case 'string':
    case 'text':
    case 'octets':
    case 'vsa':
      if (Buffer.isBuffer(value)) out = value;
      else if (typeof value === 'string') out = Buffer.from(value, 'utf8');
      else return encodeFail(def, `expects a string or Buffer`);
      if (def.fixedLength !== undefined && out.length !== def.fixedLength) encodeFail(def, `must be ${def.fixedLength} octets`);
      break;
    case 'integer':
    case 'date':
      out = Buffer.allocUnsafe(4);
      out.writeUInt32BE(toInteger(def, value));
      break;
    case 'byte':
      out = Buffer.from([toInteger(def, value)]);
      break;
    case 'short':
      out = Buffer.allocUnsafe(2);
      out.writeUInt16BE(toInteger(def, value));
      break;
    case 'signed':
      out = Buffer.allocUnsafe(4);
      out.writeInt32BE(toInteger(def, value));
      break;
    case 'integer64': {
      let n: bigint;
      if (typeof value === 'bigint') n = value;
      else if (typeof value === 'number' && Number.isSafeInteger(value)) n = BigInt(value);
      else if (typeof value === 'string' && def.valuesByName.has(value)) n = BigInt(def.valuesByName.get(value) as number | bigint);
      else if (typeof value === 'string' && /^[0-9]+$/.test(value)) n = BigInt(value);
      else return encodeFail(def, `expects a bigint or a safe integer`);
      if (n < 0n || n > 0xffffffffffffffffn) encodeFail(def, `${n} is out of range for integer64`);
      out = Buffer.allocUnsafe(8);
      out.writeBigUInt64BE(n);
      break;
    }
    case 'ipaddr': {
      const b = typeof value === 'string' ? parseIPv4(value) : Buffer.isBuffer(value) && value.length === 4 ? value : undefined;
      if (b === undefined) return encodeFail(def, `bad IPv4 address ${String(value)}`);
      out = b;
      break;
    }
    case 'ipv6addr': {
      const b = typeof value === 'string' ? parseIPv6(value) : Buffer.isBuffer(value) && value.length === 16 ? value : undefined;
      if (b === undefined) return encodeFail(def, `bad IPv6 address ${String(value)}`);
      out = b;
      break;
    }
    case 'ipv6prefix': {
      if (typeof value !== 'string') return encodeFail(def, 'expects "address/length"');
      const slash = value.lastIndexOf('/');
      const addr = slash > 0 ? parseIPv6(value.slice(0, slash)) : undefined;
      const bitsText = slash > 0 ? value.slice(slash + 1) : '';
      const bits = /^[0-9]{1,3}$/.test(bitsText) ? Number(bitsText) : NaN;
      if (addr === undefined || !(bits >= 0 && bits <= 128)) return encodeFail(def, `bad IPv6 prefix ${value}`);
      maskBits(addr, bits);
      // Only the octets the prefix length covers, as FreeRADIUS and RFC 8044 3.10 do.
      const n = Math.ceil(bits / 8);
      out = Buffer.alloc(2 + n);
      out[1] = bits;
      addr.copy(out, 2, 0, n);
      break;
    }
    case 'ifid':
    case 'ether': {
      const size = def.type === 'ifid' ? 8 : 6;
      if (Buffer.isBuffer(value) && value.length === size) {
        out = value;
        break;
      }
      const hex = typeof value === 'string' ? value.replace(/[:.-]/g, '') : '';
      if (!/^[0-9a-fA-F]+$/.test(hex) || hex.length !== size * 2) return encodeFail(def, `bad ${def.type} ${String(value)}`);
      out = Buffer.from(hex, 'hex');
      break;
    }
  }
  if (out.length > maxLength) encodeFail(def, `value of ${out.length} octets is longer than ${maxLength}`);
  return out;
}
