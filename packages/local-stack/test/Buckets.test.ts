/**
 * The CreateBucket request of `freshBucket`, as S3 (and LocalStack, which checks it) wants
 * it: a LocationConstraint naming the region everywhere but us-east-1, none there.
 */
import { describe, expect, it } from "vitest"
import { createBucketInput } from "../src/testing/Buckets.ts"

describe("the CreateBucket request of a scratch bucket", () => {
  it("names the region as the location constraint outside us-east-1", () => {
    expect(createBucketInput("e2e-ingestion", "eu-west-2")).toEqual({ Bucket: "e2e-ingestion", CreateBucketConfiguration: { LocationConstraint: "eu-west-2" } })
  })

  it("has no location constraint in us-east-1, where S3 refuses one", () => {
    expect(createBucketInput("e2e-ingestion", "us-east-1")).toEqual({ Bucket: "e2e-ingestion" })
  })
})
