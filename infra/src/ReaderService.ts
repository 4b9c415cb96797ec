/**
 * The reader (`totes-cdc reader`) as an ECS Fargate service running the project's image
 * (docker/Dockerfile, built from the repository root).
 *
 * Invariants:
 *  - One task at a time: desired count 1, minimum healthy 0 %, maximum 100 %, so a
 *    deployment asks ECS to stop the old task before starting the new one; no
 *    availability-zone rebalancing (it would start a second task to move the first). ECS
 *    counts only RUNNING and PENDING tasks against the maximum, so a new task may start
 *    while the old one drains: the replication slot is the guard that holds — it takes one
 *    consumer, and a second reader waits for it (SlotPlan.ts "Busy").
 *  - A deployment whose task does not start is rolled back (circuit breaker).
 *  - Stop: ECS sends SIGTERM (through the init process) and waits `READER_STOP_TIMEOUT`;
 *    the reader drains what is in flight to Kinesis, confirms the slot and exits 130.
 *  - The password never sits in the task definition: SOURCE_URL has none, and node-postgres
 *    takes PGPASSWORD (injected by ECS from Secrets Manager at start) when the URL has none.
 *  - TLS to the source: `sslmode=verify-full` against the RDS CA bundle the image carries.
 *  - The task role may do what the reader calls, on its own keys: ListShards and PutRecords
 *    on the stream; Get/Put/Delete of its state and metrics report (`state/cdc-reader/`),
 *    Put of its dead letters (`dlq/reader/`) and of its snapshot chunks (`raw/…/totes-cdc-snapshot-…`,
 *    core's SnapshotChunk.ts: nothing else of the archive), and ListBucket (so a missing state object is
 *    a 404, not a 403). The execution role pulls the image, writes the log group and reads
 *    the one secret (GetSecretValue only).
 */
import { DEAD_LETTER_PREFIX, INGESTION_LAYOUT } from "@totes-cdc/core"
import { SNAPSHOT_CHUNK_OBJECTS } from "./Storage.ts"
import { Duration, Stack } from "aws-cdk-lib"
import * as ecs from "aws-cdk-lib/aws-ecs"
import { Platform } from "aws-cdk-lib/aws-ecr-assets"
import * as iam from "aws-cdk-lib/aws-iam"
import type * as kinesis from "aws-cdk-lib/aws-kinesis"
import type * as logs from "aws-cdk-lib/aws-logs"
import type * as s3 from "aws-cdk-lib/aws-s3"
import { Construct } from "constructs"
import { REPOSITORY_ROOT } from "./Bundling.ts"
import type { Network } from "./Network.ts"
import { allow } from "./Permissions.ts"
import type { InfraSettings } from "./Settings.ts"

/** The RDS CA bundle in the image (docker/Dockerfile). */
export const RDS_CA_BUNDLE = "/etc/ssl/certs/rds-global-bundle.pem"

/** How long ECS waits after SIGTERM before SIGKILL (Fargate allows up to 120 s). */
export const READER_STOP_TIMEOUT = Duration.seconds(30)

/** Pure: the reader's SOURCE_URL — no password (PGPASSWORD carries it), TLS as configured. */
export const sourceUrl = (source: InfraSettings["source"]): string => {
  const base = `postgres://${encodeURIComponent(source.user)}@${source.host}:${source.port}/${encodeURIComponent(source.database)}`
  return source.sslMode === "verify-full" ? `${base}?sslmode=verify-full&sslrootcert=${RDS_CA_BUNDLE}` : `${base}?sslmode=disable`
}

/**
 * The password as a container secret: ECS reads `arn` (with `jsonKey`, the key of an
 * RDS-format JSON secret; "" for a plain one) when the task starts. Grants GetSecretValue
 * on that secret only (ecs.Secret.fromSecretsManager would add DescribeSecret).
 */
const passwordSecret = (arn: string, jsonKey: string): ecs.Secret => ({
  arn: jsonKey === "" ? arn : `${arn}:${jsonKey}::`,
  hasField: jsonKey !== "",
  grantRead: (grantee: iam.IGrantable) => iam.Grant.addToPrincipal({ grantee, actions: ["secretsmanager:GetSecretValue"], resourceArns: [arn] })
})

export interface ReaderServiceProps {
  readonly settings: InfraSettings
  readonly network: Network
  readonly stream: kinesis.Stream
  readonly ingestionBucket: s3.IBucket
  readonly logGroup: logs.LogGroup
}

export class ReaderService extends Construct {
  readonly service: ecs.FargateService
  readonly taskDefinition: ecs.FargateTaskDefinition

  constructor(scope: Construct, id: string, props: ReaderServiceProps) {
    super(scope, id)
    const { settings, network, stream, ingestionBucket, logGroup } = props
    const cluster = new ecs.Cluster(this, "Cluster", { vpc: network.vpc })
    this.taskDefinition = new ecs.FargateTaskDefinition(this, "Task", {
      cpu: settings.reader.cpu,
      memoryLimitMiB: settings.reader.memoryMiB,
      runtimePlatform: { cpuArchitecture: ecs.CpuArchitecture.X86_64, operatingSystemFamily: ecs.OperatingSystemFamily.LINUX }
    })
    this.taskDefinition.addContainer("reader", {
      image: ecs.ContainerImage.fromAsset(REPOSITORY_ROOT, { file: "docker/Dockerfile", platform: Platform.LINUX_AMD64 }),
      command: ["reader"],
      environment: {
        SOURCE_URL: sourceUrl(settings.source),
        KINESIS_STREAM: stream.streamName,
        INGESTION_BUCKET: ingestionBucket.bucketName,
        AWS_REGION: Stack.of(this).region,
        READER_METRICS_EMF: "true"
      },
      secrets: { PGPASSWORD: passwordSecret(settings.source.passwordSecretArn, settings.source.passwordSecretJsonKey) },
      logging: ecs.LogDrivers.awsLogs({ logGroup, streamPrefix: "reader" }),
      stopTimeout: READER_STOP_TIMEOUT,
      linuxParameters: new ecs.LinuxParameters(this, "Linux", { initProcessEnabled: true }),
      essential: true
    })

    const role = this.taskDefinition.taskRole
    const statePrefix = INGESTION_LAYOUT.readerStatePrefix
    allow(role, ["kinesis:ListShards", "kinesis:PutRecords"], [stream.streamArn])
    allow(role, ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"], [ingestionBucket.arnForObjects(`${statePrefix}*`)])
    allow(role, ["s3:PutObject"], [ingestionBucket.arnForObjects(`${DEAD_LETTER_PREFIX}reader/*`)])
    allow(role, ["s3:PutObject"], [ingestionBucket.arnForObjects(SNAPSHOT_CHUNK_OBJECTS)])
    allow(role, ["s3:ListBucket"], [ingestionBucket.bucketArn])

    this.service = new ecs.FargateService(this, "Service", {
      // exactOptionalPropertyTypes: CDK's classes do not match their own interfaces under it.
      cluster: cluster as ecs.ICluster,
      taskDefinition: this.taskDefinition,
      desiredCount: 1,
      minHealthyPercent: 0,
      maxHealthyPercent: 100,
      circuitBreaker: { enable: true, rollback: true },
      availabilityZoneRebalancing: ecs.AvailabilityZoneRebalancing.DISABLED,
      vpcSubnets: network.subnets,
      securityGroups: [network.readerSecurityGroup],
      assignPublicIp: false,
      enableExecuteCommand: false
    })
  }
}
