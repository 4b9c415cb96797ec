/**
 * The one metrics catalogue (DESIGN.md §9): every metric any component updates is defined
 * here, once, under the prefix `totes_cdc_`, with its unit in the name or description.
 * Reader metrics are `totes_cdc_reader_*`; the Kinesis consumers' (archiver, processor) are
 * `totes_cdc_consumer_*`, attributed by `consumer` and `shard` (`consumerAttributes`).
 *
 * Invariants:
 *  - Counters only ever increase (`incremental: true`); their names end in `_total`.
 *  - Names are stable: dashboards, alarms and the Prometheus exposition refer to them.
 */
import { Metric } from "effect"

/** The prefix of every metric name. */
export const METRIC_PREFIX = "totes_cdc_"

// ---------------------------------------------------------------------------------------
// The reader (cdc-reader).

/** Change records written to Kinesis (inside aggregates or as plain records). Dead letters are not counted here. */
export const readerChangesWritten = Metric.counter("totes_cdc_reader_changes_written_total", {
  description: "Change records durably written to Kinesis",
  incremental: true
})

/** Kinesis records (KPL aggregates, or plain records) written by PutRecords. */
export const readerKinesisRecordsWritten = Metric.counter("totes_cdc_reader_kinesis_records_written_total", {
  description: "Kinesis records (aggregates) written by PutRecords",
  incremental: true
})

/** PutRecords entries sent again because an earlier attempt failed (per entry, not per call). */
export const readerPutRetries = Metric.counter("totes_cdc_reader_put_retries_total", {
  description: "PutRecords entries retried after a failed attempt",
  incremental: true
})

/** Change records parked as dead letters instead of Kinesis. */
export const readerDeadLetters = Metric.counter("totes_cdc_reader_dead_letters_total", {
  description: "Change records written to the dead-letter prefix",
  incremental: true
})

/** Change records per producer micro-batch (count). */
export const readerMicroBatchChanges = Metric.histogram("totes_cdc_reader_micro_batch_changes", {
  description: "Change records per producer micro-batch",
  boundaries: Metric.exponentialBoundaries({ start: 1, factor: 4, count: 9 })
})

/**
 * Milliseconds from a replication change's commit to the end of the micro-batch that
 * made it durable in Kinesis (now − commitTs of the micro-batch's last replication change).
 */
export const readerCommitToKinesisLagMs = Metric.gauge("totes_cdc_reader_commit_to_kinesis_lag_ms", {
  description: "ms from source commit to durable in Kinesis, for the last replication change of the latest micro-batch"
})

// ---------------------------------------------------------------------------------------
// The Kinesis consumers (the local shard poller; in AWS the event source mapping reports
// the same as CloudWatch metrics: IteratorAge, Invocations, Errors).

/** Kinesis records (before de-aggregation) a consumer processed and checkpointed. */
export const consumerRecordsProcessed = Metric.counter("totes_cdc_consumer_records_processed_total", {
  description: "Kinesis records processed by a consumer and checkpointed",
  incremental: true
})

/** Pages handed to a consumer again after a failure or a partial answer. */
export const consumerPageRetries = Metric.counter("totes_cdc_consumer_page_retries_total", {
  description: "Pages handed to a consumer again after a failure or partial failure",
  incremental: true
})

/** Kinesis records per page offered to a consumer's micro-batch window. */
export const consumerPageRecords = Metric.histogram("totes_cdc_consumer_page_records", {
  description: "Kinesis records per page offered to a consumer's micro-batch window",
  boundaries: Metric.exponentialBoundaries({ start: 1, factor: 4, count: 8 })
})

/** GetRecords' MillisBehindLatest of the latest page read: how far a consumer lags the shard's tip (the iterator age). */
export const consumerIteratorAgeMs = Metric.gauge("totes_cdc_consumer_iterator_age_ms", {
  description: "ms between the latest record read and the tip of the shard (GetRecords MillisBehindLatest)"
})

/** The attributes of a consumer's metrics in a shard. */
export const consumerAttributes = (consumer: string, shardId: string) => ({ consumer, shard: shardId })
