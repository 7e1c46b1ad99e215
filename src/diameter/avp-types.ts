// Diameter AVP data types (RFC 6733 §4.2 basic, §4.3 derived, §4.4 Grouped) and the shapes the codec
// hands out. Scalar value reading/writing lives here; message/AVP structure lives in codec.ts.
// Pure module: no I/O, no timers, no logging.
import { isUtf8 } from 'node:buffer'
import { DiameterEncodeError, DiameterErrorCodes, type DiameterHeader, type HeaderFlags } from './errors.js'

export type { DiameterHeader, HeaderFlags } from './errors.js'

/** Every AVP data type the dictionaries may name. IPFilterRule/QoSFilterRule are OctetString-derived text. */
export const AVP_TYPES = [
  'OctetString',
  'Integer32',
  'Integer64',
  'Unsigned32',
  'Unsigned64',
  'Float32',
  'Float64',
  'Grouped',
  'Address',
  'Time',
  'UTF8String',
  'DiameterIdentity',
  'DiameterURI',
  'Enumerated',
  'IPFilterRule',
  'QoSFilterRule',
] as const

export type AvpType = (typeof AVP_TYPES)[number]

/** Numeric type ids (index into AVP_TYPES) used on the hot path instead of string compares. */
export const T = {
  OctetString: 0,
  Integer32: 1,
  Integer64: 2,
  Unsigned32: 3,
  Unsigned64: 4,
  Float32: 5,
  Float64: 6,
  Grouped: 7,
  Address: 8,
  Time: 9,
  UTF8String: 10,
  DiameterIdentity: 11,
  DiameterURI: 12,
  Enumerated: 13,
  IPFilterRule: 14,
  QoSFilterRule: 15,
} as const satisfies Record<AvpType, number>

export function typeIdOf(type: string): number {
  const id = (T as Record<string, number>)[type]
  return id === undefined ? -1 : id
}

export function isAvpType(type: unknown): type is AvpType {
  return typeof type === 'string' && typeIdOf(type) >= 0
}

/** Types whose value is a JS number when decoded (and which may carry enum value names). */
export function isSmallIntegerType(typeId: number): boolean {
  return typeId === T.Integer32 || typeId === T.Unsigned32 || typeId === T.Enumerated
}

/** Types whose value is a string when decoded. */
export function isStringType(typeId: number): boolean {
  return (
    typeId === T.UTF8String ||
    typeId === T.DiameterIdentity ||
    typeId === T.DiameterURI ||
    typeId === T.IPFilterRule ||
    typeId === T.QoSFilterRule
  )
}

export interface AvpFlags {
  /** V bit: a Vendor-ID field follows the AVP length. */
  readonly vendor: boolean
  /** M bit: the receiver must understand this AVP or reject the message (5001). */
  readonly mandatory: boolean
  /** P bit: end-to-end protection (unused in practice). */
  readonly protected: boolean
}

/** An Address AVP whose family is neither IPv4 (1) nor IPv6 (2), kept as family + raw bytes. */
export interface AddressValue {
  family: number
  data: Buffer
}

/**
 * Decoded AVP value:
 * - OctetString: Buffer (a view into the decoded message buffer, not a copy)
 * - Integer32, Unsigned32, Enumerated, Float32, Float64: number
 * - Integer64, Unsigned64: bigint (always, whatever the magnitude)
 * - UTF8String, DiameterIdentity, DiameterURI, IPFilterRule, QoSFilterRule: string
 * - Time: Date
 * - Address: string ('192.0.2.1', '2001:db8::1') for IPv4/IPv6, AddressValue for other families
 * - Grouped: Avp[]
 * Unknown AVPs, and known ones decoded leniently as opaque, are OctetString (Buffer).
 */
export type AvpValue = Buffer | string | number | bigint | Date | AddressValue | Avp[]

/** Why an AVP was decoded leniently (see DecodeIrregularity). */
export type IrregularityKind =
  /** Grouped AVP whose children do not parse: kept as opaque OctetString bytes. */
  | 'grouped-opaque'
  /** Value that does not fit its type (wrong size, bad address, invalid UTF-8): kept as opaque bytes. */
  | 'invalid-value'
  /** Reserved AVP flag bits set: ignored. */
  | 'reserved-avp-bits'
  /** Reserved header flag bits set, or T bit on an answer: ignored. */
  | 'reserved-header-bits'

