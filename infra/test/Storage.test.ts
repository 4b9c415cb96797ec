import { describe, expect, it } from "vitest"
import { Match } from "aws-cdk-lib/assertions"
import { synthesize, logicalId, INGESTION_BUCKET, PROCESSED_BUCKET } from "./Fixtures.ts"

const { dataStack, dataTemplate: template, template: pipelineTemplate } = synthesize()
const buckets = template.findResources("AWS::S3::Bucket")
const ingestionId = logicalId(dataStack.storage.ingestionBucket)
const processedId = logicalId(dataStack.storage.processedBucket)

describe("buckets", () => {
  it("are the ingestion and processed buckets only, named, in the data stack (the pipeline stack has none)", () => {
    expect(Object.keys(buckets).sort()).toEqual([ingestionId, processedId].sort())
    expect(buckets[ingestionId]!["Properties"].BucketName).toBe(INGESTION_BUCKET)
    expect(buckets[processedId]!["Properties"].BucketName).toBe(PROCESSED_BUCKET)
    pipelineTemplate.resourceCountIs("AWS::S3::Bucket", 0)
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

  it("both are named after the account and region unless ingestionBucketName / processedBucketName are given; the pipeline uses the names", () => {
    const named = synthesize({ ingestionBucketName: "acme-totes-ingestion", processedBucketName: "acme-totes-processed" })
    named.dataTemplate.hasResourceProperties("AWS::S3::Bucket", { BucketName: "acme-totes-ingestion" })
    named.dataTemplate.hasResourceProperties("AWS::S3::Bucket", { BucketName: "acme-totes-processed" })
    const readerEnvironment = JSON.stringify(named.template.findResources("AWS::ECS::TaskDefinition"))
    expect(readerEnvironment).toContain('{"Name":"INGESTION_BUCKET","Value":"acme-totes-ingestion"}')
    const agnostic = synthesize({ account: undefined, region: undefined })
    const agnosticBuckets = Object.values(agnostic.dataTemplate.findResources("AWS::S3::Bucket")).map((bucket) => bucket["Properties"].BucketName)
    expect(agnosticBuckets).toContainEqual({ "Fn::Join": ["", ["totes-cdc-processed-", { Ref: "AWS::AccountId" }, "-", { Ref: "AWS::Region" }]] })
    expect(agnosticBuckets).toContainEqual({ "Fn::Join": ["", ["totes-cdc-ingestion-", { Ref: "AWS::AccountId" }, "-", { Ref: "AWS::Region" }]] })
  })
})

describe("the data stack", () => {
  it("is <stackName>-Data, protected from termination, deployed before the pipeline, tied to it by no export", () => {
    const { stack, template, dataStack, dataTemplate } = synthesize()
    expect(dataStack.stackName).toBe("TotesCdc-Data")
    expect(dataStack.terminationProtection).toBe(true)
    expect(stack.dependencies).toContain(dataStack)
    expect(dataTemplate.toJSON()["Outputs"] ?? {}).toEqual({})
    expect(JSON.stringify(template.toJSON())).not.toContain("Fn::ImportValue")
  })
})
