import { describe, expect, it } from "vitest"
import {
  canonicalValue,
  type ExpectedRows,
  reconcile,
  type RowVersion,
  type TextRow,
  type WarehouseContents
} from "../../src/verify/Reconcile.ts"

const TABLES = [
  "dim_date", "dim_staff", "dim_location", "dim_currency", "dim_design", "dim_counterparty",
  "dim_payment_type", "dim_transaction", "fact_sales_order", "fact_purchase_order", "fact_payment"
] as const
type Table = (typeof TABLES)[number]

const WINDOW = { from: "0/5000", to: "0/5100" }

const expectedOf = (rows: Partial<ExpectedRows>): ExpectedRows =>
  Object.fromEntries(TABLES.map((t) => [t, rows[t] ?? []])) as unknown as ExpectedRows

const contentsOf = (rows: Partial<Record<Table, ReadonlyArray<TextRow>>>, extra: Partial<WarehouseContents> = {}): WarehouseContents => ({
  rows: Object.fromEntries(TABLES.map((t) => [t, rows[t] ?? []])) as unknown as WarehouseContents["rows"],
  counts: Object.fromEntries(TABLES.map((t) => [t, (rows[t] ?? []).length])) as unknown as WarehouseContents["counts"],
  duplicates: [],
  foreignKeyViolations: [],
  versions: [],
  ...extra
})

const version = (table: Table, naturalId: string, commitLsn: string, deleted = false): RowVersion => ({
  table,
  naturalId,
  commitLsn,
  commitIdx: 0,
  deleted,
  inferred: false
})

const tableOf = (report: ReturnType<typeof reconcile>, table: Table) => report.tables.find((t) => t.table === table)!

const gbp = { currency_id: 1, currency_code: "GBP", currency_name: "British Pound" }
const gbpText = { currency_id: "1", currency_code: "GBP", currency_name: "British Pound" }
const usd = { currency_id: 2, currency_code: "USD", currency_name: "US Dollar" }
const usdText = { currency_id: "2", currency_code: "USD", currency_name: "US Dollar" }

const payment = {
  payment_id: 2, created_date: "2022-11-03", created_time: "14:20:52.186", last_updated_date: "2022-11-03",
  last_updated_time: "14:20:52.180", transaction_id: 2, counterparty_id: 15, payment_amount: "552548.62",
  currency_id: 2, payment_type_id: 3, paid: false, payment_date: "2022-11-04"
}
// As PostgreSQL prints it: time without trailing zero, numeric with another scale, boolean spelled out.
const paymentText = {
  payment_id: "2", created_date: "2022-11-03", created_time: "14:20:52.186", last_updated_date: "2022-11-03",
  last_updated_time: "14:20:52.18", transaction_id: "2", counterparty_id: "15", payment_amount: "552548.620",
  currency_id: "2", payment_type_id: "3", paid: "false", payment_date: "2022-11-04"
}

describe("canonicalValue", () => {
  it("compares numbers, times and booleans by value, dates and text exactly", () => {
    expect(canonicalValue("decimal(10,2)", "12.30")).toBe(canonicalValue("numeric", "12.3"))
    expect(canonicalValue("numeric", "-0.00")).toBe("0")
    expect(canonicalValue("numeric", "007.50")).toBe("7.5")
    expect(canonicalValue("int", 42)).toBe(canonicalValue("int", "42"))
    expect(canonicalValue("time", "10:00:00.000")).toBe("10:00:00")
    expect(canonicalValue("time", "10:00:00.100")).toBe(canonicalValue("time", "10:00:00.1"))
    expect(canonicalValue("time", "10:00:00.101")).not.toBe(canonicalValue("time", "10:00:00.1"))
    expect(canonicalValue("boolean", true)).toBe(canonicalValue("boolean", "t"))
    expect(canonicalValue("boolean", false)).toBe(canonicalValue("boolean", "false"))
    expect(canonicalValue("varchar", "Abc ")).not.toBe(canonicalValue("varchar", "Abc"))
    expect(canonicalValue("varchar", null)).toBeNull()
    expect(canonicalValue("varchar", "")).toBe("")
  })
})

