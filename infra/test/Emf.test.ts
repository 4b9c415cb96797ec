/**
 * The Lambda entries' EMF lines: the processor's handler invoked with a Kinesis event on an
 * in-memory S3 (its hook writing to a captured stdout), and the loader's lines from its
 * invocation report; every line parses as EMF and names only the catalogue's metrics.
 */
import { EMF_NAMESPACE, emfMetricSpec, encodeChangeRecord } from "@totes-cdc/core"
import { loaderInvocationReport } from "@totes-cdc/loader"
import { DeadLetters, S3 } from "@totes-cdc/platform"
import { makeProcessorLambdaHandler } from "@totes-cdc/stream-processors"
import { Layer } from "effect"
import { afterEach, describe, expect, it, vi } from "vitest"
import { emitLoaderMetrics, emitProcessorMetrics } from "../src/lambda/Emf.ts"

interface EmfRoot {
  readonly _aws: { readonly Timestamp: number; readonly CloudWatchMetrics: ReadonlyArray<{ readonly Namespace: string; readonly Dimensions: ReadonlyArray<ReadonlyArray<string>>; readonly Metrics: ReadonlyArray<{ readonly Name: string; readonly Unit: string }> }> }
  readonly [key: string]: unknown
}

/** Parses `line` and checks every metric against the catalogue of `component`. */
const parseAndCheck = (line: string, component: string): EmfRoot => {
  const root = JSON.parse(line) as EmfRoot
  expect(root["Component"]).toBe(component)
  for (const directive of root._aws.CloudWatchMetrics) {
    expect(directive.Namespace).toBe(EMF_NAMESPACE)
    for (const metric of directive.Metrics) {
      const spec = emfMetricSpec(component, metric.Name)
      expect(spec, `${component} ${metric.Name}`).toBeDefined()
      expect(metric.Unit).toBe(spec!.unit)
      expect(directive.Dimensions.every((set) => spec!.dimensions.some((declared) => JSON.stringify(declared) === JSON.stringify(set)))).toBe(true)
      expect(typeof root[metric.Name]).toBe("number")
    }
  }
  return root
}

const kinesisRecord = (n: number, data: string) => ({
  eventSource: "aws:kinesis",
  eventID: `shardId-000000000000:4960000000000000000000000000000000000000000000000000000${n}`,
  eventName: "aws:kinesis:record",
  kinesis: {
    kinesisSchemaVersion: "1.0",
    partitionKey: "currency",
    sequenceNumber: `4960000000000000000000000000000000000000000000000000000${n}`,
    data: Buffer.from(data).toString("base64"),
    approximateArrivalTimestamp: 1_708_682_400.5
  }
})

afterEach(() => {
  vi.restoreAllMocks()
})

describe("the processor's Lambda entry", () => {
  it("writes one EMF line per invocation to stdout with the changes, dead letters and duration", async () => {
    const written: Array<string> = []
    vi.spyOn(process.stdout, "write").mockImplementation((chunk: string | Uint8Array) => {
      written.push(String(chunk))
      return true
    })
    vi.spyOn(console, "log").mockImplementation(() => undefined)
    const services = DeadLetters.layer("ingestion").pipe(Layer.provideMerge(S3.layerTest({ buckets: ["ingestion", "processed"] })))
    const handler = makeProcessorLambdaHandler({ processedBucket: "processed", stateBucket: "ingestion", stateKey: "state/processor/join-state.json" }, services, {
      onInvocation: emitProcessorMetrics()
    })
    const change = encodeChangeRecord({
      v: 1,
      source: "replication",
      op: "insert",
      table: "currency",
      key: { currency_id: "1" },
      before: null,
      after: { currency_id: "1", currency_code: "GBP", created_at: "2022-11-03 14:20:49.962", last_updated: "2022-11-03 14:20:49.962" },
      unchangedToast: [],
      commitLsn: "0/1A2B3C4D",
      commitIdx: 0,
      xid: 750,
      commitTs: "2024-02-23T10:00:00.000Z"
    })
    const response = await handler({ Records: [kinesisRecord(1, change), kinesisRecord(2, "not a change record")] })
    expect(response).toEqual({ batchItemFailures: [] })
    const lines = written.filter((chunk) => chunk.startsWith("{\"_aws\""))
    expect(lines).toHaveLength(1)
    expect(lines[0]!.endsWith("\n")).toBe(true)
    const root = parseAndCheck(lines[0]!, "processor")
    expect(root).toMatchObject({ changesProcessed: 1, deadLetters: 1, failedShards: 0 })
    expect(root["microBatchDurationMs"]).toBeGreaterThanOrEqual(0)
  })
})

describe("the loader's Lambda entry", () => {
  it("writes the invocation's line and one freshness line per table loaded", () => {
    const now = Date.parse("2024-02-23T10:05:00.000Z")
    const commit = Date.parse("2024-02-23T10:00:00.000Z")
    const report = loaderInvocationReport(
      [
        { at: now - 1000, report: { applied: 2, alreadyApplied: 0, quarantined: [], rows: 3, commitTimes: [commit, commit + 1000, commit + 2000], newestCommitOfTable: { dim_staff: commit + 2000, fact_sales_order: commit } } }
      ],
      1,
      now
    )
    expect(report).toMatchObject({ rowsLoaded: 3, objectsLoaded: 2, failedBatches: 1, commitToWarehouseP50Ms: 298_000, commitToWarehouseMaxMs: 299_000 })
    const lines: Array<string> = []
    emitLoaderMetrics((line) => lines.push(line), () => now)(report)
    expect(lines).toHaveLength(3)
    const invocation = parseAndCheck(lines[0]!, "loader")
    expect(invocation).toMatchObject({ rowsLoaded: 3, objectsLoaded: 2, failedBatches: 1, commitToWarehouseP99Ms: 299_000 })
    const tables = lines.slice(1).map((line) => parseAndCheck(line, "loader"))
    expect(tables.map((root) => [root["Table"], root["warehouseFreshnessSeconds"]])).toEqual([
      ["dim_staff", 298],
      ["fact_sales_order", 300]
    ])
    expect(tables[0]!._aws.CloudWatchMetrics[0]!.Dimensions).toEqual([["Component", "Table"], ["Component"]])
  })

  it("never throws into the handler when stdout fails", () => {
    const emit = emitLoaderMetrics(() => {
      throw new Error("EPIPE")
    })
    expect(() => emit(loaderInvocationReport([], 0, 0, true))).not.toThrow()
  })
})