export interface Avp {
  code: number
  vendorId: number
  flags: AvpFlags
  /** Dictionary name; undefined for an AVP the dictionary does not know. */
  name: string | undefined
  /** Type of `value` as decoded ('OctetString' for unknown or opaque AVPs). */
  type: AvpType
  value: AvpValue
  /** Whole AVP bytes (header + data, no padding): set for unknown and irregular AVPs, or all with keepRaw. */
  raw: Buffer | undefined
  /** Set when the AVP was decoded leniently. */
  irregular: IrregularityKind | undefined
}

/** A tolerated deviation from RFC 6733 found while decoding (strict mode raises these instead). */
export interface DecodeIrregularity {
  kind: IrregularityKind
  /** Result-Code a strict server would answer with (5004, 5014, 3008, 3009, …). */
  resultCode: number
  /** Stable code of the underlying problem (OCS_ERR_DIAMETER_…). */
  errorCode: string
  message: string
  avpCode: number | undefined
  vendorId: number | undefined
  name: string | undefined
  /** The offending AVP bytes (for Failed-AVP), when an AVP is concerned. */
  failedAvp: Buffer | undefined
}

export interface DiameterMessage {
  version: number
  flags: HeaderFlags
  commandCode: number
  applicationId: number
  hopByHop: number
  endToEnd: number
  avps: Avp[]
  /** Tolerated irregularities; absent when there were none. */
  irregularities?: DecodeIrregularity[]
}

// ---------------------------------------------------------------------------------------------
// Encoder input shapes. A decoded Avp / DiameterMessage is a valid input (round trip).

export type AvpInputValue =
  | Buffer
  | Uint8Array
  | string
  | number
  | bigint
  | Date
  | AddressValue
  | readonly AvpInput[]

export interface AvpInput {
  /** Dictionary name; gives code, vendor, type and M bit. */
  name?: string | undefined
  /** AVP code, for AVPs given without a (known) name. */
  code?: number
  /** Vendor-ID (default 0, or the dictionary's when a name is given). */
  vendorId?: number
  /** Overrides the dictionary type (required for AVPs the dictionary does not know, unless value is bytes). */
  type?: AvpType | undefined
  /** Explicit flag bits; default V from vendorId, M from the dictionary, P never. */
  flags?: Partial<AvpFlags>
  /**
   * The value. Enumerated (and integer AVPs with named values) also accept the value name, e.g.
   * `{ name: 'CC-Request-Type', value: 'INITIAL_REQUEST' }`.
   */
  value: AvpInputValue | Avp[]
  /** A whole AVP (header included) written verbatim and padded; all other fields are then ignored. */
  wire?: Uint8Array
}

export interface MessageInput {
  /** Defaults to 1. */
  version?: number
  flags?: Partial<HeaderFlags>
  commandCode: number
  applicationId: number
  hopByHop: number
  endToEnd: number
  avps: readonly AvpInput[]
}

// ---------------------------------------------------------------------------------------------
// Flag objects are shared and frozen: 8 combinations of V/M/P.

const AVP_FLAG_SETS: readonly AvpFlags[] = Array.from({ length: 8 }, (_, i) =>
  Object.freeze({ vendor: (i & 4) !== 0, mandatory: (i & 2) !== 0, protected: (i & 1) !== 0 }),
)

/** Shared frozen AvpFlags for an AVP flags octet (reserved bits ignored). */
export function avpFlagsOf(flagsByte: number): AvpFlags {
  return AVP_FLAG_SETS[(flagsByte >> 5) & 7]
}

export const AVP_FLAG_V = 0x80
export const AVP_FLAG_M = 0x40
export const AVP_FLAG_P = 0x20
export const AVP_FLAG_RESERVED = 0x1f

const HEADER_FLAG_SETS: readonly HeaderFlags[] = Array.from({ length: 16 }, (_, i) =>
  Object.freeze({
    request: (i & 8) !== 0,
    proxiable: (i & 4) !== 0,
    error: (i & 2) !== 0,
    retransmit: (i & 1) !== 0,
  }),
)

export const HDR_FLAG_R = 0x80
export const HDR_FLAG_P = 0x40
export const HDR_FLAG_E = 0x20
export const HDR_FLAG_T = 0x10
export const HDR_FLAG_RESERVED = 0x0f

export function headerFlagsOf(flagsByte: number): HeaderFlags {
  return HEADER_FLAG_SETS[(flagsByte >> 4) & 15]
}

// ---------------------------------------------------------------------------------------------
// Time (RFC 6733 §4.3.1): seconds since 1900-01-01 UTC, 32 bits. Following RFC 4330 §3 (which
// RFC 6733 points to for the 2036 wrap), values with the top bit clear are taken as 2036..2104.

/** Seconds between the NTP epoch (1900) and the Unix epoch (1970). */
export const NTP_UNIX_OFFSET = 2208988800
const TWO_32 = 4294967296
const TWO_31 = 2147483648

