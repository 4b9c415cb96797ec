/**
 * Stores one encoded micro-batch in the processed bucket (DESIGN.md §4), for the processor
 * and `replay` alike: its Parquet objects, then its manifest (core MicroBatchManifest.ts).
 *
 * Invariants:
 *  - Dimension objects (dim_date included) before fact objects: a crash mid-way leaves at
 *    most dimension objects without their facts, never a fact without the rows it references.
 *  - The manifest last, only once every object it lists is stored: a loader applies a
 *    micro-batch whole or not at all. No objects, no manifest.
 *  - Keys and bytes are functions of the micro-batch: writing it again overwrites.
 */
import { isFactTable, makeManifest, manifestKey, encodeManifest, processedKey, type WarehouseTable } from "@totes-cdc/core"
import { S3, type S3Error } from "@totes-cdc/platform"
import { Effect } from "effect"
import type { ProcessedObject } from "./ProcessedObjects.ts"

/** One table's rows of a micro-batch, encoded as Parquet. */
export interface EncodedObject {
  readonly table: WarehouseTable
  readonly rows: number
  readonly bytes: Uint8Array
}

/**
 * Writes `encoded` (one entry per table) as micro-batch `batchId` filed under `date`
 * (`<table>/YYYY/MM/DD/<batchId>.parquet`, then `manifests/YYYY/MM/DD/<batchId>.json`);
 * `commitLsns`: the commit LSNs of its rows. Answers the objects written, bytes included,
 * in the order written. Fails with `S3Error`; what was written before stays (a retry overwrites it).
 */
export const writeMicroBatch = (
  bucket: string,
  batchId: string,
  date: Date,
  encoded: ReadonlyArray<EncodedObject>,
  commitLsns: Iterable<string>
): Effect.Effect<ReadonlyArray<ProcessedObject>, S3Error, S3> =>
  Effect.gen(function* () {
    if (encoded.length === 0) return []
    const s3 = yield* S3
    const objectOf = ({ table, rows, bytes }: EncodedObject): ProcessedObject => ({ table, bucket, key: processedKey(table, date, batchId), rows, batchId, body: bytes })
    const dimensions = encoded.filter((o) => !isFactTable(o.table)).map(objectOf)
    const facts = encoded.filter((o) => isFactTable(o.table)).map(objectOf)
    const put = (group: ReadonlyArray<ProcessedObject>) =>
      Effect.forEach(group, (object) => s3.putObject(bucket, object.key, object.body!, "application/vnd.apache.parquet"), { concurrency: 8, discard: true })
    yield* put(dimensions)
    yield* put(facts)
    const objects = [...dimensions, ...facts]
    const manifest = makeManifest(batchId, objects, commitLsns)
    yield* s3.putObject(bucket, manifestKey(date, batchId), encodeManifest(manifest), "application/json")
    return objects
  })
