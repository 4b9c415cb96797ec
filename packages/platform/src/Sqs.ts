/**
 * Amazon SQS adapter: the only place the pipeline calls the SQS API (AWS, or an emulator
 * such as LocalStack). The loader's queue of the processed bucket's S3 notifications
 * (infra/src/LoaderQueue.ts): made by `ensureQueue` (`totes-cdc init-localstack`), checked
 * by `describeQueue`, consumed by `consume` (the standalone loader's queue mode).
 *
 * Invariants:
 *  - Every failure is an `SqsError` with one line naming the queue, the problem and the fix,
 *    the SDK / socket error it came from as its `cause`, and `retryable` true exactly for
 *    throttling, 5xx and network errors (`describeSqsError`, pure).
 *  - `ensureQueue` is idempotent and converges: a missing queue is created, an existing one
 *    keeps its URL and gets the wanted attributes (SetQueueAttributes); running it twice
 *    changes nothing.
 *  - `consume` receives with sqs-consumer (long polls, ≤ 10 messages a batch) and deletes
 *    exactly the messages its handler acknowledges; every other message of the batch stays
 *    on the queue, visible again after the queue's visibility timeout (and, after the
 *    queue's `maxReceiveCount` receives, moved to its dead-letter queue by SQS). A handler
 *    that fails (or dies) acknowledges nothing; its cause is logged.
 *  - A receive or delete failure that is not retryable (the queue is gone, credentials are
 *    refused) ends `consume` with it; a retryable one is logged and the next receive waits
 *    `receiveBackoff` (100 ms doubling, capped at 10 s); `MAX_RECEIVE_FAILURES` in a row
 *    (about 4 minutes) end it with the last.
 *  - Interrupting `consume` stops receiving at once (the long poll is aborted) and
 *    interrupts the batch handler in flight (its messages stay on the queue); nothing runs
 *    after `consume` has returned. The client is made once per layer and destroyed with it.
 */
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  type Message,
  type SQSClient,
  SetQueueAttributesCommand
} from "@aws-sdk/client-sqs"
import { Cause, Context, Deferred, Effect, Exit, FiberSet, Layer, Schema } from "effect"
import { Consumer } from "sqs-consumer"
import { type AwsEndpoint, makeSqsClient } from "./Aws.ts"
import { type AwsCause, inspectAwsError, NETWORK_ERROR_CODES } from "./SdkErrors.ts"

/**
 * A failed SQS call. `message`: one line naming the queue, the problem and the fix.
 * `retryable`: throttling, 5xx or network — safe to retry unchanged. `cause`: the SDK /
 * socket error it was made from, when there was one.
 */
export class SqsError extends Schema.TaggedError<SqsError>()("SqsError", {
  message: Schema.String,
  retryable: Schema.Boolean,
  cause: Schema.optional(Schema.Defect())
}) {}

/** A queue: its URL (what every call names it by) and ARN (what S3 notifications and redrive policies name). */
export interface QueueRef {
  readonly url: string
  readonly arn: string
}

/**
 * The attributes `ensureQueue` gives a queue. Seconds throughout. `deadLetter`: SQS moves a
 * message there once it was received `maxReceiveCount` times without being deleted.
 * `s3NotificationsFrom`: a queue policy letting S3 send this bucket's event notifications
 * (the only sender infra's LoaderQueue.ts allows).
 */
export interface QueueSettings {
  readonly visibilityTimeoutSeconds: number
  readonly retentionSeconds: number
  readonly deadLetter?: { readonly queueArn: string; readonly maxReceiveCount: number }
  readonly s3NotificationsFrom?: string
}

/** A received message: its id, body (text), and how often SQS has handed it out (1 = first delivery). */
export interface QueueMessage {
  readonly messageId: string
  readonly body: string
  readonly receiveCount: number
}

/** How `consume` receives: messages per batch (1–10, SQS's limit) and long-poll wait (1–20 s). */
export interface ConsumeOptions {
  readonly batchSize: number
  readonly waitTimeSeconds: number
}

const RETRYABLE = new Set([
  "RequestThrottled",
  "ThrottlingException",
  "OverLimit",
  "ServiceUnavailable",
  "InternalFailure",
  "InternalError",
  "RequestTimeout",
  "TimeoutError",
  "KmsThrottled"
])
const REFUSED = new Set([
  "AccessDenied",
  "AccessDeniedException",
  "InvalidClientTokenId",
  "UnrecognizedClientException",
  "InvalidSecurity",
  "SignatureDoesNotMatch",
  "ExpiredToken",
  "ExpiredTokenException",
  "MissingAuthenticationToken"
])
const MISSING = new Set(["QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue"])

/** Whether `cause` is SQS's "no such queue" (QueueDoesNotExist; AWS.SimpleQueueService.NonExistentQueue in the query protocol). */
const isMissingQueue = (cause: unknown): boolean => {
  const err: AwsCause = typeof cause === "object" && cause !== null ? cause : {}
  return [err.name, err.code].some((value) => typeof value === "string" && MISSING.has(value))
}

