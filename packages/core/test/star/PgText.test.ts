import { describe, expect, it } from "@effect/vitest"
import fc from "fast-check"
import { Result } from "effect"
import {
  currencyName,
  parseBool,
  parseDate,
  parseDecimal10_2,
  parseInt4,
  parseNumeric,
  parseTimestamp
} from "../../src/star/index.ts"

const ok = <A>(result: Result.Result<A, string>): A => {
  if (Result.isFailure(result)) throw new Error(`expected a success, got: ${result.failure}`)
  return result.success
}

// Expected values are written by hand from transform_rules.md §1/§2 and PostgreSQL's text forms.
describe("parseTimestamp (rules §1, §2: split, keep milliseconds, parse properly)", () => {
  it("pads the milliseconds PostgreSQL's text output shortened", () => {
    expect(ok(parseTimestamp("2022-12-15 11:55:10.28"))).toEqual({ date: "2022-12-15", time: "11:55:10.280" })
    // payment 12 and 24 of the 2024-02-23 dump
    expect(ok(parseTimestamp("2022-11-04 11:59:09.99"))).toEqual({ date: "2022-11-04", time: "11:59:09.990" })
    expect(ok(parseTimestamp("2022-11-08 15:30:10.6"))).toEqual({ date: "2022-11-08", time: "15:30:10.600" })
    expect(ok(parseTimestamp("2022-11-03 14:20:49"))).toEqual({ date: "2022-11-03", time: "14:20:49.000" })
    expect(ok(parseTimestamp("2022-11-03 14:20:49.962"))).toEqual({ date: "2022-11-03", time: "14:20:49.962" })
  })

  it("reads ISO 'T' forms with 6-digit fractions (truncating below the millisecond)", () => {
    expect(ok(parseTimestamp("2022-11-03T14:20:52.186000"))).toEqual({ date: "2022-11-03", time: "14:20:52.186" })
    expect(ok(parseTimestamp("2022-11-03T23:59:59.999999"))).toEqual({ date: "2022-11-03", time: "23:59:59.999" })
  })

  it("converts an explicit offset to UTC, keeping the milliseconds", () => {
    expect(ok(parseTimestamp("2022-11-03T14:20:52.186Z"))).toEqual({ date: "2022-11-03", time: "14:20:52.186" })
    expect(ok(parseTimestamp("2022-11-03 14:20:52.186+00"))).toEqual({ date: "2022-11-03", time: "14:20:52.186" })
    expect(ok(parseTimestamp("2022-11-03T23:30:00.5-01:00"))).toEqual({ date: "2022-11-04", time: "00:30:00.500" })
    expect(ok(parseTimestamp("2023-01-01 00:15:00.25+02"))).toEqual({ date: "2022-12-31", time: "22:15:00.250" })
  })

  it("rejects what is not a valid timestamp", () => {
    for (const bad of ["2022-02-30 10:00:00", "2022-11-03 25:00:00", "2022-11-03 10:60:00", "yesterday", "2022-11-03", ""]) {
      expect(Result.isFailure(parseTimestamp(bad)), bad).toBe(true)
    }
  })
})

/** A valid date and time, written as PostgreSQL or an ISO export would, and its split made by `Date` (an independent reference). */
const written = fc
  .record({
    date: fc.date({ min: new Date("0001-01-01T00:00:00Z"), max: new Date("9999-12-31T23:59:59Z"), noInvalidDate: true }),
    fraction: fc.string({ unit: fc.constantFrom(..."0123456789"), minLength: 0, maxLength: 9 }),
    seconds: fc.boolean(),
    separator: fc.constantFrom(" ", "T"),
    zone: fc.constantFrom("", "Z", "+00", "+00:00", "-0000"),
    pad: fc.constantFrom("", " ", "  ")
  })
  .map(({ date, fraction, seconds, separator, zone, pad }) => {
    const iso = date.toISOString() // YYYY-MM-DDTHH:MM:SS.mmmZ for years 1–9999
    const clock = seconds ? iso.slice(11, 19) + (fraction === "" ? "" : `.${fraction}`) : iso.slice(11, 16)
    return {
      text: `${pad}${iso.slice(0, 10)}${separator}${clock}${zone}${pad}`,
      split: { date: iso.slice(0, 10), time: `${seconds ? iso.slice(11, 19) : `${iso.slice(11, 16)}:00`}.${(seconds ? fraction : "").padEnd(3, "0").slice(0, 3)}` }
    }
  })

