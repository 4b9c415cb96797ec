/**
 * Metrics catalogue of the Kinesis consumption drivers (DESIGN.md §9): what the local
 * poller updates, attributed by `consumer` and `shard`. In AWS the event source mapping
 * reports the same things as CloudWatch metrics (IteratorAge, Invocations, Errors).
 *
 * Invariants: counters only increase and end in `_total`; names are stable.
 */
import { Metric } from "effect"

/** Kinesis records (before de-aggregation) a handler completed and that were checkpointed. */
export const recordsProcessed = Metric.counter("consumer_records_processed_total", {
  description: "Kinesis records processed by a consumer's handler and checkpointed",
  incremental: true
})

/** Pages handed over again after a failure or a partial answer. */
export const pageRetries = Metric.counter("consumer_page_retries_total", {
  description: "Pages handed to a consumer again after a failure or partial failure",
  incremental: true
})

/** Kinesis records per page offered to a consumer's micro-batch window. */
export const pageRecords = Metric.histogram("consumer_page_records", {
  description: "Kinesis records per page offered to a consumer's micro-batch window",
  boundaries: Metric.exponentialBoundaries({ start: 1, factor: 4, count: 8 })
})

/** GetRecords' MillisBehindLatest of the latest page read: how far a consumer lags the shard's tip (the iterator age). */
export const iteratorAgeMs = Metric.gauge("consumer_iterator_age_ms", {
  description: "ms between the latest record read and the tip of the shard (GetRecords MillisBehindLatest)"
})

/** The attributes of a consumer's metrics in a shard. */
export const attributes = (consumer: string, shardId: string) => ({ consumer, shard: shardId })
