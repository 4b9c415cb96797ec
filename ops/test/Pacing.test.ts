import { describe, expect, it } from "@effect/vitest"
import { describePace, makePacer } from "../src/replay/Pacing.ts"

const at = (seconds: number) => new Date(Date.parse("2024-02-23T09:00:00Z") + seconds * 1000).toISOString()

describe("makePacer", () => {
  it("spaces records by their commit times divided by the speed, from the first record", () => {
    const pacer = makePacer({ _tag: "Speed", factor: 10 })
    expect([0, 1, 1, 30, 100].map((s) => pacer.dueAfter(at(s)))).toEqual([0, 100, 100, 3_000, 10_000])
  })

  it("at 1× keeps the recorded spacing", () => {
    const pacer = makePacer({ _tag: "Speed", factor: 1 })
    expect([5, 5.25, 7].map((s) => pacer.dueAfter(at(s)))).toEqual([0, 250, 2_000])
  })

  it("never goes back: an earlier commit time or an unparseable one is due with the record before it", () => {
    const pacer = makePacer({ _tag: "Speed", factor: 2 })
    expect([pacer.dueAfter(at(0)), pacer.dueAfter(at(4)), pacer.dueAfter(at(3)), pacer.dueAfter("not a time"), pacer.dueAfter(at(6))]).toEqual([0, 2_000, 2_000, 2_000, 3_000])
  })

  it("at maximum speed every record is due at once", () => {
    const pacer = makePacer({ _tag: "MaxSpeed" })
    expect([0, 60, 3_600].map((s) => pacer.dueAfter(at(s)))).toEqual([0, 0, 0])
  })

  it("names the pace", () => {
    expect([describePace({ _tag: "Speed", factor: 10 }), describePace({ _tag: "MaxSpeed" })]).toEqual(["10×", "maximum speed"])
  })
})
