/**
 * The deployment's settings, read from CDK context (`cdk.json` "context", or `-c key=value`
 * on the command line), validated before any construct is made. infra/README.md lists
 * every key with an example.
 *
 * Invariants:
 *  - Every key has one name here (`CONTEXT_KEYS`); a missing or malformed one stops the
 *    synth with one line naming the key and the fix (`SettingsError`).
 *  - Values from `-c` arrive as strings: numbers and lists are accepted as strings too
 *    (`5432`, `subnet-a,subnet-b`); cdk.json may give them as JSON numbers and arrays.
 *  - Nothing here looks anything up in AWS: the VPC, its subnets, their AZs and route
 *    tables and the S3 prefix list are given, so a synth needs no account and no network.
 */
import { DEFAULTS } from "@totes-cdc/core"

/** A context key is missing or malformed: the message names it and the fix. */
export class SettingsError extends Error {
  override readonly name = "SettingsError"
}

/** Kinesis capacity: on-demand (default) or provisioned with a fixed shard count. */
export type StreamCapacity = { readonly mode: "on-demand" } | { readonly mode: "provisioned"; readonly shards: number }

/** How the reader's connection to the source is secured. */
export type SourceSslMode = "verify-full" | "disable"

export interface PostgresEndpoint {
  readonly host: string
  readonly port: number
  readonly database: string
  readonly user: string
  /** Secrets Manager secret (complete ARN) holding the password: plain, or JSON with `password` (RDS's format). */
  readonly passwordSecretArn: string
  /** Where the database is, for the security group's egress rule on `port` (default: the VPC's CIDR). */
  readonly cidr: string
}

export interface InfraSettings {
  /** The pipeline stack's name; the data stack is `<stackName>-Data`. */
  readonly stackName: string
  /** Account and region of the stack; absent = environment-agnostic (resolved at deploy). */
  readonly account: string | undefined
  readonly region: string | undefined
  readonly source: PostgresEndpoint & {
    readonly sslMode: SourceSslMode
    /** JSON key of the password in the secret (`password`, RDS's format), or "" for a secret that is the password itself. */
    readonly passwordSecretJsonKey: string
  }
  readonly warehouse: PostgresEndpoint & {
    readonly schema: string
    /** PEM file (in the Lambda runtime) of the CA of the warehouse's certificate: TLS verify-full. */
    readonly caFile: string
  }
  readonly network: {
    readonly vpcId: string
    readonly vpcCidr: string
    readonly privateSubnetIds: ReadonlyArray<string>
    /** One per subnet, in the same order. */
    readonly availabilityZones: ReadonlyArray<string>
    /** One per subnet, in the same order: where the S3 gateway endpoint adds its route. */
    readonly privateSubnetRouteTableIds: ReadonlyArray<string>
    /** The region's S3 managed prefix list (`com.amazonaws.<region>.s3`): the S3 gateway endpoint's destination in egress rules. */
    readonly s3PrefixListId: string
  }
  /** Where alarms will be sent (stored now; the alarms are a later part of issue 13). */
  readonly alarmEmail: string
  readonly stream: { readonly name: string; readonly capacity: StreamCapacity }
  /** Kinesis event source mapping of the processor: concurrent batches per shard (1–10). */
  readonly processorParallelizationFactor: number
  /** Name of the ingestion bucket (default `totes-cdc-ingestion-<account>-<region>`): fixed, so a redeployed pipeline finds the reader's state. */
  readonly ingestionBucketName: string | undefined
  /** Name of the processed bucket (default `totes-cdc-processed-<account>-<region>`; named, so its S3 → SQS notification needs no custom resource). */
  readonly processedBucketName: string | undefined
  /** CloudWatch Logs retention of every log group of the stack, days. */
  readonly logRetentionDays: number
  readonly reader: { readonly cpu: number; readonly memoryMiB: number }
}

/** Every context key the app reads (README "Context"). */
export const CONTEXT_KEYS = [
  "stackName",
  "account",
  "region",
  "sourceHost",
  "sourcePort",
  "sourceDatabase",
  "sourceUser",
  "sourcePasswordSecretArn",
  "sourcePasswordSecretJsonKey",
  "sourceSslMode",
  "sourceCidr",
  "warehouseHost",
  "warehousePort",
  "warehouseDatabase",
  "warehouseSchema",
  "warehouseUser",
  "warehousePasswordSecretArn",
  "warehouseCaFile",
  "warehouseCidr",
  "vpcId",
  "vpcCidr",
  "privateSubnetIds",
  "availabilityZones",
  "privateSubnetRouteTableIds",
  "s3PrefixListId",
  "alarmEmail",
  "streamName",
  "streamCapacity",
  "streamShards",
  "processorParallelizationFactor",
  "ingestionBucketName",
  "processedBucketName",
  "logRetentionDays",
  "readerCpu",
  "readerMemoryMiB"
] as const

export type ContextKey = (typeof CONTEXT_KEYS)[number]

