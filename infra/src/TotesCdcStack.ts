/**
 * The whole deployment as one stack (DESIGN.md §1): network, buckets, the change stream
 * and its Firehose archive, the reader service, the processor and loader functions, and
 * their log groups. infra/README.md describes each part and the settings.
 *
 * The dashboard, the alarms and their SNS topic (e-mail to `settings.alarmEmail`) are
 * Observability.ts.
 */
import { Aws, CfnOutput, Stack, type StackProps } from "aws-cdk-lib"
import * as logs from "aws-cdk-lib/aws-logs"
import type { Construct } from "constructs"
import { ChangeStream } from "./ChangeStream.ts"
import { LoaderFunction } from "./LoaderFunction.ts"
import { Network } from "./Network.ts"
import { Observability } from "./Observability.ts"
import { ProcessorFunction } from "./ProcessorFunction.ts"
import { ReaderService } from "./ReaderService.ts"
import type { InfraSettings } from "./Settings.ts"
import { Storage } from "./Storage.ts"

export interface TotesCdcStackProps extends StackProps {
  readonly settings: InfraSettings
}

export class TotesCdcStack extends Stack {
  readonly settings: InfraSettings
  readonly network: Network
  readonly storage: Storage
  readonly changeStream: ChangeStream
  readonly reader: ReaderService
  readonly processor: ProcessorFunction
  readonly loader: LoaderFunction
  readonly observability: Observability

  constructor(scope: Construct, id: string, props: TotesCdcStackProps) {
    super(scope, id, props)
    const settings = props.settings
    this.settings = settings
    const retention = settings.logRetentionDays as logs.RetentionDays
    const logGroup = (groupId: string) => new logs.LogGroup(this, groupId, { retention })

    this.network = new Network(this, "Network", settings)
    const processedBucketName = settings.processedBucketName ?? `totes-cdc-processed-${Aws.ACCOUNT_ID}-${Aws.REGION}`
    this.storage = new Storage(this, "Storage", processedBucketName)
    this.changeStream = new ChangeStream(this, "ChangeStream", settings, this.storage.ingestionBucket, logGroup("ArchiveLogs"))
    this.reader = new ReaderService(this, "Reader", {
      settings,
      network: this.network,
      stream: this.changeStream.stream,
      ingestionBucket: this.storage.ingestionBucket,
      logGroup: logGroup("ReaderLogs")
    })
    this.processor = new ProcessorFunction(this, "Processor", {
      network: this.network,
      stream: this.changeStream.stream,
      ingestionBucket: this.storage.ingestionBucket,
      processedBucket: this.storage.processedBucket,
      logGroup: logGroup("ProcessorLogs"),
      parallelizationFactor: settings.processorParallelizationFactor
    })
    this.loader = new LoaderFunction(this, "Loader", {
      settings,
      network: this.network,
      processedBucket: this.storage.processedBucket,
      processedBucketName,
      logGroup: logGroup("LoaderLogs")
    })
    this.observability = new Observability(this, "Observability", {
      alarmEmail: settings.alarmEmail,
      stream: this.changeStream.stream,
      deliveryStream: this.changeStream.deliveryStream,
      processor: this.processor.function,
      processorFailureQueue: this.processor.failureQueue,
      loader: this.loader.function,
      loaderQueue: this.loader.queue,
      loaderDeadLetterQueue: this.loader.deadLetterQueue
    })

    const output = (outputId: string, value: string, description: string, exported = false) =>
      new CfnOutput(this, outputId, { value, description, ...(exported ? { exportName: `${this.stackName}-${outputId}` } : {}) })
    output("ReaderSecurityGroupId", this.network.readerSecurityGroup.securityGroupId, "Allow PostgreSQL from this group in the source database's security group", true)
    output("LoaderSecurityGroupId", this.network.loaderSecurityGroup.securityGroupId, "Allow PostgreSQL from this group in the warehouse's security group", true)
    output("StreamName", this.changeStream.stream.streamName, "KINESIS_STREAM")
    output("IngestionBucketName", this.storage.ingestionBucket.bucketName, "INGESTION_BUCKET: raw archive, state, dead letters")
    output("ProcessedBucketName", this.storage.processedBucket.bucketName, "PROCESSED_BUCKET: Parquet per warehouse table")
    output("ProcessorFailureQueueUrl", this.processor.failureQueue.queueUrl, "Batches the processor gave up on (shard and sequence range)")
    output("LoaderDeadLetterQueueUrl", this.loader.deadLetterQueue.queueUrl, "Notifications of objects the loader gave up on")
  }
}
