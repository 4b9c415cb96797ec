/**
 * The AWS driver of a `MicroBatchHandler`: a Lambda function behind a Kinesis event source
 * mapping (ESM) with `FunctionResponseTypes: ["ReportBatchItemFailures"]`. The ESM owns
 * shard leases, checkpoints, retries and the on-failure destination; one invocation is
 * one micro-batch, whose pages are its records grouped by shard (in event order).
 *
 * Invariants:
 *  - A malformed event (schema) rejects the invocation: the ESM retries it whole.
 *  - Per page, the answer names the first record NOT processed: `PartiallyFailed(seq)` →
 *    `seq`; `Failed`, a failure of the whole call (typed error or defect), or a `seq`
 *    outside the page → the page's first record.
 *  - The layer is built once per container through one `ManagedRuntime`; a layer that
 *    fails to build rejects the invocation and is built afresh on the next one.
 */
import { Cause, Effect, Exit, type Layer, ManagedRuntime, Schema } from "effect"
import type { KinesisBatchRecord, MicroBatchHandler, PageResult, ShardPage } from "./MicroBatch.ts"

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

/** Pure: records grouped by shard into pages, pages in order of first appearance, records in event order. */
export const groupByShard = (records: ReadonlyArray<KinesisBatchRecord>): ReadonlyArray<ShardPage> => {
  const groups = new Map<string, Array<KinesisBatchRecord>>()
  for (const record of records) {
    const group = groups.get(record.shardId)
    if (group === undefined) groups.set(record.shardId, [record])
    else group.push(record)
  }
  return [...groups].map(([shardId, group]) => ({ shardId, records: group }))
}

/** Pure: the first record of `page` that `result` says was not processed, if any. */
export const firstUnprocessed = <E>(page: ShardPage, result: PageResult<E>): string | undefined => {
  if (result._tag === "Processed") return undefined
  if (result._tag === "PartiallyFailed" && page.records.some((record) => record.sequenceNumber === result.firstFailedSequenceNumber)) {
    return result.firstFailedSequenceNumber
  }
  return page.records[0]!.sequenceNumber
}

/**
 * A Lambda handler (`export const handler = makeKinesisLambdaHandler(…)`) driving `handler`
 * with services from `layer`, built once per container. Answers the partial batch response;
 * rejects (throws) only for a malformed event or a layer that does not build.
 */
export const makeKinesisLambdaHandler = <E, R, LE>(
  handler: MicroBatchHandler<E, R>,
  layer: Layer.Layer<R, LE>
): ((event: KinesisStreamEvent) => Promise<KinesisBatchResponse>) => {
  let runtime: ManagedRuntime.ManagedRuntime<R, LE> | undefined

  /** Every page's answer: the handler's, or `Failed` for each page when the call fails. */
  const answers = (pages: ReadonlyArray<ShardPage>) =>
    Effect.suspend(() => handler(pages)).pipe(
      Effect.exit,
      Effect.flatMap((exit): Effect.Effect<ReadonlyArray<PageResult<unknown>>> => {
        if (Exit.isSuccess(exit) && exit.value.length === pages.length) return Effect.succeed(exit.value)
        const why = Exit.isSuccess(exit) ? `${exit.value.length} answers for ${pages.length} pages` : Cause.pretty(exit.cause)
        return Effect.logError(`consumer failed on a micro-batch of ${pages.length} pages; reporting every page from its first record as failed`, why).pipe(
          Effect.as(pages.map((): PageResult<unknown> => ({ _tag: "Failed", error: why })))
        )
      })
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
      const pages = groupByShard(records)
      const results = yield* answers(pages)
      const failed = pages.flatMap((page, i) => {
        const first = firstUnprocessed(page, results[i]!)
        return first === undefined ? [] : [first]
      })
      for (const [i, page] of pages.entries()) {
        const result = results[i]!
        if (result._tag === "PartiallyFailed" && firstUnprocessed(page, result) !== result.firstFailedSequenceNumber) {
          yield* Effect.logWarning(`consumer answered PartiallyFailed(${result.firstFailedSequenceNumber}), not a record of its page of ${page.shardId}; reporting the page from its first record as failed`)
        }
      }
      return { batchItemFailures: failed.map((itemIdentifier) => ({ itemIdentifier })) }
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
