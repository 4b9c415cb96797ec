/**
 * The change stream and its archive: the Kinesis stream the reader writes, and the
 * Firehose delivery stream that copies every change record into the ingestion bucket's
 * `raw/` as NDJSON (DESIGN.md §1, §4).
 *
 * Invariants:
 *  - The stream is deleted with the pipeline stack (its records are the reader's
 *    confirmed changes in flight: drain before destroying); nothing else here is state.
 *  - The stream is encrypted with the AWS-managed key (`alias/aws/kinesis`): producers and
 *    consumers need no KMS permission of their own.
 *  - The archive is the one the local archiver writes and `replay` reads: Firehose
 *    de-aggregates the reader's KPL records (its source is the stream), the
 *    `AppendDelimiterToRecord` processor ends each change record with a newline, objects are
 *    named by Firehose (`raw/YYYY/MM/DD/HH/<delivery stream>-<version>-YYYY-MM-DD-HH-MM-SS-<uuid>`,
 *    UTC; the delivery stream carries the stream's name, as the local archiver's objects do),
 *    uncompressed, flushed at 60 s or 5 MiB.
 *  - Records Firehose cannot deliver or process go under `errors/<error type>/YYYY/MM/DD/HH/`.
 *  - Firehose's one role reads the stream and writes only `raw/` and `errors/` of the
 *    ingestion bucket (AWS's list of what an S3 destination needs; CDK's own grant would
 *    allow reading, listing and deleting every object of the bucket, the state included)
 *    and its log group. The delivery stream is created after that role's policy.
 */
import { Duration, RemovalPolicy, Size } from "aws-cdk-lib"
import * as iam from "aws-cdk-lib/aws-iam"
import * as firehose from "aws-cdk-lib/aws-kinesisfirehose"
import * as kinesis from "aws-cdk-lib/aws-kinesis"
import type * as logs from "aws-cdk-lib/aws-logs"
import type * as s3 from "aws-cdk-lib/aws-s3"
import { Construct } from "constructs"
import type { InfraSettings } from "./Settings.ts"
import { allow } from "./Permissions.ts"
import { INGESTION_PREFIXES } from "./Storage.ts"

/** Firehose's buffering hints: as the local archiver's defaults (ARCHIVE_BUFFER_INTERVAL_MS, ARCHIVE_BUFFER_BYTES). */
export const ARCHIVE_BUFFERING = { interval: Duration.seconds(60), size: Size.mebibytes(5) } as const

/** The archive's prefix: Firehose's default hour folders (UTC), written out so that the error prefix may use expressions too. */
export const ARCHIVE_PREFIX = `${INGESTION_PREFIXES.raw}!{timestamp:yyyy/MM/dd/HH}/`

/** Where Firehose puts records it could not deliver or process. */
export const ARCHIVE_ERROR_PREFIX = `${INGESTION_PREFIXES.errors}!{firehose:error-output-type}/!{timestamp:yyyy/MM/dd/HH}/`

/** Kinesis retention: the default 24 h (the event source mapping's maximum record age stays below it). */
export const STREAM_RETENTION = Duration.hours(24)

export class ChangeStream extends Construct {
  readonly stream: kinesis.Stream
  readonly deliveryStream: firehose.DeliveryStream
  /** Firehose's role (source and destination). */
  readonly archiveRole: iam.Role

  constructor(scope: Construct, id: string, settings: InfraSettings, ingestionBucket: s3.IBucket, firehoseLogGroup: logs.LogGroup) {
    super(scope, id)
    const { capacity, name } = settings.stream
    this.stream = new kinesis.Stream(this, "Stream", {
      streamName: name,
      encryption: kinesis.StreamEncryption.MANAGED,
      retentionPeriod: STREAM_RETENTION,
      // CDK keeps a stream by default; this one goes with the pipeline stack (drained first,
      // infra/README.md "Pausing and tearing down"), or a redeploy would find its name taken.
      removalPolicy: RemovalPolicy.DESTROY,
      ...(capacity.mode === "on-demand" ? { streamMode: kinesis.StreamMode.ON_DEMAND } : { streamMode: kinesis.StreamMode.PROVISIONED, shardCount: capacity.shards })
    })
    // One role for the source and the destination, its statements ours (`withoutPolicyUpdates`: CDK's grants are no-ops).
    const role = new iam.Role(this, "ArchiveRole", { assumedBy: new iam.ServicePrincipal("firehose.amazonaws.com"), description: "totes-cdc Firehose archive" })
    this.archiveRole = role
    allow(role, ["kinesis:DescribeStream", "kinesis:GetShardIterator", "kinesis:GetRecords", "kinesis:ListShards"], [this.stream.streamArn])
    allow(role, ["s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"], [ingestionBucket.bucketArn])
    allow(
      role,
      ["s3:AbortMultipartUpload", "s3:GetObject", "s3:PutObject"],
      [ingestionBucket.arnForObjects(`${INGESTION_PREFIXES.raw}*`), ingestionBucket.arnForObjects(`${INGESTION_PREFIXES.errors}*`)]
    )
    firehoseLogGroup.grantWrite(role)
    const boundRole = role.withoutPolicyUpdates()
    this.deliveryStream = new firehose.DeliveryStream(this, "Archive", {
      deliveryStreamName: name,
      role: boundRole,
      source: new firehose.KinesisStreamSource(this.stream),
      destination: new firehose.S3Bucket(ingestionBucket, {
        dataOutputPrefix: ARCHIVE_PREFIX,
        errorOutputPrefix: ARCHIVE_ERROR_PREFIX,
        bufferingInterval: ARCHIVE_BUFFERING.interval,
        bufferingSize: ARCHIVE_BUFFERING.size,
        compression: firehose.Compression.UNCOMPRESSED,
        processors: [new firehose.AppendDelimiterToRecordProcessor()],
        loggingConfig: new firehose.EnableLogging(firehoseLogGroup),
        role: boundRole
      })
    })
    this.deliveryStream.node.addDependency(role)
  }
}
