/**
 * Which micro-batches in the processed bucket the warehouse has not loaded yet (I/O, for
 * condition (c) of `PipelineProgress.ts`). A micro-batch is known by its manifest (core
 * MicroBatchManifest.ts, `manifests/YYYY/MM/DD/<batchId>.json`, written after its objects):
 * it counts as loaded when `totes_cdc.applied_batches` records the manifest, or when every
 * object it lists is in `totes_cdc.applied_objects` or of a table under a quarantine still
 * in force (`totes_cdc.truncations.in_force`): the loader holds such objects back on purpose.
 */
import { decodeManifest, MANIFEST_PREFIX, type ManifestError, type MicroBatchManifest, parseManifestKey } from "@totes-cdc/core"
import { type PgError, type PgSession, S3, type S3Error } from "@totes-cdc/platform"
import { Effect, Option } from "effect"

/** Of manifest keys `keys`, those not recorded as applied whole into target schema `schema` (in key order). Fails with `PgError`. */
const unrecordedManifests = (warehouse: PgSession, schema: string, keys: ReadonlyArray<string>): Effect.Effect<ReadonlyArray<string>, PgError> =>
  keys.length === 0
    ? Effect.succeed([])
    : warehouse
        .query(
          `SELECT k FROM unnest($2::text[]) AS k
            WHERE NOT EXISTS (SELECT 1 FROM totes_cdc.applied_batches b WHERE b.target_schema = $1 AND b.manifest_key = k)
            ORDER BY k`,
          [schema, [...keys]]
        )
        .pipe(Effect.map((rows) => rows.map((row) => row.k ?? "")))

/** Of object keys `keys`, those not loaded into target schema `schema` (in key order). Fails with `PgError`. */
export const unappliedObjects = (
  warehouse: PgSession,
  schema: string,
  keys: ReadonlyArray<string>
): Effect.Effect<ReadonlyArray<string>, PgError> =>
  keys.length === 0
    ? Effect.succeed([])
    : warehouse
        .query(
          `SELECT k FROM unnest($2::text[]) AS k
            WHERE NOT EXISTS (SELECT 1 FROM totes_cdc.applied_objects a WHERE a.target_schema = $1 AND a.object_key = k)
              AND NOT EXISTS (SELECT 1 FROM totes_cdc.truncations t
                               WHERE t.target_schema = $1 AND t.in_force AND t.warehouse_table = split_part(k, '/', 1))
            ORDER BY k`,
          [schema, [...keys]]
        )
        .pipe(Effect.map((rows) => rows.map((row) => row.k ?? "")))

/**
 * Lists the manifests of `bucket` and answers the objects not loaded into `schema` of the
 * micro-batches `wanted` selects (in key order). `cache` keeps manifests already read
 * (they never change) across calls. Fails with `PgError`, `S3Error`, or `ManifestError`
 * (a manifest that does not decode).
 */
export const unappliedBatchObjects = (
  warehouse: PgSession,
  schema: string,
  bucket: string,
  wanted: (manifest: MicroBatchManifest) => boolean,
  cache: Map<string, MicroBatchManifest>
): Effect.Effect<ReadonlyArray<string>, PgError | S3Error | ManifestError, S3> =>
  Effect.gen(function* () {
    const s3 = yield* S3
    const listed = (yield* s3.listObjects(bucket, MANIFEST_PREFIX)).map((object) => object.key).filter((key) => parseManifestKey(key) !== undefined)
    const objects: Array<string> = []
    for (const key of yield* unrecordedManifests(warehouse, schema, listed)) {
      let manifest = cache.get(key)
      if (manifest === undefined) {
        const body = yield* s3.getObject(bucket, key)
        // Listed, then gone: the bucket is being emptied; nothing of it to wait for.
        if (Option.isNone(body)) continue
        manifest = yield* decodeManifest(key, new TextDecoder().decode(body.value))
        cache.set(key, manifest)
      }
      if (wanted(manifest)) objects.push(...manifest.objects.map((object) => object.key))
    }
    return yield* unappliedObjects(warehouse, schema, objects)
  })
