/**
 * The loader's queue: the processed bucket's `s3:ObjectCreated:*` notifications for
 * micro-batch manifests (`manifests/…json`, written after the Parquet objects they list),
 * and its dead-letter queue. Part of the data stack (DataStack.ts): a
 * notification waiting here when the pipeline is destroyed is loaded by the next one.
 *
 * Invariants:
 *  - The notification is the bucket's own configuration (no custom resource): the bucket
 *    is named, the queue policy lets only S3, for that bucket in this account, send, and
 *    the bucket's configuration is set after that policy (S3 checks it when it is set).
 *  - A message that fails `LOADER_QUEUE.maxReceiveCount` times moves to the dead-letter
 *    queue (kept 14 days). The visibility timeout is 6 × the loader function's timeout +
 *    its batching window (AWS's advice for SQS event sources).
 *  - Both queues are encrypted (SQS-managed keys: no KMS permission needed) and TLS-only.
 */
import { MANIFEST_PREFIX, MANIFEST_SUFFIX } from "@totes-cdc/core"
import { Aws, Duration } from "aws-cdk-lib"
import * as iam from "aws-cdk-lib/aws-iam"
import type * as s3 from "aws-cdk-lib/aws-s3"
import * as sqs from "aws-cdk-lib/aws-sqs"
import { Construct } from "constructs"
import { LOADER_BATCHING, LOADER_FUNCTION } from "./LoaderFunction.ts"

/** The queue: receives before a message is dead-lettered, and how long messages are kept. */
export const LOADER_QUEUE = {
  maxReceiveCount: 5,
  retention: Duration.days(14),
  visibilityTimeout: Duration.seconds(6 * LOADER_FUNCTION.timeout.toSeconds() + LOADER_BATCHING.window.toSeconds())
} as const

/** Only these objects are announced to the loader: micro-batch manifests (core MicroBatchManifest.ts). */
export const PROCESSED_NOTIFICATION_FILTER = { prefix: MANIFEST_PREFIX, suffix: MANIFEST_SUFFIX } as const

export interface LoaderQueueProps {
  /** The processed bucket, created in the same stack. */
  readonly processedBucket: s3.Bucket
  /** Its name as given to it (not a reference to it: the queue policy must not depend on the bucket). */
  readonly processedBucketName: string
  readonly queueName: string
  readonly deadLetterQueueName: string
}

export class LoaderQueue extends Construct {
  readonly queue: sqs.Queue
  readonly deadLetterQueue: sqs.Queue

  constructor(scope: Construct, id: string, props: LoaderQueueProps) {
    super(scope, id)
    this.deadLetterQueue = new sqs.Queue(this, "DeadLetterQueue", {
      queueName: props.deadLetterQueueName,
      retentionPeriod: LOADER_QUEUE.retention,
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true
    })
    this.queue = new sqs.Queue(this, "Queue", {
      queueName: props.queueName,
      visibilityTimeout: LOADER_QUEUE.visibilityTimeout,
      retentionPeriod: LOADER_QUEUE.retention,
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount: LOADER_QUEUE.maxReceiveCount }
    })

    this.queue.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: "ProcessedBucketNotifications",
        principals: [new iam.ServicePrincipal("s3.amazonaws.com")],
        actions: ["sqs:SendMessage"],
        resources: [this.queue.queueArn],
        conditions: {
          ArnEquals: { "aws:SourceArn": `arn:${Aws.PARTITION}:s3:::${props.processedBucketName}` },
          StringEquals: { "aws:SourceAccount": Aws.ACCOUNT_ID }
        }
      })
    )
    const cfnBucket = props.processedBucket.node.defaultChild as s3.CfnBucket
    cfnBucket.notificationConfiguration = {
      queueConfigurations: [
        {
          event: "s3:ObjectCreated:*",
          queue: this.queue.queueArn,
          filter: {
            s3Key: {
              rules: [
                { name: "prefix", value: PROCESSED_NOTIFICATION_FILTER.prefix },
                { name: "suffix", value: PROCESSED_NOTIFICATION_FILTER.suffix }
              ]
            }
          }
        }
      ]
    }
    cfnBucket.node.addDependency(this.queue.node.findChild("Policy"))
  }
}
