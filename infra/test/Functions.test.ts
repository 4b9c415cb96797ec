import { describe, expect, it } from "vitest"
import { Match } from "aws-cdk-lib/assertions"
import { PROCESSOR_CHUNK_BUDGET_MS } from "../src/lambda/ProcessorEnvironment.ts"
import { bucketArn, INGESTION_BUCKET, logicalId, PROCESSED_BUCKET, permissionPairs, ref, statementsOfRole, synthesize } from "./Fixtures.ts"

const { stack, template, dataStack, dataTemplate } = synthesize()
const functions = template.findResources("AWS::Lambda::Function")
const processorId = logicalId(stack.processor.function)
const loaderId = logicalId(stack.loader.function)
const arnOf = (id: string) => ({ "Fn::GetAtt": [id, "Arn"] })
const objects = (bucket: string, pattern: string) => `${bucketArn(bucket)}/${pattern}`
const mappings = Object.values(template.findResources("AWS::Lambda::EventSourceMapping"))
const mappingOf = (functionId: string) => mappings.find((mapping) => mapping["Properties"].FunctionName.Ref === functionId)!["Properties"]
const SUBNETS = ["subnet-0a1b2c3d4e5f60001", "subnet-0a1b2c3d4e5f60002"]

describe("both functions", () => {
  it("are Node 24 ES module bundles on arm64, in the private subnets, logging to their own log groups", () => {
    expect(Object.keys(functions).sort()).toEqual([processorId, loaderId].sort())
    for (const [id, group, logs] of [
      [processorId, stack.network.processorSecurityGroup, "ProcessorLogs"],
      [loaderId, stack.network.loaderSecurityGroup, "LoaderLogs"]
    ] as const) {
      expect(functions[id]!["Properties"]).toMatchObject({
        Runtime: "nodejs24.x",
        Handler: "index.handler",
        Architectures: ["arm64"],
        MemorySize: 1024,
        VpcConfig: { SubnetIds: SUBNETS, SecurityGroupIds: [{ "Fn::GetAtt": [logicalId(group), "GroupId"] }] },
        LoggingConfig: { LogGroup: ref(stack.node.findChild(logs)) }
      })
    }
  })

  it("have roles of their own without AWS managed policies", () => {
    for (const id of [processorId, loaderId]) {
      const roleId = functions[id]!["Properties"].Role["Fn::GetAtt"][0]
      expect(template.findResources("AWS::IAM::Role")[roleId]!["Properties"].ManagedPolicyArns).toBeUndefined()
    }
  })
})

