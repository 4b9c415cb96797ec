/**
 * Names every component agrees on (DESIGN.md §4, README configuration tables): the
 * defaults of their settings and the layout of the ingestion bucket. Defined once; each
 * setting can still be overridden by its variable.
 */

/** Default settings (README "Configuration"). */
export const DEFAULTS = {
  /** Replication slot and publication (`READER_SLOT`, `READER_PUBLICATION`). */
  slot: "totes_cdc",
  publication: "totes_cdc",
  /** Kinesis stream (`KINESIS_STREAM`). */
  streamName: "totes-cdc-changes",
  /** Raw archive, state, checkpoints and dead letters (`INGESTION_BUCKET`). */
  ingestionBucket: "totes-cdc-ingestion",
  /** Processed Parquet objects (`PROCESSED_BUCKET`). */
  processedBucket: "totes-cdc-processed",
  /** `AWS_REGION`. */
  region: "eu-west-2",
  /** Star schema of the warehouse (`WAREHOUSE_SCHEMA`). */
  warehouseSchema: "public"
} as const

/** Prefixes and keys in the ingestion bucket (the dead letters' is contracts/DeadLetter.ts). */
export const INGESTION_LAYOUT = {
  /** The raw archive, Firehose's layout: `raw/YYYY/MM/DD/HH/<stream>-1-…`. */
  rawPrefix: "raw/",
  /** The reader's snapshot state and metrics report (`READER_STATE_PREFIX`). */
  readerStatePrefix: "state/cdc-reader/",
  /** Consumer checkpoints: `<prefix><consumer>/<shardId>.json`. */
  checkpointPrefix: "state/consumers/",
  /** The processor's join state. */
  joinStateKey: "state/processor/join-state.json"
} as const
