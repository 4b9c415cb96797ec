import { describe, expect, it } from "@effect/vitest"
import { Firehose, type FirehoseDescription, Kinesis } from "@totes-cdc/platform"
import { Effect, Layer } from "effect"
import { formatFirehose, formatKinesisStream, formatStatus, gatherStreams } from "../src/status/PipelineStatus.ts"

const ARCHIVE: FirehoseDescription = {
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
const FAILED: FirehoseDescription = {
  status: "CREATING_FAILED",
  source: { kinesisStreamArn: "arn:aws:kinesis:eu-west-2:123456789012:stream/totes-cdc-changes" },
  failure: "KMS_ACCESS_DENIED: Firehose does not have access to the KMS key of the source stream."
}

describe("formatStatus", () => {
  it("shows each table's freshness (snapshot-only tables by LSN) and every quarantined table with the command that releases it", () => {
    const lines = formatStatus({
      slot: { name: "totes_cdc", exists: false },
      reader: null,
      replay: null,
      kinesis: { name: "totes-cdc-changes", summary: { status: "ACTIVE", mode: "PROVISIONED", openShards: 1, retentionHours: 24, encryption: "NONE", consumers: 0 }, error: null },
      firehose: null,
      deadLetters: { processor: 2 },
      freshness: [
        { warehouse_table: "dim_currency", last_commit_lsn: "0/2714A38", last_commit_ts: null, last_loaded_at: "2026-11-21 08:19:10+00" },
        { warehouse_table: "fact_payment", last_commit_lsn: "0/2800000", last_commit_ts: "2026-11-21 08:20:01+00", last_loaded_at: "2026-11-21 08:20:02+00" }
      ],
      quarantined: [{ warehouse_table: "dim_currency", commit_lsn: "0/2900000", recorded_at: "2026-11-21 08:21:00+00" }]
    })
    expect(lines.slice(2)).toEqual([
      "kinesis stream totes-cdc-changes: ACTIVE, provisioned, 1 open shard, retention 24 h, encryption none, 0 enhanced fan-out consumers",
      "firehose: none configured (FIREHOSE_DELIVERY_STREAM unset) — the archiver is the local stand-in for Firehose",
      "dead letters: processor 2",
      "freshness:\n  dim_currency: last commit (snapshot only) at 0/2714A38, loaded 2026-11-21 08:19:10+00\n  fact_payment: last commit 2026-11-21 08:20:01+00, loaded 2026-11-21 08:20:02+00",
      "QUARANTINED dim_currency: source truncate at 0/2900000 (seen 2026-11-21 08:21:00+00); its objects wait — decide with `totes-cdc loader release dim_currency --as apply|ignore`"
    ])
  })
})

describe("gatherStreams + the stream lines", () => {
  const services = (deliveryStreams: Record<string, FirehoseDescription>) =>
    Layer.mergeAll(Kinesis.layerTest({ streams: { "totes-cdc-changes": 2 } }), Firehose.layerTest(deliveryStreams))

  it.effect("locally (no delivery stream): the Kinesis summary, and the archiver as Firehose's stand-in; Firehose is not called", () =>
    Effect.gen(function* () {
      const report = yield* gatherStreams("totes-cdc-changes", undefined)
      expect(report).toEqual({
        kinesis: { name: "totes-cdc-changes", summary: { status: "ACTIVE", mode: "PROVISIONED", openShards: 2, retentionHours: 24, encryption: "NONE", consumers: 0 }, error: null },
        firehose: null
      })
      expect(formatKinesisStream(report.kinesis)).toBe(
        "kinesis stream totes-cdc-changes: ACTIVE, provisioned, 2 open shards, retention 24 h, encryption none, 0 enhanced fan-out consumers"
      )
      expect(formatFirehose(report.firehose)).toContain("the archiver is the local stand-in for Firehose")
      // JSON (`status --json`) carries the same fields.
      expect(JSON.parse(JSON.stringify(report))).toEqual(report)
    }).pipe(Effect.provide(services({})))
  )

  it.effect("on AWS: the delivery stream's status, source, destination and buffering", () =>
    Effect.gen(function* () {
      const report = yield* gatherStreams("totes-cdc-changes", "totes-cdc-archive")
      expect(report.firehose).toEqual({ name: "totes-cdc-archive", description: ARCHIVE, error: null })
      expect(formatFirehose(report.firehose)).toBe(
        "firehose delivery stream totes-cdc-archive: ACTIVE, arn:aws:kinesis:eu-west-2:123456789012:stream/totes-cdc-changes → arn:aws:s3:::totes-cdc-ingestion-123456789012/raw/ (errors → raw-errors/!{firehose:error-output-type}/), buffering 60 s / 5 MiB"
      )
    }).pipe(Effect.provide(services({ "totes-cdc-archive": ARCHIVE })))
  )

  it.effect("a failed delivery stream is a line with its failure and the fix", () =>
    Effect.gen(function* () {
      const report = yield* gatherStreams("totes-cdc-changes", "totes-cdc-archive")
      expect(formatFirehose(report.firehose)).toBe(
        "firehose delivery stream totes-cdc-archive: CREATING_FAILED, arn:aws:kinesis:eu-west-2:123456789012:stream/totes-cdc-changes → no S3 destination; FAILED: KMS_ACCESS_DENIED: Firehose does not have access to the KMS key of the source stream. — fix the cause, then delete the delivery stream and deploy again"
      )
    }).pipe(Effect.provide(services({ "totes-cdc-archive": FAILED })))
  )

  it.effect("a missing delivery stream or Kinesis stream is a line naming it and the fix, not a failure", () =>
    Effect.gen(function* () {
      const report = yield* gatherStreams("no-such-stream", "no-such-archive")
      expect(report.kinesis.summary).toBeNull()
      expect(formatKinesisStream(report.kinesis)).toBe(
        "kinesis stream no-such-stream: Kinesis stream no-such-stream does not exist at in-memory Kinesis; create it or fix KINESIS_STREAM"
      )
      expect(report.firehose?.description).toBeNull()
      expect(formatFirehose(report.firehose)).toMatch(
        /^firehose delivery stream no-such-archive: Firehose delivery stream no-such-archive does not exist at in-memory Firehose \(.*\); deploy the stack or fix FIREHOSE_DELIVERY_STREAM/
      )
    }).pipe(Effect.provide(services({})))
  )

  it("an on-demand, encrypted stream being updated", () => {
    expect(
      formatKinesisStream({ name: "s", summary: { status: "UPDATING", mode: "ON_DEMAND", openShards: 4, retentionHours: 168, encryption: "KMS" }, error: null })
    ).toBe("kinesis stream s: UPDATING (not ACTIVE: reads and writes may fail until it is), on-demand, 4 open shards, retention 168 h, encryption KMS")
  })
})
