/**
 * The dashboard and alarms of the synthesized template: the SNS topic and its e-mail
 * subscription, each alarm's metric, threshold, period and missing-data treatment, the
 * composite alarm's rule, the dashboard's widgets, and that every `totes-cdc` metric the
 * dashboard or an alarm references is one core's catalogue declares for its component with
 * the same dimensions.
 */
import { EMF_NAMESPACE, emfMetricSpec } from "@totes-cdc/core"
import { Match } from "aws-cdk-lib/assertions"
import { beforeAll, describe, expect, it } from "vitest"
import { ALARM_THRESHOLDS, emfMetric } from "../src/Observability.ts"
import { logicalId, synthesize, type Synthesized } from "./Fixtures.ts"

let synthesized: Synthesized
beforeAll(() => {
  synthesized = synthesize()
})

interface Resource {
  readonly Properties: Record<string, unknown>
}
interface CfnMetric {
  readonly Namespace: string
  readonly MetricName: string
  readonly Dimensions?: ReadonlyArray<{ readonly Name: string; readonly Value: unknown }>
}

const alarms = () => synthesized.template.findResources("AWS::CloudWatch::Alarm") as Record<string, Resource>
const alarmOf = (id: string): Resource["Properties"] => alarms()[logicalId(synthesized.stack.observability.alarms[id]!)]!.Properties

/** The dashboard body as JSON, every CloudFormation token replaced by `TOKEN`. */
const dashboardBody = (): { widgets: ReadonlyArray<{ properties: { title?: string; metrics?: ReadonlyArray<ReadonlyArray<unknown>> } }> } => {
  const dashboard = Object.values(synthesized.template.findResources("AWS::CloudWatch::Dashboard"))[0] as Resource
  const parts = (dashboard.Properties["DashboardBody"] as { "Fn::Join": [string, ReadonlyArray<unknown>] })["Fn::Join"][1]
  return JSON.parse(parts.map((part) => (typeof part === "string" ? part : "TOKEN")).join(""))
}

/** Every metric of the dashboard: namespace, name and dimensions (name → value). */
const dashboardMetrics = () =>
  dashboardBody().widgets.flatMap((widget) =>
    (widget.properties.metrics ?? []).map((row) => {
      const fields = row.filter((field): field is string => typeof field === "string")
      const [namespace, metricName, ...rest] = fields
      const dimensions: Record<string, string> = {}
      for (let i = 0; i + 1 < rest.length; i += 2) dimensions[rest[i]!] = rest[i + 1]!
      return { title: widget.properties.title, namespace: namespace!, metricName: metricName!, dimensions }
    })
  )

/** Every metric the alarms reference (plain or inside metric math). */
const alarmMetrics = (): ReadonlyArray<{ alarm: string; metric: CfnMetric }> =>
  Object.entries(alarms()).flatMap(([id, alarm]) => {
    const p = alarm.Properties as Partial<CfnMetric> & { Metrics?: ReadonlyArray<{ MetricStat?: { Metric: CfnMetric } }> }
    if (p.MetricName !== undefined) return [{ alarm: id, metric: p as CfnMetric }]
    return (p.Metrics ?? []).flatMap((m) => (m.MetricStat === undefined ? [] : [{ alarm: id, metric: m.MetricStat.Metric }]))
  })

describe("the alarm topic", () => {
  it("is an SNS topic with an e-mail subscription to the alarm e-mail", () => {
    synthesized.template.resourceCountIs("AWS::SNS::Topic", 1)
    synthesized.template.hasResourceProperties("AWS::SNS::Subscription", { Protocol: "email", Endpoint: synthesized.stack.settings.alarmEmail, TopicArn: { Ref: Match.anyValue() } })
  })

  it("is every alarm's action, on alarm and back to OK", () => {
    const topic = logicalId(synthesized.stack.observability.topic)
    for (const alarm of [...Object.values(alarms()), ...Object.values(synthesized.template.findResources("AWS::CloudWatch::CompositeAlarm") as Record<string, Resource>)]) {
      expect(alarm.Properties["AlarmActions"]).toEqual([{ Ref: topic }])
      expect(alarm.Properties["OKActions"]).toEqual([{ Ref: topic }])
    }
  })
})

