/**
 * The loader on s3rver + PostgreSQL. Processed objects are written BY HAND (rows as the
 * processor writes them: warehouse values + `_commit_lsn`/`_commit_idx`/`_op`/`_commit_ts`,
 * values from the 2024-02-23 dump) and the warehouse is read back with SQL. Every test has
 * its own bucket and warehouse database.
 */
import { expect, layer } from "@effect/vitest"
import { encodeManifest, makeManifest, manifestKeyOfObject, parseManifestKey, processedColumns, type WarehouseTable } from "@totes-cdc/core"
import { LocalStack } from "@totes-cdc/local-stack"
import { encodeParquet, makePgPool, type ParquetValue, type PgPool, S3 } from "@totes-cdc/platform"
import { freshBucket, freshDatabase, seededRandom } from "@totes-cdc/local-stack/testing"
import { Effect, Fiber, Layer, Logger, Schedule } from "effect"
import { makeLoader, releaseQuarantine } from "../src/Loader.ts"
import { runLoaderProgram } from "../src/LoaderProgram.ts"
import { Readable } from "node:stream"
import { copyStageSql, copyText, createTempTables, type FactVersionRow, type ForeignKeyChecks, type LoadRow, mergeFactVersions, segmentStatements, type TruncateMode } from "../src/LoadPlan.ts"
import { introspectTarget } from "../src/WarehouseTarget.ts"
import { migrateWarehouse } from "../src/WarehouseMigrations.ts"

type Values = Record<string, ParquetValue>
interface Row {
  readonly values: Values
  readonly at: string
  readonly op?: "upsert" | "delete" | "truncate" | "resync"
  readonly ts?: string
}

const row = (values: Values, at: string, op: Row["op"] = "upsert", ts = "2024-02-23T10:00:00.000Z"): Row => ({ values, at, op, ts })

/** The position "LSN/idx" as the rule takes it. */
const positionOf = (at: string) => ({ lsn: at.slice(0, at.lastIndexOf("/")), idx: Number(at.slice(at.lastIndexOf("/") + 1)) })

/** Writes one processed object of `table` holding `rows` (position `at` = "LSN/idx"). */
const putObject = (bucket: string, key: string, table: WarehouseTable, rows: ReadonlyArray<Row>) =>
  Effect.gen(function* () {
    const columns = processedColumns(table, { relaxed: true })
    const full = rows.map((r) => {
      const out: Values = Object.fromEntries(columns.map((c) => [c.name, null]))
      const { lsn, idx } = positionOf(r.at)
      return { ...out, ...r.values, _commit_lsn: lsn, _commit_idx: idx, _op: r.op ?? "upsert", _commit_ts: r.ts ?? null }
    })
    const bytes = yield* encodeParquet(columns, full)
    yield* (yield* S3).putObject(bucket, key, bytes)
    return { key, table, rows: rows.length, commitLsns: rows.map((r) => positionOf(r.at).lsn) }
  })

/** Writes the manifest of the micro-batch `objects` (all of one batch) make up, as the processor does after them. */
const putManifest = (bucket: string, objects: ReadonlyArray<Effect.Success<ReturnType<typeof putObject>>>) =>
  Effect.gen(function* () {
    const key = manifestKeyOfObject(objects[0]!.key)!
    const manifest = makeManifest(parseManifestKey(key)!.batchId, objects, objects.flatMap((o) => o.commitLsns))
    yield* (yield* S3).putObject(bucket, key, encodeManifest(manifest))
    return key
  })

// Rows of the 2024-02-23 dump, as the transform writes them (totesys/transform_rules.md).
const currency1 = { currency_id: 1, currency_code: "GBP", currency_name: "British pound" }
const currency2 = { currency_id: 2, currency_code: "USD", currency_name: "US dollar" }
const location1 = {
  location_id: 1, address_line_1: "6826 Herzog Via", address_line_2: null, district: "Avon", city: "New Patienceburgh",
  postal_code: "28441", country: "Turkey", phone: "1803 637401"
}
const date = (date_id: string, year: number, month: number, day: number, day_of_week: number, day_name: string, month_name: string, quarter: number) => ({
  date_id, year, month, day, day_of_week, day_name, month_name, quarter
})
const nov3 = date("2022-11-03", 2022, 11, 3, 4, "Thursday", "November", 4)
const nov4 = date("2022-11-04", 2022, 11, 4, 5, "Friday", "November", 4)
const nov5 = date("2022-11-05", 2022, 11, 5, 6, "Saturday", "November", 4)
const payment2 = {
  payment_id: 2, created_date: "2022-11-03", created_time: "14:20:52.187", last_updated_date: "2022-11-03",
  last_updated_time: "14:20:52.187", transaction_id: 2, counterparty_id: 15, payment_amount: "552548.62", currency_id: 2,
  payment_type_id: 3, paid: false, payment_date: "2022-11-04"
}
const transaction2 = { transaction_id: 2, transaction_type: "PURCHASE", sales_order_id: null, purchase_order_id: 2 }
const paymentType3 = { payment_type_id: 3, payment_type_name: "PURCHASE_PAYMENT" }
const counterparty15 = {
  counterparty_id: 15, counterparty_legal_name: "Kohler Inc", counterparty_legal_address_line_1: "6826 Herzog Via",
  counterparty_legal_address_line_2: null, counterparty_legal_district: "Avon", counterparty_legal_city: "New Patienceburgh",
  counterparty_legal_postal_code: "28441", counterparty_legal_country: "Turkey", counterparty_legal_phone_number: "1803 637401"
}

const sales2 = {
  sales_order_id: 2, created_date: "2022-11-03", created_time: "14:20:52.186", last_updated_date: "2022-11-03",
  last_updated_time: "14:20:52.186", sales_staff_id: 19, counterparty_id: 8, units_sold: 42972, unit_price: "3.94",
  currency_id: 2, design_id: 3, agreed_payment_date: "2022-11-08", agreed_delivery_date: "2022-11-07", agreed_delivery_location_id: 8
}
const purchase2 = {
  purchase_order_id: 2, created_date: "2022-11-03", created_time: "14:20:52.186", last_updated_date: "2022-11-03",
  last_updated_time: "14:20:52.186", staff_id: 20, counterparty_id: 17, item_code: "QLZLEXR", item_quantity: 286,
  item_unit_price: "199.04", currency_id: 2, agreed_delivery_date: "2022-11-04", agreed_payment_date: "2022-11-07", agreed_delivery_location_id: 8
}

