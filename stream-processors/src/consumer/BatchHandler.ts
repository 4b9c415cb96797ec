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
 *    value naming the shard and sequence number, never a throw. It reads the KPL format
 *    itself (core's `contracts/KplDecode.ts`), as aws-kinesis-agg's `deaggregateSync` does but stricter,
 *    and its user records' `data` are views of the Kinesis record's bytes, not copies.
 */
import { decodeKplAggregate, hasKplMagic } from "@totes-cdc/core"
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
  /** The user record's bytes: a view into the Kinesis record's `data` (shares its memory; read-only by contract). */
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

/**
 * De-aggregates a Kinesis record into its user records, in order.
 *
 * - A record that does not start with the KPL magic number F3 89 9A C2 (any record shorter
 *   than 4 bytes included) is a plain record: one user record, the record itself (same
 *   partition key, `data` the record's own bytes), `subSequenceNumber` 0, `aggregated` false.
 * - A record that does is a KPL aggregate (format and rules: core's `contracts/KplDecode.ts`): user record
 *   i is the aggregate's `records[i]`, with its partition key from the aggregate's table,
 *   `data` a view of its bytes inside `record.data` (no copy: `record.data` must not be
 *   mutated while they are in use), the record's `sequenceNumber`, `subSequenceNumber` i,
 *   `aggregated` true. An aggregate of no records gives no user records.
 *
 * Fails with a `DeaggregationError` naming the shard, sequence number and partition key and
 * the reason when an aggregate is malformed: shorter than magic number + MD5 (20 bytes), a
 * checksum mismatch (the MD5 is verified), a truncated or malformed protobuf, a missing
 * required field, an index outside its table, a string that is not UTF-8. Rules and source:
 * the KPL aggregation format (awslabs/amazon-kinesis-producer, aggregation-format.md), as
 * aws-kinesis-agg 4.x reads it. Pure; never throws.
 */
export const deaggregate = (record: KinesisBatchRecord): Result.Result<ReadonlyArray<UserRecord>, DeaggregationError> => {
  if (!hasKplMagic(record.data)) {
    return Result.succeed([{ partitionKey: record.partitionKey, data: record.data, sequenceNumber: record.sequenceNumber, subSequenceNumber: 0, aggregated: false }])
  }
  const decoded = decodeKplAggregate(record.data)
  if (Result.isFailure(decoded)) {
    return Result.fail(
      new DeaggregationError({
        message: `Kinesis record ${record.shardId}/${record.sequenceNumber} (partition key ${record.partitionKey}) is not a valid KPL aggregate: ${decoded.failure}`,
        shardId: record.shardId,
        sequenceNumber: record.sequenceNumber
      })
    )
  }
  const users = decoded.success
  const out = new Array<UserRecord>(users.length)
  for (let i = 0; i < users.length; i++) {
    const user = users[i]!
    out[i] = { partitionKey: user.partitionKey, data: user.data, sequenceNumber: record.sequenceNumber, subSequenceNumber: i, aggregated: true }
  }
  return Result.succeed(out)
}

/** `deaggregate` as an Effect (fails with `DeaggregationError`), for handlers written with generators. */
export const deaggregateEffect = (record: KinesisBatchRecord): Effect.Effect<ReadonlyArray<UserRecord>, DeaggregationError> =>
  Effect.fromResult(deaggregate(record))
