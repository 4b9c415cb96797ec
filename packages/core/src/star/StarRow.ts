/**
 * The warehouse side of the star-schema transform: the 11 warehouse tables, their columns
 * typed as in totesys/warehouse_schema.sql, the row the processor writes (`StarRow`), and
 * which source tables feed which warehouse tables. Details: packages/core/SPEC.md §3.
 *
 * Invariants:
 *  - `STAR_COLUMNS` lists, per table, exactly the columns a transform emits, in the
 *    warehouse's order, without the facts' surrogate keys (totesys/transform_rules.md §7).
 *  - Values: `int` → number, `date` → 'YYYY-MM-DD', `time` → 'HH:MM:SS.mmm', `decimal(10,2)`
 *    → exactly 2 places, `numeric` → as PostgreSQL printed it; null only where `nullable`.
 *  - dim_counterparty's address-line-2 column is `counterparty_legal_address_line_2`; the
 *    loader maps it to `…line2` where a target uses that spelling (rules §8).
 */
import type { TotesysTable } from "../Totesys.ts"

export const WAREHOUSE_TABLES = [
  "dim_date",
  "dim_staff",
  "dim_location",
  "dim_currency",
  "dim_design",
  "dim_counterparty",
  "dim_payment_type",
  "dim_transaction",
  "fact_sales_order",
  "fact_purchase_order",
  "fact_payment"
] as const

export type WarehouseTable = (typeof WAREHOUSE_TABLES)[number]

/** A fact table (one row per source-row version; the `fact_` prefix of warehouse_schema.sql), as opposed to a dimension. */
export const isFactTable = (table: string): boolean => table.startsWith("fact_")

/** One warehouse value: number (int), string (date, time, decimal, varchar), boolean, or null. */
export type StarValue = number | string | boolean | null

/**
 * One warehouse row as the processor writes it: column → typed value, plus the
 * position of the change it comes from and what the loader does with it.
 *
 *  - `upsert`: the row's values (dimensions: insert or update if newer; facts: append
 *    the version unless already present, rules §7, else replace that version row's
 *    values if newer than the change that wrote it, README "Warehouse semantics").
 *  - `delete`: `values` holds only the key column (dimensions: the dimension key;
 *    facts: the natural id, e.g. `{ sales_order_id: 1 }`).
 *  - `truncate`: `values` is `{}`; every row of `table` older than the position goes.
 *  - `resync`: `values` is `{}`; a snapshot starts (core's `snapshotStartRecord`): every
 *    natural id of `table` older than the position is deleted (facts: flagged, their
 *    version rows kept; dimensions: removed unless a fact references them).
 */
export interface StarRow {
  readonly table: WarehouseTable
  readonly values: Readonly<Record<string, StarValue>>
  readonly commitLsn: string
  readonly commitIdx: number
  readonly op: "upsert" | "delete" | "truncate" | "resync"
}

export type StarColumnType = "int" | "date" | "time" | "decimal(10,2)" | "numeric" | "varchar" | "boolean"

export interface StarColumn {
  readonly name: string
  readonly type: StarColumnType
  readonly nullable: boolean
}

const col = (name: string, type: StarColumnType, nullable = false): StarColumn => ({ name, type, nullable })