/**
 * Pure: turns an SDK / socket error of SQS call `call` (`ReceiveMessage`, …) on `queue` (its
 * URL or name) into a one-line `SqsError` naming the problem and the fix, with `cause` the
 * error itself. `endpoint` names where the call went (`SQS in <region>` on AWS).
 */
export const describeSqsError = (cause: unknown, call: string, queue: string, endpoint: string): SqsError => {
  const { name, code, text, status, serverFault } = inspectAwsError(cause)
  const fail = (message: string, retryable: boolean) => new SqsError({ message, retryable, cause })
  if (isMissingQueue(cause) || MISSING.has(code)) {
    return fail(`SQS queue ${queue} does not exist at ${endpoint} (${text}); create it (totes-cdc init-localstack on an emulator) or fix LOADER_QUEUE_URL / AWS_REGION`, false)
  }
  if (REFUSED.has(name)) {
    return fail(`SQS ${call} on ${queue} at ${endpoint} was refused (${name}: ${text}); grant sqs:${call} on the queue or fix the AWS credentials`, false)
  }
  if (NETWORK_ERROR_CODES.has(code)) {
    return fail(`SQS ${call} on ${queue}: cannot reach ${endpoint} (${code}: ${text}); start the emulator or fix SQS_ENDPOINT / AWS_ENDPOINT_URL and the network`, true)
  }
  if (RETRYABLE.has(name) || serverFault || (status !== undefined && status >= 500)) {
    return fail(`SQS ${call} on ${queue} at ${endpoint} failed temporarily (${name}: ${text}); retry later`, true)
  }
  return fail(`SQS ${call} on ${queue} at ${endpoint} failed (${name}: ${text})`, false)
}

/** Pure: the SQS attributes of `settings` (SQS takes every attribute as a string). */
export const queueAttributes = (settings: QueueSettings, queueArn: string): Record<string, string> => ({
  VisibilityTimeout: String(settings.visibilityTimeoutSeconds),
  MessageRetentionPeriod: String(settings.retentionSeconds),
  SqsManagedSseEnabled: "true",
  ...(settings.deadLetter === undefined
    ? {}
    : { RedrivePolicy: JSON.stringify({ deadLetterTargetArn: settings.deadLetter.queueArn, maxReceiveCount: settings.deadLetter.maxReceiveCount }) }),
  ...(settings.s3NotificationsFrom === undefined
    ? {}
    : {
        Policy: JSON.stringify({
          Version: "2012-10-17",
          Statement: [
            {
              Sid: "ProcessedBucketNotifications",
              Effect: "Allow",
              Principal: { Service: "s3.amazonaws.com" },
              Action: "sqs:SendMessage",
              Resource: queueArn,
              Condition: { ArnEquals: { "aws:SourceArn": `arn:aws:s3:::${settings.s3NotificationsFrom}` } }
            }
          ]
        })
      })
})

/** Pure: a message as sqs-consumer hands it over → `QueueMessage` (a missing receive count reads as 1). */
const toQueueMessage = (message: Message): QueueMessage => ({
  messageId: message.MessageId ?? "",
  body: message.Body ?? "",
  receiveCount: Number(message.Attributes?.ApproximateReceiveCount ?? "1")
})

/** Receive failures in a row after which `consume` gives up (with `receiveBackoff`, about 4 minutes). */
export const MAX_RECEIVE_FAILURES = 30

/** The wait before the next receive after `failures` failed ones in a row (ms): 100, 200, 400, … capped at 10,000. */
export const receiveBackoff = (failures: number): number => Math.min(10_000, 100 * 2 ** Math.max(0, failures - 1))

