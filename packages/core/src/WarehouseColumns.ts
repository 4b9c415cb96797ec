/**
 * The warehouse column catalogue, pure: every column of the 11 warehouse tables
 * (totesys/warehouse_schema.sql) with the type its processed Parquet column has
 * (DESIGN.md §4), plus the pipeline's own columns. Details: packages/core/SPEC.md §4.
 *
 * Invariants:
 *  - Derived from the transform's `STAR_COLUMNS`: one entry per warehouse column, in the
 *    schema's order, EXCEPT the facts' surrogate keys (the warehouse sequence assigns them).
 *  - `nullable` is the warehouse's own nullability (false = NOT NULL).
 *  - Money columns are decimal(10,2), exact; `time` is time of day with milliseconds.
 *  - `WAREHOUSE_TABLES` is the transform's own list (star/StarRow.ts), in load order.
 *  - dim_counterparty's address line 2 is `counterparty_legal_address_line_2` (the ERD's
 *    spelling); the loader maps it where a target spells it `…line2`.
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