describe("parseTimestamp and parseDate against Date (property)", () => {
  it("split every valid timestamp as Date writes it, whatever the separator, fraction, UTC zone or spaces around", () => {
    fc.assert(
      fc.property(written, ({ text, split }) => {
        expect(ok(parseTimestamp(text))).toEqual(split)
        expect(ok(parseDate(` ${split.date} `))).toBe(split.date)
      }),
      { numRuns: 2_000 }
    )
  })
})

describe("parseDate (rules §2: text dates → date)", () => {
  it("accepts calendar dates only", () => {
    expect(ok(parseDate("2022-11-10"))).toBe("2022-11-10")
    expect(ok(parseDate("2024-02-29"))).toBe("2024-02-29")
    for (const bad of ["2023-02-29", "2022-13-01", "2022-11-31", "10/11/2022", "2022-11-3", "not a date"]) {
      expect(Result.isFailure(parseDate(bad)), bad).toBe(true)
    }
  })
})

describe("numbers", () => {
  it("parseInt4 reads integers, and the float form pandas leaves (rules §1)", () => {
    expect(ok(parseInt4("42"))).toBe(42)
    expect(ok(parseInt4("-7"))).toBe(-7)
    expect(ok(parseInt4("2.0"))).toBe(2)
    expect(ok(parseInt4("2147483647"))).toBe(2147483647)
    for (const bad of ["2.5", "abc", "", "2147483648", "1e3"]) expect(Result.isFailure(parseInt4(bad)), bad).toBe(true)
  })

  it("parseDecimal10_2 gives exactly two places, rounding half away from zero", () => {
    expect(ok(parseDecimal10_2("2.43"))).toBe("2.43")
    expect(ok(parseDecimal10_2("3"))).toBe("3.00")
    expect(ok(parseDecimal10_2("3.5"))).toBe("3.50")
    expect(ok(parseDecimal10_2(".5"))).toBe("0.50")
    expect(ok(parseDecimal10_2("2.435"))).toBe("2.44")
    expect(ok(parseDecimal10_2("2.4349"))).toBe("2.43")
    expect(ok(parseDecimal10_2("-2.435"))).toBe("-2.44")
    expect(ok(parseDecimal10_2("-0.001"))).toBe("0.00")
    expect(ok(parseDecimal10_2("99999999.99"))).toBe("99999999.99")
    for (const bad of ["123456789.00", "99999999.995", "NaN", "2,43", "", "1e3"]) {
      expect(Result.isFailure(parseDecimal10_2(bad)), bad).toBe(true)
    }
  })

  it("parseNumeric passes a decimal on as given", () => {
    expect(ok(parseNumeric("552548.62"))).toBe("552548.62")
    expect(ok(parseNumeric("361.39"))).toBe("361.39")
    expect(ok(parseNumeric("507025.00"))).toBe("507025.00")
    for (const bad of ["NaN", "1e5", "12,5", "abc"]) expect(Result.isFailure(parseNumeric(bad)), bad).toBe(true)
  })

  it("parseBool reads PostgreSQL's t/f", () => {
    expect(ok(parseBool("t"))).toBe(true)
    expect(ok(parseBool("f"))).toBe(false)
    expect(ok(parseBool("true"))).toBe(true)
    expect(Result.isFailure(parseBool("yes"))).toBe(true)
  })
})

describe("currencyName (rules §5: static ISO-4217 map, the code itself when unknown)", () => {
  it("names the three totesys currencies", () => {
    expect(currencyName("GBP")).toBe("Pound Sterling")
    expect(currencyName("USD")).toBe("US Dollar")
    expect(currencyName("EUR")).toBe("Euro")
    expect(currencyName("XYZ")).toBe("XYZ")
  })
})
