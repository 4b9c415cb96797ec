/**
 * Scratch S3 buckets on a test's LocalStack s3rver: each test names its own, so tests
 * sharing one stack never see each other's objects.
 */
import { CreateBucketCommand } from "@aws-sdk/client-s3"
import { LocalStack } from "../LocalStack.ts"
import { makeS3Client } from "@totes-cdc/platform"
import { Effect } from "effect"

/** Creates bucket `name` on the stack's s3rver; answers its name. */
export const freshBucket = (name: string) =>
  Effect.gen(function* () {
    const stack = yield* LocalStack
    yield* Effect.acquireUseRelease(
      Effect.sync(() => makeS3Client(stack.s3)),
      (client) => Effect.promise(() => client.send(new CreateBucketCommand({ Bucket: name }))),
      (client) => Effect.sync(() => client.destroy())
    )
    return name
  })
