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
import { type KinesisBatchResponse, type KinesisStreamEvent, makeKinesisLambdaHandler, shardIdOfEventId } from "../consumer/LambdaHandler.ts"
import type { MicroBatch, MicroBatchHandler } from "../consumer/MicroBatch.ts"
import { makeProcessorHandler, type MicroBatchSummary, type ProcessorConfig, type ProcessorError } from "./Processor.ts"

/** The processor's micro-batch handler of a container. */
class ProcessorHandler extends Context.Service<ProcessorHandler, MicroBatchHandler<ProcessorError | S3Error, never>>()(
  "@totes-cdc/stream-processors/ProcessorHandler"
) {}

/** What one invocation did (summed over its micro-batch), for the Lambda entry's EMF line (core's CloudWatchMetrics.ts, component "processor"). */
export interface ProcessorInvocationReport {
  readonly changesProcessed: number
  readonly deadLetters: number
  /** Shards reported in `batchItemFailures`; every shard of the event when the invocation rejects. */
  readonly failedShards: number
  readonly microBatchDurationMs: number
  /** The invocation rejected (malformed event, services that do not build). */
  readonly rejected: boolean
}

export interface ProcessorLambdaOptions {
  /** Called once per invocation, after it answered or rejected (the Lambda entry writes an EMF line). Must not throw. */
  readonly onInvocation?: (report: ProcessorInvocationReport) => void
}

/**
 * A Lambda handler for Kinesis events (`KinesisStreamEvent` → `KinesisBatchResponse`,
 * ReportBatchItemFailures) running the processor with `config` on `services` (S3 and the
 * dead-letter sink), built on the container's first invocation. Rejects only a malformed
 * event or services that cannot be built. `options.onInvocation` hears what each
 * invocation did (Lambda runs one invocation at a time per container; concurrent calls of
 * one handler would share their counts).
 */
export const makeProcessorLambdaHandler = (
  config: Omit<ProcessorConfig, "onObjects" | "onMicroBatch">,
  services: Layer.Layer<S3 | DeadLetters>,
  options: ProcessorLambdaOptions = {}
): ((event: KinesisStreamEvent) => Promise<KinesisBatchResponse>) => {
  let tally = { changes: 0, deadLetters: 0 }
  const onMicroBatch = (summary: MicroBatchSummary) =>
    Effect.sync(() => {
      tally = { changes: tally.changes + summary.changes, deadLetters: tally.deadLetters + summary.deadLetters }
    })
  const handler = makeKinesisLambdaHandler(
    (pages: MicroBatch) =>
      Effect.gen(function* () {
        const handle = yield* ProcessorHandler
        return yield* handle(pages)
      }),
    Layer.effect(ProcessorHandler, makeProcessorHandler({ ...config, onMicroBatch })).pipe(Layer.provide(services))
  )
  const onInvocation = options.onInvocation
  if (onInvocation === undefined) return handler
  return async (event) => {
    tally = { changes: 0, deadLetters: 0 }
    const started = performance.now()
    const report = (failedShards: number, rejected: boolean) =>
      onInvocation({
        changesProcessed: tally.changes,
        deadLetters: tally.deadLetters,
        failedShards,
        microBatchDurationMs: Math.round(performance.now() - started),
        rejected
      })
    try {
      const response = await handler(event)
      report(response.batchItemFailures.length, false)
      return response
    } catch (error) {
      report(new Set((event.Records ?? []).map((record) => shardIdOfEventId(String(record.eventID)))).size, true)
      throw error
    }
  }
}
