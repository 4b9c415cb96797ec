/**
 * The archiver: the local stand-in for Firehose with the Kinesis stream as its source
 * (DESIGN.md §1, §4; in AWS, Firehose does this). A `MicroBatchHandler` under the consumer
 * name `archiver`: every user record's bytes (the change record JSON, unchanged) become one
 * line; a micro-batch's lines are written as NDJSON objects of at most `bufferBytes` under
 * Firehose's keys. Details: stream-processors/SPEC.md §2.
 *
 * Invariants:
 *  - A page is answered `Processed` only once all its lines are in S3, so a checkpoint
 *    never covers a line that is not archived; a failed put fails the whole micro-batch.
 *  - Windows close at `bufferBytes` or `bufferIntervalMs` after their first page, or at
 *    once on a full page (the shard is behind) — Firehose's buffering hints.
 *  - Objects hold each shard's records in shard order; at-least-once: a record can be
 *    archived twice (a crash between put and checkpoint), never missed.
 *  - A record that is not a valid KPL aggregate: the lines before it are archived and
 *    acknowledged, it is handed over again and fails — never skipped.
 */
import type { Kinesis } from "@totes-cdc/platform"
import { S3, type S3Error } from "@totes-cdc/platform"
import { Clock, Effect } from "effect"
import { randomUUID } from "node:crypto"
import type { CheckpointStore } from "../consumer/CheckpointStore.ts"
import { type DeaggregationError, failed, type MicroBatchHandler, partiallyFailed, processed } from "../consumer/MicroBatch.ts"
import { defaultPollerConfig, type PollerConfig, type PollerError, runShardPoller } from "../consumer/ShardPoller.ts"
import { archiveObjectKey, pageLines, cutObjects, DEFAULT_ARCHIVE_PREFIX, DEFAULT_BUFFER_BYTES, DEFAULT_BUFFER_INTERVAL_MS } from "./ArchiveBuffer.ts"

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
  /** Size threshold of a window and largest object (unless one line is larger). Default 5 MiB. */
  readonly bufferBytes?: number
}

/** The archiver: the handler's settings, the interval threshold and the poller's (consumer `archiver`, `batchSize` 10,000 unless overridden). */
export interface ArchiverConfig extends ArchiveHandlerConfig {
  /** Interval threshold, from a window's first page. Default 60,000. */
  readonly bufferIntervalMs?: number
  readonly poller?: Partial<Omit<PollerConfig, "window">>
}

/**
 * The archiver's micro-batch handler (module header): writes the lines of all pages, then
 * answers each page. Fails with `S3Error` when an object cannot be stored (every page
 * failed); a page whose first record is not a valid aggregate answers `Failed(DeaggregationError)`.
 */
export const makeArchiveHandler = (config: ArchiveHandlerConfig): Effect.Effect<MicroBatchHandler<S3Error | DeaggregationError, never>, never, S3> =>
  Effect.gen(function* () {
    const s3 = yield* S3
    const prefix = config.prefix ?? DEFAULT_ARCHIVE_PREFIX
    const bufferBytes = config.bufferBytes ?? DEFAULT_BUFFER_BYTES

    /** Writes one object under a fresh key (S3's retry policy applies; a retry rewrites the same key with the same bytes). */
    const putObject = Effect.fn("Archiver.putObject")(function* (body: Uint8Array) {
      const key = archiveObjectKey(prefix, config.stream, new Date(yield* Clock.currentTimeMillis), randomUUID())
      yield* s3.putObject(config.bucket, key, body, "application/x-ndjson")
      yield* Effect.logDebug(`archived ${body.byteLength} bytes to s3://${config.bucket}/${key}`)
    })

    return Effect.fn("Archiver.microBatch")(function* (pages) {
      const perPage = pages.map(pageLines)
      yield* Effect.forEach(cutObjects(perPage.flatMap((page) => page.lines), bufferBytes), putObject, { discard: true })
      return pages.map((page, i) => {
        const failure = perPage[i]!.failed
        if (failure === undefined) return processed
        return failure.sequenceNumber === page.records[0]!.sequenceNumber ? failed(failure) : partiallyFailed(failure.sequenceNumber)
      })
    })
  })

/**
 * Runs the archiver forever: every shard of `config.stream` into `config.bucket` (module
 * header). Consumer `archiver` unless `config.poller.consumer` says otherwise. Fails with
 * `S3Error`, `DeaggregationError` (once a poller's retries are spent) or a `PollerError`.
 */
export const runArchiver = (config: ArchiverConfig): Effect.Effect<never, S3Error | DeaggregationError | PollerError, Kinesis | S3 | CheckpointStore> =>
  Effect.gen(function* () {
    const poller: PollerConfig = {
      ...defaultPollerConfig(ARCHIVER_CONSUMER, config.stream),
      batchSize: ARCHIVER_BATCH_SIZE,
      ...config.poller,
      stream: config.stream,
      window: {
        maxBytes: config.bufferBytes ?? DEFAULT_BUFFER_BYTES,
        maxWaitMs: config.bufferIntervalMs ?? DEFAULT_BUFFER_INTERVAL_MS,
        closeWhenEveryShard: false,
        closeOnFullPage: true
      }
    }
    return yield* runShardPoller(poller, yield* makeArchiveHandler(config))
  }).pipe(Effect.annotateLogs({ component: "archiver" }))
