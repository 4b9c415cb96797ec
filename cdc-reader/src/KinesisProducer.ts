/**
 * The reader's Kinesis producer (DESIGN.md §3, §6): change records in, KPL-aggregated
 * Kinesis records out (planned by ProducerPlan.ts, planning one batch ahead of writing),
 * and the LSN up to which everything is durable. Details: cdc-reader/SPEC.md §2.
 *
 * Invariants:
 *  - Order per key: a key maps to one shard; a PutRecords call holds ≤ 1 aggregate per
 *    shard, and a shard's next aggregate is sent only once the previous one is written.
 *  - Only the failed entries are retried (`putRetrySchedule`); dead letters are not.
 *  - Batches are written one after another; a batch's `Durable` marker is reported only
 *    after every aggregate and dead letter of it is stored.
 *  - Memory: at most three groups (≤ `maxBatchChanges` items each) past the source.
 *  - The shard map is re-read every `shardRefreshMs`, and at once on a mispredicted shard.
 */
import { type ChangeRecord, dataOf, isSnapshotChunk, Metrics, type NoShardForHashKey, type ShardEntry } from "@totes-cdc/core"
import { DeadLetters, Kinesis, KinesisError, type KinesisShard, type PutResult, retryableBackoff, type S3Error } from "@totes-cdc/platform"
import { Clock, Effect, Metric, Ref, Result, Schema, Stream } from "effect"
import {
  type BatchPlan,
  type MicroBatch,
  filedAtOf,
  packCalls,
  planBatch,
  positionOf,
  type PreparedChange,
  type ProducerItem,
  roundCount,
  roundOf,
  splitIntoBatches
} from "./ProducerPlan.ts"

export type { ProducerItem } from "./ProducerPlan.ts"

/** Tuning of the producer. Sizes in bytes, durations in milliseconds. */
export interface ProducerConfig {
  readonly streamName: string
  /**
   * Items (changes and markers) grouped per micro-batch (`Stream.groupedWithin` count).
   * Default 2,500: ~1 MiB of totesys change JSON, one PutRecords call per batch on a
   * 2-shard stream; smaller groups keep fewer records alive between garbage collections.
   */
  readonly maxBatchChanges: number
  /** Longest wait to fill a micro-batch (`Stream.groupedWithin` duration), ms. Default 50. */
  readonly lingerMs: number
  /** Entries per PutRecords call (AWS limit 500). Default 500. */
  readonly maxPutRecords: number
  /** Bytes (data + partition keys) per PutRecords call (AWS limit 5 MiB). Default 5 MiB. */
  readonly maxPutBytes: number
  /** Bytes (data + partition key) per Kinesis record (AWS limit 1 MiB; aggregates are capped at 1 MiB). Default 1 MiB. */
  readonly maxRecordBytes: number
  /** Re-read the shard map after this many ms. Default 60,000. */
  readonly shardRefreshMs: number
  /**
   * Change bytes (JSON + partition key) per micro-batch: a group is split so no batch
   * exceeds it (one larger change is a batch by itself). Default 8 MiB: with the
   * aggregates built from it, a batch holds ~16 MiB at most.
   */
  readonly maxBatchBytes?: number
}

/** Default `maxBatchBytes`: 8 MiB. */
export const DEFAULT_MAX_BATCH_BYTES = 8 * 1024 * 1024

/** The defaults above, for `streamName`. */
export const defaultProducerConfig = (streamName: string): ProducerConfig => ({
  streamName,
  maxBatchChanges: 2_500,
  lingerMs: 50,
  maxPutRecords: 500,
  maxPutBytes: 5 * 1024 * 1024,
  maxRecordBytes: 1024 * 1024,
  shardRefreshMs: 60_000,
  maxBatchBytes: DEFAULT_MAX_BATCH_BYTES
})

/**
 * Retry policy of PutRecords (and ListShards): the failed entries — or, after a retryable
 * whole-call failure, that call's entries — are sent again after 100 ms, 200 ms, 400 ms, …
 * doubling, each delay capped at 5 s and jittered by ×0.8–1.2; at most 20 retries (about
 * 75 s in all), and only while the failure is retryable (throttling, 5xx, network).
 */
