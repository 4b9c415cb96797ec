/**
 * The reader's metrics catalogue (DESIGN.md §9 "one metrics catalogue"): every metric
 * the cdc-reader updates is defined here, once, with its unit in the name or description.
 *
 * Invariants:
 *  - Counters only ever increase (`incremental: true`); their names end in `_total`.
 *  - Metric names are stable: dashboards and alarms refer to them.
 */
import { Metric } from "effect"

/** Change records written to Kinesis (inside aggregates or as plain records). Dead letters are not counted here. */
export const changesWritten = Metric.counter("cdc_reader_changes_written_total", {
  description: "Change records durably written to Kinesis",
  incremental: true
})

/** Kinesis records (KPL aggregates, or plain records) written by PutRecords. */
export const kinesisRecordsWritten = Metric.counter("cdc_reader_kinesis_records_written_total", {
  description: "Kinesis records (aggregates) written by PutRecords",
  incremental: true
})

/** PutRecords entries sent again because an earlier attempt failed (per entry, not per call). */
export const putRetries = Metric.counter("cdc_reader_put_retries_total", {
  description: "PutRecords entries retried after a failed attempt",
  incremental: true
})

/** Change records parked in the dead-letter prefix instead of Kinesis. */
export const deadLetters = Metric.counter("cdc_reader_dead_letters_total", {
  description: "Change records written to the dead-letter prefix",
  incremental: true
})

/** Change records per producer micro-batch (count). */
export const batchChanges = Metric.histogram("cdc_reader_batch_changes", {
  description: "Change records per producer micro-batch",
  boundaries: Metric.exponentialBoundaries({ start: 1, factor: 4, count: 9 })
})

/**
 * Milliseconds from a replication change's commit to the end of the micro-batch that
 * made it durable in Kinesis (now − commitTs of the batch's last replication change).
 */
export const commitToKinesisLagMs = Metric.gauge("cdc_reader_commit_to_kinesis_lag_ms", {
  description: "ms from source commit to durable in Kinesis, for the last replication change of the latest batch"
})
