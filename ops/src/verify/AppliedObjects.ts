/**
 * Which processed-bucket objects the warehouse has not loaded yet (I/O, for condition (c)
 * of `PipelineProgress.ts`): an object counts as loaded when `totes_cdc.applied_objects`
 * records it for the target schema, or when its table (the key's first segment,
 * `<table>/YYYY/MM/DD/<batchId>.parquet`, DESIGN.md §4) is under a quarantine still in
 * force (`totes_cdc.truncations.in_force`): the loader holds such objects back on purpose.
 */
import { parseProcessedKey } from "@totes-cdc/core"
import type { PgError, PgSession } from "@totes-cdc/platform"
import { Effect } from "effect"

/** Pure: the keys of a processed-bucket listing that are warehouse-table Parquet objects (`parseProcessedKey`). */
export const processedObjectKeys = (keys: ReadonlyArray<string>): ReadonlyArray<string> =>
  keys.filter((key) => parseProcessedKey(key) !== undefined)

/** Of `keys`, those not loaded into target schema `schema` (in key order). Fails with `PgError`. */
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
