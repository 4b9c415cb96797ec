/**
 * AWS SDK client construction, in one place, for AWS and for the local emulators.
 *
 * Invariants:
 *  - With an endpoint override (kinesalite, s3rver) clients speak HTTP/1.1 through a
 *    `NodeHttpHandler`: the Kinesis client's default HTTP/2 handler cannot talk to
 *    kinesalite (DESIGN.md §8), and S3 uses path-style addressing.
 *  - Without an override the SDK's defaults (region chain, credential chain) apply.
 */
import { DEFAULTS } from "@totes-cdc/core"
import { FirehoseClient } from "@aws-sdk/client-firehose"
import { KinesisClient } from "@aws-sdk/client-kinesis"
import { S3Client } from "@aws-sdk/client-s3"
import { NodeHttpHandler } from "@smithy/node-http-handler"
import { Config, Option } from "effect"

/** Where and as whom to call AWS. `endpoint` set = a local emulator. */
export interface AwsEndpoint {
  readonly region: string
  /** e.g. `http://127.0.0.1:4567`; absent for real AWS. */
  readonly endpoint?: string
  readonly accessKeyId?: string
  readonly secretAccessKey?: string
  /** With temporary credentials (Lambda, an assumed role): `AWS_SESSION_TOKEN`. */
  readonly sessionToken?: string
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
    ? {
        credentials: {
          accessKeyId: target.accessKeyId,
          secretAccessKey: target.secretAccessKey,
          ...(target.sessionToken === undefined ? {} : { sessionToken: target.sessionToken })
        }
      }
    : {})
})

/** A Kinesis Data Streams client for `target`. */
export const makeKinesisClient = (target: AwsEndpoint): KinesisClient => new KinesisClient(clientConfig(target))

/** An Amazon Data Firehose client for `target`. */
export const makeFirehoseClient = (target: AwsEndpoint): FirehoseClient => new FirehoseClient(clientConfig(target))

/** An S3 client for `target` (path-style when an endpoint is given). */
export const makeS3Client = (target: AwsEndpoint): S3Client =>
  new S3Client({ ...clientConfig(target), forcePathStyle: target.endpoint !== undefined })

const optionalSetting = (name: string) => Config.option(Config.String(name)).pipe(Config.map(Option.getOrUndefined))

const endpointOf = (region: string, url: string | undefined, key: string | undefined, secret: string | undefined, token: string | undefined): AwsEndpoint => ({
  region,
  ...(url === undefined ? {} : { endpoint: url }),
  ...(key === undefined || secret === undefined ? {} : { accessKeyId: key, secretAccessKey: secret, ...(token === undefined ? {} : { sessionToken: token }) })
})

/**
 * Where Kinesis and S3 are, from the environment every component shares: `AWS_REGION`
 * (default eu-west-2), `KINESIS_ENDPOINT` / `S3_ENDPOINT` (emulators; absent on AWS),
 * `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` with `AWS_SESSION_TOKEN` when the keys are
 * temporary, as in Lambda (otherwise the SDK's credential chain).
 */
export const awsEndpointsConfig: Config.Config<{ readonly kinesis: AwsEndpoint; readonly s3: AwsEndpoint }> = Config.all({
  region: Config.String("AWS_REGION").pipe(Config.withDefault(DEFAULTS.region)),
  kinesisEndpoint: optionalSetting("KINESIS_ENDPOINT"),
  s3Endpoint: optionalSetting("S3_ENDPOINT"),
  accessKeyId: optionalSetting("AWS_ACCESS_KEY_ID"),
  secretAccessKey: optionalSetting("AWS_SECRET_ACCESS_KEY"),
  sessionToken: optionalSetting("AWS_SESSION_TOKEN")
}).pipe(
  Config.map(({ region, kinesisEndpoint, s3Endpoint, accessKeyId, secretAccessKey, sessionToken }) => ({
    kinesis: endpointOf(region, kinesisEndpoint, accessKeyId, secretAccessKey, sessionToken),
    s3: endpointOf(region, s3Endpoint, accessKeyId, secretAccessKey, sessionToken)
  }))
)
