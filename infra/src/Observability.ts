/**
 * The deployment's dashboard and alarms (issue 13; infra/README.md "Dashboard and alarms"):
 * one CloudWatch dashboard over the whole pipeline and alarms that notify one SNS topic
 * with an e-mail subscription (`settings.alarmEmail`).
 *
 * Invariants:
 *  - Every metric of namespace `totes-cdc` here is built by `emfMetric` from core's
 *    catalogue (Metrics.ts, published by CloudWatchMetrics.ts): its name must be one the component emits, and its
 *    dimensions one of the component's declared dimension sets (checked at synth).
 *  - AWS metrics are named with their service's namespace and dimension.
 *  - The thresholds are `ALARM_THRESHOLDS`; the README gives the reason of each.
 */
import { Duration } from "aws-cdk-lib"
import * as cloudwatch from "aws-cdk-lib/aws-cloudwatch"
import * as actions from "aws-cdk-lib/aws-cloudwatch-actions"
import type * as firehose from "aws-cdk-lib/aws-kinesisfirehose"
import type * as kinesis from "aws-cdk-lib/aws-kinesis"
import type * as lambda from "aws-cdk-lib/aws-lambda"
import * as sns from "aws-cdk-lib/aws-sns"
import * as subscriptions from "aws-cdk-lib/aws-sns-subscriptions"
import type * as sqs from "aws-cdk-lib/aws-sqs"
import { DEFAULTS, EMF_NAMESPACE, type EmfComponent, type EmfMetricName, emfMetricSpec, WAREHOUSE_TABLES } from "@totes-cdc/core"
import { Construct } from "constructs"

/** The alarms' thresholds (reasons: infra/README.md "Dashboard and alarms"). */
export const ALARM_THRESHOLDS = {
  slotRetainedWalBytes: 5 * 1024 ** 3,
  slotConfirmedLagBytes: 1024 ** 3,
  iteratorAgeMs: 5 * 60 * 1000,
  firehoseFreshnessSeconds: 15 * 60,
  warehouseFreshnessSeconds: 30 * 60,
  loaderQueueAgeSeconds: 15 * 60
} as const

const FIVE_MINUTES = Duration.minutes(5)

/**
 * A metric of `component` in namespace `totes-cdc` with `dimensions` (Component added).
 * Throws at synth when the catalogue does not declare the metric with these dimensions.
 */
export const emfMetric = <C extends EmfComponent>(
  component: C,
  name: EmfMetricName<C>,
  dimensions: Readonly<Record<string, string>>,
  props: Omit<cloudwatch.MetricProps, "namespace" | "metricName" | "dimensionsMap" | "unit"> = {}
): cloudwatch.Metric => {
  const spec = emfMetricSpec(component, name)
  const dimensionsMap = { Component: component, ...dimensions }
  const names = JSON.stringify(Object.keys(dimensionsMap).sort())
  if (spec === undefined || !spec.dimensions.some((set) => JSON.stringify([...set].sort()) === names)) {
    throw new Error(`${component} does not emit ${name} with dimensions ${names} (core CloudWatchMetrics.ts)`)
  }
  return new cloudwatch.Metric({ namespace: EMF_NAMESPACE, metricName: name, dimensionsMap, period: FIVE_MINUTES, ...props })
}

export interface ObservabilityProps {
  readonly alarmEmail: string
  readonly stream: kinesis.Stream
  readonly deliveryStream: firehose.DeliveryStream
  readonly processor: lambda.IFunction
  readonly processorFailureQueue: sqs.IQueue
  readonly loader: lambda.IFunction
  readonly loaderQueue: sqs.IQueue
  readonly loaderDeadLetterQueue: sqs.IQueue
  /** The reader's replication slot (the `Slot` dimension of its metrics). */
  readonly slot?: string
}

export class Observability extends Construct {
  readonly topic: sns.Topic
  readonly dashboard: cloudwatch.Dashboard
  readonly alarms: Readonly<Record<string, cloudwatch.Alarm>>
  readonly pipelineStalled: cloudwatch.CompositeAlarm

