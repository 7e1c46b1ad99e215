// Diameter message codec (RFC 6733 §3 header, §4 AVPs), driven by the JSON dictionaries.
//
//   decode(buf)  → DiameterMessage      (throws DiameterDecodeError with a stable code + Result-Code)
//   encode(msg)  → Buffer               (throws DiameterEncodeError on programming errors)
//
// Decoding is liberal where the field is sloppy (RFC 6733 §1.1 robustness; SPEC "What real Ro clients
// send"): a Grouped AVP whose children do not parse, or a value that does not fit its type, is kept as
// opaque OctetString bytes, flagged on the AVP (`irregular`) and listed in `message.irregularities`
// with the Result-Code a strict server would send; the handler decides whether it matters. With
// { strict: true } those become DiameterDecodeErrors. Framing-level damage (bad message length, an AVP
// length below its header or overrunning the message) is always an error: nothing after it can be trusted.
//
// Safety: every length is checked against the enclosing buffer before use, nothing is allocated from an
// unchecked length, nesting is bounded (maxDepth), and the only exceptions that leave decode() are
// DiameterDecodeErrors.
//
// Pure module: no sockets, timers or logging.
import {
  AVP_FLAG_M,
  AVP_FLAG_P,
  AVP_FLAG_RESERVED,
  AVP_FLAG_V,
  AVP_TYPES,
  HDR_FLAG_E,
  HDR_FLAG_P,
  HDR_FLAG_R,
  HDR_FLAG_RESERVED,
  HDR_FLAG_T,
  INVALID,
  T,
  avpFlagsOf,
  headerFlagsOf,
  prepareScalar,
  readScalar,
  typeIdOf,
  writeScalar,
  type Avp,
  type AvpInput,
  type AvpType,
  type AvpValue,
  type DecodeIrregularity,
  type DiameterMessage,
  type IrregularityKind,
  type MessageInput,
} from './avp-types.js'
import { defaultDictionary, type AvpEntry, type Dictionary } from './dictionary.js'
import {
  DiameterDecodeError,
  DiameterEncodeError,
  DiameterErrorCodes as E,
  ResultCodes as RC,
  type DiameterErrorCode,
  type DiameterHeader,
  type HeaderFlags,
} from './errors.js'

export * from './avp-types.js'
export * from './errors.js'
export { Dictionary, createDictionary, defaultDictionary, loadDictionary } from './dictionary.js'
export type { AvpEntry, CommandEntry, ApplicationEntry, DictionaryFile, DictionaryAvpDef } from './dictionary.js'

export const HEADER_LENGTH = 20
/** The Message Length field is 24 bits. */
export const MAX_MESSAGE_LENGTH = 0xffffff
export const DEFAULT_MAX_DEPTH = 16

export interface DecodeOptions {
  /** Dictionary to name and type AVPs (default: dictionaries/diameter/*.json). */
  dictionary?: Dictionary
  /** Raise DiameterDecodeError for irregularities instead of tolerating them (default false). */
  strict?: boolean
  /** Attach the raw AVP bytes to every AVP, not only unknown/irregular ones (default false). */
  keepRaw?: boolean
  /** Maximum Grouped nesting depth (default 16). Deeper Grouped AVPs are irregular (opaque). */
  maxDepth?: number
}

export interface EncodeOptions {
  dictionary?: Dictionary
  /** Maximum Grouped nesting depth accepted from the caller (default 16). */
  maxDepth?: number
}

// =============================================================================================
// Decoding

interface DecodeCtx {
  dict: Dictionary
  strict: boolean
  keepRaw: boolean
  maxDepth: number
  irregular: DecodeIrregularity[] | undefined
}

function readHeader(buf: Buffer): DiameterHeader {
  return {
    version: buf[0],
    length: (buf[1] << 16) | (buf[2] << 8) | buf[3],
    flags: headerFlagsOf(buf[4]),
    commandCode: (buf[5] << 16) | (buf[6] << 8) | buf[7],
    applicationId: buf.readUInt32BE(8),
    hopByHop: buf.readUInt32BE(12),
    endToEnd: buf.readUInt32BE(16),
  }
}

