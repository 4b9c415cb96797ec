import { describe, expect, it } from "vitest"
import { CONTEXT_KEYS, type ContextKey, readSettings, SettingsError } from "../src/Settings.ts"
import { EXAMPLE_CONTEXT } from "./Fixtures.ts"

const readerOf = (context: Readonly<Record<string, unknown>>) => (key: ContextKey) => context[key]
const settingsWith = (overrides: Readonly<Record<string, unknown>>) => readSettings(readerOf({ ...EXAMPLE_CONTEXT, ...overrides }))
const errorOf = (overrides: Readonly<Record<string, unknown>>): string => {
  try {
    settingsWith(overrides)
  } catch (error) {
    expect(error).toBeInstanceOf(SettingsError)
    return (error as Error).message
  }
  throw new Error("no error")
}

describe("context settings", () => {
  it("reads infra/cdk.json's example, which names only known keys", () => {
    // Keys with a colon are CDK's feature flags (as `cdk init` writes them).
    expect(Object.keys(EXAMPLE_CONTEXT).filter((key) => !key.includes(":") && !(CONTEXT_KEYS as ReadonlyArray<string>).includes(key))).toEqual([])
    const settings = settingsWith({})
    expect(settings.source).toMatchObject({ host: "totesys.c0example0.eu-west-2.rds.amazonaws.com", port: 5432, database: "totesys", sslMode: "verify-full", cidr: "10.0.0.0/16" })
    expect(settings.stream).toEqual({ name: "totes-cdc-changes", capacity: { mode: "on-demand" } })
    expect(settings.alarmEmail).toBe("data-team@example.com")
    expect(settings.network.privateSubnetIds).toHaveLength(2)
  })

  it("defaults what it can: on-demand stream, ports, schema, CA file, parallelization, log retention, reader size", () => {
    const minimal = Object.fromEntries(
      Object.entries(EXAMPLE_CONTEXT).filter(([key]) =>
        ["sourceHost", "sourceUser", "sourcePasswordSecretArn", "warehouseHost", "warehouseUser", "warehousePasswordSecretArn", "vpcId", "vpcCidr", "privateSubnetIds", "availabilityZones", "privateSubnetRouteTableIds", "s3PrefixListId", "alarmEmail"].includes(key)
      )
    )
    const settings = readSettings(readerOf(minimal))
    expect(settings.stackName).toBe("TotesCdc")
    expect(settings.account).toBeUndefined()
    expect(settings.stream.capacity).toEqual({ mode: "on-demand" })
    expect(settings.source.port).toBe(5432)
    expect(settings.source.passwordSecretJsonKey).toBe("password")
    expect(settings.warehouse).toMatchObject({ port: 5432, database: "warehouse", schema: "public", caFile: "/var/runtime/ca-cert.pem", cidr: "10.0.0.0/16" })
    expect(settings.processorParallelizationFactor).toBe(1)
    expect(settings.logRetentionDays).toBe(30)
    expect(settings.reader).toEqual({ cpu: 512, memoryMiB: 1024 })
  })

  it("takes -c strings: numbers and comma-separated lists", () => {
    const settings = settingsWith({ sourcePort: "6432", privateSubnetIds: "subnet-0aa, subnet-0bb", availabilityZones: "eu-west-2a,eu-west-2b", privateSubnetRouteTableIds: "rtb-01,rtb-02" })
    expect(settings.source.port).toBe(6432)
    expect(settings.network.privateSubnetIds).toEqual(["subnet-0aa", "subnet-0bb"])
  })

  it("provisioned capacity needs a shard count", () => {
    expect(settingsWith({ streamCapacity: "provisioned", streamShards: 4 }).stream.capacity).toEqual({ mode: "provisioned", shards: 4 })
    expect(errorOf({ streamCapacity: "provisioned" })).toMatch(/^context key streamShards is missing; give a whole number from 1 to 10000/)
    expect(errorOf({ streamCapacity: "reserved" })).toMatch(/^context key streamCapacity is "reserved"; give one of on-demand, provisioned/)
  })

  it("fails with one line naming the key and the fix", () => {
    const cases: ReadonlyArray<[Record<string, unknown>, RegExp]> = [
      [{ sourceHost: undefined }, /^context key sourceHost is missing; give a host name/],
      [{ sourcePasswordSecretArn: "arn:aws:secretsmanager:eu-west-2:123456789012:secret:nosuffix" }, /^context key sourcePasswordSecretArn is "[^"]+"; give the complete ARN of a Secrets Manager secret/],
      [{ vpcCidr: "10.0.0.0" }, /^context key vpcCidr is "10.0.0.0"; give the VPC's IPv4 CIDR block/],
      [{ availabilityZones: ["eu-west-2a"] }, /^context key availabilityZones has 1 zones for 2 subnets/],
      [{ privateSubnetRouteTableIds: ["rtb-01", "rtb-02", "rtb-03"] }, /^context key privateSubnetRouteTableIds has 3 route tables for 2 subnets/],
      [{ privateSubnetIds: [] }, /^context key privateSubnetIds is \[\]/],
      [{ s3PrefixListId: "prefix" }, /^context key s3PrefixListId is "prefix"; give the id of the region's S3 prefix list/],
      [{ alarmEmail: "nobody" }, /^context key alarmEmail is "nobody"; give an e-mail address/],
      [{ processorParallelizationFactor: 11 }, /^context key processorParallelizationFactor is 11; give a whole number from 1 to 10/],
      [{ logRetentionDays: 31 }, /^context key logRetentionDays is 31; give one of 1, 3, 5/],
      [{ readerCpu: 512, readerMemoryMiB: 512 }, /^context key readerMemoryMiB is 512, which Fargate does not allow with readerCpu 512/],
      [{ sourcePort: "54x" }, /^context key sourcePort is "54x"; give a whole number from 1 to 65535/]
    ]
    for (const [overrides, expected] of cases) {
      const message = errorOf(overrides)
      expect(message).toMatch(expected)
      expect(message).not.toContain("\n")
      expect(message).toMatch(/\(in infra\/cdk\.json "context" or with -c \w+=…, see infra\/README\.md\)$/)
    }
  })
})
