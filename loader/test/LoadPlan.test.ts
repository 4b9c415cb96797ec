import { describe, expect, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import { loadOrder, manifestKeyOfBatch, newestCommit } from "../src/Loader.ts"
import { STAR_COLUMNS, WAREHOUSE_TABLES } from "@totes-cdc/core"
import {
  ANALYZE_STAGE_ROWS,
  copyField,
  copyText,
  type FactVersionRow,
  inlineStatement,
  insertStage,
  LOAD_CHECK_SQLSTATE,
  mergeFactVersions,
  scriptOf,
  segmentFunction,
  splitAtTruncates
} from "../src/LoadPlan.ts"
import { alternativeSpellings, resolveTarget, type WarehouseTarget } from "../src/WarehouseTarget.ts"

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

describe("statements in round trips", () => {
  it("writes parameters inline as the quoted text PostgreSQL reads a parameter as, NULL for null, and leaves $n in quotes alone", () => {
    expect(
      inlineStatement({
        sql: `UPDATE t SET a = $1, b = $2::int, c = $3, d = $10 WHERE e = '$1' AND "$2" = $4`,
        params: ["it's", 42, null, true, 5, 6, 7, 8, 9, "tenth"]
      })
    ).toBe(`UPDATE t SET a = 'it''s', b = '42'::int, c = NULL, d = 'tenth' WHERE e = '$1' AND "$2" = 'true'`)
    expect(() => inlineStatement({ sql: "SELECT $2", params: ["one"] })).toThrow(/\$2 has no value/)
    // A backslash: an escape string, read the same with standard_conforming_strings on or off.
    expect(inlineStatement({ sql: "SELECT $1", params: ["a\\b'c"] })).toBe("SELECT E'a\\\\b''c'")
  })

  it("writes a script's statements in order, inlining those with parameters and leaving the others as they are", () => {
    expect(
      scriptOf([
        { sql: "ANALYZE s", params: [] },
        { sql: "INSERT INTO t VALUES ($1)", params: [1] },
        { sql: "SELECT '$1'", params: [] }
      ])
    ).toEqual(["ANALYZE s", "INSERT INTO t VALUES ('1')", "SELECT '$1'"])
  })

  it("stages a small segment by INSERT … VALUES: the columns in COPY order, each value as the quoted literal of its text, then the row index", () => {
    const rows = [
      { currency_id: 1, currency_code: "GBP", currency_name: "it's", _commit_lsn: "0/10", _commit_idx: 3, _op: "upsert", _commit_ts: null },
      { currency_id: 2, currency_code: "EUR", currency_name: "a\\b", _commit_lsn: "0/11", _commit_idx: 0, _op: "delete", _commit_ts: "2024-02-23T10:00:00.000Z" }
    ]
    expect(scriptOf([insertStage("dim_currency", rows)])).toEqual([
      `INSERT INTO "_stage_dim_currency" ("currency_id", "currency_code", "currency_name", "_commit_lsn", "_commit_idx", "_op", "_commit_ts", "_ord") VALUES ` +
        `('1', 'GBP', 'it''s', '0/10', '3', 'upsert', NULL, 0),\n` +
        `('2', 'EUR', E'a\\\\b', '0/11', '0', 'delete', '2024-02-23T10:00:00.000Z', 1)`
    ])
  })
})

/** The totes-cdc warehouse in schema `schema`: every column as the transform names it, one foreign key of fact_payment. */
const targetIn = (schema: string): Effect.Effect<WarehouseTarget, unknown> =>
  resolveTarget(schema, {
    columns: new Map(WAREHOUSE_TABLES.map((table) => [table, STAR_COLUMNS[table].map((c) => c.name)])),
    primaryKeys: new Map([["fact_sales_order", ["sales_record_id"]], ["fact_purchase_order", ["purchase_record_id"]], ["fact_payment", ["payment_record_id"]]]),
    foreignKeys: [{ table: "fact_payment", column: "currency_id", references: "dim_currency", referencedColumn: "currency_id" }]
  })

describe("segment functions", () => {
  it.effect("name a function by its definition: the same target and size class give the same one, another schema, table, size class or check mode another", () =>
    Effect.gen(function* () {
      const target = yield* targetIn("public")
      const small = segmentFunction(target, "fact_payment", "statement", 1)
      expect(small.name).toMatch(/^totes_cdc_apply_[0-9a-f]{16}$/)
      expect(segmentFunction(target, "fact_payment", "statement", ANALYZE_STAGE_ROWS - 1)).toEqual(small)
      const others = [
        segmentFunction(yield* targetIn("analytics"), "fact_payment", "statement", 1),
        segmentFunction(target, "fact_sales_order", "statement", 1),
        segmentFunction(target, "fact_payment", "statement", ANALYZE_STAGE_ROWS),
        segmentFunction(target, "fact_payment", "row", 1)
      ]
      expect(new Set([small.name, ...others.map((f) => f.name)]).size).toBe(5)
      expect(small.call).toBe(`SELECT pg_temp."${small.name}"()`)
    })
  )

  it.effect("define a PL/pgSQL function of the session holding the segment's statements with their parameters written inline, the check raising its SQLSTATE", () =>
    Effect.gen(function* () {
      const fn = segmentFunction(yield* targetIn("public"), "fact_payment", "statement", 1)
      expect(fn.create.startsWith(`CREATE FUNCTION pg_temp."${fn.name}"() RETURNS void LANGUAGE plpgsql AS $totes_cdc_body$`)).toBe(true)
      expect(fn.create).not.toMatch(/\$\d/)
      expect(fn.create).toContain("target_schema = 'public' AND tr.warehouse_table = 'fact_payment'")
      expect(fn.create).toContain(`RAISE EXCEPTION USING ERRCODE = '${LOAD_CHECK_SQLSTATE}'`)
      // The large variant ANALYZEs the stage first and empties the tables with TRUNCATE; the small one with DELETE.
      expect(fn.create).toContain('DELETE FROM "_stage_fact_payment"')
      const large = segmentFunction(yield* targetIn("public"), "fact_payment", "statement", ANALYZE_STAGE_ROWS).create
      expect(large).toContain('ANALYZE "_stage_fact_payment"')
      expect(large).toContain('TRUNCATE "_stage_fact_payment"')
      // With PostgreSQL's triggers checking the keys, no check of its own.
      expect(segmentFunction(yield* targetIn("public"), "fact_payment", "row", 1).create).not.toContain("RAISE EXCEPTION")
    })
  )
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
  it("load in table order (dim_date first, facts last); a call's manifest is known only when every key is of one micro-batch", () => {
    const keys = ["fact_payment/2024/02/24/b.parquet", "dim_date/2024/02/23/a.parquet", "fact_payment/2024/02/23/a.parquet", "dim_currency/2024/02/23/a.parquet", "state/x.json"]
    expect(loadOrder(keys.slice(0, 4).map((key) => ({ key }))).map((o) => o.key)).toEqual([
      "dim_date/2024/02/23/a.parquet", "dim_currency/2024/02/23/a.parquet", "fact_payment/2024/02/23/a.parquet", "fact_payment/2024/02/24/b.parquet"
    ])
    expect(manifestKeyOfBatch([keys[1]!, keys[2]!, keys[3]!])).toBe("manifests/2024/02/23/a.json")
    expect(manifestKeyOfBatch(keys.slice(0, 4))).toBeUndefined()
    expect(manifestKeyOfBatch([keys[1]!, keys[4]!])).toBeUndefined()
    expect(manifestKeyOfBatch([])).toBeUndefined()
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

describe("mergeFactVersions: the fact rule (README \"Warehouse semantics\")", () => {
  const at = (lsn: string, idx: number) => ({ lsn, idx })
  const v1 = "7|2022-11-03|14:20:52.187"
  const start = new Map([[v1, { values: "delivery to 12", writtenAt: at("0/100", 3) }]])

  it("adds a new version, replaces an existing one only with a newer change, and ignores an older or equal one", () => {
    const v2 = "7|2022-11-05|09:30:00.000"
    const merged = mergeFactVersions(start, [{ version: v2, position: at("0/200", 0), values: "paid" }])
    expect(merged.get(v2)).toEqual({ values: "paid", writtenAt: at("0/200", 0) })
    expect(merged.get(v1)).toEqual(start.get(v1))
    // Same version, last_updated unchanged, later commit: replaced in place.
    expect(mergeFactVersions(start, [{ version: v1, position: at("0/180", 0), values: "delivery to 29" }]).get(v1)).toEqual({
      values: "delivery to 29",
      writtenAt: at("0/180", 0)
    })
    // The change that wrote it (re-delivered), or an older one: nothing changes.
    expect(mergeFactVersions(start, [{ version: v1, position: at("0/100", 3), values: "x" }]).get(v1)).toEqual(start.get(v1))
    expect(mergeFactVersions(start, [{ version: v1, position: at("0/FF", 9), values: "x" }]).get(v1)).toEqual(start.get(v1))
    // LSNs compare as numbers: 0/1000 is after 0/200.
    expect(mergeFactVersions(start, [{ version: v1, position: at("0/1000", 0), values: "y" }]).get(v1)?.values).toBe("y")
  })

  it("within one micro-batch, the newest change of a version wins, by position and then by order in the file", () => {
    const batch = [
      { version: v1, position: at("0/300", 2), values: "third" },
      { version: v1, position: at("0/300", 1), values: "second" },
      { version: v1, position: at("0/200", 0), values: "first" }
    ]
    expect(mergeFactVersions(start, batch).get(v1)?.values).toBe("third")
    const tie = [
      { version: v1, position: at("0/300", 2), values: "earlier in file" },
      { version: v1, position: at("0/300", 2), values: "later in file" }
    ]
    expect(mergeFactVersions(start, tie).get(v1)?.values).toBe("later in file")
  })

  // A source history of three orders: each command changes one order, moving its last_updated
  // (a new version) or not (same version, new values). Cut into micro-batches, delivered in any
  // order, some batches twice: every version ends with the values of its newest change.
  const Command = Schema.Struct({
    order: Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 2 })),
    bump: Schema.Boolean,
    cut: Schema.Boolean,
    pick: Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 7 }))
  })
  it.prop(
    "converges on the newest change of every version whatever the batching, order and re-delivery",
    [Schema.Array(Command)],
    ([commands]) => {
      const lastUpdated = [0, 0, 0]
      const changes = commands.map((c, i) => {
        if (c.bump) lastUpdated[c.order]! += 1
        return { version: `${c.order}|${lastUpdated[c.order]}`, position: at(`0/${(i + 1).toString(16)}`, i % 3), values: `change ${i}` }
      })
      const expected = new Map<string, string>()
      for (const change of changes) expected.set(change.version, change.values)

      const batches: Array<typeof changes> = [[]]
      changes.forEach((change, i) => {
        if (commands[i]!.cut && batches.at(-1)!.length > 0) batches.push([])
        batches.at(-1)!.push(change)
      })
      // Delivery: batches taken in an order the picks decide, each picked batch possibly delivered twice.
      const pending = [...batches]
      const delivered: Array<typeof changes> = []
      for (let i = 0; pending.length > 0; i++) {
        const pick = commands[i % Math.max(commands.length, 1)]?.pick ?? 0
        const [batch] = pending.splice(pick % pending.length, 1)
        delivered.push(batch!, ...(pick % 3 === 0 ? [batch!] : []))
      }
      const merged = delivered.reduce((rows, batch) => mergeFactVersions(rows, batch), new Map() as ReadonlyMap<string, FactVersionRow<string>>)
      expect(new Map([...merged].map(([version, row]) => [version, row.values]))).toEqual(expected)
    },
    { arbitrary: { runs: 500, size: 60 } }
  )
})
