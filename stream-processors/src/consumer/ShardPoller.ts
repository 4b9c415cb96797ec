/**
 * The local driver of a `BatchHandler`: what a Lambda event source mapping (ESM) does in
 * AWS — read every shard of a stream, hand each page of records to the handler, checkpoint
 * what it processed, retry what failed, finish parent shards before their children —
 * for one consumer name in one process.
 *
 * It takes no cross-machine leases: run ONE poller per consumer name. In AWS there is no
 * poller at all: the ESM owns shard leases, checkpoints, retries and bisect-on-error, and
 * the same handler runs behind `makeKinesisLambdaHandler`.
 *
 * Semantics (the ESM's, with ReportBatchItemFailures):
 *  - One fiber per shard being consumed. A shard starts AFTER_SEQUENCE_NUMBER its checkpoint,
 *    or at TRIM_HORIZON when it has none; each non-empty GetRecords page (≤ `batchSize`
 *    records, and about ≤ `pageBytes`: the record limit adapts to the records' sizes) is
 *    one batch. While a batch is handled, the shard's next page is read ahead (one page:
 *    at most two pages of a shard in memory), and handed over only after the batch is
 *    checkpointed.
 *  - `Processed`: the batch's last sequence number is checkpointed, then the next page is
 *    read. `PartiallyFailed(seq)`: the record before `seq` is checkpointed and the batch is
 *    handed over again from `seq` after a backoff (`batchRetrySchedule`). A handler failure
 *    (typed error): the same batch is handed over again after a backoff — never skipped.
 *    A `firstFailedSequenceNumber` that is not in the batch counts as a failure of the whole
 *    batch (Lambda does the same). A defect in the handler stops the poller (a bug is not
 *    retried into a loop); a restart resumes from the checkpoints.
 *  - Once a handler call completes, its checkpoint is written even if the poller is being
 *    interrupted, so a graceful stop never hands a completed batch over again. A batch
 *    whose handler is interrupted mid-way is handed over again on restart (at-least-once).
 *  - A closed shard read to its end (no next iterator) is checkpointed `shardEnded: true`.
 *  - Resharding: a child shard starts only once every parent (`parentShardId`,
 *    `adjacentParentShardId`) still listed has a `shardEnded` checkpoint, so every record
 *    of a key range's parent is handed over before any record of its children. A parent no
 *    longer listed (trimmed past retention) does not hold its children back. New shards are
 *    found by listing the stream every `shardRefreshMs`, and at once when a shard ends.
 *  - Restart: everything resumes from the checkpoints: a checkpointed record is neither
 *    skipped nor handed over again.
 *  - Kinesis reads are retried on retryable errors (`kinesisReadRetrySchedule`); a failed
 *    GetRecords with a non-retryable error (e.g. an expired iterator, 5 minutes old) gets one
 *    fresh iterator after the checkpoint. Anything else fails the poller.
 */
import { cappedBackoff, Kinesis, type KinesisError, type KinesisShard, retryableBackoff, type S3Error } from "@totes-cdc/platform"
import { Effect, Fiber, FiberSet, Metric, Option, Queue, Schedule, Schema } from "effect"
import type { BatchHandler, KinesisBatchRecord } from "./BatchHandler.ts"
import { type Checkpoint, type CheckpointError, CheckpointStore } from "./CheckpointStore.ts"
import * as ConsumerMetrics from "./ConsumerMetrics.ts"

/** What the poller consumes and how. Durations in milliseconds. */
export interface PollerConfig {
  /** Consumer name: its checkpoints are its own (one poller per name). */
  readonly consumer: string
  readonly stream: string
  /** Records per GetRecords page = per batch (ESM BatchSize). Default 1,000. */
  readonly batchSize: number
  /**
   * Bytes a page should not exceed (default 10 MiB, Kinesis' own GetRecords cap, which
   * kinesalite does not apply): the record limit of each call is adapted to the record
   * sizes seen (`nextPageLimit`), so a backlog of 1 MiB KPL aggregates is never read
   * thousands at a time into memory.
   */
  readonly pageBytes?: number
  /** Wait before reading a shard again when it had nothing new. Default 200 (5 reads/s, Kinesis' per-shard limit). */
  readonly idleMs: number
  /** List the stream's shards again after this long. Default 10,000. */
  readonly shardRefreshMs: number
  /**
   * Hand a failed batch over again at most this many times, then fail the poller with the
   * handler's error (ESM MaximumRetryAttempts, except that nothing is skipped). Default: no limit.
   */
  readonly maxBatchRetries?: number
  /** Told the number of shards being consumed whenever it changes (e.g. the processor's window: ProcessorConfig `window.consumedShards`). */
  readonly onShardsRunning?: (shards: number) => void
}

