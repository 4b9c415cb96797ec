/**
 * `totes-cdc init-localstack`: makes an `EmulatorPlan` real on an AWS emulator, in the
 * order the CDK app's resources depend on each other — the stream, both buckets, the
 * loader's dead-letter queue, its queue (redrive to the first, S3 allowed to send), the
 * processed bucket's notification to it, and the archive's delivery stream (reading the
 * stream into the ingestion bucket).
 *
 * Invariants:
 *  - Idempotent: every step is an `ensure…` call of the platform services (an existing
 *    resource with the wanted settings is left as it is), so a second run changes nothing
 *    and a run interrupted half-way is finished by the next.
 *  - A resource that exists configured otherwise (a stream with other shards, a delivery
 *    stream with another destination) stops the run with the service's one-line error;
 *    nothing is deleted or replaced.
 *  - A queue the emulator files under another account than LOADER_QUEUE_URL names stops
 *    the run (the loader would consume a queue nobody writes to): `EmulatorProvisionError`.
 *  - An emulator still starting (network, 5xx, throttling: `retryable`) is waited for: the
 *    whole (idempotent) run is tried again on `provisionRetrySchedule`.
 *  - One log line per resource, naming it.
 */
import { Firehose, type FirehoseError, Kinesis, type KinesisError, retryableBackoff, S3, type S3Error, Sqs, type SqsError } from "@totes-cdc/platform"
import { Effect, Layer, Schema } from "effect"
import { ARCHIVE_DELIVERY, type EmulatorPlan, type EmulatorSettings, LOADER_QUEUE_ATTRIBUTES, PROCESSED_NOTIFICATION } from "./EmulatorPlan.ts"

/** The emulator answered, but not as the plan needs (a queue under another account). `message`: one line, problem and fix. */
export class EmulatorProvisionError extends Schema.TaggedError<EmulatorProvisionError>()("EmulatorProvisionError", {
  message: Schema.String,
  retryable: Schema.Boolean
}) {}

/** What a run made sure of: the stream's ARN, the queues' URLs (when planned), the delivery stream's status (when planned). */
export interface ProvisionReport {
  readonly streamArn: string
  readonly queueUrl: string | undefined
  readonly deadLetterQueueUrl: string | undefined
  readonly deliveryStreamStatus: string | undefined
}

/** A failed run is tried again after 0.1 s, doubling up to 5 s (jittered), 20 times (about a minute and a half), while its error is retryable. */
export const provisionRetrySchedule = retryableBackoff("5 seconds", 20)

/** Pure: the account of an ARN (`arn:aws:<service>:<region>:<account>:…`), or kinesalite's / LocalStack's default account. */
const accountOf = (arn: string): string => arn.split(":")[4] || "000000000000"

