/**
 * The deployment's state, in a stack of its own (`<stackName>-Data`): the ingestion bucket
 * (archive, reader state, join state, dead letters), the processed bucket (Parquet) and
 * the loader's queue and dead-letter queue. The pipeline stack (TotesCdcStack.ts) imports
 * them by name.
 *
 * Why two stacks: `cdk destroy <stackName>` removes the pipeline (stream, Firehose, reader,
 * functions, endpoints: everything that costs by the hour) and leaves this stack. A
 * pipeline deployed again finds the reader's state for its replication slot (so the reader
 * resumes the slot instead of snapshotting again), the join state, the archive for `replay`,
 * and every notification of a Parquet object not yet loaded.
 *
 * Invariants:
 *  - Every resource here has a fixed name (`dataNames`), the same in both stacks; no
 *    CloudFormation export ties the stacks (an export would block changing either).
 *  - Termination protection is on; both buckets are retained even if the stack is deleted.
 */
import { Stack, type StackProps } from "aws-cdk-lib"
import * as s3 from "aws-cdk-lib/aws-s3"
import * as sqs from "aws-cdk-lib/aws-sqs"
import type { Construct } from "constructs"
import { LoaderQueue } from "./LoaderQueue.ts"
import type { InfraSettings } from "./Settings.ts"
import { Storage } from "./Storage.ts"

/** The names of the data stack and of its resources. */
export interface DataNames {
  readonly stackName: string
  readonly ingestionBucket: string
  readonly processedBucket: string
  readonly loaderQueue: string
  readonly loaderDeadLetterQueue: string
}

/**
 * The names, from the settings and the stack's account and region (tokens when the stack is
 * environment-agnostic: both stacks then resolve them to the same values at deploy).
 * Defaults: `totes-cdc-ingestion-<account>-<region>`, `totes-cdc-processed-<account>-<region>`,
 * `<stackName>-loader`, `<stackName>-loader-dead-letters` (infra/README.md "Context").
 */
export const dataNames = (settings: InfraSettings, stack: Stack): DataNames => ({
  stackName: `${settings.stackName}-Data`,
  ingestionBucket: settings.ingestionBucketName ?? `totes-cdc-ingestion-${stack.account}-${stack.region}`,
  processedBucket: settings.processedBucketName ?? `totes-cdc-processed-${stack.account}-${stack.region}`,
  loaderQueue: `${settings.stackName}-loader`,
  loaderDeadLetterQueue: `${settings.stackName}-loader-dead-letters`
})

/** What the pipeline uses of the data stack. */
export interface DataResources {
  readonly ingestionBucket: s3.IBucket
  readonly processedBucket: s3.IBucket
  readonly loaderQueue: sqs.IQueue
  readonly loaderDeadLetterQueue: sqs.IQueue
}

/** The data stack's resources, imported into `scope`'s stack by their names (no lookup, no export). */
export const importData = (scope: Construct, names: DataNames): DataResources => {
  const stack = Stack.of(scope)
  const queue = (id: string, queueName: string) =>
    sqs.Queue.fromQueueAttributes(scope, id, { queueName, queueArn: stack.formatArn({ service: "sqs", resource: queueName }) })
  return {
    ingestionBucket: s3.Bucket.fromBucketName(scope, "IngestionBucket", names.ingestionBucket),
    processedBucket: s3.Bucket.fromBucketName(scope, "ProcessedBucket", names.processedBucket),
    loaderQueue: queue("LoaderQueue", names.loaderQueue),
    loaderDeadLetterQueue: queue("LoaderDeadLetterQueue", names.loaderDeadLetterQueue)
  }
}

export interface TotesCdcDataStackProps extends StackProps {
  readonly settings: InfraSettings
}

export class TotesCdcDataStack extends Stack {
  readonly names: DataNames
  readonly storage: Storage
  readonly loaderQueue: LoaderQueue

  constructor(scope: Construct, id: string, props: TotesCdcDataStackProps) {
    super(scope, id, { ...props, terminationProtection: true })
    this.names = dataNames(props.settings, this)
    this.storage = new Storage(this, "Storage", { ingestion: this.names.ingestionBucket, processed: this.names.processedBucket })
    this.loaderQueue = new LoaderQueue(this, "LoaderQueue", {
      processedBucket: this.storage.processedBucket,
      processedBucketName: this.names.processedBucket,
      queueName: this.names.loaderQueue,
      deadLetterQueueName: this.names.loaderDeadLetterQueue
    })
  }
}
