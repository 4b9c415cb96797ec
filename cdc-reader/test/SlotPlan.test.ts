import { describe, expect, it } from "vitest"
import { type ReaderState, planSlot } from "../src/SlotPlan.ts"

const complete: ReaderState = {
  version: 1,
  slot: "totes_cdc",
  snapshot: { status: "complete", startedAt: "2026-11-21T06:00:00.000Z", completedAt: "2026-11-21T06:00:05.000Z", consistentPoint: "0/1A2B3C", rows: 30106 }
}
const STATE = "s3://ingestion/state/cdc-reader/totes_cdc.json"
const inProgress: ReaderState = { version: 1, slot: "totes_cdc", snapshot: { status: "in-progress", startedAt: "2026-11-21T06:00:00.000Z" } }

describe("planSlot", () => {
  it("creates the slot and snapshots on a first start", () => {
    expect(planSlot("totes_cdc", { exists: false }, undefined, STATE)).toEqual({ _tag: "CreateAndSnapshot" })
  })

  it("resumes a healthy slot whose snapshot completed", () => {
    expect(planSlot("totes_cdc", { exists: true, plugin: "pgoutput", active: false, walStatus: "reserved" }, complete, STATE)).toEqual({ _tag: "Resume" })
  })

  it("drops and re-snapshots after a crash mid-snapshot", () => {
    expect(planSlot("totes_cdc", { exists: true, plugin: "pgoutput", active: false }, inProgress, STATE)).toEqual({
      _tag: "DropAndSnapshot",
      reason: "the snapshot started at 2026-11-21T06:00:00.000Z did not complete"
    })
    expect(planSlot("totes_cdc", { exists: false }, inProgress, STATE)).toEqual({ _tag: "CreateAndSnapshot" })
  })

  it("never drops a slot it has no state for: names where it looked and both fixes", () => {
    const plan = planSlot("totes_cdc", { exists: true, plugin: "pgoutput", active: false, walStatus: "reserved" }, undefined, STATE)
    expect(plan).toEqual({
      _tag: "Stop",
      message:
        "replication slot totes_cdc exists but the reader has no state for it at s3://ingestion/state/cdc-reader/totes_cdc.json; " +
        "to resume it, give the reader the ingestion bucket of the deployment that created it (INGESTION_BUCKET); " +
        'to start over, run "READER_SLOT=totes_cdc totes-cdc reader slot drop" to forget it, then start the reader again to take a new snapshot'
    })
  })

  it("never recreates a slot that disappeared after its snapshot completed", () => {
    const plan = planSlot("totes_cdc", { exists: false }, complete, STATE)
    expect(plan._tag).toBe("Stop")
    expect(plan._tag === "Stop" && plan.message).toBe(
      'replication slot totes_cdc is gone although its snapshot completed at 2026-11-21T06:00:05.000Z: changes since then may be lost; run "READER_SLOT=totes_cdc totes-cdc reader slot drop" to forget it, then start the reader again to take a new snapshot'
    )
  })

  it("stops on a slot that lost WAL", () => {
    const plan = planSlot("totes_cdc", { exists: true, plugin: "pgoutput", active: false, walStatus: "lost" }, complete, STATE)
    expect(plan._tag === "Stop" && plan.message).toContain("wal_status = lost")
  })

  it("does not touch a slot another connection is using", () => {
    const plan = planSlot("totes_cdc", { exists: true, plugin: "pgoutput", active: true, activePid: "4242" }, complete, STATE)
    expect(plan._tag).toBe("Busy")
    expect(plan._tag === "Busy" && plan.message).toContain("in use by another connection (pid 4242)")
  })
})