/** CloudWatch Logs' allowed retention periods (days). */
const RETENTION_DAYS = [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653]

/** Fargate's CPU units → the memory sizes (MiB) each allows (the common ones). */
const FARGATE_SIZES: Readonly<Record<number, ReadonlyArray<number>>> = {
  256: [512, 1024, 2048],
  512: [1024, 2048, 3072, 4096],
  1024: [2048, 3072, 4096, 5120, 6144, 7168, 8192],
  2048: [4096, 5120, 6144, 7168, 8192, 16384]
}

const SECRET_ARN = /^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+-[A-Za-z0-9]{6}$/
const CIDR = /^(\d{1,3}\.){3}\d{1,3}\/\d{1,2}$/
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/

/** Reads one context value (`undefined` when absent). */
export type ContextReader = (key: ContextKey) => unknown

const fail = (key: ContextKey, problem: string, fix: string): never => {
  throw new SettingsError(`context key ${key} ${problem}; ${fix} (in infra/cdk.json "context" or with -c ${key}=…, see infra/README.md)`)
}

/**
 * Pure: the settings from `read` (e.g. `(key) => app.node.tryGetContext(key)`). Throws
 * `SettingsError` naming the first key that is missing or malformed.
 */
export const readSettings = (read: ContextReader): InfraSettings => {
  const optionalString = (key: ContextKey): string | undefined => {
    const value = read(key)
    if (value === undefined || value === null || value === "") return undefined
    if (typeof value !== "string") return fail(key, `is ${JSON.stringify(value)}, not a string`, "give a string")
    return value.trim()
  }
  const string = (key: ContextKey, fix: string, fallback?: string): string => {
    const value = optionalString(key) ?? fallback
    return value === undefined ? fail(key, "is missing", fix) : value
  }
  const matching = (key: ContextKey, pattern: RegExp, what: string, fallback?: string): string => {
    const value = string(key, `give ${what}`, fallback)
    return pattern.test(value) ? value : fail(key, `is ${JSON.stringify(value)}`, `give ${what}`)
  }
  const integer = (key: ContextKey, min: number, max: number, fallback?: number): number => {
    const value = read(key) ?? fallback
    const n = typeof value === "number" ? value : typeof value === "string" && /^\s*-?\d+\s*$/.test(value) ? Number(value) : Number.NaN
    if (value === undefined) return fail(key, "is missing", `give a whole number from ${min} to ${max}`)
    if (!Number.isInteger(n) || n < min || n > max) return fail(key, `is ${JSON.stringify(value)}`, `give a whole number from ${min} to ${max}`)
    return n
  }
  const list = (key: ContextKey, pattern: RegExp, what: string): ReadonlyArray<string> => {
    const value = read(key)
    const items =
      typeof value === "string"
        ? value.split(",").map((item) => item.trim()).filter((item) => item !== "")
        : Array.isArray(value) && value.every((item) => typeof item === "string")
          ? value.map((item: string) => item.trim())
          : undefined
    if (value === undefined) return fail(key, "is missing", `give a list of ${what} (a JSON array, or comma-separated)`)
    if (items === undefined || items.length === 0) return fail(key, `is ${JSON.stringify(value)}`, `give a list of ${what} (a JSON array, or comma-separated)`)
    const bad = items.find((item) => !pattern.test(item))
    return bad === undefined ? items : fail(key, `holds ${JSON.stringify(bad)}, not one of ${what}`, `give a list of ${what}`)
  }
  const oneOf = <A extends string>(key: ContextKey, allowed: ReadonlyArray<A>, fallback: A): A => {
    const value = optionalString(key) ?? fallback
    return (allowed as ReadonlyArray<string>).includes(value) ? (value as A) : fail(key, `is ${JSON.stringify(value)}`, `give one of ${allowed.join(", ")}`)
  }

  const vpcCidr = matching("vpcCidr", CIDR, "the VPC's IPv4 CIDR block (e.g. 10.0.0.0/16)")
  const privateSubnetIds = list("privateSubnetIds", /^subnet-[0-9a-f]+$/, "subnet ids (subnet-…)")
  const availabilityZones = list("availabilityZones", /^[a-z]{2}(-[a-z]+)+-\d[a-z]$/, "availability zones (e.g. eu-west-2a)")
  const privateSubnetRouteTableIds = list("privateSubnetRouteTableIds", /^rtb-[0-9a-f]+$/, "route table ids (rtb-…)")
  if (availabilityZones.length !== privateSubnetIds.length) {
    fail("availabilityZones", `has ${availabilityZones.length} zones for ${privateSubnetIds.length} subnets`, "give the zone of each subnet of privateSubnetIds, in the same order")
  }
  if (privateSubnetRouteTableIds.length !== privateSubnetIds.length) {
    fail("privateSubnetRouteTableIds", `has ${privateSubnetRouteTableIds.length} route tables for ${privateSubnetIds.length} subnets`, "give the route table of each subnet of privateSubnetIds, in the same order")
  }

  const streamMode = oneOf("streamCapacity", ["on-demand", "provisioned"] as const, "on-demand")
  const capacity: StreamCapacity = streamMode === "on-demand" ? { mode: "on-demand" } : { mode: "provisioned", shards: integer("streamShards", 1, 10_000) }

  const cpu = integer("readerCpu", 256, 2048, 512)
  const sizes = FARGATE_SIZES[cpu]
  if (sizes === undefined) fail("readerCpu", `is ${cpu}`, `give one of ${Object.keys(FARGATE_SIZES).join(", ")} (Fargate CPU units)`)
  const memoryMiB = integer("readerMemoryMiB", 512, 16_384, 1024)
  if (!sizes!.includes(memoryMiB)) fail("readerMemoryMiB", `is ${memoryMiB}, which Fargate does not allow with readerCpu ${cpu}`, `give one of ${sizes!.join(", ")}`)

  const logRetentionDays = integer("logRetentionDays", 1, 3653, 30)
  if (!RETENTION_DAYS.includes(logRetentionDays)) fail("logRetentionDays", `is ${logRetentionDays}`, `give one of ${RETENTION_DAYS.join(", ")}`)

  const bucketName = (key: ContextKey): string | undefined => {
    const name = optionalString(key)
    return name === undefined || /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(name)
      ? name
      : fail(key, `is ${JSON.stringify(name)}`, "give a valid S3 bucket name (3–63 lower-case letters, digits, dots, hyphens)")
  }

  const secretArn = (key: ContextKey) => matching(key, SECRET_ARN, "the complete ARN of a Secrets Manager secret (arn:aws:secretsmanager:<region>:<account>:secret:<name>-<6 characters>)")
  const host = (key: ContextKey) => matching(key, /^[A-Za-z0-9.-]+$/, "a host name or IPv4 address")

  return {
    // ≤ 60 characters: the loader's queues are named after it (`<stackName>-loader-dead-letters`, SQS allows 80).
    stackName: matching("stackName", /^[A-Za-z][A-Za-z0-9-]{0,59}$/, "a CloudFormation stack name of at most 60 letters, digits and hyphens", "TotesCdc"),
    account: optionalString("account") === undefined ? undefined : matching("account", /^\d{12}$/, "a 12-digit AWS account id"),
    region: optionalString("region") === undefined ? undefined : matching("region", /^[a-z]{2}(-[a-z]+)+-\d$/, "an AWS region (e.g. eu-west-2)"),
    source: {
      host: host("sourceHost"),
      port: integer("sourcePort", 1, 65_535, 5432),
      database: string("sourceDatabase", "give the source database's name", "totesys"),
      user: string("sourceUser", "give the role the reader logs in as (REPLICATION and SELECT on the 11 tables)"),
      passwordSecretArn: secretArn("sourcePasswordSecretArn"),
      passwordSecretJsonKey: typeof read("sourcePasswordSecretJsonKey") === "string" ? (read("sourcePasswordSecretJsonKey") as string).trim() : "password",
      sslMode: oneOf("sourceSslMode", ["verify-full", "disable"] as const, "verify-full"),
      cidr: matching("sourceCidr", CIDR, "an IPv4 CIDR block (e.g. 10.0.1.0/24)", vpcCidr)
    },
    warehouse: {
      host: host("warehouseHost"),
      port: integer("warehousePort", 1, 65_535, 5432),
      database: string("warehouseDatabase", "give the warehouse database's name", "warehouse"),
      schema: matching("warehouseSchema", /^[a-z_][a-z0-9_]*$/, "a PostgreSQL schema name", DEFAULTS.warehouseSchema),
      user: string("warehouseUser", "give the role the loader logs in as"),
      passwordSecretArn: secretArn("warehousePasswordSecretArn"),
      caFile: matching("warehouseCaFile", /^\/\S+$/, "an absolute path", "/var/runtime/ca-cert.pem"),
      cidr: matching("warehouseCidr", CIDR, "an IPv4 CIDR block (e.g. 10.0.2.0/24)", vpcCidr)
    },
    network: {
      vpcId: matching("vpcId", /^vpc-[0-9a-f]+$/, "a VPC id (vpc-…)"),
      vpcCidr,
      privateSubnetIds,
      availabilityZones,
      privateSubnetRouteTableIds,
      s3PrefixListId: matching("s3PrefixListId", /^pl-[0-9a-f]+$/, "the id of the region's S3 prefix list (pl-…)")
    },
    alarmEmail: matching("alarmEmail", EMAIL, "an e-mail address"),
    stream: { name: matching("streamName", /^[A-Za-z0-9_.-]{1,128}$/, "a Kinesis stream name", DEFAULTS.streamName), capacity },
    processorParallelizationFactor: integer("processorParallelizationFactor", 1, 10, 1),
    ingestionBucketName: bucketName("ingestionBucketName"),
    processedBucketName: bucketName("processedBucketName"),
    logRetentionDays,
    reader: { cpu, memoryMiB }
  }
}