describe("reconcile: dimensions", () => {
  it("finds no drift when every row is equal", () => {
    const report = reconcile(expectedOf({ dim_currency: [gbp, usd] }), contentsOf({ dim_currency: [usdText, gbpText] }), WINDOW)
    expect(tableOf(report, "dim_currency")).toMatchObject({ source: 2, warehouse: 2, missing: 0, extra: 0, different: 0, compared: 2, drift: false })
    expect(report).toMatchObject({ drift: false, driftTables: [], rowsCompared: 2 })
  })

  it("reports a missing key, an extra key and a different value with the column and both values", () => {
    const report = reconcile(
      expectedOf({ dim_currency: [gbp, usd] }),
      contentsOf({ dim_currency: [{ ...gbpText, currency_name: "Pound" }, { currency_id: "3", currency_code: "EUR", currency_name: "Euro" }] }),
      WINDOW
    )
    expect(tableOf(report, "dim_currency")).toMatchObject({
      missing: 1,
      extra: 1,
      different: 1,
      compared: 1,
      drift: true,
      samples: {
        missing: ["2"],
        extra: ["3"],
        different: [{ key: "1", column: "currency_name", expected: "British Pound", actual: "Pound" }]
      }
    })
    expect(report).toMatchObject({ drift: true, driftTables: ["dim_currency"] })
  })

  it("counts a row changed at or after the window's start as in flight, whatever its values or presence", () => {
    const report = reconcile(
      expectedOf({ dim_currency: [gbp, usd] }),
      contentsOf(
        { dim_currency: [{ ...gbpText, currency_name: "Pound" }, { currency_id: "3", currency_code: "EUR", currency_name: "Euro" }] },
        { versions: [version("dim_currency", "1", "0/5000"), version("dim_currency", "2", "0/5100", true), version("dim_currency", "3", "1/0")] }
      ),
      WINDOW
    )
    expect(tableOf(report, "dim_currency")).toMatchObject({ missing: 0, extra: 0, different: 0, inFlight: 3, compared: 0, drift: false })
  })

  it("compares a row whose newest change precedes the window exactly (LSNs compared as numbers, not text)", () => {
    const report = reconcile(
      expectedOf({ dim_currency: [gbp] }),
      contentsOf({ dim_currency: [{ ...gbpText, currency_code: "GBX" }] }, { versions: [version("dim_currency", "1", "0/4FFF")] }),
      WINDOW
    )
    expect(tableOf(report, "dim_currency")).toMatchObject({ different: 1, inFlight: 0 })
    // 9/FFFF is before 10/0, though after it as text.
    const numeric = reconcile(
      expectedOf({ dim_currency: [gbp] }),
      contentsOf({ dim_currency: [{ ...gbpText, currency_code: "GBX" }] }, { versions: [version("dim_currency", "1", "9/FFFF")] }),
      { from: "10/0", to: "10/10" }
    )
    expect(tableOf(numeric, "dim_currency")).toMatchObject({ different: 1, inFlight: 0 })
  })

  it("keeps a deleted row flagged in row_versions out of extra; an expected row flagged deleted is different", () => {
    const report = reconcile(
      expectedOf({ dim_currency: [gbp] }),
      contentsOf({ dim_currency: [gbpText, usdText] }, { versions: [version("dim_currency", "2", "0/10", true), version("dim_currency", "1", "0/20", true)] }),
      WINDOW
    )
    expect(tableOf(report, "dim_currency")).toMatchObject({
      extra: 0,
      keptDeleted: 1,
      different: 1,
      samples: { different: [{ key: "1", column: "(row_versions.deleted)", expected: "false", actual: "true" }] }
    })
  })

  it("counts a placeholder row the source does not hold as in flight; one it holds is compared", () => {
    const placeholder = { currency_id: "2", currency_code: "", currency_name: "" }
    const inferred = (naturalId: string): RowVersion => ({ ...version("dim_currency", naturalId, "0/0"), inferred: true })
    const absent = reconcile(expectedOf({ dim_currency: [gbp] }), contentsOf({ dim_currency: [gbpText, placeholder] }, { versions: [inferred("2")] }), WINDOW)
    expect(tableOf(absent, "dim_currency")).toMatchObject({ extra: 0, inFlight: 1, drift: false })
    const held = reconcile(expectedOf({ dim_currency: [gbp, usd] }), contentsOf({ dim_currency: [gbpText, placeholder] }, { versions: [inferred("2")] }), WINDOW)
    expect(tableOf(held, "dim_currency")).toMatchObject({ different: 1, inFlight: 0, drift: true })
  })

  it("reports a key held by two rows as a duplicate", () => {
    const report = reconcile(expectedOf({ dim_currency: [gbp] }), contentsOf({ dim_currency: [gbpText, gbpText] }), WINDOW)
    expect(tableOf(report, "dim_currency")).toMatchObject({ duplicates: 1, missing: 0, different: 0, drift: true, samples: { duplicates: ["1"] } })
  })

  it("compares nullable columns: null equals only null", () => {
    const location = {
      location_id: 1, address_line_1: "6826 Herzog Via", address_line_2: null, district: "Avon", city: "New Patienceburgh",
      postal_code: "28441", country: "Turkey", phone: "1803 637401"
    }
    const text = { ...location, location_id: "1" }
    expect(tableOf(reconcile(expectedOf({ dim_location: [location] }), contentsOf({ dim_location: [text] }), WINDOW), "dim_location").drift).toBe(false)
    const empty = reconcile(expectedOf({ dim_location: [location] }), contentsOf({ dim_location: [{ ...text, address_line_2: "" }] }), WINDOW)
    expect(tableOf(empty, "dim_location").samples.different).toEqual([{ key: "1", column: "address_line_2", expected: null, actual: "" }])
  })
})

