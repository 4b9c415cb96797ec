/**
 * AWS Secrets Manager adapter: the only place the pipeline calls the Secrets Manager API.
 * One call: read a secret's string (GetSecretValue → SecretString).
 *
 * Invariants:
 *  - Every failure is a `SecretsManagerError` with one line naming the secret, the problem
 *    and the fix, the SDK / socket error it came from as its `cause`, and `retryable` true
 *    exactly for throttling, 5xx and network errors.
 *  - Retry policy: the SDK client's own (standard mode, 3 attempts); nothing here retries
 *    on top. Secrets are read once, at start, by the component that needs them.
 *  - A secret that holds binary data (SecretBinary) has no string: a non-retryable failure.
 *  - The client is made once per layer and destroyed when the layer's scope closes.
 *  - `SecretsManager.layerTest` answers from a map, and fails for a missing secret as the
 *    real layer does (same `describeSecretsManagerError`, same SDK error name and text).
 */
import { GetSecretValueCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager"
import { Context, Effect, Layer, Schema } from "effect"
import { type AwsCause, NETWORK_ERROR_CODES } from "./SdkErrors.ts"

/**
 * A failed Secrets Manager call. `message`: one line naming the secret, the problem and
 * the fix. `retryable`: throttling, 5xx or network — safe to retry unchanged. `cause`: the
 * SDK / socket error it was made from, when there was one.
 */
export class SecretsManagerError extends Schema.TaggedError<SecretsManagerError>()("SecretsManagerError", {
  message: Schema.String,
  retryable: Schema.Boolean,
  cause: Schema.optional(Schema.Defect())
}) {}

const THROTTLING = new Set(["ThrottlingException", "TooManyRequestsException", "InternalServiceError", "ServiceUnavailable", "RequestTimeout", "TimeoutError"])
const REFUSED = new Set([
  "AccessDeniedException",
  "DecryptionFailure",
  "UnrecognizedClientException",
  "InvalidSignatureException",
  "ExpiredTokenException",
  "IncompleteSignature",
  "MissingAuthenticationToken"
])

/**
 * Pure: turns an SDK / socket error of GetSecretValue on secret `arn` into a one-line
 * `SecretsManagerError` naming the problem and the fix, with `cause` the error itself.
 * `endpoint` names where the call went in the message (`Secrets Manager in <region>`).
 */
export const describeSecretsManagerError = (cause: unknown, arn: string, endpoint: string): SecretsManagerError => {
  const err: AwsCause = typeof cause === "object" && cause !== null ? cause : { message: String(cause) }
  const name = typeof err.name === "string" ? err.name : "Error"
  const code = typeof err.code === "string" ? err.code : name
  const text = (typeof err.message === "string" && err.message !== "" ? err.message : String(cause)).split("\n")[0] ?? ""
  const status = typeof err.$metadata?.httpStatusCode === "number" ? err.$metadata.httpStatusCode : undefined
  const fail = (message: string, retryable: boolean) => new SecretsManagerError({ message, retryable, cause })
  if (name === "ResourceNotFoundException") {
    return fail(`Secrets Manager secret ${arn} does not exist at ${endpoint} (${text}); fix the ARN or the region (AWS_REGION)`, false)
  }
  if (REFUSED.has(name)) {
    return fail(
      `Secrets Manager GetSecretValue on ${arn} at ${endpoint} was refused (${name}: ${text}); grant secretsmanager:GetSecretValue (and kms:Decrypt on the secret's key) or fix the AWS credentials`,
      false
    )
  }
  if (NETWORK_ERROR_CODES.has(code)) {
    return fail(`Secrets Manager GetSecretValue on ${arn}: cannot reach ${endpoint} (${code}: ${text}); fix the region (AWS_REGION) or the network`, true)
  }
  if (THROTTLING.has(name) || err.$fault === "server" || (status !== undefined && status >= 500)) {
    return fail(`Secrets Manager GetSecretValue on ${arn} at ${endpoint} failed temporarily (${name}: ${text}); retry later`, true)
  }
  return fail(`Secrets Manager GetSecretValue on ${arn} at ${endpoint} failed (${name}: ${text})`, false)
}

/** The failure for a secret that holds binary data (SecretBinary), not a string. */
const noSecretString = (arn: string) =>
  new SecretsManagerError({
    message: `Secrets Manager secret ${arn} holds binary data (SecretBinary), not a string; store the value as a secret string`,
    retryable: false
  })

/** The Secrets Manager API, as the pipeline uses it. */
export class SecretsManager extends Context.Service<
  SecretsManager,
  {
    /**
     * GetSecretValue: the `SecretString` of the secret `arn` (an ARN or a secret name), as
     * stored (its current version, AWSCURRENT). Fails with `SecretsManagerError`: a missing
     * secret, refused credentials or KMS decryption, a binary secret (not retryable);
     * throttling, 5xx, network (retryable; the SDK has retried already).
     */
    readonly getSecretString: (arn: string) => Effect.Effect<string, SecretsManagerError>
  }
>()("@totes-cdc/platform/SecretsManager") {
  /** Secrets Manager in AWS region `region` (SDK credential chain). The client is destroyed with the layer. */
  static readonly layer = (region: string): Layer.Layer<SecretsManager> =>
    Layer.effect(
      SecretsManager,
      Effect.gen(function* () {
        const client = yield* Effect.acquireRelease(
          Effect.sync(() => new SecretsManagerClient({ region })),
          (client) => Effect.sync(() => client.destroy())
        )
        const endpoint = `Secrets Manager in ${region}`
        const getSecretString = Effect.fn("SecretsManager.getSecretString")(function* (arn: string) {
          const output = yield* Effect.tryPromise({
            try: (abortSignal) => client.send(new GetSecretValueCommand({ SecretId: arn }), { abortSignal }),
            catch: (cause) => describeSecretsManagerError(cause, arn, endpoint)
          })
          if (output.SecretString === undefined) return yield* noSecretString(arn)
          return output.SecretString
        })
        return SecretsManager.of({ getSecretString })
      })
    )

  /**
   * Secrets from a map, for tests: `secrets` is secret ARN (or name) → its SecretString.
   * `getSecretString` answers the string of a known ARN; for any other ARN it fails, not
   * retryable, as the real layer does for a missing secret (ResourceNotFoundException with
   * AWS's text, described by `describeSecretsManagerError` at "in-memory Secrets Manager").
   */
  static readonly layerTest = (secrets: Readonly<Record<string, string>>): Layer.Layer<SecretsManager> =>
    Layer.sync(SecretsManager, () => {
      const held = new Map(Object.entries(secrets))
      const getSecretString = Effect.fn("SecretsManager.getSecretString")(function* (arn: string) {
        const secret = held.get(arn)
        if (secret !== undefined) return secret
        const cause = Object.assign(new Error("Secrets Manager can't find the specified secret."), {
          name: "ResourceNotFoundException",
          $fault: "client",
          $metadata: { httpStatusCode: 400 }
        })
        return yield* describeSecretsManagerError(cause, arn, "in-memory Secrets Manager")
      })
      return SecretsManager.of({ getSecretString })
    })
}
