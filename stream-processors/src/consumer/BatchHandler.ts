/**
 * The contract between a Kinesis driver and a consumer (archiver, processor): a batch of
 * Kinesis records from ONE shard goes in, "all processed" or "processed up to (excluding)
 * this record" comes out — Lambda's partial batch response (ReportBatchItemFailures).
 * Two drivers feed it with the same semantics: the Lambda event source mapping in AWS
 * (`LambdaHandler.ts`) and the local poller (`ShardPoller.ts`).
 *
 * Invariants:
 *  - Records of a batch are in shard order; a handler that answers
 *    `PartiallyFailed(seq)` has processed exactly the records before `seq` and none after:
 *    the driver checkpoints the record before `seq` and hands over `seq` onward again.
 *  - Delivery is at-least-once: a record can be handed over again (a failed attempt, a
 *    crash before the checkpoint, a retried record inside a KPL aggregate), so a handler's
 *    effect must be idempotent. A checkpointed record is never handed over again.
 *  - `deaggregate` is pure and total: a malformed aggregate is a `DeaggregationError`
 *    value naming the shard and sequence number, never a throw.
 */
import { deaggregateSync } from "aws-kinesis-agg"
import { Effect, Result, Schema } from "effect"

/** One Kinesis record as a consumer sees it (before de-aggregation). */
export interface KinesisBatchRecord {
  readonly shardId: string
  readonly sequenceNumber: string
  readonly partitionKey: string
  readonly data: Uint8Array
  readonly approximateArrivalTimestamp?: Date
}

/**
 * What a handler answers for a batch: all processed, or processed up to (excluding) the
 * first failed record — Lambda's partial batch response (ReportBatchItemFailures) semantics.
 * `firstFailedSequenceNumber` must be the sequence number of a record of the batch; any
 * other value makes the driver treat the whole batch as failed (as Lambda does).
 */
export type BatchResult =
  | { readonly _tag: "Processed" }
  | { readonly _tag: "PartiallyFailed"; readonly firstFailedSequenceNumber: string }

/** A batch of records from one shard, in shard order (never empty). */
export interface KinesisBatch {
  readonly shardId: string
  readonly records: ReadonlyArray<KinesisBatchRecord>
}

/** A consumer: processes a batch and says how far it got. A failure means nothing of the batch counts as processed. */
export type BatchHandler<E, R> = (batch: KinesisBatch) => Effect.Effect<BatchResult, E, R>

/** `Processed`. */
export const processed: BatchResult = { _tag: "Processed" }

/** `PartiallyFailed` at `firstFailedSequenceNumber`. */
export const partiallyFailed = (firstFailedSequenceNumber: string): BatchResult => ({ _tag: "PartiallyFailed", firstFailedSequenceNumber })

/** One user record of a Kinesis record: a KPL aggregate holds many, a plain record is one. */
export interface UserRecord {
  readonly partitionKey: string
  readonly data: Uint8Array
  /** The enclosing Kinesis record's sequence number. */
  readonly sequenceNumber: string
  /** Position inside the aggregate (0 for a plain record): (sequenceNumber, subSequenceNumber) orders user records in a shard. */
  readonly subSequenceNumber: number
  /** Whether the Kinesis record was a KPL aggregate. */
  readonly aggregated: boolean
}

/** A Kinesis record that claims to be a KPL aggregate (magic number) but cannot be decoded. */
export class DeaggregationError extends Schema.TaggedError<DeaggregationError>()("DeaggregationError", {
  message: Schema.String,
  shardId: Schema.String,
  sequenceNumber: Schema.String
}) {}

// What aws-kinesis-agg hands back (untyped JavaScript): decoded, not trusted. Struct
// fields only (the base64 data is decoded natively by Buffer below: Schema's JavaScript
// base64 decoder was the processor's largest single cost, BENCHMARKS.md). The library
// base64-encodes the bytes it parsed itself, so they are not checked again per record.
const LibraryUserRecords = Schema.Array(
  Schema.Struct({
    partitionKey: Schema.String,
    sequenceNumber: Schema.String,
    subSequenceNumber: Schema.optional(Schema.Number),
    data: Schema.String
  })
)
const decodeLibraryUserRecords = Schema.decodeUnknownResult(LibraryUserRecords)

/**
 * De-aggregates a KPL record into its user records, in order (a plain record gives itself,
 * `subSequenceNumber` 0). Checksums are verified. Pure.
 */
export const deaggregate = (record: KinesisBatchRecord): Result.Result<ReadonlyArray<UserRecord>, DeaggregationError> => {
  const failure = (reason: string) =>
    Result.fail(
      new DeaggregationError({
        message: `Kinesis record ${record.shardId}/${record.sequenceNumber} (partition key ${record.partitionKey}) is not a valid KPL aggregate: ${reason}`,
        shardId: record.shardId,
        sequenceNumber: record.sequenceNumber
      })
    )
  let error: unknown
  let output: unknown
  // The library reports through a callback, possibly more than once (a bad user record,
  // then the end): the first error wins.
  deaggregateSync(
    { partitionKey: record.partitionKey, sequenceNumber: record.sequenceNumber, data: Buffer.from(record.data).toString("base64") },
    true,
    (failed, userRecords) => {
      if (failed !== null && failed !== undefined) error ??= failed
      else output = userRecords
    }
  )
  if (error !== undefined) return failure(error instanceof Error ? error.message : String(error))
  const decoded = decodeLibraryUserRecords(output)
  if (Result.isFailure(decoded)) return failure(decoded.failure.message.split("\n")[0] ?? "unexpected library output")
  return Result.succeed(
    decoded.success.map((user) => ({
      partitionKey: user.partitionKey,
      data: new Uint8Array(Buffer.from(user.data, "base64")),
      sequenceNumber: user.sequenceNumber,
      subSequenceNumber: user.subSequenceNumber ?? 0,
      aggregated: user.subSequenceNumber !== undefined
    }))
  )
}

/** `deaggregate` as an Effect (fails with `DeaggregationError`), for handlers written with generators. */
export const deaggregateEffect = (record: KinesisBatchRecord): Effect.Effect<ReadonlyArray<UserRecord>, DeaggregationError> =>
  Effect.fromResult(deaggregate(record))
