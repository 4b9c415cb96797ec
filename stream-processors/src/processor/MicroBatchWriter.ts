/**
 * Encodes and stores one micro-batch in the processed bucket (DESIGN.md §4), for the
 * processor and `replay` alike: its Parquet objects, then its manifest (core
 * MicroBatchManifest.ts).
 *
 * Invariants:
 *  - The manifest last, only once every object it lists is stored: a loader applies a
 *    micro-batch whole or not at all, so the objects themselves are written all at once, in
 *    no order (a crash mid-way leaves objects no manifest lists, which no loader applies).
 *    No objects, no manifest.
 *  - `alongsideManifest` (the processor's join state) starts only once every object is
 *    stored, and runs concurrently with the manifest's put: neither waits for the other.
 *  - Keys and bytes are functions of the micro-batch: writing it again overwrites.
 */
import { type ChangeRecord, encodeManifest, makeManifest, manifestKey, processedColumns, processedKey, processedRows, type StarRow, type WarehouseTable } from "@totes-cdc/core"
import { encodeParquet, type ParquetRow, S3, type S3Error } from "@totes-cdc/platform"
import { Effect } from "effect"
import { type ProcessedObject, rowsByTable } from "./ProcessedObjects.ts"

/** One table's rows of a micro-batch, encoded as Parquet: `bytes`, from `values` (`processedRows`). */
export interface EncodedObject {
  readonly table: WarehouseTable
  readonly rows: number
  readonly bytes: Uint8Array
  readonly values: ReadonlyArray<ParquetRow>
}

/**
 * Encodes a micro-batch's star `rows` as one Parquet object per table (`rowsByTable` order),
 * before anything is written: an encoding failure writes nothing. `_commit_ts` comes from
 * `changes`' commit times — none for snapshot rows, which have no commit of their own (their
 * commitTs is the snapshot's start). Fails with `failure(table, message)` for a table whose
 * rows do not encode.
 */
export const encodeMicroBatch = <E>(
  rows: ReadonlyArray<StarRow>,
  changes: ReadonlyArray<ChangeRecord>,
  failure: (table: WarehouseTable, message: string) => E
): Effect.Effect<ReadonlyArray<EncodedObject>, E> => {
  const commitTimes = new Map(changes.flatMap((change) => (change.source === "snapshot" ? [] : [[change.commitLsn, change.commitTs] as const])))
  return Effect.forEach(rowsByTable(rows), ([table, tableRows]) => {
    const values = processedRows(table, tableRows, commitTimes)
    return encodeParquet(processedColumns(table, { relaxed: true }), values).pipe(
      Effect.mapError((error) => failure(table, error.message)),
      Effect.map((bytes) => ({ table, rows: tableRows.length, bytes, values }))
    )
  })
}

/**
 * Writes `encoded` (one entry per table) as micro-batch `batchId` filed under `date`
 * (`<table>/YYYY/MM/DD/<batchId>.parquet`, then `manifests/YYYY/MM/DD/<batchId>.json`);
 * `commitLsns`: the commit LSNs of its rows. Answers the objects written, bytes and values
 * included, in `encoded`'s order. Fails with `S3Error` or `alongsideManifest`'s error; what was
 * written before stays (a retry overwrites it).
 */
export const writeMicroBatch = <E = never>(
  bucket: string,
  batchId: string,
  date: Date,
  encoded: ReadonlyArray<EncodedObject>,
  commitLsns: Iterable<string>,
  alongsideManifest: Effect.Effect<void, E> = Effect.void
): Effect.Effect<ReadonlyArray<ProcessedObject>, S3Error | E, S3> =>
  Effect.gen(function* () {
    if (encoded.length === 0) {
      yield* alongsideManifest
      return []
    }
    const s3 = yield* S3
    const objects: ReadonlyArray<ProcessedObject> = encoded.map(({ table, rows, bytes, values }) => ({ table, bucket, key: processedKey(table, date, batchId), rows, batchId, body: bytes, values }))
    yield* Effect.forEach(objects, (object) => s3.putObject(bucket, object.key, object.body!, "application/vnd.apache.parquet"), { concurrency: 12, discard: true })
    const manifest = encodeManifest(makeManifest(batchId, objects, commitLsns))
    yield* Effect.all([s3.putObject(bucket, manifestKey(date, batchId), manifest, "application/json"), alongsideManifest], { concurrency: 2, discard: true })
    return objects
  })
