/**
 * Amazon Data Firehose adapter: the only place the pipeline calls the Firehose API.
 * DescribeDeliveryStream, for `totes-cdc status` (the archive's delivery stream, Kinesis
 * stream → ingestion bucket under `raw/`); CreateDeliveryStream, for `totes-cdc
 * init-localstack` (`ensureDeliveryStream`: the delivery stream infra/src/ChangeStream.ts
 * deploys, on an emulator). Locally (`dev`) there is no Firehose: the archiver stands in for it.
 *
 * Invariants:
 *  - Every failure is a `FirehoseError` with one line naming the delivery stream, the
 *    problem and the fix, the SDK / socket error it came from as its `cause`, and
 *    `retryable` true exactly for throttling, 5xx and network errors. Nothing here retries
 *    on top of the SDK client's own policy (standard mode, 3 attempts).
 *  - `toFirehoseDescription` (pure) is the only mapping from the SDK's answer.
 *  - `ensureDeliveryStream` is idempotent: an existing delivery stream whose source and S3
 *    destination are the wanted ones is left as it is; one configured otherwise is an error
 *    naming the difference (never silently kept, never replaced). It answers only once the
 *    delivery stream is ACTIVE (polled every 500 ms, at most `DELIVERY_STREAM_ACTIVE_TIMEOUT`).
 *  - The client is made once per layer and destroyed when the layer's scope closes.
 *  - `Firehose.layerTest` answers from a map, and fails for a missing delivery stream as the
 *    real layer does (same `describeFirehoseError`, same SDK error name and text).
 */
import { CreateDeliveryStreamCommand, DescribeDeliveryStreamCommand, type DescribeDeliveryStreamOutput, type FirehoseClient } from "@aws-sdk/client-firehose"
import { Context, Effect, Layer, Schedule, Schema } from "effect"
import { type AwsEndpoint, makeFirehoseClient } from "./Aws.ts"
import { inspectAwsError, NETWORK_ERROR_CODES } from "./SdkErrors.ts"

/**
 * A failed Firehose call. `message`: one line naming the delivery stream, the problem and
 * the fix. `retryable`: throttling, 5xx or network — safe to retry unchanged. `cause`: the
 * SDK / socket error it was made from, when there was one.
 */
export class FirehoseError extends Schema.TaggedError<FirehoseError>()("FirehoseError", {
  message: Schema.String,
  retryable: Schema.Boolean,
  cause: Schema.optional(Schema.Defect())
}) {}

/** Where a delivery stream writes: its first destination, when that is S3 (ExtendedS3DestinationDescription). */
export interface FirehoseS3Destination {
  /** `arn:aws:s3:::<bucket>`. */
  readonly bucketArn: string
  /** Key prefix of delivered objects ("" when none is set). */
  readonly prefix: string
  /** Key prefix of objects that failed delivery or processing ("" when none is set). */
  readonly errorOutputPrefix: string
  /** Buffering interval, seconds (Firehose's default: 300). */
  readonly bufferingSeconds: number
  /** Buffering size, MiB (Firehose's default: 5). */
  readonly bufferingMiB: number
}

/**
 * A delivery stream as DescribeDeliveryStream answers it. `status`: ACTIVE delivers;
 * CREATING_FAILED / DELETING_FAILED come with a `failure` ("<Type>: <Details>").
 * `source`: the Kinesis stream it reads, when its source is one (absent: Direct PUT).
 * `destination`: its S3 destination, when it has one.
 */
export interface FirehoseDescription {
  readonly status: "CREATING" | "CREATING_FAILED" | "DELETING" | "DELETING_FAILED" | "ACTIVE"
  readonly source?: { readonly kinesisStreamArn: string }
  readonly destination?: FirehoseS3Destination
  readonly failure?: string
}

const RETRYABLE = new Set([
  "LimitExceededException",
  "ThrottlingException",
  "ServiceUnavailableException",
  "ServiceUnavailable",
  "InternalFailure",
  "RequestTimeout",
  "TimeoutError"
])
const REFUSED = new Set([
  "AccessDeniedException",
  "UnrecognizedClientException",
  "InvalidSignatureException",
  "ExpiredTokenException",
  "IncompleteSignature",
  "MissingAuthenticationToken"
])

/**
 * Pure: turns an SDK / socket error of Firehose call `call` (`DescribeDeliveryStream`) on
 * delivery stream `name` into a one-line `FirehoseError` naming the problem and the fix,
 * with `cause` the error itself. `endpoint` names where the call went (`Firehose in <region>`).
 */
