/**
 * The one metrics catalogue (DESIGN.md §9): every quantity any component measures is
 * declared here once — its component, kind, unit, meaning, and, when it is published to
 * CloudWatch, the dimension sets it carries there. Everything else is derived:
 *  - the in-process Effect metric and its exposition name (`metricName`:
 *    `totes_cdc_<component>_<snake_case name>`, `_total` for counters), e.g.
 *    `cdc-reader`'s `changesWritten` → `totes_cdc_reader_changes_written_total`;
 *  - the CloudWatch Embedded Metric Format (CloudWatchMetrics.ts): namespace `totes-cdc`,
 *    the catalogue's name (`changesWritten`), its unit and dimension sets;
 *  - the CDK dashboard and alarms (infra/src/Observability.ts), which may name only
 *    metrics declared here with CloudWatch dimensions.
 *
 * Invariants:
 *  - Counters only ever increase (`incremental: true`).
 *  - Names are stable: dashboards, alarms and the exposition refer to them.
 *  - A spec with `cloudWatch` dimension sets is published by its component as EMF; one
 *    without (the local shard poller's) exists only in process.
 */
import { Metric } from "effect"

/** The CloudWatch units the catalogue uses (CloudWatch's unit strings). */
export type CloudWatchUnit = "Count" | "Count/Second" | "Milliseconds" | "Seconds" | "Bytes"

/** One catalogued metric. */
export interface MetricSpec {
  readonly kind: "counter" | "gauge" | "histogram"
  readonly unit: CloudWatchUnit
  readonly description: string
  /** CloudWatch dimension sets (each starting with `Component`); absent = not published to CloudWatch. */
  readonly cloudWatch?: ReadonlyArray<ReadonlyArray<string>>
  /** Histogram bucket boundaries (in `unit`). */
  readonly boundaries?: ReadonlyArray<number>
}

const READER = [["Component", "Slot"]] as const
const COMPONENT = [["Component"]] as const

