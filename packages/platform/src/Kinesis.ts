/**
 * Kinesis Data Streams adapter: the only place the pipeline calls the Kinesis API
 * (AWS, or kinesalite locally). One service, six calls: PutRecords, ListShards,
 * GetShardIterator, GetRecords, DescribeStreamSummary (for `totes-cdc status`), and
 * CreateStream (`ensureStream`, for `totes-cdc init-localstack` on an emulator).
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
 *  - `Kinesis.layerTest` is an in-memory Kinesis for tests, held to the same contract as
 *    this layer on kinesalite (packages/local-stack/test/FakesContract.integration.test.ts):
 *    same shapes, same routing (MD5 of the partition key over evenly split shards), and
 *    failures made by `describeKinesisError`, so their messages read the same.
 */
import { hashKeyOf, MAX_HASH_KEY, shardFor } from "@totes-cdc/core"
import {
  CreateStreamCommand,
  DescribeStreamSummaryCommand,
  type DescribeStreamSummaryOutput,
  GetRecordsCommand,
  GetShardIteratorCommand,
  type KinesisClient,
  ListShardsCommand,
  PutRecordsCommand,
  type Shard
} from "@aws-sdk/client-kinesis"
import { Clock, Context, Effect, Layer, Result, Schedule, Schema } from "effect"
import { Buffer } from "node:buffer"
import { type AwsEndpoint, makeKinesisClient } from "./Aws.ts"
import { inspectAwsError, NETWORK_ERROR_CODES } from "./SdkErrors.ts"

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

/**
 * A stream's summary (DescribeStreamSummary). `status`: CREATING/DELETING/UPDATING, or
 * ACTIVE (takes reads and writes). `mode`: capacity mode (a stream with no mode details,
 * as kinesalite answers, is PROVISIONED). `openShards`: shards still taking writes.
 * `retentionHours`: how long records are readable, hours (24–8,760). `encryption`:
 * server-side encryption (KMS) or none. `consumers`: registered enhanced fan-out
 * consumers, when Kinesis says.
 */
export interface StreamSummary {
  readonly status: "CREATING" | "DELETING" | "ACTIVE" | "UPDATING"
  readonly mode: "ON_DEMAND" | "PROVISIONED"
  readonly openShards: number
  readonly retentionHours: number
  readonly encryption: "NONE" | "KMS"
  readonly consumers?: number
}

/** A stream `ensureStream` made sure of: its ARN (what Firehose's source names) and open shards. */
export interface EnsuredStream {
  readonly arn: string
  readonly openShards: number
}

/** How long `ensureStream` waits for a new stream to be ACTIVE (polled every 200 ms). */
export const STREAM_ACTIVE_TIMEOUT = "1 minute"

/** Pure: the one line for a stream that exists with `found` open shards where `wanted` were asked for. */
const shardMismatch = (stream: string, endpoint: string, found: number, wanted: number) =>
  new KinesisError({
    message: `Kinesis stream ${stream} at ${endpoint} exists with ${found} open shards, not ${wanted}; delete the stream or set KINESIS_SHARDS=${found}`,
    retryable: false
  })

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

/**
 * Pure: turns an SDK / socket error of a Kinesis call into a one-line `KinesisError`
 * naming the problem and the fix, with `cause` the error itself. `call` is the API call
 * (`PutRecords`, …); `stream` (undefined: a GetRecords call, which only has an iterator)
 * and `endpoint` are named in the message.
 */
