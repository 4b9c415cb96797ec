/**
 * What the Lambda entry modules read from their environment, and how a wrong environment
 * fails: at import (the function's init phase), with one line naming the variable.
 *
 * Invariants:
 *  - The variables the stack always sets (the buckets) have no default here: a function
 *    deployed without one fails at once instead of writing to a bucket of the local stack.
 *  - AWS credentials come from the SDK's default chain (in Lambda: the runtime's temporary
 *    keys and session token, refreshed by the SDK); platform's settings only with an
 *    emulator endpoint (S3_ENDPOINT, in tests of the bundles).
 */
import { type AwsEndpoint, awsEndpointsConfig, describeConfigError as describeEnvironmentError } from "@totes-cdc/platform"
import { Cause, Config, ConfigProvider, Effect, Exit, Option } from "effect"

/** Pure: one line for an Effect ConfigError message, naming the variable (platform's `describeConfigError`). */
export const describeConfigError = (message: string): string => describeEnvironmentError(message, "the stack sets it (infra/README.md)")

const definedOnly = (env: Readonly<Record<string, string | undefined>>): Record<string, string> =>
  Object.fromEntries(Object.entries(env).filter((entry): entry is [string, string] => entry[1] !== undefined))

/**
 * Reads `config` from `env` (the process environment) now. Throws an Error whose message
 * is one line naming the variable (the Lambda runtime reports it as the init error).
 */
export const readEnvironment = <A>(config: Config.Config<A>, env: Readonly<Record<string, string | undefined>> = process.env): A => {
  const exit = Effect.runSyncExit(config.pipe(Effect.provideService(ConfigProvider.ConfigProvider, ConfigProvider.fromEnv({ env: definedOnly(env) }))))
  if (Exit.isSuccess(exit)) return exit.value
  const error = Cause.squash(exit.cause)
  throw new Error(describeConfigError(error instanceof Error ? error.message : String(error)))
}

/**
 * Where S3 is for a Lambda function: AWS in AWS_REGION (required: Lambda sets it) through the
 * SDK's credential chain; or, when S3_ENDPOINT is set (an emulator, in tests), platform's
 * settings for it.
 */
export const lambdaS3Config: Config.Config<AwsEndpoint> = Config.all({
  region: Config.String("AWS_REGION"),
  emulator: Config.option(Config.String("S3_ENDPOINT")),
  aws: awsEndpointsConfig
}).pipe(Config.map(({ region, emulator, aws }): AwsEndpoint => (Option.isSome(emulator) ? aws.s3 : { region })))