/** The catalogue: component → metric name → spec. */
export const METRIC_CATALOGUE = {
  "cdc-reader": {
    changesWritten: { kind: "counter", unit: "Count", description: "Change records durably written to Kinesis (dead letters not counted)", cloudWatch: READER },
    kinesisRecordsWritten: { kind: "counter", unit: "Count", description: "Kinesis records (KPL aggregates or plain records) written by PutRecords", cloudWatch: READER },
    putRetries: { kind: "counter", unit: "Count", description: "PutRecords entries retried after a failed attempt (per entry, not per call)", cloudWatch: READER },
    deadLetters: { kind: "counter", unit: "Count", description: "Change records written to the dead-letter prefix instead of Kinesis", cloudWatch: READER },
    changesPerSecond: { kind: "gauge", unit: "Count/Second", description: "Changes written per second over the last report interval", cloudWatch: READER },
    microBatchChanges: {
      kind: "histogram",
      unit: "Count",
      description: "Change records per producer micro-batch (CloudWatch: the mean since the reader started)",
      cloudWatch: READER,
      boundaries: Metric.exponentialBoundaries({ start: 1, factor: 4, count: 9 })
    },
    commitToKinesisLagMs: {
      kind: "gauge",
      unit: "Milliseconds",
      description: "ms from source commit to durable in Kinesis, for the last replication change of the latest micro-batch",
      cloudWatch: READER
    },
    lastDurableCommitMs: {
      kind: "gauge",
      unit: "Milliseconds",
      description: "Commit time (ms since the epoch) of the newest replication change durable in Kinesis; 0 before the first (feeds the pipeline-stalled alert)"
    },
    slotRetainedWalBytes: { kind: "gauge", unit: "Bytes", description: "WAL the replication slot holds back (bytes), at the last report", cloudWatch: READER },
    slotConfirmedLagBytes: { kind: "gauge", unit: "Bytes", description: "Bytes between the WAL end and the slot's confirmed LSN, at the last report", cloudWatch: READER }
  },
  // The local Kinesis consumers (archiver, processor under `dev`), by `consumer` and `shard`;
  // in AWS the event source mapping reports the same as CloudWatch metrics (IteratorAge).
  consumer: {
    recordsProcessed: { kind: "counter", unit: "Count", description: "Kinesis records processed by a consumer and checkpointed" },
    pageRetries: { kind: "counter", unit: "Count", description: "Pages handed to a consumer again after a failure or partial failure" },
    pageRecords: {
      kind: "histogram",
      unit: "Count",
      description: "Kinesis records per page offered to a consumer's micro-batch window",
      boundaries: Metric.exponentialBoundaries({ start: 1, factor: 4, count: 8 })
    },
    iteratorAgeMs: { kind: "gauge", unit: "Milliseconds", description: "ms between the latest record read and the tip of the shard (GetRecords MillisBehindLatest)" }
  },
  // What the dashboard (ops) derives each second from the stores — the source, the ingestion
  // bucket, the warehouse — for its page and its Prometheus /metrics; any deployment has them.
  pipeline: {
    capturedPerSecond: { kind: "gauge", unit: "Count/Second", description: "Change records made durable in Kinesis per second (the reader's latest report)" },
    loadedRowsPerSecond: { kind: "gauge", unit: "Count/Second", description: "Warehouse rows applied per second (last 5 s, totes_cdc.applied_objects)" },
    commitToWarehouseP50Ms: {
      kind: "gauge",
      unit: "Milliseconds",
      description: "Median ms from source commit to warehouse, objects loaded in the last minute (row-weighted over their own p50s)"
    },
    commitToWarehouseP99Ms: {
      kind: "gauge",
      unit: "Milliseconds",
      description: "99th percentile ms from source commit to warehouse, objects loaded in the last minute (row-weighted over their own p99s)"
    },
    tableFreshnessSeconds: { kind: "gauge", unit: "Seconds", description: "Seconds since the newest source commit applied to a warehouse table (attribute table)" },
    deadLetters: { kind: "gauge", unit: "Count", description: "Dead letters waiting under dlq/, per stage (attribute stage)" },
    alertActive: { kind: "gauge", unit: "Count", description: "1 while an alert of `totes-cdc status --check` holds, else 0 (attribute alert)" },
    snapshotRows: { kind: "gauge", unit: "Count", description: "Rows the running snapshot has read so far (0: no snapshot running)" }
  },
  processor: {
    changesProcessed: { kind: "counter", unit: "Count", description: "Change records transformed (CloudWatch: per invocation)", cloudWatch: COMPONENT },
    deadLetters: { kind: "counter", unit: "Count", description: "Records dead-lettered by the processor (CloudWatch: per invocation)", cloudWatch: COMPONENT },
    failedShards: { kind: "counter", unit: "Count", description: "Shards whose records an invocation reported failed (batchItemFailures)", cloudWatch: COMPONENT },
    microBatchDurationMs: { kind: "gauge", unit: "Milliseconds", description: "ms the latest micro-batch (one invocation) took", cloudWatch: COMPONENT }
  },
  loader: {
    rowsLoaded: { kind: "counter", unit: "Count", description: "Rows applied to the warehouse (CloudWatch: per invocation)", cloudWatch: COMPONENT },
    objectsLoaded: { kind: "counter", unit: "Count", description: "Processed objects applied (CloudWatch: per invocation)", cloudWatch: COMPONENT },
    failedBatches: { kind: "counter", unit: "Count", description: "Micro-batches that failed to load (their messages are retried, then dead-lettered)", cloudWatch: COMPONENT },
    commitToWarehouseP50Ms: { kind: "gauge", unit: "Milliseconds", description: "Median ms from source commit to warehouse commit, latest load", cloudWatch: COMPONENT },
    commitToWarehouseP99Ms: { kind: "gauge", unit: "Milliseconds", description: "99th percentile ms from source commit to warehouse commit, latest load", cloudWatch: COMPONENT },
    commitToWarehouseMaxMs: { kind: "gauge", unit: "Milliseconds", description: "Largest ms from source commit to warehouse commit, latest load", cloudWatch: COMPONENT },
    warehouseFreshnessSeconds: {
      kind: "gauge",
      unit: "Seconds",
      description: "Seconds since the newest _commit_ts applied to a warehouse table, when the loader applied it (per Table, and the largest over tables)",
      cloudWatch: [["Component", "Table"], ["Component"]]
    }
  }
} as const satisfies Record<string, Record<string, MetricSpec>>