/**
 * Parse and validate the 20-byte header of a buffer holding exactly one message.
 * RFC 6733 §3: version 1; Message Length >= 20, a multiple of 4, equal to the bytes given;
 * the E bit MUST NOT be set on a request (3008).
 */
export function decodeHeader(buf: Buffer): DiameterHeader {
  if (buf.length < HEADER_LENGTH) {
    throw new DiameterDecodeError(E.TRUNCATED, `message of ${buf.length} bytes is shorter than the 20-byte header`, {
      resultCode: RC.DIAMETER_INVALID_MESSAGE_LENGTH,
    })
  }
  const header = readHeader(buf)
  if (header.version !== 1) {
    throw new DiameterDecodeError(E.VERSION, `unsupported Diameter version ${header.version}`, {
      resultCode: RC.DIAMETER_UNSUPPORTED_VERSION,
      header,
    })
  }
  const len = header.length
  if (len < HEADER_LENGTH || (len & 3) !== 0) {
    throw new DiameterDecodeError(E.MESSAGE_LENGTH, `Message Length ${len} is below 20 or not a multiple of 4`, {
      resultCode: RC.DIAMETER_INVALID_MESSAGE_LENGTH,
      header,
    })
  }
  if (len > buf.length) {
    throw new DiameterDecodeError(E.TRUNCATED, `Message Length ${len} but only ${buf.length} bytes`, {
      resultCode: RC.DIAMETER_INVALID_MESSAGE_LENGTH,
      header,
    })
  }
  if (len < buf.length) {
    throw new DiameterDecodeError(E.MESSAGE_LENGTH, `Message Length ${len} but ${buf.length} bytes given`, {
      resultCode: RC.DIAMETER_INVALID_MESSAGE_LENGTH,
      header,
    })
  }
  if (header.flags.request && header.flags.error) {
    throw new DiameterDecodeError(E.HEADER_BITS, 'E bit set on a request', { resultCode: RC.DIAMETER_INVALID_HDR_BITS, header })
  }
  return header
}

/** Decode one whole Diameter message (exactly `buf.length` bytes, e.g. from DiameterFramer). */
export function decode(buf: Buffer, opts?: DecodeOptions): DiameterMessage {
  const header = decodeHeader(buf)
  const ctx: DecodeCtx = {
    dict: opts?.dictionary ?? defaultDictionary(),
    strict: opts?.strict === true,
    keepRaw: opts?.keepRaw === true,
    maxDepth: opts?.maxDepth ?? DEFAULT_MAX_DEPTH,
    irregular: undefined,
  }
  const fb = buf[4]
  const tOnAnswer = (fb & HDR_FLAG_T) !== 0 && (fb & HDR_FLAG_R) === 0
  if ((fb & HDR_FLAG_RESERVED) !== 0 || tOnAnswer) {
    // RFC 6733 §3: reserved bits "MUST be set to zero and ignored by the receiver"; T "MUST NOT be set in answer messages".
    const what = tOnAnswer ? 'T bit set on an answer' : `reserved header flag bits set (0x${fb.toString(16)})`
    if (ctx.strict) {
      throw new DiameterDecodeError(E.HEADER_BITS, what, { resultCode: RC.DIAMETER_INVALID_HDR_BITS, header })
    }
    addIrregularity(ctx, 'reserved-header-bits', RC.DIAMETER_INVALID_HDR_BITS, E.HEADER_BITS, what, undefined, undefined, undefined, undefined)
  }
  const avps: Avp[] = []
  try {
    decodeAvpList(buf, HEADER_LENGTH, buf.length, 0, ctx, avps)
  } catch (err) {
    if (err instanceof DiameterDecodeError) {
      err.header = header
      err.partialAvps = avps
      throw err
    }
    // Not expected: every read is bounds-checked. Never let a non-codec error escape.
    throw new DiameterDecodeError(E.AVP_VALUE, `internal decode failure: ${(err as Error)?.message ?? String(err)}`, {
      resultCode: RC.DIAMETER_UNABLE_TO_COMPLY,
      header,
      partialAvps: avps,
    })
  }
  const msg: DiameterMessage = {
    version: header.version,
    flags: header.flags,
    commandCode: header.commandCode,
    applicationId: header.applicationId,
    hopByHop: header.hopByHop,
    endToEnd: header.endToEnd,
    avps,
  }
  if (ctx.irregular !== undefined) msg.irregularities = ctx.irregular
  return msg
}

