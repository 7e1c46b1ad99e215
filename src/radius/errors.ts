// Errors raised by the RADIUS codec and dictionary loader, declared once with stable codes.
// Callers match on `code`, never on `message`.

/** Why a received datagram is not a RADIUS packet we can read (RFC 2865 section 3 / 5). */
export const RadiusDecodeErrorCode = {
  /** Fewer than 20 octets: not even a header. */
  TooShort: 'OCS_ERR_RADIUS_TOO_SHORT',
  /** More than 4096 octets (RFC 2865 section 3, maximum length). */
  TooLong: 'OCS_ERR_RADIUS_TOO_LONG',
  /** Length field below 20, above 4096, or larger than the datagram (truncated packet). */
  Length: 'OCS_ERR_RADIUS_LENGTH',
  /** An attribute with a Length below 2. */
  AttributeLength: 'OCS_ERR_RADIUS_ATTR_LENGTH',
  /** An attribute header or value running past the end of the packet. */
  AttributeOverflow: 'OCS_ERR_RADIUS_ATTR_OVERFLOW',
  /** A value whose size does not fit its dictionary type (integer not 4 octets, ipaddr not 4, ...). */
  Value: 'OCS_ERR_RADIUS_VALUE',
  /** A Vendor-Specific attribute of a known vendor whose sub-attributes do not add up. */
  VendorSpecific: 'OCS_ERR_RADIUS_VSA',
  /** A hidden User-Password whose length is not a non-zero multiple of 16 up to 128. */
  Password: 'OCS_ERR_RADIUS_PASSWORD',
} as const;
export type RadiusDecodeErrorCode = (typeof RadiusDecodeErrorCode)[keyof typeof RadiusDecodeErrorCode];

export class RadiusDecodeError extends Error {
  override readonly name = 'RadiusDecodeError';
  /** Octet offset in the packet where the problem was found, when known. */
  readonly offset: number | undefined;
  constructor(
    readonly code: RadiusDecodeErrorCode,
    message: string,
    offset?: number,
  ) {
    super(message);
    this.offset = offset;
  }
}

/** Why a packet we were asked to build cannot be encoded. These are programming or config errors. */
export const RadiusEncodeErrorCode = {
  /** Unknown packet code, or a reply without the request authenticator it must be signed with. */
  Code: 'OCS_ERR_RADIUS_ENCODE_CODE',
  /** An attribute name that is not in the dictionary, or a type/vendor combination that cannot be written. */
  Attribute: 'OCS_ERR_RADIUS_ENCODE_ATTRIBUTE',
  /** A value that does not fit the attribute type (out of range integer, bad address, too long string...). */
  Value: 'OCS_ERR_RADIUS_ENCODE_VALUE',
  /** The encoded packet would exceed 4096 octets. */
  TooLong: 'OCS_ERR_RADIUS_ENCODE_TOO_LONG',
} as const;
export type RadiusEncodeErrorCode = (typeof RadiusEncodeErrorCode)[keyof typeof RadiusEncodeErrorCode];

export class RadiusEncodeError extends Error {
  override readonly name = 'RadiusEncodeError';
  constructor(
    readonly code: RadiusEncodeErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export const RADIUS_DICTIONARY_ERROR = 'OCS_ERR_RADIUS_DICTIONARY' as const;

/** A dictionary file that cannot be parsed; names the file and line. */
export class RadiusDictionaryError extends Error {
  override readonly name = 'RadiusDictionaryError';
  readonly code = RADIUS_DICTIONARY_ERROR;
  constructor(
    message: string,
    readonly file?: string,
    readonly line?: number,
  ) {
    super(file !== undefined ? `${file}${line !== undefined ? `:${line}` : ''}: ${message}` : message);
  }
}
