/**
 * `totes-cdc status`'s two describe calls on recorded SDK responses (test/fixtures/*.json,
 * the JSON bodies AWS answers, written from the API reference): the pure mappings
 * (`toStreamSummary`, `toFirehoseDescription`), the same bodies served by a local HTTP
 * server to the real layers (so the SDK's own deserializer reads them), `describeFirehoseError`,
 * and the in-memory layers.
 */
import { describe, expect, it } from "@effect/vitest"
import type { DescribeDeliveryStreamOutput } from "@aws-sdk/client-firehose"
import type { DescribeStreamSummaryOutput } from "@aws-sdk/client-kinesis"
import { Effect } from "effect"
import { readFileSync } from "node:fs"
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import { describeFirehoseError, Firehose, FirehoseError, type FirehoseDescription, toFirehoseDescription } from "../src/Firehose.ts"
import { Kinesis, KinesisError, toStreamSummary } from "../src/Kinesis.ts"

const fixture = (name: string): string => readFileSync(new URL(`fixtures/${name}`, import.meta.url), "utf8")

const ACTIVE_ARCHIVE: FirehoseDescription = {
  status: "ACTIVE",
  source: { kinesisStreamArn: "arn:aws:kinesis:eu-west-2:123456789012:stream/totes-cdc-changes" },
  destination: {
    bucketArn: "arn:aws:s3:::totes-cdc-ingestion-123456789012",
    prefix: "raw/",
    errorOutputPrefix: "raw-errors/!{firehose:error-output-type}/",
    bufferingSeconds: 60,
    bufferingMiB: 5
  }
}
const FAILED_ARCHIVE: FirehoseDescription = {
  status: "CREATING_FAILED",
  source: { kinesisStreamArn: "arn:aws:kinesis:eu-west-2:123456789012:stream/totes-cdc-changes" },
  // No buffering hints, no error prefix answered: Firehose's defaults.
  destination: { bucketArn: "arn:aws:s3:::totes-cdc-ingestion-123456789012", prefix: "raw/", errorOutputPrefix: "", bufferingSeconds: 300, bufferingMiB: 5 },
  failure:
    "KMS_ACCESS_DENIED: Firehose does not have access to the KMS key arn:aws:kms:eu-west-2:123456789012:key/3f1c2b9e-5a7d-4e2f-9c1a-8b6d0e4f2a11 of the source stream."
}

describe("toStreamSummary (DescribeStreamSummary)", () => {
  it("maps an on-demand, unencrypted, active stream", () => {
    const output = JSON.parse(fixture("kinesis-describe-stream-summary-on-demand.json")) as DescribeStreamSummaryOutput
    expect(toStreamSummary(output)).toEqual({ status: "ACTIVE", mode: "ON_DEMAND", openShards: 4, retentionHours: 24, encryption: "NONE", consumers: 0 })
  })

  it("maps a provisioned, KMS-encrypted stream being updated, with a week's retention and a consumer", () => {
    const output = JSON.parse(fixture("kinesis-describe-stream-summary-provisioned-kms.json")) as DescribeStreamSummaryOutput
    expect(toStreamSummary(output)).toEqual({ status: "UPDATING", mode: "PROVISIONED", openShards: 2, retentionHours: 168, encryption: "KMS", consumers: 1 })
  })

  it("takes Kinesis' defaults for absent fields (kinesalite answers no mode details), and undefined for no summary", () => {
    const output = { StreamDescriptionSummary: { StreamName: "s", StreamARN: "a", StreamStatus: "CREATING", OpenShardCount: 1 } } as DescribeStreamSummaryOutput
    expect(toStreamSummary(output)).toEqual({ status: "CREATING", mode: "PROVISIONED", openShards: 1, retentionHours: 24, encryption: "NONE" })
    expect(toStreamSummary({ StreamDescriptionSummary: undefined })).toBeUndefined()
  })
})

