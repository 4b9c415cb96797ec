/**
 * The Secrets Manager adapter's pure part (how an SDK / socket error becomes a one-line
 * `SecretsManagerError`) and `SecretsManager.layerTest`.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { describeSecretsManagerError, SecretsManager, SecretsManagerError } from "../src/SecretsManager.ts"

const arn = "arn:aws:secretsmanager:eu-west-2:123456789012:secret:warehouse-AbCdEf"
const endpoint = "Secrets Manager in eu-west-2"
const sdk = (name: string, message: string, extra: object = {}) => Object.assign(new Error(message), { name, ...extra })

describe("describeSecretsManagerError", () => {
  it("names a missing secret, not retryable, keeping the SDK error as the cause", () => {
    const cause = sdk("ResourceNotFoundException", "Secrets Manager can't find the specified secret.", { $metadata: { httpStatusCode: 400 } })
    const error = describeSecretsManagerError(cause, arn, endpoint)
    expect(error).toBeInstanceOf(SecretsManagerError)
    expect(error.retryable).toBe(false)
    expect(error.cause).toBe(cause)
    expect(error.message).toBe(
      `Secrets Manager secret ${arn} does not exist at ${endpoint} (Secrets Manager can't find the specified secret.); fix the ARN or the region (AWS_REGION)`
    )
  })

  it("marks refused credentials or KMS decryption not retryable, naming the permission", () => {
    for (const name of ["AccessDeniedException", "DecryptionFailure", "UnrecognizedClientException"]) {
      const error = describeSecretsManagerError(sdk(name, "no"), arn, endpoint)
      expect(error.retryable).toBe(false)
      expect(error.message).toContain("secretsmanager:GetSecretValue")
    }
  })

  it("marks network errors, throttling and 5xx retryable", () => {
    const socket = Object.assign(new Error("getaddrinfo ENOTFOUND secretsmanager.eu-west-2.amazonaws.com"), { code: "ENOTFOUND" })
    expect(describeSecretsManagerError(socket, arn, endpoint)).toMatchObject({ retryable: true })
    expect(describeSecretsManagerError(socket, arn, endpoint).message).toContain(`cannot reach ${endpoint} (ENOTFOUND`)
    expect(describeSecretsManagerError(sdk("ThrottlingException", "Rate exceeded"), arn, endpoint).retryable).toBe(true)
    expect(describeSecretsManagerError(sdk("InternalServiceError", "oops", { $fault: "server", $metadata: { httpStatusCode: 500 } }), arn, endpoint).retryable).toBe(true)
    expect(describeSecretsManagerError(sdk("InvalidRequestException", "scheduled for deletion"), arn, endpoint).retryable).toBe(false)
  })
})

describe("SecretsManager.layerTest", () => {
  it.effect("answers the string of a known secret; an unknown one fails as the real layer does for a missing secret", () =>
    Effect.gen(function* () {
      const secrets = yield* SecretsManager
      expect(yield* secrets.getSecretString(arn)).toBe('{"password":"p"}')
      const error = yield* Effect.flip(secrets.getSecretString("arn:other"))
      expect(error.retryable).toBe(false)
      expect(error.message).toBe(
        "Secrets Manager secret arn:other does not exist at in-memory Secrets Manager (Secrets Manager can't find the specified secret.); fix the ARN or the region (AWS_REGION)"
      )
      expect((error.cause as Error).name).toBe("ResourceNotFoundException")
    }).pipe(Effect.provide(SecretsManager.layerTest({ [arn]: '{"password":"p"}' })))
  )
})

describe("SecretsManager.layer", () => {
  it.effect("builds a client without calling AWS and destroys it with the layer", () =>
    Effect.gen(function* () {
      const context = yield* Layer.build(SecretsManager.layer("eu-west-2")).pipe(Effect.scoped)
      expect(context).toBeDefined()
    })
  )
})