describe("processor function", () => {
  const processor = functions[processorId]!["Properties"]
  const mapping = mappingOf(processorId)

  it("gets its buckets from the environment", () => {
    expect(processor.Timeout).toBe(60)
    expect(processor.Environment.Variables).toEqual({ INGESTION_BUCKET, PROCESSED_BUCKET })
  })

  it("leaves at least 15 s of its timeout after the chunk budget, for the snapshot chunk under way and the answer", () => {
    expect(processor.Timeout * 1000 - PROCESSOR_CHUNK_BUDGET_MS).toBeGreaterThanOrEqual(15_000)
  })

  it("reads the stream through an event source mapping: 1 s micro-batches, partial batch responses, bisect, bounded retries and record age, an on-failure queue", () => {
    expect(mapping).toMatchObject({
      EventSourceArn: arnOf(logicalId(stack.changeStream.stream)),
      StartingPosition: "TRIM_HORIZON",
      BatchSize: 1000,
      MaximumBatchingWindowInSeconds: 1,
      FunctionResponseTypes: ["ReportBatchItemFailures"],
      BisectBatchOnFunctionError: true,
      MaximumRetryAttempts: 100,
      MaximumRecordAgeInSeconds: 21600,
      ParallelizationFactor: 1,
      DestinationConfig: { OnFailure: { Destination: arnOf(logicalId(stack.processor.failureQueue)) } }
    })
    expect(mapping.MaximumRecordAgeInSeconds).toBeLessThan(24 * 3600)
  })

  it("takes the parallelization factor from context", () => {
    const parallel = synthesize({ processorParallelizationFactor: 4 })
    parallel.template.hasResourceProperties("AWS::Lambda::EventSourceMapping", { ParallelizationFactor: 4, StartingPosition: "TRIM_HORIZON" })
  })

  it("keeps the failed batches' locations for 14 days, encrypted", () => {
    template.hasResourceProperties("AWS::SQS::Queue", { MessageRetentionPeriod: 14 * 24 * 3600, SqsManagedSseEnabled: true })
    expect(template.findResources("AWS::SQS::Queue")[logicalId(stack.processor.failureQueue)]!["Properties"]).toEqual({
      MessageRetentionPeriod: 1209600,
      SqsManagedSseEnabled: true
    })
  })

  it("role: read the stream (the mapping's), send to its failure queue, its join state, dead letters and Parquet objects; nothing else but its logs and network interfaces", () => {
    const roleId = processor.Role["Fn::GetAtt"][0]
    const pairs = permissionPairs(statementsOfRole(template, roleId))
    const stream = JSON.stringify(arnOf(logicalId(stack.changeStream.stream)))
    const queue = JSON.stringify(arnOf(logicalId(stack.processor.failureQueue)))
    const logs = JSON.stringify(arnOf(logicalId(stack.node.findChild("ProcessorLogs"))))
    expect(pairs.filter((pair) => !pair.startsWith("ec2:"))).toEqual(
      [
        // The event source mapping's grant (CDK's Stream.grantRead); ListStreams on a stream ARN allows nothing more.
        `kinesis:DescribeStream ${stream}`,
        `kinesis:DescribeStreamConsumer ${stream}`,
        `kinesis:DescribeStreamSummary ${stream}`,
        `kinesis:ListStreams ${stream}`,
        `kinesis:GetRecords ${stream}`,
        `kinesis:GetShardIterator ${stream}`,
        `kinesis:ListShards ${stream}`,
        `kinesis:SubscribeToShard ${stream}`,
        `sqs:SendMessage ${queue}`,
        `sqs:GetQueueAttributes ${queue}`,
        `sqs:GetQueueUrl ${queue}`,
        `logs:CreateLogStream ${logs}`,
        `logs:PutLogEvents ${logs}`,
        `s3:GetObject ${JSON.stringify(objects(INGESTION_BUCKET, "state/processor/join-state.json"))}`,
        `s3:PutObject ${JSON.stringify(objects(INGESTION_BUCKET, "state/processor/join-state.json"))}`,
        `s3:PutObject ${JSON.stringify(objects(INGESTION_BUCKET, "dlq/processor/*"))}`,
        `s3:GetObject ${JSON.stringify(objects(INGESTION_BUCKET, "raw/*/totes-cdc-snapshot-*"))}`,
        `s3:ListBucket ${JSON.stringify(bucketArn(INGESTION_BUCKET))}`,
        `s3:PutObject ${JSON.stringify(objects(PROCESSED_BUCKET, "*"))}`
      ].sort()
    )
  })
})

