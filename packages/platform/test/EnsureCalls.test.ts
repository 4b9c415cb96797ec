/**
 * The provisioning calls' pure parts and in-memory answers: how an SQS error becomes one
 * line (and whether to retry it), the receive backoff, the queue attributes SQS is given,
 * how a delivery stream differs from the one wanted; and the in-memory Kinesis and
 * Firehose making a stream / delivery stream once, then answering the same, and refusing
 * one configured otherwise as the real layers do.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { type DeliveryStreamSpec, deliveryStreamDifferences, Firehose } from "../src/Firehose.ts"
import { Kinesis } from "../src/Kinesis.ts"
import { describeSqsError, queueAttributes, receiveBackoff, SqsError } from "../src/Sqs.ts"

const endpoint = "http://localstack:4566"
const url = `${endpoint}/000000000000/loader`

describe("describeSqsError", () => {
  it("a missing queue (JSON or query protocol name) is not retryable and names the queue and the fix", () => {
    for (const name of ["QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue"]) {
      const error = describeSqsError(Object.assign(new Error("The specified queue does not exist."), { name, $metadata: { httpStatusCode: 400 } }), "ReceiveMessage", url, endpoint)
      expect(error).toBeInstanceOf(SqsError)
      expect(error.retryable).toBe(false)
      expect(error.message).toBe(
        `SQS queue ${url} does not exist at ${endpoint} (The specified queue does not exist.); create it (totes-cdc init-localstack on an emulator) or fix LOADER_QUEUE_URL / AWS_REGION`
      )
    }
  })

  it("a refused call is not retryable; the network, throttling and 5xx are", () => {
    const refused = describeSqsError(Object.assign(new Error("denied"), { name: "AccessDenied" }), "ReceiveMessage", url, endpoint)
    expect([refused.retryable, refused.message]).toEqual([false, `SQS ReceiveMessage on ${url} at ${endpoint} was refused (AccessDenied: denied); grant sqs:ReceiveMessage on the queue or fix the AWS credentials`])
    const socket = Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" })
    expect(describeSqsError(socket, "ReceiveMessage", url, endpoint).retryable).toBe(true)
    expect(describeSqsError(Object.assign(new Error("slow down"), { name: "RequestThrottled" }), "ReceiveMessage", url, endpoint).retryable).toBe(true)
    expect(describeSqsError(Object.assign(new Error("oops"), { name: "InternalError", $fault: "server", $metadata: { httpStatusCode: 500 } }), "DeleteMessageBatch", url, endpoint).retryable).toBe(true)
  })
})

describe("receiveBackoff", () => {
  it("waits 100 ms after the first failure, doubling, capped at 10 s", () => {
    expect([1, 2, 3, 7, 8, 30].map(receiveBackoff)).toEqual([100, 200, 400, 6_400, 10_000, 10_000])
  })
})

describe("queueAttributes", () => {
  it("gives SQS strings: visibility, retention, SSE, the redrive policy and S3's permission to send", () => {
    const attributes = queueAttributes(
      { visibilityTimeoutSeconds: 721, retentionSeconds: 1_209_600, deadLetter: { queueArn: "arn:dlq", maxReceiveCount: 5 }, s3NotificationsFrom: "processed" },
      "arn:queue"
    )
    expect(Object.keys(attributes).sort()).toEqual(["MessageRetentionPeriod", "Policy", "RedrivePolicy", "SqsManagedSseEnabled", "VisibilityTimeout"])
    expect(JSON.parse(attributes["RedrivePolicy"]!)).toEqual({ deadLetterTargetArn: "arn:dlq", maxReceiveCount: 5 })
    expect(queueAttributes({ visibilityTimeoutSeconds: 30, retentionSeconds: 60 }, "arn:dlq")).toEqual({ VisibilityTimeout: "30", MessageRetentionPeriod: "60", SqsManagedSseEnabled: "true" })
  })
})

const spec: DeliveryStreamSpec = {
  name: "archive",
  kinesisStreamArn: "arn:aws:kinesis:eu-west-2:000000000000:stream/changes",
  roleArn: "arn:aws:iam::000000000000:role/archive",
  bucketArn: "arn:aws:s3:::ingestion",
  prefix: "raw/",
  errorOutputPrefix: "errors/",
  bufferingSeconds: 60,
  bufferingMiB: 5,
  appendNewline: true
}

describe("delivery streams", () => {
  it("deliveryStreamDifferences names each field that differs, and none for the same", () => {
    const same = { status: "ACTIVE" as const, source: { kinesisStreamArn: spec.kinesisStreamArn }, destination: { bucketArn: spec.bucketArn, prefix: "raw/", errorOutputPrefix: "errors/", bufferingSeconds: 60, bufferingMiB: 5 } }
    expect(deliveryStreamDifferences(same, spec)).toEqual([])
    expect(deliveryStreamDifferences({ ...same, destination: { ...same.destination, prefix: "firehose/", bufferingSeconds: 300 } }, spec)).toEqual([
      'its prefix is "firehose/", not "raw/"',
      "its buffering interval (s) is 300, not 60"
    ])
    expect(deliveryStreamDifferences({ status: "ACTIVE" }, spec)[0]).toBe(`its source is not set, not "${spec.kinesisStreamArn}"`)
  })

  it.effect("the in-memory Firehose makes one once, answers it again, and refuses one configured otherwise", () =>
    Effect.gen(function* () {
      const firehose = yield* Firehose
      const made = yield* firehose.ensureDeliveryStream(spec)
      expect(made.status).toBe("ACTIVE")
      expect(yield* firehose.ensureDeliveryStream(spec)).toEqual(made)
      expect(yield* firehose.describeDeliveryStream("archive")).toEqual(made)
      const error = yield* firehose.ensureDeliveryStream({ ...spec, prefix: "firehose/" }).pipe(Effect.flip)
      expect(error.message).toBe('Firehose delivery stream archive at in-memory Firehose exists configured otherwise (its prefix is "raw/", not "firehose/"); delete it or fix FIREHOSE_DELIVERY_STREAM')
    }).pipe(Effect.provide(Firehose.layerTest({})))
  )
})

describe("Kinesis.ensureStream in memory", () => {
  it.effect("makes a stream once, split as CreateStream splits it, and refuses other shards", () =>
    Effect.gen(function* () {
      const kinesis = yield* Kinesis
      expect(yield* kinesis.ensureStream("changes", 2)).toEqual({ arn: "arn:aws:kinesis:eu-west-2:000000000000:stream/changes", openShards: 2 })
      expect(yield* kinesis.ensureStream("changes", 2)).toEqual({ arn: "arn:aws:kinesis:eu-west-2:000000000000:stream/changes", openShards: 2 })
      expect((yield* kinesis.listShards("changes")).map((shard) => shard.shardId)).toEqual(["shardId-000000000000", "shardId-000000000001"])
      const error = yield* kinesis.ensureStream("changes", 4).pipe(Effect.flip)
      expect([error.retryable, error.message]).toEqual([false, "Kinesis stream changes at in-memory Kinesis exists with 2 open shards, not 4; delete the stream or set KINESIS_SHARDS=2"])
      expect((yield* kinesis.ensureStream("bad name!", 1).pipe(Effect.flip)).retryable).toBe(false)
    }).pipe(Effect.provide(Kinesis.layerTest({ streams: {} })))
  )
})
