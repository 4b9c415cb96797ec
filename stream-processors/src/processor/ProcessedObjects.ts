/**
 * Pure naming and shaping of the processor's output (DESIGN.md §4): the batch id, the
 * processed object keys (`<warehouse_table>/YYYY/MM/DD/<batchId>.parquet`), the Parquet
 * rows of one warehouse table, and the dead-letter keys of the processor stage.
 *
 * Invariants:
 *  - Everything here is a function of the micro-batch alone — the SET of pages it holds
 *    (their shards, sequence numbers and arrival times, their changes), not the order they
 *    arrived in: the same pages handed over again give the same keys and the same rows, so
 *    a retry after a crash rewrites its objects instead of adding new ones. Pages cut or
 *    grouped differently on a retry get another id (their rows are written again under it).
 *  - The date in a key is the UTC date of the earliest first-record arrival in Kinesis of
 *    the micro-batch's pages (`approximateArrivalTimestamp`, fixed once the record is
 *    stored), the driver's clock only when no page's first record carries one.
 *  - A Parquet row holds every column of `processedColumns(table, { relaxed: true })`:
 *    the warehouse columns (null where the star row has no value: a delete carries only
 *    the key, a truncate nothing), then `_commit_lsn`, `_commit_idx`, `_op`, `_commit_ts`
 *    (the commit time of the transaction at the row's LSN when the micro-batch holds
 *    a streamed change of it, else null). A star row value under a name that is not a
 *    column is kept, so `encodeParquet` rejects it rather than dropping it silently.
 */
import { processedColumns, type StarRow, WAREHOUSE_TABLES, type WarehouseTable } from "@totes-cdc/core"
import type { ParquetColumnSpec, ParquetValue } from "@totes-cdc/platform"
import { createHash } from "node:crypto"
import type { KinesisBatch } from "../consumer/BatchHandler.ts"

/** The stage name of the processor's dead letters (`dlq/processor/…`). */
export const PROCESSOR_STAGE = "processor"

/** One Parquet object the processor wrote for a batch. */
export interface ProcessedObject {
  readonly table: WarehouseTable
  readonly bucket: string
  readonly key: string
  /** Rows in the object. */
  readonly rows: number
  readonly batchId: string
  /** The object's bytes as written (so an in-process loader need not read them back). */
  readonly body?: Uint8Array
}

/** `<shardId>-<firstSequenceNumber>-<lastSequenceNumber>`: the same for every hand-over of the same records. */
export const batchIdOf = (batch: KinesisBatch): string =>
  `${batch.shardId}-${batch.records[0]!.sequenceNumber}-${batch.records.at(-1)!.sequenceNumber}`

/** The date the batch's objects are filed under: its first record's arrival (UTC), else `now`. */
export const batchDateOf = (batch: KinesisBatch, now: Date): Date => batch.records[0]?.approximateArrivalTimestamp ?? now

/** Pure: `pages` in their canonical order — by shard id, then by first sequence number (numerically). */
export const orderPages = <P extends { readonly batch: KinesisBatch }>(pages: ReadonlyArray<P>): ReadonlyArray<P> => {
  const first = (page: P) => BigInt(page.batch.records[0]!.sequenceNumber)
  return [...pages].sort((a, b) => {
    if (a.batch.shardId !== b.batch.shardId) return a.batch.shardId < b.batch.shardId ? -1 : 1
    const x = first(a)
    const y = first(b)
    return x < y ? -1 : x > y ? 1 : 0
  })
}

/**
 * Pure: the id of a micro-batch holding `pages` (handler calls, each one GetRecords page of
 * one shard), a function of the set of pages alone (not of their arrival order): one page
 * → `batchIdOf` (`<shardId>-<first>-<last>`); several → `mb-<32 hex>`, the SHA-1 of the
 * pages' `<shardId>/<first>/<last>` lines in canonical order (`orderPages`).
 */