export const describeKinesisError = (cause: unknown, call: string, stream: string | undefined, endpoint: string): KinesisError => {
  const { name, code, text, status, serverFault } = inspectAwsError(cause)
  const fail = (message: string, retryable: boolean) => new KinesisError({ message, retryable, cause })
  if (name === "ResourceNotFoundException") {
    if (stream === undefined) {
      return fail(`Kinesis ${call}: the shard iterator's stream or shard no longer exists at ${endpoint} (${text}); list the shards again`, false)
    }
    // GetShardIterator names the shard, for a missing shard and a missing stream alike: keep Kinesis' words.
    if (/^(Shard \S+ in stream|Could not find shard)/.test(text)) {
      return fail(`Kinesis ${call} on ${stream} at ${endpoint}: no such shard (${text}); list the shards again, or create the stream / fix KINESIS_STREAM`, false)
    }
    return fail(`Kinesis stream ${stream} does not exist at ${endpoint}; create it or fix KINESIS_STREAM`, false)
  }
  stream ??= "the shard iterator's stream"
  if (name === "ExpiredIteratorException") {
    return fail(`Kinesis ${call} on ${stream}: the shard iterator expired (${text}); get a new iterator from the last sequence number read`, false)
  }
  if (["UnrecognizedClientException", "InvalidSignatureException", "ExpiredTokenException", "AccessDeniedException", "IncompleteSignature", "MissingAuthenticationToken"].includes(name)) {
    return fail(`Kinesis ${call} on ${stream} at ${endpoint} was refused (${name}: ${text}); fix the AWS credentials or the IAM policy`, false)
  }
  if (NETWORK_ERROR_CODES.has(code) || name === "TimeoutError" || name === "RequestTimeout") {
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

/**
 * Pure: a DescribeStreamSummary answer → `StreamSummary`. Absent fields take Kinesis'
 * defaults (PROVISIONED, 24 hours, NONE); undefined when the answer holds no summary.
 */
export const toStreamSummary = (output: DescribeStreamSummaryOutput): StreamSummary | undefined => {
  const summary = output.StreamDescriptionSummary
  if (summary === undefined) return undefined
  return {
    status: summary.StreamStatus ?? "ACTIVE",
    mode: summary.StreamModeDetails?.StreamMode ?? "PROVISIONED",
    openShards: summary.OpenShardCount ?? 0,
    retentionHours: summary.RetentionPeriodHours ?? 24,
    encryption: summary.EncryptionType ?? "NONE",
    ...(summary.ConsumerCount === undefined ? {} : { consumers: summary.ConsumerCount })
  }
}

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

  const describeStreamSummary = Effect.fn("Kinesis.describeStreamSummary")(function* (stream: string) {
    const output = yield* call("DescribeStreamSummary", stream, (abortSignal) =>
      client.send(new DescribeStreamSummaryCommand({ StreamName: stream }), { abortSignal })
    )
    const summary = toStreamSummary(output)
    if (summary === undefined) {
      return yield* new KinesisError({
        message: `Kinesis DescribeStreamSummary on ${stream} answered no summary; the endpoint ${endpoint} is not speaking the Kinesis API`,
        retryable: false
      })
    }
    return summary
  })

  /** DescribeStreamSummary's answer, or undefined when the stream does not exist. */
  const summaryOrAbsent = (stream: string) =>
    call("DescribeStreamSummary", stream, (abortSignal) =>
      client.send(new DescribeStreamSummaryCommand({ StreamName: stream }), { abortSignal }).then(
        (output) => output.StreamDescriptionSummary,
        (error: unknown) =>
          typeof error === "object" && error !== null && "name" in error && error.name === "ResourceNotFoundException" ? undefined : Promise.reject(error)
      )
    )

  const ensureStream = Effect.fn("Kinesis.ensureStream")(function* (stream: string, shards: number) {
    const existing = yield* summaryOrAbsent(stream)
    if (existing === undefined) {
      yield* call("CreateStream", stream, (abortSignal) => client.send(new CreateStreamCommand({ StreamName: stream, ShardCount: shards }), { abortSignal }))
    }
    const active = yield* summaryOrAbsent(stream).pipe(
      Effect.repeat({ until: (summary) => summary?.StreamStatus === "ACTIVE", schedule: Schedule.spaced("200 millis") }),
      Effect.timeoutOrElse({
        duration: STREAM_ACTIVE_TIMEOUT,
        orElse: () =>
          Effect.fail(new KinesisError({ message: `Kinesis stream ${stream} at ${endpoint} was not ACTIVE within ${STREAM_ACTIVE_TIMEOUT}; look at the emulator's log, then run the command again`, retryable: true }))
      })
    )
    const openShards = active?.OpenShardCount ?? 0
    if (existing !== undefined && openShards !== shards) return yield* shardMismatch(stream, endpoint, openShards, shards)
    if (active?.StreamARN === undefined) {
      return yield* new KinesisError({ message: `Kinesis DescribeStreamSummary on ${stream} answered no StreamARN; the endpoint ${endpoint} is not speaking the Kinesis API`, retryable: false })
    }
    return { arn: active.StreamARN, openShards }
  })

  return { putRecords, listShards, getShardIterator, getRecords, describeStreamSummary, ensureStream }
}

// ---------------------------------------------------------------------------------------
// In memory: `Kinesis.layerTest`.

/** What the in-memory Kinesis names as its endpoint in error messages. */
const IN_MEMORY_KINESIS = "in-memory Kinesis"
/** The AWS account the in-memory Kinesis names in its errors' texts (kinesalite's). */
const ACCOUNT = "000000000000"
/** A shard iterator is valid this long after it was made (Kinesis: 5 minutes). */
const ITERATOR_LIFETIME_MS = 300_000
/** Records older than this are no longer read (Kinesis' default retention: 24 hours). */
const RETENTION_MS = 24 * 60 * 60 * 1_000
/** PutRecords limits: entries per call, bytes of data per entry, bytes (data + partition keys) per call. */
const MAX_PUT_ENTRIES = 500
const MAX_RECORD_BYTES = 1_048_576
const MAX_REQUEST_BYTES = 5 * MAX_RECORD_BYTES
/** GetRecords' largest `limit`, also its default. */
const MAX_GET_LIMIT = 10_000
/** Stream names Kinesis accepts. */
const STREAM_NAME = /^[a-zA-Z0-9_.-]{1,128}$/
/** An ExplicitHashKey as Kinesis accepts it: a decimal integer without leading zeros (range checked apart). */
const EXPLICIT_HASH_KEY = /^(0|[1-9]\d{0,38})$/
/** The in-memory sequence number: `49`, the shard's index (12 digits), the stream's record counter (42 digits). */
const SEQUENCE_NUMBER = /^49(\d{12})(\d{42})$/

/** Pure: the id Kinesis gives the shard of index `index` (0-based): `shardId-000000000000`, `shardId-000000000001`, …. */
export const shardIdOf = (index: number): string => `shardId-${String(index).padStart(12, "0")}`

/**
 * Pure: the shards CreateStream makes for a stream of `shardCount` (an integer ≥ 1) shards,
 * as Kinesis and kinesalite split the 2^128 hash keys: shard i (id `shardIdOf(i)`) holds
 * [i·w, (i+1)·w − 1] with w = ⌊2^128 / shardCount⌋, the last one up to 2^128 − 1; all open,
 * no parents.
 */
export const newStreamShards = (shardCount: number): ReadonlyArray<KinesisShard> => {
  const width = (MAX_HASH_KEY + 1n) / BigInt(shardCount)
  return Array.from({ length: shardCount }, (_, i) => ({
    shardId: shardIdOf(i),
    startingHashKey: width * BigInt(i),
    endingHashKey: i === shardCount - 1 ? MAX_HASH_KEY : width * BigInt(i + 1) - 1n,
    open: true
  }))
}

/** One record held by the in-memory Kinesis. `sequence` = `sequenceNumber` as a number; `arrivedAt` in epoch ms (Clock). */
interface HeldRecord {
  readonly data: Uint8Array
  readonly partitionKey: string
  readonly sequence: bigint
  readonly sequenceNumber: string
  readonly arrivedAt: number
}

/** A shard of the in-memory Kinesis: its description, index, and records in sequence order. */
interface HeldShard extends KinesisShard {
  readonly index: number
  readonly records: Array<HeldRecord>
}

/** A stream of the in-memory Kinesis; `putCount` numbers its records (the tail of their sequence numbers). */
interface HeldStream {
  readonly shards: ReadonlyArray<HeldShard>
  putCount: bigint
}

/** Where an in-memory shard iterator points: the records of `stream/shardId` after sequence `after` (0 = TRIM_HORIZON). */
interface IteratorPosition {
  readonly stream: string
  readonly shardId: string
  readonly after: bigint
  /** When the iterator was made, epoch ms (Clock): it expires `ITERATOR_LIFETIME_MS` later. */
  readonly madeAt: number
}

const ITERATOR_VERSION = "in-memory-kinesis/1"

/** Pure: an opaque iterator string for `position` (base64 of a versioned JSON array). */
const encodeIterator = (position: IteratorPosition): string =>
  Buffer.from(JSON.stringify([ITERATOR_VERSION, position.stream, position.shardId, position.after.toString(), position.madeAt])).toString("base64")

/** Pure: the position of an iterator `encodeIterator` made, or undefined for any other string. */
const decodeIterator = (iterator: string): IteratorPosition | undefined => {
  try {
    const parsed: unknown = JSON.parse(Buffer.from(iterator, "base64").toString("utf8"))
    if (!Array.isArray(parsed) || parsed.length !== 5) return undefined
    const [version, stream, shardId, after, madeAt] = parsed as Array<unknown>
    if (version !== ITERATOR_VERSION || typeof stream !== "string" || typeof shardId !== "string") return undefined
    if (typeof after !== "string" || !/^\d+$/.test(after) || typeof madeAt !== "number") return undefined
    return { stream, shardId, after: BigInt(after), madeAt }
  } catch {
    return undefined
  }
}

/**
 * An SDK-like error (`name`, `message`, a 400 client fault) as the Kinesis API answers it,
 * described by `describeKinesisError` exactly as the real layer describes the SDK's.
 */
const apiError = (name: string, text: string, call: string, stream: string | undefined): KinesisError =>
  describeKinesisError(
    Object.assign(new Error(text), { name, $fault: "client", $metadata: { httpStatusCode: 400 } }),
    call,
    stream,
    IN_MEMORY_KINESIS
  )

/** Pure: why PutRecords refuses `entries` (a ValidationException / InvalidArgumentException), or undefined. */
const refusedEntries = (entries: ReadonlyArray<PutEntry>): { readonly name: string; readonly text: string } | undefined => {
  if (entries.length > MAX_PUT_ENTRIES) {
    return { name: "ValidationException", text: `1 validation error detected: Value at 'records' failed to satisfy constraint: Member must have length less than or equal to ${MAX_PUT_ENTRIES}` }
  }
  let requestBytes = 0
  for (const [i, entry] of entries.entries()) {
    const at = `records.${i + 1}.member`
    const invalid = (value: string, field: string, constraint: string) => ({
      name: "ValidationException",
      text: `1 validation error detected: Value '${value}' at '${at}.${field}' failed to satisfy constraint: Member must have ${constraint}`
    })
    if (entry.partitionKey.length < 1) return invalid(entry.partitionKey, "partitionKey", "length greater than or equal to 1")
    if (entry.partitionKey.length > 256) return invalid(entry.partitionKey, "partitionKey", "length less than or equal to 256")
    if (entry.data.byteLength > MAX_RECORD_BYTES) {
      const size = entry.data.byteLength
      return invalid(`java.nio.HeapByteBuffer[pos=0 lim=${size} cap=${size}]`, "data", `length less than or equal to ${MAX_RECORD_BYTES}`)
    }
    if (entry.explicitHashKey !== undefined && (!EXPLICIT_HASH_KEY.test(entry.explicitHashKey) || BigInt(entry.explicitHashKey) > MAX_HASH_KEY)) {
      return { name: "InvalidArgumentException", text: `Invalid ExplicitHashKey. ExplicitHashKey must be in the range: [0, 2^128-1]. Specified value was ${entry.explicitHashKey}` }
    }
    requestBytes += entry.data.byteLength + Buffer.byteLength(entry.partitionKey, "utf8")
  }
  return requestBytes > MAX_REQUEST_BYTES
    ? { name: "InvalidArgumentException", text: `Records size exceeds ${MAX_REQUEST_BYTES / MAX_RECORD_BYTES} MB limit` }
    : undefined
}

/** A fresh in-memory Kinesis holding the streams of `streams` (name → shard count), empty. */
const makeInMemory = (streams: Readonly<Record<string, number>>): Kinesis["Service"] => {
  const held = new Map<string, HeldStream>()
  const addStream = (name: string, shardCount: number) =>
    held.set(name, { shards: newStreamShards(shardCount).map((shard, index) => ({ ...shard, index, records: [] })), putCount: 0n })
  for (const [name, shardCount] of Object.entries(streams)) {
    if (!STREAM_NAME.test(name)) throw new Error(`Kinesis.layerTest: stream name ${JSON.stringify(name)} is not one Kinesis accepts ([a-zA-Z0-9_.-], 1-128 characters)`)
    if (!Number.isInteger(shardCount) || shardCount < 1) throw new Error(`Kinesis.layerTest: stream ${name} needs a whole number of shards ≥ 1, not ${shardCount}`)
    addStream(name, shardCount)
  }
  // Kinesis' own words (with kinesalite's account id), so `describeKinesisError` reads them as it reads the real ones.
  const streamNotFound = (call: string, stream: string) =>
    apiError("ResourceNotFoundException", `Stream ${stream} under account ${ACCOUNT} not found.`, call, stream)
  const shardNotFound = (call: string, stream: string | undefined, shardId: string, streamName: string) =>
    apiError("ResourceNotFoundException", `Shard ${shardId} in stream ${streamName} under account ${ACCOUNT} does not exist`, call, stream)

  const putRecords = Effect.fn("Kinesis.putRecords")(function* (stream: string, entries: ReadonlyArray<PutEntry>) {
    // As the real layer: no entries, no call.
    if (entries.length === 0) return []
    const target = held.get(stream)
    if (target === undefined) return yield* streamNotFound("PutRecords", stream)
    const refused = refusedEntries(entries)
    if (refused !== undefined) return yield* apiError(refused.name, refused.text, "PutRecords", stream)
    const now = yield* Clock.currentTimeMillis
    return entries.map((entry): PutResult => {
      const hashKey = entry.explicitHashKey === undefined ? hashKeyOf(entry.partitionKey) : BigInt(entry.explicitHashKey)
      const found = shardFor(hashKey, target.shards)
      if (Result.isFailure(found)) return { _tag: "Failed", errorCode: "InternalFailure", errorMessage: found.failure.message }
      const shard = found.success
      target.putCount += 1n
      const sequenceNumber = `49${String(shard.index).padStart(12, "0")}${target.putCount.toString().padStart(42, "0")}`
      shard.records.push({ data: new Uint8Array(entry.data), partitionKey: entry.partitionKey, sequence: BigInt(sequenceNumber), sequenceNumber, arrivedAt: now })
      return { _tag: "Written", shardId: shard.shardId, sequenceNumber }
    })
  })

  const listShards = Effect.fn("Kinesis.listShards")(function* (stream: string) {
    const target = held.get(stream)
    if (target === undefined) return yield* streamNotFound("ListShards", stream)
    return target.shards.map(({ shardId, startingHashKey, endingHashKey, open }): KinesisShard => ({ shardId, startingHashKey, endingHashKey, open }))
  })

  const getShardIterator = Effect.fn("Kinesis.getShardIterator")(function* (
    stream: string,
    shardId: string,
    from: { readonly afterSequenceNumber?: string }
  ) {
    if (!/^shardId-\d{12}$/.test(shardId)) {
      return yield* apiError("ResourceNotFoundException", `Could not find shard ${shardId} in stream ${stream} under account ${ACCOUNT}.`, "GetShardIterator", stream)
    }
    // Kinesis says the same for a missing stream and a missing shard here.
    const shard = held.get(stream)?.shards.find((s) => s.shardId === shardId)
    if (shard === undefined) return yield* shardNotFound("GetShardIterator", stream, shardId, stream)
    let after = 0n
    if (from.afterSequenceNumber !== undefined) {
      const parsed = SEQUENCE_NUMBER.exec(from.afterSequenceNumber)
      if (parsed === null) {
        return yield* apiError(
          "InvalidArgumentException",
          `StartingSequenceNumber ${from.afterSequenceNumber} used in GetShardIterator on shard ${shardId} in stream ${stream} under account ${ACCOUNT} is invalid.`,
          "GetShardIterator",
          stream
        )
      }
      if (Number(parsed[1]) !== shard.index) {
        return yield* apiError(
          "InvalidArgumentException",
          `Invalid StartingSequenceNumber. It encodes ${shardIdOf(Number(parsed[1]))}, while it was used in a call to a shard with ${shardId}`,
          "GetShardIterator",
          stream
        )
      }
      after = BigInt(from.afterSequenceNumber)
    }
    return encodeIterator({ stream, shardId, after, madeAt: yield* Clock.currentTimeMillis })
  })

  const getRecords = Effect.fn("Kinesis.getRecords")(function* (iterator: string, limit?: number) {
    const take = limit ?? MAX_GET_LIMIT
    if (!Number.isInteger(take) || take < 1 || take > MAX_GET_LIMIT) {
      const constraint = take > MAX_GET_LIMIT ? `less than or equal to ${MAX_GET_LIMIT}` : "greater than or equal to 1"
      return yield* apiError(
        "ValidationException",
        `1 validation error detected: Value '${take}' at 'limit' failed to satisfy constraint: Member must have value ${constraint}`,
        "GetRecords",
        undefined
      )
    }
    const position = decodeIterator(iterator)
    if (position === undefined) return yield* apiError("InvalidArgumentException", `Invalid ShardIterator ${iterator}.`, "GetRecords", undefined)
    const now = yield* Clock.currentTimeMillis
    if (now - position.madeAt > ITERATOR_LIFETIME_MS) {
      return yield* apiError(
        "ExpiredIteratorException",
        `Iterator expired. The iterator was created at time ${new Date(position.madeAt).toISOString()} while right now it is ${new Date(now).toISOString()} which is further in the future than the tolerated delay of ${ITERATOR_LIFETIME_MS} milliseconds.`,
        "GetRecords",
        undefined
      )
    }
    const shard = held.get(position.stream)?.shards.find((s) => s.shardId === position.shardId)
    if (shard === undefined) return yield* shardNotFound("GetRecords", undefined, position.shardId, position.stream)
    const unread = shard.records.filter((record) => record.sequence > position.after && record.arrivedAt >= now - RETENTION_MS)
    const page = unread.slice(0, take)
    const behind = unread[page.length]
    return {
      records: page.map((record) => ({
        data: new Uint8Array(record.data),
        partitionKey: record.partitionKey,
        sequenceNumber: record.sequenceNumber,
        approximateArrivalTimestamp: new Date(record.arrivedAt)
      })),
      nextIterator: encodeIterator({ ...position, after: page.at(-1)?.sequence ?? position.after, madeAt: now }),
      // 0 = caught up; records left unread: how long the oldest has waited, at least 1 ms.
      millisBehindLatest: behind === undefined ? 0 : Math.max(1, now - behind.arrivedAt)
    }
  })

  const describeStreamSummary = Effect.fn("Kinesis.describeStreamSummary")(function* (stream: string) {
    const target = held.get(stream)
    if (target === undefined) return yield* streamNotFound("DescribeStreamSummary", stream)
    // As kinesalite answers: no mode details (PROVISIONED), 24 hours, no encryption, no consumers.
    const summary: StreamSummary = {
      status: "ACTIVE",
      mode: "PROVISIONED",
      openShards: target.shards.filter((shard) => shard.open).length,
      retentionHours: RETENTION_MS / 3_600_000,
      encryption: "NONE",
      consumers: 0
    }
    return summary
  })

  const ensureStream = Effect.fn("Kinesis.ensureStream")(function* (stream: string, shards: number) {
    const existing = held.get(stream)
    if (existing === undefined) {
      if (!STREAM_NAME.test(stream)) {
        return yield* apiError(
          "ValidationException",
          `1 validation error detected: Value '${stream}' at 'streamName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+`,
          "CreateStream",
          stream
        )
      }
      if (!Number.isInteger(shards) || shards < 1) {
        return yield* apiError(
          "ValidationException",
          `1 validation error detected: Value '${shards}' at 'shardCount' failed to satisfy constraint: Member must have value greater than or equal to 1`,
          "CreateStream",
          stream
        )
      }
      addStream(stream, shards)
      return { arn: `arn:aws:kinesis:eu-west-2:${ACCOUNT}:stream/${stream}`, openShards: shards }
    }
    const openShards = existing.shards.filter((shard) => shard.open).length
    if (openShards !== shards) return yield* shardMismatch(stream, IN_MEMORY_KINESIS, openShards, shards)
    return { arn: `arn:aws:kinesis:eu-west-2:${ACCOUNT}:stream/${stream}`, openShards }
  })

  return { putRecords, listShards, getShardIterator, getRecords, describeStreamSummary, ensureStream }
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
    /**
     * DescribeStreamSummary: `stream`'s status, capacity mode, open shards, retention
     * (hours), encryption and consumers (`StreamSummary`). Fails with `KinesisError`
     * (a missing stream: not retryable, named).
     */
    readonly describeStreamSummary: (stream: string) => Effect.Effect<StreamSummary, KinesisError>
    /**
     * CreateStream of `stream` with `shards` shards unless it exists; answers once it is
     * ACTIVE (polled every 200 ms, at most `STREAM_ACTIVE_TIMEOUT`): its ARN and open shards.
     * Idempotent. Fails with `KinesisError`: a stream that exists with another number of
     * open shards (not retryable, naming both numbers), or the call's own failure.
     */
    readonly ensureStream: (stream: string, shards: number) => Effect.Effect<EnsuredStream, KinesisError>
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

  /**
   * An in-memory Kinesis for tests, fresh (empty) at each build of the layer, holding the
   * streams of `options.streams` (stream name → shard count, a whole number ≥ 1; a bad name
   * or count is a defect when the layer is built). Answers as the real layer does on
   * kinesalite (checked by packages/local-stack/test/FakesContract.integration.test.ts):
   *  - streams are split into shards as CreateStream does (`newStreamShards`: ids
   *    `shardId-000000000000`, …, the 2^128 hash keys split evenly, all open; no resharding);
   *  - `putRecords` routes each entry to the shard holding its `explicitHashKey` or the MD5
   *    of its partition key (`hashKeyOf`), and answers `Written` for every entry (never
   *    `Failed`: no throttling) with a 56-digit sequence number that increases per shard, as
   *    a number and as a string (not contiguous: numbered per stream). Kinesis' limits are
   *    checked: ≤ 500 entries, partition key 1–256 characters, data ≤ 1 MiB, ≤ 5 MiB per
   *    call, explicit hash key in [0, 2^128 − 1];
   *  - `getShardIterator` answers an opaque iterator (TRIM_HORIZON, or AFTER_SEQUENCE_NUMBER
   *    of a sequence number of that shard); iterators expire 5 minutes (Clock) after they
   *    were made, and can be read again (the same page) until then;
   *  - `getRecords` answers up to `limit` (1–10,000, default 10,000) records from the
   *    iterator on, with an `approximateArrivalTimestamp` = the Clock at put, a
   *    `nextIterator` (never undefined: shards never close) and `millisBehindLatest` 0 when
   *    no record is left unread after the page, else ≥ 1 (how long the oldest unread record
   *    has waited). Records older than 24 hours (Clock) are no longer read;
   *  - `ensureStream` adds a stream (split as CreateStream does, ARN in eu-west-2 of
   *    kinesalite's account) unless it exists, and fails as the real layer does for one with
   *    another number of open shards;
   *  - `describeStreamSummary` answers as kinesalite does: ACTIVE, PROVISIONED, every shard
   *    open, 24 hours, encryption NONE, 0 consumers.
   * Fails, non-retryable, with the `KinesisError` the real layer gives for the same
   * Kinesis error (`describeKinesisError`, endpoint named "in-memory Kinesis"): unknown
   * stream (named), unknown shard (named with its stream), unknown or expired iterator,
   * a sequence number of another shard, a refused entry or limit.
   */
  static readonly layerTest = (options: { readonly streams: Readonly<Record<string, number>> }): Layer.Layer<Kinesis> =>
    Layer.effect(Kinesis, Effect.sync(() => Kinesis.of(makeInMemory(options.streams))))
}
