/**
 * The local driver of a `MicroBatchHandler`: what a Lambda event source mapping does in
 * AWS — read every shard, hand pages to the consumer, checkpoint, retry, finish parents
 * before children — for one consumer name in one process (run ONE poller per name).
 * Semantics in detail: stream-processors/SPEC.md §1.
 *
 * Invariants:
 *  - Each shard's fiber reads pages (one read ahead while the shard is behind) and offers
 *    each to one window; the windows are cut by `Stream.aggregateWithin`
 *    (MicroBatchWindow.ts) and handled one at a time; a page is checkpointed only after the
 *    handler answered it, and a shard offers its next page only after that, so a shard's
 *    pages are handled in order, once each unless a hand-over failed.
 *  - A handler call that completed has its checkpoints written even while stopping.
 *  - A failed page is handed over again after a backoff, never skipped; a handler defect
 *    stops the poller. A child shard starts once its listed parents have ended.
 */
import { Metrics } from "@totes-cdc/core"
import { cappedBackoff, Kinesis, type KinesisError, type KinesisShard, retryableBackoff, type S3Error } from "@totes-cdc/platform"
import { Cause, Deferred, Effect, Exit, Fiber, FiberSet, Metric, Option, Queue, Schedule, Schema, Sink, Stream } from "effect"
import type { KinesisBatchRecord, MicroBatchHandler, PageResult, ShardPage } from "./MicroBatch.ts"
import { emptyWindow, IMMEDIATE_WINDOW, joinWindow, type MicroBatchWindow, type OpenWindow, windowIsDue } from "./MicroBatchWindow.ts"
import { type Checkpoint, type CheckpointError, CheckpointStore } from "./CheckpointStore.ts"

