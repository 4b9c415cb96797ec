/**
 * Parsers from PostgreSQL's text form of a value (what a change record carries,
 * DESIGN.md §3) to the typed values of the warehouse (StarRow.ts). Pure; every
 * parser answers a `Result` whose failure is a one-line message naming the value.
 *
 * Invariants:
 *  - Timestamps are parsed, never split on a space: `'2022-11-03 14:20:49.962'`,
 *    `'2022-12-15 11:55:10.28'` (PostgreSQL drops trailing zeros of the fraction),
 *    `'2022-11-03T14:20:52.186000'` (JSON exports: `T` and 6 digits) all parse
 *    (totesys/transform_rules.md §1 and §2 "Pitfall"). The time keeps exactly 3 digits
 *    of milliseconds; digits beyond the millisecond are truncated, not rounded, so a
 *    value never moves to the next second or day (the source is `timestamp(3)`).
 *  - Calendar validity is checked (no 2023-02-29, no 25:00).
 *  - Numbers never pass through a float: decimals stay strings.
 */
import { Result } from "effect"

export type Parsed<A> = Result.Result<A, string>

const INT4_MIN = -2147483648
const INT4_MAX = 2147483647

/**
 * An `integer` column. Accepts PostgreSQL's text form (`'42'`) and the float form a
 * pandas round trip leaves behind (`'2.0'`, rules §1: "cast them back to int").
 */
export const parseInt4 = (text: string): Parsed<number> => {
  const match = /^([+-]?\d+)(?:\.0+)?$/.exec(text.trim())
  if (match === null) return Result.fail(`not an integer: ${JSON.stringify(text)}`)
  const value = Number(match[1])
  if (!Number.isSafeInteger(value) || value < INT4_MIN || value > INT4_MAX) {
    return Result.fail(`integer out of range: ${JSON.stringify(text)}`)
  }
  return Result.succeed(value === 0 ? 0 : value)
}

const DECIMAL = /^([+-]?)(\d+)(?:\.(\d*))?$|^([+-]?)\.(\d+)$/

interface Decimal {
  readonly negative: boolean
  readonly digits: string
  readonly fraction: string
}

const decimalOf = (text: string): Decimal | undefined => {
  const match = DECIMAL.exec(text.trim())
  if (match === null) return undefined
  return match[2] !== undefined
    ? { negative: match[1] === "-", digits: match[2], fraction: match[3] ?? "" }
    : { negative: match[4] === "-", digits: "0", fraction: match[5] ?? "" }
}

/** A plain `numeric` column: validated, passed on as PostgreSQL printed it (rules §3, `item_unit_price`, `payment_amount`). */
export const parseNumeric = (text: string): Parsed<string> =>
  decimalOf(text) === undefined ? Result.fail(`not a decimal number: ${JSON.stringify(text)}`) : Result.succeed(text.trim())

/**
 * A `numeric(10,2)` column (`fact_sales_order.unit_price`, rules §3: "Achint-T rounds to
 * 2 dp"): exactly two decimal places, rounded half away from zero like PostgreSQL's
 * numeric rounding; at most 8 integer digits.
 */
export const parseDecimal10_2 = (text: string): Parsed<string> => {
  const decimal = decimalOf(text)
  if (decimal === undefined) return Result.fail(`not a decimal number: ${JSON.stringify(text)}`)
  const fraction = decimal.fraction.padEnd(2, "0")
  let cents = BigInt(decimal.digits + fraction.slice(0, 2))
  const rest = fraction.slice(2)
  if (rest.length > 0 && rest.charCodeAt(0) >= 53 /* '5' */) cents += 1n
  const whole = (cents / 100n).toString()
  if (whole.length > 8) return Result.fail(`decimal out of range for numeric(10,2): ${JSON.stringify(text)}`)
  const sign = decimal.negative && cents !== 0n ? "-" : ""
  return Result.succeed(`${sign}${whole}.${(cents % 100n).toString().padStart(2, "0")}`)
}

