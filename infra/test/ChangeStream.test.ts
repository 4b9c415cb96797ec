import { describe, expect, it } from "vitest"
import { Match } from "aws-cdk-lib/assertions"
import { bucketArn, INGESTION_BUCKET, logicalId, permissionPairs, ref, statementsOfRole, synthesize } from "./Fixtures.ts"

const { stack, template } = synthesize()
const streamId = logicalId(stack.changeStream.stream)

describe("Kinesis stream", () => {
  it("is on-demand by default, encrypted with the AWS-managed key, kept 24 h", () => {
    template.resourceCountIs("AWS::Kinesis::Stream", 1)
    template.hasResourceProperties("AWS::Kinesis::Stream", {
      Name: "totes-cdc-changes",
      StreamModeDetails: { StreamMode: "ON_DEMAND" },
      StreamEncryption: { EncryptionType: "KMS", KeyId: "alias/aws/kinesis" },
      RetentionPeriodHours: 24,
      ShardCount: Match.absent()
    })
  })

  it("is deleted with the pipeline stack (CDK would keep it: billed, and its name taken at the next deploy)", () => {
    const [stream] = Object.values(template.findResources("AWS::Kinesis::Stream"))
    expect(stream!["DeletionPolicy"]).toBe("Delete")
    expect(stream!["UpdateReplacePolicy"]).toBe("Delete")
  })

  it("is provisioned with the shard count given", () => {
    const provisioned = synthesize({ streamCapacity: "provisioned", streamShards: 4 })
    provisioned.template.hasResourceProperties("AWS::Kinesis::Stream", {
      StreamModeDetails: { StreamMode: "PROVISIONED" },
      ShardCount: 4,
      StreamEncryption: { EncryptionType: "KMS", KeyId: "alias/aws/kinesis" }
    })
  })
})

describe("Firehose archive", () => {
  const deliveryStreams = template.findResources("AWS::KinesisFirehose::DeliveryStream")
  const [delivery] = Object.values(deliveryStreams)
  const props = delivery!["Properties"]
  const destination = props.ExtendedS3DestinationConfiguration

  it("reads the Kinesis stream and is named after it (object names as the local archiver's)", () => {
    expect(Object.keys(deliveryStreams)).toHaveLength(1)
    expect(props.DeliveryStreamName).toBe("totes-cdc-changes")
    expect(props.DeliveryStreamType).toBe("KinesisStreamAsSource")
    expect(props.KinesisStreamSourceConfiguration.KinesisStreamARN).toEqual({ "Fn::GetAtt": [streamId, "Arn"] })
  })

  it("writes the ingestion bucket under raw/ in Firehose's hour folders, failures under errors/", () => {
    expect(destination.BucketARN).toBe(bucketArn(INGESTION_BUCKET))
    expect(destination.Prefix).toBe("raw/!{timestamp:yyyy/MM/dd/HH}/")
    expect(destination.ErrorOutputPrefix).toBe("errors/!{firehose:error-output-type}/!{timestamp:yyyy/MM/dd/HH}/")
  })

  it("buffers 60 s / 5 MiB, uncompressed, one change record per line", () => {
    expect(destination.BufferingHints).toEqual({ IntervalInSeconds: 60, SizeInMBs: 5 })
    expect(destination.CompressionFormat).toBe("UNCOMPRESSED")
    expect(destination.ProcessingConfiguration).toEqual({ Enabled: true, Processors: [{ Type: "AppendDelimiterToRecord", Parameters: [] }] })
  })

  it("logs delivery errors to its own log group", () => {
    expect(destination.CloudWatchLoggingOptions).toMatchObject({ Enabled: true, LogGroupName: ref(stack.node.findChild("ArchiveLogs")) })
    template.hasResourceProperties("AWS::Logs::LogGroup", { RetentionInDays: 30 })
  })
})

describe("Firehose role", () => {
  it("reads the stream and writes only raw/ and errors/ of the ingestion bucket and its log group; the delivery stream waits for it", () => {
    const roleId = logicalId(stack.changeStream.archiveRole)
    const bucket = bucketArn(INGESTION_BUCKET)
    const objects = (prefix: string) => JSON.stringify(`${bucket}/${prefix}*`)
    const stream = JSON.stringify({ "Fn::GetAtt": [streamId, "Arn"] })
    const logs = JSON.stringify({ "Fn::GetAtt": [logicalId(stack.node.findChild("ArchiveLogs")), "Arn"] })
    expect(permissionPairs(statementsOfRole(template, roleId))).toEqual(
      [
        ...["kinesis:DescribeStream", "kinesis:GetShardIterator", "kinesis:GetRecords", "kinesis:ListShards"].map((action) => `${action} ${stream}`),
        ...["s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"].map((action) => `${action} ${JSON.stringify(bucket)}`),
        ...["s3:AbortMultipartUpload", "s3:GetObject", "s3:PutObject"].flatMap((action) => [`${action} ${objects("raw/")}`, `${action} ${objects("errors/")}`]),
        `logs:CreateLogStream ${logs}`,
        `logs:PutLogEvents ${logs}`
      ].sort()
    )
    const [delivery] = Object.values(template.findResources("AWS::KinesisFirehose::DeliveryStream"))
    expect(delivery!["Properties"].KinesisStreamSourceConfiguration.RoleARN).toEqual({ "Fn::GetAtt": [roleId, "Arn"] })
    expect(delivery!["Properties"].ExtendedS3DestinationConfiguration.RoleARN).toEqual({ "Fn::GetAtt": [roleId, "Arn"] })
    const policies = Object.entries(template.findResources("AWS::IAM::Policy")).filter(([, policy]) => JSON.stringify(policy["Properties"].Roles) === JSON.stringify([{ Ref: roleId }]))
    expect(policies).toHaveLength(1)
    expect(delivery!["DependsOn"]).toEqual(expect.arrayContaining([policies[0]![0], roleId]))
  })
})
