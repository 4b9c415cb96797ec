import { describe, expect, it } from "vitest"
import type { HealthFacts } from "../../src/dashboard/HealthFigures.ts"
import { healthSample, snapshotProgress, tableFreshness, weightedPercentile } from "../../src/dashboard/HealthFigures.ts"
import type { StatusReport } from "../../src/status/PipelineStatus.ts"

const NOW = Date.parse("2026-12-05T12:00:00.000Z")

const status: StatusReport = {
  slot: { name: "totes_cdc", exists: true, plugin: "pgoutput", active: true, walStatus: "reserved", confirmedFlushLsn: "0/3000000", retainedWalBytes: 4_096, confirmedLagBytes: 128 },
  replay: null,
  reader: {
    at: new Date(NOW - 1_000).toISOString(),
    slot: "totes_cdc",
    changesWritten: 100,
    kinesisRecordsWritten: 10,
    putRetries: 0,
    deadLetters: 0,
    changesPerSecond: 42,
    microBatchChanges: 10,
    commitToKinesisLagMs: 30,
    lastDurableCommitMs: NOW - 2_000,
    snapshot: { table: "sales_order", tableRows: 500, rows: 2_500, rowsPerSecond: 5_000 },
    slotRetainedWalBytes: 4_096,
    slotConfirmedLagBytes: 128
  },
  kinesis: { name: "s", summary: { status: "ACTIVE", mode: "PROVISIONED", openShards: 2, retentionHours: 24, encryption: "NONE", consumers: 0 }, error: null },
  firehose: null,
  deadLetters: {},
  freshness: [
    { warehouse_table: "fact_payment", last_commit_lsn: "0/2", last_commit_ts: "2026-12-05 11:59:50+00", last_loaded_at: "2026-12-05 11:59:51+00" },
    { warehouse_table: "dim_currency", last_commit_lsn: "0/1", last_commit_ts: null, last_loaded_at: "2026-12-05 11:00:00+00" }
  ],
  quarantined: []
}

const facts: HealthFacts = {
  at: NOW,
  status,
  alerts: [],
  loadedRows: 50,
  loadedWindowSeconds: 5,
  recentLoads: [
    { rows: 90, p50Ms: 300, p99Ms: 400 },
    { rows: 10, p50Ms: 2_000, p99Ms: 5_000 }
  ],
  readerState: undefined,
  sourceRowEstimate: 10_000
}

describe("HealthFigures", () => {
  it("weightedPercentile: the value where the rows, sorted by value, pass p %", () => {
    const loads = [
      { rows: 90, value: 300 },
      { rows: 10, value: 2_000 },
      { rows: 5, value: null }
    ]
    expect(weightedPercentile(loads, 50)).toBe(300)
    expect(weightedPercentile(loads, 90)).toBe(300)
    expect(weightedPercentile(loads, 91)).toBe(2_000)
    expect(weightedPercentile([{ rows: 3, value: null }], 50)).toBeNull()
  })

  it("a sample: slot bytes, the reader's rate while its report is fresh, rows/s over the window, combined latency", () => {
    expect(healthSample(facts, 30_000)).toEqual({
      at: NOW,
      slotRetainedWalBytes: 4_096,
      slotLagBytes: 128,
      capturedPerSecond: 42,
      loadedPerSecond: 10,
      commitToWarehouseP50Ms: 300,
      commitToWarehouseP99Ms: 5_000
    })
    expect(healthSample({ ...facts, at: NOW + 60_000 }, 30_000).capturedPerSecond).toBeNull()
    expect(healthSample({ ...facts, recentLoads: [] }, 30_000).commitToWarehouseP50Ms).toBeNull()
  })

  it("freshness in seconds since each table's newest commit; null for a table loaded only by the snapshot", () => {
    expect(tableFreshness(status, NOW)).toEqual([
      { table: "fact_payment", lastCommitTs: "2026-12-05 11:59:50+00", lastLoadedAt: "2026-12-05 11:59:51+00", seconds: 10 },
      { table: "dim_currency", lastCommitTs: null, lastLoadedAt: "2026-12-05 11:00:00+00", seconds: null }
    ])
  })

  it("the snapshot: running with % of the source's rows, else complete from the reader's state, else none", () => {
    expect(snapshotProgress(facts)).toEqual({ status: "running", table: "sales_order", rows: 2_500, totalRows: 10_000, percent: 25, rowsPerSecond: 5_000 })
    const done = { ...facts, status: { ...status, reader: { ...status.reader!, snapshot: null } } }
    expect(snapshotProgress(done)).toBeNull()
    const recorded = {
      ...done,
      readerState: { version: 1, slot: "totes_cdc", snapshot: { status: "complete", startedAt: "a", completedAt: "2026-12-05T11:00:05.000Z", consistentPoint: "0/1", rows: 30_106 } } as const
    }
    expect(snapshotProgress(recorded)).toEqual({ status: "complete", rows: 30_106, completedAt: "2026-12-05T11:00:05.000Z" })
  })
})