export const describeFirehoseError = (cause: unknown, call: string, name: string, endpoint: string): FirehoseError => {
  const { name: errorName, code, text, status, serverFault } = inspectAwsError(cause)
  const fail = (message: string, retryable: boolean) => new FirehoseError({ message, retryable, cause })
  if (errorName === "ResourceNotFoundException") {
    return fail(`Firehose delivery stream ${name} does not exist at ${endpoint} (${text}); deploy the stack or fix FIREHOSE_DELIVERY_STREAM / AWS_REGION`, false)
  }
  if (REFUSED.has(errorName)) {
    return fail(`Firehose ${call} on ${name} at ${endpoint} was refused (${errorName}: ${text}); grant firehose:${call} or fix the AWS credentials`, false)
  }
  if (NETWORK_ERROR_CODES.has(code)) {
    return fail(`Firehose ${call} on ${name}: cannot reach ${endpoint} (${code}: ${text}); fix the region (AWS_REGION) or the network`, true)
  }
  if (RETRYABLE.has(errorName) || serverFault || (status !== undefined && status >= 500)) {
    return fail(`Firehose ${call} on ${name} at ${endpoint} failed temporarily (${errorName}: ${text}); retry later`, true)
  }
  return fail(`Firehose ${call} on ${name} at ${endpoint} failed (${errorName}: ${text})`, false)
}

/**
 * Pure: a DescribeDeliveryStream answer → `FirehoseDescription` (undefined when it holds
 * no description). The destination is the first one's ExtendedS3DestinationDescription
 * (absent for other destinations); buffering hints absent take Firehose's defaults
 * (300 s, 5 MiB).
 */
export const toFirehoseDescription = (output: DescribeDeliveryStreamOutput): FirehoseDescription | undefined => {
  const description = output.DeliveryStreamDescription
  if (description === undefined) return undefined
  const kinesisStreamArn = description.Source?.KinesisStreamSourceDescription?.KinesisStreamARN
  const s3 = description.Destinations?.[0]?.ExtendedS3DestinationDescription
  const failure = description.FailureDescription
  return {
    status: description.DeliveryStreamStatus ?? "ACTIVE",
    ...(kinesisStreamArn === undefined ? {} : { source: { kinesisStreamArn } }),
    ...(s3 === undefined
      ? {}
      : {
          destination: {
            bucketArn: s3.BucketARN ?? "",
            prefix: s3.Prefix ?? "",
            errorOutputPrefix: s3.ErrorOutputPrefix ?? "",
            bufferingSeconds: s3.BufferingHints?.IntervalInSeconds ?? 300,
            bufferingMiB: s3.BufferingHints?.SizeInMBs ?? 5
          }
        }),
    ...(failure === undefined ? {} : { failure: [failure.Type, failure.Details].filter((part) => part !== undefined && part !== "").join(": ") })
  }
}

/**
 * A delivery stream reading a Kinesis stream into S3, as infra/src/ChangeStream.ts deploys
 * the archive. ARNs in full; `prefix` / `errorOutputPrefix` as Firehose takes them (they may
 * hold `!{timestamp:…}` expressions); buffering in seconds and MiB; `appendNewline`: the
 * `AppendDelimiterToRecord` processor (each record ends with a newline); uncompressed.
 * `roleArn`: the role Firehose reads and writes as (an emulator takes any).
 */
export interface DeliveryStreamSpec {
  readonly name: string
  readonly kinesisStreamArn: string
  readonly roleArn: string
  readonly bucketArn: string
  readonly prefix: string
  readonly errorOutputPrefix: string
  readonly bufferingSeconds: number
  readonly bufferingMiB: number
  readonly appendNewline: boolean
}

/** How long `ensureDeliveryStream` waits for a new delivery stream to be ACTIVE (LocalStack starts a Kinesis consumer for it first). */
export const DELIVERY_STREAM_ACTIVE_TIMEOUT = "2 minutes"

/**
 * Pure: how an existing delivery stream (`found`) differs from `spec`, one phrase per
 * difference ("prefix is x, not y"); empty when its Kinesis source and S3 destination are
 * the wanted ones.
 */
export const deliveryStreamDifferences = (found: FirehoseDescription, spec: DeliveryStreamSpec): ReadonlyArray<string> => {
  const differences: Array<string> = []
  const compare = (what: string, actual: string | number | undefined, wanted: string | number) => {
    if (actual !== wanted) differences.push(`${what} is ${actual === undefined ? "not set" : JSON.stringify(actual)}, not ${JSON.stringify(wanted)}`)
  }
  compare("its source", found.source?.kinesisStreamArn, spec.kinesisStreamArn)
  compare("its S3 bucket", found.destination?.bucketArn, spec.bucketArn)
  compare("its prefix", found.destination?.prefix, spec.prefix)
  compare("its error output prefix", found.destination?.errorOutputPrefix, spec.errorOutputPrefix)
  compare("its buffering interval (s)", found.destination?.bufferingSeconds, spec.bufferingSeconds)
  compare("its buffering size (MiB)", found.destination?.bufferingMiB, spec.bufferingMiB)
  return differences
}