/**
 * Decode a sequence of AVPs (no message header), e.g. the data of a Grouped AVP held as bytes.
 * Errors carry no header.
 */
export function decodeAvps(buf: Buffer, opts?: DecodeOptions): { avps: Avp[]; irregularities: DecodeIrregularity[] } {
  const ctx: DecodeCtx = {
    dict: opts?.dictionary ?? defaultDictionary(),
    strict: opts?.strict === true,
    keepRaw: opts?.keepRaw === true,
    maxDepth: opts?.maxDepth ?? DEFAULT_MAX_DEPTH,
    irregular: undefined,
  }
  const avps: Avp[] = []
  try {
    decodeAvpList(buf, 0, buf.length, 0, ctx, avps)
  } catch (err) {
    if (err instanceof DiameterDecodeError) {
      err.partialAvps = avps
      throw err
    }
    throw new DiameterDecodeError(E.AVP_VALUE, `internal decode failure: ${(err as Error)?.message ?? String(err)}`, {
      resultCode: RC.DIAMETER_UNABLE_TO_COMPLY,
      partialAvps: avps,
    })
  }
  return { avps, irregularities: ctx.irregular ?? [] }
}

function addIrregularity(
  ctx: DecodeCtx,
  kind: IrregularityKind,
  resultCode: number,
  errorCode: string,
  message: string,
  avpCode: number | undefined,
  vendorId: number | undefined,
  name: string | undefined,
  failedAvp: Buffer | undefined,
): void {
  const item: DecodeIrregularity = { kind, resultCode, errorCode, message, avpCode, vendorId, name, failedAvp }
  if (ctx.irregular === undefined) ctx.irregular = [item]
  else ctx.irregular.push(item)
}

function makeAvp(
  code: number,
  vendorId: number,
  flagsByte: number,
  name: string | undefined,
  type: AvpType,
  value: AvpValue,
  raw: Buffer | undefined,
  irregular: IrregularityKind | undefined,
): Avp {
  // Always the same property set, in the same order: one hidden class for every AVP.
  return { code, vendorId, flags: avpFlagsOf(flagsByte), name, type, value, raw, irregular }
}

function avpError(
  code: DiameterErrorCode,
  message: string,
  resultCode: number,
  failedAvp: Buffer,
  avpCode: number | undefined,
  vendorId: number | undefined,
): DiameterDecodeError {
  return new DiameterDecodeError(code, message, { resultCode, failedAvp, avpCode, vendorId })
}

function avpLabel(entry: AvpEntry | undefined, code: number, vendorId: number): string {
  return entry ? entry.name : vendorId === 0 ? `AVP ${code}` : `AVP ${code} (vendor ${vendorId})`
}