export const microBatchIdOf = (pages: ReadonlyArray<KinesisBatch>): string => {
  if (pages.length === 1) return batchIdOf(pages[0]!)
  const lines = orderPages(pages.map((batch) => ({ batch }))).map(
    ({ batch }) => `${batch.shardId}/${batch.records[0]!.sequenceNumber}/${batch.records.at(-1)!.sequenceNumber}`
  )
  return `mb-${createHash("sha1").update(lines.join("\n"), "utf8").digest("hex").slice(0, 32)}`
}

/** Pure: the date a micro-batch's objects are filed under: the earliest first-record arrival of its pages (UTC), else `now`. */
export const microBatchDateOf = (pages: ReadonlyArray<KinesisBatch>, now: Date): Date => {
  const dates = pages.flatMap((batch) => (batch.records[0]?.approximateArrivalTimestamp === undefined ? [] : [batch.records[0].approximateArrivalTimestamp]))
  return dates.length === 0 ? now : new Date(Math.min(...dates.map((date) => date.getTime())))
}

const pad2 = (n: number) => String(n).padStart(2, "0")

/** `YYYY/MM/DD` of `date` in UTC. */
export const datePath = (date: Date): string => `${date.getUTCFullYear()}/${pad2(date.getUTCMonth() + 1)}/${pad2(date.getUTCDate())}`

/** `<table>/YYYY/MM/DD/<batchId>.parquet`. */
export const processedKey = (table: WarehouseTable, date: Date, batchId: string): string => `${table}/${datePath(date)}/${batchId}.parquet`

/**
 * A name-based UUID (RFC 9562 version 5 layout: SHA-1 of `name`): the same letter
 * (same position, same error) always gets the same id, so a retried batch overwrites
 * its dead letters instead of multiplying them.
 */
export const nameBasedUuid = (name: string): string => {
  const hash = createHash("sha1").update(name, "utf8").digest()
  hash[6] = (hash[6]! & 0x0f) | 0x50
  hash[8] = (hash[8]! & 0x3f) | 0x80
  const hex = hash.subarray(0, 16).toString("hex")
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
}

/** `dlq/<stage>/YYYY/MM/DD/<uuid>.json`. */
export const deadLetterKey = (stage: string, date: Date, id: string): string => `dlq/${stage}/${datePath(date)}/${id}.json`

/** The Parquet columns of a processed object of `table` (every warehouse column nullable). */
export const processedParquetColumns = (table: WarehouseTable): ReadonlyArray<ParquetColumnSpec> => processedColumns(table, { relaxed: true })

/**
 * The Parquet rows of `rows` (all of `table`), in the given order. `commitTimes`: commit
 * LSN → commit time (ISO-8601) of the micro-batch's transactions.
 */
export const parquetRows = (
  table: WarehouseTable,
  rows: ReadonlyArray<StarRow>,
  commitTimes: ReadonlyMap<string, string> = new Map()
): ReadonlyArray<Record<string, ParquetValue>> => {
  const columns = processedParquetColumns(table)
  return rows.map((row) => {
    const out: Record<string, ParquetValue> = {}
    for (const column of columns) out[column.name] = null
    // Every value is copied, so a key that is not a column reaches encodeParquet and fails loudly.
    Object.assign(out, row.values)
    out["_commit_lsn"] = row.commitLsn
    out["_commit_idx"] = row.commitIdx
    out["_op"] = row.op
    out["_commit_ts"] = commitTimes.get(row.commitLsn) ?? null
    return out
  })
}

/** `rows` grouped by warehouse table, tables in `WAREHOUSE_TABLES` order (dim_date first), rows in input order. */
export const rowsByTable = (rows: ReadonlyArray<StarRow>): ReadonlyArray<readonly [WarehouseTable, ReadonlyArray<StarRow>]> => {
  const groups = new Map<WarehouseTable, Array<StarRow>>()
  for (const row of rows) {
    const group = groups.get(row.table)
    if (group === undefined) groups.set(row.table, [row])
    else group.push(row)
  }
  return WAREHOUSE_TABLES.flatMap((table) => {
    const group = groups.get(table)
    return group === undefined ? [] : [[table, group] as const]
  })
}
