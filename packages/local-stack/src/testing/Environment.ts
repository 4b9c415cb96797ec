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
