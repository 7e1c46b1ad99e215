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

// Local date/weekday/minute come from the zone's UTC offset, which is constant between DST
// transitions: the offset is memoised per zone for the span around the last instant asked (Intl
// formatting costs microseconds, a span check nanoseconds), and the date/weekday per local day.
const HOUR = 3_600_000
const DAY = 86_400_000
interface ZoneSpan {
  from: number
  to: number
  offset: number
}
const zoneSpans = new Map<string, ZoneSpan[]>()

function intlOffset(tz: string, at: number): number {
  const p = parts(tz, at)
  return Date.UTC(p.y, p.mo - 1, p.d, p.h, p.mi, p.s) - Math.floor(at / 1000) * 1000
}

/**
 * UTC offset of `tz` at `at`, in ms. The day around `at` is checked at both ends: when the offset
 * is the same (no zone changes its offset twice within a day), it holds all day; otherwise the
 * transition minute is found by bisection and the side holding `at` is kept.
 */
function zoneOffset(tz: string, at: number): number {
  let spans = zoneSpans.get(tz)
  if (spans) {
    for (const s of spans) if (at >= s.from && at < s.to) return s.offset
  } else {
    if (zoneSpans.size >= 1000) zoneSpans.clear()
    zoneSpans.set(tz, (spans = []))
  }
  const from = Math.floor(at / HOUR) * HOUR
  const to = from + DAY
  const o1 = intlOffset(tz, from)
  const o2 = intlOffset(tz, to)
  let span: ZoneSpan
  if (o1 === o2) span = { from, to, offset: o1 }
  else {
    // the first minute with the new offset, in (from, to]
    let lo = 0
    let hi = DAY / 60_000
    while (hi - lo > 1) {
      const mid = (lo + hi) >> 1
      if (intlOffset(tz, from + mid * 60_000) === o1) lo = mid
      else hi = mid
    }
    const edge = from + hi * 60_000
    span = at < edge ? { from, to: edge, offset: o1 } : { from: edge, to, offset: intlOffset(tz, edge) }
  }
  if (spans.length >= 16) spans.shift()
  spans.push(span)
  return span.offset
}

const dayInfo = new Map<number, { date: string; weekday: Weekday }>()

export function localParts(tz: string, at: number): LocalParts {
  const local = at + zoneOffset(tz, at)
  const day = Math.floor(local / DAY)
  let info = dayInfo.get(day)
  if (!info) {
    const d = new Date(day * DAY)
    info = { date: `${String(d.getUTCFullYear()).padStart(4, '0')}-${String(d.getUTCMonth() + 1).padStart(2, '0')}-${String(d.getUTCDate()).padStart(2, '0')}`, weekday: WEEKDAYS[d.getUTCDay()] }
    if (dayInfo.size >= 20_000) dayInfo.clear()
    dayInfo.set(day, info)
  }
  return { date: info.date, weekday: info.weekday, minute: Math.floor((local - day * DAY) / 60_000) }
}

/** UTC offset of `tz` at instant `at`, in ms. */
export function offsetMs(tz: string, at: number): number {
  return zoneOffset(tz, at)
}

/**
 * The instant of local wall time y-mo-d hh:mm in `tz`. A wall time that happens twice (the hour
 * repeated when DST ends) gives its first occurrence; one that does not exist (the hour skipped
 * when DST starts) gives the first instant after the gap, i.e. the transition. Either way it is the
 * first instant whose local time is at or past the wall time, which is where a band edge falls.
 */
export function localToUtc(tz: string, y: number, mo: number, d: number, minute: number): number {
  const wall = Date.UTC(y, mo - 1, d, 0, minute)
  const early = wall - zoneOffset(tz, wall - DAY)
  const late = wall - zoneOffset(tz, wall + DAY)
  const lo = Math.min(early, late)
  const hi = Math.max(early, late)
  if (lo + zoneOffset(tz, lo) === wall) return lo
  if (hi + zoneOffset(tz, hi) === wall || lo === hi) return hi
  // a gap: local time jumps past `wall` somewhere in (lo, hi); find the first minute at or past it
  let a = Math.floor(lo / 60_000)
  let b = Math.ceil(hi / 60_000)
  while (b - a > 1) {
    const m = Math.floor((a + b) / 2)
    if (m * 60_000 + zoneOffset(tz, m * 60_000) >= wall) b = m
    else a = m
  }
  return b * 60_000
}

/** "HH:MM" → minutes after midnight (the schema guarantees the shape). */
const hm = (s: string): number => ((s.charCodeAt(0) - 48) * 10 + s.charCodeAt(1) - 48) * 60 + (s.charCodeAt(3) - 48) * 10 + s.charCodeAt(4) - 48

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
  for (const b of bands) if (inBand(b, lp, holidays)) return b
  return undefined
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
  const [y, mo, d] = localParts(tz, at).date.split('-').map(Number)
  for (let day = 0; day <= horizonDays; day++) {
    const base = new Date(Date.UTC(y, mo - 1, d + day))
    for (const minute of sorted) {
      const u = localToUtc(tz, base.getUTCFullYear(), base.getUTCMonth() + 1, base.getUTCDate(), minute)
      if (u <= at) continue
      if (bandAt(bands, holidays, tz, u)?.name !== current) return u
    }
  }
  return undefined
}
