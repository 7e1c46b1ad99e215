import t from 'tap'
import { localParts, localToUtc, nextBandChange, offsetMs, type TimeBand } from '../../src/rating/time-bands.js'

// The memoised zone offsets (constant between DST transitions) agree with Intl at random instants
// in zones with DST, half-hour and 45-minute offsets, a 30-minute DST shift and a skipped day.

const ZONES = ['Europe/Paris', 'America/New_York', 'Australia/Lord_Howe', 'Asia/Kathmandu', 'America/Santiago', 'Pacific/Apia', 'Asia/Tokyo', 'UTC', 'America/St_Johns']

function intl(tz: string, at: number): { date: string; weekday: string; minute: number } {
  const p: Record<string, string> = {}
  const f = new Intl.DateTimeFormat('en-US', { timeZone: tz, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', weekday: 'short' })
  for (const x of f.formatToParts(at)) p[x.type] = x.value
  return { date: `${p.year}-${p.month}-${p.day}`, weekday: p.weekday.toLowerCase(), minute: +p.hour * 60 + +p.minute }
}

t.test('localParts agrees with Intl at random instants, around transitions too', async (t) => {
  let seed = 11
  const rnd = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31)
  let bad = 0
  let n = 0
  for (const tz of ZONES) {
    for (let i = 0; i < 400; i++) {
      // 2010…2030, with runs of nearby instants so the memoised spans are reused and crossed
      const base = Date.UTC(2010, 0, 1) + Math.floor(rnd() * 20 * 365 * 86_400_000)
      for (let k = 0; k < 5; k++) {
        const at = base + Math.floor(rnd() * 3 * 86_400_000)
        n++
        const a = localParts(tz, at)
        const b = intl(tz, at)
        if (a.date !== b.date || a.weekday !== b.weekday || a.minute !== b.minute) {
          if (++bad <= 5) t.fail(`${tz} ${new Date(at).toISOString()}: ${JSON.stringify(a)} ≠ ${JSON.stringify(b)}`)
        }
      }
    }
  }
  t.equal(bad, 0, `${n} instants in ${ZONES.length} zones`)
})

t.test('offsets and local → UTC on transition days', async (t) => {
  t.equal(offsetMs('Europe/Paris', Date.UTC(2026, 2, 29, 0, 59)), 3_600_000)
  t.equal(offsetMs('Europe/Paris', Date.UTC(2026, 2, 29, 1, 0)), 7_200_000)
  t.equal(offsetMs('Australia/Lord_Howe', Date.UTC(2026, 3, 4, 14, 59)), 11 * 3_600_000, 'Lord Howe summer time +11')
  t.equal(offsetMs('Australia/Lord_Howe', Date.UTC(2026, 3, 4, 15, 0)), 10.5 * 3_600_000, 'then +10:30')
  t.equal(localToUtc('Europe/Paris', 2026, 3, 29, 150), Date.UTC(2026, 2, 29, 1, 0), '02:30 does not exist: the first instant after the gap')
  t.equal(localToUtc('Europe/Paris', 2026, 3, 29, 180), Date.UTC(2026, 2, 29, 1, 0), '03:00 CEST')
  t.equal(localToUtc('Europe/Paris', 2026, 10, 25, 150), Date.UTC(2026, 9, 25, 0, 30), '02:30 twice: the first (CEST)')
  t.equal(localToUtc('America/New_York', 2026, 11, 1, 90), Date.UTC(2026, 10, 1, 5, 30), '01:30 twice: the first (EDT)')
  t.equal(localToUtc('America/New_York', 2026, 3, 8, 150), Date.UTC(2026, 2, 8, 7), '02:30 skipped: 03:00 EDT')
  t.equal(localToUtc('Pacific/Apia', 2011, 12, 30, 720), Date.UTC(2011, 11, 30, 10), 'Samoa skipped 2011-12-30: the transition')
  t.equal(localToUtc('America/New_York', 2026, 11, 1, 0), Date.UTC(2026, 10, 1, 4))
  t.equal(localToUtc('America/New_York', 2026, 11, 2, 0), Date.UTC(2026, 10, 2, 5))
})

t.test('a band edge inside the skipped or repeated hour', async (t) => {
  const bands: TimeBand[] = [{ name: 'night', days: ['sun'], from: '02:30', to: '05:00', percent: 50 }]
  const none = new Set<string>()
  t.equal(nextBandChange(bands, none, 'Europe/Paris', Date.UTC(2026, 2, 29, 0, 30)), Date.UTC(2026, 2, 29, 1), 'from 02:30 on the 23-hour day: at 03:00 CEST')
  t.equal(nextBandChange(bands, none, 'Europe/Paris', Date.UTC(2026, 9, 24, 23, 30)), Date.UTC(2026, 9, 25, 0, 30), 'from 02:30 on the 25-hour day: its first occurrence')
})
