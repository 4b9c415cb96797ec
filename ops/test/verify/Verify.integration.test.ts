/**
 * verify on the local stack: a small totesys and a warehouse written by hand (plain SQL,
 * the values worked out from transform_rules.md, not by the transform), then one change at
 * a time, each expected in its own column of its own table.
 */
import { expect, layer } from "@effect/vitest"
import { TOTESYS_TABLES } from "@totes-cdc/core"
import { LocalStack, createTotesysSchema, loadSeed } from "@totes-cdc/local-stack"
import type { PgPool } from "@totes-cdc/platform"
import { TOTESYS_DUMP, freshDatabase } from "@totes-cdc/local-stack/testing"
import { Effect, Fiber } from "effect"
import { introspectTarget, migrateWarehouse } from "@totes-cdc/loader"
import { expectedWarehouse } from "../../src/verify/Expected.ts"
import type { TableReport, VerifyReport } from "../../src/verify/Reconcile.ts"
import { readSourceSnapshot } from "../../src/verify/SourceSnapshot.ts"
import { STAR_FOREIGN_KEYS } from "../../src/verify/StarForeignKeys.ts"
import { verifyWarehouse } from "../../src/verify/Verify.ts"

const TS = "'2022-11-03 14:20:49.962'"

const SOURCE_ROWS = `
INSERT INTO address VALUES
  (1, '6826 Herzog Via', NULL, 'Avon', 'New Patienceburgh', '28441', 'Turkey', '1803 637401', ${TS}, ${TS}),
  (2, '179 Alexie Cliffs', 'Fay Brook', NULL, 'Aliside', '99305-7380', 'San Marino', '9621 880720', ${TS}, ${TS});
INSERT INTO department VALUES (1, 'Sales', 'Manchester', 'Richard Roma', ${TS}, ${TS}), (2, 'Purchasing', NULL, 'Naomi Lapaglia', ${TS}, ${TS});
INSERT INTO currency VALUES (1, 'GBP', ${TS}, ${TS}), (2, 'USD', ${TS}, ${TS});
INSERT INTO design VALUES (1, ${TS}, 'Wooden', '/usr', 'wooden-20220717-npgz.json', ${TS}), (2, ${TS}, 'Steel', '/private', 'steel-20221008-x2dd.json', ${TS});
INSERT INTO payment_type VALUES (1, 'SALES_RECEIPT', ${TS}, ${TS}), (3, 'PURCHASE_PAYMENT', ${TS}, ${TS});
INSERT INTO counterparty VALUES (1, 'Fahey and Sons', 2, 'Micheal Toy', 'Mrs. Lucy Runolfsdottir', ${TS}, ${TS});
INSERT INTO staff VALUES
  (1, 'Jeremie', 'Franey', 1, 'jeremie.franey@terrifictotes.com', ${TS}, ${TS}),
  (2, 'Deron', 'Beier', 2, 'deron.beier@terrifictotes.com', ${TS}, ${TS});
INSERT INTO sales_order VALUES (1, '2022-11-03 14:20:52.186', '2022-11-03 14:20:52.186', 2, 1, 1, 42972, 3.94, 1, '2022-11-07', '2022-11-08', 1);
INSERT INTO purchase_order VALUES (1, '2022-11-03 14:20:52.187', '2022-11-04 10:00:00.5', 2, 1, 'ZDOI5EA', 371, 361.39, 2, '2022-11-09', '2022-11-07', 2);
INSERT INTO transaction VALUES (1, 'SALE', 1, NULL, ${TS}, ${TS}), (2, 'PURCHASE', NULL, 1, ${TS}, ${TS});
INSERT INTO payment VALUES
  (1, '2022-11-03 14:20:52.186', '2022-11-03 14:20:52.186', 1, 1, 169311.48, 1, 1, false, '2022-11-08', 67305075, 31622269),
  (2, '2022-11-03 14:20:52.187', '2022-11-04 10:00:00.5', 2, 1, 552548.62, 2, 3, true, '2022-11-07', 34445327, 12345678);
`

