/**
 * `totes-cdc init-localstack` provisions an emulator as this CDK app provisions AWS: the
 * settings local-stack's EmulatorPlan.ts gives the delivery stream, the loader's queues and
 * the processed bucket's notification are the ones in the synthesized templates.
 */
import { ARCHIVE_DELIVERY, DEAD_LETTER_SUFFIX, LOADER_QUEUE_ATTRIBUTES, PROCESSED_NOTIFICATION } from "@totes-cdc/local-stack"
import { describe, expect, it } from "vitest"
import { synthesize } from "./Fixtures.ts"

const { template, dataTemplate } = synthesize()

const propertiesOf = (resources: Record<string, Record<string, unknown>>) => Object.values(resources).map((resource) => resource["Properties"] as Record<string, unknown>)

describe("the emulator's resources, against the templates", () => {
  it("the delivery stream's prefixes, buffering, compression and newline processor", () => {
    const [archive] = propertiesOf(template.findResources("AWS::KinesisFirehose::DeliveryStream"))
    const destination = archive!["ExtendedS3DestinationConfiguration"] as Record<string, unknown>
    expect({
      prefix: destination["Prefix"],
      errorOutputPrefix: destination["ErrorOutputPrefix"],
      buffering: destination["BufferingHints"],
      compression: destination["CompressionFormat"],
      processing: destination["ProcessingConfiguration"]
    }).toEqual({
      prefix: ARCHIVE_DELIVERY.prefix,
      errorOutputPrefix: ARCHIVE_DELIVERY.errorOutputPrefix,
      buffering: { IntervalInSeconds: ARCHIVE_DELIVERY.bufferingSeconds, SizeInMBs: ARCHIVE_DELIVERY.bufferingMiB },
      compression: "UNCOMPRESSED",
      processing: { Enabled: ARCHIVE_DELIVERY.appendNewline, Processors: [{ Type: "AppendDelimiterToRecord", Parameters: [] }] }
    })
  })

  it("the loader's queue and dead-letter queue: names, visibility, retention, redrive after the same receives", () => {
    const queues = propertiesOf(dataTemplate.findResources("AWS::SQS::Queue"))
    const queue = queues.find((q) => q["RedrivePolicy"] !== undefined)!
    const deadLetters = queues.find((q) => q["RedrivePolicy"] === undefined)!
    expect({
      deadLetterName: deadLetters["QueueName"],
      visibility: queue["VisibilityTimeout"],
      retention: [queue["MessageRetentionPeriod"], deadLetters["MessageRetentionPeriod"]],
      maxReceiveCount: (queue["RedrivePolicy"] as Record<string, unknown>)["maxReceiveCount"]
    }).toEqual({
      deadLetterName: `${String(queue["QueueName"])}${DEAD_LETTER_SUFFIX}`,
      visibility: LOADER_QUEUE_ATTRIBUTES.visibilityTimeoutSeconds,
      retention: [LOADER_QUEUE_ATTRIBUTES.retentionSeconds, LOADER_QUEUE_ATTRIBUTES.retentionSeconds],
      maxReceiveCount: LOADER_QUEUE_ATTRIBUTES.maxReceiveCount
    })
  })

  it("the processed bucket's notification: every object created, micro-batch manifests only", () => {
    const notifications = propertiesOf(dataTemplate.findResources("AWS::S3::Bucket"))
      .map((bucket) => bucket["NotificationConfiguration"] as { QueueConfigurations?: Array<Record<string, unknown>> } | undefined)
      .flatMap((configuration) => configuration?.QueueConfigurations ?? [])
    expect(notifications.map((n) => ({ event: n["Event"], filter: n["Filter"] }))).toEqual(
      PROCESSED_NOTIFICATION.events.map((event) => ({ event, filter: { S3Key: { Rules: [{ Name: "prefix", Value: "manifests/" }, { Name: "suffix", Value: ".json" }] } } }))
    )
  })
})