describe("toFirehoseDescription (DescribeDeliveryStream)", () => {
  it("maps an active delivery stream: Kinesis source, first destination's extended S3 description", () => {
    const output = JSON.parse(fixture("firehose-describe-active.json")) as DescribeDeliveryStreamOutput
    expect(toFirehoseDescription(output)).toEqual(ACTIVE_ARCHIVE)
  })

  it("maps a CREATING_FAILED delivery stream with its failure (type and details) and Firehose's default buffering", () => {
    const output = JSON.parse(fixture("firehose-describe-creating-failed.json")) as DescribeDeliveryStreamOutput
    expect(toFirehoseDescription(output)).toEqual(FAILED_ARCHIVE)
  })

  it("leaves out a Direct PUT source and a non-S3 destination; undefined for no description", () => {
    const output = {
      DeliveryStreamDescription: {
        DeliveryStreamName: "d",
        DeliveryStreamARN: "a",
        DeliveryStreamStatus: "DELETING",
        DeliveryStreamType: "DirectPut",
        VersionId: "1",
        Source: { DirectPutSourceDescription: {} },
        Destinations: [{ DestinationId: "destinationId-000000000001", HttpEndpointDestinationDescription: {} }],
        HasMoreDestinations: false
      }
    } as DescribeDeliveryStreamOutput
    expect(toFirehoseDescription(output)).toEqual({ status: "DELETING" })
    expect(toFirehoseDescription({ DeliveryStreamDescription: undefined })).toBeUndefined()
  })
})

/** Serves `body` (status `status`) as the answer to every request, for the life of the scope; answers its endpoint and the requests' X-Amz-Target headers. */
const serveRecorded = (status: number, body: string, extraHeaders: Record<string, string> = {}) =>
  Effect.acquireRelease(
    Effect.callback<{ readonly endpoint: string; readonly targets: Array<string>; readonly close: () => void }>((resume) => {
      const targets: Array<string> = []
      const server = createServer((request, response) => {
        targets.push(String(request.headers["x-amz-target"]))
        request.resume()
        request.on("end", () => {
          response.writeHead(status, { "content-type": "application/x-amz-json-1.1", "x-amzn-requestid": "recorded", ...extraHeaders })
          response.end(body)
        })
      })
      server.listen(0, "127.0.0.1", () =>
        resume(Effect.succeed({ endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, targets, close: () => server.close() }))
      )
    }),
    (served) => Effect.sync(() => served.close())
  )

const target = (endpoint: string) => ({ region: "eu-west-2", endpoint, accessKeyId: "recorded", secretAccessKey: "recorded" })

describe("the real layers on recorded HTTP answers (the SDK deserializes them)", () => {
  it.live("Kinesis.describeStreamSummary: the provisioned, encrypted stream", () =>
    Effect.gen(function* () {
      const served = yield* serveRecorded(200, fixture("kinesis-describe-stream-summary-provisioned-kms.json"))
      const summary = yield* Kinesis.use((k) => k.describeStreamSummary("totes-cdc-changes")).pipe(Effect.provide(Kinesis.layer(target(served.endpoint))))
      expect(summary).toEqual({ status: "UPDATING", mode: "PROVISIONED", openShards: 2, retentionHours: 168, encryption: "KMS", consumers: 1 })
      expect(served.targets).toEqual(["Kinesis_20131202.DescribeStreamSummary"])
    }).pipe(Effect.scoped)
  )

  it.live("Firehose.describeDeliveryStream: the active and the CREATING_FAILED delivery streams", () =>
    Effect.gen(function* () {
      for (const [file, expected] of [["firehose-describe-active.json", ACTIVE_ARCHIVE], ["firehose-describe-creating-failed.json", FAILED_ARCHIVE]] as const) {
        const served = yield* serveRecorded(200, fixture(file))
        const description = yield* Firehose.use((f) => f.describeDeliveryStream("totes-cdc-archive")).pipe(Effect.provide(Firehose.layer(target(served.endpoint))))
        expect(description).toEqual(expected)
        expect(served.targets).toEqual(["Firehose_20150804.DescribeDeliveryStream"])
      }
    }).pipe(Effect.scoped)
  )

  it.live("Firehose: a ResourceNotFoundException answer is a FirehoseError naming the delivery stream and the fix", () =>
    Effect.gen(function* () {
      const served = yield* serveRecorded(
        400,
        JSON.stringify({
          __type: "ResourceNotFoundException",
          message: "Firehose totes-cdc-archive under account 123456789012 not found."
        })
      )
      const error = yield* Effect.flip(
        Firehose.use((f) => f.describeDeliveryStream("totes-cdc-archive")).pipe(Effect.provide(Firehose.layer(target(served.endpoint))))
      )
      expect(error).toBeInstanceOf(FirehoseError)
      expect(error.retryable).toBe(false)
      expect(error.message).toBe(
        `Firehose delivery stream totes-cdc-archive does not exist at ${served.endpoint} (Firehose totes-cdc-archive under account 123456789012 not found.); deploy the stack or fix FIREHOSE_DELIVERY_STREAM / AWS_REGION`
      )
    }).pipe(Effect.scoped)
  )
})