export function ntpSecondsToDate(ntp: number): Date {
  const unix = ntp >= TWO_31 ? ntp - NTP_UNIX_OFFSET : ntp + TWO_32 - NTP_UNIX_OFFSET
  return new Date(unix * 1000)
}

/** NTP seconds for a Date (sub-second part truncated), or -1 when outside 1968-01-20 … 2104-02-26. */
export function dateToNtpSeconds(date: Date): number {
  const ms = date.getTime()
  if (!Number.isFinite(ms)) return -1
  let ntp = Math.floor(ms / 1000) + NTP_UNIX_OFFSET
  if (ntp >= TWO_32) {
    ntp -= TWO_32
    if (ntp >= TWO_31) return -1
  } else if (ntp < TWO_31) {
    return -1
  }
  return ntp
}

// ---------------------------------------------------------------------------------------------
// Address (RFC 6733 §4.3.1): 2-byte IANA address family + address. 1 = IPv4, 2 = IPv6.

export const ADDRESS_FAMILY_IPV4 = 1
export const ADDRESS_FAMILY_IPV6 = 2

export function formatIPv4(buf: Buffer, off: number): string {
  return `${buf[off]}.${buf[off + 1]}.${buf[off + 2]}.${buf[off + 3]}`
}

/** RFC 5952 text form: lower-case, no leading zeros, longest run (>= 2) of zero groups as '::'. */
export function formatIPv6(buf: Buffer, off: number): string {
  const g: number[] = new Array(8)
  for (let i = 0; i < 8; i++) g[i] = (buf[off + 2 * i] << 8) | buf[off + 2 * i + 1]
  let bestStart = -1
  let bestLen = 0
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++
      continue
    }
    let j = i
    while (j < 8 && g[j] === 0) j++
    if (j - i > bestLen) {
      bestStart = i
      bestLen = j - i
    }
    i = j
  }
  if (bestLen < 2) return g.map((x) => x.toString(16)).join(':')
  const head = g.slice(0, bestStart).map((x) => x.toString(16)).join(':')
  const tail = g.slice(bestStart + bestLen).map((x) => x.toString(16)).join(':')
  return `${head}::${tail}`
}

/** Four octets of a dotted-quad IPv4 address, or undefined. */
export function parseIPv4(s: string): number[] | undefined {
  const parts = s.split('.')
  if (parts.length !== 4) return undefined
  const out: number[] = []
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p)) return undefined
    const n = Number(p)
    if (n > 255 || (p.length > 1 && p[0] === '0')) return undefined
    out.push(n)
  }
  return out
}

/** Sixteen octets of an IPv6 address (with '::' and an optional dotted-quad tail), or undefined. */
export function parseIPv6(s: string): number[] | undefined {
  if (s.length < 2 || s.length > 45) return undefined
  let tailV4: number[] | undefined
  let text = s
  const lastColon = text.lastIndexOf(':')
  if (lastColon >= 0 && text.indexOf('.', lastColon) > lastColon) {
    tailV4 = parseIPv4(text.slice(lastColon + 1))
    if (!tailV4) return undefined
    text = text.slice(0, lastColon + 1) + '0:0'
  }
  const dbl = text.indexOf('::')
  if (dbl !== text.lastIndexOf('::')) return undefined
  const parseGroups = (part: string): number[] | undefined => {
    if (part === '') return []
    const gs = part.split(':')
    const out: number[] = []
    for (const h of gs) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(h)) return undefined
      out.push(parseInt(h, 16))
    }
    return out
  }
  let groups: number[]
  if (dbl >= 0) {
    const head = parseGroups(text.slice(0, dbl))
    const tail = parseGroups(text.slice(dbl + 2))
    if (!head || !tail || head.length + tail.length > 7) return undefined
    groups = [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail]
  } else {
    const all = parseGroups(text)
    if (!all || all.length !== 8) return undefined
    groups = all
  }
  const bytes: number[] = []
  for (const x of groups) bytes.push(x >> 8, x & 0xff)
  if (tailV4) bytes.splice(12, 4, ...tailV4)
  return bytes
}

// ---------------------------------------------------------------------------------------------
// Scalar decoding. Returns INVALID when the data does not fit the type (caller decides 5004 vs opaque).

export const INVALID: unique symbol = Symbol('invalid-avp-value')

/** Decode a string-typed AVP: ASCII fast path, then a UTF-8 validity check (invalid → INVALID). */
function readText(buf: Buffer, start: number, end: number): string | typeof INVALID {
  for (let i = start; i < end; i++) {
    if (buf[i] > 0x7f) {
      const sub = buf.subarray(start, end)
      return isUtf8(sub) ? sub.toString('utf8') : INVALID
    }
  }
  return buf.toString('latin1', start, end)
}

