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
import type { ParquetRow } from "@totes-cdc/platform"
import { createHash } from "node:crypto"
import type { ShardPage } from "../consumer/MicroBatch.ts"

/** The stage name of the processor's dead letters (`dlq/processor/…`). */
export const PROCESSOR_STAGE = "processor"

/** One Parquet object the processor wrote for a micro-batch. */
export interface ProcessedObject {
  readonly table: WarehouseTable
  readonly bucket: string
  readonly key: string
  /** Rows in the object. */
  readonly rows: number
  readonly batchId: string
  /** The object's bytes as written (so an in-process loader need not read them back). */
  readonly body?: Uint8Array
  /**
   * The rows `body` was encoded from, in `encodeParquet`'s value forms (so an in-process
   * loader need not decode it either): the same values as decoding gives, a decimal or time
   * perhaps written shorter ('2.4' for '2.40'), which the warehouse reads alike.
   */
  readonly values?: ReadonlyArray<ParquetRow>
}

/** `<shardId>-<firstSequenceNumber>-<lastSequenceNumber>`: the same for every hand-over of the same records. */
export const pageIdOf = (page: ShardPage): string => `${page.shardId}-${page.records[0]!.sequenceNumber}-${page.records.at(-1)!.sequenceNumber}`

/** Pure: `pages` in their canonical order — by shard id, then by first sequence number (numerically). */
export const orderPages = (pages: ReadonlyArray<ShardPage>): ReadonlyArray<ShardPage> => {
  const first = (page: ShardPage) => BigInt(page.records[0]!.sequenceNumber)
  return [...pages].sort((a, b) => {
    if (a.shardId !== b.shardId) return a.shardId < b.shardId ? -1 : 1
    const x = first(a)
    const y = first(b)
    return x < y ? -1 : x > y ? 1 : 0
  })
}

/**
 * Pure: the id of a micro-batch holding `pages` (each one shard's records), a function of the set of pages alone (not of their arrival order): one page
 * → `pageIdOf` (`<shardId>-<first>-<last>`); several → `mb-<32 hex>`, the SHA-1 of the
 * pages' `<shardId>/<first>/<last>` lines in canonical order (`orderPages`).
 */
export const microBatchIdOf = (pages: ReadonlyArray<ShardPage>): string => {
  if (pages.length === 1) return pageIdOf(pages[0]!)
  const lines = orderPages(pages).map((page) => `${page.shardId}/${page.records[0]!.sequenceNumber}/${page.records.at(-1)!.sequenceNumber}`)
  return `mb-${createHash("sha1").update(lines.join("\n"), "utf8").digest("hex").slice(0, 32)}`
}

/** Pure: the date a micro-batch's objects are filed under: the earliest first-record arrival of its pages (UTC), else `now`. */
export const microBatchDateOf = (pages: ReadonlyArray<ShardPage>, now: Date): Date => {
  const dates = pages.flatMap((page) => (page.records[0]?.approximateArrivalTimestamp === undefined ? [] : [page.records[0].approximateArrivalTimestamp]))
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
