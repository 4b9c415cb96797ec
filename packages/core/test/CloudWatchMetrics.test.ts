import { describe, expect, it } from "vitest"
import { EMF_COMPONENTS, EMF_NAMESPACE, emfLine, emfMetricNames, emfMetricSpec, Metrics } from "../src/index.ts"

/** The EMF specification's required shape (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html). */
const expectEmfShape = (line: string) => {
  expect(line).not.toContain("\n")
  const root = JSON.parse(line) as Record<string, unknown> & { _aws: { Timestamp: unknown; CloudWatchMetrics: ReadonlyArray<{ Namespace: unknown; Dimensions: ReadonlyArray<ReadonlyArray<string>>; Metrics: ReadonlyArray<{ Name: string; Unit?: string }> }> } }
  expect(Number.isInteger(root._aws.Timestamp)).toBe(true)
  expect(root._aws.CloudWatchMetrics.length).toBeGreaterThan(0)
  for (const directive of root._aws.CloudWatchMetrics) {
    expect(typeof directive.Namespace).toBe("string")
    for (const set of directive.Dimensions) {
      expect(set.length).toBeLessThanOrEqual(30)
      for (const dimension of set) expect(typeof root[dimension]).toBe("string")
    }
    expect(directive.Metrics.length).toBeLessThanOrEqual(100)
    for (const metric of directive.Metrics) expect(typeof root[metric.Name]).toBe("number")
  }
  return root
}

describe("the CloudWatch catalogue", () => {
  it("gives every metric a dimension set starting with Component", () => {
    for (const component of EMF_COMPONENTS) {
      for (const name of emfMetricNames(component)) for (const set of emfMetricSpec(component, name)!.dimensions) expect(set[0]).toBe("Component")
    }
    expect(emfMetricSpec("loader", "rowsLoaded")?.unit).toBe("Count")
    expect(emfMetricSpec("loader", "toString")).toBeUndefined()
    expect(emfMetricSpec("archiver", "rowsLoaded")).toBeUndefined()
    // The local shard poller's metrics exist only in process.
    expect(emfMetricSpec("consumer", "iteratorAgeMs")).toBeUndefined()
  })
})

describe("the one catalogue", () => {
  it("names each in-process metric after its catalogue entry: totes_cdc_<component>_<snake_case>, _total for counters", () => {
    expect(Metrics.metricName("cdc-reader", "changesWritten")).toBe("totes_cdc_reader_changes_written_total")
    expect(Metrics.metricName("cdc-reader", "commitToKinesisLagMs")).toBe("totes_cdc_reader_commit_to_kinesis_lag_ms")
    expect(Metrics.metricName("consumer", "pageRecords")).toBe("totes_cdc_consumer_page_records")
    expect(Metrics.metricName("loader", "warehouseFreshnessSeconds")).toBe("totes_cdc_loader_warehouse_freshness_seconds")
  })

  it("the reader's EMF names and the in-process metrics are the same entries", () => {
    expect(emfMetricNames("cdc-reader")).toEqual(Object.keys(Metrics.METRIC_CATALOGUE["cdc-reader"]).filter((name) => name !== "lastDurableCommitMs"))
    expect(emfMetricSpec("cdc-reader", "changesWritten")?.description).toBe(Metrics.METRIC_CATALOGUE["cdc-reader"].changesWritten.description)
  })
})

describe("emfLine", () => {
  it("writes the EMF specification's shape with the catalogue's units and dimensions", () => {
    const root = expectEmfShape(emfLine("processor", {}, { changesProcessed: 12, deadLetters: 1, microBatchDurationMs: 250 }, 1_700_000_000_000))
    expect(root).toEqual({
      _aws: {
        Timestamp: 1_700_000_000_000,
        CloudWatchMetrics: [
          {
            Namespace: EMF_NAMESPACE,
            Dimensions: [["Component"]],
            Metrics: [
              { Name: "changesProcessed", Unit: "Count" },
              { Name: "deadLetters", Unit: "Count" },
              { Name: "microBatchDurationMs", Unit: "Milliseconds" }
            ]
          }
        ]
      },
      Component: "processor",
      changesProcessed: 12,
      deadLetters: 1,
      microBatchDurationMs: 250
    })
  })

  it("publishes a metric under each of its dimension sets whose dimensions have values", () => {
    const root = expectEmfShape(emfLine("loader", { Table: "fact_sales_order" }, { warehouseFreshnessSeconds: 42 }, 1))
    expect(root._aws.CloudWatchMetrics).toEqual([
      { Namespace: "totes-cdc", Dimensions: [["Component", "Table"], ["Component"]], Metrics: [{ Name: "warehouseFreshnessSeconds", Unit: "Seconds" }] }
    ])
    expect(root["Table"]).toBe("fact_sales_order")
    const withoutTable = expectEmfShape(emfLine("loader", {}, { warehouseFreshnessSeconds: 42 }, 1))
    expect(withoutTable._aws.CloudWatchMetrics[0]!.Dimensions).toEqual([["Component"]])
  })

  it("leaves out null, undefined, non-finite and uncatalogued values", () => {
    const values = { rowsLoaded: 3, commitToWarehouseP50Ms: null, commitToWarehouseMaxMs: Number.NaN, objectsLoaded: undefined, bogus: 1 } as unknown as Record<"rowsLoaded", number>
    const root = expectEmfShape(emfLine("loader", {}, values, 1))
    expect(root._aws.CloudWatchMetrics[0]!.Metrics).toEqual([{ Name: "rowsLoaded", Unit: "Count" }])
    expect(Object.keys(root).sort()).toEqual(["Component", "_aws", "rowsLoaded"])
  })
})
