import { describe, expect, it } from "@effect/vitest"
import { COMPONENTS, FAULT_KINDS, parseKinds, planRounds } from "./ChaosPlan.ts"

describe("the chaos plan", () => {
  it("the same rounds, seed and kinds give the same plan; another seed another one", () => {
    expect(planRounds(24, 7)).toEqual(planRounds(24, 7))
    expect(planRounds(24, 8)).not.toEqual(planRounds(24, 7))
  })

  it("deals every kind ⌊rounds/kinds⌋ or ⌈rounds/kinds⌉ times", () => {
    for (const rounds of [8, 20, 24, 31]) {
      const counts = FAULT_KINDS.map((kind) => planRounds(rounds, rounds).filter((r) => r.kind === kind).length)
      expect(Math.min(...counts), `${rounds} rounds: ${counts}`).toBe(Math.floor(rounds / FAULT_KINDS.length))
      expect(Math.max(...counts), `${rounds} rounds: ${counts}`).toBe(Math.ceil(rounds / FAULT_KINDS.length))
    }
  })

  it("puts the dev-kill rounds last (they run on a stack of their own) and numbers rounds in order", () => {
    const plan = planRounds(24, 3)
    const firstDev = plan.findIndex((r) => r.kind === "dev-kill")
    expect(plan.slice(firstDev).every((r) => r.kind === "dev-kill")).toBe(true)
    expect(plan.map((r) => r.index)).toEqual(Array.from({ length: 24 }, (_, i) => i + 1))
  })

  it("draws faults 2–10 s into a round, restarts after 0–3 s, refusals of 5–20 s, a component of the four", () => {
    for (const round of planRounds(200, 11)) {
      expect(round.faultAfterMs).toBeGreaterThanOrEqual(2_000)
      expect(round.faultAfterMs).toBeLessThan(10_000)
      expect(round.restartAfterMs).toBeGreaterThanOrEqual(0)
      expect(round.restartAfterMs).toBeLessThan(3_000)
      expect(round.refuseMs).toBeGreaterThanOrEqual(5_000)
      expect(round.refuseMs).toBeLessThan(20_000)
      expect(COMPONENTS).toContain(round.component)
    }
  })

  it("alternates fast and immediate shutdowns of the source, and carries the 50,000-row transaction every 5th round", () => {
    const plan = planRounds(40, 5)
    expect(plan.filter((r) => r.kind === "source-restart").map((r) => r.shutdown)).toEqual(["fast", "immediate", "fast", "immediate", "fast"])
    expect(plan.filter((r) => r.bigTransaction).map((r) => r.index)).toEqual([5, 10, 15, 20, 25, 30, 35, 40])
  })

  it("keeps to the kinds asked for, and refuses unknown or repeated ones and a round count below 1", () => {
    expect(new Set(planRounds(6, 1, ["slot-drop", "poison-records"]).map((r) => r.kind))).toEqual(new Set(["slot-drop", "poison-records"]))
    expect(parseKinds("slot-drop, dev-kill")).toEqual(["slot-drop", "dev-kill"])
    expect(() => parseKinds("slot-drop,meteor")).toThrow("unknown fault kind meteor")
    expect(() => planRounds(3, 1, ["slot-drop", "slot-drop"])).toThrow("each fault kind once")
    expect(() => planRounds(0, 1)).toThrow("whole number ≥ 1")
  })
})