/** The defaults above for `consumer` on `stream`. */
export const defaultPollerConfig = (consumer: string, stream: string): PollerConfig => ({
  consumer,
  stream,
  batchSize: 1_000,
  idleMs: 200,
  shardRefreshMs: 10_000
})

/** Kinesis' GetRecords cap: 10 MiB per call. */
export const DEFAULT_PAGE_BYTES = 10 * 1024 * 1024

/** Kinesis' largest record (1 MiB): a first page of `pageBytes / 1 MiB` records cannot exceed `pageBytes`. */
const MAX_RECORD_BYTES = 1024 * 1024

/**
 * Pure: the record limit of the next GetRecords call — as many records of the last
 * non-empty page's average size as fit in `pageBytes`, between 1 and `batchSize`; before
 * any such page, as many of the largest possible records as fit.
 */
export const nextPageLimit = (last: { readonly records: number; readonly bytes: number } | undefined, batchSize: number, pageBytes: number): number => {
  const average = last === undefined || last.records === 0 ? MAX_RECORD_BYTES : Math.max(1, last.bytes / last.records)
  return Math.max(1, Math.min(batchSize, Math.floor(pageBytes / average)))
}

/** A handler kept answering `PartiallyFailed` for a record until `maxBatchRetries` ran out. */
export class BatchRecordFailed extends Schema.TaggedError<BatchRecordFailed>()("BatchRecordFailed", {
  message: Schema.String,
  shardId: Schema.String,
  sequenceNumber: Schema.String
}) {}

/**
 * Backoff between hand-overs of a failed batch: 100 ms, 200 ms, 400 ms, … doubling, capped
 * at 10 s, jittered (×0.8–1.2). Unlimited unless `maxBatchRetries` is set.
 */
export const batchRetrySchedule = cappedBackoff("10 seconds")

/**
 * Retry policy of ListShards, GetShardIterator and GetRecords: 100 ms, 200 ms, … doubling,
 * capped at 5 s, jittered, at most 20 retries, only while the error is retryable.
 */
export const kinesisReadRetrySchedule = retryableBackoff("5 seconds", 20)

/**
 * Pure: the shards to start now — listed, neither running nor ended, and every parent of
 * theirs that is still listed has ended.
 */
export const startableShards = (
  shards: ReadonlyArray<KinesisShard>,
  ended: ReadonlySet<string>,
  running: ReadonlySet<string>
): ReadonlyArray<KinesisShard> => {
  const listed = new Set(shards.map((shard) => shard.shardId))
  return shards.filter(
    (shard) =>
      !ended.has(shard.shardId) &&
      !running.has(shard.shardId) &&
      [shard.parentShardId, shard.adjacentParentShardId].every((parent) => parent === undefined || !listed.has(parent) || ended.has(parent))
  )
}

/** One hand-over of a batch that did not complete: retried (after a backoff), or fatal. */
type AttemptFailure<E> =
  | { readonly _tag: "Retry"; readonly error: E | BatchRecordFailed }
  | { readonly _tag: "Fatal"; readonly error: S3Error }

/** Every error the poller can fail with, besides the handler's. */
export type PollerError = KinesisError | S3Error | CheckpointError | BatchRecordFailed

/**
 * Consumes every shard of `config.stream` with `handler`, forever (see the module header
 * for the semantics). Fails when a shard cannot be read or checkpointed, or with the
 * handler's error once `maxBatchRetries` is exhausted; dies on a handler defect.
 * Interrupting it stops every shard fiber.
 */
