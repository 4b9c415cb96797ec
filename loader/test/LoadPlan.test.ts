import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { batchIdOfKey, groupBatches, loadOrder, newestCommit, tableOfKey } from "../src/Loader.ts"
import { copyField, copyText, splitAtTruncates } from "../src/LoadPlan.ts"
import { alternativeSpellings, resolveTarget } from "../src/WarehouseTarget.ts"

describe("COPY text", () => {
  it("escapes backslash, newline, carriage return and tab, writes \\N for null and t/f for booleans", () => {
    expect(copyField("a\\b\nc\rd\te")).toBe("a\\\\b\\nc\\rd\\te")
    expect(copyField(null)).toBe("\\N")
    expect(copyField(true)).toBe("t")
    expect(copyField(false)).toBe("f")
    expect(copyField(42)).toBe("42")
    expect(copyField("")).toBe("")
  })

  it("writes one line per row: the transform's columns, then position, op, commit time and row index", () => {
    const text = copyText("dim_currency", [
      { currency_id: 1, currency_code: "GBP", currency_name: "British pound", _commit_lsn: "0/10", _commit_idx: 3, _op: "upsert", _commit_ts: null }
    ])
    expect(text).toBe("1\tGBP\tBritish pound\t0/10\t3\tupsert\t\\N\t0\n")
  })
})

describe("splitAtTruncates", () => {
  it("cuts a file's rows into segments each ended by its truncate", () => {
    const rows = [{ _op: "upsert", n: 1 }, { _op: "truncate", n: 2 }, { _op: "delete", n: 3 }, { _op: "truncate", n: 4 }]
    expect(splitAtTruncates(rows)).toEqual([
      { rows: [rows[0]], truncate: rows[1] },
      { rows: [rows[2]], truncate: rows[3] }
    ])
    expect(splitAtTruncates([{ _op: "upsert" }])).toEqual([{ rows: [{ _op: "upsert" }], truncate: undefined }])
  })
})

describe("processed keys", () => {
  it("name their table and batch; anything else is not a processed object", () => {
    expect(tableOfKey("fact_payment/2024/02/23/shardId-000000000000-1-2.parquet")).toBe("fact_payment")
    expect(batchIdOfKey("fact_payment/2024/02/23/shardId-000000000000-1-2.parquet")).toBe("shardId-000000000000-1-2")
    expect(tableOfKey("dlq/processor/2024/02/23/x.json")).toBeUndefined()
    expect(tableOfKey("fact_payment/2024/02/23/x.json")).toBeUndefined()
  })

  it("load in table order (dim_date first, facts last) and group into micro-batches by folder and batch id", () => {
    const keys = ["fact_payment/2024/02/24/b.parquet", "dim_date/2024/02/23/a.parquet", "fact_payment/2024/02/23/a.parquet", "dim_currency/2024/02/23/a.parquet", "state/x.json"]
    expect(loadOrder(keys.slice(0, 4).map((key) => ({ key }))).map((o) => o.key)).toEqual([
      "dim_date/2024/02/23/a.parquet", "dim_currency/2024/02/23/a.parquet", "fact_payment/2024/02/23/a.parquet", "fact_payment/2024/02/24/b.parquet"
    ])
    expect(groupBatches(keys).map((batch) => batch.map((o) => o.key))).toEqual([
      ["dim_date/2024/02/23/a.parquet", "fact_payment/2024/02/23/a.parquet", "dim_currency/2024/02/23/a.parquet"],
      ["fact_payment/2024/02/24/b.parquet"]
    ])
  })

  it("newestCommit compares LSNs numerically, not as text", () => {
    expect(newestCommit([{ _commit_lsn: "0/FF", _commit_ts: "2024-01-01T00:00:00.000Z" }, { _commit_lsn: "0/100", _commit_ts: null }])).toEqual({
      lsn: "0/100",
      ts: "2024-01-01T00:00:00.000Z"
    })
  })
})

describe("WarehouseTarget", () => {
  it("knows the cohorts' other spellings", () => {
    expect(alternativeSpellings("counterparty_legal_address_line_2")).toEqual(["counterparty_legal_address_line2"])
    expect(alternativeSpellings("counterparty_legal_address_line2")).toEqual(["counterparty_legal_address_line_2"])
    expect(alternativeSpellings("last_updated_time")).toEqual(["last_updated"])
    expect(alternativeSpellings("city")).toEqual([])
  })

  it.effect("names the missing table and column with the fix", () =>
    Effect.gen(function* () {
      const missingTable = yield* resolveTarget("analytics", { columns: new Map(), primaryKeys: new Map(), foreignKeys: [] }).pipe(Effect.flip)
      expect(missingTable.message).toBe(
        "warehouse table analytics.dim_date does not exist: run a totes-cdc component that migrates the warehouse, or set WAREHOUSE_SCHEMA to the schema that holds the star schema"
      )
      const columns = new Map([["dim_date", ["date_id", "year", "month", "day", "day_of_week", "day_name", "month_name"]]])
      const missingColumn = yield* resolveTarget("analytics", { columns, primaryKeys: new Map(), foreignKeys: [] }).pipe(Effect.flip)
      expect(missingColumn.message).toBe(
        "warehouse table analytics.dim_date has no column quarter: add it (totesys/warehouse_schema.sql) or point WAREHOUSE_SCHEMA at a totes-cdc warehouse"
      )
    })
  )
})