/** A `boolean` column: PostgreSQL's `'t'`/`'f'` (also `'true'`/`'false'`). */
export const parseBool = (text: string): Parsed<boolean> => {
  switch (text.trim().toLowerCase()) {
    case "t":
    case "true":
      return Result.succeed(true)
    case "f":
    case "false":
      return Result.succeed(false)
    default:
      return Result.fail(`not a boolean: ${JSON.stringify(text)}`)
  }
}

const isLeap = (year: number): boolean => (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0

/** Days in `month` (1..12) of `year`. */
export const daysInMonth = (year: number, month: number): number =>
  month === 2 ? (isLeap(year) ? 29 : 28) : [4, 6, 9, 11].includes(month) ? 30 : 31

const validDate = (year: number, month: number, day: number): boolean =>
  year >= 1 && month >= 1 && month <= 12 && day >= 1 && day <= daysInMonth(year, month)

const two = (n: number): string => n.toString().padStart(2, "0")
const formatDate = (year: number, month: number, day: number): string =>
  `${year.toString().padStart(4, "0")}-${two(month)}-${two(day)}`

/** A `'YYYY-MM-DD'` text date (`agreed_delivery_date`, `payment_date`, …; rules §2 "Text dates → date"). */
export const parseDate = (text: string): Parsed<string> => {
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text.trim())
  if (match === null) return Result.fail(`not a date (YYYY-MM-DD): ${JSON.stringify(text)}`)
  if (!validDate(Number(match[1]), Number(match[2]), Number(match[3]))) return Result.fail(`not a calendar date: ${JSON.stringify(text)}`)
  // Four, two and two digits: the text is already the canonical form.
  return Result.succeed(match[0])
}

/** A timestamp split for the warehouse (rules §2 "Split timestamps"). */
export interface DateAndTime {
  /** 'YYYY-MM-DD' */
  readonly date: string
  /** 'HH:MM:SS.mmm' */
  readonly time: string
}

const TIMESTAMP = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(?:\s*(Z|[+-]\d{2}(?::?\d{2})?))?$/i

/**
 * A `timestamp(3) without time zone` in PostgreSQL text or ISO form, split into date
 * and time with milliseconds kept (rules §1, §2). A zone suffix is accepted and the
 * instant converted to UTC (the source is UTC in practice, rules §1).
 */
export const parseTimestamp = (text: string): Parsed<DateAndTime> => {
  const match = TIMESTAMP.exec(text.trim())
  if (match === null) return Result.fail(`not a timestamp: ${JSON.stringify(text)}`)
  const [, y = "", mo = "", d = "", h = "", mi = "", s = "00"] = match
  const [year, month, day, hour, minute, second] = [Number(y), Number(mo), Number(d), Number(h), Number(mi), Number(s)]
  if (!validDate(year, month, day) || hour > 23 || minute > 59 || second > 59) {
    return Result.fail(`not a valid timestamp: ${JSON.stringify(text)}`)
  }
  const millis = (match[7] ?? "").padEnd(3, "0").slice(0, 3)
  const zone = match[8]
  if (zone === undefined || /^(z|[+-]00(:?00)?)$/i.test(zone)) {
    // Every field matched its exact digit count: the canonical text is the matched digits.
    return Result.succeed({ date: `${y}-${mo}-${d}`, time: `${h}:${mi}:${s}.${millis}` })
  }
  // An explicit offset: move the wall-clock time to UTC (whole minutes; milliseconds unchanged).
  const sign = zone.startsWith("-") ? -1 : 1
  const digits = zone.slice(1).replace(":", "")
  const offsetMinutes = sign * (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2, 4) || "0"))
  const utc = new Date(0)
  utc.setUTCFullYear(year, month - 1, day)
  utc.setUTCHours(hour, minute - offsetMinutes, second, 0)
  return Result.succeed({
    date: formatDate(utc.getUTCFullYear(), utc.getUTCMonth() + 1, utc.getUTCDate()),
    time: `${two(utc.getUTCHours())}:${two(utc.getUTCMinutes())}:${two(utc.getUTCSeconds())}.${millis}`
  })
}