export const putRetrySchedule = retryableBackoff("5 seconds", 20)

/** Some entries of a PutRecords round are still not written after an attempt. */
class PutIncomplete extends Schema.TaggedError<PutIncomplete>()("PutIncomplete", {
  message: Schema.String,
  failed: Schema.Number,
  retryable: Schema.Boolean
}) {}

/** Per-entry error codes worth retrying unchanged. Others (e.g. KMS access denied) are not. */
const RETRYABLE_ENTRY_CODES = new Set(["ProvisionedThroughputExceededException", "InternalFailure", "KMSThrottlingException", "RequestFailed"])

type Failed = Extract<PutResult, { readonly _tag: "Failed" }>

/**
 * The stream's shard map, re-read when stale or invalidated. `generation` counts the
 * invalidations, so a plan made before one can be told apart (its aggregates landing on
 * other shards than predicted is expected, not news).
 */
const makeShardMap = (kinesis: Kinesis["Service"], stream: string, refreshMs: number) =>
  Effect.gen(function* () {
    const state = yield* Ref.make<{ readonly shards: ReadonlyArray<KinesisShard>; readonly readAt: number } | undefined>(undefined)
    let generation = 0
    const refresh = Effect.gen(function* () {
      const shards = yield* kinesis.listShards(stream).pipe(Effect.retry(putRetrySchedule))
      yield* Ref.set(state, { shards, readAt: yield* Clock.currentTimeMillis })
      return shards
    })
    const current = Effect.gen(function* () {
      const known = yield* Ref.get(state)
      const now = yield* Clock.currentTimeMillis
      return known === undefined || now - known.readAt >= refreshMs ? yield* refresh : known.shards
    })
    const invalidate = Ref.set(state, undefined).pipe(Effect.andThen(Effect.sync(() => void (generation += 1))))
    return { current, refresh, invalidate, generation: () => generation }
  })

/**
 * A micro-batch once planned, ahead of its write: its aggregates and dead letters, and
 * only the facts the write reports. The change records and their JSON are not kept (the
 * aggregates hold the bytes), so they are garbage as soon as the plan is made.
 */
interface PlannedBatch {
  /** Undefined for a batch without changes (a marker only). */
  readonly plan: BatchPlan | undefined
  /** Shard-map generation the plan was made on. */
  readonly generation: number
  readonly changes: number
  readonly bytes: number
  readonly durableLsn: string | undefined
  /** Commit time of the batch's last replication change (epoch ms), for the lag metric. */
  readonly committedAt: number | undefined
}

/** ISO-8601 `commitTs` → epoch ms (undefined when unparseable). */
const commitMillis = (commitTs: string): number | undefined => {
  const ms = Date.parse(commitTs)
  return Number.isNaN(ms) ? undefined : ms
}

const lastReplicationChange = (changes: ReadonlyArray<PreparedChange>): ChangeRecord | undefined => {
  for (let i = changes.length - 1; i >= 0; i--) {
    const record = changes[i]!.record
    if (!isSnapshotChunk(record) && record.source === "replication") return record
  }
  return undefined
}

/**
 * Runs the producer until `items` ends (or forever, for an endless stream).
 *
 * - `items`: changes and `Durable` markers, in source order.
 * - `config`: see `ProducerConfig` (`defaultProducerConfig` has the defaults).
 * - `onDurable(lsn)`: called after each micro-batch that holds a marker, with the LSN of
 *   the batch's last marker, once every change before that marker is durable (written
 *   to Kinesis or parked as a dead letter). Called in stream order.
 *
 * Fails with the stream's `E`, `onDurable`'s `E2`, with `KinesisError` (non-retryable, or retries exhausted:
 * see `putRetrySchedule`), or with `S3Error` when a dead letter cannot be stored (after the S3
 * service's own retries, `s3RetrySchedule`).
 * Needs `Kinesis` and `DeadLetters`.
 */
