/**
 * Replaying a recording (`totes-cdc record`'s file) into a Kinesis stream through the
 * reader's own producer (cdc-reader's `runProducer`: the same partition keys, KPL
 * aggregation, PutRecords batching, retries and dead letters as a live reader), paced by
 * the records' `commitTs` (Pacing.ts). Used by `totes-cdc dev --replay` and
 * `totes-cdc replay-recording` (issue 15).
 *
 * Invariants:
 *  - Records go in file order (commit order: RecordingReader.ts refuses anything else), so
 *    each key's changes reach their shard in commit order, as from the reader.
 *  - A record is never sent before it is due; it may be late by the producer's linger
 *    (≤ 50 ms) and Kinesis' latency, never early.
 *  - The report is returned only once every record is durable (written to Kinesis, or an
 *    oversize one parked in the dead letters, as the reader does).
 *  - Memory: one line of the file plus the producer's bound (three micro-batches).
 *  - The file is read again here: callers check it whole first (`checkRecording`) so a
 *    damaged recording is refused before anything is fed.
 */
import { type ChangeRecord } from "@totes-cdc/core"
import { type ProducerConfig, type ProducerItem, runProducer } from "@totes-cdc/cdc-reader"
import { type DeadLetters, type Kinesis, type KinesisError, type S3Error } from "@totes-cdc/platform"
import { readRecording, type RecordingError } from "@totes-cdc/stream-processors"
import { Clock, Duration, Effect, Stream } from "effect"
import { makePacer, type Pace } from "./Pacing.ts"

export interface FeedRecordingConfig {
  /** The recording: NDJSON, plain or gzip. */
  readonly path: string
  readonly pace: Pace
  /** The reader's producer settings for the target stream (`defaultProducerConfig(stream)`). */
  readonly producer: ProducerConfig
}

/** What a replay fed. */
export interface FeedReport {
  readonly records: number
  /** From the first record's send to the last one durable, ms. */
  readonly elapsedMs: number
  /** Commit times of the first and last record, ms since the epoch (undefined for an empty recording). */
  readonly firstCommitMs: number | undefined
  readonly lastCommitMs: number | undefined
  /** The last record's commit LSN: every change up to it is in the stream (undefined when empty). */
  readonly lastCommitLsn: string | undefined
}

/**
 * Feeds the recording at `config.path` into `config.producer.streamName`, calling
 * `onFed(records)` after each record handed to the producer (for progress; at most three
 * micro-batches ahead of what is durable). Fails with `RecordingError` (the file changed
 * since it was checked), `KinesisError` (the stream refuses writes after the producer's
 * retries) or `S3Error` (a dead letter cannot be stored). Needs `Kinesis`, `DeadLetters`.
 */
export const feedRecording = (
  config: FeedRecordingConfig,
  onFed: (records: number) => Effect.Effect<void> = () => Effect.void
): Effect.Effect<FeedReport, RecordingError | KinesisError | S3Error, Kinesis | DeadLetters> =>
  Effect.gen(function* () {
    const pacer = makePacer(config.pace)
    const start = yield* Clock.currentTimeMillis
    let records = 0
    let first: ChangeRecord | undefined
    let last: ChangeRecord | undefined
    const paced = (change: ChangeRecord) =>
      Effect.gen(function* () {
        const wait = start + pacer.dueAfter(change.commitTs) - (yield* Clock.currentTimeMillis)
        if (wait > 0) yield* Effect.sleep(Duration.millis(wait))
        first ??= change
        last = change
        records += 1
        yield* onFed(records)
        return { _tag: "Change", record: change } satisfies ProducerItem
      })
    const items = readRecording(config.path).pipe(Stream.mapEffect(({ change }) => paced(change)))
    yield* runProducer(items, config.producer, () => Effect.void)
    const commitMs = (change: ChangeRecord | undefined) => {
      const ms = change === undefined ? Number.NaN : Date.parse(change.commitTs)
      return Number.isNaN(ms) ? undefined : ms
    }
    return {
      records,
      elapsedMs: (yield* Clock.currentTimeMillis) - start,
      firstCommitMs: commitMs(first),
      lastCommitMs: commitMs(last),
      lastCommitLsn: (last as ChangeRecord | undefined)?.commitLsn
    }
  }).pipe(Effect.annotateLogs({ component: "replay", recording: config.path }))