/** dim_date rows of 2022-11-<from> … 2022-11-<to> (transform_rules.md §6: ISO day of week, Monday = 1). */
const novemberDates = (from: number, to: number): ReadonlyArray<Row> =>
  Array.from({ length: to - from + 1 }, (_, i) => {
    const day = new Date(Date.UTC(2022, 10, from + i))
    const weekday = day.getUTCDay() === 0 ? 7 : day.getUTCDay()
    const dayName = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"][weekday - 1]!
    return row(date(day.toISOString().slice(0, 10), 2022, 11, from + i, weekday, dayName, "November", 4), "0/1/0")
  })

const versionOf = (values: Values) => `${values["payment_id"]}|${values["last_updated_date"]}|${values["last_updated_time"]}`

const quiet = Logger.layer([])
const services = Layer.unwrap(LocalStack.pipe(Effect.map((stack) => S3.layer(stack.s3))))

/** A migrated warehouse `name`, a bucket of its own, and a loader over both. */
const setUp = (
  name: string,
  truncateMode: TruncateMode = "quarantine",
  prepare?: (pool: PgPool) => Effect.Effect<unknown, unknown>,
  foreignKeyChecks: ForeignKeyChecks = "statement"
) =>
  Effect.gen(function* () {
    const pool = yield* freshDatabase(name)
    if (prepare !== undefined) yield* prepare(pool)
    yield* migrateWarehouse(pool)
    const bucket = yield* freshBucket(name.replaceAll("_", "-"))
    const loader = yield* makeLoader(pool, "public", { processedBucket: bucket, truncateMode, foreignKeyChecks })
    return { pool, bucket, loader }
  })

const select = (pool: PgPool, sql: string) => pool.query(sql)

/** Objects for one micro-batch with a payment (version 1) and everything it references. */
const paymentBatch = (bucket: string, id: string) =>
  Effect.all([
    putObject(bucket, `dim_date/2024/02/23/${id}.parquet`, "dim_date", [row(nov3, "0/100/0"), row(nov4, "0/100/0")]),
    putObject(bucket, `dim_currency/2024/02/23/${id}.parquet`, "dim_currency", [row(currency1, "0/100/1"), row(currency2, "0/100/2")]),
    putObject(bucket, `dim_location/2024/02/23/${id}.parquet`, "dim_location", [row(location1, "0/100/3")]),
    putObject(bucket, `dim_counterparty/2024/02/23/${id}.parquet`, "dim_counterparty", [row(counterparty15, "0/100/4")]),
    putObject(bucket, `dim_payment_type/2024/02/23/${id}.parquet`, "dim_payment_type", [row(paymentType3, "0/100/5")]),
    putObject(bucket, `dim_transaction/2024/02/23/${id}.parquet`, "dim_transaction", [row(transaction2, "0/100/6")]),
    putObject(bucket, `fact_payment/2024/02/23/${id}.parquet`, "fact_payment", [row(payment2, "0/100/7")])
  ])