/** Decode AVPs in buf[start, end) into `out`. Throws DiameterDecodeError on framing damage. */
function decodeAvpList(buf: Buffer, start: number, end: number, depth: number, ctx: DecodeCtx, out: Avp[]): void {
  const dict = ctx.dict
  let off = start
  while (off < end) {
    const remaining = end - off
    if (remaining < 8) {
      throw avpError(E.AVP_LENGTH, `${remaining} trailing byte(s) cannot hold an AVP header`, RC.DIAMETER_INVALID_AVP_LENGTH, buf.subarray(off, end), undefined, undefined)
    }
    const code = buf.readUInt32BE(off)
    const fb = buf[off + 4]
    const len = (buf[off + 5] << 16) | (buf[off + 6] << 8) | buf[off + 7]
    const hasVendor = (fb & AVP_FLAG_V) !== 0
    const hdrLen = hasVendor ? 12 : 8
    if (len < hdrLen) {
      // RFC 6733 §7.5: for 5014 the Failed-AVP carries the offending AVP as received.
      throw avpError(
        E.AVP_LENGTH,
        `AVP ${code}: AVP Length ${len} is below its ${hdrLen}-byte header`,
        RC.DIAMETER_INVALID_AVP_LENGTH,
        buf.subarray(off, off + Math.min(remaining, hdrLen)),
        code,
        undefined,
      )
    }
    if (len > remaining) {
      const vid = remaining >= 12 && hasVendor ? buf.readUInt32BE(off + 8) : undefined
      throw avpError(
        E.AVP_LENGTH,
        `AVP ${code}: AVP Length ${len} overruns its ${depth === 0 ? 'message' : 'Grouped AVP'} (${remaining} bytes left)`,
        RC.DIAMETER_INVALID_AVP_LENGTH,
        buf.subarray(off, end),
        code,
        vid,
      )
    }
    const vendorId = hasVendor ? buf.readUInt32BE(off + 8) : 0
    const dataStart = off + hdrLen
    const avpEnd = off + len
    const entry = dict.avp(code, vendorId)

    if ((fb & AVP_FLAG_RESERVED) !== 0) {
      const what = `${avpLabel(entry, code, vendorId)}: reserved AVP flag bits set (0x${fb.toString(16)})`
      if (ctx.strict) throw avpError(E.AVP_BITS, what, RC.DIAMETER_INVALID_AVP_BITS, buf.subarray(off, avpEnd), code, vendorId)
      addIrregularity(ctx, 'reserved-avp-bits', RC.DIAMETER_INVALID_AVP_BITS, E.AVP_BITS, what, code, vendorId, entry?.name, buf.subarray(off, avpEnd))
    }

    let avp: Avp
    if (entry === undefined) {
      // Unknown AVP: opaque bytes, flags kept; the handler decides (no M → ignore, M → may answer 5001).
      avp = makeAvp(code, vendorId, fb, undefined, 'OctetString', buf.subarray(dataStart, avpEnd), buf.subarray(off, avpEnd), undefined)
    } else if (entry.typeId === T.Grouped) {
      avp = decodeGrouped(buf, off, dataStart, avpEnd, fb, code, vendorId, entry, depth, ctx)
    } else {
      const v = readScalar(entry.typeId, buf, dataStart, avpEnd)
      if (v === INVALID) {
        const what = `${entry.name}: ${avpEnd - dataStart} byte(s) of data do not fit type ${entry.type}`
        if (ctx.strict) throw avpError(E.AVP_VALUE, what, RC.DIAMETER_INVALID_AVP_VALUE, buf.subarray(off, avpEnd), code, vendorId)
        addIrregularity(ctx, 'invalid-value', RC.DIAMETER_INVALID_AVP_VALUE, E.AVP_VALUE, what, code, vendorId, entry.name, buf.subarray(off, avpEnd))
        avp = makeAvp(code, vendorId, fb, entry.name, 'OctetString', buf.subarray(dataStart, avpEnd), buf.subarray(off, avpEnd), 'invalid-value')
      } else {
        avp = makeAvp(code, vendorId, fb, entry.name, entry.type, v, ctx.keepRaw ? buf.subarray(off, avpEnd) : undefined, undefined)
      }
    }
    out.push(avp)
    // Padding to a 4-byte boundary; a Grouped AVP whose length omits its last child's padding is tolerated.
    const next = off + ((len + 3) & ~3)
    off = next > end ? end : next
  }
}