describe("loader function", () => {
  const loader = functions[loaderId]!["Properties"]
  const mapping = mappingOf(loaderId)
  const queueId = logicalId(dataStack.loaderQueue.queue)
  const queue = dataTemplate.findResources("AWS::SQS::Queue")[queueId]!["Properties"]
  const queueArn = "arn:aws:sqs:eu-west-2:123456789012:TotesCdc-loader"

  it("gets the warehouse without a password, the secret's ARN, TLS verify-full against the runtime's CA bundle", () => {
    expect(loader.Timeout).toBe(120)
    expect(loader.Environment.Variables).toEqual({
      WAREHOUSE_URL: "postgres://totes_cdc_loader@warehouse.c0example0.eu-west-2.rds.amazonaws.com:5432/warehouse",
      WAREHOUSE_SCHEMA: "public",
      WAREHOUSE_CA_FILE: "/var/runtime/ca-cert.pem",
      WAREHOUSE_PASSWORD_SECRET_ARN: "arn:aws:secretsmanager:eu-west-2:123456789012:secret:totes-cdc/warehouse-password-EfGh34",
      PROCESSED_BUCKET
    })
  })

  it("is fed by SQS: batches of up to 100 within 1 s, partial batch responses, at most 5 at once", () => {
    expect(mapping).toMatchObject({
      EventSourceArn: queueArn,
      BatchSize: 100,
      MaximumBatchingWindowInSeconds: 1,
      FunctionResponseTypes: ["ReportBatchItemFailures"],
      ScalingConfig: { MaximumConcurrency: 5 }
    })
  })

  it("the queue (data stack, named): visibility ≥ 6 × the function's timeout, dead letters after 5 receives, kept 14 days, encrypted", () => {
    expect(queue.VisibilityTimeout).toBeGreaterThanOrEqual(6 * loader.Timeout)
    expect(queue).toMatchObject({
      QueueName: "TotesCdc-loader",
      MessageRetentionPeriod: 1209600,
      SqsManagedSseEnabled: true,
      RedrivePolicy: { deadLetterTargetArn: arnOf(logicalId(dataStack.loaderQueue.deadLetterQueue)), maxReceiveCount: 5 }
    })
  })

  it("the processed bucket announces its micro-batch manifests to the queue itself (no custom resource), after the queue policy lets it", () => {
    const bucket = dataTemplate.findResources("AWS::S3::Bucket")[logicalId(dataStack.storage.processedBucket)]!
    expect(bucket["Properties"].NotificationConfiguration).toEqual({
      QueueConfigurations: [{ Event: "s3:ObjectCreated:*", Queue: arnOf(queueId), Filter: { S3Key: { Rules: [{ Name: "prefix", Value: "manifests/" }, { Name: "suffix", Value: ".json" }] } } }]
    })
    const policyId = logicalId(dataStack.loaderQueue.queue.node.findChild("Policy"))
    expect(bucket["DependsOn"]).toContain(policyId)
    for (const t of [template, dataTemplate]) t.resourceCountIs("Custom::S3BucketNotifications", 0)
    dataTemplate.hasResourceProperties("AWS::SQS::QueuePolicy", {
      Queues: [{ Ref: queueId }],
      PolicyDocument: {
        Statement: Match.arrayWith([
          {
            Sid: "ProcessedBucketNotifications",
            Effect: "Allow",
            Principal: { Service: "s3.amazonaws.com" },
            Action: "sqs:SendMessage",
            Resource: arnOf(queueId),
            Condition: {
              ArnEquals: { "aws:SourceArn": { "Fn::Join": ["", ["arn:", { Ref: "AWS::Partition" }, `:s3:::${PROCESSED_BUCKET}`]] } },
              StringEquals: { "aws:SourceAccount": { Ref: "AWS::AccountId" } }
            }
          }
        ])
      }
    })
  })

  it("role: read Parquet objects, consume its queue (the mapping's), read the warehouse secret; nothing else but its logs and network interfaces", () => {
    const roleId = loader.Role["Fn::GetAtt"][0]
    const pairs = permissionPairs(statementsOfRole(template, roleId))
    const queue = JSON.stringify(queueArn)
    const logs = JSON.stringify(arnOf(logicalId(stack.node.findChild("LoaderLogs"))))
    expect(pairs.filter((pair) => !pair.startsWith("ec2:"))).toEqual(
      [
        `sqs:ReceiveMessage ${queue}`,
        `sqs:ChangeMessageVisibility ${queue}`,
        `sqs:GetQueueUrl ${queue}`,
        `sqs:DeleteMessage ${queue}`,
        `sqs:GetQueueAttributes ${queue}`,
        `logs:CreateLogStream ${logs}`,
        `logs:PutLogEvents ${logs}`,
        `s3:GetObject ${JSON.stringify(objects(PROCESSED_BUCKET, "*"))}`,
        `s3:ListBucket ${JSON.stringify(bucketArn(PROCESSED_BUCKET))}`,
        `secretsmanager:GetSecretValue "arn:aws:secretsmanager:eu-west-2:123456789012:secret:totes-cdc/warehouse-password-EfGh34"`
      ].sort()
    )
  })
})
