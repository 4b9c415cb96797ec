/**
 * Component settings for a stack described by a state file (`totes-cdc dev`'s): the
 * same settings the components read from their environment elsewhere, so `dev`,
 * `status` and the standalone commands run the very same code.
 */
import { DEFAULTS, INGESTION_LAYOUT } from "@totes-cdc/core"
import type { ReaderSettings } from "@totes-cdc/cdc-reader"
import type { LoaderSettings, WarehouseSettings } from "@totes-cdc/loader"
import type { StatusOptions } from "@totes-cdc/ops"
import type { ConsumerSettings } from "@totes-cdc/stream-processors"
import type { StateFile } from "./StateFile.ts"

/** The reader's settings on the stack of `state` (slot and publication `totes_cdc`). */
export const readerSettingsFromState = (state: StateFile): ReaderSettings => ({
  sourceUrl: state.source.url,
  slot: DEFAULTS.slot,
  publication: DEFAULTS.publication,
  mode: "replication",
  streamName: state.kinesis.streamName,
  stateBucket: state.s3.buckets.ingestion,
  statePrefix: INGESTION_LAYOUT.readerStatePrefix,
  heartbeatMs: 5_000,
  pollIntervalMs: 1_000,
  metricsEmf: false,
  // Every second: the dashboard's captured changes/s and snapshot progress come from this report.
  metricsIntervalMs: 1_000,
  kinesis: state.kinesis,
  s3: state.s3
})

/** The archiver's and processor's settings on the stack of `state`; archive objects flushed every 2 s, processor micro-batches every 250 ms at most (the window is most of the commit→warehouse latency: a shard's next page waits for the window holding its previous one). */
export const consumerSettingsFromState = (state: StateFile): ConsumerSettings => ({
  streamName: state.kinesis.streamName,
  ingestionBucket: state.s3.buckets.ingestion,
  processedBucket: state.s3.buckets.processed,
  archiveBufferBytes: 5 * 1024 * 1024,
  archiveBufferIntervalMs: 2_000,
  processorWindowMs: 250,
  kinesis: state.kinesis,
  s3: state.s3
})

/** What `status` and the dashboard read besides the reader's settings: on a `dev --replay` stack, that no reader runs. */
export const statusOptionsFromState = (state: StateFile): StatusOptions => (state.replay === undefined ? {} : { replay: state.replay.recording })

/** The warehouse of the stack of `state`: its URL and schema (local: no TLS, no password secret). */
export const warehouseSettingsFromState = (state: StateFile): WarehouseSettings => ({
  url: state.warehouse.url,
  schema: state.warehouse.schema,
  caFile: undefined,
  passwordSecretArn: undefined,
  region: state.s3.region
})

/** The loader's settings on the stack of `state` (truncates quarantined, the default). */
export const loaderSettingsFromState = (state: StateFile): LoaderSettings => ({
  warehouse: warehouseSettingsFromState(state),
  processedBucket: state.s3.buckets.processed,
  truncateMode: "quarantine",
  foreignKeyChecks: "statement",
  pollIntervalMs: 1_000,
  s3: state.s3
})