// The same data as the warehouse should hold it (transform_rules.md §2–§7), plus one older
// version of sales order 1 (history, never compared).
const WAREHOUSE_ROWS = `
INSERT INTO dim_date VALUES
  ('2022-11-03', 2022, 11, 3, 4, 'Thursday', 'November', 4),
  ('2022-11-04', 2022, 11, 4, 5, 'Friday', 'November', 4),
  ('2022-11-07', 2022, 11, 7, 1, 'Monday', 'November', 4),
  ('2022-11-08', 2022, 11, 8, 2, 'Tuesday', 'November', 4),
  ('2022-11-09', 2022, 11, 9, 3, 'Wednesday', 'November', 4);
INSERT INTO dim_location VALUES
  (1, '6826 Herzog Via', NULL, 'Avon', 'New Patienceburgh', '28441', 'Turkey', '1803 637401'),
  (2, '179 Alexie Cliffs', 'Fay Brook', NULL, 'Aliside', '99305-7380', 'San Marino', '9621 880720');
INSERT INTO dim_staff VALUES
  (1, 'Jeremie', 'Franey', 'Sales', 'Manchester', 'jeremie.franey@terrifictotes.com'),
  (2, 'Deron', 'Beier', 'Purchasing', 'Undefined', 'deron.beier@terrifictotes.com');
INSERT INTO dim_currency VALUES (1, 'GBP', 'Pound Sterling'), (2, 'USD', 'US Dollar');
INSERT INTO dim_design VALUES (1, 'Wooden', '/usr', 'wooden-20220717-npgz.json'), (2, 'Steel', '/private', 'steel-20221008-x2dd.json');
INSERT INTO dim_counterparty VALUES (1, 'Fahey and Sons', '179 Alexie Cliffs', 'Fay Brook', NULL, 'Aliside', '99305-7380', 'San Marino', '9621 880720');
INSERT INTO dim_payment_type VALUES (1, 'SALES_RECEIPT'), (3, 'PURCHASE_PAYMENT');
INSERT INTO dim_transaction VALUES (1, 'SALE', 1, NULL), (2, 'PURCHASE', NULL, 1);
INSERT INTO fact_sales_order (sales_order_id, created_date, created_time, last_updated_date, last_updated_time, sales_staff_id,
    counterparty_id, units_sold, unit_price, currency_id, design_id, agreed_payment_date, agreed_delivery_date, agreed_delivery_location_id)
  VALUES (1, '2022-11-03', '14:20:52.186', '2022-11-03', '09:00:00', 1, 1, 7, 1.00, 1, 2, '2022-11-08', '2022-11-07', 1),
         (1, '2022-11-03', '14:20:52.186', '2022-11-03', '14:20:52.186', 1, 1, 42972, 3.94, 1, 2, '2022-11-08', '2022-11-07', 1);
INSERT INTO fact_purchase_order (purchase_order_id, created_date, created_time, last_updated_date, last_updated_time, staff_id,
    counterparty_id, item_code, item_quantity, item_unit_price, currency_id, agreed_delivery_date, agreed_payment_date, agreed_delivery_location_id)
  VALUES (1, '2022-11-03', '14:20:52.187', '2022-11-04', '10:00:00.5', 2, 1, 'ZDOI5EA', 371, 361.39, 2, '2022-11-09', '2022-11-07', 2);
INSERT INTO fact_payment (payment_id, created_date, created_time, last_updated_date, last_updated_time, transaction_id,
    counterparty_id, payment_amount, currency_id, payment_type_id, paid, payment_date)
  VALUES (1, '2022-11-03', '14:20:52.186', '2022-11-03', '14:20:52.186', 1, 1, 169311.48, 1, 1, false, '2022-11-08'),
         (2, '2022-11-03', '14:20:52.187', '2022-11-04', '10:00:00.5', 2, 1, 552548.62, 2, 3, true, '2022-11-07');
`

/** A source holding SOURCE_ROWS and a migrated warehouse holding WAREHOUSE_ROWS, in databases of their own. */
const scenario = (name: string) =>
  Effect.gen(function* () {
    const source = yield* freshDatabase(`verify_${name}_src`)
    yield* createTotesysSchema(source)
    yield* source.query(SOURCE_ROWS)
    const warehouse = yield* freshDatabase(`verify_${name}_wh`)
    yield* migrateWarehouse(warehouse)
    yield* warehouse.query(WAREHOUSE_ROWS)
    return { source, warehouse }
  })

const verify = (source: PgPool, warehouse: PgPool, schema = "public") =>
  verifyWarehouse({ source, warehouse, schema, timeoutMs: 10_000 })