describe("describeFirehoseError", () => {
  const sdk = (name: string, message: string, extra: object = {}) => Object.assign(new Error(message), { name, ...extra })
  const endpoint = "Firehose in eu-west-2"

  it("refused credentials: not retryable, naming the permission", () => {
    const error = describeFirehoseError(sdk("AccessDeniedException", "no"), "DescribeDeliveryStream", "archive", endpoint)
    expect(error.retryable).toBe(false)
    expect(error.message).toBe("Firehose DescribeDeliveryStream on archive at Firehose in eu-west-2 was refused (AccessDeniedException: no); grant firehose:DescribeDeliveryStream or fix the AWS credentials")
  })

  it("throttling, 5xx and network errors are retryable; the cause is kept", () => {
    const network = Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" })
    for (const cause of [sdk("LimitExceededException", "slow down"), sdk("Weird", "x", { $metadata: { httpStatusCode: 503 } }), network]) {
      const error = describeFirehoseError(cause, "DescribeDeliveryStream", "archive", endpoint)
      expect(error.retryable).toBe(true)
      expect(error.cause).toBe(cause)
    }
    expect(describeFirehoseError(sdk("InvalidArgumentException", "bad"), "DescribeDeliveryStream", "archive", endpoint).retryable).toBe(false)
  })
})

describe("the in-memory layers", () => {
  it.effect("Firehose.layerTest answers a known delivery stream, and fails for another as the real layer does", () =>
    Effect.gen(function* () {
      const firehose = yield* Firehose
      expect(yield* firehose.describeDeliveryStream("archive")).toEqual(ACTIVE_ARCHIVE)
      const error = yield* Effect.flip(firehose.describeDeliveryStream("nope"))
      expect(error.retryable).toBe(false)
      expect(error.message).toMatch(/^Firehose delivery stream nope does not exist at in-memory Firehose \(.*\); deploy the stack or fix FIREHOSE_DELIVERY_STREAM/)
    }).pipe(Effect.provide(Firehose.layerTest({ archive: ACTIVE_ARCHIVE })))
  )

  it.effect("Kinesis.layerTest summarises a stream as kinesalite does, and fails for a missing one", () =>
    Effect.gen(function* () {
      const kinesis = yield* Kinesis
      expect(yield* kinesis.describeStreamSummary("changes")).toEqual({ status: "ACTIVE", mode: "PROVISIONED", openShards: 3, retentionHours: 24, encryption: "NONE", consumers: 0 })
      const error = yield* Effect.flip(kinesis.describeStreamSummary("nope"))
      expect(error).toBeInstanceOf(KinesisError)
      expect(error.message).toBe("Kinesis stream nope does not exist at in-memory Kinesis; create it or fix KINESIS_STREAM")
    }).pipe(Effect.provide(Kinesis.layerTest({ streams: { changes: 3 } })))
  )
})
