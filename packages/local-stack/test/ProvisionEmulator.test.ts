/**
 * `totes-cdc init-localstack`'s program (EmulatorPlan.ts, ProvisionEmulator.ts): the plan
 * from the components' environment (refused without emulator endpoints, or with a
 * malformed queue URL), and one run making the stream, the buckets, the queue with its
 * dead-letter queue and the processed bucket's notification, and the delivery stream —
 * SQS and Firehose through the real SDK on fakes speaking their protocols, Kinesis and S3
 * in memory — then a second run changing nothing; a queue filed under another account
 * than LOADER_QUEUE_URL says, and a stream with other shards, stop the run with one line.
 */
import { describe, expect, it } from "@effect/vitest"
import { Firehose, Kinesis, type QueueNotification, S3, Sqs } from "@totes-cdc/platform"
import { ConfigProvider, Effect, Layer, Result } from "effect"
import {
  ARCHIVE_DELIVERY,
  type EmulatorSettings,
  emulatorSettingsConfig,
  LOADER_QUEUE_ATTRIBUTES,
  planEmulator,
  runPlan
} from "../src/index.ts"
import { type FakeFirehose, type FakeSqs, quietly, startFakeFirehose, startFakeSqs } from "../src/testing/index.ts"

const settingsOf = (env: Record<string, string>) => emulatorSettingsConfig.parse(ConfigProvider.fromEnv({ env }))

describe("planEmulator", () => {
  it.effect("reads the components' variables, with AWS_ENDPOINT_URL standing for every service", () =>
    Effect.gen(function* () {
      const settings = yield* settingsOf({
        AWS_ENDPOINT_URL: "http://localstack:4566",
        KINESIS_SHARDS: "4",
        LOADER_QUEUE_URL: "http://localstack:4566/000000000000/totes-cdc-loader",
        FIREHOSE_DELIVERY_STREAM: "totes-cdc-changes",
        FIREHOSE_PREFIX: "firehose/"
      })
      expect(settings.sqs.endpoint).toBe("http://localstack:4566")
      expect(planEmulator(settings)).toEqual(
        Result.succeed({
          stream: { name: "totes-cdc-changes", shards: 4 },
          buckets: { ingestion: "totes-cdc-ingestion", processed: "totes-cdc-processed" },
          queue: { url: "http://localstack:4566/000000000000/totes-cdc-loader", account: "000000000000", name: "totes-cdc-loader", deadLetterName: "totes-cdc-loader-dead-letters" },
          deliveryStream: { name: "totes-cdc-changes", prefix: "firehose/" }
        })
      )
      // Without a queue or delivery stream, neither is planned (nor needs an endpoint); the prefix defaults to infra's.
      const bare = planEmulator(yield* settingsOf({ KINESIS_ENDPOINT: "http://k:1", S3_ENDPOINT: "http://s:2" }))
      expect(bare).toEqual(Result.succeed({ stream: { name: "totes-cdc-changes", shards: 2 }, buckets: { ingestion: "totes-cdc-ingestion", processed: "totes-cdc-processed" }, queue: undefined, deliveryStream: undefined }))
      expect((yield* settingsOf({})).firehosePrefix).toBe(ARCHIVE_DELIVERY.prefix)
    })
  )

  it.effect("refuses to plan for real AWS (no endpoint), naming the variables, and a queue URL that is none", () =>
    Effect.gen(function* () {
      expect(planEmulator(yield* settingsOf({ S3_ENDPOINT: "http://s:2", FIREHOSE_DELIVERY_STREAM: "f" }))).toEqual(
        Result.fail(
          "init-localstack provisions an AWS emulator, and KINESIS_ENDPOINT, FIREHOSE_ENDPOINT are not set; set AWS_ENDPOINT_URL (e.g. http://localstack:4566) or each service's endpoint — on AWS, deploy infra/ instead"
        )
      )
      expect(planEmulator(yield* settingsOf({ AWS_ENDPOINT_URL: "http://l:1", LOADER_QUEUE_URL: "totes-cdc-loader" }))).toEqual(
        Result.fail("LOADER_QUEUE_URL totes-cdc-loader is not an SQS queue URL; give http(s)://<host>/<account>/<queue name>, e.g. http://localstack:4566/000000000000/totes-cdc-loader")
      )
    })
  )
})