  constructor(scope: Construct, id: string, props: ObservabilityProps) {
    super(scope, id)
    const slot = props.slot ?? DEFAULTS.slot
    const reader = (name: EmfMetricName<"cdc-reader">, statistic = "Maximum") => emfMetric("cdc-reader", name, { Slot: slot }, { statistic })
    const processor = (name: EmfMetricName<"processor">, statistic = "Sum") => emfMetric("processor", name, {}, { statistic })
    const loader = (name: EmfMetricName<"loader">, statistic = "Sum") => emfMetric("loader", name, {}, { statistic })
    const aws = (namespace: string, metricName: string, dimensionsMap: Record<string, string>, statistic: string) =>
      new cloudwatch.Metric({ namespace, metricName, dimensionsMap, statistic, period: FIVE_MINUTES })
    const stream = (metricName: string, statistic: string) => aws("AWS/Kinesis", metricName, { StreamName: props.stream.streamName }, statistic)
    const fn = (f: lambda.IFunction, metricName: string, statistic: string) => aws("AWS/Lambda", metricName, { FunctionName: f.functionName }, statistic)
    const firehoseMetric = (metricName: string, statistic: string) => aws("AWS/Firehose", metricName, { DeliveryStreamName: props.deliveryStream.deliveryStreamName }, statistic)
    const queue = (q: sqs.IQueue, metricName: string, statistic: string) => aws("AWS/SQS", metricName, { QueueName: q.queueName }, statistic)

    this.topic = new sns.Topic(this, "AlarmTopic", { displayName: "totes-cdc alarms" })
    this.topic.addSubscription(new subscriptions.EmailSubscription(props.alarmEmail))
    const notify = new actions.SnsAction(this.topic)

    const alarm = (alarmId: string, description: string, options: Omit<cloudwatch.AlarmProps, "alarmDescription">) => {
      const created = new cloudwatch.Alarm(this, alarmId, { alarmDescription: description, ...options })
      created.addAlarmAction(notify)
      created.addOkAction(notify)
      return created
    }
    const above = cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD
    const notBreaching = cloudwatch.TreatMissingData.NOT_BREACHING
    /** Above 0 when the function failed an invocation (Lambda `Errors`) or reported a failure of its own (`failed`). */
    const errorsAlarm = (alarmId: string, description: string, label: string, f: lambda.IFunction, failed: Record<string, cloudwatch.IMetric>) => {
      const [failedId] = Object.keys(failed)
      return alarm(alarmId, description, {
        metric: new cloudwatch.MathExpression({
          expression: `FILL(errors, 0) + FILL(${failedId}, 0)`,
          usingMetrics: { errors: fn(f, "Errors", "Sum"), ...failed },
          label,
          period: FIVE_MINUTES
        }),
        threshold: 0,
        comparisonOperator: above,
        evaluationPeriods: 1,
        treatMissingData: notBreaching
      })
    }

    const alarms = {
      slotRetainedWal: alarm("SlotRetainedWal", "The replication slot holds back more than 5 GiB of WAL for 15 minutes: the source's disk fills", {
        metric: reader("slotRetainedWalBytes"),
        threshold: ALARM_THRESHOLDS.slotRetainedWalBytes,
        comparisonOperator: above,
        evaluationPeriods: 3,
        treatMissingData: notBreaching
      }),
      readerSilent: alarm("ReaderSilent", "No reader metrics for 5 minutes: the reader is down or its slot is inactive or gone", {
        metric: reader("slotRetainedWalBytes", "SampleCount"),
        threshold: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.BREACHING
      }),
      slotLsnNotAdvancing: alarm("SlotLsnNotAdvancing", "The slot's confirmed LSN trails the WAL end by more than 1 GiB for 15 minutes: the reader does not confirm", {
        metric: reader("slotConfirmedLagBytes", "Minimum"),
        threshold: ALARM_THRESHOLDS.slotConfirmedLagBytes,
        comparisonOperator: above,
        evaluationPeriods: 3,
        treatMissingData: notBreaching
      }),
      processorIteratorAge: alarm("ProcessorIteratorAge", "The processor's event source mapping is more than 5 minutes behind the stream", {
        metric: fn(props.processor, "IteratorAge", "Maximum"),
        threshold: ALARM_THRESHOLDS.iteratorAgeMs,
        comparisonOperator: above,
        evaluationPeriods: 1,
        treatMissingData: notBreaching
      }),
      streamIteratorAge: alarm("StreamIteratorAge", "A GetRecords consumer of the stream (the Firehose archive) is more than 5 minutes behind", {
        metric: stream("GetRecords.IteratorAgeMilliseconds", "Maximum"),
        threshold: ALARM_THRESHOLDS.iteratorAgeMs,
        comparisonOperator: above,
        evaluationPeriods: 1,
        treatMissingData: notBreaching
      }),
      firehoseFreshness: alarm("FirehoseFreshness", "The archive's oldest record not yet in S3 is more than 15 minutes old", {
        metric: firehoseMetric("DeliveryToS3.DataFreshness", "Maximum"),
        threshold: ALARM_THRESHOLDS.firehoseFreshnessSeconds,
        comparisonOperator: above,
        evaluationPeriods: 1,
        treatMissingData: notBreaching
      }),
      deadLetters: alarm("DeadLetters", "A record was dead-lettered (reader or processor) or a batch or object reached a dead-letter queue", {
        metric: new cloudwatch.MathExpression({
          expression: "MAX([FILL(DIFF(reader), 0), FILL(processor, 0), FILL(processorFailures, 0), FILL(loaderDlq, 0)])",
          usingMetrics: {
            reader: reader("deadLetters"),
            processor: processor("deadLetters"),
            processorFailures: queue(props.processorFailureQueue, "ApproximateNumberOfMessagesVisible", "Maximum"),
            loaderDlq: queue(props.loaderDeadLetterQueue, "ApproximateNumberOfMessagesVisible", "Maximum")
          },
          label: "Dead letters (any stage)",
          period: FIVE_MINUTES
        }),
        threshold: 0,
        comparisonOperator: above,
        evaluationPeriods: 1,
        treatMissingData: notBreaching
      }),
      processorErrors: errorsAlarm("ProcessorErrors", "The processor failed an invocation or reported shards failed", "Processor errors", props.processor, { failedShards: processor("failedShards") }),
      loaderErrors: errorsAlarm("LoaderErrors", "The loader failed an invocation or micro-batches", "Loader errors", props.loader, { failedBatches: loader("failedBatches") }),
      warehouseFreshness: alarm("WarehouseFreshness", "A warehouse table was loaded with changes committed more than 30 minutes before", {
        metric: loader("warehouseFreshnessSeconds", "Maximum"),
        threshold: ALARM_THRESHOLDS.warehouseFreshnessSeconds,
        comparisonOperator: above,
        evaluationPeriods: 1,
        treatMissingData: notBreaching
      }),
      loaderQueueAge: alarm("LoaderQueueAge", "A processed object has waited more than 15 minutes in the loader's queue", {
        metric: queue(props.loaderQueue, "ApproximateAgeOfOldestMessage", "Maximum"),
        threshold: ALARM_THRESHOLDS.loaderQueueAgeSeconds,
        comparisonOperator: above,
        evaluationPeriods: 1,
        treatMissingData: notBreaching
      })
    }
    this.alarms = alarms

    // The pipeline is stalled when any stage stops moving: an OR of the stall signals (not of errors or dead letters, which notify on their own).
    this.pipelineStalled = new cloudwatch.CompositeAlarm(this, "PipelineStalled", {
      alarmDescription: "totes-cdc pipeline stalled: the reader is silent or not confirming, a consumer is behind, the archive or the loader's queue is stale, or the warehouse is more than 30 minutes behind",
      alarmRule: cloudwatch.AlarmRule.anyOf(
        ...[alarms.readerSilent, alarms.slotLsnNotAdvancing, alarms.processorIteratorAge, alarms.streamIteratorAge, alarms.firehoseFreshness, alarms.loaderQueueAge, alarms.warehouseFreshness].map(
          (child) => cloudwatch.AlarmRule.fromAlarm(child, cloudwatch.AlarmState.ALARM)
        )
      )
    })
    this.pipelineStalled.addAlarmAction(notify)
    this.pipelineStalled.addOkAction(notify)

    const graph = (title: string, left: ReadonlyArray<cloudwatch.IMetric>, right: ReadonlyArray<cloudwatch.IMetric> = []) =>
      new cloudwatch.GraphWidget({ title, left: [...left], right: [...right], width: 8, height: 6 })
    this.dashboard = new cloudwatch.Dashboard(this, "Dashboard", { defaultInterval: Duration.hours(3) })
    this.dashboard.addWidgets(
      new cloudwatch.AlarmStatusWidget({ title: "Alarms", alarms: [this.pipelineStalled, ...Object.values(alarms)], width: 24, height: 3 })
    )
    this.dashboard.addWidgets(
      graph("Slot: retained WAL and confirmed-LSN lag (bytes)", [reader("slotRetainedWalBytes"), reader("slotConfirmedLagBytes")]),
      graph("Reader: commit→Kinesis lag (ms)", [reader("commitToKinesisLagMs")], [reader("changesPerSecond", "Average")]),
      graph("Kinesis: incoming records, GetRecords iterator age (ms)", [stream("IncomingRecords", "Sum")], [stream("GetRecords.IteratorAgeMilliseconds", "Maximum")])
    )
    this.dashboard.addWidgets(
      graph("Processor: event source mapping iterator age (ms)", [fn(props.processor, "IteratorAge", "Maximum")]),
      graph("Firehose: DeliveryToS3 data freshness (s) and success", [firehoseMetric("DeliveryToS3.DataFreshness", "Maximum")], [firehoseMetric("DeliveryToS3.Success", "Average")]),
      graph("Loader queue: age of oldest message (s)", [queue(props.loaderQueue, "ApproximateAgeOfOldestMessage", "Maximum")])
    )
    this.dashboard.addWidgets(
      graph("Processor: errors, throttles; changes", [fn(props.processor, "Errors", "Sum"), fn(props.processor, "Throttles", "Sum"), processor("failedShards")], [processor("changesProcessed")]),
      graph("Processor: duration (ms)", [fn(props.processor, "Duration", "Maximum"), processor("microBatchDurationMs", "p99")]),
      graph("Loader: errors, throttles; rows", [fn(props.loader, "Errors", "Sum"), fn(props.loader, "Throttles", "Sum"), loader("failedBatches")], [loader("rowsLoaded"), loader("objectsLoaded")])
    )
    this.dashboard.addWidgets(
      graph("Loader: duration (ms); commit→warehouse latency (ms)", [fn(props.loader, "Duration", "Maximum")], [
        loader("commitToWarehouseP50Ms", "Average"),
        loader("commitToWarehouseP99Ms", "Maximum"),
        loader("commitToWarehouseMaxMs", "Maximum")
      ]),
      new cloudwatch.GraphWidget({
        title: "Warehouse freshness per table (s)",
        left: WAREHOUSE_TABLES.map((table) => emfMetric("loader", "warehouseFreshnessSeconds", { Table: table }, { statistic: "Maximum", label: table })),
        width: 8,
        height: 6
      }),
      graph("Dead letters per stage", [
        reader("deadLetters"),
        processor("deadLetters"),
        queue(props.processorFailureQueue, "ApproximateNumberOfMessagesVisible", "Maximum"),
        queue(props.loaderDeadLetterQueue, "ApproximateNumberOfMessagesVisible", "Maximum")
      ])
    )
  }
}