/** One run of `plan` against the services in context (one attempt; see `provisionEmulator`). */
export const runPlan = Effect.fn("runPlan")(function* (plan: EmulatorPlan, region: string) {
  const kinesis = yield* Kinesis
  const s3 = yield* S3
  const stream = yield* kinesis.ensureStream(plan.stream.name, plan.stream.shards)
  yield* Effect.logInfo(`Kinesis stream ${plan.stream.name}: ACTIVE, ${stream.openShards} shards (${stream.arn})`)
  for (const bucket of [plan.buckets.ingestion, plan.buckets.processed]) {
    yield* s3.createBucket(bucket, region)
    yield* Effect.logInfo(`S3 bucket ${bucket}: ready`)
  }
  let queueUrl: string | undefined
  let deadLetterQueueUrl: string | undefined
  if (plan.queue !== undefined) {
    const sqs = yield* Sqs
    const planned = plan.queue
    const retention = LOADER_QUEUE_ATTRIBUTES.retentionSeconds
    const deadLetters = yield* sqs.ensureQueue(planned.deadLetterName, { visibilityTimeoutSeconds: 30, retentionSeconds: retention })
    const queue = yield* sqs.ensureQueue(planned.name, {
      visibilityTimeoutSeconds: LOADER_QUEUE_ATTRIBUTES.visibilityTimeoutSeconds,
      retentionSeconds: retention,
      deadLetter: { queueArn: deadLetters.arn, maxReceiveCount: LOADER_QUEUE_ATTRIBUTES.maxReceiveCount },
      s3NotificationsFrom: plan.buckets.processed
    })
    if (!queue.url.endsWith(`/${planned.account}/${planned.name}`) || accountOf(queue.arn) !== planned.account) {
      return yield* new EmulatorProvisionError({
        message: `the emulator made queue ${planned.name} as ${queue.url} (${queue.arn}), not under account ${planned.account} as LOADER_QUEUE_URL ${planned.url} says; set LOADER_QUEUE_URL to <endpoint>/${accountOf(queue.arn)}/${planned.name}`,
        retryable: false
      })
    }
    yield* Effect.logInfo(`SQS queue ${planned.name}: ready, dead letters after ${LOADER_QUEUE_ATTRIBUTES.maxReceiveCount} receives to ${planned.deadLetterName}`)
    const processed = plan.buckets.processed
    yield* s3.putBucketNotification(processed, { queueArn: queue.arn, events: PROCESSED_NOTIFICATION.events, prefix: PROCESSED_NOTIFICATION.prefix, suffix: PROCESSED_NOTIFICATION.suffix })
    yield* Effect.logInfo(`S3 bucket ${processed}: ${PROCESSED_NOTIFICATION.events.join(", ")} of ${PROCESSED_NOTIFICATION.prefix}*${PROCESSED_NOTIFICATION.suffix} notified to ${planned.name}`)
    queueUrl = queue.url
    deadLetterQueueUrl = deadLetters.url
  }
  let deliveryStreamStatus: string | undefined
  if (plan.deliveryStream !== undefined) {
    const ingestion = plan.buckets.ingestion
    const described = yield* (yield* Firehose).ensureDeliveryStream({
      name: plan.deliveryStream.name,
      kinesisStreamArn: stream.arn,
      roleArn: `arn:aws:iam::${accountOf(stream.arn)}:role/totes-cdc-archive`,
      bucketArn: `arn:aws:s3:::${ingestion}`,
      prefix: plan.deliveryStream.prefix,
      errorOutputPrefix: ARCHIVE_DELIVERY.errorOutputPrefix,
      bufferingSeconds: ARCHIVE_DELIVERY.bufferingSeconds,
      bufferingMiB: ARCHIVE_DELIVERY.bufferingMiB,
      appendNewline: ARCHIVE_DELIVERY.appendNewline
    })
    yield* Effect.logInfo(`Firehose delivery stream ${plan.deliveryStream.name}: ${described.status}, ${plan.stream.name} → s3://${ingestion}/${plan.deliveryStream.prefix}`)
    deliveryStreamStatus = described.status
  }
  const report: ProvisionReport = { streamArn: stream.arn, queueUrl, deadLetterQueueUrl, deliveryStreamStatus }
  return report
})

/** The services an emulator run calls, at the settings' endpoints. */
export const emulatorLayer = (settings: EmulatorSettings) =>
  Layer.mergeAll(Kinesis.layer(settings.kinesis), S3.layer(settings.s3), Sqs.layer(settings.sqs), Firehose.layer(settings.firehose))

/**
 * `runPlan`, tried again on `provisionRetrySchedule` while the emulator is still starting
 * (each retry logged). Fails with the first non-retryable error, or the last retryable one.
 */
export const provisionEmulator = (plan: EmulatorPlan, region: string) =>
  runPlan(plan, region).pipe(
    Effect.tapError((error: KinesisError | S3Error | SqsError | FirehoseError | EmulatorProvisionError) =>
      error.retryable ? Effect.logWarning(`the emulator is not ready, trying again: ${error.message}`) : Effect.void
    ),
    Effect.retry(provisionRetrySchedule)
  )
