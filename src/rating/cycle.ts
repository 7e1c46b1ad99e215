import type { CompiledPlan } from './plan.js'
import { localParts, localToUtc, WEEKDAYS } from './time-bands.js'

// The plan's billing cycle (monthly on day N, weekly on weekday N, daily) in the account's time
// zone: cycles start at local midnight, so a cycle spanning a DST change is an hour shorter or
// longer than its calendar length.

export interface Cycle {
  /** 'YYYY-MM-DD' of the local start date */
  id: string
  /** ms epoch, inclusive */
  start: number
  /** ms epoch, exclusive (the next cycle's start) */
  end: number
}

const ymd = (y: number, mo: number, d: number): [number, number, number] => {
  const x = new Date(Date.UTC(y, mo - 1, d))
  return [x.getUTCFullYear(), x.getUTCMonth() + 1, x.getUTCDate()]
}
const pad = (n: number, w = 2): string => String(n).padStart(w, '0')

export function cycleAt(plan: Pick<CompiledPlan, 'cycle'>, timezone: string, at: number): Cycle {
  const lp = localParts(timezone, at)
  const [y, mo, d] = lp.date.split('-').map(Number)
  const { period, day } = plan.cycle
  let s: [number, number, number]
  let e: [number, number, number]
  if (period === 'monthly') {
    s = d >= day ? [y, mo, day] : ymd(y, mo - 1, day)
    e = ymd(s[0], s[1] + 1, day)
  } else if (period === 'weekly') {
    const wd = ((WEEKDAYS.indexOf(lp.weekday) + 6) % 7) + 1 // 1 = Monday … 7 = Sunday
    s = ymd(y, mo, d - ((wd - day + 7) % 7))
    e = ymd(s[0], s[1], s[2] + 7)
  } else {
    s = [y, mo, d]
    e = ymd(y, mo, d + 1)
  }
  return { id: `${pad(s[0], 4)}-${pad(s[1])}-${pad(s[2])}`, start: localToUtc(timezone, s[0], s[1], s[2], 0), end: localToUtc(timezone, e[0], e[1], e[2], 0) }
}
