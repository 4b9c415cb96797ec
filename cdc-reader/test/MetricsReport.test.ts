import { describe, expect, it } from "vitest"
import { emfLine } from "../src/MetricsReport.ts"

describe("emfLine", () => {
  it("is one CloudWatch Embedded Metric Format object naming each metric with its unit", () => {
    const line = emfLine({
      at: "2026-11-21T06:32:28.557Z",
      slot: "totes_cdc",
      changesWritten: 31106,
      kinesisRecordsWritten: 374,
      putRetries: 2,
      deadLetters: 0,
      changesPerSecond: 50,
      microBatchChanges: 162,
      commitToKinesisLagMs: 54,
      // A timestamp, kept in the report for the stalled alert; not a CloudWatch metric.
      lastDurableCommitMs: 1_795_000_000_000,
      slotRetainedWalBytes: 417880,
      slotConfirmedLagBytes: null
    })
    expect(line).not.toContain("\n")
    expect(JSON.parse(line)).toEqual({
      _aws: {
        Timestamp: 1795242748557,
        CloudWatchMetrics: [
          {
            Namespace: "totes-cdc",
            Dimensions: [["Component", "Slot"]],
            Metrics: [
              { Name: "changesWritten", Unit: "Count" },
              { Name: "kinesisRecordsWritten", Unit: "Count" },
              { Name: "putRetries", Unit: "Count" },
              { Name: "deadLetters", Unit: "Count" },
              { Name: "changesPerSecond", Unit: "Count/Second" },
              { Name: "microBatchChanges", Unit: "Count" },
              { Name: "commitToKinesisLagMs", Unit: "Milliseconds" },
              { Name: "slotRetainedWalBytes", Unit: "Bytes" }
            ]
          }
        ]
      },
      Component: "cdc-reader",
      Slot: "totes_cdc",
      changesWritten: 31106,
      kinesisRecordsWritten: 374,
      putRetries: 2,
      deadLetters: 0,
      changesPerSecond: 50,
      microBatchChanges: 162,
      commitToKinesisLagMs: 54,
      slotRetainedWalBytes: 417880
    })
  })
})
