import { parseMoney } from '../lib/money.js'

// Destination rate decks: longest-prefix match on normalised E.164 numbers. A Map keyed by prefix
// string, probed from the longest possible prefix down: 100k prefixes load in well under a second
// and a lookup is at most `maxLen` hash probes.

export interface DeckEntry {
  prefix: string
  destination: string
  /** micro-units (of the deck currency) per 60 s (the carrier CSV quotes per-minute prices) */
  ratePerMinute: number
  first: number
  next: number
  fee: number
}

export class DeckError extends Error {
  readonly code = 'OCS_ERR_DECK'
}

export class DestinationDeck {
  private readonly map = new Map<string, DeckEntry>()
  private maxLen = 0

  /** the currency of the deck's prices; undefined = the plan currency */
  readonly currency?: string

  constructor(readonly id: string, entries: Iterable<DeckEntry> = [], options: { currency?: string } = {}) {
    if (options.currency !== undefined) {
      if (!/^[A-Z]{3}$/.test(options.currency)) throw new DeckError(`deck ${id}: currency "${options.currency}" is not an ISO 4217 code`)
      this.currency = options.currency
    }
    for (const e of entries) this.add(e)
  }

  add(e: DeckEntry): void {
    this.map.set(e.prefix, e)
    if (e.prefix.length > this.maxLen) this.maxLen = e.prefix.length
  }

  get size(): number {
    return this.map.size
  }

  /** The entry of the longest prefix of `number`, if any. */
  lookup(number: string): DeckEntry | undefined {
    for (let len = Math.min(this.maxLen, number.length); len > 0; len--) {
      const e = this.map.get(number.slice(0, len))
      if (e) return e
    }
    return undefined
  }

  /**
   * CSV in the usual carrier shape: `prefix,destination,price,first_increment,next_increment,connect_fee`
   * (price per minute and fee in `options.currency`, default the plan currency; increments in
   * seconds). A header row is skipped; a bad row is refused with its line number.
   */
  static fromCsv(id: string, text: string, options: { currency?: string } = {}): DestinationDeck {
    const deck = new DestinationDeck(id, [], options)
    let line = 0
    let start = 0
    while (start < text.length) {
      let end = text.indexOf('\n', start)
      if (end < 0) end = text.length
      line++
      const row = text.slice(start, end).replace(/\r$/, '')
      start = end + 1
      if (row.trim() === '' || row.startsWith('#')) continue
      const cols = row.split(',')
      if (line === 1 && !/^\+?\d/.test(cols[0])) continue // header
      if (cols.length < 3) throw new DeckError(`deck ${id} line ${line}: expected prefix,destination,price[,first,next,connect_fee]`)
      const prefix = cols[0].trim().replace(/^\+/, '')
      if (!/^\d{1,15}$/.test(prefix)) throw new DeckError(`deck ${id} line ${line}: prefix "${cols[0]}" is not digits`)
      const num = (v: string | undefined, def: number, what: string): number => {
        if (v === undefined || v.trim() === '') return def
        if (!/^\d{1,9}$/.test(v.trim())) throw new DeckError(`deck ${id} line ${line}: ${what} "${v}" is not a whole number of seconds`)
        return Math.max(1, Number(v))
      }
      const money = (v: string | undefined, what: string): number => {
        if (v === undefined || v.trim() === '') return 0
        try {
          return Number(parseMoney(v.trim()))
        } catch {
          throw new DeckError(`deck ${id} line ${line}: ${what} "${v}" is not a decimal amount`)
        }
      }
      deck.add({
        prefix,
        destination: cols[1].trim(),
        ratePerMinute: money(cols[2], 'price'),
        first: num(cols[3], 1, 'first_increment'),
        next: num(cols[4], 1, 'next_increment'),
        fee: money(cols[5], 'connect_fee'),
      })
    }
    return deck
  }
}
