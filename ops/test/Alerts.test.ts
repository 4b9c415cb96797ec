import { describe, expect, it } from "vitest"
import { statusAlerts } from "../src/status/Alerts.ts"
import type { StatusReport } from "../src/status/PipelineStatus.ts"

const NOW = Date.parse("2026-12-05T12:00:00.000Z")
const iso = (secondsAgo: number) => new Date(NOW - secondsAgo * 1000).toISOString()
/** As PostgreSQL prints a timestamptz (`::text`). */
const pg = (secondsAgo: number) => iso(secondsAgo).replace("T", " ").replace("Z", "+00")

const reader = (reportSecondsAgo: number, lastDurableCommitSecondsAgo: number | null) => ({
  at: iso(reportSecondsAgo),
  slot: "totes_cdc",
  changesWritten: 30_106,
  kinesisRecordsWritten: 1_506,
  putRetries: 0,
  deadLetters: 0,
  changesPerSecond: 5,
  microBatchChanges: 20,
  commitToKinesisLagMs: 40,
  lastDurableCommitMs: lastDurableCommitSecondsAgo === null ? null : NOW - lastDurableCommitSecondsAgo * 1000,
  slotRetainedWalBytes: 4_096,
  slotConfirmedLagBytes: 0
})

/** A healthy local pipeline: slot streaming, reader reporting, the newest change loaded. */
const healthy: StatusReport = {
  slot: { name: "totes_cdc", exists: true, plugin: "pgoutput", active: true, walStatus: "reserved", confirmedFlushLsn: "0/3000000", retainedWalBytes: 4_096, confirmedLagBytes: 0 },
  reader: reader(5, 2),
  replay: null,
  kinesis: { name: "totes-cdc-changes", summary: { status: "ACTIVE", mode: "PROVISIONED", openShards: 2, retentionHours: 24, encryption: "NONE", consumers: 0 }, error: null },
  firehose: null,
  deadLetters: {},
  freshness: [
    { warehouse_table: "dim_currency", last_commit_lsn: "0/2714A38", last_commit_ts: null, last_loaded_at: pg(600) },
    { warehouse_table: "fact_payment", last_commit_lsn: "0/2FFFF00", last_commit_ts: pg(2), last_loaded_at: pg(1) }
  ],
  quarantined: []
}

const ids = (report: StatusReport, now = NOW) => statusAlerts(report, now).map((alert) => alert.id)

describe("statusAlerts", () => {
  it("has no alert for a healthy pipeline, nor for an idle one (nothing captured that is not loaded)", () => {
    expect(statusAlerts(healthy, NOW)).toEqual([])
    expect(ids(healthy, NOW + 3_600_000 - 25_000)).toEqual(["reader-silent"])
    const idle = { ...healthy, reader: reader(5, 3_600) }
    expect(statusAlerts({ ...idle, freshness: [{ ...healthy.freshness[1]!, last_commit_ts: pg(3_600), last_loaded_at: pg(3_600) }] }, NOW)).toEqual([])
  })

  it("pipeline stalled: a change durable in Kinesis newer than the warehouse's newest, older than 60 s, and no load for 60 s", () => {
    const stalled: StatusReport = { ...healthy, reader: reader(5, 90), freshness: [{ ...healthy.freshness[1]!, last_commit_ts: pg(200), last_loaded_at: pg(180) }] }
    const [alert] = statusAlerts(stalled, NOW)
    expect(alert).toEqual({
      id: "pipeline-stalled",
      message:
        "pipeline stalled: a change committed at 2026-12-05T11:58:30.000Z is in Kinesis but not in the warehouse after 90 s, and nothing was loaded for 180 s; check the processor and the loader"
    })
    // Not yet 60 s, or the loader still loading (a joined row re-emitted without a newer commit time): no alert.
    expect(ids({ ...stalled, reader: reader(5, 30) })).toEqual([])
    expect(ids({ ...stalled, freshness: [...stalled.freshness, { warehouse_table: "dim_staff", last_commit_lsn: "0/3000000", last_commit_ts: null, last_loaded_at: pg(3) }] })).toEqual([])
    // An empty warehouse with captured changes stalls too.
    expect(ids({ ...stalled, freshness: [] })).toEqual(["pipeline-stalled"])
  })

  it("a dropped, lost, inactive or lagging slot", () => {
    expect(statusAlerts({ ...healthy, slot: { name: "totes_cdc", exists: false } }, NOW)[0]?.message).toMatch(/^replication slot totes_cdc does not exist: /)
    expect(ids({ ...healthy, slot: { ...healthy.slot, walStatus: "lost", active: false } })).toEqual(["slot-lost"])
    expect(ids({ ...healthy, slot: { ...healthy.slot, active: false } })).toEqual(["slot-inactive"])
    const lagging = statusAlerts({ ...healthy, slot: { ...healthy.slot, confirmedLagBytes: 100 * 1024 * 1024 } }, NOW)
    expect(lagging).toEqual([
      { id: "slot-lag", message: "replication slot totes_cdc is 100 MiB behind the WAL end (alert above 64 MiB): its confirmed LSN is not keeping up with the source; see the reader's log" }
    ])
  })

  it("a stack replaying a recording (dev --replay) expects no slot and no reader: no alert for their absence, the others still hold", () => {
    const replaying: StatusReport = { ...healthy, slot: { name: "totes_cdc", exists: false }, reader: null, replay: "/tmp/last-night.ndjson.gz" }
    expect(ids(replaying)).toEqual([])
    expect(ids({ ...replaying, deadLetters: { processor: 1 } })).toEqual(["dead-letters"])
    // Without a recording the same report is a missing slot.
    expect(ids({ ...replaying, replay: null })).toEqual(["slot-missing"])
  })

  it("a silent reader, an unreadable stream, a failing archive, dead letters and a quarantined table, in pipeline order", () => {
    const bad: StatusReport = {
      ...healthy,
      reader: reader(45, 2),
      kinesis: { name: "totes-cdc-changes", summary: null, error: "stream totes-cdc-changes does not exist" },
      firehose: { name: "totes-cdc-changes", description: { status: "CREATING_FAILED", failure: "KMS_ACCESS_DENIED" }, error: null },
      deadLetters: { processor: 2, loader: 1 },
      quarantined: [{ warehouse_table: "dim_currency", commit_lsn: "0/2900000", recorded_at: pg(60) }]
    }
    expect(statusAlerts(bad, NOW).map((alert) => alert.message)).toEqual([
      "the reader's last metrics report is 45 s old (at 2026-12-05T11:59:15.000Z): the reader is not running",
      "kinesis stream totes-cdc-changes is unreadable: stream totes-cdc-changes does not exist",
      "firehose delivery stream totes-cdc-changes is CREATING_FAILED: KMS_ACCESS_DENIED",
      'dead letters waiting: processor 2, loader 1 (under dlq/ of the ingestion bucket; README "Dead letters")',
      "dim_currency is quarantined by a source truncate at 0/2900000: its changes wait; decide with `totes-cdc loader release dim_currency --as apply|ignore`"
    ])
  })
})
