/**
 * `awsEndpointsConfig` reads the environment as AWS's own SDK would: temporary keys (Lambda,
 * an assumed role) come with their session token, or every call would be refused.
 */
import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Effect } from "effect"
import { awsEndpointConfig, awsEndpointsConfig } from "../src/Aws.ts"

const read = (env: Record<string, string>) => awsEndpointsConfig.parse(ConfigProvider.fromEnv({ env }))

describe("awsEndpointsConfig", () => {
  it.effect("carries AWS_SESSION_TOKEN with temporary keys, and endpoints only where set", () =>
    Effect.gen(function* () {
      const lambda = yield* read({ AWS_REGION: "eu-west-2", AWS_ACCESS_KEY_ID: "ASIAEXAMPLE", AWS_SECRET_ACCESS_KEY: "secret", AWS_SESSION_TOKEN: "token" })
      expect(lambda.kinesis).toEqual({ region: "eu-west-2", accessKeyId: "ASIAEXAMPLE", secretAccessKey: "secret", sessionToken: "token" })
      expect(lambda.s3).toEqual(lambda.kinesis)
      const emulators = yield* read({ KINESIS_ENDPOINT: "http://127.0.0.1:4567", S3_ENDPOINT: "http://127.0.0.1:4568", AWS_ACCESS_KEY_ID: "k", AWS_SECRET_ACCESS_KEY: "s" })
      expect(emulators.kinesis).toEqual({ region: "eu-west-2", endpoint: "http://127.0.0.1:4567", accessKeyId: "k", secretAccessKey: "s" })
      expect(emulators.s3.endpoint).toBe("http://127.0.0.1:4568")
      expect(yield* read({})).toEqual({ kinesis: { region: "eu-west-2" }, s3: { region: "eu-west-2" } })
    })
  )
})

describe("awsEndpointConfig", () => {
  it.effect("takes the service's own endpoint, else AWS_ENDPOINT_URL (LocalStack's one endpoint), else none", () =>
    Effect.gen(function* () {
      const sqs = (env: Record<string, string>) => awsEndpointConfig("SQS_ENDPOINT").parse(ConfigProvider.fromEnv({ env }))
      expect((yield* sqs({ AWS_ENDPOINT_URL: "http://localstack:4566" })).endpoint).toBe("http://localstack:4566")
      expect((yield* sqs({ AWS_ENDPOINT_URL: "http://localstack:4566", SQS_ENDPOINT: "http://sqs:9324" })).endpoint).toBe("http://sqs:9324")
      expect(yield* sqs({})).toEqual({ region: "eu-west-2" })
      expect((yield* read({ AWS_ENDPOINT_URL: "http://localstack:4566" })).s3.endpoint).toBe("http://localstack:4566")
    })
  )
})