function decodeGrouped(
  buf: Buffer,
  off: number,
  dataStart: number,
  avpEnd: number,
  fb: number,
  code: number,
  vendorId: number,
  entry: AvpEntry,
  depth: number,
  ctx: DecodeCtx,
): Avp {
  const mark = ctx.irregular?.length ?? 0
  let failure: DiameterDecodeError
  if (depth + 1 > ctx.maxDepth) {
    failure = avpError(E.NESTING, `${entry.name}: Grouped AVPs nested deeper than ${ctx.maxDepth}`, RC.DIAMETER_INVALID_AVP_VALUE, buf.subarray(off, avpEnd), code, vendorId)
    if (ctx.strict) throw failure
  } else {
    const children: Avp[] = []
    try {
      decodeAvpList(buf, dataStart, avpEnd, depth + 1, ctx, children)
      return makeAvp(code, vendorId, fb, entry.name, 'Grouped', children, ctx.keepRaw ? buf.subarray(off, avpEnd) : undefined, undefined)
    } catch (err) {
      if (ctx.strict || !(err instanceof DiameterDecodeError)) throw err
      failure = err
    }
  }
  // Lenient: keep the Grouped AVP as opaque bytes. Irregularities recorded for its (discarded) children go.
  if (ctx.irregular !== undefined) ctx.irregular.length = mark
  addIrregularity(
    ctx,
    'grouped-opaque',
    failure.resultCode ?? RC.DIAMETER_INVALID_AVP_VALUE,
    failure.code,
    `${entry.name} kept as opaque bytes: ${failure.message}`,
    code,
    vendorId,
    entry.name,
    buf.subarray(off, avpEnd),
  )
  return makeAvp(code, vendorId, fb, entry.name, 'OctetString', buf.subarray(dataStart, avpEnd), buf.subarray(off, avpEnd), 'grouped-opaque')
}

// =============================================================================================
// Lookup helpers

type AvpList = readonly Avp[] | undefined

function matches(a: Avp, key: string | number, vendorId: number | undefined): boolean {
  return typeof key === 'string' ? a.name === key : a.code === key && a.vendorId === (vendorId ?? 0)
}

/** First AVP of a list with that dictionary name (or code + vendor), or undefined. */
export function findAvp(avps: AvpList, key: string | number, vendorId?: number): Avp | undefined {
  if (avps === undefined) return undefined
  for (let i = 0; i < avps.length; i++) if (matches(avps[i], key, vendorId)) return avps[i]
  return undefined
}

/** All AVPs of a list with that dictionary name (or code + vendor), in order. */
export function findAvps(avps: AvpList, key: string | number, vendorId?: number): Avp[] {
  const out: Avp[] = []
  if (avps === undefined) return out
  for (let i = 0; i < avps.length; i++) if (matches(avps[i], key, vendorId)) out.push(avps[i])
  return out
}

/** Children of a decoded Grouped AVP; undefined if it is absent or was kept opaque. */
export function childrenOf(avp: Avp | undefined): Avp[] | undefined {
  return avp !== undefined && Array.isArray(avp.value) ? avp.value : undefined
}

/** Walk Grouped AVPs by name: findAvpPath(msg.avps, ['Service-Information', 'IMS-Information', 'Called-Party-Address']). */
export function findAvpPath(avps: AvpList, path: readonly string[]): Avp | undefined {
  let list: AvpList = avps
  let found: Avp | undefined
  for (let i = 0; i < path.length; i++) {
    found = findAvp(list, path[i])
    if (found === undefined) return undefined
    if (i < path.length - 1) list = childrenOf(found)
  }
  return found
}

/** Integer value as a JS number (number values, or bigints within the safe range); else undefined. */
export function avpNumber(avp: Avp | undefined): number | undefined {
  if (avp === undefined) return undefined
  const v = avp.value
  if (typeof v === 'number') return v
  if (typeof v === 'bigint' && v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= BigInt(Number.MIN_SAFE_INTEGER)) return Number(v)
  return undefined
}

/** Integer value as a bigint (64-bit AVPs, or integer numbers); else undefined. */
export function avpBigInt(avp: Avp | undefined): bigint | undefined {
  if (avp === undefined) return undefined
  const v = avp.value
  if (typeof v === 'bigint') return v
  if (typeof v === 'number' && Number.isInteger(v)) return BigInt(v)
  return undefined
}

/** String value (UTF8String, DiameterIdentity, DiameterURI, IP address text); else undefined. */
export function avpString(avp: Avp | undefined): string | undefined {
  return avp !== undefined && typeof avp.value === 'string' ? avp.value : undefined
}

/** Time value; else undefined. */
export function avpDate(avp: Avp | undefined): Date | undefined {
  return avp !== undefined && avp.value instanceof Date ? avp.value : undefined
}

