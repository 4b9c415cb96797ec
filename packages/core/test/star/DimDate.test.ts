import { describe, expect, it } from "@effect/vitest"
import { datesBetween, dimDateRows } from "../../src/star/index.ts"

// Weekdays checked by hand against a calendar; rules §6: ISO day_of_week 1 = Monday .. 7 = Sunday.
describe("dimDateRows (rules §6)", () => {
  it("gives ISO weekday, English names and quarter", () => {
    expect(dimDateRows(["2022-11-03", "2023-01-01", "2024-02-29", "2023-07-01", "2024-04-02"])).toEqual([
      { date_id: "2022-11-03", year: 2022, month: 11, day: 3, day_of_week: 4, day_name: "Thursday", month_name: "November", quarter: 4 },
      { date_id: "2023-01-01", year: 2023, month: 1, day: 1, day_of_week: 7, day_name: "Sunday", month_name: "January", quarter: 1 },
      { date_id: "2023-07-01", year: 2023, month: 7, day: 1, day_of_week: 6, day_name: "Saturday", month_name: "July", quarter: 3 },
      { date_id: "2024-02-29", year: 2024, month: 2, day: 29, day_of_week: 4, day_name: "Thursday", month_name: "February", quarter: 1 },
      { date_id: "2024-04-02", year: 2024, month: 4, day: 2, day_of_week: 2, day_name: "Tuesday", month_name: "April", quarter: 2 }
    ])
  })

  it("returns each date once, ascending", () => {
    expect(dimDateRows(["2022-11-07", "2022-11-03", "2022-11-07"]).map((row) => [row.date_id, row.day_of_week, row.day_name]))
      .toEqual([["2022-11-03", 4, "Thursday"], ["2022-11-07", 1, "Monday"]])
  })

  it("refuses a value that is not a date", () => {
    expect(() => dimDateRows(["2022-02-30"])).toThrow(RangeError)
  })
})

describe("datesBetween", () => {
  it("lists every day inclusive, across month and year ends", () => {
    expect(datesBetween("2022-12-30", "2023-01-02")).toEqual(["2022-12-30", "2022-12-31", "2023-01-01", "2023-01-02"])
    expect(datesBetween("2024-02-28", "2024-03-01")).toEqual(["2024-02-28", "2024-02-29", "2024-03-01"])
    expect(datesBetween("2022-11-01", "2022-10-31")).toEqual([])
  })
})
