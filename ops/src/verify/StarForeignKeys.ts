/**
 * Pure: the foreign keys the star schema defines from each fact to the dimensions
 * (totesys/warehouse_schema.sql), derived from the transform's columns, so verify checks
 * them even on a warehouse whose constraints were dropped or never declared.
 *
 * Rule (it reproduces every FK of warehouse_schema.sql; a test compares the two): a fact
 * column references
 *  - dim_date(date_id) when it is a date column (`FACT_DATE_COLUMNS`);
 *  - a dimension's key when it is that key (`currency_id`) or ends with `_<key>`
 *    (`sales_staff_id` → dim_staff, `agreed_delivery_location_id` → dim_location);
 *  - nothing else (the fact's own natural id names no dimension).
 */
import { FACT_DATE_COLUMNS, isFactTable, STAR_COLUMNS, STAR_KEY, WAREHOUSE_TABLES } from "@totes-cdc/core"
import type { FactForeignKey, WarehouseTarget } from "@totes-cdc/loader"

const DIMENSIONS = WAREHOUSE_TABLES.filter((table) => table.startsWith("dim_") && table !== "dim_date")
const FACTS = WAREHOUSE_TABLES.filter(isFactTable)

/** The star schema's fact → dimension foreign keys, in the transform's column names. */
export const STAR_FOREIGN_KEYS: ReadonlyArray<FactForeignKey> = FACTS.flatMap((table) =>
  STAR_COLUMNS[table].flatMap((column): ReadonlyArray<FactForeignKey> => {
    if (column.name === STAR_KEY[table]) return []
    if (FACT_DATE_COLUMNS.includes(column.name)) {
      return [{ table, column: column.name, references: "dim_date", referencedColumn: "date_id" }]
    }
    const dimension = DIMENSIONS.find((dim) => column.name === STAR_KEY[dim] || column.name.endsWith(`_${STAR_KEY[dim]}`))
    return dimension === undefined ? [] : [{ table, column: column.name, references: dimension, referencedColumn: STAR_KEY[dimension] }]
  })
)

/**
 * The foreign keys to check on `target`: those its catalogs declare, plus the star
 * schema's (mapped to the target's column names), each (table, column) once.
 */
export const foreignKeysToCheck = (target: WarehouseTarget): ReadonlyArray<FactForeignKey> => {
  const star = STAR_FOREIGN_KEYS.map((fk) => ({
    ...fk,
    column: target.columns[fk.table][fk.column] ?? fk.column,
    referencedColumn: target.columns[fk.references][fk.referencedColumn] ?? fk.referencedColumn
  }))
  const seen = new Set<string>()
  return [...target.foreignKeys, ...star].filter((fk) => {
    const id = `${fk.table}.${fk.column}`
    if (seen.has(id)) return false
    seen.add(id)
    return true
  })
}

