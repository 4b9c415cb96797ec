/**
 * The archiver: the local stand-in for Firehose with the Kinesis stream as its source
 * (DESIGN.md §1, §4). A `BatchHandler` driven by `runShardPoller` under the consumer name
 * `archiver`: it de-aggregates every Kinesis record, appends each user record's bytes (the
 * change record JSON, unchanged) as one line to a buffer shared by all shards, and writes
 * the buffer as newline-delimited objects to the ingestion bucket under Firehose's keys
 * (`raw/YYYY/MM/DD/HH/<stream>-1-YYYY-MM-DD-HH-MM-SS-<uuid>`, UTC flush time). In AWS
 * there is no archiver: Firehose does this.
 *
 * Checkpoints and flushes — "hold the call open until the lines are durable":
 *  - A handler call answers only once every line of its batch is in S3 (the flush that took
 *    its lines succeeded). The poller checkpoints a batch only after the call answers
 *    `Processed`, so a checkpoint never covers a line that is not in S3.
 *  - Buffering happens ACROSS SHARDS: each shard's fiber parks its current batch in the
 *    shared buffer and waits; the buffer is flushed — by whichever waiting call sees it due —
 *    when it reaches `bufferBytes`, when `bufferIntervalMs` has passed since its first line,
 *    or at once when a batch arrives full (`batchSize` records: the shard is behind, so
 *    waiting would only slow the catch-up). Within one shard a buffer holds at most one
 *    batch, so objects hold the records of each shard in shard order, and a shard's next
 *    batch is read only after its previous one is written and checkpointed. The archiver's
 *    default `batchSize` is therefore GetRecords' maximum, 10,000 records (of KPL aggregates).
 *  - A flush cuts the buffer into objects of at most `bufferBytes` (whole lines; one larger
 *    line is an object by itself) and writes them one after another.
 *  - A failed flush (S3 error once `archiveRetrySchedule` is exhausted, or the flushing call
 *    interrupted) fails every call whose lines it held: the poller hands those batches over
 *    again, nothing of them is checkpointed.
 *  - At-least-once: a crash (or stop) after a flush but before its checkpoint, or a put that
 *    S3 stored but reported as failed, writes those lines again on restart / retry: the
 *    archive can hold a record twice, never miss one. Readers of the archive deduplicate
 *    by (commitLsn, commitIdx, table, key) where it matters.
 *  - Never overwritten: every put attempt — a retry included — uses a new key with a fresh
 *    random UUID (v4, 122 random bits), so no key is ever written twice; there is no
 *    absence check (S3's `If-None-Match` is not available on s3rver, and a check-then-put
 *    would race anyway).
 *  - A record that is not a valid KPL aggregate: the lines before it are written and
 *    acknowledged (`PartiallyFailed` at it); it is then handed over again and fails with
 *    `DeaggregationError` — never skipped (the poller retries it with a backoff).
 *  - Lines are written verbatim: a user record containing a newline byte would break the
 *    NDJSON framing (the reader's records are `JSON.stringify` output: they never do).
 */
import { retryableBackoff, S3, S3Error } from "@totes-cdc/platform"
import { Cause, Clock, Deferred, Effect, Exit, Semaphore } from "effect"
import { randomUUID } from "node:crypto"
import { type BatchHandler, type DeaggregationError, partiallyFailed, processed } from "../consumer/BatchHandler.ts"
import type { CheckpointStore } from "../consumer/CheckpointStore.ts"
import { defaultPollerConfig, type PollerConfig, type PollerError, runShardPoller } from "../consumer/ShardPoller.ts"
import type { Kinesis } from "@totes-cdc/platform"
import {
  appendLines,
  type ArchiveBuffer,
  archiveObjectKey,
  batchLines,
  cutObjects,
  DEFAULT_ARCHIVE_PREFIX,
  DEFAULT_BUFFER_BYTES,
  DEFAULT_BUFFER_INTERVAL_MS,
  deadlineOf,
  isDue,
  startBuffer
} from "./ArchiveBuffer.ts"

/** The archiver's consumer name (its checkpoints are `state/consumers/archiver/<shard>.json`). */
export const ARCHIVER_CONSUMER = "archiver"

/** GetRecords' maximum page size: the archiver's default `batchSize`. */
export const ARCHIVER_BATCH_SIZE = 10_000

/** Where and how the archive is written. Sizes in bytes, durations in ms. */
export interface ArchiveHandlerConfig {
  /** The stream's name: the word before `-1-` in object names. */
  readonly stream: string
  /** The ingestion bucket. */
  readonly bucket: string
  /** Key prefix ending in `/`. Default `raw/`. */
  readonly prefix?: string
  /** Size threshold (and largest object, unless one line is larger). Default 5 MiB. */
  readonly bufferBytes?: number
  /** Interval threshold, from the buffer's first line. Default 60,000. */
  readonly bufferIntervalMs?: number
  /** A batch of this many records or more is flushed at once (the shard is behind). Default: never. */
  readonly fullBatchSize?: number
}

/** The archiver: the handler's settings plus the poller's (consumer `archiver`, `batchSize` 10,000 unless overridden). */
export interface ArchiverConfig extends Omit<ArchiveHandlerConfig, "fullBatchSize"> {
  readonly poller?: Partial<PollerConfig>
}

/**
 * Retry policy of one object's put (each attempt under a new key): 100 ms, 200 ms, …
 * doubling, capped at 2 s, jittered, at most 10 retries, only while the S3 error is retryable.
 */
