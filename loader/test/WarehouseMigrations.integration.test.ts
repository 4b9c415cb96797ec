import { expect, layer } from "@effect/vitest"
import { LocalStack } from "@totes-cdc/local-stack"
import { freshDatabase, introspect } from "@totes-cdc/local-stack/testing"
import type { PgPool } from "@totes-cdc/platform"
import { Effect } from "effect"
import { readFile } from "node:fs/promises"
import { migrateWarehouse } from "../src/WarehouseMigrations.ts"

const REFERENCE = new URL("../../../shared/totesys/warehouse_schema.sql", import.meta.url)
const TABLES = [
  "dim_date", "dim_staff", "dim_location", "dim_currency", "dim_design", "dim_counterparty",
  "dim_payment_type", "dim_transaction", "fact_sales_order", "fact_purchase_order", "fact_payment"
]

/** The dimension rows fact_payment rows 2 and 3 below refer to (dates 2022-11-03 and -04, USD, Kohler Inc, PURCHASE_PAYMENT, transaction 2). */
const paymentDimensions = (db: PgPool) =>
  Effect.gen(function* () {
    yield* db.query(`INSERT INTO dim_date (date_id, year, month, day, day_of_week, day_name, month_name, quarter)
                     VALUES ('2022-11-03', 2022, 11, 3, 4, 'Thursday', 'November', 4), ('2022-11-04', 2022, 11, 4, 5, 'Friday', 'November', 4)`)
    yield* db.query(`INSERT INTO dim_currency VALUES (2, 'USD', 'US dollar')`)
    yield* db.query(`INSERT INTO dim_counterparty (counterparty_id, counterparty_legal_name, counterparty_legal_address_line_1, counterparty_legal_city,
                       counterparty_legal_postal_code, counterparty_legal_country, counterparty_legal_phone_number) VALUES (15, 'Kohler Inc', 'x', 'y', 'z', 'Turkey', '1')`)
    yield* db.query(`INSERT INTO dim_payment_type VALUES (3, 'PURCHASE_PAYMENT')`)
    yield* db.query(`INSERT INTO dim_transaction VALUES (2, 'PURCHASE', NULL, 2)`)
  })

