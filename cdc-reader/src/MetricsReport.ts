/**
 * The reader's periodic metrics report: the values of the catalogue's `cdc-reader`
 * metrics (core's Metrics.ts: the in-process counters and gauges, the slot's lag read from
 * PostgreSQL), emitted as a CloudWatch Embedded Metric Format (EMF) log line (core's
 * CloudWatchMetrics.ts) and stored in S3 beside the reader state, where `totes-cdc status`
 * reads it. The snapshot's fields are the catalogue's names.
 *
 * Invariants: the EMF line is one JSON object on one line (CloudWatch Logs turns it
 * into metrics without any API call); the snapshot object is replaced each interval,
 * never appended to.
 */
import { S3, type PgSession } from "@totes-cdc/platform"
import { Clock, Effect, Metric, Option, Schedule, Schema } from "effect"
import { emfLine as coreEmfLine, emfMetricNames, Metrics } from "@totes-cdc/core"
import type { ReaderStateLocation } from "./ReaderStateStore.ts"
import { slotStatus } from "./Slot.ts"
import type { SnapshotProgress } from "./Snapshot.ts"

/** One report. Counts are totals since the reader process started. */
export const ReaderMetricsSnapshot = Schema.Struct({
  at: Schema.String,
  slot: Schema.String,
  changesWritten: Schema.Number,
  kinesisRecordsWritten: Schema.Number,
  putRetries: Schema.Number,
  deadLetters: Schema.Number,
  /** Changes written per second over the last interval. */
  changesPerSecond: Schema.Number,
  /** Mean changes per producer micro-batch since start. */
  microBatchChanges: Schema.Number,
  /** ms from commit to durable in Kinesis, latest batch. */
  commitToKinesisLagMs: Schema.Number,
  /** Commit time (ms since the epoch) of the newest replication change durable in Kinesis; null before the first. */
  lastDurableCommitMs: Schema.NullOr(Schema.Number),
  /** The running snapshot (rows read so far, of the whole snapshot and of `table`; rows/s since it started); null when none runs. */
  snapshot: Schema.optional(
    Schema.NullOr(Schema.Struct({ table: Schema.String, tableRows: Schema.Number, rows: Schema.Number, rowsPerSecond: Schema.Number }))
  ),
  /** WAL the slot holds back (bytes), and how far its confirmation trails the WAL end (bytes). */
  slotRetainedWalBytes: Schema.NullOr(Schema.Number),
  slotConfirmedLagBytes: Schema.NullOr(Schema.Number)
})
export type ReaderMetricsSnapshot = typeof ReaderMetricsSnapshot.Type

/** The snapshot's fields published to CloudWatch: the catalogue's reader metrics, in its order. */
const EMF_METRICS = emfMetricNames("cdc-reader")

/** Pure: the CloudWatch EMF line of a snapshot (core's `emfLine`: namespace "totes-cdc", dimensions Component + Slot). */
export const emfLine = (snapshot: ReaderMetricsSnapshot): string =>
  coreEmfLine("cdc-reader", { Slot: snapshot.slot }, Object.fromEntries(EMF_METRICS.map((name) => [name, snapshot[name]])), Date.parse(snapshot.at))

/** Key of the metrics snapshot of `slot`. */
export const metricsKey = (location: ReaderStateLocation, slot: string) => `${location.prefix}${slot}.metrics.json`

/** The last stored snapshot of `slot`, if any. Fails with `S3Error`. */
export const loadMetricsSnapshot = (location: ReaderStateLocation, slot: string) =>
  Effect.gen(function* () {
    const s3 = yield* S3
    const body = yield* s3.getObject(location.bucket, metricsKey(location, slot))
    if (Option.isNone(body)) return undefined
    return yield* Schema.decodeUnknownEffect(Schema.fromJsonString(ReaderMetricsSnapshot))(new TextDecoder().decode(body.value)).pipe(
      Effect.orElseSucceed(() => undefined)
    )
  })

export interface MetricsReportOptions {
  readonly slot: string
  readonly location: ReaderStateLocation
  readonly intervalMs: number
  /** Write EMF lines to stdout (for CloudWatch; off on a terminal). */
  readonly emf: boolean
  /** The running snapshot's latest progress (null: none). */
  readonly snapshot?: Effect.Effect<SnapshotProgress | null>
}

/** Reports every `intervalMs` until interrupted. Never fails: a failed report is logged and retried next interval. */
export const reportMetrics = (db: PgSession, options: MetricsReportOptions): Effect.Effect<never, never, S3> =>
  Effect.gen(function* () {
    let last = { at: yield* Clock.currentTimeMillis, written: 0 }
    const once = Effect.gen(function* () {
      const now = yield* Clock.currentTimeMillis
      const written = (yield* Metric.value(Metrics.readerChangesWritten)).count
      const batches = yield* Metric.value(Metrics.readerMicroBatchChanges)
      const slot = yield* slotStatus(db, options.slot)
      const progress = options.snapshot === undefined ? null : yield* options.snapshot
      const snapshot: ReaderMetricsSnapshot = {
        at: new Date(now).toISOString(),
        slot: options.slot,
        changesWritten: written,
        kinesisRecordsWritten: (yield* Metric.value(Metrics.readerKinesisRecordsWritten)).count,
        putRetries: (yield* Metric.value(Metrics.readerPutRetries)).count,
        deadLetters: (yield* Metric.value(Metrics.readerDeadLetters)).count,
        changesPerSecond: Math.round(((written - last.written) * 1000) / Math.max(now - last.at, 1)),
        microBatchChanges: batches.count === 0 ? 0 : Math.round(batches.sum / batches.count),
        commitToKinesisLagMs: (yield* Metric.value(Metrics.readerCommitToKinesisLagMs)).value,
        lastDurableCommitMs: (yield* Metric.value(Metrics.readerLastDurableCommitMs)).value || null,
        snapshot: progress === null ? null : { table: progress.table, tableRows: progress.tableRows, rows: progress.totalRows, rowsPerSecond: progress.rowsPerSecond },
        slotRetainedWalBytes: slot.retainedWalBytes ?? null,
        slotConfirmedLagBytes: slot.confirmedLagBytes ?? null
      }
      last = { at: now, written }
      if (options.emf) yield* Effect.sync(() => process.stdout.write(`${emfLine(snapshot)}\n`))
      const s3 = yield* S3
      yield* s3.putObject(options.location.bucket, metricsKey(options.location, options.slot), JSON.stringify(snapshot), "application/json")
    }).pipe(Effect.catch((error) => Effect.logWarning(`metrics report failed: ${error.message}`)))
    return yield* Effect.repeat(once, Schedule.spaced(options.intervalMs)).pipe(Effect.andThen(Effect.never))
  })
