/**
 * The processor behind a Kinesis event source mapping (AWS Lambda): the micro-batch handler
 * (Processor.ts) built once per container inside the Lambda driver's runtime
 * (LambdaHandler.ts). `export const handler = makeProcessorLambdaHandler(config, services)`.
 *
 * Invariants:
 *  - One invocation = one micro-batch (its records grouped by shard into pages).
 *  - Correct with one invocation per shard at a time on a multi-shard stream: the joined
 *    tables' changes share one partition key (core's `JOINED_PARTITION_KEY`), so only one
 *    shard's micro-batches change the join state, in order, and the handler reads the
 *    state afresh for each of them (stream-processors/SPEC.md §3).
 */
import type { DeadLetters, S3, S3Error } from "@totes-cdc/platform"
import { Context, Effect, Layer } from "effect"
import { makeKinesisLambdaHandler } from "../consumer/LambdaHandler.ts"
import type { MicroBatch, MicroBatchHandler } from "../consumer/MicroBatch.ts"
import { makeProcessorHandler, type ProcessorConfig, type ProcessorError } from "./Processor.ts"

/** The processor's micro-batch handler of a container. */
class ProcessorHandler extends Context.Service<ProcessorHandler, MicroBatchHandler<ProcessorError | S3Error, never>>()(
  "@totes-cdc/stream-processors/ProcessorHandler"
) {}

/**
 * A Lambda handler for Kinesis events (`KinesisStreamEvent` → `KinesisBatchResponse`,
 * ReportBatchItemFailures) running the processor with `config` on `services` (S3 and the
 * dead-letter sink), built on the container's first invocation. Rejects only a malformed
 * event or services that cannot be built.
 */
export const makeProcessorLambdaHandler = (config: Omit<ProcessorConfig, "onObjects">, services: Layer.Layer<S3 | DeadLetters>) =>
  makeKinesisLambdaHandler(
    (pages: MicroBatch) =>
      Effect.gen(function* () {
        const handle = yield* ProcessorHandler
        return yield* handle(pages)
      }),
    Layer.effect(ProcessorHandler, makeProcessorHandler(config)).pipe(Layer.provide(services))
  )
