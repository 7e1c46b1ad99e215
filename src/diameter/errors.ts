// Errors raised by the Diameter codec, framer and dictionary loader.
// Each carries a stable `code` (OCS_ERR_DIAMETER_…) for code to match on; messages are for humans.
// Where RFC 6733 defines the answer to send, `resultCode` holds it (e.g. 5014 DIAMETER_INVALID_AVP_LENGTH),
// and `failedAvp` holds the offending AVP bytes for the Failed-AVP of that answer.
// Pure module: no I/O, no logging.

/** The fixed 20-byte header fields, as far as they could be read. */
export interface DiameterHeader {
  version: number
  /** Value of the Message Length field (may be a lie when an error is raised about it). */
  length: number
  flags: HeaderFlags
  commandCode: number
  applicationId: number
  hopByHop: number
  endToEnd: number
}

export interface HeaderFlags {
  readonly request: boolean
  readonly proxiable: boolean
  readonly error: boolean
  readonly retransmit: boolean
}

export const DiameterErrorCodes = {
  /** Fewer bytes than the 20-byte header, or than the Message Length announces. */
  TRUNCATED: 'OCS_ERR_DIAMETER_TRUNCATED',
  /** Message Length < 20, not a multiple of 4, or not the size of the buffer given to decode(). */
  MESSAGE_LENGTH: 'OCS_ERR_DIAMETER_MESSAGE_LENGTH',
  /** Version field is not 1. */
  VERSION: 'OCS_ERR_DIAMETER_VERSION',
  /** Header flag bits in an invalid combination (E bit on a request; strict mode: reserved bits, T on an answer). */
  HEADER_BITS: 'OCS_ERR_DIAMETER_HEADER_BITS',
  /** AVP Length below the AVP header size, or overrunning the message / the enclosing Grouped AVP. */
  AVP_LENGTH: 'OCS_ERR_DIAMETER_AVP_LENGTH',
  /** AVP flag bits invalid (strict mode only: reserved bits set). */
  AVP_BITS: 'OCS_ERR_DIAMETER_AVP_BITS',
  /** AVP data does not fit its type (e.g. Unsigned32 with 3 bytes, Address with a bad length, invalid UTF-8). */
  AVP_VALUE: 'OCS_ERR_DIAMETER_AVP_VALUE',
  /** Grouped AVPs nested deeper than the configured limit. */
  NESTING: 'OCS_ERR_DIAMETER_NESTING',
  /** Encoder: an AVP name or code the dictionary does not know and no type given. */
  ENCODE_UNKNOWN_AVP: 'OCS_ERR_DIAMETER_ENCODE_UNKNOWN_AVP',
  /** Encoder: a value of the wrong JS type or out of range for the AVP type. */
  ENCODE_VALUE: 'OCS_ERR_DIAMETER_ENCODE_VALUE',
  /** Encoder: header fields out of range, message too long, nesting too deep. */
  ENCODE_MESSAGE: 'OCS_ERR_DIAMETER_ENCODE_MESSAGE',
  /** Framer: the Message Length field is < 20. */
  FRAME_LENGTH: 'OCS_ERR_DIAMETER_FRAME_LENGTH',
  /** Framer: the Message Length field exceeds the configured maximum. */
  FRAME_TOO_LARGE: 'OCS_ERR_DIAMETER_FRAME_TOO_LARGE',
  /** Framer: the version byte is not 1 (the stream is not Diameter or is out of sync). */
  FRAME_VERSION: 'OCS_ERR_DIAMETER_FRAME_VERSION',
  /** Dictionary JSON is malformed or inconsistent. */
  DICTIONARY: 'OCS_ERR_DIAMETER_DICTIONARY',
} as const

export type DiameterErrorCode = (typeof DiameterErrorCodes)[keyof typeof DiameterErrorCodes]

/** RFC 6733 §7.1 Result-Code values the codec refers to. */
export const ResultCodes = {
  DIAMETER_SUCCESS: 2001,
  DIAMETER_COMMAND_UNSUPPORTED: 3001,
  DIAMETER_APPLICATION_UNSUPPORTED: 3007,
  DIAMETER_INVALID_HDR_BITS: 3008,
  DIAMETER_INVALID_AVP_BITS: 3009,
  DIAMETER_AVP_UNSUPPORTED: 5001,
  DIAMETER_INVALID_AVP_VALUE: 5004,
  DIAMETER_MISSING_AVP: 5005,
  DIAMETER_UNSUPPORTED_VERSION: 5011,
  DIAMETER_UNABLE_TO_COMPLY: 5012,
  DIAMETER_INVALID_AVP_LENGTH: 5014,
  DIAMETER_INVALID_MESSAGE_LENGTH: 5015,
} as const

export class DiameterError extends Error {
  readonly code: DiameterErrorCode
  constructor(code: DiameterErrorCode, message: string) {
    super(message)
    this.code = code
    this.name = new.target.name
  }
}

export interface DecodeErrorDetails {
  resultCode?: number
  failedAvp?: Buffer
  avpCode?: number
  vendorId?: number
  header?: DiameterHeader
  /** Top-level AVPs decoded before the failure (e.g. Session-Id, for the error answer). */
  partialAvps?: import('./avp-types.js').Avp[]
}

/** A message (or AVP) that cannot be decoded. Carries what an error answer needs. */
export class DiameterDecodeError extends DiameterError {
  /** RFC 6733 Result-Code to answer with, when the RFC defines one. */
  readonly resultCode: number | undefined
  /** Bytes of the offending AVP (header + data, no padding), for Failed-AVP. */
  readonly failedAvp: Buffer | undefined
  readonly avpCode: number | undefined
  readonly vendorId: number | undefined
  /** The message header when the 20 header bytes were present (hop-by-hop / end-to-end for the answer). */
  header: DiameterHeader | undefined
  /** Top-level AVPs decoded before the failure. */
  partialAvps: import('./avp-types.js').Avp[] | undefined
  constructor(code: DiameterErrorCode, message: string, details: DecodeErrorDetails = {}) {
    super(code, message)
    this.resultCode = details.resultCode
    this.failedAvp = details.failedAvp
    this.avpCode = details.avpCode
    this.vendorId = details.vendorId
    this.header = details.header
    this.partialAvps = details.partialAvps
  }
}

/** encode() was given something it cannot put on the wire. A programming error, not a peer's. */
export class DiameterEncodeError extends DiameterError {
  /** Name or code of the AVP being encoded, when the problem is an AVP. */
  readonly avp: string | undefined
  constructor(code: DiameterErrorCode, message: string, avp?: string) {
    super(code, message)
    this.avp = avp
  }
}

/** The TCP byte stream cannot be framed: close the connection. */
export class DiameterFrameError extends DiameterError {
  /** The offending Message Length (or version) value. */
  readonly value: number
  constructor(code: DiameterErrorCode, message: string, value: number) {
    super(code, message)
    this.value = value
  }
}

/** Dictionary data is malformed; raised at load time so a bad file stops start-up. */
export class DiameterDictionaryError extends DiameterError {
  constructor(message: string) {
    super(DiameterErrorCodes.DICTIONARY, message)
  }
}