const createDeliveryStreamCommand = (spec: DeliveryStreamSpec) =>
  new CreateDeliveryStreamCommand({
    DeliveryStreamName: spec.name,
    DeliveryStreamType: "KinesisStreamAsSource",
    KinesisStreamSourceConfiguration: { KinesisStreamARN: spec.kinesisStreamArn, RoleARN: spec.roleArn },
    ExtendedS3DestinationConfiguration: {
      RoleARN: spec.roleArn,
      BucketARN: spec.bucketArn,
      Prefix: spec.prefix,
      ErrorOutputPrefix: spec.errorOutputPrefix,
      BufferingHints: { IntervalInSeconds: spec.bufferingSeconds, SizeInMBs: spec.bufferingMiB },
      CompressionFormat: "UNCOMPRESSED",
      ProcessingConfiguration: spec.appendNewline
        ? { Enabled: true, Processors: [{ Type: "AppendDelimiterToRecord", Parameters: [] }] }
        : { Enabled: false }
    }
  })

/** Describes a delivery stream (`undefined` when there is none), or fails as `describeFirehoseError` says. */
const describeOrAbsent = (client: FirehoseClient, name: string, endpoint: string) =>
  Effect.tryPromise({
    try: (abortSignal) =>
      client.send(new DescribeDeliveryStreamCommand({ DeliveryStreamName: name }), { abortSignal }).then(
        (output) => ({ found: true as const, output }),
        (error: unknown) =>
          typeof error === "object" && error !== null && "name" in error && error.name === "ResourceNotFoundException"
            ? { found: false as const }
            : Promise.reject(error)
      ),
    catch: (cause) => describeFirehoseError(cause, "DescribeDeliveryStream", name, endpoint)
  }).pipe(
    Effect.flatMap((answer) => {
      if (!answer.found) return Effect.succeed(undefined)
      const description = toFirehoseDescription(answer.output)
      return description === undefined
        ? Effect.fail(
            new FirehoseError({
              message: `Firehose DescribeDeliveryStream on ${name} answered no description; the endpoint ${endpoint} is not speaking the Firehose API`,
              retryable: false
            })
          )
        : Effect.succeed(description)
    })
  )

/** The Amazon Data Firehose API, as `totes-cdc status` and `totes-cdc init-localstack` use it. */
export class Firehose extends Context.Service<
  Firehose,
  {
    /**
     * DescribeDeliveryStream: the delivery stream `name`'s status, Kinesis source, S3
     * destination and failure (`FirehoseDescription`). Fails with `FirehoseError`: a
     * missing delivery stream or refused credentials (not retryable); throttling, 5xx,
     * network (retryable; the SDK has retried already).
     */
    readonly describeDeliveryStream: (name: string) => Effect.Effect<FirehoseDescription, FirehoseError>
    /**
     * The delivery stream `spec` describes, created unless it exists (module invariants),
     * once ACTIVE: its description. Fails with `FirehoseError`: one that exists configured
     * otherwise (naming each difference), creation refused or failed (CREATING_FAILED, with
     * Firehose's reason), not ACTIVE within `DELIVERY_STREAM_ACTIVE_TIMEOUT`, and the
     * errors of `describeDeliveryStream`.
     */
    readonly ensureDeliveryStream: (spec: DeliveryStreamSpec) => Effect.Effect<FirehoseDescription, FirehoseError>
  }
