/**
 * The loader as a Lambda function (infra/src/lambda/loader.ts, bundled by esbuild) fed by
 * an SQS queue of the processed bucket's `s3:ObjectCreated:*` notifications for `.parquet`
 * objects.
 *
 * Invariants:
 *  - The notification is the bucket's own configuration (no custom resource): the bucket
 *    is named, the queue policy lets only S3, for that bucket in this account, send, and
 *    the bucket is created after that policy (S3 checks it when the configuration is set).
 *  - Partial batch responses: a group of objects that fails to load returns its messages
 *    only; a message that fails `LOADER_QUEUE.maxReceiveCount` times moves to the
 *    dead-letter queue (kept 14 days). The visibility timeout is 6 × the function's
 *    timeout + the batching window (AWS's advice for SQS event sources).
 *  - At most `LOADER_BATCHING.maxConcurrency` invocations at once: each holds up to two
 *    warehouse connections.
 *  - TLS verify-full to the warehouse with the CA file given (default: the Lambda
 *    runtime's Amazon CA bundle, which holds RDS's CAs); the password is read from Secrets
 *    Manager at the container's start (GetSecretValue on that one secret only).
 *  - The role may read the processed bucket's objects (and ListBucket: a missing object is a
 *    404, which the loader reports as such), consume its queue (the mapping's grant) and
 *    read the secret.
 */
import { Aws, Duration } from "aws-cdk-lib"
import * as iam from "aws-cdk-lib/aws-iam"
import * as lambda from "aws-cdk-lib/aws-lambda"
import { SqsEventSource } from "aws-cdk-lib/aws-lambda-event-sources"
import * as nodejs from "aws-cdk-lib/aws-lambda-nodejs"
import type * as logs from "aws-cdk-lib/aws-logs"
import * as s3 from "aws-cdk-lib/aws-s3"
import * as sqs from "aws-cdk-lib/aws-sqs"
import { Construct } from "constructs"
import { LAMBDA_ENTRIES, LOCK_FILE, nodejsBundling, REPOSITORY_ROOT } from "./Bundling.ts"
import type { Network } from "./Network.ts"
import { allow, lambdaRole } from "./Permissions.ts"
import type { InfraSettings } from "./Settings.ts"

/** The loader function's size: COPY and the upserts run in the warehouse, decoding Parquet here. */
export const LOADER_FUNCTION = { memoryMiB: 1024, timeout: Duration.minutes(2) } as const

/** The SQS event source mapping's settings (infra/README.md "Batching"). */
export const LOADER_BATCHING = { batchSize: 100, window: Duration.seconds(1), maxConcurrency: 5 } as const

/** The queue: receives before a message is dead-lettered, and how long messages are kept. */
export const LOADER_QUEUE = {
  maxReceiveCount: 5,
  retention: Duration.days(14),
  visibilityTimeout: Duration.seconds(6 * LOADER_FUNCTION.timeout.toSeconds() + LOADER_BATCHING.window.toSeconds())
} as const

/** Only these objects are announced to the loader. */
export const PROCESSED_SUFFIX = ".parquet"

/** Pure: the warehouse URL without its password (the loader reads it from WAREHOUSE_PASSWORD_SECRET_ARN). */
export const warehouseUrl = (warehouse: InfraSettings["warehouse"]): string =>
  `postgres://${encodeURIComponent(warehouse.user)}@${warehouse.host}:${warehouse.port}/${encodeURIComponent(warehouse.database)}`

export interface LoaderFunctionProps {
  readonly settings: InfraSettings
  readonly network: Network
  readonly processedBucket: s3.Bucket
  /** The processed bucket's name as given to it (not a reference to it: the queue policy must not depend on the bucket). */
  readonly processedBucketName: string
  readonly logGroup: logs.LogGroup
}

export class LoaderFunction extends Construct {
  readonly function: nodejs.NodejsFunction
  readonly queue: sqs.Queue
  readonly deadLetterQueue: sqs.Queue

  constructor(scope: Construct, id: string, props: LoaderFunctionProps) {
    super(scope, id)
    const { settings, network, processedBucket, processedBucketName, logGroup } = props
    const { warehouse } = settings
    const role = lambdaRole(this, "Role", "totes-cdc loader function", logGroup)
    this.function = new nodejs.NodejsFunction(this, "Function", {
      entry: LAMBDA_ENTRIES.loader,
      handler: "handler",
      runtime: lambda.Runtime.NODEJS_24_X,
      architecture: lambda.Architecture.ARM_64,
      memorySize: LOADER_FUNCTION.memoryMiB,
      timeout: LOADER_FUNCTION.timeout,
      role,
      logGroup,
      vpc: network.vpc,
      vpcSubnets: network.subnets,
      securityGroups: [network.loaderSecurityGroup],
      environment: {
        WAREHOUSE_URL: warehouseUrl(warehouse),
        WAREHOUSE_SCHEMA: warehouse.schema,
        WAREHOUSE_CA_FILE: warehouse.caFile,
        WAREHOUSE_PASSWORD_SECRET_ARN: warehouse.passwordSecretArn,
        PROCESSED_BUCKET: processedBucket.bucketName
      },
      projectRoot: REPOSITORY_ROOT,
      depsLockFilePath: LOCK_FILE,
      bundling: nodejsBundling()
    })
    allow(role, ["s3:GetObject"], [processedBucket.arnForObjects("*")])
    allow(role, ["s3:ListBucket"], [processedBucket.bucketArn])
    allow(role, ["secretsmanager:GetSecretValue"], [warehouse.passwordSecretArn])

    this.deadLetterQueue = new sqs.Queue(this, "DeadLetterQueue", {
      retentionPeriod: LOADER_QUEUE.retention,
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true
    })
    this.queue = new sqs.Queue(this, "Queue", {
      visibilityTimeout: LOADER_QUEUE.visibilityTimeout,
      retentionPeriod: LOADER_QUEUE.retention,
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount: LOADER_QUEUE.maxReceiveCount }
    })

    // S3 → SQS, configured on the bucket itself.
    this.queue.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: "ProcessedBucketNotifications",
        principals: [new iam.ServicePrincipal("s3.amazonaws.com")],
        actions: ["sqs:SendMessage"],
        resources: [this.queue.queueArn],
        conditions: {
          ArnEquals: { "aws:SourceArn": `arn:${Aws.PARTITION}:s3:::${processedBucketName}` },
          StringEquals: { "aws:SourceAccount": Aws.ACCOUNT_ID }
        }
      })
    )
    const cfnBucket = processedBucket.node.defaultChild as s3.CfnBucket
    cfnBucket.notificationConfiguration = {
      queueConfigurations: [
        {
          event: "s3:ObjectCreated:*",
          queue: this.queue.queueArn,
          filter: { s3Key: { rules: [{ name: "suffix", value: PROCESSED_SUFFIX }] } }
        }
      ]
    }
    cfnBucket.node.addDependency(this.queue.node.findChild("Policy"))

    this.function.addEventSource(
      new SqsEventSource(this.queue, {
        batchSize: LOADER_BATCHING.batchSize,
        maxBatchingWindow: LOADER_BATCHING.window,
        reportBatchItemFailures: true,
        maxConcurrency: LOADER_BATCHING.maxConcurrency
      })
    )
  }
}
