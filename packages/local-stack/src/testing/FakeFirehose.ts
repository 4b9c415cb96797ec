/**
 * A fake Amazon Data Firehose control plane for tests (no Firehose emulator runs here):
 * CreateDeliveryStream and DescribeDeliveryStream over FakeAwsJsonServer.ts, enough for the
 * platform's `Firehose.ensureDeliveryStream` and `describeDeliveryStream`. Nothing is delivered.
 *
 * Invariants (Firehose's, for what the tests rely on):
 *  - A created delivery stream is CREATING for its first `creatingDescribes` descriptions
 *    (as LocalStack while it starts its Kinesis consumer), then ACTIVE.
 *  - Creating a name that exists is ResourceInUseException; describing a missing one
 *    ResourceNotFoundException, in Firehose's words.
 *  - Its description holds what was created: the Kinesis source and the extended S3
 *    destination (ARNs, prefixes, buffering hints, processors).
 */
import { Effect, type Scope } from "effect"
import { AwsJsonFault, type AwsJsonServer, startAwsJsonServer } from "./FakeAwsJsonServer.ts"

/** A running fake Firehose: the server, and the CreateDeliveryStream inputs it holds, by name. */
export interface FakeFirehose extends AwsJsonServer {
  readonly created: ReadonlyMap<string, Record<string, unknown>>
}

/** Starts a fake Firehose (module invariants); stopped when the scope closes. */
export const startFakeFirehose = (options: { readonly creatingDescribes?: number } = {}): Effect.Effect<FakeFirehose, never, Scope.Scope> =>
  Effect.gen(function* () {
    const created = new Map<string, Record<string, unknown>>()
    const describes = new Map<string, number>()
    const server = yield* startAwsJsonServer("com.amazonaws.firehose", async ({ target, body }) => {
      const name = String(body["DeliveryStreamName"])
      switch (target) {
        case "Firehose_20150804.CreateDeliveryStream": {
          if (created.has(name)) throw new AwsJsonFault("ResourceInUseException", `Firehose ${name} under accountId 000000000000 already exists`)
          created.set(name, body)
          describes.set(name, 0)
          return { DeliveryStreamARN: `arn:aws:firehose:eu-west-2:000000000000:deliverystream/${name}` }
        }
        case "Firehose_20150804.DescribeDeliveryStream": {
          const input = created.get(name)
          if (input === undefined) throw new AwsJsonFault("ResourceNotFoundException", `Firehose ${name} under account 000000000000 not found.`)
          const seen = (describes.get(name) ?? 0) + 1
          describes.set(name, seen)
          const source = input["KinesisStreamSourceConfiguration"] as { KinesisStreamARN: string; RoleARN: string } | undefined
          return {
            DeliveryStreamDescription: {
              DeliveryStreamName: name,
              DeliveryStreamARN: `arn:aws:firehose:eu-west-2:000000000000:deliverystream/${name}`,
              DeliveryStreamStatus: seen <= (options.creatingDescribes ?? 0) ? "CREATING" : "ACTIVE",
              DeliveryStreamType: input["DeliveryStreamType"],
              VersionId: "1",
              HasMoreDestinations: false,
              ...(source === undefined ? {} : { Source: { KinesisStreamSourceDescription: source } }),
              Destinations: [{ DestinationId: "destinationId-000000000001", ExtendedS3DestinationDescription: input["ExtendedS3DestinationConfiguration"] }]
            }
          }
        }
        default:
          throw new AwsJsonFault("InvalidAction", `The action ${target} is not valid for this endpoint.`)
      }
    })
    return { ...server, created }
  })