describe("the alarms", () => {
  const plain = (id: string, expected: { namespace: string; metricName: string; statistic: string; threshold: number; operator: string; periods: number; missing: string }) => {
    expect(alarmOf(id)).toMatchObject({
      Namespace: expected.namespace,
      MetricName: expected.metricName,
      Statistic: expected.statistic,
      Period: 300,
      Threshold: expected.threshold,
      ComparisonOperator: expected.operator,
      EvaluationPeriods: expected.periods,
      TreatMissingData: expected.missing
    })
  }

  it("watch the slot: WAL retained, the reader silent (missing = breaching), the confirmed LSN not advancing", () => {
    plain("slotRetainedWal", { namespace: EMF_NAMESPACE, metricName: "slotRetainedWalBytes", statistic: "Maximum", threshold: 5 * 1024 ** 3, operator: "GreaterThanThreshold", periods: 3, missing: "notBreaching" })
    plain("readerSilent", { namespace: EMF_NAMESPACE, metricName: "slotRetainedWalBytes", statistic: "SampleCount", threshold: 1, operator: "LessThanThreshold", periods: 1, missing: "breaching" })
    plain("slotLsnNotAdvancing", { namespace: EMF_NAMESPACE, metricName: "slotConfirmedLagBytes", statistic: "Minimum", threshold: 1024 ** 3, operator: "GreaterThanThreshold", periods: 3, missing: "notBreaching" })
  })

  it("watch the iterator ages (5 min), Firehose freshness (15 min), warehouse freshness (30 min) and the loader's queue", () => {
    plain("processorIteratorAge", { namespace: "AWS/Lambda", metricName: "IteratorAge", statistic: "Maximum", threshold: 300_000, operator: "GreaterThanThreshold", periods: 1, missing: "notBreaching" })
    expect(alarmOf("processorIteratorAge")["Dimensions"]).toEqual([{ Name: "FunctionName", Value: { Ref: logicalId(synthesized.stack.processor.function) } }])
    plain("streamIteratorAge", { namespace: "AWS/Kinesis", metricName: "GetRecords.IteratorAgeMilliseconds", statistic: "Maximum", threshold: 300_000, operator: "GreaterThanThreshold", periods: 1, missing: "notBreaching" })
    plain("firehoseFreshness", { namespace: "AWS/Firehose", metricName: "DeliveryToS3.DataFreshness", statistic: "Maximum", threshold: 900, operator: "GreaterThanThreshold", periods: 1, missing: "notBreaching" })
    plain("warehouseFreshness", { namespace: EMF_NAMESPACE, metricName: "warehouseFreshnessSeconds", statistic: "Maximum", threshold: 1800, operator: "GreaterThanThreshold", periods: 1, missing: "notBreaching" })
    expect(alarmOf("warehouseFreshness")["Dimensions"]).toEqual([{ Name: "Component", Value: "loader" }])
    plain("loaderQueueAge", { namespace: "AWS/SQS", metricName: "ApproximateAgeOfOldestMessage", statistic: "Maximum", threshold: ALARM_THRESHOLDS.loaderQueueAgeSeconds, operator: "GreaterThanThreshold", periods: 1, missing: "notBreaching" })
  })

  it("fire on any dead letter and on Lambda errors (metric math over the stages)", () => {
    const math = (id: string) => {
      const p = alarmOf(id) as { Metrics: ReadonlyArray<{ Id: string; Expression?: string; MetricStat?: { Metric: CfnMetric; Period: number } }>; Threshold: number; TreatMissingData: string }
      expect(p.Threshold).toBe(0)
      expect(p.TreatMissingData).toBe("notBreaching")
      for (const m of p.Metrics) if (m.MetricStat !== undefined) expect(m.MetricStat.Period).toBe(300)
      return { expression: p.Metrics.find((m) => m.Expression !== undefined)!.Expression, metrics: p.Metrics.flatMap((m) => (m.MetricStat === undefined ? [] : [`${m.MetricStat.Metric.Namespace} ${m.MetricStat.Metric.MetricName}`])) }
    }
    expect(math("deadLetters")).toEqual({
      expression: "MAX([FILL(DIFF(reader), 0), FILL(processor, 0), FILL(processorFailures, 0), FILL(loaderDlq, 0)])",
      metrics: ["totes-cdc deadLetters", "totes-cdc deadLetters", "AWS/SQS ApproximateNumberOfMessagesVisible", "AWS/SQS ApproximateNumberOfMessagesVisible"]
    })
    expect(math("processorErrors")).toEqual({ expression: "FILL(errors, 0) + FILL(failedShards, 0)", metrics: ["AWS/Lambda Errors", "totes-cdc failedShards"] })
    expect(math("loaderErrors")).toEqual({ expression: "FILL(errors, 0) + FILL(failedBatches, 0)", metrics: ["AWS/Lambda Errors", "totes-cdc failedBatches"] })
  })

  it("make a composite 'pipeline stalled' alarm: any stall signal in ALARM", () => {
    const composite = Object.values(synthesized.template.findResources("AWS::CloudWatch::CompositeAlarm") as Record<string, Resource>)
    expect(composite).toHaveLength(1)
    const rule = (composite[0]!.Properties["AlarmRule"] as { "Fn::Join": [string, ReadonlyArray<unknown>] })["Fn::Join"][1]
    const text = rule.map((part) => (typeof part === "string" ? part : `<${(part as { "Fn::GetAtt": [string] })["Fn::GetAtt"][0]}>`)).join("")
    const o = synthesized.stack.observability.alarms
    const children = [o["readerSilent"]!, o["slotLsnNotAdvancing"]!, o["processorIteratorAge"]!, o["streamIteratorAge"]!, o["firehoseFreshness"]!, o["loaderQueueAge"]!, o["warehouseFreshness"]!]
    expect(text).toBe(`(${children.map((child) => `ALARM("<${logicalId(child)}>")`).join(" OR ")})`)
  })
})

