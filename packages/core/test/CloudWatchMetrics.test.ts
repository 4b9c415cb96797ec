import { describe, expect, it } from "vitest"
import { EMF_CATALOGUE, EMF_NAMESPACE, emfLine, emfMetricSpec } from "../src/index.ts"

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
    for (const metrics of Object.values(EMF_CATALOGUE)) {
      for (const spec of Object.values(metrics)) for (const set of spec.dimensions) expect(set[0]).toBe("Component")
    }
    expect(emfMetricSpec("loader", "rowsLoaded")?.unit).toBe("Count")
    expect(emfMetricSpec("loader", "toString")).toBeUndefined()
    expect(emfMetricSpec("archiver", "rowsLoaded")).toBeUndefined()
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
