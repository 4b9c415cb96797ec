/**
 * The processor as a Lambda function (infra/src/lambda/processor.ts, bundled by esbuild)
 * behind a Kinesis event source mapping.
 *
 * Invariants:
 *  - Batching follows the freshness target (infra/README.md "Batching"): a micro-batch
 *    closes `PROCESSOR_BATCHING.window` after its first record, as the local processor's
 *    PROCESSOR_WINDOW_MS, or at `batchSize` aggregated records (a Kinesis record is a KPL
 *    aggregate of many changes; Lambda's 6 MB payload cuts a batch earlier anyway).
 *  - Failures: the handler answers ReportBatchItemFailures (first unprocessed record per
 *    shard); a failing batch is bisected and retried at most `retryAttempts` times and for
 *    records at most `maxRecordAge` old, then its shard/sequence range goes to the
 *    on-failure queue (kept 14 days) and the mapping moves on.
 *  - ParallelizationFactor 1 unless configured: with more, the handler is still correct
 *    (the joined tables share one partition key, so their changes stay in order on one
 *    shard; stream-processors/SPEC.md §3).
 *  - The role may read the stream (the mapping's grant) and send to its failure queue; on
 *    S3: Get/Put of the join state, Put of its dead letters (`dlq/processor/`), Get of the
 *    snapshot chunks its pointers name (`raw/…/totes-cdc-snapshot-…`), ListBucket
 *    on the ingestion bucket (a missing join state is a 404, not a 403), Put into the
 *    processed bucket.
 */
import { DEAD_LETTER_PREFIX, INGESTION_LAYOUT } from "@totes-cdc/core"
import { SNAPSHOT_CHUNK_OBJECTS } from "./Storage.ts"
import { Duration } from "aws-cdk-lib"
import * as lambda from "aws-cdk-lib/aws-lambda"
import { KinesisEventSource, SqsDlq } from "aws-cdk-lib/aws-lambda-event-sources"
import * as nodejs from "aws-cdk-lib/aws-lambda-nodejs"
import type * as kinesis from "aws-cdk-lib/aws-kinesis"
import type * as logs from "aws-cdk-lib/aws-logs"
import type * as s3 from "aws-cdk-lib/aws-s3"
import * as sqs from "aws-cdk-lib/aws-sqs"
import { Construct } from "constructs"
import { LAMBDA_ENTRIES, LOCK_FILE, nodejsBundling, REPOSITORY_ROOT } from "./Bundling.ts"
import type { Network } from "./Network.ts"
import { allow, lambdaRole } from "./Permissions.ts"

/** The processor function's size: parquet-wasm's encoder is CPU-bound, and Lambda's CPU grows with memory. */
export const PROCESSOR_FUNCTION = { memoryMiB: 1024, timeout: Duration.minutes(1) } as const

/** The Kinesis event source mapping's settings (infra/README.md "Batching"). */
export const PROCESSOR_BATCHING = {
  batchSize: 1_000,
  window: Duration.seconds(1),
  retryAttempts: 100,
  maxRecordAge: Duration.hours(6)
} as const

/** How long the on-failure queue keeps a skipped batch's location (SQS's maximum). */
export const FAILURE_RETENTION = Duration.days(14)

export interface ProcessorFunctionProps {
  readonly network: Network
  readonly stream: kinesis.Stream
  readonly ingestionBucket: s3.IBucket
  readonly processedBucket: s3.IBucket
  readonly logGroup: logs.LogGroup
  readonly parallelizationFactor: number
}

export class ProcessorFunction extends Construct {
  readonly function: nodejs.NodejsFunction
  readonly failureQueue: sqs.Queue

  constructor(scope: Construct, id: string, props: ProcessorFunctionProps) {
    super(scope, id)
    const { network, stream, ingestionBucket, processedBucket, logGroup } = props
    const role = lambdaRole(this, "Role", "totes-cdc processor function", logGroup)
    this.function = new nodejs.NodejsFunction(this, "Function", {
      entry: LAMBDA_ENTRIES.processor,
      handler: "handler",
      runtime: lambda.Runtime.NODEJS_24_X,
      architecture: lambda.Architecture.ARM_64,
      memorySize: PROCESSOR_FUNCTION.memoryMiB,
      timeout: PROCESSOR_FUNCTION.timeout,
      role,
      logGroup,
      vpc: network.vpc,
      vpcSubnets: network.subnets,
      securityGroups: [network.processorSecurityGroup],
      environment: { INGESTION_BUCKET: ingestionBucket.bucketName, PROCESSED_BUCKET: processedBucket.bucketName },
      projectRoot: REPOSITORY_ROOT,
      depsLockFilePath: LOCK_FILE,
      bundling: nodejsBundling()
    })

    allow(role, ["s3:GetObject", "s3:PutObject"], [ingestionBucket.arnForObjects(INGESTION_LAYOUT.joinStateKey)])
    allow(role, ["s3:PutObject"], [ingestionBucket.arnForObjects(`${DEAD_LETTER_PREFIX}processor/*`)])
    allow(role, ["s3:GetObject"], [ingestionBucket.arnForObjects(SNAPSHOT_CHUNK_OBJECTS)])
    allow(role, ["s3:ListBucket"], [ingestionBucket.bucketArn])
    allow(role, ["s3:PutObject"], [processedBucket.arnForObjects("*")])

    this.failureQueue = new sqs.Queue(this, "FailureQueue", {
      retentionPeriod: FAILURE_RETENTION,
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true
    })
    this.function.addEventSource(
      new KinesisEventSource(stream, {
        startingPosition: lambda.StartingPosition.TRIM_HORIZON,
        batchSize: PROCESSOR_BATCHING.batchSize,
        maxBatchingWindow: PROCESSOR_BATCHING.window,
        reportBatchItemFailures: true,
        bisectBatchOnError: true,
        retryAttempts: PROCESSOR_BATCHING.retryAttempts,
        maxRecordAge: PROCESSOR_BATCHING.maxRecordAge,
        parallelizationFactor: props.parallelizationFactor,
        onFailure: new SqsDlq(this.failureQueue)
      })
    )
  }
}
