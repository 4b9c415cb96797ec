/**
 * The processed object (DESIGN.md §4): one Parquet object per warehouse table per
 * micro-batch, written by the processor (and `replay`), read by the loader. Its key, its
 * columns and its rows are defined here once, writer and reader side by side.
 *
 * Invariants:
 *  - Key: `<warehouse_table>/YYYY/MM/DD/<batchId>.parquet`; `parseProcessedKey` answers the
 *    table, date folder and batch id of exactly the keys `processedKey` makes, and nothing
 *    for any other key (a dead letter, a state object, a foreign file).
 *  - Columns: the warehouse columns of the table (`warehouseColumns`, no fact surrogate
 *    key), then `PIPELINE_COLUMNS`. A row holds every column: null where the star row has
 *    no value (a delete carries only the key, a truncate nothing). A star row value under
 *    a name that is not a column is kept, so the Parquet writer rejects it rather than
 *    dropping it silently.
 */
import type { StarRow, StarValue } from "../star/StarRow.ts"
import { type WarehouseColumn, warehouseColumns, WAREHOUSE_TABLES, type WarehouseTable } from "../WarehouseColumns.ts"
import { datePath } from "./DeadLetter.ts"

/** What the loader does with a processed row (StarRow `op`). */
export type PipelineOp = "upsert" | "delete" | "truncate" | "resync"

/**
 * The pipeline's columns, after the warehouse columns in every processed file: the
 * change's commit LSN (`"16/B374D848"`), its index in the transaction, the op, and the
 * commit time (ISO-8601 UTC, ms) of the transaction at that LSN — null for a row whose
 * position comes from an earlier micro-batch (a joined row re-emitted by a partner's
 * change) and for snapshot rows (no commit of their own). `_commit_ts` feeds the
 * loader's freshness and commit→warehouse latency.
 */
export const PIPELINE_COLUMNS: ReadonlyArray<WarehouseColumn> = [
  { name: "_commit_lsn", type: "utf8", nullable: false },
  { name: "_commit_idx", type: "int32", nullable: false },
  { name: "_op", type: "utf8", nullable: false },
  { name: "_commit_ts", type: "utf8", nullable: true }
]

/**
 * Every column of a processed file of `table`: the warehouse columns, then
 * `PIPELINE_COLUMNS`. With `relaxed` (as files are written), every warehouse column is
 * nullable: a file mixing deletes and truncates with upserts cannot declare the
 * warehouse's NOT NULLs (the warehouse itself still enforces them on upsert).
 */
export const processedColumns = (table: WarehouseTable, options?: { readonly relaxed?: boolean }): ReadonlyArray<WarehouseColumn> => [
  ...(options?.relaxed === true ? warehouseColumns(table).map((column) => ({ ...column, nullable: true })) : warehouseColumns(table)),
  ...PIPELINE_COLUMNS
]

/** Pure: `<table>/YYYY/MM/DD/<batchId>.parquet` (the date in UTC). */
export const processedKey = (table: WarehouseTable, date: Date, batchId: string): string => `${table}/${datePath(date)}/${batchId}.parquet`

/** What a processed key names. `folder` is `YYYY/MM/DD`. */
export interface ProcessedKey {
  readonly table: WarehouseTable
  readonly folder: string
  readonly batchId: string
}

const KEY = /^([a-z_]+)\/(\d{4}\/\d{2}\/\d{2})\/([^/]+)\.parquet$/

/** Pure: what `key` names, or undefined when it is not a processed object's key. */
export const parseProcessedKey = (key: string): ProcessedKey | undefined => {
  const match = KEY.exec(key)
  const table = match?.[1]
  if (match === null || table === undefined || !(WAREHOUSE_TABLES as ReadonlyArray<string>).includes(table)) return undefined
  return { table: table as WarehouseTable, folder: match[2]!, batchId: match[3]! }
}

/**
 * Pure: the rows of a processed object of `table` from its star rows, in the given order.
 * `commitTimes`: commit LSN → commit time (ISO-8601) of the micro-batch's transactions.
 */
export const processedRows = (
  table: WarehouseTable,
  rows: ReadonlyArray<StarRow>,
  commitTimes: ReadonlyMap<string, string> = new Map()
): ReadonlyArray<Record<string, StarValue>> => {
  const columns = processedColumns(table, { relaxed: true })
  return rows.map((row) => {
    const out: Record<string, StarValue> = {}
    for (const column of columns) out[column.name] = null
    // Every value is copied, so a key that is not a column reaches the Parquet writer and fails loudly.
    Object.assign(out, row.values)
    out["_commit_lsn"] = row.commitLsn
    out["_commit_idx"] = row.commitIdx
    out["_op"] = row.op
    out["_commit_ts"] = commitTimes.get(row.commitLsn) ?? null
    return out
  })
}
