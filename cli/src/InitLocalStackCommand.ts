/**
 * `totes-cdc init-localstack`: provisions an AWS emulator (LocalStack) as the CDK app
 * provisions AWS — the change stream, both buckets, the loader's queue with its
 * dead-letter queue and the processed bucket's notification to it, and the archive's
 * delivery stream — configured by the components' own environment (local-stack's
 * EmulatorPlan.ts and ProvisionEmulator.ts). Idempotent: safe to run twice; the docker
 * stack runs it as its `init` service before any component starts.
 *
 * Exit codes: 0 provisioned; 2 a setting is wrong (no emulator endpoint, a malformed
 * LOADER_QUEUE_URL or variable: one line naming it and the fix); 1 the emulator refused or
 * never answered (one line: the resource, the problem, the fix).
 */
import { emulatorLayer, emulatorSettingsConfig, LocalStackSetupError, planEmulator, provisionEmulator } from "@totes-cdc/local-stack"
import { Console, Effect, Result } from "effect"
import { Command } from "effect/cli"
import { describeConfigError, UsageError } from "./Errors.ts"

const ENVIRONMENT =
  "AWS_ENDPOINT_URL (the emulator, e.g. http://localstack:4566; or KINESIS_ENDPOINT, S3_ENDPOINT, SQS_ENDPOINT, FIREHOSE_ENDPOINT each), KINESIS_STREAM (totes-cdc-changes), KINESIS_SHARDS (2), INGESTION_BUCKET (totes-cdc-ingestion), PROCESSED_BUCKET (totes-cdc-processed), LOADER_QUEUE_URL (the loader's queue, <endpoint>/<account>/<name>; unset: no queue), FIREHOSE_DELIVERY_STREAM (the archive's delivery stream; unset: none), FIREHOSE_PREFIX (where it writes; infra's raw/!{timestamp:yyyy/MM/dd/HH}/), AWS_REGION, AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY"

export const initLocalStackCommand = Command.make("init-localstack", {}, () =>
  Effect.gen(function* () {
    const settings = yield* Effect.mapError(emulatorSettingsConfig, (error) => new UsageError({ message: describeConfigError(error.message) }))
    const plan = planEmulator(settings)
    if (Result.isFailure(plan)) return yield* new LocalStackSetupError({ message: plan.failure })
    const report = yield* provisionEmulator(plan.success, settings.region).pipe(Effect.provide(emulatorLayer(settings)))
    yield* Console.log(
      `emulator ready: stream ${plan.success.stream.name}, buckets ${plan.success.buckets.ingestion} and ${plan.success.buckets.processed}${report.queueUrl === undefined ? "" : `, queue ${report.queueUrl}`}${
        report.deliveryStreamStatus === undefined ? "" : `, delivery stream ${plan.success.deliveryStream?.name ?? ""}`
      }`
    )
  }).pipe(Effect.annotateLogs({ component: "init-localstack" }))
).pipe(
  Command.withDescription(
    `Provision an AWS emulator (LocalStack) as the CDK app provisions AWS: the Kinesis stream, the ingestion and processed buckets, the loader's SQS queue and dead-letter queue with the processed bucket's notification, and the archive's Firehose delivery stream. Idempotent. Environment: ${ENVIRONMENT}`
  )
)