export type MetricComponent = keyof typeof METRIC_CATALOGUE
export type MetricNameOf<C extends MetricComponent> = keyof (typeof METRIC_CATALOGUE)[C] & string

/** The prefix of every in-process metric name. */
export const METRIC_PREFIX = "totes_cdc_"

const COMPONENT_PREFIX: Readonly<Record<MetricComponent, string>> = { "cdc-reader": "reader", consumer: "consumer", pipeline: "pipeline", processor: "processor", loader: "loader" }

/** Pure: the in-process (and exposition) name of `component`'s metric `name`, e.g. `totes_cdc_reader_changes_written_total`. */
export const metricName = <C extends MetricComponent>(component: C, name: MetricNameOf<C>): string => {
  const spec: MetricSpec = (METRIC_CATALOGUE[component] as Readonly<Record<string, MetricSpec>>)[name]!
  const snake = name.replace(/([a-z0-9])([A-Z])/g, "$1_$2").toLowerCase()
  return `${METRIC_PREFIX}${COMPONENT_PREFIX[component]}_${snake}${spec.kind === "counter" ? "_total" : ""}`
}

const specOf = <C extends MetricComponent>(component: C, name: MetricNameOf<C>): MetricSpec => (METRIC_CATALOGUE[component] as Readonly<Record<string, MetricSpec>>)[name]!

const counter = <C extends MetricComponent>(component: C, name: MetricNameOf<C>) =>
  Metric.counter(metricName(component, name), { description: specOf(component, name).description, incremental: true })
const gauge = <C extends MetricComponent>(component: C, name: MetricNameOf<C>) => Metric.gauge(metricName(component, name), { description: specOf(component, name).description })
const histogram = <C extends MetricComponent>(component: C, name: MetricNameOf<C>) => {
  const spec = specOf(component, name)
  return Metric.histogram(metricName(component, name), { description: spec.description, boundaries: spec.boundaries ?? [] })
}

// The in-process metrics the components update, one per catalogue entry they measure.

export const readerChangesWritten = counter("cdc-reader", "changesWritten")
export const readerKinesisRecordsWritten = counter("cdc-reader", "kinesisRecordsWritten")
export const readerPutRetries = counter("cdc-reader", "putRetries")
export const readerDeadLetters = counter("cdc-reader", "deadLetters")
export const readerMicroBatchChanges = histogram("cdc-reader", "microBatchChanges")
/** now − commitTs of the last replication change of the micro-batch just made durable. */
export const readerCommitToKinesisLagMs = gauge("cdc-reader", "commitToKinesisLagMs")
export const readerLastDurableCommitMs = gauge("cdc-reader", "lastDurableCommitMs")

export const consumerRecordsProcessed = counter("consumer", "recordsProcessed")
export const consumerPageRetries = counter("consumer", "pageRetries")
export const consumerPageRecords = histogram("consumer", "pageRecords")
export const consumerIteratorAgeMs = gauge("consumer", "iteratorAgeMs")

export const readerSlotRetainedWalBytes = gauge("cdc-reader", "slotRetainedWalBytes")
export const readerSlotConfirmedLagBytes = gauge("cdc-reader", "slotConfirmedLagBytes")

export const pipelineCapturedPerSecond = gauge("pipeline", "capturedPerSecond")
export const pipelineLoadedRowsPerSecond = gauge("pipeline", "loadedRowsPerSecond")
export const pipelineCommitToWarehouseP50Ms = gauge("pipeline", "commitToWarehouseP50Ms")
export const pipelineCommitToWarehouseP99Ms = gauge("pipeline", "commitToWarehouseP99Ms")
export const pipelineTableFreshnessSeconds = gauge("pipeline", "tableFreshnessSeconds")
export const pipelineDeadLetters = gauge("pipeline", "deadLetters")
export const pipelineAlertActive = gauge("pipeline", "alertActive")
export const pipelineSnapshotRows = gauge("pipeline", "snapshotRows")

/** The attributes of a consumer's metrics in a shard. */
export const consumerAttributes = (consumer: string, shardId: string) => ({ consumer, shard: shardId })
