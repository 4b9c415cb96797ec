/**
 * AWS SDK client construction, in one place, for AWS and for the local emulators.
 *
 * Invariants:
 *  - With an endpoint override (kinesalite, s3rver) clients speak HTTP/1.1 through a
 *    `NodeHttpHandler`: the Kinesis client's default HTTP/2 handler cannot talk to
 *    kinesalite (DESIGN.md §8), and S3 uses path-style addressing.
 *  - Without an override the SDK's defaults (region chain, credential chain) apply.
 */
import { KinesisClient } from "@aws-sdk/client-kinesis"
import { S3Client } from "@aws-sdk/client-s3"
import { NodeHttpHandler } from "@smithy/node-http-handler"

/** Where and as whom to call AWS. `endpoint` set = a local emulator. */
export interface AwsEndpoint {
  readonly region: string
  /** e.g. `http://127.0.0.1:4567`; absent for real AWS. */
  readonly endpoint?: string
  readonly accessKeyId?: string
  readonly secretAccessKey?: string
}

const clientConfig = (target: AwsEndpoint) => ({
  region: target.region,
  ...(target.endpoint === undefined
    ? {}
    : {
        endpoint: target.endpoint,
        requestHandler: new NodeHttpHandler({ connectionTimeout: 5_000, requestTimeout: 30_000 })
      }),
  ...(target.accessKeyId !== undefined && target.secretAccessKey !== undefined
    ? { credentials: { accessKeyId: target.accessKeyId, secretAccessKey: target.secretAccessKey } }
    : {})
})

/** A Kinesis Data Streams client for `target`. */
export const makeKinesisClient = (target: AwsEndpoint): KinesisClient => new KinesisClient(clientConfig(target))

/** An S3 client for `target` (path-style when an endpoint is given). */
export const makeS3Client = (target: AwsEndpoint): S3Client =>
  new S3Client({ ...clientConfig(target), forcePathStyle: target.endpoint !== undefined })