export const runProducer = <E, R, E2 = never, R2 = never>(
  items: Stream.Stream<ProducerItem, E, R>,
  config: ProducerConfig,
  onDurable: (lsn: string) => Effect.Effect<void, E2, R2>
): Effect.Effect<void, E | E2 | KinesisError | S3Error, R | R2 | Kinesis | DeadLetters> =>
  Effect.gen(function* () {
    const kinesis = yield* Kinesis
    const deadLetters = yield* DeadLetters
    const stream = config.streamName
    const maxBatchBytes = config.maxBatchBytes ?? DEFAULT_MAX_BATCH_BYTES
    const shardMap = yield* makeShardMap(kinesis, stream, config.shardRefreshMs)

    /** Plans `batch` on the current shard map; re-reads the map once if a key has no open shard. */
    const plan = (batch: MicroBatch) =>
      Effect.gen(function* () {
        const first = planBatch(batch, yield* shardMap.current, config.maxRecordBytes)
        if (Result.isSuccess(first)) return first.success
        const second = planBatch(batch, yield* shardMap.refresh, config.maxRecordBytes)
        if (Result.isSuccess(second)) return second.success
        const failure: NoShardForHashKey = second.failure
        return yield* new KinesisError({ message: `Kinesis stream ${stream}: ${failure.message}`, retryable: true, cause: failure })
      })

    /** One attempt at writing `state.pending`; leaves only the failed entries pending. */
    const attemptRound = (state: { pending: ReadonlyArray<ShardEntry>; attempts: number; readonly generation: number }) =>
      Effect.gen(function* () {
        if (state.attempts > 0) yield* Metric.update(Metrics.readerPutRetries, state.pending.length)
        state.attempts += 1
        const calls = packCalls(state.pending, config.maxPutRecords, config.maxPutBytes)
        const outcomes = yield* Effect.forEach(
          calls,
          (call) =>
            kinesis.putRecords(
              stream,
              call.map((entry) => entry.entry)
            ).pipe(
              Effect.catchIf(
                (error) => error.retryable,
                (error) => Effect.succeed(call.map((): PutResult => ({ _tag: "Failed", errorCode: "RequestFailed", errorMessage: error.message })))
              )
            ),
          { concurrency: 4 }
        )
        const failed: Array<ShardEntry> = []
        const codes = new Set<string>()
        let lastFailure: Failed | undefined
        let records = 0
        let changes = 0
        let moved: string | undefined
        calls.forEach((call, i) =>
          call.forEach((entry, j) => {
            const result = outcomes[i]?.[j]
            if (result?._tag === "Written") {
              records += 1
              changes += entry.changes
              if (result.shardId !== entry.shardId) moved = `${entry.shardId} → ${result.shardId}`
            } else {
              failed.push(entry)
              lastFailure = result
              codes.add(result?.errorCode ?? "Unknown")
            }
          })
        )
        yield* Metric.update(Metrics.readerKinesisRecordsWritten, records)
        yield* Metric.update(Metrics.readerChangesWritten, changes)
        // Only news when the plan's map is still the current one (a plan made before the
        // last invalidation is expected to be off).
        if (moved !== undefined && state.generation === shardMap.generation()) {
          yield* Effect.logWarning(`Kinesis stored an aggregate on another shard than predicted (${moved}); re-reading the shard map of ${stream}`)
          yield* shardMap.invalidate
        }
        state.pending = failed
        if (failed.length > 0) {
          return yield* new PutIncomplete({
            failed: failed.length,
            // Retry only when every failure is one worth retrying unchanged.
            retryable: [...codes].every((code) => RETRYABLE_ENTRY_CODES.has(code)),
            message: `${failed.length} of ${calls.flat().length} PutRecords entries to ${stream} failed (${[...codes].join(", ")}; last: ${lastFailure?.errorMessage ?? ""})`
          })
        }
      })

    /** Writes one round (≤ one entry per shard) until every entry is written. */
    const putRound = (entries: ReadonlyArray<ShardEntry>, generation: number) => {
      const state = { pending: entries, attempts: 0, generation }
      return attemptRound(state).pipe(
        Effect.retry(putRetrySchedule),
        Effect.catchTag("PutIncomplete", (error) =>
          Effect.fail(
            new KinesisError({
              message: `${error.message} after ${state.attempts} attempts; ${error.retryable ? "the stream is over its write limits: add shards or lower the rate" : "fix the stream's configuration (e.g. its KMS key)"}`,
              retryable: error.retryable,
              cause: error
            })
          )
        )
      )
    }

    /**
     * Parks a change too large for Kinesis; it counts as durable once stored. Not retried
     * here: `DeadLetters.put` is one S3 put, which the S3 service retries (`s3RetrySchedule`).
     */
    const park = (change: PreparedChange) =>
      deadLetters
        .put({
          stage: "reader",
          bytes: dataOf(change),
          error: `change record of ${change.dataBytes} bytes (partition key ${change.partitionKeyBytes} bytes) exceeds the Kinesis record limit of ${config.maxRecordBytes} bytes`,
          position: positionOf(change.record),
          filedAt: filedAtOf(change.record)
        })
        .pipe(
          Effect.tap(() => Metric.update(Metrics.readerDeadLetters, 1)),
          Effect.tap(() =>
            Effect.logWarning(`parked an oversize change record in the dead letters: ${positionOf(change.record)}`).pipe(
              Effect.annotateLogs(isSnapshotChunk(change.record) ? { table: change.record.snapshotChunk.table } : { table: change.record.table, commitLsn: change.record.commitLsn })
            )
          )
        )

    const writePlan = (batchPlan: BatchPlan, generation: number) =>
      Effect.gen(function* () {
        yield* Effect.forEach(batchPlan.deadLetters, park, { discard: true })
        const rounds = roundCount(batchPlan.lanes)
        for (let r = 0; r < rounds; r++) yield* putRound(roundOf(batchPlan.lanes, r), generation)
      })

    /** Routes and aggregates `batch` ahead of its write: the CPU-heavy part (JSON, hashing, aggregation) is done by then. */
    const prepare = (batch: MicroBatch) =>
      Effect.gen(function* () {
        const generation = shardMap.generation()
        const last = lastReplicationChange(batch.changes)
        return {
          plan: batch.changes.length === 0 ? undefined : yield* plan(batch),
          generation,
          changes: batch.changes.length,
          bytes: batch.bytes,
          durableLsn: batch.durableLsn,
          committedAt: last === undefined ? undefined : commitMillis(last.commitTs)
        } satisfies PlannedBatch
      })

    const writeBatch = Effect.fn("KinesisProducer.writeBatch")(function* (batch: PlannedBatch) {
      yield* Effect.annotateCurrentSpan({ changes: batch.changes, bytes: batch.bytes, durableLsn: batch.durableLsn ?? "" })
      if (batch.plan !== undefined) {
        yield* writePlan(batch.plan, batch.generation)
        yield* Metric.update(Metrics.readerMicroBatchChanges, batch.changes)
        if (batch.committedAt !== undefined) {
          yield* Metric.update(Metrics.readerCommitToKinesisLagMs, (yield* Clock.currentTimeMillis) - batch.committedAt)
          yield* Metric.update(Metrics.readerLastDurableCommitMs, batch.committedAt)
        }
      }
      if (batch.durableLsn !== undefined) yield* onDurable(batch.durableLsn)
    })

    // Two stages: encoding, routing and aggregation run ahead (one planned batch queued)
    // while the previous batch is written, so the CPU work overlaps Kinesis' latency;
    // writes stay one batch at a time, in order.
    yield* items.pipe(
      Stream.groupedWithin(config.maxBatchChanges, config.lingerMs),
      Stream.mapEffect((group) => Effect.forEach(splitIntoBatches(group, maxBatchBytes), prepare)),
      Stream.flattenIterable,
      Stream.buffer({ capacity: 1 }),
      Stream.runForEach(writeBatch)
    )
  }).pipe(Effect.annotateLogs({ component: "cdc-reader", stage: "producer", stream: config.streamName }))
