import { describe, expect, it } from "vitest"
import { describeUnmet, effectiveTarget, shardPassed, slotPassed } from "../../src/verify/PipelineProgress.ts"

describe("slotPassed", () => {
  const slot = (confirmedFlushLsn: string | null, exists = true) => ({ slot: "totes_cdc", exists, confirmedFlushLsn })
  it("passes once the slot is confirmed at or beyond the target, comparing LSNs as numbers", () => {
    expect(slotPassed("0/1A3C", slot("0/1A3C"))).toBe(true)
    expect(slotPassed("0/1A3C", slot("0/1A3D"))).toBe(true)
    expect(slotPassed("0/1A3C", slot("0/1A3B"))).toBe(false)
    expect(slotPassed("A/0", slot("10/0"))).toBe(true)
    expect(slotPassed("10/0", slot("F/FFFFFFFF"))).toBe(false)
  })
  it("does not pass without a slot or a confirmed position", () => {
    expect(slotPassed("0/0", slot(null))).toBe(false)
    expect(slotPassed("0/0", slot(null, false))).toBe(false)
  })
})

describe("shardPassed", () => {
  it("passes when the next unprocessed change is after the target, the shard is caught up or ended", () => {
    expect(shardPassed("0/1A3C", { shardId: "s", _tag: "Next", commitLsn: "0/1A3D" })).toBe(true)
    expect(shardPassed("0/1A3C", { shardId: "s", _tag: "CaughtUp" })).toBe(true)
    expect(shardPassed("0/1A3C", { shardId: "s", _tag: "Ended" })).toBe(true)
  })
  it("does not pass while a change at or before the target, or an undecodable record, is unprocessed", () => {
    expect(shardPassed("0/1A3C", { shardId: "s", _tag: "Next", commitLsn: "0/1A3C" })).toBe(false)
    expect(shardPassed("0/1A3C", { shardId: "s", _tag: "Next", commitLsn: "0/10" })).toBe(false)
    expect(shardPassed("0/1A3C", { shardId: "s", _tag: "Undecodable", sequenceNumber: "495" })).toBe(false)
  })
})

describe("describeUnmet", () => {
  it("names the condition, the positions and the component to look at, in one line", () => {
    expect(describeUnmet("0/1A3C", { _tag: "Slot", slot: { slot: "totes_cdc", exists: true, confirmedFlushLsn: "0/1A2B" } }, 60)).toBe(
      "slot totes_cdc confirmed 0/1A2B < 0/1A3C after 60 s: is the reader running?"
    )
    expect(describeUnmet("0/1A3C", { _tag: "Slot", slot: { slot: "totes_cdc", exists: false, confirmedFlushLsn: null } }, 5)).toBe(
      "slot totes_cdc does not exist after 5 s: is the reader running (and READER_SLOT right)?"
    )
    expect(describeUnmet("0/1A3C", { _tag: "Shard", shard: { shardId: "shardId-000000000001", _tag: "Next", commitLsn: "0/1A00" } }, 60)).toBe(
      "processor has not passed 0/1A3C in shardId-000000000001 after 60 s (its next change is at 0/1A00): is the processor running?"
    )
    expect(describeUnmet("0/1A3C", { _tag: "Objects", pending: ["fact_payment/2026/01/01/b.parquet", "x"] }, 60)).toBe(
      "2 processed object(s) not loaded into the warehouse after 60 s (e.g. fact_payment/2026/01/01/b.parquet): is the loader running?"
    )
  })
})

describe("effectiveTarget (condition 0: the reader's snapshot)", () => {
  it("waits for a complete snapshot, and moves the target up to a consistent point after it", () => {
    expect(effectiveTarget("0/5000", { _tag: "Missing" })).toBeUndefined()
    expect(effectiveTarget("0/5000", { _tag: "InProgress" })).toBeUndefined()
    expect(effectiveTarget("0/5000", { _tag: "Complete", consistentPoint: "0/4000" })).toBe("0/5000")
    // Compared as LSNs, not as text: 0/10000 is after 0/5000.
    expect(effectiveTarget("0/5000", { _tag: "Complete", consistentPoint: "0/10000" })).toBe("0/10000")
  })

  it("says which snapshot condition did not pass", () => {
    expect(describeUnmet("0/5000", { _tag: "Snapshot", slot: "totes_cdc", snapshot: { _tag: "Missing" } }, 60)).toBe(
      "the reader has recorded no snapshot for slot totes_cdc after 60 s: is the reader running (and READER_SLOT right)?"
    )
  })
})