/** What the poller consumes and how. Durations in milliseconds. */
export interface PollerConfig {
  /** Consumer name: its checkpoints are its own (one poller per name). */
  readonly consumer: string
  readonly stream: string
  /** Records per GetRecords page at most (ESM BatchSize). Default 1,000. */
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
   * Hand a failed page over again at most this many times, then fail the poller with the
   * handler's error (ESM MaximumRetryAttempts, except that nothing is skipped). Default: no limit.
   */
  readonly maxPageRetries?: number
  /** When a micro-batch window closes. Default `IMMEDIATE_WINDOW` (each window: the pages already read). */
  readonly window?: MicroBatchWindow
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

/** A handler kept answering `PartiallyFailed` for a record until `maxPageRetries` ran out. */
export class PageRecordFailed extends Schema.TaggedError<PageRecordFailed>()("PageRecordFailed", {
  message: Schema.String,
  shardId: Schema.String,
  sequenceNumber: Schema.String
}) {}

/**
 * Backoff between hand-overs of a failed page: 100 ms, 200 ms, 400 ms, … doubling, capped
 * at 10 s, jittered (×0.8–1.2). Unlimited unless `maxPageRetries` is set.
 */
export const pageRetrySchedule = cappedBackoff("10 seconds")

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

/** Every error the poller can fail with, besides the handler's. */
export type PollerError = KinesisError | S3Error | CheckpointError | PageRecordFailed

/** A page offered to the window, and where its answer goes once it is checkpointed. */
interface Offer<E> {
  readonly page: ShardPage
  readonly bytes: number
  readonly full: boolean
  /** The page holds its shard's last records. */
  readonly endsShard: boolean
  readonly answer: Deferred.Deferred<PageResult<E>>
}

/**
 * Consumes every shard of `config.stream` with `handler`, forever (module header;
 * stream-processors/SPEC.md §1). Fails when a shard cannot be read or checkpointed, or with
 * the handler's error once `maxPageRetries` is exhausted; dies on a handler defect.
 * Interrupting it stops every fiber; a handler call in flight is abandoned (its pages are
 * handed over again on restart).
 */
export const runShardPoller = <E, R>(
  config: PollerConfig,
  handler: MicroBatchHandler<E, R>
): Effect.Effect<never, E | PollerError, R | Kinesis | CheckpointStore> =>
  Effect.scoped(
    Effect.gen(function* () {
      const kinesis = yield* Kinesis
      const store = yield* CheckpointStore
      const { consumer, stream } = config
      const limits = config.window ?? IMMEDIATE_WINDOW
      const retrySchedule = config.maxPageRetries === undefined ? pageRetrySchedule : pageRetrySchedule.pipe(Schedule.upTo({ times: config.maxPageRetries }))
      const metric = <I, S>(m: Metric.Metric<I, S>, shardId: string) => Metric.withAttributes(m, Metrics.consumerAttributes(consumer, shardId))

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

      /** Checkpoints what `result` says of `offer`'s page was processed. */
      const checkpoint = (offer: Offer<E>, result: PageResult<E>) => {
        const { records, shardId } = offer.page
        const upTo =
          result._tag === "Processed"
            ? records.length
            : result._tag === "PartiallyFailed"
              ? Math.max(0, records.findIndex((record) => record.sequenceNumber === result.firstFailedSequenceNumber))
              : 0
        if (upTo === 0) return Effect.void
        return store
          .put(consumer, shardId, { sequenceNumber: records[upTo - 1]!.sequenceNumber, shardEnded: offer.endsShard && upTo === records.length })
          .pipe(Effect.andThen(Metric.update(metric(Metrics.consumerRecordsProcessed, shardId), upTo)))
      }

      /**
       * Hands one window's pages to the handler; once it answered, checkpoints every page
       * (even while stopping) and tells each shard its page's answer. A typed failure is
       * every page's `Failed`; a defect or an interruption ends the poller.
       */
      const handleWindow = (offers: ReadonlyArray<Offer<E>>) =>
        Effect.uninterruptibleMask((restore) =>
          Effect.gen(function* () {
            const exit = yield* Effect.exit(restore(handler(offers.map((offer) => offer.page))))
            if (Exit.isFailure(exit) && !Cause.hasFails(exit.cause)) return yield* Effect.failCause(exit.cause as Cause.Cause<never>)
            const results: ReadonlyArray<PageResult<E>> = Exit.isSuccess(exit)
              ? exit.value
              : offers.map(() => ({ _tag: "Failed" as const, error: Cause.squash(exit.cause) as E }))
            if (results.length !== offers.length) {
              return yield* Effect.die(new Error(`consumer ${consumer} answered ${results.length} results for a micro-batch of ${offers.length} pages`))
            }
            yield* Effect.forEach(offers, (offer, i) => checkpoint(offer, results[i]!), { concurrency: "unbounded", discard: true })
            yield* Effect.forEach(offers, (offer, i) => Deferred.succeed(offer.answer, results[i]!), { discard: true })
          })
        ).pipe(Effect.withSpan("ShardPoller.microBatch", { attributes: { consumer, pages: offers.length } }))

      const inbox = yield* Queue.unbounded<Offer<E>>()
      const running = new Set<string>()

      /**
       * Offers `records` (the rest of a page) to the window until all are processed: each
       * answer's processed part is already checkpointed; the rest is offered again after a
       * backoff.
       */
      const deliver = (shardId: string, records: ReadonlyArray<KinesisBatchRecord>, full: boolean, endsShard: boolean) => {
        let remaining = records
        const attempt = Effect.gen(function* () {
          yield* Metric.update(metric(Metrics.consumerPageRecords, shardId), remaining.length)
          const answer = yield* Deferred.make<PageResult<E>>()
          const bytes = remaining.reduce((sum, record) => sum + record.data.byteLength, 0)
          yield* Queue.offer(inbox, { page: { shardId, records: remaining }, bytes, full, endsShard, answer })
          const result = yield* Deferred.await(answer)
          if (result._tag === "Processed") return
          if (result._tag === "Failed") return yield* Effect.fail<E | PageRecordFailed>(result.error)
          const failedAt = remaining.findIndex((record) => record.sequenceNumber === result.firstFailedSequenceNumber)
          if (failedAt > 0) remaining = remaining.slice(failedAt)
          const first = remaining[0]!.sequenceNumber
          return yield* Effect.fail(
            new PageRecordFailed({
              message:
                failedAt < 0
                  ? `consumer ${consumer} answered PartiallyFailed(${result.firstFailedSequenceNumber}), not a record of its page of ${shardId}; the whole page from ${first} is handed over again`
                  : `consumer ${consumer} failed record ${shardId}/${first}`,
              shardId,
              sequenceNumber: first
            })
          )
        })
        return attempt.pipe(
          Effect.tapError((error) =>
            Effect.logWarning(`page of ${remaining.length} records from ${remaining[0]!.sequenceNumber} failed; handing it over again after a backoff`, error).pipe(
              Effect.andThen(Metric.update(metric(Metrics.consumerPageRetries, shardId), 1))
            )
          ),
          Effect.retry(retrySchedule)
        )
      }

      /**
       * Reads `shardId` from `start` to its end (forever while it is open). Read-ahead: while a
       * full page (the shard is behind) is handed over, the shard's next page is already being
       * read (one page ahead at most), so the handler's work and Kinesis' overlap; a shard that
       * is caught up is read again once its page is answered. The prefetched page is used only
       * after the current one is fully processed and checkpointed (`deliver` returns only
       * then, or fails the poller — interrupting the read-ahead with it).
       */
      const consumeShard = (shardId: string, start: Option.Option<Checkpoint>) =>
        Effect.gen(function* () {
          let position = Option.match(start, { onNone: () => null, onSome: (checkpoint) => checkpoint.sequenceNumber })
          let iterator = yield* iteratorAfter(shardId, position)
          yield* Effect.logDebug(position === null ? "starting at TRIM_HORIZON" : `starting after ${position}`)
          let limit = nextPageLimit(undefined, config.batchSize, config.pageBytes ?? DEFAULT_PAGE_BYTES)
          let ahead: { readonly fiber: Fiber.Fiber<Effect.Success<ReturnType<typeof readPage>>, KinesisError>; readonly limit: number } | undefined
          while (true) {
            const asked = ahead?.limit ?? limit
            const page = ahead === undefined ? yield* readPage(shardId, iterator, position, limit) : yield* Fiber.join(ahead.fiber)
            ahead = undefined
            if (page.records.length > 0) {
              const bytes = page.records.reduce((sum, record) => sum + record.data.byteLength, 0)
              limit = nextPageLimit({ records: page.records.length, bytes }, config.batchSize, config.pageBytes ?? DEFAULT_PAGE_BYTES)
            }
            if (page.millisBehindLatest !== undefined) {
              yield* Metric.update(Metric.withAttributes(Metrics.consumerIteratorAgeMs, Metrics.consumerAttributes(consumer, shardId)), page.millisBehindLatest)
            }
            const endsShard = page.nextIterator === undefined
            if (page.records.length > 0) {
              const last = page.records.at(-1)!.sequenceNumber
              // Read ahead only while the shard is behind: a shard that is caught up would read an empty page now, then sleep `idleMs` with records arriving.
              const behind = page.records.length >= asked || (page.millisBehindLatest ?? 0) > 0
              if (page.nextIterator !== undefined && behind) ahead = { fiber: yield* Effect.forkChild(readPage(shardId, page.nextIterator, last, limit)), limit }
              yield* deliver(
                shardId,
                page.records.map((record) => ({ shardId, ...record })),
                page.records.length >= asked,
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
          yield* FiberSet.run(
            fibers,
            consumeShard(shardId, checkpoints.get(shardId) ?? Option.none()).pipe(
              Effect.andThen(
                Effect.sync(() => {
                  ended.add(shardId)
                  running.delete(shardId)
                })
              ),
              Effect.andThen(Queue.offer(wake, undefined))
            )
          )
        }
      }).pipe(Effect.withSpan("ShardPoller.refresh"))

      // The windows: pages grouped until the window is due or `maxWaitMs` after its first page, handled one at a time.
      yield* FiberSet.run(
        fibers,
        Stream.fromQueue(inbox).pipe(
          Stream.aggregateWithin(
            Sink.fold(
              () => emptyWindow<Offer<E>>(),
              (window: OpenWindow<Offer<E>>) => !windowIsDue(window, limits, running.size),
              (window, offer: Offer<E>) => Effect.succeed(joinWindow(window, offer, offer.bytes, offer.full))
            ),
            Schedule.spaced(limits.maxWaitMs)
          ),
          Stream.runForEach((window) => handleWindow(window.pages))
        )
      )
      yield* FiberSet.run(
        fibers,
        Effect.forever(refresh.pipe(Effect.andThen(Effect.raceFirst(Queue.take(wake), Effect.sleep(config.shardRefreshMs)))))
      )
      yield* FiberSet.join(fibers)
      return yield* Effect.never
    })
  ).pipe(Effect.annotateLogs({ consumer: config.consumer, stream: config.stream }))
