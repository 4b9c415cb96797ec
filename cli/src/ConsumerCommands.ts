/**
 * `totes-cdc archiver` and `totes-cdc processor`: one stream consumer each, from
 * environment settings (the same programs `dev` runs as fibers).
 */
import { consumerSettings, runArchiverProgram, runProcessorProgram } from "@totes-cdc/stream-processors"
import { Effect } from "effect"
import { Command } from "effect/cli"
import { UsageError, describeConfigError } from "./Errors.ts"

const settings = Effect.mapError(consumerSettings, (error) => new UsageError({ message: describeConfigError(error.message) }))

/** The environment both consumers read; each command adds its own variables. */
const COMMON =
  "KINESIS_STREAM (totes-cdc-changes), INGESTION_BUCKET (totes-cdc-ingestion: archive, checkpoints, dead letters, join state), AWS_REGION, KINESIS_ENDPOINT / S3_ENDPOINT (emulators), AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY"

export const archiverCommand = Command.make("archiver", {}, () =>
  Effect.gen(function* () {
    return yield* runArchiverProgram(yield* settings)
  })
).pipe(
  Command.withDescription(
    `Archive the change stream as raw NDJSON in the ingestion bucket, in Firehose's layout (the local stand-in for Firehose). Environment: ${COMMON}, ARCHIVE_BUFFER_BYTES (5242880), ARCHIVE_BUFFER_INTERVAL_MS (60000)`
  )
)

export const processorCommand = Command.make("processor", {}, () =>
  Effect.gen(function* () {
    return yield* runProcessorProgram(yield* settings)
  })
).pipe(
  Command.withDescription(
    `Turn the change stream into star-schema Parquet micro-batches in the processed bucket. Environment: ${COMMON}, PROCESSED_BUCKET (totes-cdc-processed), PROCESSOR_WINDOW_MS (1000: a micro-batch closes this long after its first page at the latest)`
  )
)
