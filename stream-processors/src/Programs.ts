/**
 * The archiver and the processor as programs: settings from the environment (or from
 * `dev`'s stack), their AWS layers, run until interrupted. `totes-cdc archiver`,
 * `totes-cdc processor` and `totes-cdc dev` run exactly these.
 */
import { DEFAULTS } from "@totes-cdc/core"
import { type AwsEndpoint, DeadLetters, Kinesis, S3, awsEndpointsConfig } from "@totes-cdc/platform"
import { Config, Effect, Layer } from "effect"
import { runArchiver } from "./archiver/Archiver.ts"
import { CheckpointStore } from "./consumer/CheckpointStore.ts"
import type { ProcessedObject } from "./processor/ProcessedObjects.ts"
import { DEFAULT_JOIN_STATE_KEY, DEFAULT_MICRO_BATCH_WINDOW, runProcessor } from "./processor/Processor.ts"

/** Settings shared by the stream consumers. */
export interface ConsumerSettings {
  readonly streamName: string
  readonly ingestionBucket: string
  readonly processedBucket: string
  /** Archive objects are flushed at this size (bytes) or age (ms), whichever comes first. */
  readonly archiveBufferBytes: number
  readonly archiveBufferIntervalMs: number
  /** The processor's micro-batch window closes this long (ms) after its first page, at the latest. */
  readonly processorWindowMs: number
  readonly kinesis: AwsEndpoint
  readonly s3: AwsEndpoint
}

/** Reads the consumers' environment. Fails with ConfigError naming the variable. */
export const consumerSettings: Config.Config<ConsumerSettings> = Config.all({
  streamName: Config.String("KINESIS_STREAM").pipe(Config.withDefault(DEFAULTS.streamName)),
  ingestionBucket: Config.String("INGESTION_BUCKET").pipe(Config.withDefault(DEFAULTS.ingestionBucket)),
  processedBucket: Config.String("PROCESSED_BUCKET").pipe(Config.withDefault(DEFAULTS.processedBucket)),
  archiveBufferBytes: Config.Int("ARCHIVE_BUFFER_BYTES").pipe(Config.withDefault(5 * 1024 * 1024)),
  archiveBufferIntervalMs: Config.Int("ARCHIVE_BUFFER_INTERVAL_MS").pipe(Config.withDefault(60_000)),
  processorWindowMs: Config.Int("PROCESSOR_WINDOW_MS").pipe(Config.withDefault(DEFAULT_MICRO_BATCH_WINDOW.maxWaitMs)),
  aws: awsEndpointsConfig
}).pipe(Config.map(({ aws, ...rest }) => ({ ...rest, ...aws })))

/**
 * Kinesis (`kinesis`, or a client of `settings.kinesis` of the program's own), S3, consumer
 * checkpoints (in the ingestion bucket, `state/consumers/`) and dead letters (`dlq/`).
 */
const consumerLayer = (settings: ConsumerSettings, kinesis: Layer.Layer<Kinesis> = Kinesis.layer(settings.kinesis)) =>
  Layer.mergeAll(kinesis, CheckpointStore.layer({ bucket: settings.ingestionBucket }), DeadLetters.layer(settings.ingestionBucket)).pipe(
    Layer.provideMerge(S3.layer(settings.s3))
  )

/**
 * The archiver until interrupted: the stream → raw NDJSON under `raw/` in the ingestion bucket.
 * `kinesis`: the Kinesis service to read with (`dev`: one whose reads the processor shares, SharedShardReads.ts).
 */
export const runArchiverProgram = (settings: ConsumerSettings, kinesis?: Layer.Layer<Kinesis>) =>
  runArchiver({
    stream: settings.streamName,
    bucket: settings.ingestionBucket,
    bufferBytes: settings.archiveBufferBytes,
    bufferIntervalMs: settings.archiveBufferIntervalMs
  }).pipe(Effect.provide(consumerLayer(settings, kinesis)))

/**
 * The processor until interrupted: the stream → Parquet per warehouse table in the
 * processed bucket; dead letters and the join state in the ingestion bucket (a lost join
 * state is rebuilt at start from the archiver's `raw/` there).
 * Changes of all shards are grouped in micro-batches closing after `processorWindowMs`
 * (or at the default change and byte limits). `onObjects` hears of each micro-batch's
 * objects once they are stored (the loader, in `dev`). `kinesis`: as the archiver's.
 */
export const runProcessorProgram = <E = never, R = never>(
  settings: ConsumerSettings,
  onObjects?: (objects: ReadonlyArray<ProcessedObject>) => Effect.Effect<void, E, R>,
  kinesis?: Layer.Layer<Kinesis>
) =>
  runProcessor({
    stream: settings.streamName,
    processedBucket: settings.processedBucket,
    stateBucket: settings.ingestionBucket,
    stateKey: DEFAULT_JOIN_STATE_KEY,
    archive: { bucket: settings.ingestionBucket },
    window: { maxWaitMs: settings.processorWindowMs },
    ...(onObjects === undefined ? {} : { onObjects })
  }).pipe(Effect.provide(consumerLayer(settings, kinesis)))
