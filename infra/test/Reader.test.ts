import { readFileSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { Match } from "aws-cdk-lib/assertions"
import { REPOSITORY_ROOT } from "../src/Bundling.ts"
import { sourceUrl } from "../src/ReaderService.ts"
import { bucketArn, INGESTION_BUCKET, logicalId, permissionPairs, ref, statementsOfRole, synthesize } from "./Fixtures.ts"

const { stack, template } = synthesize()
const [service] = Object.values(template.findResources("AWS::ECS::Service"))
const [taskDefinition] = Object.values(template.findResources("AWS::ECS::TaskDefinition"))
const [container] = taskDefinition!["Properties"].ContainerDefinitions
const SECRET = "arn:aws:secretsmanager:eu-west-2:123456789012:secret:totes-cdc/source-password-AbCd12"

describe("reader service", () => {
  it("runs exactly one task: a deployment stops the old task before starting the new one, and rolls back when the new one fails", () => {
    template.resourceCountIs("AWS::ECS::Service", 1)
    expect(service!["Properties"]).toMatchObject({
      LaunchType: "FARGATE",
      DesiredCount: 1,
      DeploymentConfiguration: { MinimumHealthyPercent: 0, MaximumPercent: 100, DeploymentCircuitBreaker: { Enable: true, Rollback: true } },
      AvailabilityZoneRebalancing: "DISABLED",
      EnableExecuteCommand: false
    })
  })

  it("runs in the private subnets with its own security group and no public address", () => {
    expect(service!["Properties"].NetworkConfiguration).toEqual({
      AwsvpcConfiguration: {
        AssignPublicIp: "DISABLED",
        SecurityGroups: [{ "Fn::GetAtt": [logicalId(stack.network.readerSecurityGroup), "GroupId"] }],
        Subnets: ["subnet-0a1b2c3d4e5f60001", "subnet-0a1b2c3d4e5f60002"]
      }
    })
  })

  it("runs `totes-cdc reader` from the project's image, with the sizes configured", () => {
    expect(taskDefinition!["Properties"]).toMatchObject({
      Cpu: "512",
      Memory: "1024",
      RequiresCompatibilities: ["FARGATE"],
      NetworkMode: "awsvpc",
      RuntimePlatform: { CpuArchitecture: "X86_64", OperatingSystemFamily: "LINUX" }
    })
    expect(container.Command).toEqual(["reader"])
    expect(container.Essential).toBe(true)
    expect(JSON.stringify(container.Image)).toContain("cdk-hnb659fds-container-assets")
  })

  it("stops gracefully: init process forwards SIGTERM, 30 s before SIGKILL", () => {
    expect(container.StopTimeout).toBe(30)
    expect(container.LinuxParameters).toMatchObject({ InitProcessEnabled: true })
  })

  it("gets the source URL without a password and the password from Secrets Manager as PGPASSWORD", () => {
    const environment = Object.fromEntries(container.Environment.map((e: { Name: string; Value: unknown }) => [e.Name, e.Value]))
    expect(environment).toEqual({
      SOURCE_URL: "postgres://totes_cdc_reader@totesys.c0example0.eu-west-2.rds.amazonaws.com:5432/totesys?sslmode=verify-full&sslrootcert=/etc/ssl/certs/rds-global-bundle.pem",
      KINESIS_STREAM: ref(stack.changeStream.stream),
      INGESTION_BUCKET: INGESTION_BUCKET,
      AWS_REGION: "eu-west-2",
      READER_METRICS_EMF: "true"
    })
    expect(new URL(environment["SOURCE_URL"]).password).toBe("")
    expect(container.Secrets).toEqual([{ Name: "PGPASSWORD", ValueFrom: `${SECRET}:password::` }])
  })

  it("a plain-text secret is injected whole; TLS can be turned off for a source without it", () => {
    const plain = synthesize({ sourcePasswordSecretJsonKey: "", sourceSslMode: "disable" })
    const [definition] = Object.values(plain.template.findResources("AWS::ECS::TaskDefinition"))
    const [reader] = definition!["Properties"].ContainerDefinitions
    expect(reader.Secrets).toEqual([{ Name: "PGPASSWORD", ValueFrom: SECRET }])
    expect(reader.Environment).toContainEqual({ Name: "SOURCE_URL", Value: "postgres://totes_cdc_reader@totesys.c0example0.eu-west-2.rds.amazonaws.com:5432/totesys?sslmode=disable" })
  })

  it("percent-encodes the user and database in SOURCE_URL", () => {
    const source = { ...stack.settings.source, user: "cdc@reader", database: "tote sys" }
    expect(sourceUrl(source)).toMatch(/^postgres:\/\/cdc%40reader@[^/]+:5432\/tote%20sys\?/)
  })

  it("logs to CloudWatch Logs with the retention configured", () => {
    const logGroupId = logicalId(stack.node.findChild("ReaderLogs"))
    expect(container.LogConfiguration).toEqual({
      LogDriver: "awslogs",
      Options: { "awslogs-group": { Ref: logGroupId }, "awslogs-stream-prefix": "reader", "awslogs-region": "eu-west-2" }
    })
    template.hasResource("AWS::Logs::LogGroup", Match.objectLike({ Properties: { RetentionInDays: 30 } }))
    expect(template.findResources("AWS::Logs::LogGroup")[logGroupId]!["Properties"]).toEqual({ RetentionInDays: 30 })
  })

  it("task role: ListShards and PutRecords on the stream; its state, metrics report, dead letters and snapshot chunks in the ingestion bucket; nothing else", () => {
    const roleId = logicalId(stack.reader.taskDefinition.taskRole)
    const stream = { "Fn::GetAtt": [logicalId(stack.changeStream.stream), "Arn"] }
    const bucket = bucketArn(INGESTION_BUCKET)
    const objects = (pattern: string) => `${bucket}/${pattern}`
    expect(permissionPairs(statementsOfRole(template, roleId))).toEqual(
      [
        `kinesis:ListShards ${JSON.stringify(stream)}`,
        `kinesis:PutRecords ${JSON.stringify(stream)}`,
        `s3:GetObject ${JSON.stringify(objects("state/cdc-reader/*"))}`,
        `s3:PutObject ${JSON.stringify(objects("state/cdc-reader/*"))}`,
        `s3:DeleteObject ${JSON.stringify(objects("state/cdc-reader/*"))}`,
        `s3:PutObject ${JSON.stringify(objects("dlq/reader/*"))}`,
        `s3:PutObject ${JSON.stringify(objects("raw/*/totes-cdc-snapshot-*"))}`,
        `s3:ListBucket ${JSON.stringify(bucket)}`
      ].sort()
    )
  })

  it("execution role: the one secret (GetSecretValue only), its log group, the image", () => {
    const roleId = logicalId(stack.reader.taskDefinition.executionRole!)
    const pairs = permissionPairs(statementsOfRole(template, roleId))
    expect(pairs.filter((pair) => pair.startsWith("secretsmanager:"))).toEqual([`secretsmanager:GetSecretValue ${JSON.stringify(SECRET)}`])
    expect(pairs.filter((pair) => pair.startsWith("logs:"))).toEqual(
      [`logs:CreateLogStream ${JSON.stringify({ "Fn::GetAtt": [logicalId(stack.node.findChild("ReaderLogs")), "Arn"] })}`, `logs:PutLogEvents ${JSON.stringify({ "Fn::GetAtt": [logicalId(stack.node.findChild("ReaderLogs")), "Arn"] })}`].sort()
    )
    expect(pairs.filter((pair) => !/^(secretsmanager|logs):/.test(pair)).map((pair) => pair.split(" ")[0])).toEqual(
      ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetAuthorizationToken", "ecr:GetDownloadUrlForLayer"].sort()
    )
  })
})

describe("the image", () => {
  const dockerfile = readFileSync(join(REPOSITORY_ROOT, "docker/Dockerfile"), "utf8")
  const dockerignore = readFileSync(join(REPOSITORY_ROOT, ".dockerignore"), "utf8")

  it("is built in two stages: production dependencies of the cli workspace, then a runtime stage on node:24-bookworm-slim running as node", () => {
    const stages = dockerfile.split("\n").filter((line) => line.startsWith("FROM "))
    expect(stages).toEqual(["FROM node:24-bookworm-slim AS build", "FROM node:24-bookworm-slim"])
    expect(dockerfile).toMatch(/^RUN npm ci --omit=dev --workspace=cli /m)
    expect(dockerfile).toMatch(/^COPY --from=build \/app \/app$/m)
    const runtime = dockerfile.slice(dockerfile.lastIndexOf("FROM "))
    expect(runtime).toMatch(/^USER node$/m)
    expect(runtime.trimEnd().split("\n").slice(-2)).toEqual(['ENTRYPOINT ["node", "cli/bin/totes-cdc.js"]', 'CMD ["--help"]'])
  })

  it("carries the RDS CA bundle the reader's SOURCE_URL names", () => {
    expect(dockerfile).toContain(" /etc/ssl/certs/rds-global-bundle.pem\n")
  })

  it("is built from a context without node_modules, .git, local state, coverage or cdk.out", () => {
    const lines = dockerignore.split("\n").filter((line) => line !== "" && !line.startsWith("#"))
    expect(lines[0]).toBe("*")
    expect(lines).toEqual(expect.arrayContaining(["**/node_modules", "**/.totes-cdc", "**/.tmp", "**/coverage", "**/*.cpuprofile"]))
    expect(lines.filter((line) => line.startsWith("!"))).not.toContain("!infra/")
  })
})