/** The services of a run: SQS and Firehose on the fakes (real SDK), Kinesis and S3 in memory, S3 notifications recorded. */
const servicesOf = (fakeSqs: FakeSqs, fakeFirehose: FakeFirehose, notifications: Array<readonly [string, QueueNotification]>) => {
  const recordingS3 = Layer.effect(
    S3,
    Effect.gen(function* () {
      const base = yield* S3
      return S3.of({ ...base, putBucketNotification: (bucket, notification) => base.putBucketNotification(bucket, notification).pipe(Effect.tap(() => Effect.sync(() => notifications.push([bucket, notification])))) })
    })
  ).pipe(Layer.provide(S3.layerTest({ buckets: [] })))
  const aws = { region: "eu-west-2", accessKeyId: "test", secretAccessKey: "test" }
  return Layer.mergeAll(
    Kinesis.layerTest({ streams: {} }),
    recordingS3,
    Sqs.layer({ ...aws, endpoint: fakeSqs.endpoint }),
    Firehose.layer({ ...aws, endpoint: fakeFirehose.endpoint })
  )
}

const settingsFor = (fakeSqs: FakeSqs, extra: Partial<EmulatorSettings> = {}): EmulatorSettings => {
  const endpoint = { region: "eu-west-2", endpoint: "http://emulator:4566" }
  return {
    streamName: "changes",
    shards: 2,
    ingestionBucket: "ingestion",
    processedBucket: "processed",
    loaderQueueUrl: fakeSqs.queueUrl("loader"),
    deliveryStream: "archive",
    firehosePrefix: ARCHIVE_DELIVERY.prefix,
    region: "eu-west-2",
    kinesis: endpoint,
    s3: endpoint,
    sqs: endpoint,
    firehose: endpoint,
    ...extra
  }
}

