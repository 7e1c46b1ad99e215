// Normalising dialled numbers to E.164 digits (no '+') for destination rating.
// Handles tel:/sip: URIs, visual separators, '+' and '00' international forms, and national
// numbers with a trunk prefix '0' (per the account's country).

/** ISO 3166 alpha-2 → country calling code, for the national-number rule. Extend as markets are added. */
export const CALLING_CODES: Record<string, string> = {
  SE: '46', FR: '33', DE: '49', GB: '44', ES: '34', IT: '39', NL: '31', BE: '32', CH: '41', AT: '43', DK: '45', NO: '47',
  FI: '358', PL: '48', PT: '351', IE: '353', US: '1', CA: '1', JP: '81', BH: '973', IN: '91', CN: '86', BR: '55', ZA: '27',
  AU: '61', NZ: '64', MX: '52', TR: '90', RU: '7', AE: '971', SA: '966', EG: '20', NG: '234', KE: '254',
}

/** The common "+<digits>" form: nothing to strip. */
const PLAIN_INTERNATIONAL = /^\+\d{1,20}$/

/** NANP countries dial nationally without a trunk '0' but with '1'. */
const TRUNK_ONE = new Set(['1'])

/**
 * "tel:+46-70-123 45 67" → "46701234567"; "sip:0046701234567@ims" → "46701234567";
 * "0701234567" in SE → "46701234567". Returns undefined when nothing numeric remains.
 */
export function normaliseNumber(input: string, country?: string): string | undefined {
  if (PLAIN_INTERNATIONAL.test(input)) return input.slice(1)
  let s = input.trim()
  const uri = /^(?:tel|sips?):([^@;?]*)/i.exec(s)
  if (uri) s = uri[1]
  s = s.replace(/[\s\-.()/]/g, '')
  if (s.startsWith('+')) s = s.slice(1)
  else if (s.startsWith('00')) s = s.slice(2)
  else if (country && CALLING_CODES[country]) {
    const cc = CALLING_CODES[country]
    if (TRUNK_ONE.has(cc)) {
      if (s.length === 10) s = cc + s
    } else if (s.startsWith('0')) s = cc + s.slice(1)
  }
  return /^\d{1,20}$/.test(s) ? s : undefined
}
