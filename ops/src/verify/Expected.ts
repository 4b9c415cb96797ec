/**
 * Pure: the warehouse rows a source snapshot should produce — every source row as the
 * reader's snapshot would send it (`snapshotRecord`: `op: "read"`, text values), all in
 * one batch through the star transform (`transformBatch`) from an empty join state.
 *
 * Invariants:
 *  - Records are built in `LOAD_ORDER`, then in the order given (the reader's: primary
 *    key), at position (`lsn`, index in the whole snapshot), like the reader's snapshot.
 *  - One batch, so every joined dimension (dim_counterparty, dim_staff) is joined with its
 *    partner's snapshot row whatever the order, and each key appears once.
 *  - Only `upsert` rows are expected (read records give no other op); dim_date holds the
 *    dates the facts reference (transform_rules.md §6).
 *  - A source row the transform rejects is returned in `rejected` (the pipeline would
 *    dead-letter it), never silently dropped.
 */
import {
  emptyJoinState,
  LOAD_ORDER,
  type RowImage,
  snapshotRecord,
  type TotesysTable,
  transformBatch,
  WAREHOUSE_TABLES,
  type WarehouseTable
} from "@totes-cdc/core"
import type { ExpectedRow, ExpectedRows, RejectedRow } from "./Reconcile.ts"

/** Source rows per totesys table, every value in PostgreSQL's text form. */
export type SourceRows = { readonly [T in TotesysTable]: ReadonlyArray<RowImage> }

export interface ExpectedWarehouse {
  readonly rows: ExpectedRows
  readonly rejected: ReadonlyArray<RejectedRow>
}

/**
 * The expected warehouse rows of `source` read at WAL position `lsn` (e.g. "0/1A2B3C");
 * `commitTs`: the snapshot's time, ISO-8601 UTC (carried by the records, unused by the
 * transform).
 */
export const expectedWarehouse = (source: SourceRows, lsn: string, commitTs: string): ExpectedWarehouse => {
  let index = 0
  const records = LOAD_ORDER.flatMap((table) =>
    source[table].map((row) => snapshotRecord(table, row, { commitLsn: lsn, commitIdx: index++ }, commitTs))
  )
  const result = transformBatch(emptyJoinState, records)
  const rows = Object.fromEntries(WAREHOUSE_TABLES.map((table) => [table, [] as Array<ExpectedRow>])) as Record<
    WarehouseTable,
    Array<ExpectedRow>
  >
  for (const row of result.rows) if (row.op === "upsert") rows[row.table].push(row.values)
  const rejected = result.problems.map(({ change, error }) => ({
    table: change.table,
    key: Object.values(change.key).join(","),
    error
  }))
  return { rows, rejected }
}
