// The one table from core outcomes to Diameter Result-Codes (RFC 6733 §7.1, RFC 4006 §9, TS 32.299 §7.2.1).
// The Gy handler never picks a Result-Code anywhere else. Pure module.
import type { ChargeAnswer, ItemOutcome } from '../core/types.js'

export const RC = {
  SUCCESS: 2001,
  LIMITED_SUCCESS: 2002,
  COMMAND_UNSUPPORTED: 3001,
  UNABLE_TO_DELIVER: 3002,
  TOO_BUSY: 3004,
  APPLICATION_UNSUPPORTED: 3007,
  INVALID_HDR_BITS: 3008,
  INVALID_AVP_BITS: 3009,
  UNKNOWN_PEER: 3010,
  /** RFC 4006 §9.1: the end user's service is refused (account barred, …). */
  END_USER_SERVICE_DENIED: 4010,
  CREDIT_CONTROL_NOT_APPLICABLE: 4011,
  /** RFC 4006 §9.1: no credit left for this service (per MSCC, or the whole CCA when it had one MSCC). */
  CREDIT_LIMIT_REACHED: 4012,
  AVP_UNSUPPORTED: 5001,
  UNKNOWN_SESSION_ID: 5002,
  INVALID_AVP_VALUE: 5004,
  MISSING_AVP: 5005,
  AVP_OCCURS_TOO_MANY_TIMES: 5009,
  NO_COMMON_APPLICATION: 5010,
  UNSUPPORTED_VERSION: 5011,
  UNABLE_TO_COMPLY: 5012,
  INVALID_AVP_LENGTH: 5014,
  INVALID_MESSAGE_LENGTH: 5015,
  /** RFC 4006 §9.1 */
  USER_UNKNOWN: 5030,
  RATING_FAILED: 5031,
} as const

/** Protocol errors (3xxx) are sent with the E bit set (RFC 6733 §7.2). */
export function isProtocolError(resultCode: number): boolean {
  return resultCode >= 3000 && resultCode < 4000
}

/** Result-Code of one item's outcome (the MSCC's Result-Code, or the CCA's in single-service mode). */
export function outcomeResultCode(o: ItemOutcome): number {
  switch (o.kind) {
    case 'granted':
    case 'committed':
    case 'refunded':
    case 'priced':
      return RC.SUCCESS
    case 'creditLimitReached':
      return RC.CREDIT_LIMIT_REACHED
    case 'denied':
      return RC.END_USER_SERVICE_DENIED
    case 'ratingFailed':
      return RC.RATING_FAILED
  }
}

/** Result-Code for a ChargeAnswer that carries no item outcomes (anything but 'ok'). */
export function failureResultCode(a: Exclude<ChargeAnswer, { kind: 'ok' }>): number {
  switch (a.kind) {
    case 'unknownSubscriber':
      return RC.USER_UNKNOWN
    case 'unknownSession':
      return RC.UNKNOWN_SESSION_ID
    case 'staleRequest':
      // A late copy of a request its client has long had answered (through another node): any
      // answer is ignored there; this one says nothing was done.
      return RC.UNABLE_TO_COMPLY
    case 'stateChanged':
      // Only for requests with SessionRequest.attached, which the Diameter front end never sends.
      return RC.UNABLE_TO_COMPLY
    case 'invalidRequest':
      // A value charging cannot record (the handler refuses most with their Failed-AVP before this).
      return RC.INVALID_AVP_VALUE
    case 'unavailable':
      // Infrastructure trouble (Redis away or slow): the client should try another server or later.
      return RC.TOO_BUSY
  }
}

/**
 * Command-level Result-Code from the per-item codes: 2001 when any item succeeded (the others carry
 * their own failure in their MSCC, RFC 4006 §5.1.2), else the first item's failure (a single refused
 * MSCC refuses the request, as PGWs and Kamailio read the top-level code). No items: 2001.
 */
export function commandResultCode(itemCodes: readonly number[]): number {
  if (itemCodes.length === 0) return RC.SUCCESS
  for (const c of itemCodes) if (c === RC.SUCCESS) return RC.SUCCESS
  return itemCodes[0]
}

// RFC 4006 §8.7 Currency-Code: ISO 4217 numeric codes of the currencies plans may use.
const ISO_4217: Record<string, number> = {
  EUR: 978, USD: 840, GBP: 826, SEK: 752, NOK: 578, DKK: 208, ISK: 352, CHF: 756, PLN: 985, CZK: 203, HUF: 348,
  RON: 946, BGN: 975, TRY: 949, RUB: 643, UAH: 980, JPY: 392, CNY: 156, HKD: 344, SGD: 702, INR: 356, IDR: 360,
  MYR: 458, PHP: 608, THB: 764, VND: 704, KRW: 410, AUD: 36, NZD: 554, CAD: 124, MXN: 484,
  BRL: 986, ARS: 32, CLP: 152, COP: 170, PEN: 604, ZAR: 710, NGN: 566, KES: 404, EGP: 818, MAD: 504, GHS: 936,
  SAR: 682, AED: 784, QAR: 634, ILS: 376, PKR: 586, BDT: 50, XOF: 952, XAF: 950,
}

/** ISO 4217 numeric code of an alphabetic currency code; 999 (XXX, "no currency") when unknown. */
export function currencyNumber(alpha: string): number {
  return ISO_4217[alpha.toUpperCase()] ?? 999
}

/**
 * Unit-Value (RFC 4006 §8.8) of an amount in micro-units: Value-Digits × 10^Exponent with trailing
 * zeros folded into the exponent (50000 micro-EUR → 5 × 10^-2).
 */
export function unitValue(micro: bigint): { digits: bigint; exponent: number } {
  let digits = micro
  let exponent = -6
  while (exponent < 0 && digits !== 0n && digits % 10n === 0n) {
    digits /= 10n
    exponent++
  }
  if (digits === 0n) exponent = 0
  return { digits, exponent }
}
