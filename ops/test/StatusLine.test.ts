import { describe, expect, it } from "@effect/vitest"
import { formatStatusLine, type StatusFigures } from "../src/status/StatusLine.ts"

const figures: StatusFigures = {
  mode: "source",
  at: Date.parse("2026-12-05T10:05:01Z"),
  capturedPerSecond: 102.4,
  loadedPerSecond: 1_098,
  slotLagBytes: 1_234,
  p50Ms: 640,
  p99Ms: null,
  deadLetters: 0,
  simulated: 5_120
}

describe("formatStatusLine", () => {
  it("shows a live source's figures", () => {
    expect(formatStatusLine(figures)).toBe(
      "[10:05:01] captured 102 changes/s · loaded 1,098 rows/s · slot lag 1,234 bytes · commit→warehouse p50 640 ms p99 – · dead letters 0 · simulated 5,120"
    )
  })

  it("replaying a recording, leaves out the slot, the simulator and the latency from recorded commit times", () => {
    expect(formatStatusLine({ ...figures, mode: "replay", slotLagBytes: null, deadLetters: 2 })).toBe("[10:05:01] replayed 102 changes/s · loaded 1,098 rows/s · dead letters 2")
  })
})