export const runShardPoller = <E, R>(
  config: PollerConfig,
  handler: BatchHandler<E, R>
): Effect.Effect<never, E | PollerError, R | Kinesis | CheckpointStore> =>
  Effect.scoped(
    Effect.gen(function* () {
      const kinesis = yield* Kinesis
      const store = yield* CheckpointStore
      const { consumer, stream } = config
      const retrySchedule = config.maxBatchRetries === undefined ? batchRetrySchedule : batchRetrySchedule.pipe(Schedule.upTo({ times: config.maxBatchRetries }))

      const iteratorAfter = (shardId: string, position: string | null) =>
        kinesis
          .getShardIterator(stream, shardId, position === null ? {} : { afterSequenceNumber: position })
          .pipe(Effect.retry(kinesisReadRetrySchedule))

      /** A page of at most `limit` records from `iterator`; on a non-retryable failure (expired iterator), once more from a fresh iterator after `position`. */
      const readPage = (shardId: string, iterator: string, position: string | null, limit: number) =>
        kinesis.getRecords(iterator, limit).pipe(
          Effect.retry(kinesisReadRetrySchedule),
          Effect.catch((error) =>
            error.retryable
              ? Effect.fail(error)
              : Effect.logDebug(`GetRecords failed (${error.message}); reading again from a fresh iterator`).pipe(
                  Effect.andThen(iteratorAfter(shardId, position)),
                  Effect.flatMap((fresh) => kinesis.getRecords(fresh, limit).pipe(Effect.retry(kinesisReadRetrySchedule)))
                )
          )
        )

      /**
       * Hands `records` to the handler until all are processed, checkpointing progress;
       * `endsShard`: they are the shard's last records.
       */
      const deliver = (shardId: string, records: ReadonlyArray<KinesisBatchRecord>, endsShard: boolean) => {
        const metric = <I, S>(m: Metric.Metric<I, S>) => Metric.withAttributes(m, ConsumerMetrics.attributes(consumer, shardId))
        let remaining = records
        const checkpoint = (sequenceNumber: string, shardEnded: boolean, count: number) =>
          store.put(consumer, shardId, { sequenceNumber, shardEnded }).pipe(
            Effect.mapError((error): AttemptFailure<E> => ({ _tag: "Fatal", error })),
            Effect.andThen(Metric.update(metric(ConsumerMetrics.recordsProcessed), count))
          )
        const attempt = Effect.uninterruptibleMask((restore) =>
          Effect.gen(function* () {
            yield* Metric.update(metric(ConsumerMetrics.batchRecords), remaining.length)
            const result = yield* restore(handler({ shardId, records: remaining })).pipe(
              Effect.mapError((error): AttemptFailure<E> => ({ _tag: "Retry", error }))
            )
            if (result._tag === "Processed") {
              return yield* checkpoint(remaining.at(-1)!.sequenceNumber, endsShard, remaining.length)
            }
            const failedAt = remaining.findIndex((record) => record.sequenceNumber === result.firstFailedSequenceNumber)
            if (failedAt > 0) {
              yield* checkpoint(remaining[failedAt - 1]!.sequenceNumber, false, failedAt)
              remaining = remaining.slice(failedAt)
            }
            const failed = remaining[0]!.sequenceNumber
            return yield* Effect.fail<AttemptFailure<E>>({
              _tag: "Retry",
              error: new BatchRecordFailed({
                message:
                  failedAt < 0
                    ? `consumer ${consumer} answered PartiallyFailed(${result.firstFailedSequenceNumber}), not a record of its batch of ${shardId}; the whole batch from ${failed} is handed over again`
                    : `consumer ${consumer} failed record ${shardId}/${failed}`,
                shardId,
                sequenceNumber: failed
              })
            })
          })
        )
        return attempt.pipe(
          Effect.tapError((failure) =>
            failure._tag === "Retry"
              ? Effect.logWarning(`batch of ${remaining.length} records from ${remaining[0]!.sequenceNumber} failed; handing it over again after a backoff`, failure.error).pipe(
                  Effect.andThen(Metric.update(metric(ConsumerMetrics.batchRetries), 1))
                )
              : Effect.void
          ),
          Effect.retry({ schedule: retrySchedule, while: (failure) => failure._tag === "Retry" }),
          Effect.mapError((failure) => failure.error)
        )
      }

      /**
       * Reads `shardId` from `start` to its end (forever while it is open). Read-ahead: while a
       * non-empty page is handed over, the shard's next page is already being read (one page
       * ahead at most), so the handler's work and Kinesis' overlap; the prefetched page is
       * used only after the current one is fully processed and checkpointed (`deliver`
       * returns only then, or fails the poller — interrupting the read-ahead with it).
       */
      const consumeShard = (shardId: string, start: Option.Option<Checkpoint>) =>
        Effect.gen(function* () {
          let position = Option.match(start, { onNone: () => null, onSome: (checkpoint) => checkpoint.sequenceNumber })
          let iterator = yield* iteratorAfter(shardId, position)
          yield* Effect.logDebug(position === null ? "starting at TRIM_HORIZON" : `starting after ${position}`)
          let limit = nextPageLimit(undefined, config.batchSize, config.pageBytes ?? DEFAULT_PAGE_BYTES)
          let ahead: Fiber.Fiber<Effect.Success<ReturnType<typeof readPage>>, KinesisError> | undefined
          while (true) {
            const page = ahead === undefined ? yield* readPage(shardId, iterator, position, limit) : yield* Fiber.join(ahead)
            ahead = undefined
            if (page.records.length > 0) {
              const bytes = page.records.reduce((sum, record) => sum + record.data.byteLength, 0)
              limit = nextPageLimit({ records: page.records.length, bytes }, config.batchSize, config.pageBytes ?? DEFAULT_PAGE_BYTES)
            }
            if (page.millisBehindLatest !== undefined) {
              yield* Metric.update(Metric.withAttributes(ConsumerMetrics.iteratorAgeMs, ConsumerMetrics.attributes(consumer, shardId)), page.millisBehindLatest)
            }
            const endsShard = page.nextIterator === undefined
            if (page.records.length > 0) {
              const last = page.records.at(-1)!.sequenceNumber
              if (page.nextIterator !== undefined) ahead = yield* Effect.forkChild(readPage(shardId, page.nextIterator, last, limit))
              yield* deliver(
                shardId,
                page.records.map((record) => ({ shardId, ...record })),
                endsShard
              )
              position = last
            } else if (endsShard) {
              yield* store.put(consumer, shardId, { sequenceNumber: position, shardEnded: true })
            }
            if (page.nextIterator === undefined) break
            iterator = page.nextIterator
            if (page.records.length === 0 && (page.millisBehindLatest ?? 0) === 0) yield* Effect.sleep(config.idleMs)
          }
          yield* Effect.logDebug("shard ended and fully processed")
        }).pipe(Effect.annotateLogs({ consumer, shard: shardId }), Effect.withSpan("ShardPoller.consumeShard", { attributes: { consumer, shardId } }))

      const fibers = yield* FiberSet.make<void, E | PollerError>()
      const wake = yield* Queue.sliding<void>(1)
      const ended = new Set<string>()
      const running = new Set<string>()

      /** Lists the shards, learns which ended, starts every shard that may start now. */
      const refresh = Effect.gen(function* () {
        const shards = yield* kinesis.listShards(stream).pipe(Effect.retry(kinesisReadRetrySchedule))
        const checkpoints = new Map<string, Option.Option<Checkpoint>>()
        for (const shard of shards) {
          if (ended.has(shard.shardId) || running.has(shard.shardId)) continue
          const checkpoint = yield* store.get(consumer, shard.shardId)
          if (Option.isSome(checkpoint) && checkpoint.value.shardEnded) ended.add(shard.shardId)
          else checkpoints.set(shard.shardId, checkpoint)
        }
        for (const shard of startableShards(shards, ended, running)) {
          const { shardId } = shard
          running.add(shardId)
          config.onShardsRunning?.(running.size)
          yield* FiberSet.run(
            fibers,
            consumeShard(shardId, checkpoints.get(shardId) ?? Option.none()).pipe(
              Effect.andThen(
                Effect.sync(() => {
                  ended.add(shardId)
                  running.delete(shardId)
                  config.onShardsRunning?.(running.size)
                })
              ),
              Effect.andThen(Queue.offer(wake, undefined))
            )
          )
        }
      }).pipe(Effect.withSpan("ShardPoller.refresh"))

      yield* FiberSet.run(
        fibers,
        Effect.forever(refresh.pipe(Effect.andThen(Effect.raceFirst(Queue.take(wake), Effect.sleep(config.shardRefreshMs)))))
      )
      yield* FiberSet.join(fibers)
      return yield* Effect.never
    })
  ).pipe(Effect.annotateLogs({ consumer: config.consumer, stream: config.stream }))