/**
 * First AVP (depth-first, children of decoded Grouped AVPs included) that the dictionary does not know
 * and that carries the M bit: the candidate for a 5001 DIAMETER_AVP_UNSUPPORTED answer's Failed-AVP.
 */
export function findUnknownMandatory(avps: AvpList): Avp | undefined {
  if (avps === undefined) return undefined
  for (const a of avps) {
    if (a.name === undefined && a.flags.mandatory) return a
    if (Array.isArray(a.value)) {
      const inner = findUnknownMandatory(a.value)
      if (inner !== undefined) return inner
    }
  }
  return undefined
}

/** Header of the answer to a request: same command, application, ids; R cleared, P kept (RFC 6733 §6.2). */
export function answerHeader(
  request: Pick<DiameterHeader, 'commandCode' | 'applicationId' | 'hopByHop' | 'endToEnd' | 'flags'>,
  error = false,
): Omit<MessageInput, 'avps'> {
  return {
    commandCode: request.commandCode,
    applicationId: request.applicationId,
    hopByHop: request.hopByHop,
    endToEnd: request.endToEnd,
    flags: { request: false, proxiable: request.flags.proxiable, error, retransmit: false },
  }
}

// =============================================================================================
// Encoding: pass 1 resolves and measures every AVP into scratch arrays (pre-order), pass 2 writes
// them into one exactly-sized buffer. encode() is synchronous and non-reentrant, so the scratch
// arrays are shared across calls.

const TYPE_WIRE = -2 // verbatim AVP bytes
let sCode: number[] = []
let sVendor: number[] = []
let sFlags: number[] = []
let sType: number[] = []
let sLen: number[] = []
let sVal: Array<number | bigint | string | Uint8Array | undefined> = []
let sCount = 0

interface EncodeCtx {
  dict: Dictionary
  maxDepth: number
}

function encodeError(code: DiameterErrorCode, message: string, avp?: string): DiameterEncodeError {
  return new DiameterEncodeError(code, message, avp)
}

function isU32(n: unknown): n is number {
  return typeof n === 'number' && Number.isInteger(n) && n >= 0 && n <= 0xffffffff
}

/** Measure a list of AVPs; returns its byte length with padding. */
function measureList(list: unknown, depth: number, ctx: EncodeCtx, parent: string): number {
  if (!Array.isArray(list)) throw encodeError(E.ENCODE_VALUE, `${parent}: Grouped value must be an array of AVPs`, parent)
  if (depth > ctx.maxDepth) throw encodeError(E.ENCODE_MESSAGE, `${parent}: Grouped AVPs nested deeper than ${ctx.maxDepth}`, parent)
  let total = 0
  for (let i = 0; i < list.length; i++) total += measureAvp(list[i] as AvpInput, depth, ctx)
  return total
}

