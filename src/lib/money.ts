// Money travels as decimal strings ("12.50") and is stored as integer micro-units
// (1 EUR = 1_000_000 micro-EUR) so per-second rating never needs a float.
// Conversion is pure string/bigint arithmetic: "0.1" + "0.2" is exactly "0.300000".

export const MICRO_DIGITS = 6
export const MICRO_PER_UNIT = 1_000_000n

const DECIMAL = /^(-)?(\d{1,15})(?:\.(\d{1,6}))?$/

export class MoneyFormatError extends Error {
  readonly code = 'OCS_ERR_MONEY_FORMAT'
}

/** "12.5" → 12500000n. At most 6 decimals; throws MoneyFormatError otherwise. */
export function parseMoney(text: string): bigint {
  const m = DECIMAL.exec(text.trim())
  if (!m) throw new MoneyFormatError(`"${text}" is not a decimal amount with at most ${MICRO_DIGITS} decimals`)
  const [, sign, whole, frac = ''] = m
  const micro = BigInt(whole) * MICRO_PER_UNIT + BigInt(frac.padEnd(MICRO_DIGITS, '0'))
  return sign ? -micro : micro
}

/** 12500000n → "12.500000" (always six decimals, as the API contract shows). */
export function formatMoney(micro: bigint | number | string): string {
  let v = BigInt(micro)
  const neg = v < 0n
  if (neg) v = -v
  const whole = v / MICRO_PER_UNIT
  const frac = (v % MICRO_PER_UNIT).toString().padStart(MICRO_DIGITS, '0')
  return `${neg ? '-' : ''}${whole}.${frac}`
}

/** Largest amount the Lua scripts handle exactly (Lua numbers are doubles). */
export const MAX_SAFE_MICRO = BigInt(Number.MAX_SAFE_INTEGER)
