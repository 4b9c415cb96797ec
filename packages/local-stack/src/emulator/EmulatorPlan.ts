/**
 * What `totes-cdc init-localstack` makes on an AWS emulator (LocalStack): the resources the
 * CDK app (infra/) deploys, with infra's settings, named by the environment variables the
 * components read. Pure: settings → plan; the calls are ProvisionEmulator.ts's.
 *
 * Invariants:
 *  - The settings' names and defaults are the components' own (KINESIS_STREAM,
 *    INGESTION_BUCKET, PROCESSED_BUCKET, LOADER_QUEUE_URL, FIREHOSE_DELIVERY_STREAM,
 *    AWS_REGION, the endpoints with their AWS_ENDPOINT_URL fallback): one environment
 *    configures the init step and every component.
 *  - The constants below are infra's (infra/src/ChangeStream.ts, LoaderQueue.ts); a test in
 *    infra/test checks they stay equal.
 *  - A plan exists only for an emulator: every service it touches needs an endpoint, so the
 *    command never creates anything in a real AWS account (infra/ deploys that).
 *  - The loader's queue is named by the URL the loader will consume (its last two path
 *    segments: account and name); the dead-letter queue is `<name>-dead-letters`, as infra's.
 */
import { DEFAULTS, INGESTION_LAYOUT, MANIFEST_PREFIX, MANIFEST_SUFFIX } from "@totes-cdc/core"
import { type AwsEndpoint, awsEndpointConfig } from "@totes-cdc/platform"
import { Config, Option, Result, Schema } from "effect"

/** The archive's delivery stream as infra's Firehose (ChangeStream.ts): prefixes, buffering (s, MiB), newline after each record. */
export const ARCHIVE_DELIVERY = {
  prefix: `${INGESTION_LAYOUT.rawPrefix}!{timestamp:yyyy/MM/dd/HH}/`,
  errorOutputPrefix: "errors/!{firehose:error-output-type}/!{timestamp:yyyy/MM/dd/HH}/",
  bufferingSeconds: 60,
  bufferingMiB: 5,
  appendNewline: true
} as const

/**
 * The loader's queue as infra's (LoaderQueue.ts): a message received `maxReceiveCount`
 * times goes to the dead-letter queue; both keep messages 14 days (s); the visibility
 * timeout is infra's 6 × the loader function's 120 s timeout + its 1 s batching window (s).
 */
export const LOADER_QUEUE_ATTRIBUTES = {
  maxReceiveCount: 5,
  retentionSeconds: 14 * 24 * 3_600,
  visibilityTimeoutSeconds: 6 * 120 + 1
} as const

/** The processed bucket's notification to the loader's queue (LoaderQueue.ts): every created micro-batch manifest (core MicroBatchManifest.ts). */
export const PROCESSED_NOTIFICATION = { events: ["s3:ObjectCreated:*"], prefix: MANIFEST_PREFIX, suffix: MANIFEST_SUFFIX } as const

/** Suffix of the dead-letter queue's name (infra: `<stackName>-loader-dead-letters`). */
export const DEAD_LETTER_SUFFIX = "-dead-letters"

/** Shards of the stream when KINESIS_SHARDS is not set (as `totes-cdc dev --shards`). */
export const DEFAULT_SHARDS = 2

/** The init command's settings, from the environment (`emulatorSettingsConfig`). */
export interface EmulatorSettings {
  readonly streamName: string
  readonly shards: number
  readonly ingestionBucket: string
  readonly processedBucket: string
  /** The loader's queue as the loader consumes it; absent: no queue and no notification (the loader polls the bucket). */
  readonly loaderQueueUrl: string | undefined
  /** The archive's delivery stream; absent: none (the archiver writes the archive). */
  readonly deliveryStream: string | undefined
  /** Where the delivery stream writes in the ingestion bucket (infra's `ARCHIVE_DELIVERY.prefix` unless set). */
  readonly firehosePrefix: string
  readonly region: string
  readonly kinesis: AwsEndpoint
  readonly s3: AwsEndpoint
  readonly sqs: AwsEndpoint
  readonly firehose: AwsEndpoint
}

/** An optional setting; set but empty reads as not set (compose's `${VAR-default}` can only empty a variable). */
const optional = (name: string) =>
  Config.option(Config.String(name)).pipe(Config.map((value) => Option.getOrUndefined(Option.filter(value, (text) => text !== ""))))

/**
 * KINESIS_STREAM, KINESIS_SHARDS (2), INGESTION_BUCKET, PROCESSED_BUCKET, LOADER_QUEUE_URL,
 * FIREHOSE_DELIVERY_STREAM, FIREHOSE_PREFIX, AWS_REGION, and the endpoints KINESIS_ENDPOINT,
 * S3_ENDPOINT, SQS_ENDPOINT, FIREHOSE_ENDPOINT (each falling back to AWS_ENDPOINT_URL) with
 * AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY. LOADER_QUEUE_URL and FIREHOSE_DELIVERY_STREAM
 * set but empty read as not set. Fails with ConfigError naming the variable.
 */