function measureAvp(input: AvpInput, depth: number, ctx: EncodeCtx): number {
  if (typeof input !== 'object' || input === null) throw encodeError(E.ENCODE_VALUE, `AVP entry must be an object, got ${String(input)}`)
  const i = sCount++
  if (input.wire instanceof Uint8Array) {
    // Verbatim AVP bytes (e.g. an unparseable AVP echoed in Failed-AVP).
    sType[i] = TYPE_WIRE
    sVal[i] = input.wire
    sLen[i] = input.wire.length
    return (input.wire.length + 3) & ~3
  }
  let entry: AvpEntry | undefined
  let code: number
  let vendorId: number
  if (input.code !== undefined) {
    code = input.code
    vendorId = input.vendorId ?? 0
    if (!isU32(code) || code === 0) throw encodeError(E.ENCODE_VALUE, `bad AVP code ${String(code)}`, input.name)
    if (!isU32(vendorId)) throw encodeError(E.ENCODE_VALUE, `AVP ${code}: bad vendorId ${String(vendorId)}`, input.name)
    entry = ctx.dict.avp(code, vendorId)
  } else if (input.name !== undefined) {
    entry = ctx.dict.avpByName(input.name)
    if (entry === undefined) throw encodeError(E.ENCODE_UNKNOWN_AVP, `AVP ${JSON.stringify(input.name)} is not in the dictionary`, input.name)
    code = entry.code
    vendorId = input.vendorId ?? entry.vendorId
    if (!isU32(vendorId)) throw encodeError(E.ENCODE_VALUE, `${entry.name}: bad vendorId ${String(vendorId)}`, entry.name)
  } else {
    throw encodeError(E.ENCODE_UNKNOWN_AVP, 'AVP entry needs a name or a code')
  }
  const label = entry?.name ?? input.name ?? `AVP ${code}`

  let typeId: number
  if (input.type !== undefined) {
    typeId = typeIdOf(input.type)
    if (typeId < 0) throw encodeError(E.ENCODE_VALUE, `${label}: unknown type ${JSON.stringify(input.type)}`, label)
  } else if (entry !== undefined) {
    typeId = entry.typeId
  } else if (input.value instanceof Uint8Array) {
    typeId = T.OctetString
  } else {
    throw encodeError(E.ENCODE_UNKNOWN_AVP, `${label} is not in the dictionary: give its type`, label)
  }

  // Flags: V from the vendor id, M from the dictionary, P never, unless given explicitly (round trips).
  const f = input.flags
  const vBit = f?.vendor ?? vendorId !== 0
  if (!vBit && vendorId !== 0) throw encodeError(E.ENCODE_VALUE, `${label}: vendor flag cleared but vendorId is ${vendorId}`, label)
  let fb = vBit ? AVP_FLAG_V : 0
  if (f?.mandatory ?? entry?.mandatory ?? false) fb |= AVP_FLAG_M
  if (f?.protected === true) fb |= AVP_FLAG_P

  sCode[i] = code
  sVendor[i] = vendorId
  sFlags[i] = fb
  sType[i] = typeId
  const hdrLen = vBit ? 12 : 8
  let dataLen: number
  if (typeId === T.Grouped) {
    sVal[i] = undefined
    dataLen = measureList(input.value, depth + 1, ctx, label)
  } else {
    const values = entry?.values
    const prep = prepareScalar(typeId, input.value, label, values !== undefined && values.size > 0 ? (n) => values.get(n) : undefined)
    sVal[i] = prep.value
    dataLen = prep.len
  }
  const len = hdrLen + dataLen
  if (len > MAX_MESSAGE_LENGTH) throw encodeError(E.ENCODE_MESSAGE, `${label}: AVP of ${len} bytes exceeds the 24-bit AVP Length`, label)
  sLen[i] = len
  return (len + 3) & ~3
}

function writeAll(buf: Buffer, start: number): number {
  let off = start
  for (let i = 0; i < sCount; i++) {
    const len = sLen[i]
    const type = sType[i]
    if (type === TYPE_WIRE) {
      buf.set(sVal[i] as Uint8Array, off)
      sVal[i] = undefined
    } else {
      buf.writeUInt32BE(sCode[i], off)
      const fb = sFlags[i]
      buf[off + 4] = fb
      buf[off + 5] = (len >>> 16) & 0xff
      buf[off + 6] = (len >>> 8) & 0xff
      buf[off + 7] = len & 0xff
      let p = off + 8
      if ((fb & AVP_FLAG_V) !== 0) {
        buf.writeUInt32BE(sVendor[i], p)
        p += 4
      }
      if (type === T.Grouped) {
        // Children follow in pre-order; each pads itself, so the Grouped data is already aligned.
        off = p
        continue
      }
      writeScalar(type, sVal[i] as number | bigint | string | Uint8Array, buf, p)
      sVal[i] = undefined
    }
    const end = off + len
    off = off + ((len + 3) & ~3)
    for (let k = end; k < off; k++) buf[k] = 0
  }
  return off
}

function beginEncode(opts: EncodeOptions | undefined): EncodeCtx {
  sCount = 0
  return { dict: opts?.dictionary ?? defaultDictionary(), maxDepth: opts?.maxDepth ?? DEFAULT_MAX_DEPTH }
}

