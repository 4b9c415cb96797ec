/**
 * Where the local poller keeps each consumer's position in each shard — what the Lambda
 * event source mapping keeps for itself in AWS. One JSON object per consumer and shard,
 * `<prefix><consumer>/<shardId>.json` in a bucket (default prefix `state/consumers/`).
 *
 * Invariants:
 *  - A checkpoint is "the last sequence number completely processed" (Debezium's offset
 *    semantics): a restart resumes AFTER it, so it is written only once the handler is done
 *    with every record up to it.
 *  - What is read back is validated by a schema (and must name the same consumer and
 *    shard as its key); a corrupt object is a `CheckpointError` naming the key, never
 *    treated as absent — that would re-read the shard from the start.
 *  - get and put are idempotent; their S3 calls are retried by the S3 service itself
 *    (`s3RetrySchedule`: retryable errors only, 100 ms doubling to 2 s, at most 10 retries)
 *    and not again here — one retry policy per call. Separately, an object that does not
 *    decode (not an S3 failure) is read again 3 times, 50 ms apart, before it counts as
 *    corrupt (s3rver rewrites objects in place: a read racing a write can see a partial one).
 */
import { INGESTION_LAYOUT } from "@totes-cdc/core"
import { S3, type S3Error } from "@totes-cdc/platform"
import { Context, DateTime, Effect, Layer, Option, Schedule, Schema } from "effect"

/**
 * A consumer's position in a shard. `sequenceNumber`: the last record completely processed
 * (null only for a shard that ended before any record was read, e.g. split while empty).
 * `shardEnded`: every record of the closed shard is processed — its children may start.
 */
export interface Checkpoint {
  readonly sequenceNumber: string | null
  readonly shardEnded: boolean
}

/**
 * A stored checkpoint cannot be read back as one: `message` names the object and the fix,
 * `key` is its S3 key, `cause` the schema error that rejected it (when it did not decode).
 */
export class CheckpointError extends Schema.TaggedError<CheckpointError>()("CheckpointError", {
  message: Schema.String,
  key: Schema.String,
  cause: Schema.optional(Schema.Defect())
}) {}

const SequenceNumber = Schema.String.check(Schema.isPattern(/^\d{1,128}$/))

const CheckpointObject = Schema.Struct({
  version: Schema.Literal(1),
  consumer: Schema.String,
  shardId: Schema.String,
  sequenceNumber: Schema.NullOr(SequenceNumber),
  shardEnded: Schema.Boolean,
  updatedAt: Schema.String
})
const decodeCheckpointObject = Schema.decodeUnknownEffect(Schema.fromJsonString(CheckpointObject))

/** Where checkpoints live. */
export interface CheckpointLocation {
  readonly bucket: string
  /** Key prefix ending in `/`. Default `state/consumers/`. */
  readonly prefix?: string
}

/** Default key prefix of checkpoints. */
export const DEFAULT_CHECKPOINT_PREFIX = INGESTION_LAYOUT.checkpointPrefix

/** Pure: the key of `consumer`'s checkpoint in `shardId`. */
export const checkpointKey = (prefix: string, consumer: string, shardId: string) => `${prefix}${consumer}/${shardId}.json`

/**
 * Re-reads of an object that did not decode, before it counts as corrupt: 3, 50 ms apart.
 * S3 replaces objects atomically, but s3rver rewrites the file in place, so a read racing a
 * write there can see a truncated object.
 */
const undecodableRetrySchedule = Schedule.spaced("50 millis").pipe(Schedule.upTo({ times: 3 }))

/** Consumers' checkpoints per shard. */
export class CheckpointStore extends Context.Service<
  CheckpointStore,
  {
    /**
     * The checkpoint of `consumer` in `shardId`, or None when it never checkpointed there.
     * Fails with `CheckpointError` (the object is not a checkpoint of that consumer and
     * shard, after 3 re-reads) or `S3Error` (after the S3 service's retries).
     */
    readonly get: (consumer: string, shardId: string) => Effect.Effect<Option.Option<Checkpoint>, CheckpointError | S3Error>
    /** Replaces the checkpoint of `consumer` in `shardId`. Fails with `S3Error` (after the S3 service's retries). */
    readonly put: (consumer: string, shardId: string, checkpoint: Checkpoint) => Effect.Effect<void, S3Error>
  }
>()("@totes-cdc/stream-processors/CheckpointStore") {
  /** Checkpoints as JSON objects in S3 at `location`. */
  static readonly layer = (location: CheckpointLocation): Layer.Layer<CheckpointStore, never, S3> =>
    Layer.effect(
      CheckpointStore,
      Effect.gen(function* () {
        const s3 = yield* S3
        const prefix = location.prefix ?? DEFAULT_CHECKPOINT_PREFIX
        const where = (key: string) => `s3://${location.bucket}/${key}`

        const readOnce = Effect.fn("CheckpointStore.get")(function* (consumer: string, shardId: string) {
          const key = checkpointKey(prefix, consumer, shardId)
          const body = yield* s3.getObject(location.bucket, key)
          if (Option.isNone(body)) return Option.none<Checkpoint>()
          const stored = yield* decodeCheckpointObject(new TextDecoder().decode(body.value)).pipe(
            Effect.mapError(
              (error) =>
                new CheckpointError({
                  message: `${where(key)} is not a consumer checkpoint (${error.message.split("\n")[0]}); inspect it, fix or delete it (deleting re-reads the shard from its oldest record)`,
                  key,
                  cause: error
                })
            )
          )
          if (stored.consumer !== consumer || stored.shardId !== shardId) {
            return yield* new CheckpointError({
              message: `${where(key)} holds the checkpoint of consumer ${stored.consumer} in ${stored.shardId}, not of ${consumer} in ${shardId}; inspect it, fix or delete it`,
              key
            })
          }
          return Option.some<Checkpoint>({ sequenceNumber: stored.sequenceNumber, shardEnded: stored.shardEnded })
        })
        const get = (consumer: string, shardId: string) =>
          readOnce(consumer, shardId).pipe(Effect.retry({ schedule: undecodableRetrySchedule, while: (error) => error._tag === "CheckpointError" }))

        const put = Effect.fn("CheckpointStore.put")(function* (consumer: string, shardId: string, checkpoint: Checkpoint) {
          const updatedAt = DateTime.formatIso(yield* DateTime.now)
          const body = JSON.stringify({
            version: 1,
            consumer,
            shardId,
            sequenceNumber: checkpoint.sequenceNumber,
            shardEnded: checkpoint.shardEnded,
            updatedAt
          })
          yield* s3.putObject(location.bucket, checkpointKey(prefix, consumer, shardId), body, "application/json")
        })

        return CheckpointStore.of({ get, put })
      })
    )
}