describe("reconcile: facts", () => {
  it("compares the latest version of each natural id with the expected row, by value", () => {
    const report = reconcile(
      expectedOf({ fact_payment: [payment] }),
      contentsOf({ fact_payment: [paymentText] }, { counts: { ...contentsOf({}).counts, fact_payment: 3 } }),
      WINDOW
    )
    expect(tableOf(report, "fact_payment")).toMatchObject({ source: 1, warehouse: 3, different: 0, compared: 1, drift: false })
  })

  it("reports a different latest version, a missing and an extra natural id", () => {
    const report = reconcile(
      expectedOf({ fact_payment: [payment, { ...payment, payment_id: 3 }] }),
      contentsOf({ fact_payment: [{ ...paymentText, paid: "true" }, { ...paymentText, payment_id: "4" }] }),
      WINDOW
    )
    expect(tableOf(report, "fact_payment")).toMatchObject({
      missing: 1,
      extra: 1,
      different: 1,
      samples: { missing: ["3"], extra: ["4"], different: [{ key: "2", column: "paid", expected: "false", actual: "true" }] }
    })
  })

  it("counts duplicate versions and foreign-key violations; dates missing from dim_date are dim_date's missing", () => {
    const report = reconcile(
      expectedOf({ fact_payment: [payment] }),
      contentsOf(
        { fact_payment: [paymentText] },
        {
          duplicates: [{ table: "fact_payment", naturalId: "2", lastUpdatedDate: "2022-11-03", lastUpdatedTime: "14:20:52.18", rows: 2 }],
          foreignKeyViolations: [
            { table: "fact_payment", column: "currency_id", references: "dim_currency", referencedColumn: "currency_id", value: "2", rows: 2 },
            { table: "fact_payment", column: "created_date", references: "dim_date", referencedColumn: "date_id", value: "2022-11-03", rows: 2 },
            { table: "fact_payment", column: "last_updated_date", references: "dim_date", referencedColumn: "date_id", value: "2022-11-03", rows: 2 },
            { table: "fact_sales_order", column: "agreed_payment_date", references: "dim_date", referencedColumn: "date_id", value: "2022-11-09", rows: 1 }
          ]
        }
      ),
      WINDOW
    )
    expect(tableOf(report, "fact_payment")).toMatchObject({ duplicates: 1, foreignKeyViolations: 6, different: 0, drift: true })
    expect(tableOf(report, "fact_payment").samples.duplicates).toEqual(["2 at 2022-11-03 14:20:52.18 (2 rows)"])
    expect(tableOf(report, "fact_sales_order")).toMatchObject({ foreignKeyViolations: 1, drift: true })
    expect(tableOf(report, "dim_date")).toMatchObject({ missing: 2, samples: { missing: ["2022-11-03", "2022-11-09"] } })
    expect(report.driftTables).toEqual(["dim_date", "fact_sales_order", "fact_payment"])
  })

  it("counts a natural id changed or deleted after the window's start as in flight, a deleted one before it as kept", () => {
    const report = reconcile(
      expectedOf({ fact_payment: [payment] }),
      contentsOf(
        { fact_payment: [{ ...paymentText, paid: "true" }, { ...paymentText, payment_id: "7" }] },
        { versions: [version("fact_payment", "2", "0/6000"), version("fact_payment", "7", "0/10", true)] }
      ),
      WINDOW
    )
    expect(tableOf(report, "fact_payment")).toMatchObject({ inFlight: 1, keptDeleted: 1, different: 0, extra: 0, drift: false })
  })
})

describe("reconcile: dim_date", () => {
  it("checks each row against its date and counts extra dates as history", () => {
    const monday = { date_id: "2022-11-07", year: "2022", month: "11", day: "7", day_of_week: "1", day_name: "Monday", month_name: "November", quarter: "4" }
    const report = reconcile(
      expectedOf({ dim_date: [{ date_id: "2022-11-07", year: 2022, month: 11, day: 7, day_of_week: 1, day_name: "Monday", month_name: "November", quarter: 4 }] }),
      contentsOf({
        dim_date: [
          monday,
          { date_id: "2022-11-08", year: "2022", month: "11", day: "8", day_of_week: "2", day_name: "Tuesday", month_name: "November", quarter: "4" },
          { date_id: "2022-11-09", year: "2022", month: "11", day: "9", day_of_week: "3", day_name: "Wednesday ", month_name: "November", quarter: "4" }
        ]
      }),
      WINDOW
    )
    expect(tableOf(report, "dim_date")).toMatchObject({
      source: 1,
      warehouse: 3,
      missing: 0,
      extra: 0,
      different: 1,
      compared: 3,
      samples: { different: [{ key: "2022-11-09", column: "day_name", expected: "Wednesday", actual: "Wednesday " }] }
    })
  })
})

describe("reconcile: rejected source rows", () => {
  it("make the verdict drift even when every table agrees", () => {
    const report = reconcile(expectedOf({}), contentsOf({}), WINDOW, [{ table: "currency", key: "9", error: "column currency_code is null" }])
    expect(report).toMatchObject({ drift: true, driftTables: [], rejected: { count: 1 } })
  })
})