/** The columns a transform emits per warehouse table, in warehouse order (warehouse_schema.sql). */
export const STAR_COLUMNS: { readonly [T in WarehouseTable]: ReadonlyArray<StarColumn> } = {
  dim_date: [
    col("date_id", "date"), col("year", "int"), col("month", "int"), col("day", "int"),
    col("day_of_week", "int"), col("day_name", "varchar"), col("month_name", "varchar"), col("quarter", "int")
  ],
  dim_staff: [
    col("staff_id", "int"), col("first_name", "varchar"), col("last_name", "varchar"),
    col("department_name", "varchar"), col("location", "varchar"), col("email_address", "varchar")
  ],
  dim_location: [
    col("location_id", "int"), col("address_line_1", "varchar"), col("address_line_2", "varchar", true),
    col("district", "varchar", true), col("city", "varchar"), col("postal_code", "varchar"),
    col("country", "varchar"), col("phone", "varchar")
  ],
  dim_currency: [col("currency_id", "int"), col("currency_code", "varchar"), col("currency_name", "varchar")],
  dim_design: [
    col("design_id", "int"), col("design_name", "varchar"), col("file_location", "varchar"), col("file_name", "varchar")
  ],
  dim_counterparty: [
    col("counterparty_id", "int"), col("counterparty_legal_name", "varchar"),
    col("counterparty_legal_address_line_1", "varchar"), col("counterparty_legal_address_line_2", "varchar", true),
    col("counterparty_legal_district", "varchar", true), col("counterparty_legal_city", "varchar"),
    col("counterparty_legal_postal_code", "varchar"), col("counterparty_legal_country", "varchar"),
    col("counterparty_legal_phone_number", "varchar")
  ],
  dim_payment_type: [col("payment_type_id", "int"), col("payment_type_name", "varchar")],
  dim_transaction: [
    col("transaction_id", "int"), col("transaction_type", "varchar"),
    col("sales_order_id", "int", true), col("purchase_order_id", "int", true)
  ],
  fact_sales_order: [
    col("sales_order_id", "int"), col("created_date", "date"), col("created_time", "time"),
    col("last_updated_date", "date"), col("last_updated_time", "time"), col("sales_staff_id", "int"),
    col("counterparty_id", "int"), col("units_sold", "int"), col("unit_price", "decimal(10,2)"),
    col("currency_id", "int"), col("design_id", "int"), col("agreed_payment_date", "date"),
    col("agreed_delivery_date", "date"), col("agreed_delivery_location_id", "int")
  ],
  fact_purchase_order: [
    col("purchase_order_id", "int"), col("created_date", "date"), col("created_time", "time"),
    col("last_updated_date", "date"), col("last_updated_time", "time"), col("staff_id", "int"),
    col("counterparty_id", "int"), col("item_code", "varchar"), col("item_quantity", "int"),
    col("item_unit_price", "numeric"), col("currency_id", "int"), col("agreed_delivery_date", "date"),
    col("agreed_payment_date", "date"), col("agreed_delivery_location_id", "int")
  ],
  fact_payment: [
    col("payment_id", "int"), col("created_date", "date"), col("created_time", "time"),
    col("last_updated_date", "date"), col("last_updated_time", "time"), col("transaction_id", "int"),
    col("counterparty_id", "int"), col("payment_amount", "numeric"), col("currency_id", "int"),
    col("payment_type_id", "int"), col("paid", "boolean"), col("payment_date", "date")
  ]
}

/**
 * The key a row is identified by: the primary key of a dimension, the natural
 * (source) id of a fact (a fact's version is the natural id plus
 * `last_updated_date`/`last_updated_time`, rules §7).
 */
export const STAR_KEY: { readonly [T in WarehouseTable]: string } = {
  dim_date: "date_id",
  dim_staff: "staff_id",
  dim_location: "location_id",
  dim_currency: "currency_id",
  dim_design: "design_id",
  dim_counterparty: "counterparty_id",
  dim_payment_type: "payment_type_id",
  dim_transaction: "transaction_id",
  fact_sales_order: "sales_order_id",
  fact_purchase_order: "purchase_order_id",
  fact_payment: "payment_id"
}

/**
 * The warehouse tables each source table feeds (rules §3). `address` feeds
 * dim_counterparty and `department` feeds dim_staff through their joins (§4).
 * dim_date is generated, fed by no source table (§6).
 */
export const FEEDS: { readonly [T in TotesysTable]: ReadonlyArray<WarehouseTable> } = {
  address: ["dim_location", "dim_counterparty"],
  counterparty: ["dim_counterparty"],
  currency: ["dim_currency"],
  department: ["dim_staff"],
  design: ["dim_design"],
  staff: ["dim_staff"],
  payment_type: ["dim_payment_type"],
  sales_order: ["fact_sales_order"],
  purchase_order: ["fact_purchase_order"],
  transaction: ["dim_transaction"],
  payment: ["fact_payment"]
}
