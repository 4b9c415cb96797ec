/**
 * The AWS driver of a `BatchHandler`: a Lambda function behind a Kinesis event source
 * mapping (ESM) configured with `FunctionResponseTypes: ["ReportBatchItemFailures"]`
 * (and, ideally, `BisectBatchOnFunctionError`). The ESM owns shard leases, checkpoints,
 * retries and the on-failure destination; this only turns an invocation into handler
 * calls and the handler's answers into a partial batch response.
 *
 * Invariants:
 *  - The event is decoded with a schema; a malformed event rejects the invocation (the
 *    ESM then retries the whole batch) — nothing is guessed.
 *  - Records are grouped by shard (an ESM batch comes from one shard; this does not
 *    assume it), in event order, and each group is one handler call.
 *  - Per shard, the answer names the first record NOT processed: `PartiallyFailed(seq)`
 *    → `seq`; a handler failure (typed error, defect or interruption), or a
 *    `firstFailedSequenceNumber` that is not in the batch → the group's first record.
 *    The ESM checkpoints before the lowest reported sequence number and retries from it.
 *  - The layer is built once per Lambda container (the first invocation), through one
 *    `ManagedRuntime`; if building it fails, the invocation rejects and the next one
 *    builds it afresh.
 */
import { Cause, Effect, Exit, type Layer, ManagedRuntime, Schema } from "effect"
import type { BatchHandler, KinesisBatchRecord } from "./BatchHandler.ts"

/** One record of a Kinesis event (the fields this driver reads). */
const KinesisEventRecord = Schema.Struct({
  /** `<shardId>:<sequenceNumber>`. */
  eventID: Schema.String,
  kinesis: Schema.Struct({
    /** Base64 of the record's bytes. */
    data: Schema.Uint8ArrayFromBase64,
    partitionKey: Schema.String,
    sequenceNumber: Schema.String,
    /** Seconds since the epoch (fractional). */
    approximateArrivalTimestamp: Schema.optional(Schema.Number)
  })
})

/** The event a Kinesis ESM invokes Lambda with (the fields this driver reads). */
export const KinesisStreamEventSchema = Schema.Struct({ Records: Schema.Array(KinesisEventRecord) })

/** A Kinesis event as Lambda delivers it (JSON). */
export type KinesisStreamEvent = typeof KinesisStreamEventSchema.Encoded

/** The partial batch response: the first unprocessed record per shard. */
export interface KinesisBatchResponse {
  batchItemFailures: Array<{ itemIdentifier: string }>
}

const decodeEvent = Schema.decodeUnknownEffect(KinesisStreamEventSchema)

/** Pure: the shard of an eventID (`shardId-000000000000:4954…`). */
export const shardIdOfEventId = (eventId: string) => {
  const colon = eventId.indexOf(":")
  return colon < 0 ? eventId : eventId.slice(0, colon)
}

/** Pure: records grouped by shard, groups in order of first appearance, records in event order. */
export const groupByShard = (records: ReadonlyArray<KinesisBatchRecord>): ReadonlyArray<{ readonly shardId: string; readonly records: ReadonlyArray<KinesisBatchRecord> }> => {
  const groups = new Map<string, Array<KinesisBatchRecord>>()
  for (const record of records) {
    const group = groups.get(record.shardId)
    if (group === undefined) groups.set(record.shardId, [record])
    else group.push(record)
  }
  return [...groups].map(([shardId, group]) => ({ shardId, records: group }))
}

/**
 * A Lambda handler (`export const handler = makeKinesisLambdaHandler(…)`) driving `handler`
 * with services from `layer`, built once per container.
 */
export const makeKinesisLambdaHandler = <E, R, LE>(
  handler: BatchHandler<E, R>,
  layer: Layer.Layer<R, LE>
): ((event: KinesisStreamEvent) => Promise<KinesisBatchResponse>) => {
  let runtime: ManagedRuntime.ManagedRuntime<R, LE> | undefined

  /** The first record of `group` that was not processed, if any. */
  const firstUnprocessed = (group: { readonly shardId: string; readonly records: ReadonlyArray<KinesisBatchRecord> }) =>
    Effect.suspend(() => handler(group)).pipe(
      Effect.exit,
      Effect.flatMap((exit) => {
        const first = group.records[0]!.sequenceNumber
        if (Exit.isFailure(exit)) {
          return Effect.logError(`consumer failed on ${group.records.length} records of ${group.shardId}; reporting the batch from ${first} as failed`, Cause.pretty(exit.cause)).pipe(
            Effect.as(first)
          )
        }
        const result = exit.value
        if (result._tag === "Processed") return Effect.succeed(undefined)
        if (group.records.some((record) => record.sequenceNumber === result.firstFailedSequenceNumber)) {
          return Effect.succeed(result.firstFailedSequenceNumber)
        }
        return Effect.logWarning(
          `consumer answered PartiallyFailed(${result.firstFailedSequenceNumber}), not a record of its batch of ${group.shardId}; reporting the batch from ${first} as failed`
        ).pipe(Effect.as(first))
      }),
      Effect.annotateLogs({ shard: group.shardId })
    )

  const invocation = (event: KinesisStreamEvent) =>
    Effect.gen(function* () {
      const decoded = yield* decodeEvent(event).pipe(Effect.orDie)
      const records = decoded.Records.map(
        (record): KinesisBatchRecord => ({
          shardId: shardIdOfEventId(record.eventID),
          sequenceNumber: record.kinesis.sequenceNumber,
          partitionKey: record.kinesis.partitionKey,
          data: record.kinesis.data,
          ...(record.kinesis.approximateArrivalTimestamp === undefined
            ? {}
            : { approximateArrivalTimestamp: new Date(record.kinesis.approximateArrivalTimestamp * 1000) })
        })
      )
      const failed = yield* Effect.forEach(groupByShard(records), firstUnprocessed, { concurrency: "unbounded" })
      return {
        batchItemFailures: failed.filter((seq): seq is string => seq !== undefined).map((itemIdentifier) => ({ itemIdentifier }))
      }
    }).pipe(Effect.withSpan("KinesisLambdaHandler.invocation"))

  return async (event) => {
    runtime ??= ManagedRuntime.make(layer)
    const current = runtime
    const exit = await current.runPromiseExit(invocation(event))
    if (Exit.isSuccess(exit)) return exit.value
    // The layer did not build (or the event is malformed): reject, so the ESM retries the
    // whole batch; a layer that failed to build is built afresh next time.
    if (runtime === current && Cause.hasFails(exit.cause)) {
      runtime = undefined
      await current.dispose()
    }
    throw new Error(`Kinesis batch not processed: ${Cause.pretty(exit.cause).split("\n")[0]}`)
  }
}