const make = (client: SQSClient, endpoint: string): Sqs["Service"] => {
  const call = <A>(name: string, queue: string, send: (signal: AbortSignal) => Promise<A>) =>
    Effect.tryPromise({ try: send, catch: (cause) => describeSqsError(cause, name, queue, endpoint) })

  const queueArn = (url: string) =>
    call("GetQueueAttributes", url, (abortSignal) => client.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ["QueueArn"] }), { abortSignal })).pipe(
      Effect.flatMap((output) => {
        const arn = output.Attributes?.QueueArn
        return arn === undefined
          ? Effect.fail(new SqsError({ message: `SQS GetQueueAttributes on ${url} answered no QueueArn; the endpoint ${endpoint} is not speaking the SQS API`, retryable: false }))
          : Effect.succeed(arn)
      })
    )

  const describeQueue = Effect.fn("Sqs.describeQueue")(function* (url: string) {
    return { url, arn: yield* queueArn(url) }
  })

  const ensureQueue = Effect.fn("Sqs.ensureQueue")(function* (name: string, settings: QueueSettings) {
    const existing = yield* call("GetQueueUrl", name, (abortSignal) =>
      client.send(new GetQueueUrlCommand({ QueueName: name }), { abortSignal }).then(
        (output) => output.QueueUrl,
        (error: unknown) => (isMissingQueue(error) ? undefined : Promise.reject(error))
      )
    )
    const url =
      existing ??
      (yield* call("CreateQueue", name, (abortSignal) => client.send(new CreateQueueCommand({ QueueName: name }), { abortSignal })).pipe(Effect.map((output) => output.QueueUrl)))
    if (url === undefined) {
      return yield* new SqsError({ message: `SQS CreateQueue of ${name} answered no QueueUrl; the endpoint ${endpoint} is not speaking the SQS API`, retryable: false })
    }
    const arn = yield* queueArn(url)
    yield* call("SetQueueAttributes", name, (abortSignal) =>
      client.send(new SetQueueAttributesCommand({ QueueUrl: url, Attributes: queueAttributes(settings, arn) }), { abortSignal })
    )
    return { url, arn }
  })

  const consume = <R>(
    url: string,
    options: ConsumeOptions,
    handle: (messages: ReadonlyArray<QueueMessage>) => Effect.Effect<ReadonlyArray<string>, unknown, R>
  ): Effect.Effect<never, SqsError, R> =>
    Effect.scoped(
      Effect.gen(function* () {
        const run = yield* FiberSet.makeRuntimePromise<R>()
        const failed = yield* Deferred.make<never, SqsError>()
        let stopping = false
        let failures = 0
        const consumer = Consumer.create({
          queueUrl: url,
          sqs: client,
          batchSize: options.batchSize,
          waitTimeSeconds: options.waitTimeSeconds,
          messageSystemAttributeNames: ["ApproximateReceiveCount"],
          handleMessageBatch: async (messages) => {
            const exit = await run(Effect.exit(handle(messages.map(toQueueMessage))))
            if (Exit.isFailure(exit)) {
              if (!Cause.hasInterruptsOnly(exit.cause)) {
                await run(Effect.logError(`a batch of ${messages.length} messages from ${url} failed; they stay on the queue: ${Cause.pretty(exit.cause).split("\n")[0] ?? ""}`))
              }
              return []
            }
            const acknowledged = new Set(exit.value)
            return messages.filter((message) => acknowledged.has(message.MessageId ?? ""))
          }
        })
        const received = () => {
          if (failures === 0) return
          failures = 0
          consumer.updateOption("pollingWaitTimeMs", 0)
        }
        consumer.on("empty", received)
        consumer.on("response_processed", received)
        consumer.on("error", (error, messages) => {
          // A batch handler's failure was logged by the handler wrapper; only SQS calls are judged here.
          if (stopping || error.name !== "SQSError") return
          const sqsCause: unknown = "cause" in error ? error.cause : error
          const call = messages === undefined ? "ReceiveMessage" : "DeleteMessageBatch"
          const described = describeSqsError(sqsCause, call, url, endpoint)
          failures += 1
          if (!described.retryable || failures >= MAX_RECEIVE_FAILURES) {
            Deferred.doneUnsafe(failed, Effect.fail(described))
            return
          }
          consumer.updateOption("pollingWaitTimeMs", receiveBackoff(failures))
          void run(Effect.logWarning(`${described.message}; trying again`)).catch(() => undefined)
        })
        yield* Effect.acquireRelease(
          Effect.sync(() => consumer.start()),
          () =>
            Effect.sync(() => {
              stopping = true
              consumer.stop({ abort: true })
            })
        )
        return yield* Deferred.await(failed)
      })
    )

  return { ensureQueue, describeQueue, consume }
}

/** The SQS API, as the init command and the loader's queue mode use it. */
export class Sqs extends Context.Service<
  Sqs,
  {
    /**
     * The queue `name` with `settings` (module invariants: created when missing, attributes
     * set either way): its URL and ARN. Fails with `SqsError`.
     */
    readonly ensureQueue: (name: string, settings: QueueSettings) => Effect.Effect<QueueRef, SqsError>
    /**
     * GetQueueAttributes: the queue at `url` (its ARN), or — for a URL naming no queue —
     * a non-retryable `SqsError` saying so, with the fix (LOADER_QUEUE_URL).
     */
    readonly describeQueue: (url: string) => Effect.Effect<QueueRef, SqsError>
    /**
     * Receives the queue at `url` until interrupted (module invariants), handing each batch
     * to `handle`, which answers the ids of the messages to delete. Never succeeds; fails
     * with the first non-retryable receive or delete `SqsError`, or the last of
     * `MAX_RECEIVE_FAILURES` retryable ones in a row.
     */
    readonly consume: <R>(
      url: string,
      options: ConsumeOptions,
      handle: (messages: ReadonlyArray<QueueMessage>) => Effect.Effect<ReadonlyArray<string>, unknown, R>
    ) => Effect.Effect<never, SqsError, R>
  }
>()("@totes-cdc/platform/Sqs") {
  /** SQS at `target` (AWS; an `endpoint` override is honoured for every call). The client is destroyed with the layer. */
  static readonly layer = (target: AwsEndpoint): Layer.Layer<Sqs> =>
    Layer.effect(
      Sqs,
      Effect.acquireRelease(
        Effect.sync(() => makeSqsClient(target)),
        (client) => Effect.sync(() => client.destroy())
      ).pipe(Effect.map((client) => Sqs.of(make(client, target.endpoint ?? `SQS in ${target.region}`))))
    )
}