function releaseScratch(): void {
  // Drop references to caller values if an encode failed half-way; shrink after a huge message.
  for (let i = 0; i < sCount; i++) sVal[i] = undefined
  if (sLen.length > 4096) {
    sCode = []
    sVendor = []
    sFlags = []
    sType = []
    sLen = []
    sVal = []
  }
  sCount = 0
}

/**
 * Encode a message. AVPs may be given as `{ name, value }` (code, vendor, type and M bit from the
 * dictionary) or `{ code, vendorId, type, value }`; a decoded DiameterMessage re-encodes to the same bytes.
 */
export function encode(msg: MessageInput, opts?: EncodeOptions): Buffer {
  const ctx = beginEncode(opts)
  try {
    const version = msg.version ?? 1
    if (!Number.isInteger(version) || version < 0 || version > 255) throw encodeError(E.ENCODE_MESSAGE, `bad version ${String(version)}`)
    if (!isU32(msg.commandCode) || msg.commandCode > 0xffffff) throw encodeError(E.ENCODE_MESSAGE, `bad command code ${String(msg.commandCode)}`)
    if (!isU32(msg.applicationId)) throw encodeError(E.ENCODE_MESSAGE, `bad application id ${String(msg.applicationId)}`)
    if (!isU32(msg.hopByHop)) throw encodeError(E.ENCODE_MESSAGE, `bad hop-by-hop id ${String(msg.hopByHop)}`)
    if (!isU32(msg.endToEnd)) throw encodeError(E.ENCODE_MESSAGE, `bad end-to-end id ${String(msg.endToEnd)}`)
    const f: Partial<HeaderFlags> = msg.flags ?? {}
    const bodyLen = measureList(msg.avps, 0, ctx, 'message')
    const total = HEADER_LENGTH + bodyLen
    if (total > MAX_MESSAGE_LENGTH) throw encodeError(E.ENCODE_MESSAGE, `message of ${total} bytes exceeds the 24-bit Message Length`)
    const buf = Buffer.allocUnsafe(total)
    buf[0] = version
    buf[1] = (total >>> 16) & 0xff
    buf[2] = (total >>> 8) & 0xff
    buf[3] = total & 0xff
    buf[4] =
      (f.request === true ? HDR_FLAG_R : 0) |
      (f.proxiable === true ? HDR_FLAG_P : 0) |
      (f.error === true ? HDR_FLAG_E : 0) |
      (f.retransmit === true ? HDR_FLAG_T : 0)
    buf[5] = (msg.commandCode >>> 16) & 0xff
    buf[6] = (msg.commandCode >>> 8) & 0xff
    buf[7] = msg.commandCode & 0xff
    buf.writeUInt32BE(msg.applicationId, 8)
    buf.writeUInt32BE(msg.hopByHop, 12)
    buf.writeUInt32BE(msg.endToEnd, 16)
    const end = writeAll(buf, HEADER_LENGTH)
    if (end !== total) throw encodeError(E.ENCODE_MESSAGE, `internal: wrote ${end} of ${total} bytes`)
    return buf
  } finally {
    releaseScratch()
  }
}

/** Encode AVPs without a message header (e.g. to build test vectors or Grouped data by hand). */
export function encodeAvps(avps: readonly AvpInput[], opts?: EncodeOptions): Buffer {
  const ctx = beginEncode(opts)
  try {
    const total = measureList(avps, 0, ctx, 'AVP list')
    const buf = Buffer.allocUnsafe(total)
    const end = writeAll(buf, 0)
    if (end !== total) throw encodeError(E.ENCODE_MESSAGE, `internal: wrote ${end} of ${total} bytes`)
    return buf
  } finally {
    releaseScratch()
  }
}

/** An AVP input that writes `bytes` (a whole AVP, header included) verbatim, padded to 4 bytes. */
export function verbatimAvp(bytes: Uint8Array): AvpInput {
  return { wire: bytes, value: bytes }
}

/** Human-readable name of a type id (for messages). */
export function typeName(typeId: number): string {
  return AVP_TYPES[typeId] ?? `type#${typeId}`
}