/** Decode the data of a non-Grouped AVP of type `typeId` from buf[start, end). */
export function readScalar(
  typeId: number,
  buf: Buffer,
  start: number,
  end: number,
): Exclude<AvpValue, Avp[]> | typeof INVALID {
  const len = end - start
  switch (typeId) {
    case T.Unsigned32:
      return len === 4 ? buf.readUInt32BE(start) : INVALID
    case T.Integer32:
    case T.Enumerated:
      return len === 4 ? buf.readInt32BE(start) : INVALID
    case T.UTF8String:
    case T.DiameterIdentity:
    case T.DiameterURI:
    case T.IPFilterRule:
    case T.QoSFilterRule:
      return readText(buf, start, end)
    case T.OctetString:
      return buf.subarray(start, end)
    case T.Unsigned64:
      return len === 8 ? buf.readBigUInt64BE(start) : INVALID
    case T.Integer64:
      return len === 8 ? buf.readBigInt64BE(start) : INVALID
    case T.Time:
      return len === 4 ? ntpSecondsToDate(buf.readUInt32BE(start)) : INVALID
    case T.Address: {
      if (len < 2) return INVALID
      const family = buf.readUInt16BE(start)
      if (family === ADDRESS_FAMILY_IPV4) return len === 6 ? formatIPv4(buf, start + 2) : INVALID
      if (family === ADDRESS_FAMILY_IPV6) return len === 18 ? formatIPv6(buf, start + 2) : INVALID
      return { family, data: buf.subarray(start + 2, end) }
    }
    case T.Float32:
      return len === 4 ? buf.readFloatBE(start) : INVALID
    case T.Float64:
      return len === 8 ? buf.readDoubleBE(start) : INVALID
    default:
      return INVALID
  }
}

// ---------------------------------------------------------------------------------------------
// Scalar encoding: normalise a JS value for a type (validating it), report its size, then write it.

const U32_MAX = 0xffffffff
const I32_MIN = -0x80000000
const I32_MAX = 0x7fffffff
const U64_MAX = (1n << 64n) - 1n
const I64_MIN = -(1n << 63n)
const I64_MAX = (1n << 63n) - 1n

function encodeFail(avp: string, message: string): never {
  throw new DiameterEncodeError(DiameterErrorCodes.ENCODE_VALUE, `${avp}: ${message}`, avp)
}

function toBigIntValue(v: unknown, avp: string, type: string): bigint {
  if (typeof v === 'bigint') return v
  if (typeof v === 'number' && Number.isSafeInteger(v)) return BigInt(v)
  return encodeFail(avp, `${type} needs a bigint or a safe integer, got ${describe(v)}`)
}

function describe(v: unknown): string {
  if (v === null) return 'null'
  if (Buffer.isBuffer(v)) return `Buffer(${v.length})`
  if (v instanceof Date) return 'Date'
  if (Array.isArray(v)) return 'array'
  return typeof v === 'bigint' ? `${v}n` : typeof v === 'string' ? JSON.stringify(v) : `${typeof v} ${String(v)}`
}

function isAddressValue(v: unknown): v is AddressValue {
  return (
    typeof v === 'object' &&
    v !== null &&
    typeof (v as AddressValue).family === 'number' &&
    (v as AddressValue).data instanceof Uint8Array
  )
}

/**
 * Validate and normalise `v` for a scalar type. Returns the normalised value and its data length.
 * Normalised forms: number (32-bit ints, floats, Time as NTP seconds), bigint (64-bit), string
 * (text types: written as UTF-8), Uint8Array (OctetString and Address, family included).
 * `enumLookup` resolves value names for integer types.
 */