layer(Layer.provideMerge(Layer.mergeAll(services, quiet), LocalStack.layer()), { excludeTestServices: true })("Loader on s3rver + PostgreSQL", (it) => {
  it.effect("loads a micro-batch's dimensions and facts in one go, and a re-delivered object changes nothing", () =>
    Effect.gen(function* () {
      const { pool, bucket, loader } = yield* setUp("loader_basic")
      const objects = yield* paymentBatch(bucket, "b1")
      // Facts listed first: the loader still applies dim_date and the dimensions before them.
      const report = yield* loader.applyObjects([...objects].reverse())
      expect(report).toMatchObject({ applied: 7, alreadyApplied: 0, rows: 9 })
      expect(report.commitTimes).toHaveLength(9)
      const payments = yield* select(pool, "SELECT payment_record_id, payment_id, payment_amount, paid, last_updated_time, payment_date FROM fact_payment")
      expect(payments).toEqual([
        { payment_record_id: "1", payment_id: "2", payment_amount: "552548.62", paid: "f", last_updated_time: "14:20:52.187", payment_date: "2022-11-04" }
      ])
      expect(yield* select(pool, "SELECT currency_id, currency_name FROM dim_currency ORDER BY 1")).toEqual([
        { currency_id: "1", currency_name: "British pound" },
        { currency_id: "2", currency_name: "US dollar" }
      ])
      expect(yield* select(pool, "SELECT counterparty_legal_name, counterparty_legal_address_line_2 FROM dim_counterparty")).toEqual([
        { counterparty_legal_name: "Kohler Inc", counterparty_legal_address_line_2: null }
      ])
      const freshness = yield* select(pool, "SELECT last_commit_lsn, last_commit_ts FROM totes_cdc.freshness WHERE warehouse_table = 'fact_payment'")
      expect(freshness).toEqual([{ last_commit_lsn: "0/100", last_commit_ts: "2024-02-23 10:00:00+00" }])

      const again = yield* loader.applyObjects(objects)
      expect(again).toMatchObject({ applied: 0, alreadyApplied: 7 })
      expect(yield* select(pool, "SELECT count(*) AS n FROM fact_payment")).toEqual([{ n: "1" }])
      expect(yield* select(pool, "SELECT count(*) AS n FROM totes_cdc.applied_objects")).toEqual([{ n: "7" }])
    })
  )

  it.effect("appends each fact version once, in commit order, and applies a dimension change only when it is not older", () =>
    Effect.gen(function* () {
      const { pool, bucket, loader } = yield* setUp("loader_versions")
      yield* loader.applyObjects(yield* paymentBatch(bucket, "b1"))
      const paid = { ...payment2, paid: true, last_updated_date: "2022-11-05", last_updated_time: "09:30:00.000" }
      // Batch 2 (from a replay under another batch id) repeats version 1 and adds version 2; batch 3 is older news.
      const b2 = yield* Effect.all([
        putObject(bucket, "dim_date/2024/02/23/b2.parquet", "dim_date", [row(nov5, "0/200/0")]),
        putObject(bucket, "fact_payment/2024/02/23/b2.parquet", "fact_payment", [row(payment2, "0/100/7"), row(paid, "0/200/0")]),
        putObject(bucket, "dim_currency/2024/02/23/b2.parquet", "dim_currency", [row({ ...currency2, currency_name: "United States dollar" }, "0/200/1")])
      ])
      yield* loader.applyObjects(b2)
      const stale = yield* putObject(bucket, "dim_currency/2024/02/23/b0.parquet", "dim_currency", [row({ ...currency2, currency_name: "stale" }, "0/50/0")])
      yield* loader.applyObjects([stale])
      expect(yield* select(pool, "SELECT payment_record_id, paid, last_updated_date FROM fact_payment ORDER BY 1")).toEqual([
        { payment_record_id: "1", paid: "f", last_updated_date: "2022-11-03" },
        { payment_record_id: "2", paid: "t", last_updated_date: "2022-11-05" }
      ])
      expect(yield* select(pool, "SELECT currency_name FROM dim_currency WHERE currency_id = 2")).toEqual([{ currency_name: "United States dollar" }])
      expect(yield* select(pool, "SELECT natural_id, commit_lsn, commit_idx FROM totes_cdc.row_versions WHERE warehouse_table = 'fact_payment'")).toEqual([
        { natural_id: "2", commit_lsn: "0/200", commit_idx: "0" }
      ])
      // A cascaded joined row at the SAME position with newer partner values is applied.
      const cascaded = yield* putObject(bucket, "dim_counterparty/2024/02/23/b4.parquet", "dim_counterparty", [
        row({ ...counterparty15, counterparty_legal_city: "Leeds" }, "0/100/4")
      ])
      yield* loader.applyObjects([cascaded])
      expect(yield* select(pool, "SELECT counterparty_legal_city FROM dim_counterparty")).toEqual([{ counterparty_legal_city: "Leeds" }])
    })
  )

  it.effect("replaces a fact version in place when its source row changes without a new last_updated, on all three fact tables", () =>
    Effect.gen(function* () {
      const { pool, bucket, loader } = yield* setUp("loader_unbumped")
      const put = (table: WarehouseTable, id: string, rows: ReadonlyArray<Row>) => putObject(bucket, `${table}/2024/02/23/${id}.parquet`, table, rows)
      yield* loader.applyObjects(yield* Effect.all([put("dim_date", "dates", novemberDates(3, 14)), put("fact_sales_order", "b1", [row(sales2, "0/100/0")]), put("fact_purchase_order", "b1", [row(purchase2, "0/100/1")]), put("fact_payment", "b1", [row(payment2, "0/100/2")])]))
      const versionRows = Effect.all({
        sales: select(pool, "SELECT sales_record_id AS id, sales_staff_id, agreed_delivery_date, agreed_delivery_location_id FROM fact_sales_order ORDER BY 1"),
        purchases: select(pool, "SELECT purchase_record_id AS id, staff_id, agreed_payment_date FROM fact_purchase_order ORDER BY 1"),
        payments: select(pool, "SELECT payment_record_id AS id, payment_date, paid FROM fact_payment ORDER BY 1")
      })

      // Each order changed, last_updated left as it was: the same version row takes the new values.
      yield* loader.applyObjects(yield* Effect.all([
        put("fact_sales_order", "b2", [row({ ...sales2, agreed_delivery_location_id: 29 }, "0/200/0")]),
        put("fact_purchase_order", "b2", [row({ ...purchase2, staff_id: 3 }, "0/200/1")]),
        put("fact_payment", "b2", [row({ ...payment2, payment_date: "2022-11-10" }, "0/200/2")])
      ]))
      const afterOne = {
        sales: [{ id: "1", sales_staff_id: "19", agreed_delivery_date: "2022-11-07", agreed_delivery_location_id: "29" }],
        purchases: [{ id: "1", staff_id: "3", agreed_payment_date: "2022-11-07" }],
        payments: [{ id: "1", payment_date: "2022-11-10", paid: "f" }]
      }
      expect(yield* versionRows).toEqual(afterOne)

      // Several changes of one version in one micro-batch (one transaction): the newest wins, whatever the file order.
      const b3 = yield* Effect.all([
        put("fact_sales_order", "b3", [row({ ...sales2, sales_staff_id: 7, agreed_delivery_date: "2022-11-12" }, "0/300/1"), row({ ...sales2, sales_staff_id: 4 }, "0/300/0")]),
        put("fact_purchase_order", "b3", [row({ ...purchase2, staff_id: 5 }, "0/300/2"), row({ ...purchase2, staff_id: 6, agreed_payment_date: "2022-11-11" }, "0/300/3")]),
        put("fact_payment", "b3", [row({ ...payment2, payment_date: "2022-11-11" }, "0/300/4"), row({ ...payment2, payment_date: "2022-11-12" }, "0/300/5")])
      ])
      yield* loader.applyObjects(b3)
      const afterThree = {
        sales: [{ id: "1", sales_staff_id: "7", agreed_delivery_date: "2022-11-12", agreed_delivery_location_id: "8" }],
        purchases: [{ id: "1", staff_id: "6", agreed_payment_date: "2022-11-11" }],
        payments: [{ id: "1", payment_date: "2022-11-12", paid: "f" }]
      }
      expect(yield* versionRows).toEqual(afterThree)

      // Re-delivered (a replay under other batch ids), and older news arriving late: nothing changes.
      yield* loader.applyObjects(yield* Effect.all([
        put("fact_sales_order", "replay-b2", [row({ ...sales2, agreed_delivery_location_id: 29 }, "0/200/0")]),
        put("fact_purchase_order", "replay-b3", [row({ ...purchase2, staff_id: 5 }, "0/300/2"), row({ ...purchase2, staff_id: 6, agreed_payment_date: "2022-11-11" }, "0/300/3")]),
        put("fact_payment", "late", [row({ ...payment2, payment_date: "2022-11-04" }, "0/250/0")])
      ]))
      expect(yield* versionRows).toEqual(afterThree)

      // A new last_updated is a new version (history); a later unbumped change touches only that version.
      const paid = { ...payment2, paid: true, last_updated_date: "2022-11-05", last_updated_time: "09:30:00.000" }
      yield* loader.applyObjects([yield* put("fact_payment", "b4", [row(paid, "0/400/0")])])
      yield* loader.applyObjects([yield* put("fact_payment", "b5", [row({ ...paid, payment_date: "2022-11-14" }, "0/500/0")])])
      expect((yield* versionRows).payments).toEqual([
        { id: "1", payment_date: "2022-11-12", paid: "f" },
        { id: "2", payment_date: "2022-11-14", paid: "t" }
      ])
      expect(yield* select(pool, "SELECT warehouse_table, record_id, commit_lsn, commit_idx FROM totes_cdc.fact_versions ORDER BY 1, 2")).toEqual([
        { warehouse_table: "fact_payment", record_id: "1", commit_lsn: "0/300", commit_idx: "5" },
        { warehouse_table: "fact_payment", record_id: "2", commit_lsn: "0/500", commit_idx: "0" },
        { warehouse_table: "fact_purchase_order", record_id: "1", commit_lsn: "0/300", commit_idx: "3" },
        { warehouse_table: "fact_sales_order", record_id: "1", commit_lsn: "0/300", commit_idx: "1" }
      ])
    })
  )

  it.effect("the fact SQL ends where the rule does (mergeFactVersions), for random histories cut, shuffled and re-delivered", () =>
    Effect.gen(function* () {
      const { pool, bucket, loader } = yield* setUp("loader_fact_rule")
      yield* loader.applyObjects([yield* putObject(bucket, "dim_date/2024/02/23/dates.parquet", "dim_date", novemberDates(3, 30))])
      const random = seededRandom(20241105)
      let model: ReadonlyMap<string, FactVersionRow<Values>> = new Map()
      let object = 0
      for (let history = 0; history < 4; history++) {
        // 30 changes of payments 1–4 (ids 10·history + n): a third of them move last_updated.
        const lastUpdatedDay = [5, 5, 5, 5]
        const changes = Array.from({ length: 30 }, (_, i) => {
          const n = Math.floor(random() * 4)
          if (random() < 1 / 3) lastUpdatedDay[n]! += 1
          const values = { ...payment2, payment_id: 10 * history + n, last_updated_date: `2022-11-${String(lastUpdatedDay[n]).padStart(2, "0")}`, payment_date: `2022-11-${String(3 + Math.floor(random() * 27)).padStart(2, "0")}`, paid: random() < 0.5 }
          return { values, at: `0/${(1000 * (history + 1) + i).toString(16)}/${i % 2}` }
        })
        const batches: Array<Array<(typeof changes)[number]>> = [[]]
        for (const change of changes) {
          if (random() < 0.3 && batches.at(-1)!.length > 0) batches.push([])
          batches.at(-1)!.push(change)
        }
        // Delivered in a random order, one batch in three twice.
        const delivered = batches.flatMap((batch) => (random() < 1 / 3 ? [batch, batch] : [batch])).sort(() => random() - 0.5)
        for (const batch of delivered) {
          yield* loader.applyObjects([yield* putObject(bucket, `fact_payment/2024/02/23/o${object++}.parquet`, "fact_payment", batch.map((c) => row(c.values, c.at)))])
          model = mergeFactVersions(model, batch.map((c) => ({ version: versionOf(c.values), position: positionOf(c.at), values: c.values })))
        }
      }
      const stored = yield* select(pool, "SELECT payment_id, last_updated_date, last_updated_time, payment_date, paid FROM fact_payment ORDER BY 1, 2")
      const expected = [...model.values()]
        .map(({ values }) => ({ payment_id: String(values["payment_id"]), last_updated_date: values["last_updated_date"], last_updated_time: values["last_updated_time"], payment_date: values["payment_date"], paid: values["paid"] ? "t" : "f" }))
        .sort((a, b) => Number(a.payment_id) - Number(b.payment_id) || String(a.last_updated_date).localeCompare(String(b.last_updated_date)))
      expect(stored).toEqual(expected)
    })
  )

  it.effect("a large segment reads the fact table and row_versions one key at a time, never by scanning them, however many rows they hold", () =>
    Effect.gen(function* () {
      const { pool, bucket, loader } = yield* setUp("loader_key_lookups")
      yield* loader.applyObjects([yield* putObject(bucket, "dim_date/2024/02/23/dates.parquet", "dim_date", novemberDates(3, 30))])
      // 20,000 fact rows and their positions, loaded as the loader loads them.
      const SEGMENT = 5_000
      const payments = (from: number) => Array.from({ length: SEGMENT }, (_, i) => row({ ...payment2, payment_id: from + i, transaction_id: from + i }, `0/${(0x1000 + from + i).toString(16)}/0`))
      for (let k = 0; k < 4; k++) {
        yield* loader.applyObjects([yield* putObject(bucket, `fact_payment/2024/02/23/p${k}.parquet`, "fact_payment", payments(1 + k * SEGMENT))])
      }
      expect(yield* select(pool, "SELECT (SELECT count(*) FROM fact_payment) AS facts, (SELECT count(*) FROM totes_cdc.row_versions) AS positions")).toEqual([
        { facts: "20000", positions: String(2 * 20_000 + 3) } // the payments, their inferred transactions, currency 2, counterparty 15, payment type 3
      ])
      // The next segments' statements, each EXPLAINed before it runs, as the segment's function runs them.
      const target = yield* introspectTarget(pool, "public")
      const loadRows = (rows: ReadonlyArray<Row>): ReadonlyArray<LoadRow> =>
        rows.map((r) => ({ ...r.values, _commit_lsn: positionOf(r.at).lsn, _commit_idx: positionOf(r.at).idx, _op: r.op ?? "upsert", _commit_ts: r.ts ?? null }))
      const segments: ReadonlyArray<{ table: WarehouseTable; rows: ReadonlyArray<LoadRow>; keyed: RegExp }> = [
        { table: "fact_payment", rows: loadRows(payments(20_001)), keyed: /\((payment_id|payment_record_id) = /i },
        {
          table: "dim_transaction",
          rows: loadRows(Array.from({ length: SEGMENT }, (_, i) => row({ ...transaction2, transaction_id: 1 + i }, `0/9000/${i}`))),
          keyed: /\(transaction_id = /i
        }
      ]
      type PlanNode = { "Node Type": string; "Relation Name"?: string; "Index Cond"?: string; Plans?: ReadonlyArray<PlanNode> }
      const scansOf = (node: PlanNode): ReadonlyArray<PlanNode> => [
        ...(node["Relation Name"] !== undefined && node["Node Type"] !== "ModifyTable" ? [node] : []),
        ...(node.Plans ?? []).flatMap(scansOf)
      ]
      const bad: Array<string> = []
      let explained = 0
      yield* pool.transaction((tx) =>
        Effect.gen(function* () {
          yield* tx.script(["SET session_replication_role = replica", ...segments.flatMap(({ table }) => createTempTables(table))])
          for (const { table, rows, keyed } of segments) {
            yield* tx.copyIn(copyStageSql(table), Readable.from([copyText(table, rows)]))
            for (const statement of segmentStatements(target, table, "statement", rows.length)) {
              if (!/^(ANALYZE|TRUNCATE|SELECT \* INTO dangling)/.test(statement)) {
                const [plan] = yield* tx.query(`EXPLAIN (FORMAT JSON) ${statement}`)
                const root = (JSON.parse(String(plan!["QUERY PLAN"])) as ReadonlyArray<{ Plan: PlanNode }>)[0]!.Plan
                explained += 1
                for (const scan of scansOf(root).filter((n) => n["Relation Name"] === table || n["Relation Name"] === "row_versions")) {
                  const cond = scan["Index Cond"] ?? ""
                  const byKey = (scan["Node Type"] === "Index Scan" || scan["Node Type"] === "Index Only Scan") && (scan["Relation Name"] === "row_versions" ? /natural_id = /.test(cond) : keyed.test(cond))
                  if (!byKey) bad.push(`${table}: ${scan["Node Type"]} on ${scan["Relation Name"]} (${scan["Index Cond"] ?? "no index condition"}) in ${statement.slice(0, 80)}`)
                }
              }
              if (!statement.startsWith("SELECT * INTO dangling")) yield* tx.script([statement])
            }
          }
          expect(yield* tx.query("SELECT (SELECT count(*) FROM fact_payment) AS facts, (SELECT count(*) FROM dim_transaction WHERE transaction_type = 'PURCHASE') AS transactions")).toEqual([
            { facts: "25000", transactions: "5000" }
          ])
        })
      )
      expect(explained).toBeGreaterThanOrEqual(6)
      expect(bad).toEqual([])
    })
  )

  it.effect("inserts an inferred member for a dimension row a fact references before it arrives, replaced by the real row", () =>
    Effect.gen(function* () {
      const { pool, bucket, loader } = yield* setUp("loader_inferred")
      yield* loader.applyObjects(yield* paymentBatch(bucket, "b1"))
      const order = {
        sales_order_id: 2, created_date: "2022-11-03", created_time: "14:20:52.186", last_updated_date: "2022-11-03",
        last_updated_time: "14:20:52.186", sales_staff_id: 19, counterparty_id: 8, units_sold: 42972, unit_price: "3.94",
        currency_id: 2, design_id: 3, agreed_payment_date: "2022-11-04", agreed_delivery_date: "2022-11-04", agreed_delivery_location_id: 1
      }
      yield* loader.applyObjects([yield* putObject(bucket, "fact_sales_order/2024/02/23/b2.parquet", "fact_sales_order", [row(order, "0/200/0")])])
      expect(yield* select(pool, "SELECT staff_id, first_name, department_name FROM dim_staff")).toEqual([
        { staff_id: "19", first_name: "Unknown", department_name: "Unknown" }
      ])
      expect(yield* select(pool, "SELECT warehouse_table, natural_id, inferred FROM totes_cdc.row_versions WHERE inferred ORDER BY 1")).toEqual([
        { warehouse_table: "dim_counterparty", natural_id: "8", inferred: "t" },
        { warehouse_table: "dim_design", natural_id: "3", inferred: "t" },
        { warehouse_table: "dim_staff", natural_id: "19", inferred: "t" }
      ])
      const staff19 = { staff_id: 19, first_name: "Pierre", last_name: "Sauer", department_name: "Purchasing", location: "Manchester", email_address: "pierre.sauer@terrifictotes.com" }
      yield* loader.applyObjects([yield* putObject(bucket, "dim_staff/2024/02/23/b3.parquet", "dim_staff", [row(staff19, "0/100/9")])])
      expect(yield* select(pool, "SELECT first_name, department_name FROM dim_staff")).toEqual([{ first_name: "Pierre", department_name: "Purchasing" }])
      expect(yield* select(pool, "SELECT inferred FROM totes_cdc.row_versions WHERE warehouse_table = 'dim_staff'")).toEqual([{ inferred: "f" }])
    })
  )

  it.effect("keeps and flags a deleted dimension row facts reference, removes an unreferenced one, keeps a deleted fact's versions", () =>
    Effect.gen(function* () {
      const { pool, bucket, loader } = yield* setUp("loader_deletes")
      yield* loader.applyObjects(yield* paymentBatch(bucket, "b1"))
      yield* loader.applyObjects(
        yield* Effect.all([
          putObject(bucket, "dim_currency/2024/02/23/b2.parquet", "dim_currency", [
            row({ currency_id: 1 }, "0/200/0", "delete"),
            row({ currency_id: 2 }, "0/200/1", "delete")
          ]),
          putObject(bucket, "fact_payment/2024/02/23/b2.parquet", "fact_payment", [row({ payment_id: 2 }, "0/200/2", "delete")])
        ])
      )
      // Currency 2 is referenced by payment 2: kept. Currency 1 is not: removed.
      expect(yield* select(pool, "SELECT currency_id FROM dim_currency")).toEqual([{ currency_id: "2" }])
      expect(yield* select(pool, "SELECT count(*) AS n FROM fact_payment")).toEqual([{ n: "1" }])
      expect(
        yield* select(pool, "SELECT warehouse_table, natural_id, deleted FROM totes_cdc.row_versions WHERE deleted ORDER BY 1, 2")
      ).toEqual([
        { warehouse_table: "dim_currency", natural_id: "1", deleted: "t" },
        { warehouse_table: "dim_currency", natural_id: "2", deleted: "t" },
        { warehouse_table: "fact_payment", natural_id: "2", deleted: "t" }
      ])
      // An older upsert arriving late does not resurrect the deleted row.
      yield* loader.applyObjects([yield* putObject(bucket, "dim_currency/2024/02/23/b0.parquet", "dim_currency", [row(currency1, "0/150/0")])])
      expect(yield* select(pool, "SELECT currency_id FROM dim_currency")).toEqual([{ currency_id: "2" }])
    })
  )

  it.effect("quarantines a truncated table by default — its objects wait, others load — and applies it once released", () =>
    Effect.gen(function* () {
      const { pool, bucket, loader } = yield* setUp("loader_truncate")
      yield* loader.applyObjects(yield* paymentBatch(bucket, "b1"))
      const truncate = yield* Effect.all([
        putObject(bucket, "dim_currency/2024/02/23/b2.parquet", "dim_currency", [
          row({}, "0/200/0", "truncate"),
          row({ currency_id: 3, currency_code: "EUR", currency_name: "Euro" }, "0/300/0")
        ]),
        putObject(bucket, "dim_payment_type/2024/02/23/b2.parquet", "dim_payment_type", [row({ payment_type_id: 1, payment_type_name: "SALES_RECEIPT" }, "0/300/1")])
      ])
      yield* putManifest(bucket, truncate)
      const first = yield* loader.applyObjects(truncate)
      expect(first.quarantined).toEqual([{ key: "dim_currency/2024/02/23/b2.parquet", table: "dim_currency" }])
      expect(first.applied).toBe(1)
      expect(yield* select(pool, "SELECT currency_id FROM dim_currency ORDER BY 1")).toEqual([{ currency_id: "1" }, { currency_id: "2" }])
      expect(yield* select(pool, "SELECT payment_type_id FROM dim_payment_type ORDER BY 1")).toEqual([{ payment_type_id: "1" }, { payment_type_id: "3" }])
      // Later objects of the quarantined table wait too.
      const later = yield* putObject(bucket, "dim_currency/2024/02/23/b3.parquet", "dim_currency", [row({ ...currency2, currency_name: "Dollar" }, "0/400/0")])
      yield* putManifest(bucket, [later])
      expect((yield* loader.catchUp).quarantined).toHaveLength(2)
      // A micro-batch part of which waits is not recorded as applied whole: the catch-up after the release comes back to it.
      expect(yield* select(pool, "SELECT count(*) AS n FROM totes_cdc.applied_batches")).toEqual([{ n: "1" }])

      expect(yield* releaseQuarantine(pool, "public", "dim_currency", "apply")).toBe(1)
      const caughtUp = yield* loader.catchUp
      expect(caughtUp.applied).toBe(2)
      expect(caughtUp.alreadyApplied).toBe(1)
      // Applied: currency 1 (older, unreferenced) gone; 2 (referenced by a payment) kept and flagged, then updated at 0/400; 3 new.
      expect(yield* select(pool, "SELECT currency_id, currency_name FROM dim_currency ORDER BY 1")).toEqual([
        { currency_id: "2", currency_name: "Dollar" },
        { currency_id: "3", currency_name: "Euro" }
      ])
      expect(yield* select(pool, "SELECT mode, in_force FROM totes_cdc.truncations")).toEqual([{ mode: "apply", in_force: "f" }])
    })
  )

  it.effect("a snapshot's resync is never quarantined: older fact ids are flagged deleted with their rows kept, older unreferenced dimension rows go, and the snapshot's rows bring back what still exists in either order", () =>
    Effect.gen(function* () {
      const { pool, bucket, loader } = yield* setUp("loader_resync")
      yield* loader.applyObjects(yield* paymentBatch(bucket, "b1"))
      const deleted = select(pool, "SELECT natural_id, deleted FROM totes_cdc.row_versions WHERE warehouse_table = 'fact_payment'")
      // A re-snapshot at 0/900: payment 2 and currency 1 are not in it (deleted while no slot existed); currency 2 is.
      const resync = yield* loader.applyObjects([
        yield* putObject(bucket, "dim_currency/2024/02/24/r1.parquet", "dim_currency", [row({}, "0/900/0", "resync"), row(currency2, "0/900/1")]),
        yield* putObject(bucket, "fact_payment/2024/02/24/r1.parquet", "fact_payment", [row({}, "0/900/2", "resync")])
      ])
      expect(resync).toMatchObject({ applied: 2, quarantined: [] })
      expect(yield* select(pool, "SELECT currency_id FROM dim_currency ORDER BY 1")).toEqual([{ currency_id: "2" }])
      expect(yield* deleted).toEqual([{ natural_id: "2", deleted: "t" }])
      expect(yield* select(pool, "SELECT count(*) AS n FROM fact_payment")).toEqual([{ n: "1" }])
      expect(yield* select(pool, "SELECT count(*) AS n FROM totes_cdc.truncations")).toEqual([{ n: "0" }])
      // Had payment 2 still existed, its snapshot row (newer than the marker) would bring it back, loaded after the resync…
      yield* loader.applyObjects([yield* putObject(bucket, "fact_payment/2024/02/24/r2.parquet", "fact_payment", [row(payment2, "0/900/3")])])
      expect(yield* deleted).toEqual([{ natural_id: "2", deleted: "f" }])
      expect(yield* select(pool, "SELECT count(*) AS n FROM fact_payment")).toEqual([{ n: "1" }])
      // …or before it (another shard's object first): the marker leaves the newer row alone.
      yield* loader.applyObjects([yield* putObject(bucket, "fact_payment/2024/02/24/r3.parquet", "fact_payment", [row(payment2, "0/a00/5")])])
      yield* loader.applyObjects([yield* putObject(bucket, "fact_payment/2024/02/24/r4.parquet", "fact_payment", [row({}, "0/a00/4", "resync")])])
      expect(yield* deleted).toEqual([{ natural_id: "2", deleted: "f" }])
    })
  )

  it.effect("with truncate mode ignore, records the truncate and changes nothing", () =>
    Effect.gen(function* () {
      const { pool, bucket, loader } = yield* setUp("loader_ignore", "ignore")
      yield* loader.applyObjects(yield* paymentBatch(bucket, "b1"))
      const report = yield* loader.applyObjects([yield* putObject(bucket, "fact_payment/2024/02/23/b2.parquet", "fact_payment", [row({}, "0/200/0", "truncate")])])
      expect(report).toMatchObject({ applied: 1, quarantined: [] })
      expect(yield* select(pool, "SELECT count(*) AS n FROM fact_payment")).toEqual([{ n: "1" }])
      expect(yield* select(pool, "SELECT warehouse_table, mode, in_force FROM totes_cdc.truncations")).toEqual([
        { warehouse_table: "fact_payment", mode: "ignore", in_force: "f" }
      ])
    })
  )

  it.effect("with truncate mode apply, a fact truncate removes the older versions and the positions that wrote them", () =>
    Effect.gen(function* () {
      const { pool, bucket, loader } = yield* setUp("loader_truncate_fact", "apply")
      yield* loader.applyObjects(yield* paymentBatch(bucket, "b1"))
      yield* loader.applyObjects([yield* putObject(bucket, "fact_payment/2024/02/23/b2.parquet", "fact_payment", [row({}, "0/200/0", "truncate")])])
      expect(yield* select(pool, "SELECT count(*) AS n FROM fact_payment")).toEqual([{ n: "0" }])
      expect(yield* select(pool, "SELECT count(*) AS n FROM totes_cdc.fact_versions")).toEqual([{ n: "0" }])
    })
  )

  it.effect("loads into a warehouse whose cohort spells columns …line2 and last_updated", () =>
    Effect.gen(function* () {
      const { pool, bucket, loader } = yield* setUp("loader_drift", "quarantine", (db) =>
        Effect.gen(function* () {
          yield* migrateWarehouse(db)
          yield* db.query("ALTER TABLE dim_counterparty RENAME COLUMN counterparty_legal_address_line_2 TO counterparty_legal_address_line2")
          yield* db.query("ALTER TABLE fact_payment RENAME COLUMN last_updated_time TO last_updated")
        })
      )
      yield* loader.applyObjects(yield* paymentBatch(bucket, "b1"))
      expect(yield* select(pool, "SELECT last_updated FROM fact_payment")).toEqual([{ last_updated: "14:20:52.187" }])
      expect(yield* select(pool, "SELECT counterparty_legal_address_line2 FROM dim_counterparty")).toEqual([{ counterparty_legal_address_line2: null }])
    })
  )

  it.effect("loads an object from the bytes its caller hands over, without reading it from S3, and from the rows they were encoded from without decoding them", () =>
    Effect.gen(function* () {
      const { pool, loader } = yield* setUp("loader_body")
      const columns = processedColumns("dim_currency", { relaxed: true })
      const body = yield* encodeParquet(columns, [{ ...currency1, _commit_lsn: "0/100", _commit_idx: 0, _op: "upsert", _commit_ts: null }])
      // The key names no object in the bucket: only the bytes can have been loaded.
      const report = yield* loader.applyObjects([{ key: "dim_currency/2024/02/23/in-memory.parquet", body }])
      expect(report.applied).toBe(1)
      expect(yield* select(pool, "SELECT currency_id, currency_code FROM dim_currency")).toEqual([{ currency_id: "1", currency_code: "GBP" }])
      // With the rows the bytes were encoded from, the bytes are not decoded: these are not Parquet at all.
      const values = [{ ...currency1, currency_name: "Pound sterling", _commit_lsn: "0/200", _commit_idx: 0, _op: "upsert", _commit_ts: null }]
      const fromValues = yield* loader.applyObjects([{ key: "dim_currency/2024/02/23/in-memory-2.parquet", body: new Uint8Array([1, 2, 3]), values }])
      expect(fromValues.applied).toBe(1)
      expect(yield* select(pool, "SELECT currency_name FROM dim_currency WHERE currency_id = 1")).toEqual([{ currency_name: "Pound sterling" }])
    })
  )

  it.effect("a catch-up applies a micro-batch only once its manifest is there, whole in one transaction, and never reads a manifest it recorded", () =>
    Effect.gen(function* () {
      const { pool, bucket, loader } = yield* setUp("loader_manifest")
      const objects = yield* paymentBatch(bucket, "b1")
      // The processor has written the objects, not yet the manifest: nothing of the micro-batch is applied.
      expect(yield* loader.catchUp).toMatchObject({ applied: 0, alreadyApplied: 0 })
      expect(yield* select(pool, "SELECT count(*) AS n FROM totes_cdc.applied_objects")).toEqual([{ n: "0" }])
      const manifest = yield* putManifest(bucket, objects)
      expect(yield* loader.catchUp).toMatchObject({ applied: 7, rows: 9 })
      expect(yield* select(pool, "SELECT count(DISTINCT xmin::text) AS n FROM totes_cdc.applied_objects")).toEqual([{ n: "1" }])
      expect(yield* select(pool, "SELECT manifest_key FROM totes_cdc.applied_batches")).toEqual([{ manifest_key: manifest }])
      // Recorded: the next catch-up does not read it (a damaged copy would fail it).
      yield* (yield* S3).putObject(bucket, manifest, "not a manifest")
      expect(yield* loader.catchUp).toMatchObject({ applied: 0, alreadyApplied: 0 })
    })
  )

  it.effect("a manifest that does not decode, or names an object that is missing, fails the catch-up naming it, and nothing is written", () =>
    Effect.gen(function* () {
      const { pool, bucket, loader } = yield* setUp("loader_bad_manifest")
      const s3 = yield* S3
      yield* s3.putObject(bucket, "manifests/2024/02/23/b0.json", "{")
      const undecodable = yield* loader.catchUp.pipe(Effect.flip)
      expect(undecodable.message).toMatch(/^processed bucket \S+: manifest manifests\/2024\/02\/23\/b0\.json is not a micro-batch manifest \(.+\): inspect it; delete it and run `totes-cdc replay`/)
      yield* s3.deleteObject(bucket, "manifests/2024/02/23/b0.json")
      const objects = yield* paymentBatch(bucket, "b1")
      yield* putManifest(bucket, objects)
      yield* s3.deleteObject(bucket, "fact_payment/2024/02/23/b1.parquet")
      const missing = yield* loader.catchUp.pipe(Effect.flip)
      expect(missing.message).toBe(
        `processed object s3://${bucket}/fact_payment/2024/02/23/b1.parquet does not exist: was the bucket emptied? replay from the archive (totes-cdc replay)`
      )
      expect(yield* select(pool, "SELECT count(*) AS n FROM dim_currency")).toEqual([{ n: "0" }])
      expect(yield* select(pool, "SELECT count(*) AS n FROM totes_cdc.applied_batches")).toEqual([{ n: "0" }])
    })
  )

  it.effect("writes nothing when an object of the batch cannot be read, and says which", () =>
    Effect.gen(function* () {
      const { pool, bucket, loader } = yield* setUp("loader_missing")
      const objects = yield* paymentBatch(bucket, "b1")
      const error = yield* loader.applyObjects([...objects, { key: "fact_sales_order/2024/02/23/b1.parquet" }]).pipe(Effect.flip)
      expect(error.message).toBe(
        `processed object s3://${bucket}/fact_sales_order/2024/02/23/b1.parquet does not exist: was the bucket emptied? replay from the archive (totes-cdc replay)`
      )
      expect(yield* select(pool, "SELECT count(*) AS n FROM dim_currency")).toEqual([{ n: "0" }])
      expect(yield* select(pool, "SELECT count(*) AS n FROM totes_cdc.applied_objects")).toEqual([{ n: "0" }])
    })
  )

  it.effect("checks the facts' foreign keys per statement: a fact whose date is not in dim_date fails naming it, and nothing is written", () =>
    Effect.gen(function* () {
      for (const checks of ["statement", "row"] as const) {
        const { pool, bucket, loader } = yield* setUp(`loader_fk_${checks}`, "quarantine", undefined, checks)
        // The batch without its dim_date object: fact_payment's dates reference no dim_date row.
        const objects = (yield* paymentBatch(bucket, "b1")).filter((o) => !o.key.startsWith("dim_date/"))
        const error = yield* loader.applyObjects(objects).pipe(Effect.flip)
        if (checks === "statement") {
          expect(error._tag).toBe("LoaderError")
          expect(error.message).toMatch(/^fact_payment\.(created_date|last_updated_date|payment_date) = 2022-11-0[34] references no dim_date row \(foreign key to dim_date\.date_id\)/)
        } else {
          // PostgreSQL's own trigger refuses the row.
          expect(error.message).toMatch(/violates foreign key constraint "fact_payment_\w+_fkey"/)
        }
        expect(yield* select(pool, "SELECT (SELECT count(*) FROM fact_payment) AS facts, (SELECT count(*) FROM dim_currency) AS dims")).toEqual([{ facts: "0", dims: "0" }])
      }
    })
  )

  it.effect("keeps each segment's function on its connection: a micro-batch rolled back takes the functions it made with it, the next one makes them again, and later ones reuse them", () =>
    Effect.gen(function* () {
      const { bucket } = yield* setUp("loader_session_functions")
      // One connection, so every micro-batch and query below runs on the same session.
      const one = yield* makePgPool((yield* LocalStack).postgres.url("loader_session_functions"), { max: 1 })
      const loader = yield* makeLoader(one, "public", { processedBucket: bucket, truncateMode: "quarantine" })
      const session = Effect.map(
        one.query(
          `SELECT (SELECT count(*) FROM pg_proc WHERE pronamespace = pg_my_temp_schema() AND proname LIKE 'totes\\_cdc\\_apply\\_%') AS functions,
                  current_setting('session_replication_role') AS role`
        ),
        (rows) => rows[0]
      )
      const b1 = yield* paymentBatch(bucket, "b1")
      // Without dim_date the facts' check fails: the transaction, its functions and its setting roll back.
      expect((yield* loader.applyObjects(b1.filter((o) => o.table !== "dim_date")).pipe(Effect.flip))._tag).toBe("LoaderError")
      expect(yield* session).toEqual({ functions: "0", role: "origin" })
      // One function per table of the batch (7 tables, every segment below ANALYZE_STAGE_ROWS rows).
      expect((yield* loader.applyObjects(b1)).applied).toBe(7)
      expect(yield* session).toEqual({ functions: "7", role: "replica" })
      // A second micro-batch finds them: creating one again would fail ("already exists").
      const paid = { ...payment2, paid: true, last_updated_date: "2022-11-04", last_updated_time: "09:30:00.000" }
      const b2 = yield* Effect.all([
        putObject(bucket, "dim_currency/2024/02/23/b2.parquet", "dim_currency", [row({ ...currency1, currency_name: "Sterling" }, "0/200/0")]),
        putObject(bucket, "fact_payment/2024/02/23/b2.parquet", "fact_payment", [row(paid, "0/200/1")])
      ])
      expect((yield* loader.applyObjects(b2)).applied).toBe(2)
      expect(yield* session).toEqual({ functions: "7", role: "replica" })
      expect(yield* select(one, "SELECT currency_name FROM dim_currency WHERE currency_id = 1")).toEqual([{ currency_name: "Sterling" }])
      expect(yield* select(one, "SELECT count(*) AS versions FROM fact_payment WHERE payment_id = 2")).toEqual([{ versions: "2" }])
    })
  )

  it.effect("falls back to PostgreSQL's per-row foreign-key triggers when the role may not set session_replication_role", () =>
    Effect.gen(function* () {
      const { pool, bucket } = yield* setUp("loader_fk_role")
      yield* pool.query("DROP ROLE IF EXISTS totes_limited")
      yield* pool.query("CREATE ROLE totes_limited LOGIN PASSWORD 'limited'")
      yield* pool.query("GRANT USAGE ON SCHEMA public, totes_cdc TO totes_limited")
      yield* pool.query("GRANT ALL ON ALL TABLES IN SCHEMA public, totes_cdc TO totes_limited")
      yield* pool.query("GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO totes_limited")
      const url = new URL((yield* LocalStack).postgres.url("loader_fk_role"))
      url.username = "totes_limited"
      url.password = "limited"
      const limited = yield* makePgPool(url.toString())
      const loader = yield* makeLoader(limited, "public", { processedBucket: bucket, truncateMode: "quarantine" })
      // Loads what holds …
      const objects = yield* paymentBatch(bucket, "b1")
      expect((yield* loader.applyObjects(objects)).applied).toBe(7)
      // … and a dangling reference is refused by PostgreSQL's trigger, not by the statement check (which needs the role setting).
      const error = yield* loader
        .applyObjects([yield* putObject(bucket, "fact_payment/2024/02/23/b2.parquet", "fact_payment", [row({ ...payment2, last_updated_time: "15:00:00.000", payment_date: "2022-11-05" }, "0/200/0")])])
        .pipe(Effect.flip)
      expect(error.message).toMatch(/violates foreign key constraint "fact_payment_payment_date_fkey"/)
    })
  )

  it.effect("the standalone loader tries a catch-up that failed again, and loads once what it needed has arrived", () =>
    Effect.gen(function* () {
      const { pool, bucket } = yield* setUp("loader_retry")
      const stack = yield* LocalStack
      // Batch b2's facts reference dates no dim_date row holds yet: its catch-up fails.
      const b2 = (yield* paymentBatch(bucket, "b2")).filter((object) => object.table !== "dim_date")
      yield* (yield* S3).deleteObject(bucket, "dim_date/2024/02/23/b2.parquet")
      yield* putManifest(bucket, b2)
      const settings = {
        warehouse: { url: stack.postgres.url("loader_retry"), schema: "public", caFile: undefined, passwordSecretArn: undefined, region: stack.s3.region },
        processedBucket: bucket,
        truncateMode: "quarantine" as const,
        foreignKeyChecks: "statement" as const,
        pollIntervalMs: 50,
        s3: stack.s3
      }
      const warnings: Array<string> = []
      const capture = Logger.make(({ logLevel, message }) => {
        if (logLevel === "Warn") warnings.push(String(Array.isArray(message) ? message.join(" ") : message))
      })
      const fiber = yield* Effect.forkChild(runLoaderProgram(settings).pipe(Effect.provide(Logger.layer([capture]))))
      const payments = select(pool, "SELECT count(*) AS n FROM fact_payment").pipe(Effect.map((rows) => rows[0]!.n))
      // It fails, says why, and goes on trying.
      yield* Effect.sync(() => warnings.some((w) => w.includes("loading failed, trying again"))).pipe(
        Effect.repeat({ until: (failed) => failed, schedule: Schedule.spaced("50 millis") }),
        Effect.timeout("60 seconds")
      )
      expect(warnings.find((w) => w.includes("loading failed"))).toMatch(/references no dim_date row/)
      expect(yield* select(pool, "SELECT count(*) AS n FROM totes_cdc.applied_objects")).toEqual([{ n: "0" }])
      // The dates arrive in another batch (b1, listed before b2): the next attempt loads both.
      yield* putManifest(bucket, [yield* putObject(bucket, "dim_date/2024/02/23/b1.parquet", "dim_date", [row(nov3, "0/99/0"), row(nov4, "0/99/0")])])
      yield* payments.pipe(Effect.repeat({ until: (n) => n === "1", schedule: Schedule.spaced("50 millis") }), Effect.timeout("60 seconds"))
      expect(fiber.pollUnsafe()).toBeUndefined()
      yield* Fiber.interrupt(fiber)
      expect(yield* select(pool, "SELECT count(*) AS n FROM totes_cdc.applied_objects")).toEqual([{ n: "7" }])
    })
  )
})
