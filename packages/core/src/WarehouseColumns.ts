/**
 * The warehouse column catalogue, pure: every column of the 11 warehouse tables
 * (totesys/warehouse_schema.sql) with the type its processed Parquet column has
 * (DESIGN.md §4), plus the pipeline's own columns.
 *
 * Invariants:
 *  - Derived from the transform's `STAR_COLUMNS` (one column list, not two): one entry
 *    per warehouse column, in the schema's column order, EXCEPT the facts' surrogate keys (`sales_record_id`, `purchase_record_id`, `payment_record_id`):
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
import { STAR_COLUMNS, type StarColumnType, WAREHOUSE_TABLES, type WarehouseTable } from "./star/StarRow.ts"

export { WAREHOUSE_TABLES, type WarehouseTable }

/** The type of a processed Parquet column. */
export type WarehouseColumnType = "int32" | "decimal(10,2)" | "date" | "time" | "boolean" | "utf8"

export interface WarehouseColumn {
  readonly name: string
  readonly type: WarehouseColumnType
  readonly nullable: boolean
}

/** Parquet type of each transform column type; money (`numeric`, numeric(10,2) in the source) is exact decimal(10,2). */
const PARQUET_TYPE: { readonly [T in StarColumnType]: WarehouseColumnType } = {
  int: "int32",
  date: "date",
  time: "time",
  "decimal(10,2)": "decimal(10,2)",
  numeric: "decimal(10,2)",
  varchar: "utf8",
  boolean: "boolean"
}

/** The columns of `table` as a processed file carries them (warehouse order, no fact surrogate key). */
export const warehouseColumns = (table: WarehouseTable): ReadonlyArray<WarehouseColumn> =>
  STAR_COLUMNS[table].map((c) => ({ name: c.name, type: PARQUET_TYPE[c.type], nullable: c.nullable }))

/** What the loader does with a processed row (StarRow `op`). */
export type PipelineOp = "upsert" | "delete" | "truncate"

/**
 * The pipeline's columns, after the warehouse columns in every processed file:
 * the change's commit LSN (`"16/B374D848"`), its index in the transaction, the op, and
 * the commit time (ISO-8601 UTC, ms) of the transaction at that LSN — null for a row whose
 * position comes from an earlier micro-batch (a joined row re-emitted by a partner's
 * change) and for snapshot rows (they have no commit of their own). `_commit_ts` feeds the loader's freshness and commit→warehouse latency; it is
 * an addition to DESIGN.md §4's three columns.
 */
export const PIPELINE_COLUMNS: ReadonlyArray<WarehouseColumn> = [
  { name: "_commit_lsn", type: "utf8", nullable: false },
  { name: "_commit_idx", type: "int32", nullable: false },
  { name: "_op", type: "utf8", nullable: false },
  { name: "_commit_ts", type: "utf8", nullable: true }
]

/**
 * Every column of a processed file of `table`: the warehouse columns, then
 * `PIPELINE_COLUMNS`. With `relaxed`, every warehouse column is nullable: a `delete`
 * row carries only the table's key and a `truncate` row no value at all, so a file
 * that mixes them with upserts cannot declare the warehouse's NOT NULLs (the warehouse
 * itself still enforces them on upsert).
 */
export const processedColumns = (table: WarehouseTable, options?: { readonly relaxed?: boolean }): ReadonlyArray<WarehouseColumn> => [
  ...(options?.relaxed === true ? warehouseColumns(table).map((column) => ({ ...column, nullable: true })) : warehouseColumns(table)),
  ...PIPELINE_COLUMNS
]