const table = (report: VerifyReport, name: string): TableReport => report.tables.find((t) => t.table === name)!

/** Every table's drift counters, for the tables that have any. */
const drifting = (report: VerifyReport) =>
  Object.fromEntries(
    report.tables
      .filter((t) => t.drift)
      .map((t) => [t.table, { missing: t.missing, extra: t.extra, different: t.different, duplicates: t.duplicates, fk: t.foreignKeyViolations }])
  )

layer(LocalStack.layer(), { excludeTestServices: true })("totes-cdc verify (local stack)", (it) => {
  it.effect("finds no drift when the warehouse equals the transform of the source", () =>
    Effect.gen(function* () {
      const { source, warehouse } = yield* scenario("equal")
      const report = yield* verify(source, warehouse)
      expect(drifting(report)).toEqual({})
      expect(report.drift).toBe(false)
      expect(table(report, "fact_sales_order")).toMatchObject({ source: 1, warehouse: 2, compared: 1 })
      expect(table(report, "dim_date")).toMatchObject({ source: 5, warehouse: 5, compared: 5 })
      expect(table(report, "dim_staff")).toMatchObject({ source: 2, warehouse: 2, compared: 2 })
      // 5 dates + 2 staff + 2 locations + 2 currencies + 2 designs + 1 counterparty + 2 payment types + 2 transactions + 1 + 1 + 2 facts
      expect(report.rowsCompared).toBe(22)
    })
  )

  it.effect("reports a changed source row as different, with the column and both values", () =>
    Effect.gen(function* () {
      const { source, warehouse } = yield* scenario("changed")
      yield* source.query("UPDATE design SET design_name = 'Bronze' WHERE design_id = 2")
      const report = yield* verify(source, warehouse)
      expect(drifting(report)).toEqual({ dim_design: { missing: 0, extra: 0, different: 1, duplicates: 0, fk: 0 } })
      expect(table(report, "dim_design").samples.different).toEqual([{ key: "2", column: "design_name", expected: "Bronze", actual: "Steel" }])
    })
  )

  it.effect("reports a deleted warehouse row as missing and a row absent from the source as extra", () =>
    Effect.gen(function* () {
      const { source, warehouse } = yield* scenario("missing")
      yield* warehouse.query("DELETE FROM fact_payment WHERE payment_id = 2")
      yield* warehouse.query("INSERT INTO dim_currency VALUES (3, 'EUR', 'Euro')")
      const report = yield* verify(source, warehouse)
      expect(drifting(report)).toEqual({
        fact_payment: { missing: 1, extra: 0, different: 0, duplicates: 0, fk: 0 },
        dim_currency: { missing: 0, extra: 1, different: 0, duplicates: 0, fk: 0 }
      })
      expect(table(report, "fact_payment").samples.missing).toEqual(["2"])
      expect(table(report, "dim_currency").samples.extra).toEqual(["3"])
    })
  )

  it.effect("reports a fact version stored twice as a duplicate (a warehouse without the version key)", () =>
    Effect.gen(function* () {
      const { source, warehouse } = yield* scenario("duplicate")
      yield* warehouse.query("ALTER TABLE fact_payment DROP CONSTRAINT fact_payment_version_key")
      yield* warehouse.query(
        `INSERT INTO fact_payment (payment_id, created_date, created_time, last_updated_date, last_updated_time, transaction_id,
             counterparty_id, payment_amount, currency_id, payment_type_id, paid, payment_date)
         SELECT payment_id, created_date, created_time, last_updated_date, last_updated_time, transaction_id,
             counterparty_id, payment_amount, currency_id, payment_type_id, paid, payment_date FROM fact_payment WHERE payment_id = 1`
      )
      const report = yield* verify(source, warehouse)
      expect(drifting(report)).toEqual({ fact_payment: { missing: 0, extra: 0, different: 0, duplicates: 1, fk: 0 } })
      expect(table(report, "fact_payment")).toMatchObject({ warehouse: 3, samples: { duplicates: ["1 at 2022-11-03 14:20:52.186 (2 rows)"] } })
    })
  )

  it.effect("reports facts whose foreign-key target row is gone, with the constraints dropped", () =>
    Effect.gen(function* () {
      const { source, warehouse } = yield* scenario("fk")
      yield* warehouse.query("ALTER TABLE fact_sales_order DROP CONSTRAINT fact_sales_order_design_id_fkey")
      yield* warehouse.query("DELETE FROM dim_design WHERE design_id = 2")
      yield* warehouse.query("ALTER TABLE fact_purchase_order DROP CONSTRAINT fact_purchase_order_agreed_delivery_date_fkey")
      yield* warehouse.query("DELETE FROM dim_date WHERE date_id = '2022-11-09'")
      const report = yield* verify(source, warehouse)
      expect(drifting(report)).toEqual({
        dim_design: { missing: 1, extra: 0, different: 0, duplicates: 0, fk: 0 },
        dim_date: { missing: 1, extra: 0, different: 0, duplicates: 0, fk: 0 },
        // both versions of sales order 1 reference design 2
        fact_sales_order: { missing: 0, extra: 0, different: 0, duplicates: 0, fk: 2 },
        fact_purchase_order: { missing: 0, extra: 0, different: 0, duplicates: 0, fk: 1 }
      })
      expect(table(report, "fact_sales_order").samples.foreignKeyViolations).toEqual([
        { table: "fact_sales_order", column: "design_id", references: "dim_design", referencedColumn: "design_id", value: "2", rows: 2 }
      ])
      expect(table(report, "dim_date").samples.missing).toEqual(["2022-11-09"])
    })
  )

  it.effect("counts rows changed after the source snapshot as in flight and deleted dimension rows as kept, not as drift", () =>
    Effect.gen(function* () {
      const { source, warehouse } = yield* scenario("live")
      // The warehouse already holds a later change of design 2 and a payment inserted later
      // (positions far beyond the snapshot), and a currency whose source row was deleted.
      yield* warehouse.query("UPDATE dim_design SET design_name = 'Bronze' WHERE design_id = 2")
      yield* warehouse.query("INSERT INTO dim_currency VALUES (3, 'EUR', 'Euro')")
      yield* warehouse.query(
        `INSERT INTO fact_payment (payment_id, created_date, created_time, last_updated_date, last_updated_time, transaction_id,
             counterparty_id, payment_amount, currency_id, payment_type_id, paid, payment_date)
         VALUES (3, '2022-11-04', '10:00:00', '2022-11-04', '10:00:00', 2, 1, 1.00, 2, 3, false, '2022-11-07')`
      )
      yield* warehouse.query(
        `INSERT INTO totes_cdc.row_versions (target_schema, warehouse_table, natural_id, commit_lsn, commit_idx, deleted) VALUES
           ('public', 'dim_design', '2', 'FFFFFFFF/0', 0, false),
           ('public', 'fact_payment', '3', 'FFFFFFFF/1', 0, false),
           ('public', 'dim_currency', '3', '0/10', 0, true),
           ('public', 'dim_design', '1', '0/10', 0, false)`
      )
      const report = yield* verify(source, warehouse)
      expect(drifting(report)).toEqual({})
      expect(table(report, "dim_design")).toMatchObject({ inFlight: 1, compared: 1 })
      expect(table(report, "fact_payment")).toMatchObject({ inFlight: 1, compared: 2 })
      expect(table(report, "dim_currency")).toMatchObject({ keptDeleted: 1, compared: 2 })
      // ...while a row recorded before the snapshot is compared exactly.
      yield* warehouse.query("UPDATE dim_design SET file_name = 'x.json' WHERE design_id = 1")
      expect(drifting(yield* verify(source, warehouse))).toEqual({ dim_design: { missing: 0, extra: 0, different: 1, duplicates: 0, fk: 0 } })
    })
  )

  it.effect("reads a warehouse of another cohort through its own column names", () =>
    Effect.gen(function* () {
      const { source, warehouse } = yield* scenario("cohort")
      yield* warehouse.query("ALTER TABLE dim_counterparty RENAME COLUMN counterparty_legal_address_line_2 TO counterparty_legal_address_line2")
      yield* warehouse.query("ALTER TABLE fact_payment RENAME COLUMN last_updated_time TO last_updated")
      expect(drifting(yield* verify(source, warehouse))).toEqual({})
      yield* warehouse.query("UPDATE dim_counterparty SET counterparty_legal_address_line2 = NULL")
      expect(table(yield* verify(source, warehouse), "dim_counterparty").samples.different).toEqual([
        { key: "1", column: "counterparty_legal_address_line_2", expected: "Fay Brook", actual: null }
      ])
    })
  )

  it.effect("checks the star schema's foreign keys: exactly those the migrated warehouse declares", () =>
    Effect.gen(function* () {
      const warehouse = yield* freshDatabase("verify_fks_wh")
      yield* migrateWarehouse(warehouse)
      const declared = (yield* introspectTarget(warehouse, "public")).foreignKeys
      const key = (fk: { table: string; column: string; references: string; referencedColumn: string }) =>
        `${fk.table}.${fk.column} -> ${fk.references}.${fk.referencedColumn}`
      expect(STAR_FOREIGN_KEYS.map(key).sort()).toEqual(declared.map(key).sort())
    })
  )

  it.effect("gives up on a source snapshot while a transaction that was running at its start has not finished", () =>
    Effect.gen(function* () {
      const source = yield* freshDatabase("verify_busy_src")
      yield* createTotesysSchema(source)
      const session = yield* source.reserve
      yield* session.query("BEGIN")
      yield* session.query(`INSERT INTO currency VALUES (9, 'CHF', ${TS}, ${TS})`)
      const xid = (yield* session.query("SELECT pg_current_xact_id()::text AS xid"))[0]?.xid
      const error = yield* readSourceSnapshot(source, 300).pipe(Effect.flip)
      expect(error._tag).toBe("SourceSnapshotError")
      expect(error.message).toContain(`transaction(s) ${xid} running at`)
      // Once it commits, the snapshot is taken and holds its row.
      const read = yield* Effect.forkChild(readSourceSnapshot(source, 10_000))
      yield* session.query("COMMIT")
      const snapshot = yield* Fiber.join(read)
      expect(snapshot.rows.currency.map((row) => row.currency_code)).toEqual(["CHF"])
    })
  )

  it.effect("finds no drift on the real data set loaded into a warehouse as the transform gives it, and reports one change", () =>
    Effect.gen(function* () {
      const source = yield* freshDatabase("verify_dump_src")
      yield* createTotesysSchema(source)
      yield* loadSeed(source, TOTESYS_DUMP)
      const warehouse = yield* freshDatabase("verify_dump_wh")
      yield* migrateWarehouse(warehouse)
      // The warehouse as the transform of the source gives it, written with plain INSERTs.
      const snapshot = yield* readSourceSnapshot(source, 10_000)
      const { rows, rejected } = expectedWarehouse(snapshot.rows, snapshot.window.to, snapshot.takenAt)
      expect(rejected).toEqual([])
      for (const [name, list] of Object.entries(rows)) {
        for (let i = 0; i < list.length; i += 1_000) {
          const chunk = list.slice(i, i + 1_000)
          const columns = Object.keys(chunk[0]!)
          const values = chunk.map((_row, r) => `(${columns.map((_, c) => `$${r * columns.length + c + 1}`).join(", ")})`)
          yield* warehouse.query(
            `INSERT INTO ${name} (${columns.join(", ")}) VALUES ${values.join(", ")}`,
            chunk.flatMap((row) => columns.map((c) => row[c]))
          )
        }
      }
      const report = yield* verify(source, warehouse)
      expect(drifting(report)).toEqual({})
      const sourceRows = (yield* source.query(
        `SELECT ${TOTESYS_TABLES.map((t) => `(SELECT count(*) FROM "${t}")`).join(" + ")} AS n`
      ))[0]?.n
      expect(Number(sourceRows)).toBe(30_106)
      expect(table(report, "fact_sales_order").source).toBe(6_941)
      // Every source row is compared once (department only through dim_staff), plus every dim_date row.
      const departments = Number((yield* source.query("SELECT count(*) AS n FROM department"))[0]?.n)
      const dates = Number((yield* warehouse.query("SELECT count(*) AS n FROM dim_date"))[0]?.n)
      expect(report.rowsCompared).toBe(30_106 - departments + dates)
      yield* source.query("UPDATE sales_order SET units_sold = units_sold + 1 WHERE sales_order_id = 17")
      const after = yield* verify(source, warehouse)
      expect(drifting(after)).toEqual({ fact_sales_order: { missing: 0, extra: 0, different: 1, duplicates: 0, fk: 0 } })
      expect(table(after, "fact_sales_order").samples.different.map((d) => [d.key, d.column])).toEqual([["17", "units_sold"]])
    })
  )
})