export const archiveRetrySchedule = retryableBackoff("2 seconds", 10)

/** One buffer's lifetime: its lines, and the outcome of the flush that writes them. */
interface Generation {
  buffer: ArchiveBuffer
  readonly done: Deferred.Deferred<void, S3Error>
}

/**
 * The archiver's batch handler (see the module header): answers a batch only once its
 * lines are in S3. Needs S3 to build; the handler itself needs nothing.
 */
export const makeArchiveHandler = (config: ArchiveHandlerConfig): Effect.Effect<BatchHandler<S3Error | DeaggregationError, never>, never, S3> =>
  Effect.gen(function* () {
    const s3 = yield* S3
    const prefix = config.prefix ?? DEFAULT_ARCHIVE_PREFIX
    const thresholds = {
      bufferBytes: config.bufferBytes ?? DEFAULT_BUFFER_BYTES,
      bufferIntervalMs: config.bufferIntervalMs ?? DEFAULT_BUFFER_INTERVAL_MS
    }
    const lock = yield* Semaphore.make(1)
    let current: Generation | undefined

    /** Writes one object under a fresh key per attempt. */
    const putObject = (body: Uint8Array) =>
      Effect.gen(function* () {
        const at = new Date(yield* Clock.currentTimeMillis)
        const key = archiveObjectKey(prefix, config.stream, at, randomUUID())
        yield* s3.putObject(config.bucket, key, body, "application/x-ndjson")
        yield* Effect.logDebug(`archived ${body.byteLength} bytes to s3://${config.bucket}/${key}`)
      }).pipe(Effect.retry(archiveRetrySchedule))

    /**
     * Flushes `generation` unless another call already took it. Whoever takes it completes
     * its `done` — with the put's outcome, or a retryable `S3Error` when interrupted mid-way.
     */
    const flush = (generation: Generation) =>
      Effect.uninterruptibleMask((restore) =>
        Effect.gen(function* () {
          const mine = yield* lock.withPermits(1)(
            Effect.sync(() => {
              if (current !== generation) return false
              current = undefined
              return true
            })
          )
          if (!mine) return
          const objects = cutObjects(generation.buffer.lines, thresholds.bufferBytes)
          const exit = yield* Effect.exit(restore(Effect.forEach(objects, putObject, { discard: true })))
          const interrupted = new S3Error({
            message: `archive flush to s3://${config.bucket}/${prefix} was interrupted; its batches are handed over again`,
            retryable: true
          })
          yield* Deferred.done(generation.done, Exit.isFailure(exit) && Cause.hasInterruptsOnly(exit.cause) ? Exit.fail(interrupted) : exit)
        })
      ).pipe(Effect.withSpan("Archiver.flush"))

    /** Appends `lines` to the current buffer (a new one when there is none); answers it and whether it is due now. */
    const append = (lines: ReadonlyArray<Uint8Array>, full: boolean) =>
      lock.withPermits(1)(
        Effect.gen(function* () {
          const now = yield* Clock.currentTimeMillis
          if (current === undefined) current = { buffer: startBuffer(lines, now), done: yield* Deferred.make<void, S3Error>() }
          else current.buffer = appendLines(current.buffer, lines)
          return { generation: current, due: full || isDue(current.buffer, thresholds, now) }
        })
      )

    /** Puts `lines` in the buffer and waits until they are in S3 (flushing when due). */
    const archive = (lines: ReadonlyArray<Uint8Array>, full: boolean) =>
      Effect.gen(function* () {
        const { generation, due } = yield* append(lines, full)
        if (due) yield* flush(generation)
        else {
          const wait = Math.max(0, deadlineOf(generation.buffer, thresholds) - (yield* Clock.currentTimeMillis))
          yield* Effect.raceFirst(Deferred.await(generation.done), Effect.sleep(wait).pipe(Effect.andThen(flush(generation))))
        }
        yield* Deferred.await(generation.done)
      })

    return (batch) =>
      Effect.gen(function* () {
        const { lines, failed } = batchLines(batch)
        if (lines.length > 0) yield* archive(lines, config.fullBatchSize !== undefined && batch.records.length >= config.fullBatchSize)
        if (failed === undefined) return processed
        if (failed.sequenceNumber === batch.records[0]?.sequenceNumber) return yield* failed
        return partiallyFailed(failed.sequenceNumber)
      }).pipe(Effect.withSpan("Archiver.handle", { attributes: { shardId: batch.shardId, records: batch.records.length } }))
  })

/**
 * Runs the archiver forever: every shard of `config.stream` into `config.bucket` (see the
 * module header). Consumer `archiver` unless `config.poller.consumer` says otherwise.
 */
export const runArchiver = (
  config: ArchiverConfig
): Effect.Effect<never, S3Error | DeaggregationError | PollerError, Kinesis | S3 | CheckpointStore> =>
  Effect.gen(function* () {
    const poller: PollerConfig = {
      ...defaultPollerConfig(ARCHIVER_CONSUMER, config.stream),
      batchSize: ARCHIVER_BATCH_SIZE,
      ...config.poller,
      stream: config.stream
    }
    const handler = yield* makeArchiveHandler({ ...config, fullBatchSize: poller.batchSize })
    return yield* runShardPoller(poller, handler)
  }).pipe(Effect.annotateLogs({ component: "archiver" }))