describe("runPlan", () => {
  it.live("makes every resource as infra deploys it, and a second run changes nothing", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const fakeSqs = yield* startFakeSqs
        const fakeFirehose = yield* startFakeFirehose({ creatingDescribes: 2 })
        const notifications: Array<readonly [string, QueueNotification]> = []
        const plan = planEmulator(settingsFor(fakeSqs))
        if (Result.isFailure(plan)) return yield* Effect.die(plan.failure)
        yield* Effect.gen(function* () {
          const first = yield* quietly(runPlan(plan.success, "eu-west-2"))
          expect(first).toEqual({
            streamArn: "arn:aws:kinesis:eu-west-2:000000000000:stream/changes",
            queueUrl: fakeSqs.queueUrl("loader"),
            deadLetterQueueUrl: fakeSqs.queueUrl("loader-dead-letters"),
            deliveryStreamStatus: "ACTIVE"
          })
          expect((yield* (yield* Kinesis).listShards("changes")).length).toBe(2)
          yield* (yield* S3).putObject("ingestion", "x", "x")
          yield* (yield* S3).putObject("processed", "x", "x")
          const queue = fakeSqs.attributes("loader")!
          expect(queue["VisibilityTimeout"]).toBe(String(LOADER_QUEUE_ATTRIBUTES.visibilityTimeoutSeconds))
          expect(JSON.parse(queue["RedrivePolicy"]!)).toEqual({ deadLetterTargetArn: "arn:aws:sqs:eu-west-2:000000000000:loader-dead-letters", maxReceiveCount: 5 })
          expect(fakeSqs.attributes("loader-dead-letters")!["MessageRetentionPeriod"]).toBe("1209600")
          expect(notifications).toEqual([["processed", { queueArn: "arn:aws:sqs:eu-west-2:000000000000:loader", events: ["s3:ObjectCreated:*"], prefix: "manifests/", suffix: ".json" }]])
          expect(fakeFirehose.created.get("archive")).toEqual({
            DeliveryStreamName: "archive",
            DeliveryStreamType: "KinesisStreamAsSource",
            KinesisStreamSourceConfiguration: { KinesisStreamARN: "arn:aws:kinesis:eu-west-2:000000000000:stream/changes", RoleARN: "arn:aws:iam::000000000000:role/totes-cdc-archive" },
            ExtendedS3DestinationConfiguration: {
              RoleARN: "arn:aws:iam::000000000000:role/totes-cdc-archive",
              BucketARN: "arn:aws:s3:::ingestion",
              Prefix: "raw/!{timestamp:yyyy/MM/dd/HH}/",
              ErrorOutputPrefix: "errors/!{firehose:error-output-type}/!{timestamp:yyyy/MM/dd/HH}/",
              BufferingHints: { IntervalInSeconds: 60, SizeInMBs: 5 },
              CompressionFormat: "UNCOMPRESSED",
              ProcessingConfiguration: { Enabled: true, Processors: [{ Type: "AppendDelimiterToRecord", Parameters: [] }] }
            }
          })
          // It waited for the delivery stream to leave CREATING (the fake answers CREATING twice).
          const describes = () => fakeFirehose.calls.filter((c) => c.target.endsWith("DescribeDeliveryStream")).length
          expect(describes()).toBeGreaterThanOrEqual(3)

          const creates = () => [...fakeSqs.calls, ...fakeFirehose.calls].filter((c) => /CreateQueue|CreateDeliveryStream/.test(c.target)).length
          const createdBefore = creates()
          expect(yield* quietly(runPlan(plan.success, "eu-west-2"))).toEqual(first)
          expect(creates()).toBe(createdBefore)
          expect((yield* (yield* S3).listObjects("processed", "")).map((o) => o.key)).toEqual(["x"])
        }).pipe(Effect.provide(servicesOf(fakeSqs, fakeFirehose, notifications)))
      })
    )
  )

  it.live("stops with one line when the queue is filed under another account than LOADER_QUEUE_URL names", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const fakeSqs = yield* startFakeSqs
        const fakeFirehose = yield* startFakeFirehose()
        const plan = planEmulator(settingsFor(fakeSqs, { loaderQueueUrl: `${fakeSqs.endpoint}/123456789012/loader`, deliveryStream: undefined }))
        if (Result.isFailure(plan)) return yield* Effect.die(plan.failure)
        const error = yield* quietly(runPlan(plan.success, "eu-west-2")).pipe(Effect.provide(servicesOf(fakeSqs, fakeFirehose, [])), Effect.flip)
        expect(error._tag).toBe("EmulatorProvisionError")
        expect(error.message).toBe(
          `the emulator made queue loader as ${fakeSqs.queueUrl("loader")} (arn:aws:sqs:eu-west-2:000000000000:loader), not under account 123456789012 as LOADER_QUEUE_URL ${fakeSqs.endpoint}/123456789012/loader says; set LOADER_QUEUE_URL to <endpoint>/000000000000/loader`
        )
      })
    )
  )

  it.live("stops with one line when the stream exists with another number of shards, and a delivery stream configured otherwise", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const fakeSqs = yield* startFakeSqs
        const fakeFirehose = yield* startFakeFirehose()
        const plan = (extra: Partial<EmulatorSettings>) => {
          const planned = planEmulator(settingsFor(fakeSqs, { loaderQueueUrl: undefined, ...extra }))
          return Result.isFailure(planned) ? Effect.die(planned.failure) : Effect.succeed(planned.success)
        }
        yield* Effect.gen(function* () {
          yield* quietly(runPlan(yield* plan({}), "eu-west-2"))
          const shards = yield* quietly(runPlan(yield* plan({ shards: 3 }), "eu-west-2")).pipe(Effect.flip)
          expect(shards.message).toBe("Kinesis stream changes at in-memory Kinesis exists with 2 open shards, not 3; delete the stream or set KINESIS_SHARDS=2")
          const prefix = yield* quietly(runPlan(yield* plan({ firehosePrefix: "firehose/" }), "eu-west-2")).pipe(Effect.flip)
          expect(prefix.message).toBe(
            `Firehose delivery stream archive at ${fakeFirehose.endpoint} exists configured otherwise (its prefix is "raw/!{timestamp:yyyy/MM/dd/HH}/", not "firehose/"); delete it or fix FIREHOSE_DELIVERY_STREAM`
          )
        }).pipe(Effect.provide(servicesOf(fakeSqs, fakeFirehose, [])))
      })
    )
  )
})