describe("the dashboard", () => {
  it("shows every metric of the brief", () => {
    const shown = new Set(dashboardMetrics().map((m) => `${m.namespace} ${m.metricName}`))
    for (const expected of [
      "totes-cdc slotRetainedWalBytes",
      "totes-cdc slotConfirmedLagBytes",
      "totes-cdc commitToKinesisLagMs",
      "AWS/Kinesis IncomingRecords",
      "AWS/Kinesis GetRecords.IteratorAgeMilliseconds",
      "AWS/Lambda IteratorAge",
      "AWS/Firehose DeliveryToS3.DataFreshness",
      "AWS/Firehose DeliveryToS3.Success",
      "AWS/Lambda Errors",
      "AWS/Lambda Throttles",
      "AWS/Lambda Duration",
      "AWS/SQS ApproximateAgeOfOldestMessage",
      "totes-cdc warehouseFreshnessSeconds",
      "totes-cdc deadLetters",
      "totes-cdc rowsLoaded",
      "totes-cdc changesProcessed",
      "AWS/SQS ApproximateNumberOfMessagesVisible"
    ]) {
      expect(shown, expected).toContain(expected)
    }
    const perTable = dashboardMetrics().filter((m) => m.metricName === "warehouseFreshnessSeconds").map((m) => m.dimensions["Table"])
    expect(perTable).toContain("fact_sales_order")
    const lambdaErrors = dashboardMetrics().filter((m) => m.metricName === "Errors").map((m) => m.dimensions["FunctionName"])
    expect(lambdaErrors).toEqual(["TOKEN", "TOKEN"])
  })
})

describe("the catalogue", () => {
  it("declares every totes-cdc metric the dashboard or an alarm references, for its component with the same dimensions", () => {
    const referenced = [
      ...dashboardMetrics().filter((m) => m.namespace === EMF_NAMESPACE).map((m) => ({ where: `dashboard ${m.title}`, metricName: m.metricName, dimensions: m.dimensions })),
      ...alarmMetrics()
        .filter(({ metric }) => metric.Namespace === EMF_NAMESPACE)
        .map(({ alarm, metric }) => ({
          where: `alarm ${alarm}`,
          metricName: metric.MetricName,
          dimensions: Object.fromEntries((metric.Dimensions ?? []).map((d) => [d.Name, typeof d.Value === "string" ? d.Value : "TOKEN"]))
        }))
    ]
    expect(referenced.length).toBeGreaterThan(20)
    for (const { where, metricName, dimensions } of referenced) {
      const component = dimensions["Component"]
      expect(component, where).toBeDefined()
      const spec = emfMetricSpec(component!, metricName)
      expect(spec, `${where}: ${component} ${metricName}`).toBeDefined()
      const names = JSON.stringify(Object.keys(dimensions).sort())
      expect(spec!.dimensions.map((set) => JSON.stringify([...set].sort())), `${where}: ${metricName} ${names}`).toContain(names)
    }
  })

  it("refuses at synth a metric the catalogue does not declare", () => {
    expect(() => emfMetric("loader", "rowsLoaded", { Table: "dim_staff" })).toThrow(/does not emit rowsLoaded/)
    expect(() => emfMetric("processor", "rowsLoaded" as never, {})).toThrow(/does not emit/)
  })
})