>()("@totes-cdc/platform/Firehose") {
  /** Firehose at `target` (AWS; an `endpoint` override is honoured). The client is destroyed with the layer. */
  static readonly layer = (target: AwsEndpoint): Layer.Layer<Firehose> =>
    Layer.effect(
      Firehose,
      Effect.gen(function* () {
        const client = yield* Effect.acquireRelease(
          Effect.sync(() => makeFirehoseClient(target)),
          (client) => Effect.sync(() => client.destroy())
        )
        const endpoint = target.endpoint ?? `Firehose in ${target.region}`
        const describeDeliveryStream = Effect.fn("Firehose.describeDeliveryStream")(function* (name: string) {
          const output = yield* Effect.tryPromise({
            try: (abortSignal) => client.send(new DescribeDeliveryStreamCommand({ DeliveryStreamName: name }), { abortSignal }),
            catch: (cause) => describeFirehoseError(cause, "DescribeDeliveryStream", name, endpoint)
          })
          const description = toFirehoseDescription(output)
          if (description === undefined) {
            return yield* new FirehoseError({
              message: `Firehose DescribeDeliveryStream on ${name} answered no description; the endpoint ${endpoint} is not speaking the Firehose API`,
              retryable: false
            })
          }
          return description
        })
        const ensureDeliveryStream = Effect.fn("Firehose.ensureDeliveryStream")(function* (spec: DeliveryStreamSpec) {
          const existing = yield* describeOrAbsent(client, spec.name, endpoint)
          if (existing !== undefined) {
            const differences = deliveryStreamDifferences(existing, spec)
            if (differences.length > 0) {
              return yield* new FirehoseError({
                message: `Firehose delivery stream ${spec.name} at ${endpoint} exists configured otherwise (${differences.join("; ")}); delete it or fix FIREHOSE_DELIVERY_STREAM`,
                retryable: false
              })
            }
          } else {
            yield* Effect.tryPromise({
              try: (abortSignal) => client.send(createDeliveryStreamCommand(spec), { abortSignal }),
              catch: (cause) => describeFirehoseError(cause, "CreateDeliveryStream", spec.name, endpoint)
            })
          }
          const settled = yield* describeOrAbsent(client, spec.name, endpoint).pipe(
            Effect.repeat({ until: (d) => d !== undefined && d.status !== "CREATING", schedule: Schedule.spaced("500 millis") }),
            Effect.timeoutOrElse({
              duration: DELIVERY_STREAM_ACTIVE_TIMEOUT,
              orElse: () =>
                Effect.fail(
                  new FirehoseError({
                    message: `Firehose delivery stream ${spec.name} at ${endpoint} was not ACTIVE within ${DELIVERY_STREAM_ACTIVE_TIMEOUT}; look at the emulator's log, then run the command again`,
                    retryable: true
                  })
                )
            })
          )
          if (settled === undefined || settled.status !== "ACTIVE") {
            return yield* new FirehoseError({
              message: `Firehose delivery stream ${spec.name} at ${endpoint} is ${settled?.status ?? "gone"}${settled?.failure === undefined ? "" : ` (${settled.failure})`}; delete it and run the command again`,
              retryable: false
            })
          }
          return settled
        })
        return Firehose.of({ describeDeliveryStream, ensureDeliveryStream })
      })
    )

  /**
   * Delivery streams from a map, for tests: `streams` is delivery stream name → its
   * description. `describeDeliveryStream` answers a known name's description; for any
   * other name it fails, not retryable, as the real layer does for a missing delivery
   * stream (ResourceNotFoundException with Firehose's text, described by
   * `describeFirehoseError` at "in-memory Firehose"). `ensureDeliveryStream` adds the
   * delivery stream (ACTIVE at once) unless the name is taken, and fails as the real layer
   * does for one configured otherwise.
   */
  static readonly layerTest = (streams: Readonly<Record<string, FirehoseDescription>>): Layer.Layer<Firehose> =>
    Layer.sync(Firehose, () => {
      const held = new Map(Object.entries(streams))
      const describeDeliveryStream = Effect.fn("Firehose.describeDeliveryStream")(function* (name: string) {
        const description = held.get(name)
        if (description !== undefined) return description
        const cause = Object.assign(new Error(`Firehose ${name} under account 000000000000 not found.`), {
          name: "ResourceNotFoundException",
          $fault: "client",
          $metadata: { httpStatusCode: 400 }
        })
        return yield* describeFirehoseError(cause, "DescribeDeliveryStream", name, "in-memory Firehose")
      })
      const ensureDeliveryStream = Effect.fn("Firehose.ensureDeliveryStream")(function* (spec: DeliveryStreamSpec) {
        const existing = held.get(spec.name)
        if (existing === undefined) {
          const created: FirehoseDescription = {
            status: "ACTIVE",
            source: { kinesisStreamArn: spec.kinesisStreamArn },
            destination: {
              bucketArn: spec.bucketArn,
              prefix: spec.prefix,
              errorOutputPrefix: spec.errorOutputPrefix,
              bufferingSeconds: spec.bufferingSeconds,
              bufferingMiB: spec.bufferingMiB
            }
          }
          held.set(spec.name, created)
          return created
        }
        const differences = deliveryStreamDifferences(existing, spec)
        if (differences.length > 0) {
          return yield* new FirehoseError({
            message: `Firehose delivery stream ${spec.name} at in-memory Firehose exists configured otherwise (${differences.join("; ")}); delete it or fix FIREHOSE_DELIVERY_STREAM`,
            retryable: false
          })
        }
        return existing
      })
      return Firehose.of({ describeDeliveryStream, ensureDeliveryStream })
    })
}