export function prepareScalar(
  typeId: number,
  v: unknown,
  avp: string,
  enumLookup?: (name: string) => number | undefined,
): { value: number | bigint | string | Uint8Array; len: number } {
  switch (typeId) {
    case T.Unsigned32:
    case T.Integer32:
    case T.Enumerated: {
      let n = v
      if (typeof n === 'string') {
        const resolved = enumLookup?.(n)
        if (resolved === undefined) return encodeFail(avp, `unknown value name ${JSON.stringify(n)}`)
        n = resolved
      }
      if (typeof n === 'bigint' && n >= BigInt(I32_MIN) && n <= BigInt(U32_MAX)) n = Number(n)
      if (typeof n !== 'number' || !Number.isInteger(n)) {
        return encodeFail(avp, `${AVP_TYPES[typeId]} needs an integer, got ${describe(v)}`)
      }
      if (typeId === T.Unsigned32 ? n < 0 || n > U32_MAX : n < I32_MIN || n > I32_MAX) {
        return encodeFail(avp, `${n} is out of range for ${AVP_TYPES[typeId]}`)
      }
      return { value: n, len: 4 }
    }
    case T.UTF8String:
    case T.DiameterIdentity:
    case T.DiameterURI:
    case T.IPFilterRule:
    case T.QoSFilterRule:
      if (typeof v === 'string') return { value: v, len: Buffer.byteLength(v, 'utf8') }
      if (v instanceof Uint8Array) return { value: v, len: v.length }
      return encodeFail(avp, `${AVP_TYPES[typeId]} needs a string, got ${describe(v)}`)
    case T.OctetString:
      if (v instanceof Uint8Array) return { value: v, len: v.length }
      if (typeof v === 'string') return { value: v, len: Buffer.byteLength(v, 'utf8') }
      return encodeFail(avp, `OctetString needs a Buffer, got ${describe(v)}`)
    case T.Unsigned64: {
      const b = toBigIntValue(v, avp, 'Unsigned64')
      if (b < 0n || b > U64_MAX) return encodeFail(avp, `${b} is out of range for Unsigned64`)
      return { value: b, len: 8 }
    }
    case T.Integer64: {
      const b = toBigIntValue(v, avp, 'Integer64')
      if (b < I64_MIN || b > I64_MAX) return encodeFail(avp, `${b} is out of range for Integer64`)
      return { value: b, len: 8 }
    }
    case T.Float32:
    case T.Float64:
      if (typeof v !== 'number') return encodeFail(avp, `${AVP_TYPES[typeId]} needs a number, got ${describe(v)}`)
      return { value: v, len: typeId === T.Float32 ? 4 : 8 }
    case T.Time: {
      if (!(v instanceof Date)) return encodeFail(avp, `Time needs a Date, got ${describe(v)}`)
      const ntp = dateToNtpSeconds(v)
      if (ntp < 0) return encodeFail(avp, `${String(v)} cannot be expressed as a Diameter Time (1968..2104)`)
      return { value: ntp, len: 4 }
    }
    case T.Address: {
      if (typeof v === 'string') {
        const v4 = v.includes(':') ? undefined : parseIPv4(v)
        if (v4) return { value: Uint8Array.from([0, ADDRESS_FAMILY_IPV4, ...v4]), len: 6 }
        const v6 = v.includes(':') ? parseIPv6(v) : undefined
        if (v6) return { value: Uint8Array.from([0, ADDRESS_FAMILY_IPV6, ...v6]), len: 18 }
        return encodeFail(avp, `${JSON.stringify(v)} is not an IPv4 or IPv6 address`)
      }
      if (isAddressValue(v)) {
        if (!Number.isInteger(v.family) || v.family < 0 || v.family > 0xffff) {
          return encodeFail(avp, `address family ${v.family} is out of range`)
        }
        const out = new Uint8Array(2 + v.data.length)
        out[0] = v.family >> 8
        out[1] = v.family & 0xff
        out.set(v.data, 2)
        return { value: out, len: out.length }
      }
      return encodeFail(avp, `Address needs an IP string or {family, data}, got ${describe(v)}`)
    }
    default:
      return encodeFail(avp, `type ${AVP_TYPES[typeId] ?? typeId} is not a scalar type`)
  }
}

/** Write a value normalised by prepareScalar at buf[off]. Returns bytes written. */
export function writeScalar(typeId: number, value: number | bigint | string | Uint8Array, buf: Buffer, off: number): number {
  switch (typeId) {
    case T.Unsigned32:
    case T.Time:
      buf.writeUInt32BE(value as number, off)
      return 4
    case T.Integer32:
    case T.Enumerated:
      buf.writeInt32BE(value as number, off)
      return 4
    case T.Unsigned64:
      buf.writeBigUInt64BE(value as bigint, off)
      return 8
    case T.Integer64:
      buf.writeBigInt64BE(value as bigint, off)
      return 8
    case T.Float32:
      buf.writeFloatBE(value as number, off)
      return 4
    case T.Float64:
      buf.writeDoubleBE(value as number, off)
      return 8
    default:
      if (typeof value === 'string') return buf.write(value, off, 'utf8')
      if (value instanceof Uint8Array) {
        buf.set(value, off)
        return value.length
      }
      throw new DiameterEncodeError(DiameterErrorCodes.ENCODE_VALUE, `cannot write ${describe(value)}`)
  }
}
