import { describe, expect, it } from "vitest"
import { Match } from "aws-cdk-lib/assertions"
import { synthesize, logicalId } from "./Fixtures.ts"

const { stack, template } = synthesize()
const buckets = template.findResources("AWS::S3::Bucket")
const ingestionId = logicalId(stack.storage.ingestionBucket)
const processedId = logicalId(stack.storage.processedBucket)

describe("buckets", () => {
  it("are the ingestion and processed buckets only", () => {
    expect(Object.keys(buckets).sort()).toEqual([ingestionId, processedId].sort())
  })

  it("are encrypted (SSE-S3), block every public access, versioned, owner-enforced and kept when the stack goes", () => {
    for (const bucket of Object.values(buckets)) {
      expect(bucket["Properties"]).toMatchObject({
        BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: "AES256" } }] },
        PublicAccessBlockConfiguration: { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true },
        VersioningConfiguration: { Status: "Enabled" },
        OwnershipControls: { Rules: [{ ObjectOwnership: "BucketOwnerEnforced" }] }
      })
      expect(bucket["DeletionPolicy"]).toBe("Retain")
      expect(bucket["UpdateReplacePolicy"]).toBe("Retain")
    }
  })

  it("refuse requests without TLS", () => {
    for (const id of [ingestionId, processedId]) {
      template.hasResourceProperties("AWS::S3::BucketPolicy", {
        Bucket: { Ref: id },
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({ Effect: "Deny", Action: "s3:*", Principal: { AWS: "*" }, Condition: { Bool: { "aws:SecureTransport": "false" } } })
          ])
        }
      })
    }
  })

  it("ingestion: the raw archive moves to Standard-IA at 30 days and Glacier Instant Retrieval at 180; old versions expire; state/ and dlq/ only lose old versions", () => {
    expect(buckets[ingestionId]!["Properties"].LifecycleConfiguration).toEqual({
      TransitionDefaultMinimumObjectSize: "all_storage_classes_128K",
      Rules: [
        {
          Id: "raw-archive-to-cheaper-classes",
          Prefix: "raw/",
          Status: "Enabled",
          Transitions: [
            { StorageClass: "STANDARD_IA", TransitionInDays: 30 },
            { StorageClass: "GLACIER_IR", TransitionInDays: 180 }
          ],
          NoncurrentVersionExpiration: { NoncurrentDays: 30 }
        },
        {
          Id: "firehose-errors-to-infrequent-access",
          Prefix: "errors/",
          Status: "Enabled",
          Transitions: [{ StorageClass: "STANDARD_IA", TransitionInDays: 30 }],
          NoncurrentVersionExpiration: { NoncurrentDays: 30 }
        },
        { Id: "state-old-versions", Prefix: "state/", Status: "Enabled", NoncurrentVersionExpiration: { NoncurrentDays: 7 } },
        { Id: "dead-letters-old-versions", Prefix: "dlq/", Status: "Enabled", NoncurrentVersionExpiration: { NoncurrentDays: 30 } },
        { Id: "abort-incomplete-multipart-uploads", Status: "Enabled", AbortIncompleteMultipartUpload: { DaysAfterInitiation: 7 } },
        { Id: "remove-expired-delete-markers", Status: "Enabled", ExpiredObjectDeleteMarker: true }
      ]
    })
  })

  it("processed: Parquet moves to Standard-IA at 30 days; old versions expire", () => {
    expect(buckets[processedId]!["Properties"].LifecycleConfiguration).toEqual({
      TransitionDefaultMinimumObjectSize: "all_storage_classes_128K",
      Rules: [
        {
          Id: "parquet-to-infrequent-access",
          Status: "Enabled",
          Transitions: [{ StorageClass: "STANDARD_IA", TransitionInDays: 30 }],
          NoncurrentVersionExpiration: { NoncurrentDays: 30 }
        },
        { Id: "abort-incomplete-multipart-uploads", Status: "Enabled", AbortIncompleteMultipartUpload: { DaysAfterInitiation: 7 } },
        { Id: "remove-expired-delete-markers", Status: "Enabled", ExpiredObjectDeleteMarker: true }
      ]
    })
  })

  it("no rule ever expires a current object (state/ and the archive are kept for good)", () => {
    for (const bucket of Object.values(buckets)) {
      for (const rule of bucket["Properties"].LifecycleConfiguration.Rules) {
        expect(rule).not.toHaveProperty("ExpirationInDays")
        expect(rule).not.toHaveProperty("ExpirationDate")
      }
    }
  })

  it("the processed bucket is named after the account and region unless processedBucketName is given", () => {
    expect(buckets[processedId]!["Properties"].BucketName).toEqual({
      "Fn::Join": ["", ["totes-cdc-processed-", { Ref: "AWS::AccountId" }, "-", { Ref: "AWS::Region" }]]
    })
    const named = synthesize({ processedBucketName: "acme-totes-processed" })
    named.template.hasResourceProperties("AWS::S3::Bucket", { BucketName: "acme-totes-processed" })
  })
})
