import { describe, expect, it } from "vitest"
import { type CopyHeader, parseCopyHeader, repairDataLine } from "../src/totesys/DumpFormat.ts"

const header = (line: string): CopyHeader => {
  const parsed = parseCopyHeader(line, 1)
  if (parsed?._tag !== "CopyHeader") throw new Error(`not a header: ${line}`)
  return parsed
}

describe("parseCopyHeader", () => {
  it("reads the table and column list of a pg_dump COPY line (quoted or not)", () => {
    expect(
      header('COPY public."transaction" (transaction_id, transaction_type, sales_order_id, purchase_order_id, created_at, last_updated) FROM stdin;')
    ).toEqual({
      _tag: "CopyHeader",
      table: "transaction",
      columns: ["transaction_id", "transaction_type", "sales_order_id", "purchase_order_id", "created_at", "last_updated"]
    })
  })

  it("ignores lines that are not COPY headers", () => {
    expect(parseCopyHeader("SET client_encoding = 'UTF8';", 3)).toBeUndefined()
    expect(parseCopyHeader("CREATE TABLE public.address (", 4)).toBeUndefined()
  })

  it("rejects a table totesys does not have, naming it and the line", () => {
    expect(parseCopyHeader("COPY public.customers (id, name) FROM stdin;", 7)).toEqual({
      _tag: "DumpProblem",
      line: 7,
      message: 'COPY into "customers", which is not a totesys table'
    })
  })

  it("rejects a column the table does not have", () => {
    const problem = parseCopyHeader("COPY public.currency (currency_id, currency_name) FROM stdin;", 2)
    expect(problem).toMatchObject({ _tag: "DumpProblem", line: 2 })
    expect(problem?._tag === "DumpProblem" && problem.message).toContain("currency_name")
  })
})

describe("repairDataLine", () => {
  const address = header(
    "COPY public.address (address_id, address_line_1, address_line_2, district, city, postal_code, country, phone, created_at, last_updated) FROM stdin;"
  )
  const transaction = header(
    'COPY public."transaction" (transaction_id, transaction_type, sales_order_id, purchase_order_id, created_at, last_updated) FROM stdin;'
  )

  it("turns the literal text NULL in address_line_2 and district into SQL NULL (totesys/README.md quirk)", () => {
    const line = "2\t1 Test Street\tNULL\tNULL\tTestville\t00000\tNowhere\t0000 000000\t2022-11-03 14:20:49.962\t2022-11-03 14:20:49.962"
    expect(repairDataLine(address, line, 10)).toBe(
      "2\t1 Test Street\t\\N\t\\N\tTestville\t00000\tNowhere\t0000 000000\t2022-11-03 14:20:49.962\t2022-11-03 14:20:49.962"
    )
  })

  it("keeps the text NULL in columns where it is not the documented quirk", () => {
    const line = "5\tNULL\t\\N\tAvon\tNULL\t1\tX\t1\t2022-11-03 14:20:49.962\t2022-11-03 14:20:49.962"
    expect(repairDataLine(address, line, 1)).toBe(line)
  })

  it("turns integral floats in integer columns into integers (transaction quirk)", () => {
    expect(repairDataLine(transaction, "1\tPURCHASE\t\\N\t2.0\t2022-11-03 14:20:52.186\t2022-11-03 14:20:52.186", 1)).toBe(
      "1\tPURCHASE\t\\N\t2\t2022-11-03 14:20:52.186\t2022-11-03 14:20:52.186"
    )
  })

  it("refuses a fractional value in an integer column instead of rounding it", () => {
    expect(repairDataLine(transaction, "1\tSALE\t2.5\t\\N\t2022-11-03 14:20:52.186\t2022-11-03 14:20:52.186", 9)).toEqual({
      _tag: "DumpProblem",
      line: 9,
      message: 'transaction.sales_order_id = "2.5" is not an integer'
    })
  })

  it("refuses a row with the wrong number of fields", () => {
    expect(repairDataLine(transaction, "1\tSALE", 4)).toMatchObject({ _tag: "DumpProblem", line: 4 })
  })
})
