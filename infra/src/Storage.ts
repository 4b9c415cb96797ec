/**
 * The two buckets (DESIGN.md §4): ingestion (raw archive `raw/`, Firehose's failed records
 * `errors/`, the pipeline's state `state/`, dead letters `dlq/`) and processed (Parquet
 * per warehouse table and micro-batch).
 *
 * Invariants:
 *  - Both are named (DataStack.ts `dataNames`): the pipeline stack imports them by name, and
 *    a pipeline deployed again after `cdk destroy` finds the reader's state, the join state
 *    and the archive where it left them.
 *  - Both: SSE-S3 encryption, every public access blocked, TLS-only bucket policy,
 *    versioning, objects owned by the bucket owner (no ACLs), retained when the stack is
 *    deleted (the archive is the source of truth for replay and for a lost join state).
 *  - No lifecycle rule ever expires a current object: the archive (`raw/`) is read from its
 *    start when the join state is rebuilt, `state/` holds the join state and the
 *    checkpoints, `dlq/` waits for an operator. Rules only move old archive and Parquet
 *    objects to cheaper classes that are still read in milliseconds (replay reads them
 *    like any object), and expire old versions (infra/README.md "Lifecycle" gives the reasons).
 */
import { SNAPSHOT_CHUNK_NAME } from "@totes-cdc/core"
import { Duration, RemovalPolicy } from "aws-cdk-lib"
import * as s3 from "aws-cdk-lib/aws-s3"
import { Construct } from "constructs"

/** Prefixes of the ingestion bucket (core's `INGESTION_LAYOUT`, the dead letters' `dlq/`, Firehose's error output). */
export const INGESTION_PREFIXES = { raw: "raw/", errors: "errors/", state: "state/", deadLetters: "dlq/" } as const

/** The keys of the reader's snapshot chunks in the raw archive (core's `snapshotChunkKey`), as an IAM object pattern. */
export const SNAPSHOT_CHUNK_OBJECTS = `${INGESTION_PREFIXES.raw}*/${SNAPSHOT_CHUNK_NAME}*`

/** Days after which lifecycle rules act (infra/README.md "Lifecycle"). */
export const LIFECYCLE_DAYS = {
  /** Archive and Parquet objects to Standard-IA: after the days a replay or an analyst most likely reads them. */
  infrequentAccess: 30,
  /** Archive objects to Glacier Instant Retrieval: still millisecond reads, for replays from long ago. */
  glacierInstantRetrieval: 180,
  /** Old versions of archive, dead letters and Parquet objects (a delete or overwrite can be undone this long). */
  noncurrentVersions: 30,
  /** Old versions of the state objects, rewritten every micro-batch / every 10 s. */
  noncurrentStateVersions: 7,
  /** Parts of multipart uploads that never completed. */
  incompleteUploads: 7
} as const

const days = Duration.days

const commonProps: s3.BucketProps = {
  encryption: s3.BucketEncryption.S3_MANAGED,
  blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
  enforceSSL: true,
  versioned: true,
  objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
  removalPolicy: RemovalPolicy.RETAIN,
  transitionDefaultMinimumObjectSize: s3.TransitionDefaultMinimumObjectSize.ALL_STORAGE_CLASSES_128_K
}

/** Housekeeping every bucket gets: abandoned multipart uploads and delete markers with no versions left. */
const housekeeping: ReadonlyArray<s3.LifecycleRule> = [
  { id: "abort-incomplete-multipart-uploads", abortIncompleteMultipartUploadAfter: days(LIFECYCLE_DAYS.incompleteUploads) },
  { id: "remove-expired-delete-markers", expiredObjectDeleteMarker: true }
]

export class Storage extends Construct {
  readonly ingestionBucket: s3.Bucket
  readonly processedBucket: s3.Bucket

  constructor(scope: Construct, id: string, names: { readonly ingestion: string; readonly processed: string }) {
    super(scope, id)
    this.ingestionBucket = new s3.Bucket(this, "IngestionBucket", {
      ...commonProps,
      bucketName: names.ingestion,
      lifecycleRules: [
        {
          id: "raw-archive-to-cheaper-classes",
          prefix: INGESTION_PREFIXES.raw,
          transitions: [
            { storageClass: s3.StorageClass.INFREQUENT_ACCESS, transitionAfter: days(LIFECYCLE_DAYS.infrequentAccess) },
            { storageClass: s3.StorageClass.GLACIER_INSTANT_RETRIEVAL, transitionAfter: days(LIFECYCLE_DAYS.glacierInstantRetrieval) }
          ],
          noncurrentVersionExpiration: days(LIFECYCLE_DAYS.noncurrentVersions)
        },
        {
          id: "firehose-errors-to-infrequent-access",
          prefix: INGESTION_PREFIXES.errors,
          transitions: [{ storageClass: s3.StorageClass.INFREQUENT_ACCESS, transitionAfter: days(LIFECYCLE_DAYS.infrequentAccess) }],
          noncurrentVersionExpiration: days(LIFECYCLE_DAYS.noncurrentVersions)
        },
        { id: "state-old-versions", prefix: INGESTION_PREFIXES.state, noncurrentVersionExpiration: days(LIFECYCLE_DAYS.noncurrentStateVersions) },
        { id: "dead-letters-old-versions", prefix: INGESTION_PREFIXES.deadLetters, noncurrentVersionExpiration: days(LIFECYCLE_DAYS.noncurrentVersions) },
        ...housekeeping
      ]
    })
    this.processedBucket = new s3.Bucket(this, "ProcessedBucket", {
      ...commonProps,
      bucketName: names.processed,
      lifecycleRules: [
        {
          id: "parquet-to-infrequent-access",
          transitions: [{ storageClass: s3.StorageClass.INFREQUENT_ACCESS, transitionAfter: days(LIFECYCLE_DAYS.infrequentAccess) }],
          noncurrentVersionExpiration: days(LIFECYCLE_DAYS.noncurrentVersions)
        },
        ...housekeeping
      ]
    })
  }
}
