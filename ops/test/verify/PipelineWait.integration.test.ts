/**
 * Condition (c) of `verify --wait-for-lsn` on the local stack (kinesalite, s3rver, a migrated
 * warehouse): no reader (a replayed recording's wait) and an empty stream, so (0), (a) and (b)
 * pass at once and only the processed bucket's manifests decide. Manifests and applied rows
 * are written by hand.
 */
import { expect, layer } from "@effect/vitest"
import { encodeManifest, makeManifest, manifestKey, processedKey, type WarehouseTable } from "@totes-cdc/core"
import { migrateWarehouse } from "@totes-cdc/loader"
import { createKinesisStream, LocalStack } from "@totes-cdc/local-stack"
import { freshBucket, freshDatabase } from "@totes-cdc/local-stack/testing"
import { Kinesis, type PgPool, S3 } from "@totes-cdc/platform"
import { CheckpointStore } from "@totes-cdc/stream-processors"
import { Effect, Layer } from "effect"
import { waitForPipeline } from "../../src/verify/PipelineWait.ts"

const date = new Date("2024-02-23T10:00:00Z")

/** Writes micro-batch `batchId`'s manifest (one fact_payment object, not written: the wait reads manifests only) with rows at `lsns`. Answers its object's key. */
const putManifest = (bucket: string, batchId: string, lsns: ReadonlyArray<string>, table: WarehouseTable = "fact_payment") =>
  Effect.gen(function* () {
    const key = processedKey(table, date, batchId)
    yield* (yield* S3).putObject(bucket, manifestKey(date, batchId), encodeManifest(makeManifest(batchId, [{ key, table, rows: lsns.length }], lsns)))
    return key
  })

const recordApplied = (pool: PgPool, key: string) =>
  pool.query("INSERT INTO totes_cdc.applied_objects (target_schema, object_key, warehouse_table, row_count) VALUES ('public', $1, 'fact_payment', 1)", [key])

const aws = Layer.unwrap(
  LocalStack.pipe(
    Effect.map((stack) => Layer.mergeAll(Kinesis.layer(stack.kinesis), CheckpointStore.layer({ bucket: "wait-state" })).pipe(Layer.provideMerge(S3.layer(stack.s3))))
  )
)

layer(Layer.provideMerge(aws, LocalStack.layer()), { excludeTestServices: true })("verify's wait for the loader (condition c)", (it) => {
  it.effect("waits for every micro-batch holding a change at or before the target, not for later ones, and names what is not loaded", () =>
    Effect.gen(function* () {
      const stack = yield* LocalStack
      yield* createKinesisStream(stack.kinesis, "wait-stream", 1)
      yield* freshBucket("wait-state")
      const bucket = yield* freshBucket("wait-processed")
      const pool = yield* freshDatabase("wait_warehouse")
      yield* migrateWarehouse(pool)
      const wait = (target: string) =>
        waitForPipeline({ streamName: "wait-stream", processedBucket: bucket, schema: "public", timeoutMs: 1_000 }, undefined, pool, target)

      // A micro-batch whose first change is at the target, not loaded: the wait names its object.
      const early = yield* putManifest(bucket, "b1", ["0/100", "0/300"])
      // One whose changes are all after the target (a live pipeline's next micro-batch): never waited for.
      yield* putManifest(bucket, "b2", ["0/101"])
      const timedOut = yield* wait("0/100").pipe(Effect.flip)
      expect(timedOut.message).toMatch(new RegExp(`^1 processed object\\(s\\) not loaded into the warehouse after 1 s \\(e\\.g\\. ${early.replaceAll(".", "\\.")}\\)`))
      yield* recordApplied(pool, early)
      yield* wait("0/100")

      // A micro-batch recorded as applied whole is not looked into again.
      yield* putManifest(bucket, "b0", ["0/50"])
      yield* pool.query("INSERT INTO totes_cdc.applied_batches (target_schema, manifest_key) VALUES ('public', $1)", [manifestKey(date, "b0")])
      yield* wait("0/100")

      // A damaged manifest ends the wait at once, naming it.
      yield* (yield* S3).putObject(bucket, manifestKey(date, "b3"), "{")
      const damaged = yield* wait("0/100").pipe(Effect.flip)
      expect(damaged.message).toMatch(/^manifest manifests\/2024\/02\/23\/b3\.json is not a micro-batch manifest/)
    })
  )
})
