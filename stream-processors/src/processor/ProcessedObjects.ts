/**
 * Pure naming of the processor's output: the micro-batch id and date its processed objects
 * are filed under (the key and the rows themselves are core's contracts/ProcessedObject.ts),
 * and its rows grouped per warehouse table.
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
 */
import { type StarRow, WAREHOUSE_TABLES, type WarehouseTable } from "@totes-cdc/core"
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
