/**
 * The loader as a Lambda function (infra/src/lambda/loader.ts, bundled by esbuild) fed by
 * the loader's queue (LoaderQueue.ts, in the data stack: the processed bucket's
 * notifications of `.parquet` objects).
 *
 * Invariants:
 *  - Partial batch responses: a group of objects that fails to load returns its messages
 *    only (the queue's redrive policy dead-letters a message after its receives).
 *  - At most `LOADER_BATCHING.maxConcurrency` invocations at once: each holds up to two
 *    warehouse connections.
 *  - TLS verify-full to the warehouse with the CA file given (default: the Lambda
 *    runtime's Amazon CA bundle, which holds RDS's CAs); the password is read from Secrets
 *    Manager at the container's start (GetSecretValue on that one secret only).
 *  - The role may read the processed bucket's objects (and ListBucket: a missing object is a
 *    404, which the loader reports as such), consume its queue (the mapping's grant) and
 *    read the secret.
 */
import { Duration } from "aws-cdk-lib"
import * as lambda from "aws-cdk-lib/aws-lambda"
import { SqsEventSource } from "aws-cdk-lib/aws-lambda-event-sources"
import * as nodejs from "aws-cdk-lib/aws-lambda-nodejs"
import type * as logs from "aws-cdk-lib/aws-logs"
import type * as s3 from "aws-cdk-lib/aws-s3"
import type * as sqs from "aws-cdk-lib/aws-sqs"
import { Construct } from "constructs"
import { LAMBDA_ENTRIES, LOCK_FILE, nodejsBundling, REPOSITORY_ROOT } from "./Bundling.ts"
import type { Network } from "./Network.ts"
import { allow, lambdaRole } from "./Permissions.ts"
import type { InfraSettings } from "./Settings.ts"

/** The loader function's size: COPY and the upserts run in the warehouse, decoding Parquet here. */
export const LOADER_FUNCTION = { memoryMiB: 1024, timeout: Duration.minutes(2) } as const

/** The SQS event source mapping's settings (infra/README.md "Batching"). */
export const LOADER_BATCHING = { batchSize: 100, window: Duration.seconds(1), maxConcurrency: 5 } as const

/** Pure: the warehouse URL without its password (the loader reads it from WAREHOUSE_PASSWORD_SECRET_ARN). */
export const warehouseUrl = (warehouse: InfraSettings["warehouse"]): string =>
  `postgres://${encodeURIComponent(warehouse.user)}@${warehouse.host}:${warehouse.port}/${encodeURIComponent(warehouse.database)}`

export interface LoaderFunctionProps {
  readonly settings: InfraSettings
  readonly network: Network
  readonly processedBucket: s3.IBucket
  /** The loader's queue (LoaderQueue.ts). */
  readonly queue: sqs.IQueue
  readonly logGroup: logs.LogGroup
}

export class LoaderFunction extends Construct {
  readonly function: nodejs.NodejsFunction

  constructor(scope: Construct, id: string, props: LoaderFunctionProps) {
    super(scope, id)
    const { settings, network, processedBucket, queue, logGroup } = props
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
    this.function.addEventSource(
      new SqsEventSource(queue, {
        batchSize: LOADER_BATCHING.batchSize,
        maxBatchingWindow: LOADER_BATCHING.window,
        reportBatchItemFailures: true,
        maxConcurrency: LOADER_BATCHING.maxConcurrency
      })
    )
  }
}
