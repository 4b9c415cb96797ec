/**
 * The pipeline stack (DESIGN.md §1): network, the change stream and its Firehose archive,
 * the reader service, the processor and loader functions, their log groups, and the
 * dashboard and alarms (Observability.ts). The buckets and the loader's queues are the
 * data stack's (DataStack.ts), imported by name, so this stack can be destroyed and
 * deployed again without losing the state. infra/README.md describes each part and the
 * settings.
 */
import { type App, CfnOutput, Stack, type StackProps } from "aws-cdk-lib"
import * as logs from "aws-cdk-lib/aws-logs"
import type { Construct } from "constructs"
import { ChangeStream } from "./ChangeStream.ts"
import { type DataResources, dataNames, importData, TotesCdcDataStack } from "./DataStack.ts"
import { LoaderFunction } from "./LoaderFunction.ts"
import { Network } from "./Network.ts"
import { Observability } from "./Observability.ts"
import { ProcessorFunction } from "./ProcessorFunction.ts"
import { ReaderService } from "./ReaderService.ts"
import type { InfraSettings } from "./Settings.ts"

export interface TotesCdcStackProps extends StackProps {
  readonly settings: InfraSettings
  /** The data stack whose resources this one imports (deployed first). */
  readonly dataStack: TotesCdcDataStack
}

export class TotesCdcStack extends Stack {
  readonly settings: InfraSettings
  readonly network: Network
  readonly data: DataResources
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

    this.addStackDependency(props.dataStack)
    this.data = importData(this, dataNames(settings, this))
    const { ingestionBucket, processedBucket } = this.data

    this.network = new Network(this, "Network", settings)
    this.changeStream = new ChangeStream(this, "ChangeStream", settings, ingestionBucket, logGroup("ArchiveLogs"))
    this.reader = new ReaderService(this, "Reader", {
      settings,
      network: this.network,
      stream: this.changeStream.stream,
      ingestionBucket,
      logGroup: logGroup("ReaderLogs")
    })
    this.processor = new ProcessorFunction(this, "Processor", {
      network: this.network,
      stream: this.changeStream.stream,
      ingestionBucket,
      processedBucket,
      logGroup: logGroup("ProcessorLogs"),
      parallelizationFactor: settings.processorParallelizationFactor
    })
    this.loader = new LoaderFunction(this, "Loader", {
      settings,
      network: this.network,
      processedBucket,
      queue: this.data.loaderQueue,
      logGroup: logGroup("LoaderLogs")
    })
    this.observability = new Observability(this, "Observability", {
      alarmEmail: settings.alarmEmail,
      stream: this.changeStream.stream,
      deliveryStream: this.changeStream.deliveryStream,
      processor: this.processor.function,
      processorFailureQueue: this.processor.failureQueue,
      loader: this.loader.function,
      loaderQueue: this.data.loaderQueue,
      loaderDeadLetterQueue: this.data.loaderDeadLetterQueue
    })

    // Not exported: another stack importing an output would block `cdk destroy` of this one.
    const output = (outputId: string, value: string, description: string) => new CfnOutput(this, outputId, { value, description })
    output("ReaderSecurityGroupId", this.network.readerSecurityGroup.securityGroupId, "Allow PostgreSQL from this group in the source database's security group")
    output("LoaderSecurityGroupId", this.network.loaderSecurityGroup.securityGroupId, "Allow PostgreSQL from this group in the warehouse's security group")
    output("StreamName", this.changeStream.stream.streamName, "KINESIS_STREAM")
    output("IngestionBucketName", ingestionBucket.bucketName, "INGESTION_BUCKET: raw archive, state, dead letters (data stack)")
    output("ProcessedBucketName", processedBucket.bucketName, "PROCESSED_BUCKET: Parquet per warehouse table (data stack)")
    output("ProcessorFailureQueueUrl", this.processor.failureQueue.queueUrl, "Batches the processor gave up on (shard and sequence range)")
    output("LoaderDeadLetterQueueUrl", this.data.loaderDeadLetterQueue.queueUrl, "Notifications of objects the loader gave up on (data stack)")
  }
}

/**
 * Both stacks of a deployment in `app`: `<stackName>-Data` (DataStack.ts) and the pipeline
 * `<stackName>`, in the settings' account and region (environment-agnostic when not given).
 */
export const addStacks = (app: App, settings: InfraSettings): { readonly dataStack: TotesCdcDataStack; readonly pipeline: TotesCdcStack } => {
  const env = { ...(settings.account === undefined ? {} : { account: settings.account }), ...(settings.region === undefined ? {} : { region: settings.region }) }
  const dataStack = new TotesCdcDataStack(app, `${settings.stackName}-Data`, {
    settings,
    env,
    description: "totes-cdc state: ingestion and processed buckets, the loader's queues (kept when the pipeline is destroyed)"
  })
  const pipeline = new TotesCdcStack(app, settings.stackName, {
    settings,
    dataStack,
    env,
    description: "totes-cdc: totesys → logical replication → Kinesis → Parquet in S3 → warehouse"
  })
  return { dataStack, pipeline }
}