export const emulatorSettingsConfig: Config.Config<EmulatorSettings> = Config.all({
  streamName: Config.String("KINESIS_STREAM").pipe(Config.withDefault(DEFAULTS.streamName)),
  shards: Config.schema(Schema.Int.check(Schema.isGreaterThanOrEqualTo(1)), "KINESIS_SHARDS").pipe(Config.withDefault(DEFAULT_SHARDS)),
  ingestionBucket: Config.String("INGESTION_BUCKET").pipe(Config.withDefault(DEFAULTS.ingestionBucket)),
  processedBucket: Config.String("PROCESSED_BUCKET").pipe(Config.withDefault(DEFAULTS.processedBucket)),
  loaderQueueUrl: optional("LOADER_QUEUE_URL"),
  deliveryStream: optional("FIREHOSE_DELIVERY_STREAM"),
  firehosePrefix: Config.String("FIREHOSE_PREFIX").pipe(Config.withDefault<string>(ARCHIVE_DELIVERY.prefix)),
  region: Config.String("AWS_REGION").pipe(Config.withDefault(DEFAULTS.region)),
  kinesis: awsEndpointConfig("KINESIS_ENDPOINT"),
  s3: awsEndpointConfig("S3_ENDPOINT"),
  sqs: awsEndpointConfig("SQS_ENDPOINT"),
  firehose: awsEndpointConfig("FIREHOSE_ENDPOINT")
})

/** The loader's queue to make: `name` in `account` (from LOADER_QUEUE_URL), and its dead-letter queue. */
export interface PlannedQueue {
  readonly url: string
  readonly account: string
  readonly name: string
  readonly deadLetterName: string
}

/** What to make, in order: the stream, both buckets, the queue (and notification), the delivery stream. */
export interface EmulatorPlan {
  readonly stream: { readonly name: string; readonly shards: number }
  readonly buckets: { readonly ingestion: string; readonly processed: string }
  readonly queue: PlannedQueue | undefined
  readonly deliveryStream: { readonly name: string; readonly prefix: string } | undefined
}

/** Pure: account and queue name of an SQS queue URL (`<scheme>://<host>/<account>/<name>`), or a problem. */
export const parseQueueUrl = (url: string): Result.Result<{ readonly account: string; readonly name: string }, string> => {
  const match = /^https?:\/\/[^/]+\/([^/]+)\/([a-zA-Z0-9_-]{1,80})\/?$/.exec(url)
  return match === null || match[1] === undefined || match[2] === undefined
    ? Result.fail(`LOADER_QUEUE_URL ${url} is not an SQS queue URL; give http(s)://<host>/<account>/<queue name>, e.g. http://localstack:4566/000000000000/totes-cdc-loader`)
    : Result.succeed({ account: match[1], name: match[2] })
}

/**
 * Pure: the plan for `settings`, or the one line saying what is wrong and the fix: a
 * service the plan touches has no emulator endpoint, or LOADER_QUEUE_URL is no queue URL.
 */
export const planEmulator = (settings: EmulatorSettings): Result.Result<EmulatorPlan, string> => {
  const needed: Array<readonly [string, AwsEndpoint]> = [
    ["KINESIS_ENDPOINT", settings.kinesis],
    ["S3_ENDPOINT", settings.s3],
    ...(settings.loaderQueueUrl === undefined ? [] : [["SQS_ENDPOINT", settings.sqs] as const]),
    ...(settings.deliveryStream === undefined ? [] : [["FIREHOSE_ENDPOINT", settings.firehose] as const])
  ]
  const missing = needed.filter(([, target]) => target.endpoint === undefined).map(([variable]) => variable)
  if (missing.length > 0) {
    return Result.fail(
      `init-localstack provisions an AWS emulator, and ${missing.join(", ")} ${missing.length === 1 ? "is" : "are"} not set; set AWS_ENDPOINT_URL (e.g. http://localstack:4566) or each service's endpoint — on AWS, deploy infra/ instead`
    )
  }
  let queue: PlannedQueue | undefined
  if (settings.loaderQueueUrl !== undefined) {
    const parsed = parseQueueUrl(settings.loaderQueueUrl)
    if (Result.isFailure(parsed)) return Result.fail(parsed.failure)
    queue = { url: settings.loaderQueueUrl, ...parsed.success, deadLetterName: `${parsed.success.name}${DEAD_LETTER_SUFFIX}` }
  }
  return Result.succeed({
    stream: { name: settings.streamName, shards: settings.shards },
    buckets: { ingestion: settings.ingestionBucket, processed: settings.processedBucket },
    queue,
    deliveryStream: settings.deliveryStream === undefined ? undefined : { name: settings.deliveryStream, prefix: settings.firehosePrefix }
  })
}
