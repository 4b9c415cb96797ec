import { describe, expect, it } from "vitest"
import { Config } from "effect"
import { describeConfigError, readEnvironment } from "../src/lambda/Environment.ts"
import { loaderEnvironment } from "../src/lambda/LoaderEnvironment.ts"
import { processorEnvironment } from "../src/lambda/ProcessorEnvironment.ts"

const oneLine = (variable: string) => new RegExp(`^environment variable ${variable} is missing or invalid \\([^\\n]+\\); the stack sets it \\(infra/README\\.md\\)$`)

const PROCESSOR_ENV = { AWS_REGION: "eu-west-2", INGESTION_BUCKET: "ingestion", PROCESSED_BUCKET: "processed" }
const LOADER_ENV = {
  AWS_REGION: "eu-west-2",
  WAREHOUSE_URL: "postgres://loader@warehouse.example:5432/warehouse",
  WAREHOUSE_SCHEMA: "public",
  WAREHOUSE_CA_FILE: "/var/runtime/ca-cert.pem",
  WAREHOUSE_PASSWORD_SECRET_ARN: "arn:aws:secretsmanager:eu-west-2:123456789012:secret:w-AbCd12",
  PROCESSED_BUCKET: "processed"
}

describe("Lambda environment", () => {
  it("processor: the buckets, and S3 through the SDK's credential chain (no static keys, although Lambda sets them)", () => {
    const settings = readEnvironment(processorEnvironment, { ...PROCESSOR_ENV, AWS_ACCESS_KEY_ID: "ASIA…", AWS_SECRET_ACCESS_KEY: "secret", AWS_SESSION_TOKEN: "token" })
    expect(settings).toEqual({ ingestionBucket: "ingestion", processedBucket: "processed", s3: { region: "eu-west-2" } })
  })

  it("processor: an emulator endpoint takes the keys given with it", () => {
    const settings = readEnvironment(processorEnvironment, { ...PROCESSOR_ENV, S3_ENDPOINT: "http://127.0.0.1:4569", AWS_ACCESS_KEY_ID: "S3RVER", AWS_SECRET_ACCESS_KEY: "S3RVER" })
    expect(settings.s3).toEqual({ region: "eu-west-2", endpoint: "http://127.0.0.1:4569", accessKeyId: "S3RVER", secretAccessKey: "S3RVER" })
  })

  it("processor: each required variable missing fails with one line naming it", () => {
    for (const variable of Object.keys(PROCESSOR_ENV)) {
      const env: Record<string, string> = { ...PROCESSOR_ENV }
      delete env[variable]
      expect(() => readEnvironment(processorEnvironment, env)).toThrow(oneLine(variable))
    }
  })

  it("loader: the warehouse settings as the stack sets them, PROCESSED_BUCKET required, S3 through the credential chain", () => {
    const settings = readEnvironment(loaderEnvironment, { ...LOADER_ENV, AWS_ACCESS_KEY_ID: "ASIA…", AWS_SECRET_ACCESS_KEY: "secret" })
    expect(settings.warehouse).toEqual({
      url: "postgres://loader@warehouse.example:5432/warehouse",
      schema: "public",
      caFile: "/var/runtime/ca-cert.pem",
      passwordSecretArn: "arn:aws:secretsmanager:eu-west-2:123456789012:secret:w-AbCd12",
      region: "eu-west-2"
    })
    expect(settings.processedBucket).toBe("processed")
    expect(settings.s3).toEqual({ region: "eu-west-2" })
    for (const variable of ["WAREHOUSE_URL", "PROCESSED_BUCKET", "AWS_REGION"]) {
      const env: Record<string, string> = { ...LOADER_ENV }
      delete env[variable]
      expect(() => readEnvironment(loaderEnvironment, env)).toThrow(oneLine(variable))
    }
    expect(() => readEnvironment(loaderEnvironment, { ...LOADER_ENV, TRUNCATE_MODE: "drop" })).toThrow(oneLine("TRUNCATE_MODE"))
  })

  it("readEnvironment reads the process environment by default", () => {
    const name = "TOTES_CDC_INFRA_TEST_VARIABLE"
    expect(() => readEnvironment(Config.String(name), {})).toThrow(oneLine(name))
    expect(readEnvironment(Config.String(name), { [name]: "x" })).toBe("x")
    expect(readEnvironment(Config.String("PATH"))).toBe(process.env["PATH"])
  })

  it("describes a ConfigError message", () => {
    expect(describeConfigError('ConfigError(SchemaError(Expected string\n  at ["PROCESSED_BUCKET"]))')).toBe(
      "environment variable PROCESSED_BUCKET is missing or invalid (Expected string); the stack sets it (infra/README.md)"
    )
    expect(describeConfigError('SchemaError(Expected "quarantine" | "apply" | "ignore", got "drop"\n  at ["TRUNCATE_MODE"])')).toBe(
      'environment variable TRUNCATE_MODE is missing or invalid (Expected "quarantine" | "apply" | "ignore", got "drop"); the stack sets it (infra/README.md)'
    )
  })
})
