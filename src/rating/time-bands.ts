// Time bands (peak / off-peak / weekend / holiday) evaluated in the account's time zone, DST
// included, and the next instant at which the band changes. Pure: the instant is passed in.

export const WEEKDAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const
export type Weekday = (typeof WEEKDAYS)[number]

export interface TimeBand {
  name: string
  /** weekdays and/or 'hol' (a date listed in the plan's holidays) */
  days: Array<Weekday | 'hol'>
  /** local "HH:MM", inclusive */
  from: string
  /** local "HH:MM", exclusive; "24:00" = end of day; to < from wraps past midnight */
  to: string
  /** price multiplier in percent (100 = the base tariff) */
  percent: number
}

interface LocalParts {
  date: string
  weekday: Weekday
  minute: number
}

const formatters = new Map<string, Intl.DateTimeFormat>()
function formatter(tz: string): Intl.DateTimeFormat {
  let f = formatters.get(tz)
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', { timeZone: tz, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit', weekday: 'short' })
    formatters.set(tz, f)
  }
  return f
}

function parts(tz: string, at: number): { y: number; mo: number; d: number; h: number; mi: number; s: number; wd: Weekday } {
  const p: Record<string, string> = {}
  for (const x of formatter(tz).formatToParts(at)) p[x.type] = x.value
  return { y: +p.year, mo: +p.month, d: +p.day, h: +p.hour, mi: +p.minute, s: +p.second, wd: p.weekday.toLowerCase().slice(0, 3) as Weekday }
}

// Local date/weekday/minute only change per minute (zone offsets are whole minutes), so they are
// memoised per (zone, UTC minute): Intl formatting costs microseconds, a Map hit nanoseconds.
const partsCache = new Map<string, LocalParts>()

export function localParts(tz: string, at: number): LocalParts {
  const key = `${tz}|${Math.floor(at / 60_000)}`
  let lp = partsCache.get(key)
  if (!lp) {
    lp = computeLocalParts(tz, at)
    if (partsCache.size >= 4096) partsCache.clear()
    partsCache.set(key, lp)
  }
  return lp
}

function computeLocalParts(tz: string, at: number): LocalParts {
  const p = parts(tz, at)
  return { date: `${p.y}-${String(p.mo).padStart(2, '0')}-${String(p.d).padStart(2, '0')}`, weekday: p.wd, minute: p.h * 60 + p.mi }
}

/** UTC offset of `tz` at instant `at`, in ms. */
export function offsetMs(tz: string, at: number): number {
  const p = parts(tz, at)
  return Date.UTC(p.y, p.mo - 1, p.d, p.h, p.mi, p.s) - Math.floor(at / 1000) * 1000
}

/** The instant of local wall time y-mo-d hh:mm in `tz` (in a DST gap: the first instant after it). */
export function localToUtc(tz: string, y: number, mo: number, d: number, minute: number): number {
  const guess = Date.UTC(y, mo - 1, d, 0, minute)
  const o1 = offsetMs(tz, guess)
  let utc = guess - o1
  const o2 = offsetMs(tz, utc)
  if (o2 !== o1) utc = guess - o2
  return utc
}

const hm = (s: string): number => {
  const [h, m] = s.split(':').map(Number)
  return h * 60 + m
}

function inBand(b: TimeBand, lp: LocalParts, holidays: ReadonlySet<string>): boolean {
  const day = holidays.has(lp.date) ? 'hol' : lp.weekday
  if (!b.days.includes(day)) return false
  const from = hm(b.from)
  const to = hm(b.to)
  return from <= to ? lp.minute >= from && lp.minute < to : lp.minute >= from || lp.minute < to
}

/** The first band that covers instant `at`, or undefined (the base tariff). */
export function bandAt(bands: readonly TimeBand[], holidays: ReadonlySet<string>, tz: string, at: number): TimeBand | undefined {
  const lp = localParts(tz, at)
  return bands.find((b) => inBand(b, lp, holidays))
}

/**
 * The next instant after `at` where the band changes, within `horizonDays`; undefined when none.
 * Candidates are the bands' local edges and midnights on each local day, converted through the
 * zone's offset at that instant, so DST days (23 h / 25 h) come out right.
 */
export function nextBandChange(bands: readonly TimeBand[], holidays: ReadonlySet<string>, tz: string, at: number, horizonDays = 3): number | undefined {
  if (bands.length === 0) return undefined
  const current = bandAt(bands, holidays, tz, at)?.name
  const edges = new Set<number>([0])
  for (const b of bands) {
    edges.add(hm(b.from) % 1440)
    edges.add(hm(b.to) % 1440)
  }
  const sorted = [...edges].sort((a, b) => a - b)
  const p = parts(tz, at)
  for (let day = 0; day <= horizonDays; day++) {
    const base = new Date(Date.UTC(p.y, p.mo - 1, p.d + day))
    for (const minute of sorted) {
      const u = localToUtc(tz, base.getUTCFullYear(), base.getUTCMonth() + 1, base.getUTCDate(), minute)
      if (u <= at) continue
      if (bandAt(bands, holidays, tz, u)?.name !== current) return u
    }
  }
  return undefined
}
