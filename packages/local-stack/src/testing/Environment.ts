/**
 * The emulators' part of a component's environment, for tests that start `totes-cdc`
 * commands as child processes on a local stack: the same variables a deployment sets,
 * pointing at kinesalite and s3rver (or any `LocalStack`-shaped stack).
 */
import type { LocalStack } from "../LocalStack.ts"

/** `KINESIS_ENDPOINT`, `S3_ENDPOINT`, `AWS_REGION` and the credentials of `stack`. */
export const emulatorEnvironment = (stack: LocalStack["Service"]) => ({
  KINESIS_ENDPOINT: stack.kinesis.endpoint,
  S3_ENDPOINT: stack.s3.endpoint,
  AWS_REGION: stack.s3.region,
  AWS_ACCESS_KEY_ID: stack.s3.accessKeyId ?? "local",
  AWS_SECRET_ACCESS_KEY: stack.s3.secretAccessKey ?? "local"
})

/**
 * A component's whole environment on `stack`'s own stream and buckets, for tests that must
 * control every variable: `PATH` only from this process, `emulatorEnvironment`, the stream
 * and both buckets, and no EMF metric lines on stdout.
 */
export const stackEnvironment = (stack: LocalStack["Service"]): NodeJS.ProcessEnv => ({
  PATH: process.env["PATH"] ?? "",
  ...emulatorEnvironment(stack),
  KINESIS_STREAM: stack.kinesis.streamName,
  INGESTION_BUCKET: stack.s3.buckets.ingestion,
  PROCESSED_BUCKET: stack.s3.buckets.processed,
  READER_METRICS_EMF: "false"
})
