/**
 * Kinesis Data Streams adapter: the only place the pipeline calls the Kinesis API
 * (AWS, or kinesalite locally). One service, four calls: PutRecords, ListShards,
 * GetShardIterator, GetRecords.
 *
 * Invariants:
 *  - Every failure is a `KinesisError` with one line naming the problem and the fix, the
 *    SDK / socket error it came from as its `cause`, and `retryable` true exactly for
 *    throttling, 5xx/internal failures and network errors — the ones a caller may retry
 *    unchanged. Nothing here retries on its own: the retry policy (which entries, how long,
 *    what to do on an expired iterator) belongs to the caller, which applies exactly one
 *    named schedule from Retry.ts per call site (unlike S3.ts, whose calls all have one
 *    obvious policy and retry inside the service).
 *  - `putRecords` answers one result per entry, aligned with the entries; a partially
 *    failed call is a success whose failed entries are `Failed` (they were NOT written).
 *  - Hash keys cross this boundary as bigint (shards) and decimal strings (entries), the
 *    form Kinesis uses; data crosses as raw bytes (the SDK does the base64).
 *  - The client is made once per layer and destroyed when the layer's scope closes.
 */
import {
  GetRecordsCommand,
  GetShardIteratorCommand,
  type KinesisClient,
  ListShardsCommand,
  PutRecordsCommand,
  type Shard
} from "@aws-sdk/client-kinesis"
import { Context, Effect, Layer, Schema } from "effect"
import { type AwsEndpoint, makeKinesisClient } from "./Aws.ts"

/**
 * A failed Kinesis call (not retried here). `message`: one line, problem and fix.
 * `retryable`: throttling, 5xx/internal or network — safe to retry unchanged. `cause`: the
 * SDK / socket error (or other failure) it was made from, when there was one.
 */
export class KinesisError extends Schema.TaggedError<KinesisError>()("KinesisError", {
  message: Schema.String,
  retryable: Schema.Boolean,
  cause: Schema.optional(Schema.Defect())
}) {}

/** A shard of a stream. Hash-key range inclusive at both ends; `open` = still takes writes. */
export interface KinesisShard {
  readonly shardId: string
  readonly startingHashKey: bigint
  readonly endingHashKey: bigint
  readonly parentShardId?: string
  readonly adjacentParentShardId?: string
  readonly open: boolean
}

/** One PutRecords entry. `explicitHashKey` (decimal, [0, 2^128-1]) overrides the partition key's hash for routing. */
export interface PutEntry {
  readonly data: Uint8Array
  readonly partitionKey: string
  readonly explicitHashKey?: string
}

/** The outcome of one PutRecords entry: written (with where), or failed and NOT written. */
export type PutResult =
  | { readonly _tag: "Written"; readonly shardId: string; readonly sequenceNumber: string }
  | { readonly _tag: "Failed"; readonly errorCode: string; readonly errorMessage: string }

/** One record read back by GetRecords. */
export interface KinesisRecord {
  readonly data: Uint8Array
  readonly partitionKey: string
  readonly sequenceNumber: string
  readonly approximateArrivalTimestamp?: Date
}

/** A page of GetRecords. `nextIterator` undefined: the shard is closed and fully read. */
export interface RecordsPage {
  readonly records: ReadonlyArray<KinesisRecord>
  readonly nextIterator: string | undefined
  readonly millisBehindLatest?: number
}

interface AwsCause {
  readonly name?: unknown
  readonly code?: unknown
  readonly message?: unknown
  readonly $fault?: unknown
  readonly $metadata?: { readonly httpStatusCode?: unknown }
  readonly cause?: unknown
}

