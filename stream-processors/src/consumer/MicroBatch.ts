/**
 * The contract between a Kinesis driver and a consumer (archiver, processor). A PAGE is
 * records of ONE shard in shard order (one GetRecords page locally, one shard's records of
 * a Lambda invocation); a MICRO-BATCH is the pages of one window, at most one per shard.
 * The consumer handles a micro-batch and answers per page — processed, processed up to
 * (excluding) a record, or failed — Lambda's partial batch response per shard.
 *
 * Invariants:
 *  - A page answered `PartiallyFailed(seq)` had exactly its records before `seq`
 *    processed: the driver checkpoints the record before `seq` and hands `seq` onward over
 *    again; `Failed`, or a failure of the whole call, means nothing of the page counts.
 *  - Delivery is at-least-once (a failed attempt, a crash before the checkpoint): a
 *    consumer's effect must be idempotent. A checkpointed record is never handed over again.
 *  - `deaggregate` is pure and total: a malformed aggregate is a `DeaggregationError` value
 *    naming the shard and sequence number, never a throw (format: core's contracts/KplDecode.ts).
 *    An aggregate's bytes are decoded once while they are alive (a WeakMap keyed by the bytes):
 *    in `dev` the archiver and the processor read the same records (SharedShardReads.ts).
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

/** Records of one shard, in shard order (never empty). */
export interface ShardPage {
  readonly shardId: string
  readonly records: ReadonlyArray<KinesisBatchRecord>
}

/** The pages of one window: at most one per shard. */
export type MicroBatch = ReadonlyArray<ShardPage>

/**
 * What a consumer answers for one page of a micro-batch. `firstFailedSequenceNumber` must be
 * a record of the page; any other value makes the driver treat the whole page as failed
 * (as Lambda does). `Failed` carries the error the driver logs and, once its retries are
 * spent, fails with.
 */
export type PageResult<E = never> =
  | { readonly _tag: "Processed" }
  | { readonly _tag: "PartiallyFailed"; readonly firstFailedSequenceNumber: string }
  | { readonly _tag: "Failed"; readonly error: E }

/**
 * A consumer: handles a micro-batch and answers one `PageResult` per page, in the pages'
 * order. Failing (typed error E) means every page failed with it; a defect stops the driver.
 */
export type MicroBatchHandler<E, R> = (pages: MicroBatch) => Effect.Effect<ReadonlyArray<PageResult<E>>, E, R>

/** `Processed`. */
export const processed: PageResult<never> = { _tag: "Processed" }

/** `PartiallyFailed` at `firstFailedSequenceNumber`. */
export const partiallyFailed = (firstFailedSequenceNumber: string): PageResult<never> => ({ _tag: "PartiallyFailed", firstFailedSequenceNumber })

/** `Failed` with `error`. */
export const failed = <E>(error: E): PageResult<E> => ({ _tag: "Failed", error })

/**
 * A micro-batch handler from a handler of one page: the pages are handled concurrently (they
 * are of different shards); a page whose handler fails with E answers `Failed(E)` (the other
 * pages keep their answers); a defect is a defect of the whole call.
 */
export const pageByPage =
  <E, R>(handlePage: (page: ShardPage) => Effect.Effect<PageResult<E>, E, R>): MicroBatchHandler<E, R> =>
  (pages) =>
    Effect.forEach(pages, (page) => handlePage(page).pipe(Effect.catch((error: E) => Effect.succeed(failed(error)))), { concurrency: "unbounded" })

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

/** Aggregates decoded, by their bytes (read-only by contract), for as long as the bytes are alive. */
const decodedAggregates = new WeakMap<Uint8Array, ReturnType<typeof decodeKplAggregate>>()

const decodedAggregate = (data: Uint8Array): ReturnType<typeof decodeKplAggregate> => {
  let decoded = decodedAggregates.get(data)
  if (decoded === undefined) {
    decoded = decodeKplAggregate(data)
    decodedAggregates.set(data, decoded)
  }
  return decoded
}

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
  const decoded = decodedAggregate(record.data)
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
