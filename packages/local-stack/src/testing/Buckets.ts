/**
 * Scratch S3 buckets on a test's LocalStack s3rver: each test names its own, so tests
 * sharing one stack never see each other's objects.
 *
 * Invariant: a bucket is created as S3 requires it in the stack's region — with a
 * `LocationConstraint` naming that region outside us-east-1 (S3 and the LocalStack
 * emulator refuse the request without it: IllegalLocationConstraintException; s3rver
 * ignores the body), without one in us-east-1 (where S3 refuses it).
 */
import { type BucketLocationConstraint, CreateBucketCommand, type CreateBucketCommandInput } from "@aws-sdk/client-s3"
import { LocalStack } from "../LocalStack.ts"
import { makeS3Client } from "@totes-cdc/platform"
import { Effect } from "effect"

/**
 * Pure: the CreateBucket request for bucket `name` in `region`. (The SDK types the
 * constraint as the regions it knew when built; any region name is passed through.)
 */
export const createBucketInput = (name: string, region: string): CreateBucketCommandInput =>
  region === "us-east-1" ? { Bucket: name } : { Bucket: name, CreateBucketConfiguration: { LocationConstraint: region as BucketLocationConstraint } }

/** Creates bucket `name` on the stack's s3rver; answers its name. */
export const freshBucket = (name: string) =>
  Effect.gen(function* () {
    const stack = yield* LocalStack
    yield* Effect.acquireUseRelease(
      Effect.sync(() => makeS3Client(stack.s3)),
      (client) => Effect.promise(() => client.send(new CreateBucketCommand(createBucketInput(name, stack.s3.region)))),
      (client) => Effect.sync(() => client.destroy())
    )
    return name
  })
