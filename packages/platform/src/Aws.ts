/**
 * AWS SDK client construction, in one place, for AWS and for the local emulators.
 *
 * Invariants:
 *  - With an endpoint override (kinesalite, s3rver) clients speak HTTP/1.1 through a
 *    `NodeHttpHandler`: the Kinesis client's default HTTP/2 handler cannot talk to
 *    kinesalite (DESIGN.md §8), and S3 uses path-style addressing.
 *  - Without an override the SDK's defaults (region chain, credential chain) apply.
 *  - An emulator endpoint is read per service (KINESIS_ENDPOINT, S3_ENDPOINT, SQS_ENDPOINT,
 *    FIREHOSE_ENDPOINT) and falls back to AWS_ENDPOINT_URL (the variable the AWS SDKs honour
 *    for every service: LocalStack serves all of them on one endpoint), so every client of
 *    an emulator gets the HTTP/1.1 handler and path-style S3, whichever variable named it.
 *  - The SQS client of an emulator sends every call to the configured endpoint, not to the
 *    host in the queue URL (`useQueueUrlAsEndpoint: false`): an emulator's queue URLs name
 *    the host as the emulator sees itself (LocalStack: `sqs.<region>.localhost.localstack.cloud`),
 *    which another container cannot reach.
 */
import { DEFAULTS } from "@totes-cdc/core"
import { FirehoseClient } from "@aws-sdk/client-firehose"
import { KinesisClient } from "@aws-sdk/client-kinesis"
import { S3Client } from "@aws-sdk/client-s3"
import { SQSClient } from "@aws-sdk/client-sqs"
import { NodeHttpHandler } from "@smithy/node-http-handler"
import { Config, Option } from "effect"
import { kinesisProtocolConfig } from "./KinesisWireCodec.ts"

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

/** A Kinesis Data Streams client for `target`; GetRecords responses decoded by KinesisWireCodec.ts. */
export const makeKinesisClient = (target: AwsEndpoint): KinesisClient => new KinesisClient({ ...clientConfig(target), ...kinesisProtocolConfig() })

/** An Amazon Data Firehose client for `target`. */
export const makeFirehoseClient = (target: AwsEndpoint): FirehoseClient => new FirehoseClient(clientConfig(target))

/** An S3 client for `target` (path-style when an endpoint is given). */
export const makeS3Client = (target: AwsEndpoint): S3Client =>
  new S3Client({ ...clientConfig(target), forcePathStyle: target.endpoint !== undefined })

/** An SQS client for `target`; with an endpoint every call goes there, whatever host a queue URL names. */
export const makeSqsClient = (target: AwsEndpoint): SQSClient =>
  new SQSClient({ ...clientConfig(target), useQueueUrlAsEndpoint: target.endpoint === undefined })

const optionalSetting = (name: string) => Config.option(Config.String(name)).pipe(Config.map(Option.getOrUndefined))

const endpointOf = (region: string, url: string | undefined, key: string | undefined, secret: string | undefined, token: string | undefined): AwsEndpoint => ({
  region,
  ...(url === undefined ? {} : { endpoint: url }),
  ...(key === undefined || secret === undefined ? {} : { accessKeyId: key, secretAccessKey: secret, ...(token === undefined ? {} : { sessionToken: token }) })
})

/** The variables naming one service's emulator endpoint; each falls back to `AWS_ENDPOINT_URL`. */
export type EndpointVariable = "KINESIS_ENDPOINT" | "S3_ENDPOINT" | "SQS_ENDPOINT" | "FIREHOSE_ENDPOINT"

/**
 * Where one AWS service is, from the environment every component shares: `AWS_REGION`
 * (default eu-west-2); `variable` (e.g. `SQS_ENDPOINT`), else `AWS_ENDPOINT_URL`, else no
 * endpoint (AWS itself); `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` with
 * `AWS_SESSION_TOKEN` when the keys are temporary, as in Lambda (otherwise the SDK's
 * credential chain).
 */
export const awsEndpointConfig = (variable: EndpointVariable): Config.Config<AwsEndpoint> =>
  Config.all({
    region: Config.String("AWS_REGION").pipe(Config.withDefault(DEFAULTS.region)),
    own: optionalSetting(variable),
    shared: optionalSetting("AWS_ENDPOINT_URL"),
    accessKeyId: optionalSetting("AWS_ACCESS_KEY_ID"),
    secretAccessKey: optionalSetting("AWS_SECRET_ACCESS_KEY"),
    sessionToken: optionalSetting("AWS_SESSION_TOKEN")
  }).pipe(Config.map(({ region, own, shared, accessKeyId, secretAccessKey, sessionToken }) => endpointOf(region, own ?? shared, accessKeyId, secretAccessKey, sessionToken)))

/**
 * Where Kinesis and S3 are (`awsEndpointConfig` of `KINESIS_ENDPOINT` and `S3_ENDPOINT`:
 * emulators; absent on AWS; both fall back to `AWS_ENDPOINT_URL`).
 */
export const awsEndpointsConfig: Config.Config<{ readonly kinesis: AwsEndpoint; readonly s3: AwsEndpoint }> = Config.all({
  kinesis: awsEndpointConfig("KINESIS_ENDPOINT"),
  s3: awsEndpointConfig("S3_ENDPOINT")
})
