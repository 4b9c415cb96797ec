import { describe, expect, it } from "@effect/vitest"
import { isSecondSignal, SAME_SIGNAL_MS } from "../src/SecondSignal.ts"

describe("a second Ctrl-C", () => {
  it("is a signal after a first one, not the same Ctrl-C delivered twice (npm forwards its own copy)", () => {
    expect(isSecondSignal(undefined, 1_000)).toBe(false)
    expect(isSecondSignal(1_000, 1_000 + 5)).toBe(false)
    expect(isSecondSignal(1_000, 1_000 + SAME_SIGNAL_MS - 1)).toBe(false)
    expect(isSecondSignal(1_000, 1_000 + SAME_SIGNAL_MS)).toBe(true)
    expect(isSecondSignal(1_000, 4_000)).toBe(true)
  })
})
