/**
 * The processor's Lambda entry (bundled by esbuild, infra/src/Bundling.ts): the Kinesis
 * event source mapping invokes `handler` with a micro-batch of the stream's records.
 *
 * Environment (ProcessorEnvironment.ts; set by the stack, a missing one fails the init
 * with one line naming it): INGESTION_BUCKET (join state `state/processor/join-state.json`,
 * dead letters `dlq/processor/`), PROCESSED_BUCKET (Parquet objects), AWS_REGION (set by
 * Lambda); S3_ENDPOINT only for an emulator.
 *
 * Snapshot chunks: an invocation starts none past `PROCESSOR_CHUNK_BUDGET_MS`; the rest are
 * answered PartiallyFailed (their pointers are records of their own), and handed over again.
 *
 * Invariants: one S3 client and one processor per container (the handler's runtime), built
 * on the first invocation; correctness on a multi-shard stream is the handler's
 * (stream-processors/SPEC.md §3: the joined tables share one partition key). Each
 * invocation writes one EMF metrics line to stdout (Emf.ts).
 */
import { DeadLetters, S3 } from "@totes-cdc/platform"
import { DEFAULT_JOIN_STATE_KEY, makeProcessorLambdaHandler } from "@totes-cdc/stream-processors"
import { Layer } from "effect"
import { emitProcessorMetrics } from "./Emf.ts"
import { readEnvironment } from "./Environment.ts"
import { PROCESSOR_CHUNK_BUDGET_MS, processorEnvironment } from "./ProcessorEnvironment.ts"

const settings = readEnvironment(processorEnvironment)

export const handler = makeProcessorLambdaHandler(
  { processedBucket: settings.processedBucket, stateBucket: settings.ingestionBucket, stateKey: DEFAULT_JOIN_STATE_KEY, chunkBudgetMs: PROCESSOR_CHUNK_BUDGET_MS },
  DeadLetters.layer(settings.ingestionBucket).pipe(Layer.provideMerge(S3.layer(settings.s3))),
  { onInvocation: emitProcessorMetrics() }
)