layer(LocalStack.layer(), { excludeTestServices: true })("warehouse migrations", (it) => {
  it.effect("create the 11 tables of totesys/warehouse_schema.sql column for column, with its FKs and sequences", () =>
    Effect.gen(function* () {
      const referenceDb = yield* freshDatabase("reference_warehouse")
      yield* referenceDb.query(yield* Effect.promise(() => readFile(REFERENCE, "utf8")))
      const reference = yield* introspect(referenceDb, "public", TABLES)

      const ours = yield* freshDatabase("our_warehouse")
      expect(yield* migrateWarehouse(ours)).toEqual(["star_schema", "bookkeeping", "fact_versions", "fact_latest_views", "applied_object_latency", "applied_batches"])
      const facts = yield* introspect(ours, "public", TABLES)

      expect(new Set(reference.columns.map((c) => c.table_name)).size).toBe(11)
      expect(facts.columns).toEqual(reference.columns)
      expect(facts.foreignKeys).toEqual(reference.foreignKeys)
      expect(facts.sequences).toEqual(reference.sequences)
      // Ours adds exactly one unique version key per fact (transform_rules.md §7).
      const extra = facts.constraints.filter(
        (c) => !reference.constraints.some((r) => r.constraint_name === c.constraint_name)
      )
      expect(extra).toEqual([
        { table_name: "fact_payment", constraint_name: "fact_payment_version_key", constraint_type: "UNIQUE", columns: "payment_id,last_updated_date,last_updated_time" },
        { table_name: "fact_purchase_order", constraint_name: "fact_purchase_order_version_key", constraint_type: "UNIQUE", columns: "purchase_order_id,last_updated_date,last_updated_time" },
        { table_name: "fact_sales_order", constraint_name: "fact_sales_order_version_key", constraint_type: "UNIQUE", columns: "sales_order_id,last_updated_date,last_updated_time" }
      ])
    })
  )

  it.effect("are idempotent: a second run applies nothing and changes nothing", () =>
    Effect.gen(function* () {
      const db = yield* freshDatabase("twice_warehouse")
      yield* migrateWarehouse(db)
      const before = yield* introspect(db, "public")
      const bookkeeping = yield* introspect(db, "totes_cdc")
      expect(yield* migrateWarehouse(db)).toEqual([])
      expect(yield* introspect(db, "public")).toEqual(before)
      expect(yield* introspect(db, "totes_cdc")).toEqual(bookkeeping)
      expect(bookkeeping.columns.map((c) => c.table_name)).toContain("applied_objects")
    })
  )

  it.effect("run concurrently, apply each migration once", () =>
    Effect.gen(function* () {
      const db = yield* freshDatabase("race_warehouse")
      const results = yield* Effect.all([migrateWarehouse(db), migrateWarehouse(db), migrateWarehouse(db)], {
        concurrency: "unbounded"
      })
      expect(results.flat().sort()).toEqual(["applied_batches", "applied_object_latency", "bookkeeping", "fact_latest_views", "fact_versions", "star_schema"])
    })
  )

  it.effect("honour a configured schema name and adopt an older cohort's fact_payment.last_updated column", () =>
    Effect.gen(function* () {
      const db = yield* freshDatabase("team_warehouse")
      yield* db.query("CREATE SCHEMA project_team_11")
      // An older revision names fact_payment's 6th column "last_updated" (warehouse_schema.sql, drift).
      yield* db.query(`CREATE TABLE project_team_11.fact_payment (
        payment_record_id SERIAL PRIMARY KEY, payment_id int NOT NULL, created_date date NOT NULL,
        created_time time NOT NULL, last_updated_date date NOT NULL, last_updated time NOT NULL,
        transaction_id int NOT NULL, counterparty_id int NOT NULL, payment_amount numeric NOT NULL,
        currency_id int NOT NULL, payment_type_id int NOT NULL, paid boolean NOT NULL, payment_date date NOT NULL)`)
      yield* migrateWarehouse(db, "project_team_11")
      const facts = yield* introspect(db, "project_team_11", TABLES)
      expect(new Set(facts.columns.map((c) => c.table_name)).size).toBe(11)
      expect(facts.constraints.find((c) => c.constraint_name === "fact_payment_version_key")?.columns).toBe(
        "payment_id,last_updated_date,last_updated"
      )
      expect(yield* db.query("SELECT count(*)::int AS n FROM project_team_11.fact_payment_latest")).toEqual([{ n: "0" }])
    })
  )

  it.effect("give analysts <fact>_latest views: one row per natural id, its newest version (business_queries.sql's pattern)", () =>
    Effect.gen(function* () {
      const db = yield* freshDatabase("latest_warehouse")
      yield* migrateWarehouse(db)
      yield* paymentDimensions(db)
      // Payment 2: three versions, the newest on a later day with an earlier time; payment 3: one.
      yield* db.query(`INSERT INTO fact_payment (payment_id, created_date, created_time, last_updated_date, last_updated_time, transaction_id,
                         counterparty_id, payment_amount, currency_id, payment_type_id, paid, payment_date)
                       VALUES (2, '2022-11-03', '14:00', '2022-11-03', '14:00', 2, 15, 10.00, 2, 3, false, '2022-11-03'),
                              (2, '2022-11-03', '14:00', '2022-11-04', '09:00', 2, 15, 10.00, 2, 3, true, '2022-11-03'),
                              (2, '2022-11-03', '14:00', '2022-11-03', '23:00', 2, 15, 10.00, 2, 3, false, '2022-11-03'),
                              (3, '2022-11-03', '14:00', '2022-11-03', '14:00', 2, 15, 1.00, 2, 3, false, '2022-11-03')`)
      expect(yield* db.query("SELECT payment_id, payment_record_id, paid FROM fact_payment_latest ORDER BY payment_id")).toEqual([
        { payment_id: "2", payment_record_id: "2", paid: "t" },
        { payment_id: "3", payment_record_id: "4", paid: "f" }
      ])
      const views = yield* db.query("SELECT table_name FROM information_schema.views WHERE table_schema = 'public' ORDER BY table_name")
      expect(views.map((v) => v.table_name)).toEqual(["fact_payment_latest", "fact_purchase_order_latest", "fact_sales_order_latest"])
    })
  )

  it.effect("give fact rows loaded before fact_versions existed their natural id's newest applied position, or 0/0", () =>
    Effect.gen(function* () {
      const db = yield* freshDatabase("upgraded_warehouse")
      yield* migrateWarehouse(db)
      // As an earlier release left it: migrations 1–2, two payment versions loaded, the newest position per natural id recorded.
      yield* db.query("DROP TABLE totes_cdc.fact_versions")
      yield* db.query("DELETE FROM totes_cdc.schema_migrations WHERE id = 3")
      yield* paymentDimensions(db)
      yield* db.query(`INSERT INTO fact_payment (payment_id, created_date, created_time, last_updated_date, last_updated_time, transaction_id,
                         counterparty_id, payment_amount, currency_id, payment_type_id, paid, payment_date)
                       VALUES (2, '2022-11-03', '14:20:52.187', '2022-11-03', '14:20:52.187', 2, 15, 552548.62, 2, 3, false, '2022-11-03'),
                              (2, '2022-11-03', '14:20:52.187', '2022-11-03', '15:00:00', 2, 15, 552548.62, 2, 3, true, '2022-11-03'),
                              (3, '2022-11-03', '14:20:52.187', '2022-11-03', '14:20:52.187', 2, 15, 1.00, 2, 3, false, '2022-11-03')`)
      yield* db.query(`INSERT INTO totes_cdc.row_versions (target_schema, warehouse_table, natural_id, commit_lsn, commit_idx) VALUES ('public', 'fact_payment', '2', '0/2A0', 4)`)

      expect(yield* migrateWarehouse(db)).toEqual(["fact_versions"])
      expect(yield* db.query("SELECT warehouse_table, record_id, commit_lsn, commit_idx FROM totes_cdc.fact_versions ORDER BY record_id")).toEqual([
        { warehouse_table: "fact_payment", record_id: "1", commit_lsn: "0/2A0", commit_idx: "4" },
        { warehouse_table: "fact_payment", record_id: "2", commit_lsn: "0/2A0", commit_idx: "4" },
        { warehouse_table: "fact_payment", record_id: "3", commit_lsn: "0/0", commit_idx: "-1" }
      ])
    })
  )
})
