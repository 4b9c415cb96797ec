/**
 * The warehouse column catalogue, pure: every column of the 11 warehouse tables
 * (totesys/warehouse_schema.sql) with the type its processed Parquet column has
 * (DESIGN.md §4), plus the pipeline's own columns.
 *
 * Invariants:
 *  - One entry per warehouse column, in the schema's column order, EXCEPT the facts'
 *    surrogate keys (`sales_record_id`, `purchase_record_id`, `payment_record_id`):
 *    the warehouse sequence assigns them, no processed file carries them.
 *  - `nullable` is the warehouse's own nullability (false = NOT NULL).
 *  - Types: `int` → int32; `numeric(10,2)`/`numeric` money (unit_price, item_unit_price,
 *    payment_amount; numeric(10,2) in the source) → decimal(10,2), exact; `date` → date;
 *    `time` → time of day with milliseconds; `boolean` → boolean; `varchar` → utf8.
 *  - `WAREHOUSE_TABLES` is the transform's own list (star/StarRow.ts), re-exported, so
 *    there is one list of tables: dim_date first, the other dimensions, then the facts
 *    (the load order the foreign keys need).
 *  - dim_counterparty's address line 2 is `counterparty_legal_address_line_2` (the ERD's
 *    spelling, warehouse_schema.sql "KNOWN NAMING DRIFT"); the loader maps it where a
 *    target spells it `…line2`.
 */
import { WAREHOUSE_TABLES, type WarehouseTable } from "./star/StarRow.ts"

export { WAREHOUSE_TABLES, type WarehouseTable }

/** The type of a processed Parquet column. */
export type WarehouseColumnType = "int32" | "decimal(10,2)" | "date" | "time" | "boolean" | "utf8"

export interface WarehouseColumn {
  readonly name: string
  readonly type: WarehouseColumnType
  readonly nullable: boolean
}

const int = (name: string, nullable = false): WarehouseColumn => ({ name, type: "int32", nullable })
const text = (name: string, nullable = false): WarehouseColumn => ({ name, type: "utf8", nullable })
const date = (name: string): WarehouseColumn => ({ name, type: "date", nullable: false })
const time = (name: string): WarehouseColumn => ({ name, type: "time", nullable: false })
const money = (name: string): WarehouseColumn => ({ name, type: "decimal(10,2)", nullable: false })
const bool = (name: string): WarehouseColumn => ({ name, type: "boolean", nullable: false })

const COLUMNS: { readonly [T in WarehouseTable]: ReadonlyArray<WarehouseColumn> } = {
  dim_date: [
    date("date_id"), int("year"), int("month"), int("day"), int("day_of_week"),
    text("day_name"), text("month_name"), int("quarter")
  ],
  dim_staff: [
    int("staff_id"), text("first_name"), text("last_name"), text("department_name"), text("location"),
    text("email_address")
  ],
  dim_location: [
    int("location_id"), text("address_line_1"), text("address_line_2", true), text("district", true),
    text("city"), text("postal_code"), text("country"), text("phone")
  ],
  dim_currency: [int("currency_id"), text("currency_code"), text("currency_name")],
  dim_design: [int("design_id"), text("design_name"), text("file_location"), text("file_name")],
  dim_counterparty: [
    int("counterparty_id"), text("counterparty_legal_name"), text("counterparty_legal_address_line_1"),
    text("counterparty_legal_address_line_2", true), text("counterparty_legal_district", true),
    text("counterparty_legal_city"), text("counterparty_legal_postal_code"), text("counterparty_legal_country"),
    text("counterparty_legal_phone_number")
  ],
  dim_payment_type: [int("payment_type_id"), text("payment_type_name")],
  dim_transaction: [
    int("transaction_id"), text("transaction_type"), int("sales_order_id", true), int("purchase_order_id", true)
  ],
  fact_sales_order: [
    int("sales_order_id"), date("created_date"), time("created_time"), date("last_updated_date"),
    time("last_updated_time"), int("sales_staff_id"), int("counterparty_id"), int("units_sold"),
    money("unit_price"), int("currency_id"), int("design_id"), date("agreed_payment_date"),
    date("agreed_delivery_date"), int("agreed_delivery_location_id")
  ],
  fact_purchase_order: [
    int("purchase_order_id"), date("created_date"), time("created_time"), date("last_updated_date"),
    time("last_updated_time"), int("staff_id"), int("counterparty_id"), text("item_code"), int("item_quantity"),
    money("item_unit_price"), int("currency_id"), date("agreed_delivery_date"), date("agreed_payment_date"),
    int("agreed_delivery_location_id")
  ],
  fact_payment: [
    int("payment_id"), date("created_date"), time("created_time"), date("last_updated_date"),
    time("last_updated_time"), int("transaction_id"), int("counterparty_id"), money("payment_amount"),
    int("currency_id"), int("payment_type_id"), bool("paid"), date("payment_date")
  ]
}

/** The columns of `table` as a processed file carries them (warehouse order, no fact surrogate key). */
export const warehouseColumns = (table: WarehouseTable): ReadonlyArray<WarehouseColumn> => COLUMNS[table]

/** What the loader does with a processed row (StarRow `op`). */
export type PipelineOp = "upsert" | "delete" | "truncate"

/**
 * The pipeline's columns, after the warehouse columns in every processed file:
 * the change's commit LSN (`"16/B374D848"`), its index in the transaction, and the op.
 */
export const PIPELINE_COLUMNS: ReadonlyArray<WarehouseColumn> = [
  { name: "_commit_lsn", type: "utf8", nullable: false },
  { name: "_commit_idx", type: "int32", nullable: false },
  { name: "_op", type: "utf8", nullable: false }
]

/**
 * Every column of a processed file of `table`: the warehouse columns, then
 * `PIPELINE_COLUMNS`. With `relaxed`, every warehouse column is nullable: a `delete`
 * row carries only the table's key and a `truncate` row no value at all, so a file
 * that mixes them with upserts cannot declare the warehouse's NOT NULLs (the warehouse
 * itself still enforces them on upsert).
 */
export const processedColumns = (table: WarehouseTable, options?: { readonly relaxed?: boolean }): ReadonlyArray<WarehouseColumn> => [
  ...(options?.relaxed === true ? COLUMNS[table].map((column) => ({ ...column, nullable: true })) : COLUMNS[table]),
  ...PIPELINE_COLUMNS
]