const NETWORK_CODES = new Set(["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EPIPE", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH", "ECONNABORTED"])
const THROTTLING = new Set([
  "ProvisionedThroughputExceededException",
  "LimitExceededException",
  "ThrottlingException",
  "KMSThrottlingException",
  "InternalFailure",
  "InternalFailureException",
  "ServiceUnavailable",
  "ServiceUnavailableException"
])

/** The name (SDK error class) or errno code of a cause, and its first message line. */
const inspect = (cause: unknown) => {
  const err: AwsCause = typeof cause === "object" && cause !== null ? cause : { message: String(cause) }
  const nested: AwsCause = typeof err.cause === "object" && err.cause !== null ? err.cause : {}
  const code = [err.code, nested.code, err.name].find((value): value is string => typeof value === "string") ?? "Error"
  const name = typeof err.name === "string" ? err.name : code
  const text = (typeof err.message === "string" && err.message !== "" ? err.message : String(cause)).split("\n")[0] ?? ""
  const status = typeof err.$metadata?.httpStatusCode === "number" ? err.$metadata.httpStatusCode : undefined
  return { name, code, text, status, serverFault: err.$fault === "server" }
}

/**
 * Pure: turns an SDK / socket error of a Kinesis call into a one-line `KinesisError`
 * naming the problem and the fix, with `cause` the error itself. `call` is the API call
 * (`PutRecords`, …); `stream` (undefined: a GetRecords call, which only has an iterator)
 * and `endpoint` are named in the message.
 */
export const describeKinesisError = (cause: unknown, call: string, stream: string | undefined, endpoint: string): KinesisError => {
  const { name, code, text, status, serverFault } = inspect(cause)
  const fail = (message: string, retryable: boolean) => new KinesisError({ message, retryable, cause })
  if (name === "ResourceNotFoundException") {
    return fail(
      stream === undefined
        ? `Kinesis ${call}: the shard iterator's stream or shard no longer exists at ${endpoint} (${text}); list the shards again`
        : `Kinesis stream ${stream} does not exist at ${endpoint}; create it or fix KINESIS_STREAM`,
      false
    )
  }
  stream ??= "the shard iterator's stream"
  if (name === "ExpiredIteratorException") {
    return fail(`Kinesis ${call} on ${stream}: the shard iterator expired (${text}); get a new iterator from the last sequence number read`, false)
  }
  if (["UnrecognizedClientException", "InvalidSignatureException", "ExpiredTokenException", "AccessDeniedException", "IncompleteSignature", "MissingAuthenticationToken"].includes(name)) {
    return fail(`Kinesis ${call} on ${stream} at ${endpoint} was refused (${name}: ${text}); fix the AWS credentials or the IAM policy`, false)
  }
  if (NETWORK_CODES.has(code) || name === "TimeoutError" || name === "RequestTimeout") {
    return fail(`Kinesis ${call} on ${stream}: cannot reach ${endpoint} (${code}: ${text}); start Kinesis or fix the endpoint (KINESIS_ENDPOINT) and the network`, true)
  }
  if (THROTTLING.has(name) || serverFault || (status !== undefined && status >= 500)) {
    return fail(`Kinesis ${call} on ${stream} at ${endpoint} failed temporarily (${name}: ${text}); retry later, or add shards if it persists`, true)
  }
  return fail(`Kinesis ${call} on ${stream} at ${endpoint} failed (${name}: ${text})`, false)
}

/** Pure: an SDK shard description → `KinesisShard`. Open = no ending sequence number. */
const toShard = (shard: Shard): KinesisShard => ({
  shardId: shard.ShardId ?? "",
  startingHashKey: BigInt(shard.HashKeyRange?.StartingHashKey ?? "0"),
  endingHashKey: BigInt(shard.HashKeyRange?.EndingHashKey ?? "0"),
  ...(shard.ParentShardId === undefined ? {} : { parentShardId: shard.ParentShardId }),
  ...(shard.AdjacentParentShardId === undefined ? {} : { adjacentParentShardId: shard.AdjacentParentShardId }),
  open: shard.SequenceNumberRange?.EndingSequenceNumber === undefined
})

const make = (client: KinesisClient, endpoint: string): Kinesis["Service"] => {
  const call = <A>(name: string, stream: string | undefined, send: (signal: AbortSignal) => Promise<A>) =>
    Effect.tryPromise({ try: send, catch: (cause) => describeKinesisError(cause, name, stream, endpoint) })

  const putRecords = Effect.fn("Kinesis.putRecords")(function* (stream: string, entries: ReadonlyArray<PutEntry>) {
    if (entries.length === 0) return []
    const output = yield* call("PutRecords", stream, (abortSignal) =>
      client.send(
        new PutRecordsCommand({
          StreamName: stream,
          Records: entries.map((entry) => ({
            Data: entry.data,
            PartitionKey: entry.partitionKey,
            ...(entry.explicitHashKey === undefined ? {} : { ExplicitHashKey: entry.explicitHashKey })
          }))
        }),
        { abortSignal }
      )
    )
    const records = output.Records ?? []
    if (records.length !== entries.length) {
      return yield* new KinesisError({
        message: `Kinesis PutRecords on ${stream} answered ${records.length} results for ${entries.length} entries; the endpoint ${endpoint} is not speaking the Kinesis API`,
        retryable: false
      })
    }
    return records.map((record): PutResult =>
      record.ErrorCode !== undefined || record.SequenceNumber === undefined
        ? { _tag: "Failed", errorCode: record.ErrorCode ?? "Unknown", errorMessage: record.ErrorMessage ?? "" }
        : { _tag: "Written", shardId: record.ShardId ?? "", sequenceNumber: record.SequenceNumber }
    )
  })

  const listShards = Effect.fn("Kinesis.listShards")(function* (stream: string) {
    const shards: Array<KinesisShard> = []
    let nextToken: string | undefined
    do {
      const token = nextToken
      const page = yield* call("ListShards", stream, (abortSignal) =>
        client.send(new ListShardsCommand(token === undefined ? { StreamName: stream } : { NextToken: token }), { abortSignal })
      )
      for (const shard of page.Shards ?? []) shards.push(toShard(shard))
      nextToken = page.NextToken
    } while (nextToken !== undefined)
    return shards
  })

  const getShardIterator = Effect.fn("Kinesis.getShardIterator")(function* (
    stream: string,
    shardId: string,
    from: { readonly afterSequenceNumber?: string }
  ) {
    const output = yield* call("GetShardIterator", stream, (abortSignal) =>
      client.send(
        new GetShardIteratorCommand({
          StreamName: stream,
          ShardId: shardId,
          ...(from.afterSequenceNumber === undefined
            ? { ShardIteratorType: "TRIM_HORIZON" }
            : { ShardIteratorType: "AFTER_SEQUENCE_NUMBER", StartingSequenceNumber: from.afterSequenceNumber })
        }),
        { abortSignal }
      )
    )
    if (output.ShardIterator === undefined) {
      return yield* new KinesisError({ message: `Kinesis GetShardIterator on ${stream}/${shardId} returned no iterator; the shard may have expired`, retryable: false })
    }
    return output.ShardIterator
  })

  const getRecords = Effect.fn("Kinesis.getRecords")(function* (iterator: string, limit?: number) {
    const output = yield* call("GetRecords", undefined, (abortSignal) =>
      client.send(new GetRecordsCommand({ ShardIterator: iterator, ...(limit === undefined ? {} : { Limit: limit }) }), { abortSignal })
    )
    return {
      records: (output.Records ?? []).map((record) => ({
        data: record.Data ?? new Uint8Array(),
        partitionKey: record.PartitionKey ?? "",
        sequenceNumber: record.SequenceNumber ?? "",
        ...(record.ApproximateArrivalTimestamp === undefined ? {} : { approximateArrivalTimestamp: record.ApproximateArrivalTimestamp })
      })),
      nextIterator: output.NextShardIterator,
      ...(output.MillisBehindLatest === undefined ? {} : { millisBehindLatest: output.MillisBehindLatest })
    }
  })

  return { putRecords, listShards, getShardIterator, getRecords }
}

/** The Kinesis Data Streams API, as the pipeline uses it. */
export class Kinesis extends Context.Service<
  Kinesis,
  {
    /**
     * PutRecords: writes `entries` (≤ 500, ≤ 5 MiB incl. partition keys, each ≤ 1 MiB) to
     * `stream`. Answers one `PutResult` per entry, aligned with `entries`; `Failed`
     * entries were not written. Fails with `KinesisError` when the whole call fails.
     */
    readonly putRecords: (stream: string, entries: ReadonlyArray<PutEntry>) => Effect.Effect<ReadonlyArray<PutResult>, KinesisError>
    /** ListShards, every page: all shards of `stream`, open and closed. */
    readonly listShards: (stream: string) => Effect.Effect<ReadonlyArray<KinesisShard>, KinesisError>
    /**
     * GetShardIterator: an iterator just after `from.afterSequenceNumber`, or at the
     * oldest record (TRIM_HORIZON) when it is absent.
     */
    readonly getShardIterator: (
      stream: string,
      shardId: string,
      from: { readonly afterSequenceNumber?: string }
    ) => Effect.Effect<string, KinesisError>
    /** GetRecords: up to `limit` (default 10,000) records from `iterator`, and the next iterator. */
    readonly getRecords: (iterator: string, limit?: number) => Effect.Effect<RecordsPage, KinesisError>
  }
>()("@totes-cdc/platform/Kinesis") {
  /** Kinesis at `target` (kinesalite when `target.endpoint` is set). The client is destroyed with the layer. */
  static readonly layer = (target: AwsEndpoint): Layer.Layer<Kinesis> =>
    Layer.effect(
      Kinesis,
      Effect.acquireRelease(
        Effect.sync(() => makeKinesisClient(target)),
        (client) => Effect.sync(() => client.destroy())
      ).pipe(Effect.map((client) => Kinesis.of(make(client, target.endpoint ?? `Kinesis in ${target.region}`))))
    )
}
