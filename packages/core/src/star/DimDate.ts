/**
 * dim_date generation (totesys/transform_rules.md §6): one row per calendar day, the
 * date itself as the key.
 *
 * Invariants (the §6 recommendations):
 *  - `day_of_week` is ISO: 1 = Monday .. 7 = Sunday (PostgreSQL `ISODOW`).
 *  - `day_name`/`month_name` are English full names, never padded (§6 pitfall on
 *    `TO_CHAR(d,'Day')`).
 *  - `quarter` is 1..4.
 *  - Rows are per referenced date (the transform emits one for every date its fact rows
 *    use, so dim_date covers a fact before it is written, DESIGN.md §5); the loader
 *    inserts them with `ON CONFLICT (date_id) DO NOTHING`. A static range, if wanted,
 *    is `datesBetween('2022-11-01', today + 2 years)` (§6).
 */
import { Result } from "effect"
import { daysInMonth, parseDate } from "./PgText.ts"

export interface DimDateValues {
  readonly date_id: string
  readonly year: number
  readonly month: number
  readonly day: number
  readonly day_of_week: number
  readonly day_name: string
  readonly month_name: string
  readonly quarter: number
}

const DAY_NAMES = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"] as const
const MONTH_NAMES = [
  "January", "February", "March", "April", "May", "June",
  "July", "August", "September", "October", "November", "December"
] as const

const canonical = (date: string): string => {
  const parsed = parseDate(date)
  if (Result.isFailure(parsed)) throw new RangeError(`dim_date: ${parsed.failure}`)
  return parsed.success
}

const civil = (date: string): { year: number; month: number; day: number } => {
  const [year, month, day] = canonical(date).split("-").map(Number) as [number, number, number]
  return { year, month, day }
}

/** ISO day of week, 1 = Monday .. 7 = Sunday, of a valid civil date. */
const isoDayOfWeek = (year: number, month: number, day: number): number => {
  const d = new Date(0)
  d.setUTCFullYear(year, month - 1, day)
  const sundayZero = d.getUTCDay()
  return sundayZero === 0 ? 7 : sundayZero
}

/** The dim_date row of one 'YYYY-MM-DD' date. Throws a RangeError on anything else (callers pass parsed dates). */
export const dimDateRow = (date: string): DimDateValues => {
  const { year, month, day } = civil(date)
  const dayOfWeek = isoDayOfWeek(year, month, day)
  return {
    date_id: canonical(date),
    year,
    month,
    day,
    day_of_week: dayOfWeek,
    day_name: DAY_NAMES[dayOfWeek - 1] ?? "",
    month_name: MONTH_NAMES[month - 1] ?? "",
    quarter: Math.floor((month - 1) / 3) + 1
  }
}

/** dim_date rows for the distinct dates given, ascending. Throws a RangeError on a value that is not a 'YYYY-MM-DD' date. */
export const dimDateRows = (dates: Iterable<string>): ReadonlyArray<DimDateValues> =>
  [...new Set(Array.from(dates, canonical))].sort().map(dimDateRow)

/** Every date from `from` to `to` inclusive ('YYYY-MM-DD'), for a static dim_date range (§6). */
export const datesBetween = (from: string, to: string): ReadonlyArray<string> => {
  const start = civil(from)
  const end = civil(to)
  const out: Array<string> = []
  let { year, month, day } = start
  const endKey = end.year * 10000 + end.month * 100 + end.day
  while (year * 10000 + month * 100 + day <= endKey) {
    out.push(`${year.toString().padStart(4, "0")}-${month.toString().padStart(2, "0")}-${day.toString().padStart(2, "0")}`)
    day += 1
    if (day > daysInMonth(year, month)) {
      day = 1
      month += 1
      if (month > 12) {
        month = 1
        year += 1
      }
    }
  }
  return out
}
